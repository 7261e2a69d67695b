//! Issue 3, lifecycle: `open_timeout` and the app-wide handshake timeout,
//! `disconnection` exactly once however a connection ends, and graceful
//! shutdown (1001 to everyone, 503 to late upgrades, every `disconnection`).
//!
//! The clients that hold a handshake open, dribble a request or never read
//! are raw TCP ([`upgrade_request`] written by hand); the well-behaved ones
//! are the shipped `cheese_api::testing` client.

mod common;
use common::*;

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until EOF; returns what arrived and how long it took.
async fn read_to_eof(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (all, start.elapsed()),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "connection still open after {limit:?}; got {:?}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
}

#[derive(Default)]
struct SlowGate;

#[websocket("/slow", open_timeout = 0.3)]
impl SlowGate {
    async fn handshake(&mut self) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

#[derive(Default)]
struct SlowProto;

#[websocket("/slowproto", open_timeout = 0.3)]
impl SlowProto {
    async fn subprotocol(&mut self) -> Option<String> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        None
    }
}

#[derive(Default)]
struct Quick;

#[websocket("/quick")]
impl Quick {
    async fn connection(&mut self) {
        let _ = self.send("hi").await;
    }
}

#[tokio::test]
async fn open_timeout_drops_a_handshake_held_by_a_slow_hook() {
    let app = App::empty()
        .websocket::<SlowGate>()
        .websocket::<SlowProto>()
        .websocket::<Quick>();
    let server = TestServer::start(app).await;
    for (path, extra) in [
        ("/slow", ""),
        ("/slowproto", "Sec-WebSocket-Protocol: a\r\n"),
    ] {
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(upgrade_request(path, extra).as_bytes())
            .await
            .unwrap();
        // Meanwhile other clients are served normally.
        let mut other = server.connect("/quick").await;
        assert_eq!(other.recv_text().await, "hi");
        let (got, took) = read_to_eof(&mut s, Duration::from_secs(3)).await;
        assert!(
            got.is_empty(),
            "{path}: expected no response, got {:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            took < Duration::from_millis(1500),
            "{path}: dropped after {took:?}"
        );
    }
}

#[tokio::test]
async fn handshake_timeout_drops_a_slowloris_before_any_route() {
    let app = App::empty()
        .websocket::<Quick>()
        .handshake_timeout(Duration::from_millis(300));
    let server = TestServer::start(app).await;
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(b"GET /qui").await.unwrap(); // half a request line, then silence
    let mut other = server.connect("/quick").await;
    assert_eq!(other.recv_text().await, "hi");
    let (got, took) = read_to_eof(&mut s, Duration::from_secs(3)).await;
    assert!(
        !String::from_utf8_lossy(&got).contains("101"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(took < Duration::from_millis(1500), "dropped after {took:?}");
}

/// (connection ran, disconnection ran) per test-chosen tag.
static SEEN: Mutex<Option<HashMap<String, (u32, u32)>>> = Mutex::new(None);

fn note(tag: &str, connected: u32, disconnected: u32) {
    let mut seen = SEEN.lock().unwrap();
    let entry = seen
        .get_or_insert_with(HashMap::new)
        .entry(tag.to_owned())
        .or_default();
    entry.0 += connected;
    entry.1 += disconnected;
}

fn counts(tag: &str) -> (u32, u32) {
    SEEN.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(tag).copied())
        .unwrap_or_default()
}

#[derive(Default)]
struct Tracked {
    tag: String,
}

#[websocket(
    "/tracked/<tag:str>",
    ping_interval = 0.1,
    ping_timeout = 0.2,
    close_timeout = 0.3,
    max_size = 100
)]
impl Tracked {
    async fn connection(&mut self, tag: String) {
        note(&tag, 1, 0);
        self.tag = tag;
        let _ = self.send("ready").await;
    }
    async fn message(&mut self, message: String) -> Result<(), String> {
        match message.as_str() {
            "close" => {
                let _ = self.close(1000, "bye").await;
                Ok(())
            }
            "error" => Err("failed on purpose".into()),
            "panic" => panic!("panicked on purpose"),
            _ => Ok(()),
        }
    }
    async fn disconnection(&mut self) {
        note(&self.tag, 0, 1);
    }
}

