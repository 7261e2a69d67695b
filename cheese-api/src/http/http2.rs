//! HTTP/2 on the TLS listener (feature `tls`): a connection whose TLS
//! handshake chose `h2` by ALPN is served by hyper's HTTP/2 server with
//! extended CONNECT (RFC 8441), so each WebSocket is one stream of a shared
//! connection and goes through the same router, checks, hooks and limits
//! as over HTTP/1.1. Plain-text HTTP/2 (h2c) is not offered.
//!
//! What differs from an HTTP/1.1 connection, and why:
//! - No read-ahead layer: h2 reads the socket into its own frame buffer,
//!   one per connection, and a WebSocket reads its stream's DATA frames
//!   from memory.
//! - Flow control instead of TCP's backpressure: a stream may have
//!   [`STREAM_WINDOW`] unread, and the connection's window is that times
//!   [`MAX_STREAMS`], so a WebSocket that stops reading (`max_queue` full)
//!   holds its own client back without stalling its neighbours.
//! - The header timeout becomes an idle timeout ([`Busy`]): a connection
//!   with no request in flight and no WebSocket open for a whole
//!   `handshake_timeout` is closed with GOAWAY, as HTTP/1.1 drops a
//!   connection that sends no request head for that long.
//! - `max_header_bytes` bounds the header list (HPACK-decoded, 32 bytes
//!   counted per field, which also bounds how many fields there are).

use crate::http::security::Slot;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// The ALPN name of HTTP/2 over TLS.
pub(crate) const ALPN: &[u8] = b"h2";

/// What a stream may receive before the WebSocket reads it: HTTP/2's
/// default window, and the most the HTTP/1.1 read-ahead layer reads
/// ahead ([`Chunk::MAX`](crate::http::read_ahead::Chunk::MAX)).
pub(crate) const STREAM_WINDOW: u32 = 64 * 1024;

/// Streams open at once on one connection (RFC 9113 recommends at least
/// 100); the app's and routes' connection caps still count each WebSocket.
pub(crate) const MAX_STREAMS: u32 = 100;

/// hyper's HTTP/2 server with extended CONNECT and the app's limits.
pub(crate) fn builder(max_header_bytes: usize) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(MAX_STREAMS)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(STREAM_WINDOW * MAX_STREAMS);
    builder
}

/// The work on one HTTP/2 connection: requests being answered and
/// WebSockets open (each holds a count through its connection slot until
/// its `disconnection` ran), and how many requests ever arrived.
#[derive(Clone, Default)]
pub(crate) struct Busy {
    open: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
}

/// A request being answered; counted in [`Busy`] until dropped.
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Busy {
    /// Counts a request from its arrival to its response.
    pub(crate) fn request(&self) -> InFlight {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.open.fetch_add(1, Ordering::AcqRel);
        InFlight(self.open.clone())
    }

    /// Counts a WebSocket of this connection for as long as its `slot`.
    pub(crate) fn websocket(&self, mut slot: Slot) -> Slot {
        slot.count_in(self.open.clone());
        slot
    }

    /// (open, started) now.
    fn snapshot(&self) -> (usize, usize) {
        (
            self.open.load(Ordering::Acquire),
            self.started.load(Ordering::Acquire),
        )
    }
}

/// Serves one HTTP/2 connection until it ends. It closes with GOAWAY once
/// it has been idle for a whole `idle` (checked every `idle`, so between one
/// and two `idle` after its last stream), or once `closing` turns true (the
/// app's drain is over: every WebSocket got its 1001); and if it is still
/// there, idle, one `idle` after its GOAWAY (a client that never finished
/// the HTTP/2 handshake, or never acknowledges the GOAWAY), it is dropped.
pub(crate) async fn serve<I, S>(
    io: I,
    builder: &http2::Builder<TokioExecutor>,
    service: S,
    busy: Busy,
    idle: Duration,
    mut closing: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + idle, idle);
    // Before the first tick: nothing open, nothing started (the accept).
    let mut seen = (0, 0);
    let mut goaway = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = ticks.tick() => {
                let now = busy.snapshot();
                let idle_since_last_tick = now == (0, seen.1) && seen.0 == 0;
                seen = now;
                if !idle_since_last_tick {
                    continue;
                }
                if goaway {
                    tracing::debug!("HTTP/2 connection still idle after its GOAWAY: dropping it");
                    return;
                }
                tracing::debug!(?idle, "HTTP/2 connection idle: closing it with GOAWAY");
                connection.as_mut().graceful_shutdown();
                goaway = true;
            }
            _ = closing.wait_for(|closing| *closing), if !goaway => {
                connection.as_mut().graceful_shutdown();
                goaway = true;
            }
        }
    }
}
