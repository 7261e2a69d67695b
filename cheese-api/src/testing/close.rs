//! Closing a [`TestClient`]: the app's close expected, or the client's own,
//! each completed as a browser completes it (answer, then the TCP end).

use super::receive::Event;
use super::TestClient;
use crate::Message;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

impl TestClient {
    /// Expects the app to close the connection with `code`; returns the
    /// close reason. Answers the close, as a browser does, and checks that
    /// the app then ends the TCP connection.
    ///
    /// # Panics
    /// When a data message arrives first, the code differs, the close frame
    /// has no code, nothing arrives within the timeout, or the app does not
    /// end the TCP connection within the timeout after the close.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(Default)]
    /// struct Strict;
    /// #[websocket("/strict")]
    /// impl Strict {
    ///     async fn message(&mut self, message: String) {
    ///         let _ = self.close(4000, &format!("no {message} here")).await;
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Strict>()).await;
    /// let mut client = server.connect("/strict").await;
    /// client.send("cheddar").await;
    /// assert_eq!(client.expect_close(4000).await, "no cheddar here");
    /// # }
    /// ```
    pub async fn expect_close(mut self, code: u16) -> String {
        match self.next_event(self.timeout).await {
            Event::Close(Some((got, reason))) => {
                self.closed_with("expect_close", code, got, reason).await
            }
            Event::TimedOut => panic!(
                "expect_close on {}: expected close {code}, got nothing within {:?}",
                self.path, self.timeout
            ),
            other => panic!(
                "expect_close on {}: expected close {code}, got {other}",
                self.path
            ),
        }
    }

    /// Receives every message until the app closes the connection with
    /// `code`; returns the messages and the close reason. Completes the
    /// close as [`expect_close`](Self::expect_close) does: for an app that
    /// sends a batch and then closes, or closes a receiver that fell behind
    /// after the messages that fit.
    ///
    /// # Panics
    /// When the code differs, the close frame has no code, no message or
    /// close arrives within the timeout (each wait), the connection ends
    /// without a close, or the app does not end the TCP connection after it.
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// #[derive(Default)]
    /// struct Countdown;
    /// #[websocket("/countdown")]
    /// impl Countdown {
    ///     async fn connection(&mut self) {
    ///         for n in (1..=3).rev() {
    ///             let _ = self.send(n.to_string()).await;
    ///         }
    ///         let _ = self.close(4000, "liftoff").await;
    ///     }
    /// }
    /// # #[tokio::main] async fn main() {
    ///
    /// let server = TestServer::start(App::empty().websocket::<Countdown>()).await;
    /// let client = server.connect("/countdown").await;
    /// let (messages, reason) = client.recv_until_close(4000).await;
    /// assert_eq!(messages, ["3", "2", "1"]);
    /// assert_eq!(reason, "liftoff");
    /// # }
    /// ```
    pub async fn recv_until_close(mut self, code: u16) -> (Vec<Message>, String) {
        let mut messages = Vec::new();
        loop {
            match self.next_event(self.timeout).await {
                Event::Data(message) => messages.push(message),
                Event::Close(Some((got, reason))) => {
                    let reason = self
                        .closed_with("recv_until_close", code, got, reason)
                        .await;
                    return (messages, reason);
                }
                Event::TimedOut => panic!(
                    "recv_until_close on {}: expected close {code}, got nothing within {:?} \
                     after {} messages",
                    self.path,
                    self.timeout,
                    messages.len()
                ),
                other => panic!(
                    "recv_until_close on {}: expected close {code}, got {other} after {} messages",
                    self.path,
                    messages.len()
                ),
            }
        }
    }

    /// The app's close frame with code `got` arrived (and tungstenite
    /// answered it): checks it is `expected`, waits for the TCP end,
    /// returns the reason.
    async fn closed_with(&mut self, what: &str, expected: u16, got: u16, reason: String) -> String {
        assert!(
            got == expected,
            "{what} on {}: expected close {expected}, got close {got} {reason:?}",
            self.path
        );
        self.finish_close(what).await;
        reason
    }

    /// Closes the connection with `code` and `reason` and waits for the
    /// app's answer (messages still in flight are dropped) and the end of
    /// the TCP connection.
    ///
    /// # Panics
    /// When the app does not answer the close, or does not end the TCP
    /// connection, within the timeout.
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
    /// let client = server.connect("/echo").await;
    /// client.close(1000, "bye").await;
    /// # }
    /// ```
    pub async fn close(self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        self.close_with(Some(frame)).await;
    }

    /// Closes the connection with a close frame that has no code, as a
    /// browser's `socket.close()` without arguments does (the app counts
    /// it as 1005), and waits as [`close`](Self::close) does.
    ///
    /// # Panics
    /// As [`close`](Self::close).
    ///
    /// ```
    /// # use cheese_api::prelude::*;
    /// # use cheese_api::testing::TestServer;
    /// # #[derive(Default)] struct Echo;
    /// # #[websocket("/echo")] impl Echo {}
    /// # #[tokio::main] async fn main() {
    /// let app = App::empty().websocket::<Echo>();
    /// let hub = app.hub();
    /// let server = TestServer::start(app).await;
    /// server.connect("/echo").await.close_without_code().await;
    /// server.shutdown().await; // waits for the app's side of the close
    /// assert_eq!(hub.stats().closes_by_code.get(&1005), Some(&1));
    /// # }
    /// ```
    pub async fn close_without_code(self) {
        self.close_with(None).await;
    }

    /// Sends `frame` and waits for the app's answer (skipping the messages
    /// still in flight) and the end of the TCP connection.
    async fn close_with(mut self, frame: Option<CloseFrame>) {
        match tokio::time::timeout(self.timeout, self.ws.close(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("close on {}: sending the close failed: {e}", self.path),
            Err(_) => panic!(
                "close on {}: the close was not sent within {:?}",
                self.path, self.timeout
            ),
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Event::Data(_) => continue,
                Event::Close(_) => break,
                Event::TimedOut => panic!(
                    "close on {}: the app did not answer the close within {:?}",
                    self.path, self.timeout
                ),
                Event::Ended(why) => panic!(
                    "close on {}: the app did not answer the close: {why}",
                    self.path
                ),
            }
        }
        self.finish_close("close").await;
    }

    /// After a close frame was received (and answered by tungstenite), waits
    /// for the app to end the TCP connection.
    pub(super) async fn finish_close(&mut self, what: &str) {
        self.closed = true;
        let end = tokio::time::timeout(self.timeout, async {
            loop {
                match self.ws.next().await {
                    None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await;
        assert!(
            end.is_ok(),
            "{what} on {}: the app did not end the TCP connection within {:?} after the close",
            self.path,
            self.timeout
        );
    }
}
