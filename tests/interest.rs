//! Issue 14, first step: routing by interest. Apps linked by a
//! `MemoryBackplane` (real servers, real clients) receive only the sends of
//! rooms and routes with a member on them and of sockets they hold, counted
//! by `Stats::envelopes_received`; the hub's subscribe/unsubscribe stay
//! right under concurrent joins and leaves; a backplane that ignores
//! interest (the trait's default no-ops) still delivers everything; a
//! backplane replaced by a second `App::backplane` lets go of the app.

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use cheese_api::{Backplane, Envelope, MemoryBackplane, Topic};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

/// `join ROOM`, `leave ROOM`, `id`, `churn ROOM N` (N join/leave pairs on
/// a thread of its own, then `churned`).
#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn message(&mut self, message: String) {
        let mut words = message.split(' ');
        let (cmd, a, b) = (
            words.next().unwrap(),
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
        );
        match cmd {
            "join" => self.join(a),
            "leave" => self.leave(a),
            "id" => {
                let _ = self.send(self.socket().id().to_string()).await;
            }
            "churn" => {
                let (socket, room, n) = (self.socket(), a.to_owned(), b.parse().unwrap());
                tokio::task::spawn_blocking(move || {
                    for _ in 0..n {
                        socket.join(&room);
                        socket.leave(&room);
                    }
                })
                .await
                .unwrap();
                let _ = self.send("churned").await;
            }
            _ => {}
        }
    }
}

/// A second route, for route sends.
#[derive(Default)]
struct Quiet;

#[websocket("/quiet")]
impl Quiet {}

/// `n` apps on one backplane, served.
async fn nodes(n: usize, link: impl Backplane + Clone) -> Vec<(TestServer, Hub)> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        let app = App::empty()
            .websocket::<Chat>()
            .websocket::<Quiet>()
            .backplane(link.clone());
        let hub = app.hub();
        nodes.push((TestServer::start(app).await, hub));
    }
    nodes
}

fn received(hub: &Hub) -> u64 {
    hub.stats().envelopes_received
}

/// Sends `id` and reads the answer: every command sent before it has run.
async fn id_of(client: &mut TestClient) -> u64 {
    client.send("id").await;
    client.recv_text().await.parse().unwrap()
}

/// A client of `/chat` on `server` that has joined `room`.
async fn member(server: &TestServer, room: &str) -> TestClient {
    let mut client = server.connect("/chat").await;
    client.send(format!("join {room}")).await;
    id_of(&mut client).await;
    client
}

/// Waits until `check` holds (a disconnect is seen by the server a moment
/// after the client goes).
async fn until(check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 2 s");
}

#[tokio::test]
async fn a_node_without_a_member_of_a_room_receives_none_of_its_sends() {
    let n = nodes(3, MemoryBackplane::new()).await;
    let (hub_a, hub_b, hub_c) = (&n[0].1, &n[1].1, &n[2].1);
    let mut on_a = member(&n[0].0, "r").await;
    let mut on_b = member(&n[1].0, "r").await;
    let mut on_c = member(&n[2].0, "elsewhere").await; // connected, not in r
    let (b0, c0) = (received(hub_b), received(hub_c));
    for i in 0..5 {
        assert_eq!(hub_a.to_room("r").send(format!("m{i}")).unwrap(), 1);
    }
    for i in 0..5 {
        assert_eq!(on_a.recv_text().await, format!("m{i}"));
        assert_eq!(on_b.recv_text().await, format!("m{i}"));
    }
    assert_eq!(received(hub_b) - b0, 5);
    assert_eq!(received(hub_c) - c0, 0, "C has no member of r");
    on_c.expect_nothing(QUIET).await;
    // The sender's own sends never come back to it.
    assert_eq!(received(hub_a), 0);
}

#[tokio::test]
async fn a_node_stops_receiving_a_room_when_its_last_member_leaves_or_goes() {
    let n = nodes(2, MemoryBackplane::new()).await;
    let (hub_a, hub_b) = (&n[0].1, &n[1].1);
    let mut first = member(&n[1].0, "r").await;
    let mut second = member(&n[1].0, "r").await;
    let start = received(hub_b);
    hub_a.to_room("r").send("both").unwrap();
    assert_eq!(first.recv_text().await, "both");
    assert_eq!(second.recv_text().await, "both");
    // One member left: B still needs r.
    first.send("leave r").await;
    id_of(&mut first).await;
    hub_a.to_room("r").send("one").unwrap();
    assert_eq!(second.recv_text().await, "one");
    assert_eq!(received(hub_b) - start, 2);
    // The last one disconnects: B receives nothing more of r.
    drop(second);
    until(|| hub_b.room_size("r") == 0).await;
    hub_a.to_room("r").send("none").unwrap();
    assert_eq!(received(hub_b) - start, 2);
    first.expect_nothing(QUIET).await;
    // Joining again subscribes again.
    let mut again = member(&n[1].0, "r").await;
    hub_a.to_room("r").send("again").unwrap();
    assert_eq!(again.recv_text().await, "again");
    assert_eq!(received(hub_b) - start, 3);
}

