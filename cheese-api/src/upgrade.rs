//! The handshake of one route: from the HTTP request to `101 Switching
//! Protocols` (or the refusal a browser sees).
//!
//! In order: a plain HTTP request gets 426; axum's `WebSocketUpgrade`
//! checks the WebSocket headers; the hooks' axum extractors run (their
//! rejection is the answer); the optional `handshake` hook may refuse with
//! any response; the `subprotocol` hook chooses among the client's offers;
//! then the engine is configured from the route's limits and the connection
//! task starts.

use crate::connection;
use crate::request::Request;
use crate::serve::{Accepted, Runtime};
use crate::server::Hooks;
use crate::socket::Socket;
use crate::Limits;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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

fn configure(upgrade: WebSocketUpgrade, limits: &Limits) -> WebSocketUpgrade {
    let max = limits.max_size.unwrap_or(usize::MAX);
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(limits.read_limit)
        .write_buffer_size(limits.write_limit)
}

/// Serves an upgrade request that matched `T`'s pattern with `params`,
/// within the route's `open_timeout` counted from the TCP accept.
pub(crate) async fn serve<T: Hooks>(
    req: axum::extract::Request,
    params: Vec<(String, String)>,
    runtime: Arc<Runtime>,
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
        return handshake::<T>(req, params, runtime).await;
    };
    let started = accepted.as_ref().map_or_else(Instant::now, |a| a.at);
    match tokio::time::timeout_at(started + open_timeout, handshake::<T>(req, params, runtime))
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
) -> Response {
    let (mut parts, _body) = req.into_parts();
    if !header_has_token(&parts, header::UPGRADE, "websocket")
        || !header_has_token(&parts, header::CONNECTION, "upgrade")
    {
        return upgrade_required();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut request = Request::from_parts(&parts, params, client, false);
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
    let mut upgrade = configure(upgrade, &T::LIMITS);
    if T::HAS_SUBPROTOCOL && !request.subprotocols().is_empty() {
        let chosen = match AssertUnwindSafe(handler.__subprotocol(&request, &mut ex))
            .catch_unwind()
            .await
        {
            Ok(chosen) => chosen,
            Err(_) => return hook_panicked("subprotocol", &request),
        };
        if let Some(chosen) = chosen {
            let offered = request.subprotocols().contains(&chosen);
            let value = HeaderValue::from_str(&chosen);
            match (offered, value) {
                (true, Ok(value)) => upgrade.set_selected_protocol(value),
                _ => {
                    return (
                        StatusCode::BAD_REQUEST,
                        format!(
                        "400 Bad Request: subprotocol `{chosen}` was not offered by the client\n"
                    ),
                    )
                        .into_response()
                }
            }
            request.subprotocol = Some(chosen);
        }
    }
    let (socket, rx) = Socket::new(T::LIMITS.write_limit);
    upgrade
        .on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
        .on_upgrade(move |ws| connection::run(ws, handler, request, ex, socket, rx, runtime))
}
