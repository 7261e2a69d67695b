//! DESIGN §4: `cheese_api::testing`, the test client, tested the way a user
//! would test an app with it: every method against small apps (an echo that
//! greets, a handshake hook that refuses with 401, a subprotocol hook, a JSON
//! route, plain HTTP routes), including the panics that fail a test instead
//! of hanging it.
//!
//! Over 500 lines on purpose: one promise (the shipped test client), one
//! test per public method and one per panic message, against one shared app.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cheese_api::prelude::*;
use cheese_api::testing::{Refused, TestClient, TestResponse, TestServer};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The seed's hello, with a reason on the close.
#[derive(Default)]
struct Hello;

#[websocket("/")]
impl Hello {
    async fn connection(&mut self) {
        let _ = self.send("这里是CheeseAPI！").await;
    }
    async fn message(&mut self, message: Message) {
        if message == "over" {
            let _ = self.close(1000, "bye").await;
        } else {
            let _ = self.send(message).await;
        }
    }
}

#[derive(Deserialize)]
struct Auth {
    token: Option<String>,
}

/// Refuses without a token (query `token` or `Authorization: Bearer`).
#[derive(Default)]
struct Vault {
    user: String,
}

#[websocket("/vault")]
impl Vault {
    async fn handshake(&mut self, auth: Query<Auth>, headers: HeaderMap) -> Result<(), Response> {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match auth.token.as_deref().or(bearer) {
            Some("letmein") => {
                self.user = "alice".into();
                Ok(())
            }
            Some("stream") => {
                // A body of unknown length goes out chunked.
                let chunks = ["not ", "in ", "chunks"].map(Ok::<_, std::convert::Infallible>);
                let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
                Err((StatusCode::FORBIDDEN, body).into_response())
            }
            _ => Err((
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer")],
                "bad token",
            )
                .into_response()),
        }
    }
    async fn connection(&mut self) {
        let _ = self.send(format!("welcome {}", self.user)).await;
    }
}

/// Chooses the first `chat.*` offer; an offer of `bogus` gets a subprotocol
/// that was never offered, which refuses the handshake with 400.
#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn subprotocol(&mut self, request: &Request) -> Option<String> {
        let offered = request.subprotocols();
        if offered.iter().any(|p| p == "bogus") {
            return Some("never-offered".into());
        }
        offered.iter().find(|p| p.starts_with("chat.")).cloned()
    }
    async fn connection(&mut self, request: &Request) {
        let _ = self.send(format!("{:?}", request.subprotocol())).await;
    }
}

