//! [`TestClient`]: one WebSocket connection to the app under test; its
//! settings, what the handshake chose, and sending. Receiving is in
//! `receive.rs`, closing in `close.rs`.

use crate::{IntoMessage, Message, SendError};
use axum::http::HeaderMap;
use futures_util::SinkExt;
use std::fmt;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// One WebSocket connection to a [`TestServer`](super::TestServer), speaking
/// as a browser would; every wait is bounded by its
/// [timeout](Self::with_timeout).
///
/// Pings are answered and pings and pongs are skipped: the methods see only
/// data messages and the close ([`pings`](Self::pings) counts the pings). Dropping a client ends its TCP connection
/// without a closing handshake (the app sees 1006, like a killed tab); end
/// with [`close`](Self::close) or [`expect_close`](Self::expect_close) to
/// close properly.
///
/// ```
/// # use cheese_api::prelude::*;
/// # use cheese_api::testing::TestServer;
/// # #[derive(Default)] struct Echo;
/// # #[websocket("/echo")] impl Echo {
/// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
/// # }
/// # #[tokio::main] async fn main() {
/// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
/// let mut client = server.connect("/echo").await;
/// client.send("roquefort").await;
/// assert_eq!(client.recv_text().await, "roquefort");
/// client.close(1000, "done").await;
/// # }
/// ```
pub struct TestClient {
    pub(super) ws: WebSocketStream<TcpStream>,
    /// The path and query, for the panic messages.
    pub(super) path: String,
    pub(super) timeout: Duration,
    pub(super) subprotocol: Option<String>,
    pub(super) headers: HeaderMap,
    /// The close handshake is over or the connection ended: nothing more
    /// can arrive.
    pub(super) closed: bool,
    /// The pings read so far (each answered by tungstenite).
    pub(super) pings: usize,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("path", &self.path)
            .field("subprotocol", &self.subprotocol)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TestClient {
    /// How long [`recv`](Self::recv) and the other waits take before they
    /// panic, unless set with [`with_timeout`](Self::with_timeout): 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Sets how long each wait (receive, send, close) may take before it
    /// panics.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # use std::time::Duration;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await.with_timeout(Duration::from_millis(500));
    /// client.send("feta").await;
    /// assert_eq!(client.recv_text().await, "feta"); // or panic after 0.5 s
    /// # }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> TestClient {
        self.timeout = timeout;
        self
    }

    /// The subprotocol the app chose, if any.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {}
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// // A route without a `subprotocol` hook declines every offer; a browser
    /// // connects anyway, and so does the test client.
    /// let client = server.request("/echo").subprotocols(&["chat.v1"]).connect().await.unwrap();
    /// assert_eq!(client.subprotocol(), None);
    /// # }
    /// ```
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The headers of the app's 101 answer.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {}
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let client = server.connect("/echo").await;
    /// assert_eq!(client.response_headers()["upgrade"], "websocket");
    /// # }
    /// ```
    pub fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Sends a message: `&str` and `String` as text, `Vec<u8>`, `&[u8]` and
    /// [`Bytes`](crate::Bytes) as binary, [`Json`](crate::Json) as JSON
    /// text, or a [`Message`].
    ///
    /// # Panics
    /// When the connection is closed, a `Json` value cannot be serialized,
    /// or the app does not take the message within the timeout (it stopped
    /// reading). Use [`try_send`](Self::try_send) when the app may already
    /// have closed.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send("text").await;
    /// client.send(vec![1u8, 2, 3]).await;
    /// client.send(Json(serde_json::json!({"cheese": "comté"}))).await;
    /// assert_eq!(client.recv().await, "text");
    /// assert_eq!(client.recv().await, Message::binary(vec![1u8, 2, 3]));
    /// assert_eq!(client.recv_json::<serde_json::Value>().await["cheese"], "comté");
    /// # }
    /// ```
    pub async fn send(&mut self, message: impl IntoMessage) {
        if let Err(e) = self.try_send(message).await {
            panic!("send on {}: {e}", self.path);
        }
    }

    /// Sends a binary message.
    ///
    /// # Panics
    /// As [`send`](Self::send).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// client.send_binary(b"\x00\xff".as_slice()).await;
    /// assert_eq!(client.recv().await.as_bytes(), b"\x00\xff");
    /// # }
    /// ```
    pub async fn send_binary(&mut self, data: impl Into<crate::Bytes>) {
        self.send(Message::binary(data)).await;
    }

    /// Sends a message like [`send`](Self::send), but returns an error
    /// instead of panicking when the connection is closed (the app may have
    /// closed it already, and tungstenite's client noticed) or the value
    /// cannot be serialized.
    ///
    /// # Panics
    /// When the app does not take the message within the timeout.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// # #[tokio::main] async fn main() {
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// assert!(client.try_send("still open?").await.is_ok());
    /// # }
    /// ```
    pub async fn try_send(&mut self, message: impl IntoMessage) -> Result<(), SendError> {
        let message = match message.into_message().map_err(SendError::Json)? {
            Message::Text(text) => WsMessage::text(text.as_str()),
            Message::Binary(bytes) => WsMessage::Binary(bytes),
        };
        if self.closed {
            return Err(SendError::Closed);
        }
        match tokio::time::timeout(self.timeout, self.ws.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(SendError::Closed),
            Err(_) => panic!(
                "send on {}: the app did not take the message within {:?} (is it reading?)",
                self.path, self.timeout
            ),
        }
    }
}
