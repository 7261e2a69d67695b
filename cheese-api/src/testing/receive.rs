//! Receiving on a [`TestClient`]: the next message, typed, or silence;
//! every wait bounded by the client's timeout.

use super::TestClient;
use crate::Message;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What the connection did next, pings and pongs skipped.
pub(super) enum Event {
    Data(Message),
    Close(Option<(u16, String)>),
    Ended(String),
    TimedOut,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Data(m) => write!(f, "the message {m:?}"),
            Event::Close(Some((code, reason))) => write!(f, "close {code} {reason:?}"),
            Event::Close(None) => f.write_str("a close frame with no code (1005)"),
            Event::Ended(why) => f.write_str(why),
            Event::TimedOut => f.write_str("nothing"),
        }
    }
}

impl TestClient {
    /// The next data message, text or binary.
    ///
    /// # Panics
    /// When nothing arrives within the timeout, or the app closes or the
    /// connection ends instead (the message says which, with the close code
    /// and reason).
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
    /// client.send("emmental").await;
    /// let message = client.recv().await;
    /// assert!(message.is_text());
    /// assert_eq!(message, "emmental");
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Message {
        match self.next_event(self.timeout).await {
            Event::Data(message) => message,
            Event::TimedOut => panic!(
                "recv on {}: no message within {:?}",
                self.path, self.timeout
            ),
            other => panic!("recv on {}: expected a message, got {other}", self.path),
        }
    }

    /// The next message, which must be text.
    ///
    /// # Panics
    /// As [`recv`](Self::recv), and when the message is binary.
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
    /// client.send("parmesan").await;
    /// let text: String = client.recv_text().await;
    /// assert_eq!(text, "parmesan");
    /// # }
    /// ```
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!(
                "recv_text on {}: expected a text message, got {other:?}",
                self.path
            ),
        }
    }

    /// The next message (text or binary), parsed as JSON into `T`.
    ///
    /// # Panics
    /// As [`recv`](Self::recv), and when the message is not JSON that fits
    /// `T` (the message shows serde's error and the payload).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {
    /// #     async fn message(&mut self, message: Message) { let _ = self.send(message).await; }
    /// # }
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Cheese { name: String, age_months: u32 }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Echo>()).await;
    /// let mut client = server.connect("/echo").await;
    /// let comte = Cheese { name: "comté".into(), age_months: 18 };
    /// client.send(Json(&comte)).await;
    /// assert_eq!(client.recv_json::<Cheese>().await, comte);
    /// # }
    /// ```
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> T {
        let message = self.recv().await;
        serde_json::from_slice(message.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "recv_json on {}: expected JSON for {}, got {message:?}: {e}",
                self.path,
                std::any::type_name::<T>()
            )
        })
    }

    /// Asserts that no message and no close arrives for `duration`.
    ///
    /// # Panics
    /// When something arrives, or the connection ends, within `duration`.
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
    /// let mut client = server.connect("/echo").await;
    /// client.expect_nothing(Duration::from_millis(100)).await; // Echo only answers
    /// # }
    /// ```
    pub async fn expect_nothing(&mut self, duration: Duration) {
        match self.next_event(duration).await {
            Event::TimedOut => {}
            other => panic!(
                "expect_nothing on {}: expected nothing for {duration:?}, got {other}",
                self.path
            ),
        }
    }

    /// The next data message if one arrives within `wait`, `None` if none
    /// does: for a message that may or may not come (a broadcast across
    /// nodes, a retry), where [`recv`](Self::recv) would panic.
    ///
    /// # Panics
    /// When the app closes or the connection ends within `wait`.
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
    /// let mut client = server.connect("/echo").await;
    /// assert_eq!(client.recv_within(Duration::from_millis(100)).await, None);
    /// client.send("mimolette").await;
    /// let echo = client.recv_within(Duration::from_secs(5)).await;
    /// assert_eq!(echo, Some(Message::text("mimolette")));
    /// # }
    /// ```
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Message> {
        match self.next_event(wait).await {
            Event::Data(message) => Some(message),
            Event::TimedOut => None,
            other => panic!(
                "recv_within on {}: expected a message or nothing, got {other}",
                self.path
            ),
        }
    }

    /// How many pings from the app this client has read so far. Each was
    /// answered with a pong, as a browser does, and skipped by the
    /// receiving methods: to test keepalive, read (or
    /// [`expect_nothing`](Self::expect_nothing)) for a while, then count.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # use std::time::Duration;
    /// #[derive(Default)]
    /// struct Lively;
    /// #[websocket("/lively", ping_interval = 0.1)]
    /// impl Lively {}
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Lively>()).await;
    /// let mut client = server.connect("/lively").await;
    /// client.expect_nothing(Duration::from_millis(350)).await; // pings are not messages
    /// assert!(client.pings() >= 2, "{} pings", client.pings());
    /// # }
    /// ```
    pub fn pings(&self) -> usize {
        self.pings
    }

    /// What came next within `wait`, pings counted and skipped.
    pub(super) async fn next_event(&mut self, wait: Duration) -> Event {
        if self.closed {
            return Event::Ended("the connection is already closed".into());
        }
        let deadline = Instant::now() + wait;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Event::TimedOut,
                Ok(next) => next,
            };
            return match next {
                Some(Ok(WsMessage::Text(text))) => Event::Data(Message::text(text.as_str())),
                Some(Ok(WsMessage::Binary(bytes))) => Event::Data(Message::binary(bytes)),
                Some(Ok(WsMessage::Ping(_))) => {
                    self.pings += 1;
                    continue;
                }
                Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
                Some(Ok(WsMessage::Close(frame))) => {
                    Event::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
                }
                Some(Err(e)) => {
                    self.closed = true;
                    Event::Ended(format!("the connection failed: {e}"))
                }
                None => {
                    self.closed = true;
                    Event::Ended("the connection ended without a close frame".into())
                }
            };
        }
    }
}
