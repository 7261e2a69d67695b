//! # cheese-api
//!
//! CheeseAPI's `WebsocketServer` for Rust: put `#[websocket("/path")]` on one
//! impl block and get a registered, per-connection handler with hooks,
//! `send`/`close`, and eight connection limits that really hold, on axum.
//!
//! ## Contents
//! - [A first server](#a-first-server)
//! - [Hooks](#hooks)
//! - [Parameters](#parameters)
//! - [Routes](#routes)
//! - [Limits](#limits)
//! - [The app](#the-app)
//!
//! ## A first server
//! ```no_run
//! use cheese_api::prelude::*;
//!
//! #[derive(Default)] // one instance per connection, like the Python class
//! struct MyWebsocket;
//!
//! #[websocket("/")]
//! impl MyWebsocket {
//!     async fn connection(&mut self) {
//!         let _ = self.send("这里是CheeseAPI！").await;
//!     }
//!     async fn message(&mut self, message: Message) {
//!         if message == "over" {
//!             let _ = self.close(1000, "").await;
//!         } else {
//!             let _ = self.send(message).await;
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     App::new().run().await // every #[websocket] in the binary, on 127.0.0.1:5214
//! }
//! ```
//!
//! ## Hooks
//! All optional, all `async fn(&mut self, ...)`:
//!
//! | hook | when | returns |
//! |---|---|---|
//! | `handshake` | before the upgrade, after the extractors | `()` or `Result<(), R: IntoResponse>`; `Err` is the HTTP answer (401, 403, ...) |
//! | `subprotocol` | before the upgrade, only if the client offered subprotocols | `Option<String>`: one of the offers, or `None` for none; anything else refuses with 400 |
//! | `connection` | right after the upgrade | `()` or `Result<(), E: Display>` |
//! | `message` | for each complete data message, one at a time, in order | `()` or `Result<(), E: Display>` |
//! | `disconnection` | exactly once for every connection whose `connection` ran | `()` |
//!
//! A hook that returns `Err` or panics closes only its connection, with 1011,
//! and is logged with the request's path and client; `disconnection` still runs.
//!
//! ## Parameters
//! Bound by name, like the keyword arguments of CheeseAPI:
//! - `request: &Request`: the upgrade [`Request`];
//! - `message` (in `message` only): [`Message`], `String` (text only),
//!   `Vec<u8>`/`Bytes` (binary only) or [`Json<T>`]; the wrong kind closes
//!   with 1003, JSON that does not fit `T` with 1007;
//! - a name of the route, `<name:type>`: that value, decoded, parsed with `FromStr`;
//! - anything else must be an axum extractor (`FromRequestParts<()>`, such as
//!   `Query<T>` or `HeaderMap`), extracted once from the upgrade request; its
//!   rejection refuses the handshake.
//!
//! ## Routes
//! CheeseAPI's syntax, `/room/<name:str>/<id:int>`, with `str`, `int`,
//! `float`, `uuid` and named patterns ([`App::pattern`]); see [`route`].
//!
//! ## Limits
//! `#[websocket("/", max_size = 65536, ping_interval = None)]`; see [`Limits`]
//! for each limit's default and meaning.
//!
//! ## The app
//! [`App::new`] serves every `#[websocket]` in the binary;
//! [`App::empty`]`.websocket::<T>()` registers by hand; [`App::router`] gives
//! an `axum::Router` to merge into your own app and [`App::merge`] serves your
//! HTTP routes beside.
#![warn(missing_docs)]
// An HTTP refusal travels as `Err(Response)`, the axum idiom; boxing it would
// cost an allocation for no gain on a path taken once per handshake.
#![allow(clippy::result_large_err)]

mod app;
mod backplane;
mod connection;
mod driver;
mod hub;
mod limits;
mod message;
#[cfg(feature = "redis")]
mod redis;
mod request;
pub mod route;
mod security;
mod serve;
mod server;
mod socket;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;
mod upgrade;

#[cfg(feature = "redis")]
pub use crate::redis::RedisBackplane;
pub use app::App;
pub use backplane::{Backplane, Envelope, MemoryBackplane, Target};
pub use cheese_api_macros::websocket;
pub use hub::{Hub, Recipients};
pub use limits::Limits;
pub use message::{FromMessage, IntoMessage, Json, Message, Rejected, Text};
pub use request::Request;
pub use security::Origins;
pub use serve::ShutdownHandle;
pub use server::{IntoHandshakeResult, IntoHookResult, IntoSubprotocol, WebsocketServer};
pub use socket::{SendError, Socket};
pub use stats::Stats;

/// Re-exports of the crates in the public API.
pub use axum;
pub use bytes::Bytes;

/// Everything a handler file needs: `use cheese_api::prelude::*;`.
pub mod prelude {
    pub use crate::{
        websocket, App, Hub, Json, Limits, Message, Request, SendError, Socket, WebsocketServer,
    };
    pub use axum::extract::Query;
    pub use axum::http::StatusCode;
    pub use axum::Extension;
    pub use bytes::Bytes;
}

/// Used by the code `#[websocket]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::app::Registration;
    pub use crate::message::FromMessage;
    pub use crate::server::{
        HookError, Hooks, IntoHandshakeResult, IntoHookResult, IntoSubprotocol,
    };
    pub use axum::extract::FromRequestParts;
    pub use axum::http::request::Parts;
    pub use axum::response::Response;
    pub use inventory;
    pub use std::time::Duration;

    use crate::{Message, Request};
    use axum::response::IntoResponse;

    /// Runs one axum extractor on the upgrade request.
    pub async fn extract<T: FromRequestParts<()>>(parts: &mut Parts) -> Result<T, Response> {
        T::from_request_parts(parts, &())
            .await
            .map_err(IntoResponse::into_response)
    }

    /// Parses a path value; a value that does not parse is a 404, as a
    /// segment that does not match its type.
    pub fn path_param<T: std::str::FromStr>(request: &Request, name: &str) -> Result<T, Response> {
        request
            .param(name)
            .ok_or_else(|| axum::http::StatusCode::NOT_FOUND.into_response())
    }

    /// What [`WebsocketServer`](crate::WebsocketServer) requires of a
    /// handler type: `Default`, through a trait whose message says so on
    /// the user's type (the macro registers the type through [`register`]).
    #[diagnostic::on_unimplemented(
        message = "`{Self}` must implement `Default`: each connection gets its own `{Self}`, made with `Default::default()`",
        label = "add `#[derive(Default)]` to `{Self}`, or implement `Default` for it"
    )]
    pub trait DefaultHandler: Default {}
    #[diagnostic::do_not_recommend]
    impl<T: Default> DefaultHandler for T {}

    /// `Send`, as [`DefaultHandler`] is `Default`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` must be `Send`: each connection runs on Tokio's worker threads",
        label = "`{Self}` is not `Send`",
        note = "a field such as `Rc<T>` or `RefCell<T>` is not `Send`: use `Arc<T>`, `Mutex<T>` or an atomic instead"
    )]
    pub trait SendHandler: Send {}
    #[diagnostic::do_not_recommend]
    impl<T: Send> SendHandler for T {}

    /// The registration `#[websocket]` submits to `App::new`. `Default`
    /// and `Send` are required first, so a type that lacks one gets that one
    /// error (the unmet `Hooks` bound it implies is not reported again).
    pub const fn register<T: DefaultHandler + SendHandler + Hooks>() -> Registration {
        Registration::of::<T>()
    }

    /// Converts the message for the `message` parameter.
    pub fn message<T: FromMessage>(message: Message) -> Result<T, HookError> {
        T::from_message(message).map_err(HookError::Rejected)
    }
}