#[tokio::test]
async fn route_sends_reach_only_nodes_with_a_connection_of_the_route() {
    let n = nodes(3, MemoryBackplane::new()).await;
    let (hub_a, hub_b, hub_c) = (&n[0].1, &n[1].1, &n[2].1);
    let mut quiet_b = n[1].0.connect("/quiet").await;
    let mut chat_c = member(&n[2].0, "x").await; // /chat only
    until(|| hub_b.route_size("/quiet") == 1).await;
    let (b0, c0) = (received(hub_b), received(hub_c));
    hub_a.to_route("/quiet").send("to quiet").unwrap();
    assert_eq!(quiet_b.recv_text().await, "to quiet");
    assert_eq!(received(hub_b) - b0, 1);
    assert_eq!(received(hub_c) - c0, 0, "C has no /quiet connection");
    // /chat has connections on C only: B gets none of its sends.
    hub_a.to_route("/chat").send("to chat").unwrap();
    assert_eq!(chat_c.recv_text().await, "to chat");
    assert_eq!(received(hub_b) - b0, 1);
    assert_eq!(received(hub_c) - c0, 1);
    // B's last /quiet connection goes: B stops receiving the route.
    drop(quiet_b);
    until(|| hub_b.route_size("/quiet") == 0).await;
    hub_a.to_route("/quiet").send("gone").unwrap();
    assert_eq!(received(hub_b) - b0, 1);
}

#[tokio::test]
async fn sends_to_socket_ids_reach_only_the_nodes_that_hold_them() {
    let n = nodes(3, MemoryBackplane::new()).await;
    let (hub_a, hub_b, hub_c) = (&n[0].1, &n[1].1, &n[2].1);
    let mut on_a = n[0].0.connect("/chat").await;
    let mut on_b = n[1].0.connect("/chat").await;
    let mut on_c = n[2].0.connect("/chat").await;
    let (id_a, id_b, id_c) = (
        id_of(&mut on_a).await,
        id_of(&mut on_b).await,
        id_of(&mut on_c).await,
    );
    assert_eq!(id_b >> 40, hub_b.node());
    let (b0, c0) = (received(hub_b), received(hub_c));
    hub_a.to_sockets(&[id_b]).send("only b").unwrap();
    assert_eq!(on_b.recv_text().await, "only b");
    assert_eq!(received(hub_b) - b0, 1);
    assert_eq!(received(hub_c) - c0, 0);
    // One send to sockets on three nodes: one envelope per other node, and
    // the sender's own socket served locally.
    assert_eq!(
        hub_a.to_sockets(&[id_c, id_a, id_b]).send("all").unwrap(),
        1
    );
    for client in [&mut on_a, &mut on_b, &mut on_c] {
        assert_eq!(client.recv_text().await, "all");
    }
    assert_eq!(received(hub_b) - b0, 2);
    assert_eq!(received(hub_c) - c0, 1);
    assert_eq!(received(hub_a), 0);
    on_c.expect_nothing(QUIET).await;
}

/// A `MemoryBackplane` end that also checks the order of the hub's calls:
/// per topic they must alternate, subscribe first (two adjacent decisions
/// on one topic are always opposite, so any two told in the wrong order
/// show up as two subscribes or two unsubscribes in a row).
#[derive(Default)]
struct Checked {
    link: MemoryBackplane,
    subscribed: Mutex<std::collections::HashSet<Topic>>,
    calls: Arc<AtomicUsize>,
    out_of_order: Arc<AtomicUsize>,
}

impl Clone for Checked {
    /// Another app's end: its own subscriptions, the same counts.
    fn clone(&self) -> Checked {
        Checked {
            link: self.link.clone(),
            subscribed: Mutex::default(),
            calls: self.calls.clone(),
            out_of_order: self.out_of_order.clone(),
        }
    }
}

