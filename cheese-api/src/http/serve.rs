//! Serving: the accept loop (quiet when out of file descriptors: one
//! warning and one summary per episode), the app-wide handshake timeout,
//! and graceful shutdown.
//!
//! Each accepted TCP connection is served by hyper's HTTP/1 with upgrades and
//! a header-read timeout (slowloris), or, when its TLS handshake chose `h2`
//! by ALPN, by hyper's HTTP/2 with extended CONNECT ([`http2`](super::http2)).
//! Each request carries its connection's accept time so each route can hold
//! its `open_timeout` from the accept to the upgrade. On shutdown the loop
//! stops accepting, new upgrades get 503, every open WebSocket is closed with
//! 1001, and once every `disconnection` ran the HTTP/2 connections close
//! with GOAWAY before the loop returns.

use crate::http::read_ahead::{Chunk, ReadAhead};
use crate::runtime::Runtime;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::ServiceExt;

/// Marks a request that arrived over TLS.
#[derive(Clone, Copy)]
pub(crate) struct Tls;

/// When and how the connection of a request was accepted.
#[derive(Clone)]
pub(crate) struct Accepted {
    /// The accept for the connection's first request, the request's arrival
    /// for later ones (kept-alive HTTP/1.1, other HTTP/2 streams).
    pub(crate) at: Instant,
    /// Notified to drop the TCP connection with no response; none on
    /// HTTP/2, where that would end the connection's other streams.
    pub(crate) drop_connection: Option<Arc<Notify>>,
    /// How far the connection's read-ahead layer reads; set at the upgrade.
    /// None on HTTP/2, which has no such layer.
    pub(crate) read_ahead: Option<Chunk>,
    /// The work on an HTTP/2 connection, which each WebSocket joins.
    #[cfg(feature = "tls")]
    pub(crate) busy: Option<crate::http::http2::Busy>,
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

/// What every connection task is served with.
#[derive(Clone)]
struct Serving {
    router: Router,
    http1: hyper::server::conn::http1::Builder,
    #[cfg(feature = "tls")]
    http2: hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor>,
    /// HTTP/2's idle timeout: the app's header timeout.
    #[cfg(feature = "tls")]
    idle: Duration,
    /// Turns true once the drain is over: HTTP/2 connections close.
    closing: watch::Receiver<bool>,
}

/// The service of one connection: each request gets the connection's
/// extensions (peer, TLS, [`Accepted`]) and goes to the router.
fn service(
    router: Router,
    peer: SocketAddr,
    tls: bool,
    accepted: Accepted,
) -> TowerToHyperService<
    impl tower::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
> {
    // Shared by the clones hyper makes of the service, one per request.
    let first = Arc::new(AtomicBool::new(true));
    TowerToHyperService::new(tower::service_fn(
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            // open_timeout counts from the accept for the connection's first
            // request, from its arrival for later ones on a kept-alive
            // connection or on other streams of an HTTP/2 one.
            let mut this = accepted.clone();
            if !first.swap(false, Ordering::AcqRel) {
                this.at = Instant::now();
            }
            #[cfg(feature = "tls")]
            let in_flight = this.busy.as_ref().map(|busy| busy.request());
            req.extensions_mut().insert(this);
            if tls {
                req.extensions_mut().insert(Tls);
            }
            let response = router.clone().oneshot(req.map(axum::body::Body::new));
            async move {
                let response = response.await;
                #[cfg(feature = "tls")]
                drop(in_flight);
                response
            }
        },
    ))
}

/// Serves one accepted connection (TCP or TLS) with HTTP/1 and upgrades.
async fn serve_http1<I>(io: I, serving: Serving, peer: SocketAddr, tls: bool, at: Instant)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let read_ahead = Chunk::new();
    let io = ReadAhead::new(io, read_ahead.clone());
    let drop_connection = Arc::new(Notify::new());
    let accepted = Accepted {
        at,
        drop_connection: Some(drop_connection.clone()),
        read_ahead: Some(read_ahead),
        #[cfg(feature = "tls")]
        busy: None,
    };
    let Serving {
        router,
        http1,
        closing,
        ..
    } = serving;
    // Not closed at the end of the drain: a kept-alive HTTP/1.1 connection
    // goes on answering (503 to an upgrade), and the drain does not wait.
    drop(closing);
    let connection = http1
        .serve_connection(TokioIo::new(io), service(router, peer, tls, accepted))
        .with_upgrades();
    tokio::select! {
        _ = connection => {}
        _ = drop_connection.notified() => {}
    }
}

/// Serves one TLS connection: with HTTP/2 when its handshake chose `h2`.
#[cfg(feature = "tls")]
async fn serve_tls<I>(
    tls: tokio_rustls::server::TlsStream<I>,
    serving: Serving,
    peer: SocketAddr,
    at: Instant,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use crate::http::http2;
    if tls.get_ref().1.alpn_protocol() != Some(http2::ALPN) {
        return serve_http1(tls, serving, peer, true, at).await;
    }
    let busy = http2::Busy::default();
    let accepted = Accepted {
        at,
        drop_connection: None,
        read_ahead: None,
        busy: Some(busy.clone()),
    };
    let service = service(serving.router, peer, true, accepted);
    http2::serve(
        tls,
        &serving.http2,
        service,
        busy,
        serving.idle,
        serving.closing,
    )
    .await
}

/// How long the shutdown waits, once every WebSocket closed, for the
/// HTTP/2 connections to close (GOAWAY and a round trip).
const CLOSE_CONNECTIONS: Duration = Duration::from_secs(1);

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
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_timeout)
        .max_buf_size(http.max_header_bytes);
    if let Some(max) = http.max_headers {
        http1.max_headers(max);
    }
    let (close_connections, closing) = watch::channel(false);
    let serving = Serving {
        router,
        http1,
        #[cfg(feature = "tls")]
        http2: crate::http::http2::builder(http.max_header_bytes),
        #[cfg(feature = "tls")]
        idle: http.header_timeout,
        closing,
    };
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
        let serving = serving.clone();
        #[cfg(feature = "tls")]
        if let Some(acceptor) = http.tls.clone() {
            let handshake_timeout = http.header_timeout;
            tokio::spawn(async move {
                let accepted = Instant::now();
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_tls(tls, serving, peer, accepted).await,
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => tracing::debug!("TLS handshake timed out"),
                }
            });
            continue;
        }
        tokio::spawn(serve_http1(stream, serving, peer, false, Instant::now()));
    }
    drop(listener);
    drop(serving);
    failures.end("accept was still failing at shutdown");
    runtime.begin_drain();
    tracing::info!("shutting down: closing open connections with 1001");
    if tokio::time::timeout(drain_timeout, runtime.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some connections did not finish within {drain_timeout:?}");
    }
    // Every WebSocket is closed: now the HTTP/2 connections, with GOAWAY.
    let _ = close_connections.send(true);
    if tokio::time::timeout(CLOSE_CONNECTIONS, close_connections.closed())
        .await
        .is_err()
    {
        tracing::debug!(
            "shutdown: some connections were still closing after {CLOSE_CONNECTIONS:?}"
        );
    }
    Ok(())
}
