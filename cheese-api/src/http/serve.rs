//! Serving: the accept loop (quiet when out of file descriptors: one
//! warning and one summary per episode), the app-wide handshake timeout,
//! and graceful shutdown.
//!
//! Each accepted TCP connection is served by hyper's HTTP/1 with upgrades and
//! a header-read timeout (slowloris), and carries its accept time so each
//! route can hold its `open_timeout` from the accept to the 101. On shutdown
//! the loop stops accepting, new upgrades get 503, every open connection is
//! closed with 1001, and the loop returns once every `disconnection` ran.

use crate::http::read_ahead::{Chunk, ReadAhead};
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
    /// How far the connection's read-ahead layer reads; set at the upgrade.
    pub(crate) read_ahead: Chunk,
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
    let read_ahead = Chunk::new();
    let io = ReadAhead::new(io, read_ahead.clone());
    let accepted = Accepted {
        at,
        drop_connection: Arc::new(Notify::new()),
        read_ahead,
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

/// How long the accept loop waits after a failed accept (out of file
/// descriptors: until a connection closes) before it tries again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// How long accepts must go without failing for an episode of failures to
/// end: a server at its file limit fails, accepts one connection when
/// another closes, and fails again; that is one episode, not many.
const ACCEPT_QUIET: Duration = Duration::from_secs(1);

/// An episode of failing accepts, logged twice: a warning at its first
/// failure and a line with the count when it ends, not each retry (a server
/// out of file descriptors retries 20 times a second for as long as it
/// lasts).
#[derive(Default)]
struct AcceptFailures {
    /// The episode's first and last failure.
    episode: Option<(Instant, Instant)>,
    failed: u64,
}

impl AcceptFailures {
    fn failed(&mut self, error: &std::io::Error) {
        let now = Instant::now();
        self.failed += 1;
        match &mut self.episode {
            Some((_, last)) => *last = now,
            None => {
                self.episode = Some((now, now));
                tracing::warn!(%error, "accept failed: retrying every {ACCEPT_RETRY:?}, logged again with a count when accepts work again");
            }
        }
    }

    /// When the episode ends if no accept fails before.
    fn quiet_at(&self) -> Option<Instant> {
        self.episode.map(|(_, last)| last + ACCEPT_QUIET)
    }

    /// Ends the episode, if one is running, with the count of failures (a
    /// warning too, so whoever saw the first line sees the last).
    fn end(&mut self, message: &str) {
        if let Some((first, last)) = self.episode.take() {
            tracing::warn!(
                failed = std::mem::take(&mut self.failed),
                lasted = ?last - first,
                "{message}"
            );
        }
    }
}

/// A failed accept that only concerns the connection being accepted (as
/// axum's `serve` and hyper's examples tell them apart).
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
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
    let mut failures = AcceptFailures::default();
    loop {
        let quiet = failures.quiet_at();
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // One client gave up before we took its connection.
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(%error, "accept: connection lost before it was accepted");
                    continue;
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    failures.failed(&error);
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            _ = async { if let Some(at) = quiet { tokio::time::sleep_until(at).await } }, if quiet.is_some() => {
                failures.end("accept recovered");
                continue;
            }
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
    failures.end("accept was still failing at shutdown");
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