async fn wait_for(tag: &str, want: (u32, u32)) {
    let deadline = Instant::now() + TestClient::DEFAULT_TIMEOUT;
    while counts(tag) != want {
        assert!(
            Instant::now() < deadline,
            "{tag}: (connection, disconnection) = {:?}, want {want:?}; all: {:?}",
            counts(tag),
            SEEN.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // And it stays exactly once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(counts(tag), want, "{tag}");
}

#[tokio::test]
async fn disconnection_runs_exactly_once_however_the_connection_ends() {
    let server = TestServer::start(App::empty().websocket::<Tracked>()).await;

    // Server closes (hook calls close).
    let mut client = server.connect("/tracked/server-close").await;
    assert_eq!(client.recv_text().await, "ready");
    client.send("close").await;
    client.expect_close(1000).await;
    // Client closes.
    let mut client = server.connect("/tracked/client-close").await;
    assert_eq!(client.recv_text().await, "ready");
    client.close_without_code().await;
    // TCP reset: the client vanishes without a close frame.
    let client = server.connect("/tracked/tcp-reset").await;
    drop(client);
    // Ping timeout: a raw client that completes the handshake then never reads or answers.
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(upgrade_request("/tracked/ping-timeout", "").as_bytes())
        .await
        .unwrap();
    // Size violation.
    let mut client = server.connect("/tracked/too-big").await;
    assert_eq!(client.recv_text().await, "ready");
    client.send("x".repeat(101)).await;
    client.expect_close(1009).await;
    // Hook error and hook panic.
    for (tag, word) in [("hook-error", "error"), ("hook-panic", "panic")] {
        let mut client = server.connect(&format!("/tracked/{tag}")).await;
        assert_eq!(client.recv_text().await, "ready");
        client.send(word).await;
        client.expect_close(1011).await;
    }
    for tag in [
        "server-close",
        "client-close",
        "tcp-reset",
        "ping-timeout",
        "too-big",
        "hook-error",
        "hook-panic",
    ] {
        wait_for(tag, (1, 1)).await;
    }
    drop(raw);

    // Server shutdown: a batch of open connections all get 1001.
    let mut open = Vec::new();
    for i in 0..5 {
        let mut client = server.connect(&format!("/tracked/shutdown-{i}")).await;
        assert_eq!(client.recv_text().await, "ready");
        open.push(client);
    }
    // `shutdown` panics unless serve returned Ok.
    let stopping = tokio::spawn(server.shutdown());
    for client in open {
        client.expect_close(1001).await;
    }
    tokio::time::timeout(TestClient::DEFAULT_TIMEOUT, stopping)
        .await
        .expect("serve returned")
        .unwrap();
    for i in 0..5 {
        assert_eq!(counts(&format!("shutdown-{i}")), (1, 1));
    }
}

#[tokio::test]
async fn graceful_shutdown_answers_late_upgrades_with_503_and_waits_for_slow_peers() {
    use axum::routing::get;
    let app = App::empty()
        .websocket::<Tracked>()
        .merge(axum::Router::new().route("/health", get(|| async { "ok" })));
    let server = TestServer::start(app).await;
    let addr = server.addr();

    // A keep-alive HTTP connection that will ask for an upgrade during the drain.
    let mut http = TcpStream::connect(addr).await.unwrap();
    http.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = http.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    // A peer that will not answer the server's close: holds the drain for close_timeout.
    let mut stubborn = TcpStream::connect(addr).await.unwrap();
    stubborn
        .write_all(upgrade_request("/tracked/stubborn", "").as_bytes())
        .await
        .unwrap();
    let n = stubborn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"));
    tokio::time::sleep(Duration::from_millis(50)).await;

    let started = Instant::now();
    // `shutdown` panics unless serve returned Ok; its first poll (at the
    // sleep below) starts the drain.
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(50)).await;
    http.write_all(upgrade_request("/tracked/late", "").as_bytes())
        .await
        .unwrap();
    let n = tokio::time::timeout(TestClient::DEFAULT_TIMEOUT, http.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert_eq!(counts("late"), (0, 0));

    tokio::time::timeout(TestClient::DEFAULT_TIMEOUT, stopping)
        .await
        .expect("serve returned")
        .unwrap();
    let took = started.elapsed();
    // The stubborn peer was waited for up to close_timeout (0.3 s), not forever.
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "drain took {took:?}"
    );
    assert_eq!(counts("stubborn"), (1, 1));
}