#[derive(Deserialize)]
struct Numbers {
    numbers: Vec<i64>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Sum {
    sum: i64,
    count: usize,
}

/// Adds up the numbers of each JSON message; bad JSON closes with 1007.
#[derive(Default)]
struct Adder;

#[websocket("/sum")]
impl Adder {
    async fn message(&mut self, message: Json<Numbers>) {
        let sum = Sum {
            sum: message.numbers.iter().sum(),
            count: message.numbers.len(),
        };
        let _ = self.send(Json(sum)).await;
    }
}

/// Says the room's name; counts disconnections.
static ROOM_DISCONNECTIONS: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct Room;

#[websocket("/room/<name:str>")]
impl Room {
    async fn connection(&mut self, name: String, request: &Request) {
        let topic = request.args().get("topic").cloned().unwrap_or_default();
        let _ = self.send(format!("{name}|{topic}")).await;
    }
    async fn disconnection(&mut self) {
        ROOM_DISCONNECTIONS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Tells the client its own address as the app saw it; echoes; pings every
/// 0.1 s.
#[derive(Default)]
struct Whoami;

#[websocket("/whoami", ping_interval = 0.1)]
impl Whoami {
    async fn connection(&mut self, request: &Request) {
        let _ = self.send(format!("{:?}", request.client())).await;
    }
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

/// Sends the numbers it is given as a message, one message each, then closes
/// with 4000.
#[derive(Default)]
struct Countdown;

#[websocket("/countdown")]
impl Countdown {
    async fn message(&mut self, message: String) {
        for n in message.split(' ') {
            let _ = self.send(n.to_owned()).await;
        }
        let _ = self.close(4000, "liftoff").await;
    }
}

/// Takes messages up to 1000 bytes; ends a slow close after 0.5 s.
#[derive(Default)]
struct Small;

#[websocket("/small", max_size = 1000, close_timeout = 0.5)]
impl Small {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

fn app() -> App {
    App::empty()
        .websocket::<Hello>()
        .websocket::<Vault>()
        .websocket::<Chat>()
        .websocket::<Adder>()
        .websocket::<Room>()
        .websocket::<Small>()
        .websocket::<Whoami>()
        .websocket::<Countdown>()
        .merge(
            axum::Router::new()
                .route("/health", get(|| async { "ok" }))
                .route(
                    "/shout",
                    post(|body: String| async move { body.to_uppercase() }),
                ),
        )
}

#[tokio::test]
async fn hello_greets_echoes_and_says_bye() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;

    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    client.send("cheddar").await;
    assert_eq!(client.recv().await, "cheddar");
    client.send(String::from("gouda")).await;
    assert_eq!(client.recv_text().await, "gouda");
    client.send(vec![0u8, 1, 255]).await;
    assert_eq!(client.recv().await, Message::binary(vec![0u8, 1, 255]));
    client.send_binary(&b"\x00brie"[..]).await;
    assert_eq!(client.recv().await.as_bytes(), b"\x00brie");
    client.send(Message::text("comté")).await;
    assert_eq!(client.recv().await, Message::text("comté"));

    client.send("over").await;
    assert_eq!(client.expect_close(1000).await, "bye");
    server.shutdown().await;
}

#[tokio::test]
async fn addr_and_url_point_at_the_loopback_port() {
    let server = TestServer::start(app()).await;
    let addr = server.addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    assert_eq!(server.url("/chat"), format!("ws://{addr}/chat"));
    assert_eq!(server.url("chat"), format!("ws://{addr}/chat"));
    // The URL works for another client.
    let (_ws, response) = tokio_tungstenite::connect_async(server.url("/"))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
}

#[tokio::test]
async fn json_goes_out_as_text_and_comes_back_typed() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/sum").await;
    client
        .send(Json(serde_json::json!({"numbers": [1, 2, 39]})))
        .await;
    assert_eq!(client.recv_json::<Sum>().await, Sum { sum: 42, count: 3 });
    client.send(r#"{"numbers": []}"#).await;
    let raw: serde_json::Value = client.recv_json().await;
    assert_eq!(raw, serde_json::json!({"sum": 0, "count": 0}));
    client.send("{not json").await;
    let reason = client.expect_close(1007).await;
    assert!(reason.starts_with("invalid JSON"), "{reason}");
}

#[tokio::test]
async fn a_refused_handshake_shows_status_headers_and_body() {
    let server = TestServer::start(app()).await;

    let refused = server.connect_expect_refused("/vault").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body, "bad token");
    assert_eq!(refused.headers["www-authenticate"], "Bearer");
    assert_eq!(refused.to_string(), r#"HTTP 401 Unauthorized: "bad token""#);

    let refused: Refused = server
        .request("/vault")
        .query("token", "wrong")
        .connect()
        .await
        .unwrap_err();
    assert_eq!((refused.status, refused.body.as_str()), (401, "bad token"));

    // A body of unknown length is read whole, de-chunked.
    let refused = server
        .request("/vault")
        .query("token", "stream")
        .connect_expect_refused()
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.headers["transfer-encoding"], "chunked");
    assert_eq!(refused.body, "not in chunks");

    assert_eq!(server.connect_expect_refused("/nowhere").await.status, 404);
}

#[tokio::test]
async fn query_and_headers_reach_the_handshake_hook() {
    let server = TestServer::start(app()).await;

    let mut by_query = server
        .request("/vault")
        .query("token", "letmein")
        .connect()
        .await
        .unwrap();
    assert_eq!(by_query.recv_text().await, "welcome alice");

    let mut by_header = server
        .request("/vault")
        .header("Authorization", "Bearer letmein")
        .connect()
        .await
        .unwrap();
    assert_eq!(by_header.recv_text().await, "welcome alice");
}

#[tokio::test]
async fn paths_and_query_values_are_percent_encoded_like_a_browser() {
    let server = TestServer::start(app()).await;
    let mut client = server
        .request("/room/blue cheese")
        .query("topic", "rind & 熟成?")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.recv_text().await, "blue cheese|rind & 熟成?");
    // A query in the path is kept; `query` adds to it.
    let mut client = server
        .request("/room/caf%C3%A9?x=1")
        .query("topic", "a=b")
        .connect()
        .await
        .unwrap();
    assert_eq!(client.recv_text().await, "café|a=b");
}

#[tokio::test]
async fn subprotocols_chosen_declined_and_refused() {
    let server = TestServer::start(app()).await;

    let mut chosen = server
        .request("/chat")
        .subprotocols(&["x", "chat.v2", "chat.v1"])
        .connect()
        .await
        .unwrap();
    assert_eq!(chosen.subprotocol(), Some("chat.v2"));
    assert_eq!(
        chosen.response_headers()["sec-websocket-protocol"],
        "chat.v2"
    );
    assert_eq!(chosen.recv_text().await, r#"Some("chat.v2")"#);

    // The app declines every offer: a browser connects with protocol "",
    // and so does the test client (tungstenite's own connect would fail).
    let mut declined = server
        .request("/chat")
        .subprotocols(vec!["x".to_owned()])
        .connect()
        .await
        .unwrap();
    assert_eq!(declined.subprotocol(), None);
    assert!(!declined
        .response_headers()
        .contains_key("sec-websocket-protocol"));
    assert_eq!(declined.recv_text().await, "None");

    // The hook answers something never offered: refused with 400.
    let refused = server
        .request("/chat")
        .subprotocols(&["bogus"])
        .connect_expect_refused()
        .await;
    assert_eq!(refused.status, 400);

    // No offer, no subprotocol.
    let plain = server.connect("/chat").await;
    assert_eq!(plain.subprotocol(), None);
}

#[tokio::test]
async fn response_headers_are_the_101s() {
    let server = TestServer::start(app()).await;
    let client = server.connect("/").await;
    let headers = client.response_headers();
    assert_eq!(headers["upgrade"], "websocket");
    assert!(headers.contains_key("sec-websocket-accept"));
}

#[tokio::test]
async fn expect_nothing_passes_in_silence() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    client.expect_nothing(Duration::from_millis(200)).await;
    client.send("still here").await;
    assert_eq!(client.recv_text().await, "still here");
}

#[tokio::test]
async fn close_completes_the_handshake_and_runs_disconnection() {
    let server = TestServer::start(app()).await;
    let before = ROOM_DISCONNECTIONS.load(Ordering::SeqCst);
    let mut client = server.connect("/room/brie").await;
    assert_eq!(client.recv_text().await, "brie|");
    client.close(1000, "done").await;
    // Shutdown waits for every `disconnection`.
    server.shutdown().await;
    assert!(ROOM_DISCONNECTIONS.load(Ordering::SeqCst) > before);
}

#[tokio::test]
async fn a_message_over_max_size_is_closed_with_1009() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/small").await;
    client.send(vec![7u8; 1000]).await;
    assert_eq!(client.recv().await.len(), 1000);
    client.send(vec![7u8; 1001]).await;
    assert_eq!(client.expect_close(1009).await, "message too big");
}

#[tokio::test]
async fn try_send_returns_an_error_once_the_app_dropped_the_connection() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/small").await;
    assert!(client.try_send("fits").await.is_ok());
    assert_eq!(client.recv_text().await, "fits");
    // Over max_size: the app closes with 1009 and, the engine's stream
    // having ended, drops the TCP connection once that is written.
    client.send(vec![7u8; 1001]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut outcome = Ok(());
    for _ in 0..20 {
        outcome = client.try_send("anyone there?").await;
        if outcome.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        matches!(outcome, Err(SendError::Closed)),
        "try_send after the app dropped the connection: {outcome:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001_and_waits() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    let stopping = tokio::spawn(server.shutdown());
    assert_eq!(client.expect_close(1001).await, "server shutting down");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown returns once the client answered")
        .unwrap();
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = TestServer::start(app()).await;
    let addr = server.addr();
    drop(server);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after the drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn with_timeout_sets_every_wait() {
    let server = TestServer::start(app()).await;
    let client = server.connect("/").await;
    let mut client: TestClient = client.with_timeout(Duration::from_millis(300));
    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    let started = std::time::Instant::now();
    let silent = tokio::spawn(async move { client.recv().await });
    let panic = silent.await.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(message, "recv on /: no message within 300ms");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn get_and_post_reach_the_plain_http_routes() {
    let server = TestServer::start(app()).await;
    let health: TestResponse = server.get("/health").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    assert_eq!(health.headers["content-length"], "2");
    let shout = server.post("/shout", "comté").await;
    assert_eq!((shout.status, shout.body.as_str()), (200, "COMTÉ"));
    assert_eq!(server.post("/shout", b"").await.body, "");
    // Not found, and a WebSocket route asked for without an upgrade.
    assert_eq!(server.get("/nowhere").await.status, 404);
    let plain = server.get("/").await;
    assert_eq!(plain.status, 426);
    assert!(plain.body.contains("WebSocket route"), "{}", plain.body);
}

#[tokio::test]
async fn start_router_serves_an_axum_app_that_holds_the_router() {
    let router = axum::Router::new()
        .route("/status", get(|| async { "serving" }))
        .merge(app().router());
    let server = TestServer::start_router(router).await;
    assert_eq!(server.get("/status").await.body, "serving");
    assert_eq!(server.get("/health").await.body, "ok"); // the App's own route
    let mut client = server.connect("/").await;
    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    client.close(1000, "done").await;
    let addr = server.addr();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("axum's graceful shutdown returns");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// As documented: axum's graceful shutdown leaves upgraded connections
/// alone (only `App::serve` closes them with 1001).
#[tokio::test]
async fn start_router_shutdown_does_not_close_websockets() {
    let server = TestServer::start_router(app().router()).await;
    let mut client = server.connect("/").await;
    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown returns with a WebSocket open");
    client.send("still open").await;
    assert_eq!(client.recv_text().await, "still open");
}

#[tokio::test]
async fn start_on_and_connect_on_use_the_tests_own_sockets() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bound = listener.local_addr().unwrap();
    let server = TestServer::start_on(app(), listener);
    assert_eq!(server.addr(), bound);
    let stream = tokio::net::TcpStream::connect(bound).await.unwrap();
    let local = stream.local_addr().unwrap();
    let mut client = server.request("/whoami").connect_on(stream).await.unwrap();
    // The app saw the connection from the stream the test opened.
    assert_eq!(client.recv_text().await, format!("Some({local})"));
    let stream = tokio::net::TcpStream::connect(bound).await.unwrap();
    let refused = server
        .request("/vault")
        .connect_on(stream)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn pings_are_answered_counted_and_never_received() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/whoami").await;
    client.recv_text().await;
    assert_eq!(client.pings(), 0);
    // A ping every 0.1 s, answered: the connection stays open.
    client.expect_nothing(Duration::from_millis(550)).await;
    assert!(client.pings() >= 3, "{} pings in 0.55 s", client.pings());
    client.send("still open").await;
    assert_eq!(client.recv_text().await, "still open");
}

#[tokio::test]
async fn recv_within_waits_at_most_the_given_time() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    assert_eq!(
        client.recv_within(Duration::from_secs(5)).await,
        Some(Message::text("这里是CheeseAPI！"))
    );
    let started = std::time::Instant::now();
    assert_eq!(client.recv_within(Duration::from_millis(200)).await, None);
    assert!(started.elapsed() >= Duration::from_millis(200));
    client.send("raclette").await;
    let echo = client.recv_within(Duration::from_secs(5)).await;
    assert_eq!(echo, Some(Message::text("raclette")));
}

#[tokio::test]
async fn recv_until_close_returns_the_messages_before_the_close() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/countdown").await;
    client.send("3 2 1").await;
    let (messages, reason) = client.recv_until_close(4000).await;
    assert_eq!(messages, ["3", "2", "1"]);
    assert_eq!(reason, "liftoff");
}

#[tokio::test]
async fn close_without_code_reaches_the_app_as_1005() {
    let app = app();
    let hub = app.hub();
    let server = TestServer::start(app).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.close_without_code().await;
    server.shutdown().await;
    let stats = hub.stats();
    assert_eq!(stats.closes_by_code.get(&1005), Some(&1), "{stats:?}");
    assert_eq!(stats.closes_by_code.len(), 1, "{stats:?}");
}

// The panics say what was expected and what came instead.

#[tokio::test]
#[should_panic(expected = "connect /vault: the handshake was refused: HTTP 401 Unauthorized")]
async fn connect_panics_on_a_refusal() {
    let server = TestServer::start(app()).await;
    server.connect("/vault").await;
}

#[tokio::test]
#[should_panic(expected = "connect /: expected the handshake to be refused, but it was accepted")]
async fn connect_expect_refused_panics_on_an_upgrade() {
    let server = TestServer::start(app()).await;
    server.connect_expect_refused("/").await;
}

#[tokio::test]
#[should_panic(expected = "recv on /: expected a message, got close 1000 \"bye\"")]
async fn recv_panics_on_a_close() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.send("over").await;
    client.recv().await;
}

#[tokio::test]
#[should_panic(expected = "recv_text on /: expected a text message, got Binary")]
async fn recv_text_panics_on_binary() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.send(vec![1u8]).await;
    client.recv_text().await;
}

