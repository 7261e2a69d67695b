//! Issue 7, logs and visibility: one span per connection, connect and
//! disconnect lines with client, path, close code and duration, hook errors
//! inside the span, and counters a user can read.

use cheese_api::prelude::*;
use cheese_api::testing::{Logs, TestClient, TestServer};
use std::time::Duration;

fn logs() -> Logs {
    Logs::capture()
}

fn lines_with(needle: &str) -> Vec<String> {
    logs().lines_with(&[needle])
}

#[derive(Default)]
struct Logged;

#[websocket("/logged/<tag:str>")]
impl Logged {
    async fn message(&mut self, message: String, tag: String) -> Result<(), String> {
        if message == "fail" {
            return Err(format!("failure of {tag}"));
        }
        let _ = self.send(message).await;
        Ok(())
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TestClient::DEFAULT_TIMEOUT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connections_are_logged_in_their_own_span() {
    logs();
    let server = TestServer::start(App::empty().websocket::<Logged>()).await;
    let mut client = server.connect("/logged/span-test").await;
    client.send("fail").await;
    client.expect_close(1011).await;
    eventually("disconnect line", || {
        !lines_with("disconnected")
            .iter()
            .all(|l| !l.contains("span-test"))
    })
    .await;
    let connected = lines_with("connected")
        .into_iter()
        .find(|l| l.contains("span-test") && !l.contains("disconnected"));
    let connected = connected.expect("a connect line");
    assert!(connected.contains("client=127.0.0.1:"), "{connected}");
    assert!(connected.contains("path=/logged/span-test"), "{connected}");
    assert!(connected.contains("id="), "{connected}");
    let disconnected = lines_with("disconnected")
        .into_iter()
        .find(|l| l.contains("span-test"))
        .unwrap();
    assert!(disconnected.contains("code=1011"), "{disconnected}");
    assert!(disconnected.contains("duration="), "{disconnected}");
    // The hook's error is logged inside the connection's span.
    let failed = lines_with("hook failed")
        .into_iter()
        .find(|l| l.contains("span-test"))
        .expect("hook error line");
    assert!(failed.contains("failure of span-test"), "{failed}");
    assert!(failed.contains("ws{id="), "{failed}");
}

#[tokio::test]
async fn stats_count_connections_messages_bytes_and_closes() {
    let app = App::empty().websocket::<Logged>();
    let hub = app.hub();
    assert_eq!(app.stats().total_connections, 0);
    let server = TestServer::start(app).await;
    let mut a = server.connect("/logged/stats").await;
    let mut b = server.connect("/logged/stats").await;
    for _ in 0..3 {
        a.send("12345").await;
        assert_eq!(a.recv_text().await, "12345");
    }
    eventually("two open", || hub.stats().open_connections == 2).await;
    a.close_without_code().await;
    b.send("fail").await;
    b.expect_close(1011).await;
    eventually("both closed", || hub.stats().open_connections == 0).await;
    let stats = hub.stats();
    assert_eq!(stats.total_connections, 2);
    assert_eq!((stats.messages_in, stats.bytes_in), (4, 19));
    assert_eq!((stats.messages_out, stats.bytes_out), (3, 15));
    assert_eq!(stats.closes_by_code.get(&1005), Some(&1), "{stats:?}"); // close frame without a code
    assert_eq!(stats.closes_by_code.get(&1011), Some(&1), "{stats:?}");
    assert_eq!(stats.slow_closes, 0);
}
