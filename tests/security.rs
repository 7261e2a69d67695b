//! Issue 6: what the app refuses before the upgrade (origins, connection
//! caps, oversized headers) and where the client's address comes from.

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use std::time::Duration;

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
    let server = TestServer::start(app).await;
    let from = |path: &str, origin: &str| server.request(path).header("origin", origin);
    // App-wide list: exact and wildcard subdomains, any case, trailing slash.
    for ok in [
        "https://cheese.example",
        "https://chat.cheese.example",
        "HTTPS://Chat.Cheese.Example/",
    ] {
        let mut client = from("/who", ok)
            .connect()
            .await
            .unwrap_or_else(|refused| panic!("{ok}: {refused}"));
        client.recv_text().await;
    }
    for bad in [
        "https://evil.example",
        "https://evilcheese.example",
        "http://cheese.example",
        "null",
    ] {
        let refused = from("/who", bad).connect_expect_refused().await;
        assert_eq!(refused.status, 403, "{bad}");
    }
    // No Origin header: not a browser page, allowed.
    server.connect("/who").await.recv_text().await;
    // The route's own list replaces the app's.
    let refused = from("/open", "https://cheese.example")
        .connect_expect_refused()
        .await;
    assert_eq!(refused.status, 403);
    let mut client = from("/open", "http://127.0.0.1:3000")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.recv_text().await, "in");
}

#[tokio::test]
async fn connection_caps_answer_503_over_the_cap_and_free_up_on_disconnect() {
    let app = App::empty()
        .websocket::<Who>()
        .websocket::<Open>()
        .max_connections(3)
        .route_max_connections::<Open>(1);
    let server = TestServer::start(app).await;
    let mut first_open = server.connect("/open").await;
    assert_eq!(first_open.recv_text().await, "in");
    // Route cap: 1.
    assert_eq!(server.connect_expect_refused("/open").await.status, 503);
    // App cap: 3 in all.
    let mut a = server.connect("/who").await;
    a.recv_text().await;
    let mut b = server.connect("/who").await;
    b.recv_text().await;
    assert_eq!(server.connect_expect_refused("/who").await.status, 503);
    // The open connections were not disturbed.
    a.expect_nothing(Duration::from_millis(50)).await;
    // A disconnect frees a slot (once the server has seen it).
    drop(b);
    let deadline = tokio::time::Instant::now() + TestClient::DEFAULT_TIMEOUT;
    loop {
        match server.request("/who").connect().await {
            Ok(mut client) => {
                client.recv_text().await;
                break;
            }
            Err(refused) if refused.status == 503 => {
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
}

#[tokio::test]
async fn request_headers_are_capped_before_the_upgrade() {
    let app = App::empty()
        .websocket::<Open>()
        .max_headers(20)
        .max_header_bytes(8192);
    let server = TestServer::start(app).await;
    // The handshake's own 5 headers (Host, Connection, Upgrade, the version
    // and the key) fit.
    server.connect("/open").await;
    let many = (0..30).fold(server.request("/open"), |request, i| {
        request.header(format!("X-H{i}"), "v")
    });
    assert_eq!(many.connect_expect_refused().await.status, 431);
    let big = server.request("/open").header("X-Big", "a".repeat(10_000));
    assert_eq!(big.connect_expect_refused().await.status, 431);
}

#[tokio::test]
async fn proxy_headers_count_only_when_trusted() {
    let headers = [
        ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
        ("x-forwarded-proto", "https"),
    ];
    let forwarded = |server: &TestServer| {
        headers
            .iter()
            .fold(server.request("/who"), |request, (name, value)| {
                request.header(name, value)
            })
    };
    let plain = TestServer::start(App::empty().websocket::<Who>()).await;
    let mut client = forwarded(&plain).connect().await.unwrap();
    assert_eq!(client.recv_text().await, "Some(127.0.0.1) ws");
    let trusting =
        TestServer::start(App::empty().websocket::<Who>().trust_proxy_headers(true)).await;
    let mut client = forwarded(&trusting).connect().await.unwrap();
    assert_eq!(client.recv_text().await, "Some(203.0.113.7) wss");
    let mut client = trusting
        .request("/who")
        .header("x-real-ip", "198.51.100.2")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.recv_text().await, "Some(198.51.100.2) ws");
}
