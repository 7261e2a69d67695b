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
//! - [The guide](#the-guide)
//! - [Cargo features](#cargo-features)
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
//!
//! ## The guide
//! The [`guide`] module holds the pages of the repository's `docs/`, with
//! examples that are doctests:
//!
//! - [getting started](guide::getting_started): install, the hello example,
//!   a browser or Python client, the chat example;
//! - [hooks](guide::hooks): the five hooks, parameters bound by name,
//!   `send`/`close`/`socket()`, errors and panics;
//! - [rooms](guide::rooms): [`Hub`], sending to routes, rooms and sockets
//!   from hooks, tasks and HTTP handlers;
//! - [history](guide::history): room history with positions, and recovery
//!   on reconnect with `join_since`;
//! - [limits](guide::limits): the eight limits, close codes, memory per
//!   connection;
//! - [security](guide::security): origins, authentication, refusing before
//!   the upgrade or closing after it, caps, timeouts, TLS;
//! - [deploying](guide::deploying): nginx and Caddy, graceful shutdown,
//!   environment variables, logs, metrics;
//! - [scaling](guide::scaling): several processes sharing rooms through Redis;
//! - [testing](guide::testing): testing an app with [`testing`];
//! - [differences from CheeseAPI](guide::differences_from_cheeseapi), for
//!   CheeseAPI users.
//!
//! ## Cargo features
//! None is on by default.
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | [`RedisBackplane`]: rooms across processes and machines through Redis pub/sub |
//! | `tls` | [`App::tls`] and the [`tls`] module: serve `wss://` with rustls |
//! | `testing` | the [`testing`] module: a loopback test server and client; enable it in `[dev-dependencies]` |
//! | `metrics` | the app's metrics (connections, handshakes, messages, closes, hooks, backplane) through the [`metrics`](https://docs.rs/metrics) facade, for the exporter you install: see [deploying](guide::deploying#metrics) |
//!
//! These docs show an item of a feature only when built with it:
//! `cargo doc --open -p cheese-api --all-features` (docs.rs builds them all,
//! and marks each item with its feature).
//!
#![cfg_attr(not(feature = "redis"), doc = "[`RedisBackplane`]: guide::scaling")]
#![cfg_attr(not(feature = "tls"), doc = "[`App::tls`]: guide::security#tls")]
#![cfg_attr(not(feature = "tls"), doc = "[`tls`]: guide::security#tls")]
#![cfg_attr(not(feature = "testing"), doc = "[`testing`]: guide::testing")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
// An HTTP refusal travels as `Err(Response)`, the axum idiom; boxing it would
// cost an allocation for no gain on a path taken once per handshake.
#![allow(clippy::result_large_err)]

mod app;
mod connection;
pub mod guide;
mod handler;
mod http;
mod limits;
mod message;
mod metrics;
mod request;
mod rooms;
pub mod route;
mod runtime;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;

pub use app::App;
pub use cheese_api_macros::websocket;
pub use connection::error::SendError;
pub use connection::socket::Socket;
pub use handler::{IntoHandshakeResult, IntoHookResult, IntoSubprotocol, WebsocketServer};
pub use http::refusal::{Refusal, RefusalKind};
pub use http::security::Origins;
pub use http::serve::ShutdownHandle;
#[cfg(feature = "tls")]
pub use http::tls;
pub use limits::Limits;
pub use message::{FromMessage, IntoMessage, Json, Message, Rejected, Text};
pub use request::Request;
pub use rooms::backplane::{
    Backplane, Build, Envelope, HistoryFuture, MemoryBackplane, Target, Topic,
};
pub use rooms::history::{BadPosition, History, Kept, Position, Recovery};
pub use rooms::hub::{Hub, WeakHub};
pub use rooms::presence::{Member, PresenceError, PresenceFuture};
pub use rooms::recipients::Recipients;
#[cfg(feature = "redis")]
pub use rooms::redis::RedisBackplane;
pub use stats::Stats;

/// Re-exports of the crates in the public API.
pub use axum;
pub use bytes::Bytes;

/// Everything a handler file needs: `use cheese_api::prelude::*;`.
pub mod prelude {
    pub use crate::{
        websocket, App, Hub, Json, Limits, Member, Message, Request, SendError, Socket,
        WebsocketServer,
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
    pub use crate::handler::{
        HookError, Hooks, IntoHandshakeResult, IntoHookResult, IntoSubprotocol,
    };
    pub use crate::message::FromMessage;
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
            .ok_or_else(|| crate::Refusal::not_found().into_response())
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
