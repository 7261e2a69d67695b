//! Issue 3, graceful shutdown on a real SIGTERM: open connections get 1001,
//! `disconnection` runs, and `serve` returns Ok (the binary would exit 0).
//! One test in its own binary, since the signal goes to the whole process.
#![cfg(unix)]

mod common;
use common::*;

use cheese_api::prelude::*;
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(App::empty().websocket::<Held>().serve(listener));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(addr, "/held").await;
        assert_eq!(recv_text(&mut ws).await, "ready");
        clients.push(ws);
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
    for ws in &mut clients {
        expect_close(ws, 1001).await;
    }
    let result = tokio::time::timeout(TIMEOUT, server)
        .await
        .expect("serve returned")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(GONE.load(Ordering::SeqCst), 3);
}
