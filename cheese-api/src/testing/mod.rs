//! Testing an app: start it on a loopback port and talk to it over a real
//! WebSocket, as a browser would (cargo feature `testing`).
//!
//! Enable the feature for your tests only:
//!
//! ```toml
//! [dev-dependencies]
//! cheese-api = { version = "0.1", features = ["testing"] }
//! ```
//!
//! [`TestServer::start`] serves an [`App`](crate::App) on `127.0.0.1` with a
//! free port ([`start_on`](TestServer::start_on): on a listener of your own;
//! [`start_router`](TestServer::start_router): an axum router that holds
//! [`App::router`](crate::App::router)). [`TestServer::connect`] opens a
//! [`TestClient`], and [`TestServer::request`] builds a handshake with a
//! query, headers and subprotocols, which the app accepts (a [`TestClient`])
//! or refuses (a [`Refused`]: the status, headers and body a browser would
//! get). [`TestServer::get`] and [`post`](TestServer::post) ask the app's
//! plain HTTP routes (a [`TestResponse`]).
//!
//! What is where: `server.rs` ([`TestServer`]), `request.rs`
//! ([`TestRequest`]), `client.rs` ([`TestClient`] and sending), `receive.rs`
//! and `close.rs` (receiving and closing on a [`TestClient`]), `http.rs`
//! (the handshake and plain requests over TCP, [`TestResponse`]),
//! `refused.rs` ([`Refused`]), `logs.rs` ([`Logs`]: what the app logged).
//!
//! Every wait is bounded: [`TestClient::recv`] and the other `expect_*`
//! methods panic with a message that says what was expected, on which path,
//! and what came instead, after [`TestClient::DEFAULT_TIMEOUT`] (5 s; see
//! [`TestClient::with_timeout`]). A broken promise fails the test; it never
//! hangs it.
//!
//! A whole test:
//!
//! ```
//! use cheese_api::prelude::*;
//! use cheese_api::testing::TestServer;
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! #[websocket("/")]
//! impl Hello {
//!     async fn connection(&mut self) {
//!         let _ = self.send("这里是CheeseAPI！").await;
//!     }
//!     async fn message(&mut self, message: Message) {
//!         if message == "over" {
//!             let _ = self.close(1000, "bye").await;
//!         } else {
//!             let _ = self.send(message).await;
//!         }
//!     }
//! }
//!
//! # /*
//! #[tokio::test]
//! # */
//! async fn hello_greets_echoes_and_says_bye() {
//!     let server = TestServer::start(App::empty().websocket::<Hello>()).await;
//!     let mut client = server.connect("/").await;
//!
//!     assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
//!     client.send("cheddar").await;
//!     assert_eq!(client.recv().await, "cheddar");
//!     client.send(vec![0u8, 1, 255]).await;
//!     assert_eq!(client.recv().await, Message::binary(vec![0u8, 1, 255]));
//!
//!     client.send("over").await;
//!     assert_eq!(client.expect_close(1000).await, "bye");
//!     server.shutdown().await;
//! }
//! # #[tokio::main]
//! # async fn main() { hello_greets_echoes_and_says_bye().await }
//! ```
//!
//! The client is tokio-tungstenite's, driven so that it accepts what a
//! browser accepts: a server that declines every offered subprotocol is
//! accepted with [`subprotocol`](TestClient::subprotocol) `None` (a browser
//! does the same; tungstenite's own `connect` fails there).

mod client;
mod close;
mod http;
mod logs;
mod receive;
mod refused;
mod request;
mod server;

pub use client::TestClient;
pub use http::TestResponse;
pub use logs::Logs;
pub use refused::Refused;
pub use request::TestRequest;
pub use server::TestServer;
