//! Issue 13, typed refusals: each answer the framework gives a handshake it
//! refuses is its `Refusal`, byte for byte, as a client sees it (status,
//! body, headers), through the test client where it can send the request
//! and raw HTTP where it cannot (a router served by another server, a
//! request on a kept-alive connection during shutdown, `HEAD`); and every
//! refusal, the app's own too, is logged at debug with its status, kind,
//! path and client.

use cheese_api::axum::http::{HeaderMap, HeaderName, HeaderValue};
use cheese_api::prelude::*;
use cheese_api::testing::{Logs, Refused, TestServer};
use cheese_api::Refusal;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn connection(&mut self) {
        let _ = self.send("in").await;
    }
}

#[derive(Default)]
struct Item;

#[websocket("/item/<id:int>")]
impl Item {
    async fn connection(&mut self, id: u8) {
        let _ = self.send(id.to_string()).await;
    }
}

#[derive(Default)]
struct Picky;

#[websocket("/picky")]
impl Picky {
    async fn subprotocol(&mut self) -> Option<String> {
        Some("chat.v3".into())
    }
}

#[derive(Default)]
struct Panicky;

#[websocket("/panicky")]
impl Panicky {
    async fn handshake(&mut self) {
        panic!("the handshake hook fails on purpose");
    }
}

#[derive(Default)]
struct Slow;

