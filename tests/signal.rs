//! Issue 3, graceful shutdown on a real SIGTERM: open connections get 1001,
//! `disconnection` runs, and `serve` returns Ok (the binary would exit 0).
//! One test in its own binary, since the signal goes to the whole process.
#![cfg(unix)]

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use std::sync::atomic::{AtomicUsize, Ordering};

static GONE: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct Held;

#[websocket("/held")]
impl Held {
    async fn connection(&mut self) {
        let _ = self.send("ready").await;
    }
    async fn disconnection(&mut self) {
        GONE.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn sigterm_closes_every_connection_with_1001_and_serve_returns_ok() {
    // TestServer serves with App::serve, which listens for the signals.
    let server = TestServer::start(App::empty().websocket::<Held>()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = server.connect("/held").await;
        assert_eq!(client.recv_text().await, "ready");
        clients.push(client);
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
    for client in clients {
        assert_eq!(client.expect_close(1001).await, "server shutting down");
    }
    // The signal already ended serve's accept loop (the 1001s say so), so
    // `shutdown` only waits for serve to return, and panics unless it
    // returned Ok.
    tokio::time::timeout(TestClient::DEFAULT_TIMEOUT, server.shutdown())
        .await
        .expect("serve returned");
    assert_eq!(GONE.load(Ordering::SeqCst), 3);
}
