//! The trait `#[websocket]` implements, and the hidden one the connection
//! driver calls.
//!
//! [`WebsocketServer`] is the user's face of a handler: its route, its limits,
//! and `send`/`close`/`socket` for use inside hooks. `Hooks` is generated glue:
//! it binds each hook's parameters (request, message, path values, axum
//! extractors) and turns the hook's return value into an outcome.

use crate::connection::error::SendError;
use crate::connection::socket::Socket;
use crate::message::{IntoMessage, Message, Rejected};
use crate::request::Request;
use crate::Limits;
use axum::response::{IntoResponse, Response};
use std::fmt::Display;
use std::future::Future;

/// A WebSocket handler: one impl block with `#[websocket("/path")]` on it.
///
/// The attribute implements this trait; the methods below are for use inside
/// hooks, on `self`.
///
/// ```
/// use cheese_api::prelude::*;
///
/// #[derive(Default)]
/// struct Hello;
///
/// #[websocket("/")]
/// impl Hello {
///     async fn connection(&mut self) {
///         let _ = self.send("这里是CheeseAPI！").await;
///     }
///     async fn message(&mut self, message: Message) {
///         if message == "over" {
///             let _ = self.close(1000, "").await;
///         } else {
///             let _ = self.send(message).await;
///         }
///     }
/// }
///
/// assert_eq!(Hello::PATH, "/");
/// ```
pub trait WebsocketServer: Default + Send + 'static {
    /// The route pattern, as written in the attribute.
    const PATH: &'static str;
    /// The resolved limits: the attribute's keys over [`Limits::DEFAULT`].
    const LIMITS: Limits;

    /// Sends a message to this connection's client. Waits while more than
    /// `write_limit` bytes are queued. Inside a hook only; elsewhere it returns
    /// [`SendError::OutsideHook`].
    fn send(
        &self,
        message: impl IntoMessage,
    ) -> impl Future<Output = Result<(), SendError>> + Send {
        // Fast path: queue at once, no handle cloned, when under write_limit.
        use crate::connection::socket::TryQueue;
        let now = match message.into_message() {
            Err(e) => Err(Some(SendError::Json(e))),
            Ok(message) => match crate::connection::socket::CURRENT
                .try_with(|socket| socket.try_queue(message, socket.shared.write_limit, false))
            {
                Err(_) => Err(Some(SendError::OutsideHook)),
                Ok(TryQueue::Queued) => Err(None),
                Ok(TryQueue::Failed(error)) => Err(Some(error)),
                Ok(TryQueue::Full(message)) => Ok(message), // must wait for the writer
            },
        };
        async move {
            match now {
                Err(None) => Ok(()),
                Err(Some(error)) => Err(error),
                // Over write_limit: wait for the writer. Boxed, because
                // this future lives inside every hook that sends, and so in
                // every connection's task, while the wait is the rare case.
                Ok(message) => {
                    let socket = Socket::current().ok_or(SendError::OutsideHook)?;
                    Box::pin(socket.send(message)).await
                }
            }
        }
    }

    /// Starts closing this connection with `code` and `reason` (see
    /// [`Socket::close`]). Inside a hook only.
    fn close(&self, code: u16, reason: &str) -> impl Future<Output = Result<(), SendError>> + Send {
        let socket = Socket::current();
        let reason = reason.to_owned();
        async move {
            socket
                .ok_or(SendError::OutsideHook)?
                .close(code, &reason)
                .await
        }
    }

    /// The app's [`Hub`](crate::Hub): send to rooms, routes and sockets.
    /// Inside a hook only.
    fn hub(&self) -> crate::Hub {
        self.socket().hub()
    }

    /// Joins `room` (left automatically on disconnect). Inside a hook only.
    fn join(&self, room: &str) {
        self.socket().join(room);
    }

    /// Joins `room` with presence `info` ([`Socket::join_with`]). Inside a
    /// hook only.
    fn join_with(&self, room: &str, info: impl serde::Serialize) -> Result<(), serde_json::Error> {
        self.socket().join_with(room, info)
    }

    /// Joins `room` with recovery ([`Socket::join_since`]). Inside a hook
    /// only.
    fn join_since(
        &self,
        room: &str,
        since: &crate::Position,
    ) -> impl std::future::Future<Output = crate::Recovery> + Send {
        let socket = self.socket();
        let room = room.to_owned();
        let since = since.clone();
        async move { socket.join_since(&room, &since).await }
    }

    /// Leaves `room`. Inside a hook only.
    fn leave(&self, room: &str) {
        self.socket().leave(room);
    }

    /// A cloneable handle to this connection for spawned tasks.
    ///
    /// # Panics
    /// Outside a hook, where there is no connection to hand out.
    fn socket(&self) -> Socket {
        Socket::current().expect(
            "self.socket() was called outside a hook: call it inside a hook and keep the Socket",
        )
    }
}

