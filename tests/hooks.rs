//! DESIGN §2: hooks, parameters bound by name, send/close/socket, one fresh
//! instance per connection, hook failures closing only their connection.

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Default)]
struct Hello;

#[websocket("/")]
impl Hello {
    async fn connection(&mut self) {
        let _ = self.send("这里是CheeseAPI！").await;
    }
    async fn message(&mut self, message: Message) {
        if message == "over" {
            let _ = self.close(1000, "").await;
        } else {
            let _ = self.send(message).await;
        }
    }
}

#[tokio::test]
async fn hello_greets_echoes_and_closes_on_over() {
    let server = TestServer::start(App::empty().websocket::<Hello>()).await;
    let mut client = server.connect("/").await;
    assert_eq!(client.recv_text().await, "这里是CheeseAPI！");
    client.send("cheddar").await;
    assert_eq!(client.recv_text().await, "cheddar");
    client.send(vec![0u8, 1, 255]).await;
    assert_eq!(client.recv().await, Message::binary(vec![0u8, 1, 255]));
    client.send("over").await;
    client.expect_close(1000).await;
}

/// Counts messages per instance: each connection must start from zero.
#[derive(Default)]
struct Counter {
    seen: u32,
}

#[websocket("/count")]
impl Counter {
    async fn message(&mut self) {
        self.seen += 1;
        let _ = self.send(self.seen.to_string()).await;
    }
}

#[tokio::test]
async fn each_connection_gets_a_fresh_instance() {
    let server = TestServer::start(App::empty().websocket::<Counter>()).await;
    let mut a = server.connect("/count").await;
    let mut b = server.connect("/count").await;
    for expected in ["1", "2", "3"] {
        a.send("x").await;
        assert_eq!(a.recv_text().await, expected);
    }
    b.send("x").await;
    assert_eq!(b.recv_text().await, "1");
}

#[derive(Default)]
struct Spawner;

#[websocket("/spawn")]
impl Spawner {
    async fn connection(&mut self) {
        let socket = self.socket();
        tokio::spawn(async move {
            for i in 0..3 {
                socket
                    .send(format!("tick {i} from {}", socket.id()))
                    .await
                    .unwrap();
            }
            socket.close(4000, "done").await.unwrap();
            // After close, sending fails instead of panicking.
            assert!(matches!(socket.send("late").await, Err(SendError::Closed)));
        });
    }
}

#[tokio::test]
async fn socket_handle_sends_and_closes_from_a_spawned_task() {
    let server = TestServer::start(App::empty().websocket::<Spawner>()).await;
    let mut client = server.connect("/spawn").await;
    let first = client.recv_text().await;
    assert!(first.starts_with("tick 0 from "), "{first}");
    assert!(client.recv_text().await.starts_with("tick 1"));
    assert!(client.recv_text().await.starts_with("tick 2"));
    assert_eq!(client.expect_close(4000).await, "done");
}

#[derive(Default)]
struct BadClose;

#[websocket("/badclose")]
impl BadClose {
    async fn message(&mut self, message: String) {
        let code: u16 = message.parse().unwrap();
        let answer = match self.close(code, "").await {
            Ok(()) => "closed".to_owned(),
            Err(e) => format!("refused: {e}"),
        };
        let _ = self.send(answer).await;
    }
}

#[tokio::test]
async fn close_validates_the_code_instead_of_panicking() {
    let server = TestServer::start(App::empty().websocket::<BadClose>()).await;
    let mut client = server.connect("/badclose").await;
    for bad in ["1005", "1006", "1015", "999", "5000"] {
        client.send(bad).await;
        let answer = client.recv_text().await;
        assert!(answer.starts_with("refused: close code"), "{bad}: {answer}");
    }
    client.send("4321").await;
    client.expect_close(4321).await;
}

#[tokio::test]
async fn send_outside_a_hook_says_to_use_socket() {
    let err = Hello.send("x").await.unwrap_err();
    assert!(matches!(err, SendError::OutsideHook));
    assert!(err.to_string().contains("self.socket()"), "{err}");
}

#[derive(Deserialize)]
struct Move {
    x: i32,
    y: i32,
}

#[derive(Default)]
struct Typed;

#[websocket("/text")]
impl Typed {
    async fn message(&mut self, message: String) {
        let _ = self.send(message.to_uppercase()).await;
    }
}

#[derive(Default)]
struct Binary;

#[websocket("/binary")]
impl Binary {
    async fn message(&mut self, message: Vec<u8>) {
        let _ = self
            .send(message.into_iter().rev().collect::<Vec<u8>>())
            .await;
    }
}

#[derive(Default)]
struct Shared;

#[websocket("/bytes")]
impl Shared {
    async fn message(&mut self, message: Bytes) {
        let _ = self.send(message.len().to_string()).await;
    }
}

#[derive(Default)]
struct Game;

#[websocket("/json")]
impl Game {
    async fn message(&mut self, message: Json<Move>) {
        let _ = self
            .send(Json(serde_json::json!({"sum": message.x + message.y})))
            .await;
    }
}

