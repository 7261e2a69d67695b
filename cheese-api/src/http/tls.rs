//! wss://: TLS with rustls (feature `tls`).
//!
//! Give the app a certificate chain and key and it serves every route over
//! TLS; `request.scheme()` then says `wss`. The TLS handshake counts toward
//! the app's handshake timeout. ALPN offers HTTP/2 (`h2`) and HTTP/1.1: a
//! client that picks `h2` gets each WebSocket as a stream of one shared
//! connection (RFC 8441); [`TlsConfig::http2`] turns that off.

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

/// ALPN's names of HTTP/2 and HTTP/1.1.
const H2: &[u8] = crate::http::http2::ALPN;
const HTTP1: &[u8] = b"http/1.1";

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

impl TlsConfig {
    /// From a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1), with rustls' safe defaults and ALPN `h2`
    /// then `http/1.1` (HTTP/2 on: see [`http2`](Self::http2)).
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
        config.alpn_protocols = vec![H2.to_vec(), HTTP1.to_vec()];
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
    /// providers). Its ALPN decides: a connection that chose `h2` is served
    /// with HTTP/2, any other with HTTP/1.1; `http/1.1` alone or an empty
    /// list keeps to HTTP/1.1, and [`http2`](Self::http2) sets it for you.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig(config)
    }

    /// Offers HTTP/2 by ALPN (`true`: `h2` first, then `http/1.1`) or not
    /// (`false`: `http/1.1` only, every connection is HTTP/1.1).
    ///
    /// Default: on with [`from_pem`](Self::from_pem) and
    /// [`from_pem_files`](Self::from_pem_files); with
    /// [`from_rustls`](Self::from_rustls), as its ALPN says. Over HTTP/2 a
    /// browser that supports RFC 8441 (Firefox and Chrome do) opens its
    /// WebSockets as streams of the page's own connection; every route,
    /// hook, limit and refusal is the same. Turn it off if a middlebox in
    /// front mishandles extended CONNECT, or to compare.
    ///
    /// ```no_run
    /// # fn run() -> std::io::Result<()> {
    /// use cheese_api::tls::TlsConfig;
    ///
    /// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?.http2(false);
    /// # let _ = tls;
    /// # Ok(())
    /// # }
    /// ```
    pub fn http2(mut self, on: bool) -> TlsConfig {
        let config = Arc::make_mut(&mut self.0);
        let others = config.alpn_protocols.iter().filter(|p| p.as_slice() != H2);
        let mut alpn: Vec<Vec<u8>> = others.cloned().collect();
        if !alpn.iter().any(|p| p.as_slice() == HTTP1) {
            alpn.push(HTTP1.to_vec());
        }
        if on {
            alpn.insert(0, H2.to_vec());
        }
        config.alpn_protocols = alpn;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration with `alpn` and no certificate (none is needed to
    /// look at its ALPN).
    fn with_alpn(alpn: &[&[u8]]) -> TlsConfig {
        #[derive(Debug)]
        struct NoCert;
        impl rustls::server::ResolvesServerCert for NoCert {
            fn resolve(
                &self,
                _: rustls::server::ClientHello<'_>,
            ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                None
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(NoCert));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConfig::from_rustls(Arc::new(config))
    }

    fn alpn(tls: &TlsConfig) -> Vec<&[u8]> {
        tls.0.alpn_protocols.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn http2_puts_h2_first_or_takes_it_out_and_keeps_the_rest() {
        let on: Vec<&[u8]> = vec![b"h2", b"http/1.1"];
        let off: Vec<&[u8]> = vec![b"http/1.1"];
        assert_eq!(alpn(&with_alpn(&[]).http2(true)), on);
        assert_eq!(alpn(&with_alpn(&[b"http/1.1", b"h2"]).http2(true)), on);
        assert_eq!(alpn(&with_alpn(&[b"h2", b"http/1.1"]).http2(false)), off);
        assert_eq!(alpn(&with_alpn(&[b"h2"]).http2(false)), off);
        // The caller's other protocols stay, in their order.
        let custom = with_alpn(&[b"x-custom", b"http/1.1"]).http2(true);
        assert_eq!(alpn(&custom), vec![&b"h2"[..], b"x-custom", b"http/1.1"]);
        // Settings are per value: the first keeps its ALPN.
        let first = with_alpn(&[b"h2", b"http/1.1"]);
        let second = first.clone().http2(false);
        assert_eq!((alpn(&first), alpn(&second)), (on, off));
    }
}
