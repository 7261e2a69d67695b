//! Serving: the accept loop, the app-wide handshake timeout, and graceful
//! shutdown.
//!
//! Each accepted TCP connection is served by hyper's HTTP/1 with upgrades and
//! a header-read timeout (slowloris), and carries its accept time so each
//! route can hold its `open_timeout` from the accept to the 101. On shutdown
//! the loop stops accepting, new upgrades get 503, every open connection is
//! closed with 1001, and the loop returns once every `disconnection` ran.

use crate::runtime::Runtime;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;

/// Marks a request that arrived over TLS.
#[derive(Clone, Copy)]
pub(crate) struct Tls;

/// When and how the TCP connection of a request was accepted.
#[derive(Clone)]
pub(crate) struct Accepted {
    pub(crate) at: Instant,
    /// Notified to drop the TCP connection with no response.
    pub(crate) drop_connection: Arc<Notify>,
}

/// Stops a running app gracefully, from a test or another task.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = cheese_api::App::new();
/// let shutdown = app.shutdown_handle();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_secs(60)).await;
///     shutdown.shutdown();
/// });
/// app.run().await // returns once every connection closed and ran `disconnection`
/// # }
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(crate) stop: Arc<Notify>,
}

impl ShutdownHandle {
    /// Starts the graceful shutdown: stop accepting, answer new upgrades with
    /// 503, close every connection with 1001, wait for each `disconnection`.
    pub fn shutdown(&self) {
        self.stop.notify_one();
    }
}

async fn os_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Limits on the HTTP request before any route sees it, and TLS.
pub(crate) struct HttpLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: Option<usize>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves one accepted connection (TCP or TLS) with HTTP/1 and upgrades.
async fn serve_connection<I>(
    io: I,
    builder: hyper::server::conn::http1::Builder,
    router: Router,
    peer: SocketAddr,
    tls: bool,
    at: Instant,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let accepted = Accepted {
        at,
        drop_connection: Arc::new(Notify::new()),
    };
    let drop_connection = accepted.drop_connection.clone();
    let mut first = true;
    let service = tower::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        // open_timeout counts from the accept for the connection's first
        // request, from its arrival for later ones on a kept-alive connection.
        let mut this = accepted.clone();
        if !std::mem::take(&mut first) {
            this.at = Instant::now();
        }
        req.extensions_mut().insert(this);
        if tls {
            req.extensions_mut().insert(Tls);
        }
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let connection = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::select! {
        _ = connection => {}
        _ = drop_connection.notified() => {}
    }
}

/// Serves `router` on `listener` until `stop` or an OS signal, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    runtime: Arc<Runtime>,
    stop: Arc<Notify>,
    http: HttpLimits,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_timeout)
        .max_buf_size(http.max_header_bytes);
    if let Some(max) = http.max_headers {
        builder.max_headers(max);
    }
    let stopped = async {
        tokio::select! { _ = stop.notified() => {}, _ = os_signal() => {} }
    };
    tokio::pin!(stopped);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        #[cfg(feature = "tls")]
        if let Some(acceptor) = http.tls.clone() {
            let handshake_timeout = http.header_timeout;
            tokio::spawn(async move {
                let accepted = Instant::now();
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        serve_connection(tls, builder, router, peer, true, accepted).await
                    }
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
            continue;
        }
        tokio::spawn(serve_connection(
            stream,
            builder,
            router,
            peer,
            false,
            Instant::now(),
        ));
    }
    drop(listener);
    runtime.begin_drain();
    tracing::info!("shutting down: closing open connections with 1001");
    if tokio::time::timeout(drain_timeout, runtime.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some connections did not finish within {drain_timeout:?}");
    }
    Ok(())
}