#[websocket("/slow", open_timeout = 0.2)]
impl Slow {
    async fn handshake(&mut self) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Each kind's status and body, spelled out: what clients saw before
/// refusals were typed, so the types changed no answer.
#[test]
fn each_refusal_has_its_status_and_body() {
    let cases = [
        (
            Refusal::upgrade_required(),
            426,
            "426 Upgrade Required: this is a WebSocket route; connect with a WebSocket client\n",
        ),
        (
            Refusal::invalid_key(),
            400,
            "400 Bad Request: Sec-WebSocket-Key must be 16 bytes in base64\n",
        ),
        (Refusal::not_found(), 404, ""),
        (
            Refusal::origin_not_allowed(),
            403,
            "403 Forbidden: origin not allowed\n",
        ),
        (
            Refusal::too_many_connections(),
            503,
            "503 Service Unavailable: too many connections\n",
        ),
        (
            Refusal::shutting_down(),
            503,
            "503 Service Unavailable: shutting down\n",
        ),
        (
            Refusal::subprotocol_not_offered("x"),
            400,
            "400 Bad Request: subprotocol `x` was not offered by the client\n",
        ),
        (Refusal::hook_panicked(), 500, "500 Internal Server Error\n"),
        (Refusal::open_timeout(), 408, ""),
        (
            Refusal::no_hub(),
            500,
            "500 Internal Server Error: Hub extractor used outside a cheese-api app's router\n",
        ),
    ];
    for (refusal, status, body) in cases {
        assert_eq!(
            (refusal.status().as_u16(), refusal.reason()),
            (status, body),
            "{:?}",
            refusal.kind()
        );
    }
    let headers = |r: Refusal| {
        r.headers()
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        headers(Refusal::upgrade_required()),
        ["upgrade: websocket", "sec-websocket-version: 13"]
    );
    assert_eq!(headers(Refusal::open_timeout()), ["connection: close"]);
    assert!(headers(Refusal::origin_not_allowed()).is_empty());
}

#[tokio::test]
async fn a_request_that_is_not_a_websocket_handshake_is_told_to_upgrade() {
    let server = TestServer::start(App::empty().websocket::<Chat>()).await;
    for (name, value) in [("sec-websocket-version", "12"), ("upgrade", "h2c")] {
        let refused = server
            .request("/chat")
            .header(name, value)
            .connect_expect_refused()
            .await;
        assert_eq!(refused, Refusal::upgrade_required(), "{name}: {value}");
    }
    // A malformed key: not 16 bytes of base64.
    let refused = server
        .request("/chat")
        .header("sec-websocket-key", "c2hvcnQ=")
        .connect_expect_refused()
        .await;
    assert_eq!(refused, Refusal::invalid_key());
    assert_ne!(refused, Refusal::upgrade_required());
}

#[tokio::test]
async fn paths_no_route_takes_are_404() {
    let server = TestServer::start(App::empty().websocket::<Item>()).await;
    // No route at all; a segment that is not an `int`; an `int` that is no `u8`.
    for path in ["/nowhere", "/item/abc", "/item/300"] {
        assert_eq!(
            server.connect_expect_refused(path).await,
            Refusal::not_found(),
            "{path}"
        );
    }
    assert_eq!(server.connect("/item/255").await.recv_text().await, "255");
}

#[tokio::test]
async fn origins_and_connection_caps_are_refused_before_the_upgrade() {
    let app = App::empty()
        .websocket::<Chat>()
        .allowed_origins(["https://cheese.example"])
        .max_connections(1);
    let server = TestServer::start(app).await;
    let from = |origin: &str| server.request("/chat").header("origin", origin);
    assert_eq!(
        from("https://evil.example").connect_expect_refused().await,
        Refusal::origin_not_allowed()
    );
    let mut first = from("https://cheese.example").connect().await.unwrap();
    assert_eq!(first.recv_text().await, "in");
    assert_eq!(
        server.connect_expect_refused("/chat").await,
        Refusal::too_many_connections()
    );
}

#[tokio::test]
async fn the_hooks_before_the_upgrade_refuse_with_their_refusals() {
    let app = App::empty().websocket::<Picky>().websocket::<Panicky>();
    let server = TestServer::start(app).await;
    let refused = server
        .request("/picky")
        .subprotocols(["chat.v1"])
        .connect_expect_refused()
        .await;
    assert_eq!(refused, Refusal::subprotocol_not_offered("chat.v3"));
    assert_ne!(refused, Refusal::subprotocol_not_offered("chat.v1"));
    assert_eq!(
        server.connect_expect_refused("/panicky").await,
        Refusal::hook_panicked()
    );
}

/// A handshake request for `path` on `host`, as raw HTTP/1.1.
fn upgrade_request(method: &str, path: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// Sends `request` and reads one response: its body by `Content-Length`
/// (none for `HEAD`), or up to the end of the connection without one.
async fn exchange(stream: &mut TcpStream, request: &str) -> Refused {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = async {
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(stream.read_buf(&mut buf).await.unwrap() > 0, "no response");
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let mut headers = HeaderMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
        let length = headers
            .get("content-length")
            .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
        let length = if request.starts_with("HEAD") {
            Some(0)
        } else {
            length
        };
        loop {
            let body = buf.len() - head_end;
            if length.is_some_and(|l| body >= l) {
                break;
            }
            if stream.read_buf(&mut buf).await.unwrap() == 0 {
                break;
            }
        }
        Refused {
            status,
            headers,
            body: String::from_utf8(buf[head_end..].to_vec()).unwrap(),
        }
    };
    tokio::time::timeout(TIMEOUT, read)
        .await
        .expect("a response in time")
}

#[tokio::test]
async fn a_kept_alive_connection_is_told_to_upgrade_then_that_the_app_shuts_down() {
    let app = App::empty().websocket::<Chat>();
    let shutdown = app.shutdown_handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(app.serve(listener));

    let mut http = TcpStream::connect(addr).await.unwrap();
    let plain = exchange(&mut http, "GET /chat HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert_eq!(plain, Refusal::upgrade_required());

    // Served: the app is draining when the next request on this connection arrives.
    shutdown.shutdown();
    tokio::time::timeout(TIMEOUT, serving)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
    let late = exchange(&mut http, &upgrade_request("GET", "/chat")).await;
    assert_eq!(late, Refusal::shutting_down());
}

/// Serves `router` with axum's own server (not the app's), as a user who
/// merges `App::router` into their app does.
async fn serve_elsewhere(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

#[tokio::test]
async fn a_router_served_elsewhere_answers_408_404_405_and_500_without_a_hub() {
    use axum::routing::get;
    let router = App::empty().websocket::<Slow>().router();
    let addr = serve_elsewhere(router).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = tokio::time::Instant::now();
    let timed_out = exchange(&mut tcp, &upgrade_request("GET", "/slow")).await;
    assert_eq!(timed_out, Refusal::open_timeout());
    assert!(started.elapsed() < Duration::from_secs(3), "{started:?}");

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let missing = exchange(&mut tcp, &upgrade_request("GET", "/nowhere")).await;
    assert_eq!(missing, Refusal::not_found());
    // axum's own refusal of a method that cannot upgrade stays axum's.
    let head = exchange(&mut tcp, &upgrade_request("HEAD", "/slow")).await;
    assert_eq!(head.status, 405);

    // The Hub extractor has no hub outside an app's router.
    let plain = axum::Router::new().route("/rooms", get(|_: Hub| async { "a hub" }));
    let addr = serve_elsewhere(plain).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let no_hub = exchange(&mut tcp, "GET /rooms HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert_eq!(no_hub, Refusal::no_hub());
}

fn logs() -> Logs {
    Logs::capture()
}

/// The refusal lines logged for `path`.
fn refusals_of(path: &str) -> Vec<String> {
    let field = format!("path={path} ");
    logs().lines_with(&["refused a WebSocket handshake", &field])
}

#[derive(serde::Deserialize)]
struct Token {
    #[allow(dead_code)]
    token: String,
}

#[derive(Default)]
struct Vault;

#[websocket("/log/vault")]
impl Vault {
    async fn handshake(&mut self, _token: Query<Token>) -> Result<(), (StatusCode, &'static str)> {
        Err((StatusCode::UNAUTHORIZED, "who are you?"))
    }
}

#[derive(Default)]
struct Guarded;

#[websocket("/log/guarded")]
impl Guarded {}

#[tokio::test]
async fn every_refusal_is_logged_at_debug_with_its_status_kind_path_and_client() {
    logs();
    let app = App::empty()
        .websocket::<Vault>()
        .websocket::<Guarded>()
        .route_allowed_origins::<Guarded, _, _>(["https://cheese.example"]);
    let server = TestServer::start(app).await;
    let origin = server
        .request("/log/guarded")
        .header("origin", "https://evil.example")
        .connect_expect_refused()
        .await;
    assert_eq!(origin, Refusal::origin_not_allowed());
    // The app's own refusals: the handshake hook's, and an extractor's.
    let hook = server
        .request("/log/vault")
        .query("token", "x")
        .connect_expect_refused()
        .await;
    assert_eq!((hook.status, hook.body.as_str()), (401, "who are you?"));
    assert_eq!(
        server.connect_expect_refused("/log/vault").await.status,
        400
    );
    assert_eq!(
        server.connect_expect_refused("/log/nowhere").await.status,
        404
    );

    let line = |path: &str, status: &str| {
        let lines = refusals_of(path);
        lines
            .iter()
            .find(|l| l.contains(&format!("status={status} ")))
            .unwrap_or_else(|| panic!("no {status} refusal logged for {path}: {lines:#?}"))
            .clone()
    };
    let origin = line("/log/guarded", "403");
    assert!(origin.contains(" DEBUG "), "{origin}");
    assert!(origin.contains("kind=origin_not_allowed"), "{origin}");
    assert!(origin.contains("client=127.0.0.1:"), "{origin}");
    assert!(line("/log/vault", "401").contains("kind=handshake_hook"));
    assert!(line("/log/vault", "400").contains("kind=extractor"));
    // No route: axum's 404 for a path it does not know, logged without a kind.
    let nowhere = line("/log/nowhere", "404");
    assert!(!nowhere.contains("kind="), "{nowhere}");
    assert!(nowhere.contains("client=127.0.0.1:"), "{nowhere}");
    // Each refusal once.
    assert_eq!(refusals_of("/log/guarded").len(), 1);
}
