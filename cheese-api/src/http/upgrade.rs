//! The handshake of one route: from the HTTP request to `101 Switching
//! Protocols` (over HTTP/2, `200` to an extended CONNECT) or the refusal a
//! browser sees, through axum's [`WebSocketUpgrade`].
//!
//! In order: axum's extractor checks the WebSocket headers (a plain HTTP
//! request, or a version other than 13, gets 426); the key is checked
//! (HTTP/1.1 only: HTTP/2 has none); the origin and the
//! connection caps are checked; the hooks' axum extractors run (their
//! rejection is the answer); the optional `handshake` hook may refuse with
//! any response; the `subprotocol` hook chooses among the client's offers;
//! then the route's limits configure the engine and `on_upgrade` starts the
//! connection task once hyper hands over the connection.

use crate::connection::task;
use crate::handler::Hooks;
use crate::http::read_ahead::Chunk;
use crate::http::refusal::{refused_by, Refusal};
use crate::http::security::Guard;
use crate::http::serve::Accepted;
use crate::metrics::Hook;
use crate::request::Request;
use crate::runtime::Runtime;
use crate::Limits;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, HeaderValue, Version};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::time::Instant;

/// The largest read buffer of a connection, `min(read_limit, READ_CHUNK)`:
/// tungstenite allocates and zero-fills it for every connection and reads
/// at most that much per system call, so it sets both idle memory and the
/// reads a large frame takes. 4 KiB by the sweep in docs/performance.md
/// (`bench/chunks.sh` edits this line).
const READ_CHUNK: usize = 4 * 1024;

/// The engine's read buffer when it reads from memory: through the
/// [`ReadAhead`](crate::http::read_ahead::ReadAhead) layer (HTTP/1.1
/// connections served by `App::serve`/`run`), which makes the big system-call
/// reads, or from an HTTP/2 stream, whose DATA frames h2 already holds. The
/// engine's buffer, allocated and filled for every connection, can then be
/// this small.
const ENGINE_READ: usize = 256;

/// The largest frame the engine takes when `max_size` is `None`: tungstenite
/// reserves a frame's declared length before its payload arrives, so an
/// unbounded frame size would let one header abort the process. Messages
/// stay unlimited (in fragments). tungstenite's own default.
const UNLIMITED_MAX_FRAME: usize = 16 << 20;

/// The largest `write_buffer_size` tungstenite accepts with an unlimited
/// `max_write_buffer_size` (it asserts the first is below the second).
const MAX_WRITE_BUFFER: usize = usize::MAX - 1;

/// What the engine reads from, which sets its read buffer.
enum Source<'a> {
    /// The socket through its connection's read-ahead layer, which reads
    /// ahead at most `read_limit` (and 64 KiB).
    ReadAhead(&'a Chunk),
    /// An HTTP/2 stream: each read copies from a DATA frame in memory (at
    /// most the stream's flow-control window is held unread).
    Http2Stream,
    /// The socket itself: a router inside someone else's HTTP/1.1 server.
    Socket,
}

/// The engine's settings for a route's limits.
fn configure(ws: WebSocketUpgrade, limits: &Limits, source: Source<'_>) -> WebSocketUpgrade {
    let engine_read = match source {
        Source::ReadAhead(chunk) => {
            chunk.set(limits.read_limit);
            limits.read_limit.clamp(1, ENGINE_READ)
        }
        Source::Http2Stream => limits.read_limit.clamp(1, ENGINE_READ),
        Source::Socket => limits.read_limit.clamp(1, READ_CHUNK),
    };
    let ws = ws
        .read_buffer_size(engine_read)
        // Frames are written out once this much is buffered, or at the
        // flush that ends a burst; `send` waits (the driver stops handing
        // over) while the socket does not take it, so the engine's buffer
        // never has to refuse a message (`max_write_buffer_size` stays
        // unlimited).
        .write_buffer_size(limits.write_limit.min(MAX_WRITE_BUFFER));
    match limits.max_size {
        Some(max) => ws.max_message_size(max).max_frame_size(max),
        // axum's default message limit is 64 MiB: lift it.
        None => ws
            .max_message_size(usize::MAX)
            .max_frame_size(UNLIMITED_MAX_FRAME),
    }
}

/// A hook of the route `route` panicked before the upgrade: 500.
fn hook_panicked(route: &'static str, hook: Hook, request: &Request) -> Response {
    crate::metrics::hook_failed(route, hook, true);
    tracing::error!(path = request.path(), client = ?request.client(), hook = hook.as_str(), "hook panicked before the upgrade");
    Refusal::hook_panicked().into_response()
}

/// [`serve`] for handler `T` as a plain `fn` (the app keeps one per route).
pub(crate) fn serve_boxed<T: Hooks>(
    req: axum::extract::Request,
    params: Vec<(String, String)>,
    runtime: Arc<Runtime>,
    guard: Arc<Guard>,
) -> BoxFuture<'static, Response> {
    Box::pin(serve::<T>(req, params, runtime, guard))
}

