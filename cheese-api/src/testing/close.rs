//! Closing a [`TestClient`]: the app's close expected, or the client's own,
//! each completed as a browser completes it (answer, then the TCP end).

use super::receive::Event;
use super::TestClient;
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
                assert!(
                    got == code,
                    "expect_close on {}: expected close {code}, got close {got} {reason:?}",
                    self.path
                );
                self.finish_close("expect_close").await;
                reason
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
    pub async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        match tokio::time::timeout(self.timeout, self.ws.close(Some(frame))).await {
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
