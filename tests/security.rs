//! Issue 6: what the app refuses before the upgrade (origins, connection
//! caps, oversized headers) and where the client's address comes from.

mod common;
use common::*;

use cheese_api::prelude::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Who;

#[websocket("/who")]
impl Who {
    async fn connection(&mut self, request: &Request) {
        let _ = self
            .send(format!(
                "{:?} {}",
                request.client().map(|c| c.ip()),
                request.scheme()
            ))
            .await;
    }
}

#[derive(Default)]
struct Open;

#[websocket("/open")]
impl Open {
    async fn connection(&mut self) {
        let _ = self.send("in").await;
    }
}

#[tokio::test]
async fn origin_allow_list_refuses_cross_site_upgrades_with_403() {
    let app = App::empty()
        .websocket::<Who>()
        .allowed_origins(["https://cheese.example", "https://*.cheese.example"])
        .route_allowed_origins::<Open, _, _>(["http://127.0.0.1:3000"]);
    let addr = start(app).await;
    let origin = |o: &'static str| [("origin", o)];
    // App-wide list: exact and wildcard subdomains, any case, trailing slash.
    for ok in [
        "https://cheese.example",
        "https://chat.cheese.example",
        "HTTPS://Chat.Cheese.Example/",
    ] {
        let mut ws = connect_with(addr, "/who", &origin(ok))
            .await
            .unwrap_or_else(|s| panic!("{ok}: {s}"));
        recv_text(&mut ws).await;
    }
    for bad in [
        "https://evil.example",
        "https://evilcheese.example",
        "http://cheese.example",
        "null",
    ] {
        assert_eq!(
            connect_with(addr, "/who", &origin(bad)).await.err(),
            Some(403),
            "{bad}"
        );
    }
    // No Origin header: not a browser page, allowed.
    let mut ws = connect(addr, "/who").await;
    recv_text(&mut ws).await;
    // The route's own list replaces the app's.
    assert_eq!(
        connect_with(addr, "/open", &origin("https://cheese.example"))
            .await
            .err(),
        Some(403)
    );
    let mut ws = connect_with(addr, "/open", &origin("http://127.0.0.1:3000"))
        .await
        .unwrap();
    assert_eq!(recv_text(&mut ws).await, "in");
}

#[tokio::test]
async fn connection_caps_answer_503_over_the_cap_and_free_up_on_disconnect() {
    let app = App::empty()
        .websocket::<Who>()
        .websocket::<Open>()
        .max_connections(3)
        .route_max_connections::<Open>(1);
    let addr = start(app).await;
    let mut first_open = connect(addr, "/open").await;
    assert_eq!(recv_text(&mut first_open).await, "in");
    // Route cap: 1.
    assert_eq!(connect_with(addr, "/open", &[]).await.err(), Some(503));
    // App cap: 3 in all.
    let mut a = connect(addr, "/who").await;
    recv_text(&mut a).await;
    let mut b = connect(addr, "/who").await;
    recv_text(&mut b).await;
    assert_eq!(connect_with(addr, "/who", &[]).await.err(), Some(503));
    // The open connections were not disturbed.
    expect_silence(&mut a, Duration::from_millis(50)).await;
    // A disconnect frees a slot (once the server has seen it).
    drop(b);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match connect_with(addr, "/who", &[]).await {
            Ok(mut ws) => {
                recv_text(&mut ws).await;
                break;
            }
            Err(503) => {
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
}

async fn raw_status(addr: std::net::SocketAddr, request: String) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(TIMEOUT, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{head}"))
}

fn upgrade_with(extra: &str) -> String {
    format!(
        "GET /open HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn request_headers_are_capped_before_the_upgrade() {
    let app = App::empty()
        .websocket::<Open>()
        .max_headers(20)
        .max_header_bytes(8192);
    let addr = start(app).await;
    assert_eq!(raw_status(addr, upgrade_with("")).await, 101);
    let many: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw_status(addr, upgrade_with(&many)).await, 431);
    let big = format!("X-Big: {}\r\n", "a".repeat(10_000));
    assert_eq!(raw_status(addr, upgrade_with(&big)).await, 431);
}

#[tokio::test]
async fn proxy_headers_count_only_when_trusted() {
    let headers = [
        ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
        ("x-forwarded-proto", "https"),
    ];
    let plain = start(App::empty().websocket::<Who>()).await;
    let mut ws = connect_with(plain, "/who", &headers).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "Some(127.0.0.1) ws");
    let trusting = start(App::empty().websocket::<Who>().trust_proxy_headers(true)).await;
    let mut ws = connect_with(trusting, "/who", &headers).await.unwrap();
    assert_eq!(recv_text(&mut ws).await, "Some(203.0.113.7) wss");
    let mut ws = connect_with(trusting, "/who", &[("x-real-ip", "198.51.100.2")])
        .await
        .unwrap();
    assert_eq!(recv_text(&mut ws).await, "Some(198.51.100.2) ws");
}
