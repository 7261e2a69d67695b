//! Issue 5 on one node: route groups, rooms, sends by socket id, from a
//! hook, a spawned task or a plain HTTP handler; one serialization per
//! broadcast; slow receivers closed with 1013; nodes linked by a backplane.
//!
//! Every client is `cheese_api::testing`'s; the receiver that cannot keep up
//! is one on a tiny socket (tests/common) that does not read.

mod common;
use common::*;

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use cheese_api::MemoryBackplane;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

/// `join ROOM`, `leave ROOM`, `say ROOM TEXT`, `route TEXT`, `to ID TEXT`,
/// `id`, `size ROOM`, `others ROOM TEXT`.
#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn message(&mut self, message: String) {
        let mut words = message.splitn(3, ' ');
        let (cmd, a, b) = (
            words.next().unwrap(),
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
        );
        let hub = self.hub();
        match cmd {
            "join" => self.join(a),
            "leave" => self.leave(a),
            "say" => {
                hub.to_room(a).send(b.to_owned()).unwrap();
            }
            "others" => {
                hub.to_room(a)
                    .except(self.socket().id())
                    .send(b.to_owned())
                    .unwrap();
            }
            "route" => {
                hub.to_route("/chat").send(a.to_owned()).unwrap();
            }
            "to" => {
                hub.to_sockets(&[a.parse().unwrap()])
                    .send(b.to_owned())
                    .unwrap();
            }
            "id" => {
                let _ = self.send(self.socket().id().to_string()).await;
            }
            "size" => {
                let _ = self.send(hub.room_size(a).to_string()).await;
            }
            _ => {}
        }
    }
}

#[derive(Default)]
struct Other;

#[websocket("/other")]
impl Other {}

fn app() -> App {
    App::empty().websocket::<Chat>().websocket::<Other>()
}

/// Sends `id` and reads the answer.
async fn id_of(client: &mut TestClient) -> u64 {
    client.send("id").await;
    client.recv_text().await.parse().unwrap()
}

#[tokio::test]
async fn send_to_every_connection_of_a_route() {
    let server = TestServer::start(app()).await;
    let mut a = server.connect("/chat").await;
    let mut b = server.connect("/chat").await;
    let mut other = server.connect("/other").await;
    id_of(&mut b).await; // b is registered
    a.send("route hello-route").await;
    assert_eq!(a.recv_text().await, "hello-route");
    assert_eq!(b.recv_text().await, "hello-route");
    other.expect_nothing(QUIET).await;
    a.expect_nothing(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn rooms_join_leave_size_and_left_on_disconnect() {
    let server = TestServer::start(app()).await;
    let mut a = server.connect("/chat").await;
    let mut b = server.connect("/chat").await;
    let mut c = server.connect("/chat").await;
    a.send("join cheese").await;
    b.send("join cheese").await;
    c.send("size cheese").await;
    assert_eq!(c.recv_text().await, "2");
    c.send("say cheese brie").await;
    assert_eq!(a.recv_text().await, "brie");
    assert_eq!(b.recv_text().await, "brie");
    c.expect_nothing(QUIET).await; // not a member
    b.send("leave cheese").await;
    a.send("others cheese gouda").await; // a is the only member, and excluded
    c.send("say cheese feta").await;
    assert_eq!(a.recv_text().await, "feta");
    a.expect_nothing(QUIET).await;
    b.expect_nothing(Duration::from_millis(10)).await;
    // Disconnecting leaves every room.
    a.close_without_code().await;
    let deadline = tokio::time::Instant::now() + TestClient::DEFAULT_TIMEOUT;
    loop {
        c.send("size cheese").await;
        if c.recv_text().await == "0" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "room not left on disconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn send_to_given_socket_ids() {
    let server = TestServer::start(app()).await;
    let mut a = server.connect("/chat").await;
    let mut b = server.connect("/chat").await;
    let b_id = id_of(&mut b).await;
    a.send(format!("to {b_id} just-you")).await;
    assert_eq!(b.recv_text().await, "just-you");
    a.expect_nothing(QUIET).await;
}

#[tokio::test]
async fn send_from_a_plain_http_handler_and_a_spawned_task() {
    use axum::routing::post;
    let app =
        app().merge(
            axum::Router::new().route(
                "/notify/{room}",
                post(
                    |hub: Hub,
                     axum::extract::Path(room): axum::extract::Path<String>,
                     body: String| async move {
                        hub.to_room(&room).send(body).unwrap().to_string()
                    },
                ),
            ),
        );
    let hub = app.hub();
    let server = TestServer::start(app).await;
    let mut a = server.connect("/chat").await;
    a.send("join news").await;
    a.send("size news").await;
    assert_eq!(a.recv_text().await, "1");
    // HTTP handler.
    let delivered = server.post("/notify/news", "extra extra").await;
    assert_eq!((delivered.status, delivered.body.as_str()), (200, "1"));
    assert_eq!(a.recv_text().await, "extra extra");
    // A spawned task holding the app's hub.
    tokio::spawn(async move { hub.to_room("news").send("from a task").unwrap() })
        .await
        .unwrap();
    assert_eq!(a.recv_text().await, "from a task");
}

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

struct Counted;

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SERIALIZED.fetch_add(1, Ordering::SeqCst);
        s.serialize_str("counted")
    }
}

#[tokio::test]
async fn a_broadcast_is_serialized_once_and_json_goes_out_as_text() {
    let app = app();
    let hub = app.hub();
    let server = TestServer::start(app).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut client = server.connect("/chat").await;
        client.send("join json").await;
        clients.push(client);
    }
    clients[0].send("size json").await;
    assert_eq!(clients[0].recv_text().await, "5");
    assert_eq!(hub.to_room("json").send(Json(Counted)).unwrap(), 5);
    for client in &mut clients {
        assert_eq!(client.recv().await, Message::text("\"counted\""));
    }
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 1);
}

