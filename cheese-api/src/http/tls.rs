//! wss://: TLS with rustls (feature `tls`).
//!
//! Give the app a certificate chain and key and it serves every route over
//! TLS; `request.scheme()` then says `wss`. The TLS handshake counts toward
//! the app's handshake timeout.

use std::io;
use std::sync::Arc;
pub use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS server configuration for [`App::tls`](crate::App::tls).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use cheese_api::tls::TlsConfig;
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// cheese_api::App::new().tls(tls).port(8443).run().await
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig(pub(crate) Arc<rustls::ServerConfig>);

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

impl TlsConfig {
    /// From a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), with rustls' safe defaults and ALPN
    /// `http/1.1`.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> io::Result<TlsConfig> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("certificate PEM: {e}")))?;
        if certs.is_empty() {
            return Err(invalid("no certificate in the PEM".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| invalid(format!("private key PEM: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid(format!("certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig(Arc::new(config)))
    }

    /// From PEM files on disk.
    pub fn from_pem_files(
        cert_chain: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> io::Result<TlsConfig> {
        TlsConfig::from_pem(&std::fs::read(cert_chain)?, &std::fs::read(key)?)
    }

    /// From a rustls configuration you built (client auth, other
    /// providers); set its ALPN to `http/1.1` or leave it empty.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig(config)
    }
}
