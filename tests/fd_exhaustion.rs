//! Issue 13, quiet under fd exhaustion: when `accept` fails because the
//! process is out of file descriptors, the server logs one warning for the
//! episode and one line with the count when it recovers, not one line per
//! retry (20 a second), and serves again afterwards.
//!
//! A file limit is process-wide: lowering this test binary's would break
//! the tests running beside it. So the server runs in a child process: this
//! same test binary, started by `sh` after `ulimit -n 64`, running only
//! [`fd_limited_server`] (an ignored test that serves only when
//! `CHEESE_FD_CHILD` is set). No example or extra binary is needed, and the
//! child is exactly the app code under test.

#![cfg(unix)]

use cheese_api::prelude::*;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Set in the child's environment: makes [`fd_limited_server`] serve.
const CHILD: &str = "CHEESE_FD_CHILD";
/// The child's file limit, and the connections that exceed it.
const FILE_LIMIT: usize = 64;
const CONNECTIONS: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Echo;

#[websocket("/echo")]
impl Echo {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

/// The child: serves `/echo` on a free loopback port, prints the address on
/// stderr with its log (info and above), and stops when its stdin closes,
/// so it never outlives the test that started it.
#[tokio::test]
#[ignore = "the server of accept_failures_are_logged_once_per_episode, in a child process"]
async fn fd_limited_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let app = App::empty()
        .websocket::<Echo>()
        // Longer than the test holds its idle connections.
        .handshake_timeout(Duration::from_secs(30));
    let stop = app.shutdown_handle();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut tokio::io::sink()).await;
        stop.shutdown();
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    eprintln!("listening on {}", listener.local_addr().unwrap());
    app.serve(listener).await.unwrap();
}

/// The child's stderr, line by line, as it comes.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn with(&self, needle: &str) -> Vec<String> {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    async fn wait_for(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(line) = self.with(needle).pop() {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the child logged no {needle:?} within {TIMEOUT:?}:\n{}",
                self.0.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One message through `/echo`: the child serves.
async fn echo(addr: SocketAddr, text: &str) {
    let round_trip = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
            .await
            .unwrap();
        ws.send(WsMessage::text(text)).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), WsMessage::text(text));
    };
    tokio::time::timeout(TIMEOUT, round_trip)
        .await
        .expect("an echo in time");
}

#[tokio::test]
async fn accept_failures_are_logged_once_per_episode() {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {FILE_LIMIT} && exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().unwrap())
        .args(["fd_limited_server", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sh starts this test binary again");
    let lines = Lines::default();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            sink.0.lock().unwrap().push(line);
        }
    });
    let listening = lines.wait_for("listening on ").await;
    let addr: SocketAddr = listening.rsplit(' ').next().unwrap().parse().unwrap();
    echo(addr, "before").await;

    // More connections than the child has descriptors, held for 2 s: about
    // 40 failed retries, one warning.
    let mut held = Vec::new();
    for _ in 0..CONNECTIONS {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    lines.wait_for("accept failed").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(held);
    let recovered = lines.wait_for("accept recovered").await;
    echo(addr, "after").await;

    drop(child.stdin.take());
    let _ = tokio::time::timeout(TIMEOUT, child.wait()).await;
    let log = lines.0.lock().unwrap().join("\n");
    println!("the child's stderr:\n{log}");
    assert_eq!(lines.with("accept failed").len(), 1, "{log}");
    assert!(lines.with("accept failed")[0].contains(" WARN "), "{log}");
    assert_eq!(lines.with("accept recovered").len(), 1, "{log}");
    assert!(recovered.contains(" WARN "), "{recovered}");
    let failed: u64 = recovered
        .split_once("failed=")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {recovered:?}"));
    assert!(failed >= 10, "{recovered}");
    assert!(recovered.contains("lasted="), "{recovered}");
}