#[tokio::test]
#[should_panic(expected = "recv_json on /: expected JSON for testing_client::Sum")]
async fn recv_json_panics_on_other_json() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.send(r#"{"sum": "many"}"#).await;
    client.recv_json::<Sum>().await;
}

#[tokio::test]
#[should_panic(expected = "expect_close on /: expected close 1001, got close 1000 \"bye\"")]
async fn expect_close_panics_on_another_code() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.send("over").await;
    client.expect_close(1001).await;
}

#[tokio::test]
#[should_panic(
    expected = "expect_close on /: expected close 1000, got the message Text(\"这里是CheeseAPI！\")"
)]
async fn expect_close_panics_on_a_message() {
    let server = TestServer::start(app()).await;
    let client = server.connect("/").await;
    client.expect_close(1000).await;
}

#[tokio::test]
#[should_panic(
    expected = "expect_nothing on /: expected nothing for 1s, got the message Text(\"echo\")"
)]
async fn expect_nothing_panics_on_a_message() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.send("echo").await;
    client.expect_nothing(Duration::from_secs(1)).await;
}

#[tokio::test]
#[should_panic(
    expected = "recv_within on /: expected a message or nothing, got close 1000 \"bye\""
)]
async fn recv_within_panics_on_a_close() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/").await;
    client.recv().await;
    client.send("over").await;
    client.recv_within(Duration::from_secs(1)).await;
}

#[tokio::test]
#[should_panic(
    expected = "recv_until_close on /countdown: expected close 1000, got close 4000 \"liftoff\""
)]
async fn recv_until_close_panics_on_another_code() {
    let server = TestServer::start(app()).await;
    let mut client = server.connect("/countdown").await;
    client.send("1").await;
    client.recv_until_close(1000).await;
}
