//! TLS for the tests that serve `wss://` (tests/tls.rs, tests/http2.rs): a
//! certificate made for `localhost` by the test, the app's [`TlsConfig`]
//! with it, and a client that trusts it and offers the ALPN names it is
//! given.
#![allow(dead_code)] // each test binary uses a part

use cheese_api::tls::TlsConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, pki_types::ServerName, RootCertStore};

/// A self-signed certificate for `localhost`.
pub struct Certificate(rcgen::CertifiedKey);

impl Certificate {
    pub fn new() -> Certificate {
        Certificate(rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap())
    }

    /// The app's TLS configuration ([`TlsConfig::from_pem`]: ALPN `h2`, `http/1.1`).
    pub fn server(&self) -> TlsConfig {
        TlsConfig::from_pem(
            self.0.cert.pem().as_bytes(),
            self.0.key_pair.serialize_pem().as_bytes(),
        )
        .unwrap()
    }

    /// A client that trusts this certificate and offers `alpn` (none: no
    /// ALPN extension, as a plain WebSocket client sends).
    pub fn client(&self, alpn: &[&[u8]]) -> Client {
        let mut roots = RootCertStore::empty();
        roots.add(self.0.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Client(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

/// A TLS client for [`Certificate`]'s server.
pub struct Client(tokio_rustls::TlsConnector);

impl Client {
    /// A TLS connection to `addr` as `localhost`.
    pub async fn connect(&self, addr: SocketAddr) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        self.0
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }
}