#[derive(Default)]
struct Feed;

#[websocket("/feed", write_limit = 4096)]
impl Feed {
    async fn connection(&mut self) {
        self.join("feed");
        let _ = self.send("joined").await;
    }
}

#[tokio::test]
async fn a_receiver_that_cannot_keep_up_is_closed_1013_and_does_not_slow_the_others() {
    let app = App::empty().websocket::<Feed>();
    let hub = app.hub();
    let server = start_with_buffers(app, 16 * 1024);
    let mut fast = server.connect("/feed").await;
    let mut slow = connect_with_buffers(&server, "/feed", 16 * 1024).await;
    assert_eq!(fast.recv_text().await, "joined");
    assert_eq!(slow.recv_text().await, "joined");
    const COUNT: usize = 2000;
    let payload = "x".repeat(1024);
    // The slow client reads nothing while 2 MiB are broadcast (its limit is
    // 16 × write_limit, at least 1 MiB); the fast one reads all.
    let reader = tokio::spawn(async move {
        for i in 0..COUNT {
            let text = fast.recv_text().await;
            assert_eq!(text.len(), 1024 + i.to_string().len() + 1, "message {i}");
        }
        fast
    });
    for i in 0..COUNT {
        hub.to_room("feed").send(format!("{i} {payload}")).unwrap();
        if i % 50 == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut fast = tokio::time::timeout(TestClient::DEFAULT_TIMEOUT, reader)
        .await
        .expect("fast client kept up")
        .unwrap();
    assert_eq!(hub.slow_closes(), 1);
    // The slow one gets what fit in its queue, then 1013.
    let (got, _) = slow.recv_until_close(1013).await;
    assert!(
        got.iter().all(Message::is_text),
        "{:?}",
        got.iter().find(|m| !m.is_text())
    );
    assert!(
        got.len() < COUNT,
        "slow client got everything ({})",
        got.len()
    );
    fast.expect_nothing(QUIET).await;
}

#[tokio::test]
async fn a_backplane_carries_room_sends_to_another_node() {
    let link = MemoryBackplane::new();
    let node_a = app().backplane(link.clone());
    let node_b = app().backplane(link);
    let (hub_a, hub_b) = (node_a.hub(), node_b.hub());
    assert_ne!(hub_a.node(), hub_b.node());
    let server_a = TestServer::start(node_a).await;
    let server_b = TestServer::start(node_b).await;
    let mut on_a = server_a.connect("/chat").await;
    let mut on_b = server_b.connect("/chat").await;
    on_a.send("join lobby").await;
    on_b.send("join lobby").await;
    on_b.send("size lobby").await;
    assert_eq!(on_b.recv_text().await, "1"); // sizes are per node
    on_a.send("say lobby across").await;
    assert_eq!(on_a.recv_text().await, "across");
    assert_eq!(on_b.recv_text().await, "across");
    // By id across nodes, and no echo back to the sender's node.
    let a_id = id_of(&mut on_a).await;
    hub_b.to_sockets(&[a_id]).send("direct").unwrap();
    assert_eq!(on_a.recv_text().await, "direct");
    on_a.expect_nothing(QUIET).await;
    on_b.expect_nothing(Duration::from_millis(10)).await;
}

static LATE_JOINED: std::sync::OnceLock<Hub> = std::sync::OnceLock::new();

#[derive(Default)]
struct LateJoiner;

#[websocket("/late")]
impl LateJoiner {
    async fn connection(&mut self) {
        let socket = self.socket();
        let _ = LATE_JOINED.set(self.hub());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            socket.join("late-room"); // after the client has gone
        });
    }
}

/// A join after the connection ended is ignored: no dead socket stays in a
/// room (it used to stay there for good).
#[tokio::test]
async fn joining_after_disconnect_leaves_no_dead_member() {
    let server = TestServer::start(App::empty().websocket::<LateJoiner>()).await;
    let client = server.connect("/late").await;
    drop(client);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let hub = LATE_JOINED.get().unwrap();
    assert_eq!(hub.room_size("late-room"), 0);
    assert_eq!(hub.connections(), 0);
}
