//! The handshake of one route: from the HTTP request to `101 Switching
//! Protocols` (or the refusal a browser sees).
//!
//! In order: a plain HTTP request gets 426; the WebSocket headers are
//! checked (RFC 6455 §4.2.1); the hooks' axum extractors run (their
//! rejection is the answer); the optional `handshake` hook may refuse with
//! any response; the `subprotocol` hook chooses among the client's offers;
//! then the `101` goes out and the connection task starts on the upgraded
//! TCP stream.

use crate::connection;
use crate::request::Request;
use crate::security::Guard;
use crate::serve::{Accepted, Runtime};
use crate::server::Hooks;
use axum::extract::ConnectInfo;
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::FutureExt;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::time::Instant;

fn header_has_token(parts: &Parts, name: header::HeaderName, token: &str) -> bool {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// 426 for a plain HTTP request on a WebSocket route.
fn upgrade_required() -> Response {
    (
        StatusCode::UPGRADE_REQUIRED,
        [
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
        ],
        "426 Upgrade Required: this is a WebSocket route; connect with a WebSocket client\n",
    )
        .into_response()
}

fn hook_panicked(hook: &str, request: &Request) -> Response {
    tracing::error!(path = request.path(), client = ?request.client(), hook, "hook panicked before the upgrade");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "500 Internal Server Error\n",
    )
        .into_response()
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
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Unavailable: shutting down\n",
        )
            .into_response();
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
            match accepted {
                // Served by App: drop the TCP connection with no response.
                // The connection's task drops it, and this future with it.
                Some(accepted) => {
                    accepted.drop_connection.notify_one();
                    std::future::pending().await
                }
                // A router inside someone else's server: answer 408 and close.
                None => {
                    (StatusCode::REQUEST_TIMEOUT, [(header::CONNECTION, "close")]).into_response()
                }
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
    if !header_has_token(&parts, header::UPGRADE, "websocket")
        || !header_has_token(&parts, header::CONNECTION, "upgrade")
    {
        return upgrade_required();
    }
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return upgrade_required(); // says which version we speak
    }
    let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return bad_request("Sec-WebSocket-Key is missing");
    };
    // RFC 6455 §4.2.1: the key is 16 random bytes in base64.
    let decoded = base64::engine::general_purpose::STANDARD.decode(key.as_bytes().trim_ascii());
    if decoded.map_or(true, |k| k.len() != 16) {
        return bad_request("Sec-WebSocket-Key must be 16 bytes in base64");
    }
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return bad_request("this connection cannot be upgraded (HTTP/1.1 is required)");
    };
    if let Err(refusal) = guard.check_origin(&parts.headers, parts.uri.path()) {
        return refusal;
    }
    let slot = match guard.reserve() {
        Ok(slot) => slot,
        Err(refusal) => return refusal,
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let tls = parts.extensions.get::<crate::serve::Tls>().is_some();
    let (client, secure) = guard.client(&parts.headers, peer, tls);
    let mut request = Request::from_parts(&parts, params, client, secure);
    let mut ex = match T::__extract(&mut parts, &request).await {
        Ok(ex) => ex,
        Err(refusal) => return refusal,
    };
    let mut handler = T::default();
    match AssertUnwindSafe(handler.__handshake(&request, &mut ex))
        .catch_unwind()
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => return refusal,
        Err(_) => return hook_panicked("handshake", &request),
    }
    let mut protocol = None;
    if T::HAS_SUBPROTOCOL && !request.subprotocols().is_empty() {
        let chosen = match AssertUnwindSafe(handler.__subprotocol(&request, &mut ex))
            .catch_unwind()
            .await
        {
            Ok(chosen) => chosen,
            Err(_) => return hook_panicked("subprotocol", &request),
        };
        if let Some(chosen) = chosen {
            match HeaderValue::from_str(&chosen) {
                Ok(value) if request.subprotocols().contains(&chosen) => protocol = Some(value),
                _ => {
                    return bad_request(&format!(
                        "subprotocol `{chosen}` was not offered by the client"
                    ))
                }
            }
            request.subprotocol = Some(chosen);
        }
    }
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    let accept =
        HeaderValue::from_str(&accept_key(key.as_bytes())).expect("base64 is a header value");
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    let pending = Box::new(connection::Pending {
        handler,
        request,
        ex,
        slot,
        runtime,
    });
    tokio::spawn(connection::start(on_upgrade, pending));
    response
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
fn accept_key(key: &[u8]) -> String {
    use sha1::Digest;
    let mut sha1 = sha1::Sha1::new();
    sha1.update(key);
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("400 Bad Request: {why}\n")).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn accept_key_matches_rfc_6455() {
        // The example of RFC 6455 §1.3.
        assert_eq!(
            super::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