/// What a hook's failure does to its connection.
#[doc(hidden)]
#[derive(Debug)]
pub enum HookError {
    /// The hook returned an error: close 1011, log it.
    Failed(String),
    /// The message did not fit the parameter's type: close with its code.
    Rejected(Rejected),
}

/// Generated glue between a `#[websocket]` impl block and the driver.
#[doc(hidden)]
pub trait Hooks: WebsocketServer {
    /// Values for hook parameters, taken from the upgrade request before the
    /// handshake finishes.
    type Extracted: Send + 'static;
    /// Whether the block has a `subprotocol` hook.
    const HAS_SUBPROTOCOL: bool;

    fn __extract(
        parts: &mut axum::http::request::Parts,
        request: &Request,
    ) -> impl Future<Output = Result<Self::Extracted, Response>> + Send;

    fn __handshake(
        &mut self,
        _request: &Request,
        _ex: &mut Self::Extracted,
    ) -> impl Future<Output = Result<(), Response>> + Send {
        async { Ok(()) }
    }

    fn __subprotocol(
        &mut self,
        _request: &Request,
        _ex: &mut Self::Extracted,
    ) -> impl Future<Output = Option<String>> + Send {
        async { None }
    }

    fn __connection(
        &mut self,
        _request: &Request,
        _ex: &mut Self::Extracted,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        async { Ok(()) }
    }

    fn __message(
        &mut self,
        _request: &Request,
        _ex: &mut Self::Extracted,
        _message: Message,
    ) -> impl Future<Output = Result<(), HookError>> + Send {
        async { Ok(()) }
    }

    fn __disconnection(
        &mut self,
        _request: &Request,
        _ex: &mut Self::Extracted,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What `connection` and `message` may return: `()` or `Result<(), E>` with
/// `E: Display` (its text is logged and the connection closes with 1011).
#[diagnostic::on_unimplemented(
    message = "a hook must return `()` or `Result<(), E>` with `E: Display`, not `{Self}`"
)]
pub trait IntoHookResult {
    /// Converts into the hook's outcome.
    fn into_hook_result(self) -> Result<(), HookError>;
}

impl IntoHookResult for () {
    fn into_hook_result(self) -> Result<(), HookError> {
        Ok(())
    }
}

impl<E: Display> IntoHookResult for Result<(), E> {
    fn into_hook_result(self) -> Result<(), HookError> {
        self.map_err(|e| HookError::Failed(e.to_string()))
    }
}

/// What the pre-upgrade `handshake` hook may return: `()` to accept, or
/// `Result<(), R>` where `Err(R)` is the HTTP response that refuses (any
/// [`IntoResponse`](https://docs.rs/axum/0.8/axum/response/trait.IntoResponse.html),
/// such as `StatusCode::UNAUTHORIZED` or
/// `(StatusCode::FORBIDDEN, "no")`).
#[diagnostic::on_unimplemented(
    message = "the `handshake` hook must return `()` or `Result<(), R>` with `R: IntoResponse`, not `{Self}`"
)]
pub trait IntoHandshakeResult {
    /// Converts into accept or refusal.
    fn into_handshake_result(self) -> Result<(), Response>;
}

impl IntoHandshakeResult for () {
    fn into_handshake_result(self) -> Result<(), Response> {
        Ok(())
    }
}

impl<R: IntoResponse> IntoHandshakeResult for Result<(), R> {
    fn into_handshake_result(self) -> Result<(), Response> {
        self.map_err(IntoResponse::into_response)
    }
}

/// What the `subprotocol` hook may return: `Option<String>` or
/// `Option<&'static str>`.
#[diagnostic::on_unimplemented(
    message = "the `subprotocol` hook must return `Option<String>`, not `{Self}`"
)]
pub trait IntoSubprotocol {
    /// Converts into the chosen subprotocol.
    fn into_subprotocol(self) -> Option<String>;
}

impl IntoSubprotocol for Option<String> {
    fn into_subprotocol(self) -> Option<String> {
        self
    }
}

impl IntoSubprotocol for Option<&'static str> {
    fn into_subprotocol(self) -> Option<String> {
        self.map(str::to_owned)
    }
}