impl Checked {
    fn check(&self, topic: &Topic, on: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut subscribed = self.subscribed.lock().unwrap();
        let changed = if on {
            subscribed.insert(topic.clone())
        } else {
            subscribed.remove(topic)
        };
        if !changed {
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Backplane for Checked {
    fn publish(&self, envelope: Envelope) {
        self.link.publish(envelope);
    }
    fn start(&self, hub: Hub) {
        self.link.start(hub);
    }
    fn subscribe(&self, topic: Topic) {
        self.check(&topic, true);
        self.link.subscribe(topic);
    }
    fn unsubscribe(&self, topic: Topic) {
        self.check(&topic, false);
        self.link.unsubscribe(topic);
    }
}

/// Sixteen sockets join and leave one room 2000 times each, on threads of
/// their own, so first-member and last-member transitions race: the hub's
/// calls stay in order, the room ends empty and unsubscribed on B (no
/// envelope of r), and a new member is subscribed again (it gets the send).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joins_and_leaves_keep_the_subscriptions_in_order() {
    let checked = Checked::default();
    let (calls, out_of_order) = (checked.calls.clone(), checked.out_of_order.clone());
    let n = nodes(2, checked).await;
    let (hub_a, hub_b) = (&n[0].1, &n[1].1);
    let mut churners = Vec::new();
    for _ in 0..16 {
        churners.push(n[1].0.connect("/chat").await);
    }
    for client in &mut churners {
        client.send("churn r 2000").await;
    }
    for client in &mut churners {
        assert_eq!(client.recv_text().await, "churned");
    }
    assert!(
        calls.load(Ordering::Relaxed) > 100,
        "too few transitions to race"
    );
    assert_eq!(out_of_order.load(Ordering::Relaxed), 0);
    assert_eq!(hub_b.room_size("r"), 0);
    let start = received(hub_b);
    hub_a.to_room("r").send("nobody").unwrap();
    assert_eq!(received(hub_b), start, "B is still subscribed to r");
    let mut late = member(&n[1].0, "r").await;
    hub_a.to_room("r").send("late").unwrap();
    assert_eq!(late.recv_text().await, "late");
    assert_eq!(received(hub_b) - start, 1);
    for client in &mut churners {
        client.expect_nothing(Duration::from_millis(10)).await;
    }
}

/// A backplane written outside the crate with only `publish` and `start`:
/// the default subscribe/unsubscribe do nothing, and it delivers every
/// envelope to every other node, as before routing by interest.
#[derive(Clone, Default)]
struct Everything {
    hubs: Arc<Mutex<Vec<Hub>>>,
}

impl Backplane for Everything {
    fn publish(&self, envelope: Envelope) {
        let hubs = self.hubs.lock().unwrap().clone();
        for hub in hubs.iter().filter(|h| h.node() != envelope.origin) {
            hub.deliver(&envelope.target, &envelope.message, envelope.except);
        }
    }

    fn start(&self, hub: Hub) {
        self.hubs.lock().unwrap().push(hub);
    }
}

#[tokio::test]
async fn a_backplane_that_ignores_interest_still_delivers_everything() {
    let n = nodes(3, Everything::default()).await;
    let (hub_a, hub_b, hub_c) = (&n[0].1, &n[1].1, &n[2].1);
    let mut on_b = member(&n[1].0, "r").await;
    let id_b = id_of(&mut on_b).await;
    hub_a.to_room("r").send("room").unwrap();
    assert_eq!(on_b.recv_text().await, "room");
    hub_a.to_sockets(&[id_b]).send("direct").unwrap();
    assert_eq!(on_b.recv_text().await, "direct");
    // No interest: C, with no member, receives (and drops) both.
    assert_eq!(received(hub_c), 2);
    assert_eq!(received(hub_b), 2);
}

/// An app given a second backplane: the first lets go of it (its node
/// channel is unsubscribed), so a send to its socket through the first
/// reaches nothing, while the second delivers.
#[tokio::test]
async fn a_replaced_backplane_lets_go_of_the_app() {
    let (first, second) = (MemoryBackplane::new(), MemoryBackplane::new());
    let app = App::empty()
        .websocket::<Chat>()
        .backplane(first.clone())
        .backplane(second.clone());
    let server = TestServer::start(app).await;
    let on_first = nodes(1, first).await;
    let on_second = nodes(1, second).await;
    let mut client = server.connect("/chat").await;
    let id = id_of(&mut client).await;
    let hub = server.hub();

    on_first[0]
        .1
        .to_sockets(&[id])
        .send("through the first")
        .unwrap();
    on_second[0]
        .1
        .to_sockets(&[id])
        .send("through the second")
        .unwrap();
    assert_eq!(client.recv_text().await, "through the second");
    client.expect_nothing(QUIET).await;
    assert_eq!(received(&hub), 1, "the first delivered nothing");
}