fn typed_app() -> App {
    App::empty()
        .websocket::<Typed>()
        .websocket::<Binary>()
        .websocket::<Shared>()
        .websocket::<Game>()
}

#[tokio::test]
async fn message_parameter_types_convert() {
    let server = TestServer::start(typed_app()).await;
    let mut t = server.connect("/text").await;
    t.send("gouda").await;
    assert_eq!(t.recv_text().await, "GOUDA");
    let mut b = server.connect("/binary").await;
    b.send(vec![1u8, 2, 3]).await;
    assert_eq!(b.recv().await, Message::binary(vec![3u8, 2, 1]));
    let mut by = server.connect("/bytes").await;
    by.send(vec![0u8; 10]).await;
    assert_eq!(by.recv_text().await, "10");
    let mut j = server.connect("/json").await;
    j.send(r#"{"x": 2, "y": 40}"#).await;
    assert_eq!(j.recv_text().await, r#"{"sum":42}"#);
}

#[tokio::test]
async fn wrong_message_kind_closes_1003_and_bad_json_1007() {
    let server = TestServer::start(typed_app()).await;
    let mut t = server.connect("/text").await;
    t.send(vec![1u8]).await;
    assert_eq!(t.expect_close(1003).await, "expected a text message");
    let mut b = server.connect("/binary").await;
    b.send("hi").await;
    assert_eq!(b.expect_close(1003).await, "expected a binary message");
    let mut j = server.connect("/json").await;
    j.send(r#"{"x": "not a number"}"#).await;
    let reason = j.expect_close(1007).await;
    assert!(reason.starts_with("invalid JSON"), "{reason}");
    assert!(reason.len() <= 123);
}

static DISCONNECTS: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
struct Faulty;

#[websocket("/faulty")]
impl Faulty {
    async fn message(&mut self, message: String) -> Result<(), String> {
        match message.as_str() {
            "err" => Err("x".repeat(500)),
            "panic" => panic!("boom"),
            _ => {
                let _ = self.send(message).await;
                Ok(())
            }
        }
    }
    async fn disconnection(&mut self) {
        DISCONNECTS.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn hook_error_or_panic_closes_only_that_connection_with_1011() {
    let server = TestServer::start(App::empty().websocket::<Faulty>()).await;
    let mut bystander = server.connect("/faulty").await;
    let mut erring = server.connect("/faulty").await;
    erring.send("err").await;
    // The error's text is logged, not sent: the client sees a generic reason.
    assert_eq!(erring.expect_close(1011).await, "internal error");
    let mut panicking = server.connect("/faulty").await;
    panicking.send("panic").await;
    panicking.expect_close(1011).await;
    // The server and the other connection keep working.
    bystander.send("still here").await;
    assert_eq!(bystander.recv_text().await, "still here");
    // disconnection ran for both failed connections.
    let deadline = tokio::time::Instant::now() + TestClient::DEFAULT_TIMEOUT;
    while DISCONNECTS.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "disconnection did not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Default)]
struct Room;

#[websocket("/room/<name:str>/<id:int>", max_size = 65536, ping_interval = None)]
impl Room {
    async fn connection(&mut self, name: String, id: i64, request: &Request) {
        let _ = self
            .send(format!(
                "{name}#{id} via {}",
                request.param_str("name").unwrap()
            ))
            .await;
    }
    async fn message(&mut self, message: String, id: i64) {
        let _ = self.send(format!("{id}:{message}")).await;
    }
}

#[tokio::test]
async fn path_values_are_bound_by_name_and_decoded() {
    let server = TestServer::start(App::empty().websocket::<Room>()).await;
    let mut client = server.connect("/room/caf%C3%A9/42").await;
    assert_eq!(client.recv_text().await, "café#42 via café");
    client.send("hi").await;
    assert_eq!(client.recv_text().await, "42:hi");
}

#[test]
fn attribute_limits_resolve_over_defaults() {
    let l = Room::LIMITS;
    assert_eq!(l.max_size, Some(65536));
    assert_eq!(l.ping_interval, None);
    assert_eq!(l.ping_timeout, Limits::DEFAULT.ping_timeout);
    assert_eq!(l.open_timeout, Some(Duration::from_secs(10)));
    assert_eq!(l.max_queue, Some(32));
    assert_eq!((l.read_limit, l.write_limit), (65536, 65536));
    assert_eq!(Room::PATH, "/room/<name:str>/<id:int>");
}

#[derive(Default)]
struct Small;

#[websocket("/small", max_size = 1000, close_timeout = 0.5, open_timeout = 2.5)]
impl Small {}

/// Float seconds resolve to exact durations (that `max_size` reaches the
/// engine is tests/limits.rs's `max_size_closes_a_whole_message...`).
#[test]
fn float_seconds_resolve_exactly() {
    assert_eq!(Small::LIMITS.max_size, Some(1000));
    assert_eq!(
        Small::LIMITS.close_timeout,
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        Small::LIMITS.open_timeout,
        Some(Duration::from_millis(2500))
    );
}