/// Serves an upgrade request that matched `T`'s pattern with `params`,
/// within the route's `open_timeout` counted from the TCP accept.
pub(crate) async fn serve<T: Hooks>(
    req: axum::extract::Request,
    params: Vec<(String, String)>,
    runtime: Arc<Runtime>,
    guard: Arc<Guard>,
) -> Response {
    if runtime.is_draining() {
        return Refusal::shutting_down().into_response();
    }
    let accepted = req.extensions().get::<Accepted>().cloned();
    let Some(open_timeout) = T::LIMITS.open_timeout else {
        return handshake::<T>(req, params, runtime, guard).await;
    };
    let started = accepted.as_ref().map_or_else(Instant::now, |a| a.at);
    match tokio::time::timeout_at(
        started + open_timeout,
        handshake::<T>(req, params, runtime, guard),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => {
            tracing::info!(timeout = ?open_timeout, "handshake timed out (open_timeout): dropping the connection");
            match accepted.and_then(|a| a.drop_connection) {
                // Served by App over HTTP/1.1: drop the TCP connection with
                // no response. The connection's task drops it, and this
                // future with it.
                Some(drop_connection) => {
                    drop_connection.notify_one();
                    std::future::pending().await
                }
                // An HTTP/2 stream (the connection's other streams go on),
                // or a router inside someone else's server: answer 408.
                None => Refusal::open_timeout().into_response(),
            }
        }
    }
}

async fn handshake<T: Hooks>(
    req: axum::extract::Request,
    params: Vec<(String, String)>,
    runtime: Arc<Runtime>,
    guard: Arc<Guard>,
) -> Response {
    let (mut parts, _body) = req.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return Refusal::from_upgrade_rejection(rejection).into_response(),
    };
    // HTTP/2's extended CONNECT has no key (RFC 8441 §5); it names the
    // protocol in `:protocol`, which axum checks only with its own `http2`
    // feature.
    let http2 = parts.version >= Version::HTTP_2;
    #[cfg(feature = "tls")]
    if http2 && !is_websocket(parts.extensions.get::<hyper::ext::Protocol>()) {
        return Refusal::upgrade_required().into_response();
    }
    if !http2 && !valid_key(parts.headers.get(header::SEC_WEBSOCKET_KEY)) {
        return Refusal::invalid_key().into_response();
    }
    if let Err(refusal) = guard.check_origin(&parts.headers, parts.uri.path()) {
        return refusal.into_response();
    }
    let slot = match guard.reserve() {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let tls = parts.extensions.get::<crate::http::serve::Tls>().is_some();
    let (client, secure) = guard.client(&parts.headers, peer, tls);
    let mut request = Request::from_parts(&parts, params, client, secure);
    let mut ex = match T::__extract(&mut parts, &request).await {
        Ok(ex) => ex,
        Err(refusal) => return refused_by("extractor", refusal),
    };
    let mut handler = T::default();
    match AssertUnwindSafe(handler.__handshake(&request, &mut ex))
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return refused_by("handshake_hook", refusal),
        Err(_) => return hook_panicked(T::PATH, Hook::Handshake, &request),
    }
    let accepted = parts.extensions.get::<Accepted>();
    // An idle HTTP/2 connection closes: this WebSocket keeps it busy.
    #[cfg(feature = "tls")]
    let slot = match accepted.and_then(|a| a.busy.as_ref()) {
        Some(busy) => busy.websocket(slot),
        None => slot,
    };
    let source = match accepted.and_then(|a| a.read_ahead.as_ref()) {
        _ if http2 => Source::Http2Stream,
        Some(chunk) => Source::ReadAhead(chunk),
        None => Source::Socket,
    };
    let mut ws = configure(ws, &T::LIMITS, source);
    if T::HAS_SUBPROTOCOL && !request.subprotocols().is_empty() {
        let chosen = match AssertUnwindSafe(handler.__subprotocol(&request, &mut ex))
            .catch_unwind()
            .await
        {
            Ok(chosen) => chosen,
            Err(_) => return hook_panicked(T::PATH, Hook::Subprotocol, &request),
        };
        if let Some(chosen) = chosen {
            match HeaderValue::from_str(&chosen) {
                Ok(value) if request.subprotocols().contains(&chosen) => {
                    ws.set_selected_protocol(value)
                }
                _ => return Refusal::subprotocol_not_offered(&chosen).into_response(),
            }
            request.subprotocol = Some(chosen.into());
        }
    }
    let pending = Box::new(task::Pending {
        handler,
        request,
        ex,
        slot,
        runtime,
    });
    ws.on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
        .on_upgrade(move |socket| {
            task::spawn(socket, pending);
            std::future::ready(())
        })
}

/// Whether an extended CONNECT's `:protocol` is `websocket`.
#[cfg(feature = "tls")]
fn is_websocket(protocol: Option<&hyper::ext::Protocol>) -> bool {
    protocol.is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// RFC 6455 §4.2.1: the key is 16 bytes in base64, which is 24 characters:
/// 21 of the alphabet, one whose low four bits are zero, then `==`. (axum
/// checks only that the header is there.)
fn valid_key(key: Option<&HeaderValue>) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let Some(key) = key.map(|k| k.as_bytes().trim_ascii()) else {
        return false;
    };
    key.len() == 24
        && key[..21].iter().all(|b| ALPHABET.contains(b))
        && b"AQgw".contains(&key[21])
        && &key[22..] == b"=="
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    #[test]
    fn keys_are_16_bytes_of_base64() {
        let key = |k: &'static str| super::valid_key(Some(&HeaderValue::from_static(k)));
        assert!(key("dGhlIHNhbXBsZSBub25jZQ==")); // RFC 6455 §1.3
        assert!(key("AAAAAAAAAAAAAAAAAAAAAA=="));
        assert!(key("/////////////////////w=="));
        assert!(!key("/////////////////////x==")); // 17th byte's bits set
        assert!(!key("dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!key("dGhlIHNhbXBsZSBub25j")); // 15 bytes
        assert!(!key("dGhlIHNhbXBsZSBub25jZQ!=")); // not base64
        assert!(!super::valid_key(None));
    }
}
