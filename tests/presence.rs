//! Issue 14: presence without Redis. One app answers from its own memory;
//! apps linked by a `MemoryBackplane` answer for all of them; an outside
//! backplane that keeps no presence makes `presence` an error, never a
//! wrong answer. Real servers and clients; tests/redis.rs has the same
//! across processes through Redis.

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use cheese_api::{Backplane, Envelope, MemoryBackplane, PresenceError};
use serde_json::json;

/// `join ROOM`, `as ROOM NICK` (join with info), `leave ROOM`, `id`; each
/// answers `ok` (or the id) once done.
#[derive(Default)]
struct Lobby;

#[websocket("/lobby")]
impl Lobby {
    async fn message(&mut self, message: String) {
        let words: Vec<&str> = message.split(' ').collect();
        match words[..] {
            ["join", room] => self.join(room),
            ["as", room, nick] => self.join_with(room, json!({ "nick": nick })).unwrap(),
            ["leave", room] => self.leave(room),
            _ => {}
        }
        let _ = self.send(self.socket().id().to_string()).await;
    }
}

/// Sends `command`; returns the connection's id once it was carried out.
async fn run(client: &mut TestClient, command: &str) -> u64 {
    client.send(command).await;
    client.recv_text().await.parse().unwrap()
}

fn lobby() -> App {
    App::empty().websocket::<Lobby>()
}

#[tokio::test]
async fn one_node_answers_from_memory_with_info() {
    let server = TestServer::start(lobby()).await;
    let hub = server.hub();
    let mut ann = server.connect("/lobby").await;
    let mut bob = server.connect("/lobby").await;
    let ann_id = run(&mut ann, "as brie ann").await;
    let bob_id = run(&mut bob, "join brie").await;

    let mut expected = vec![
        Member::new(ann_id, json!({ "nick": "ann" })),
        Member::new(bob_id, serde_json::Value::Null),
    ];
    expected.sort_by_key(|m| m.id);
    assert_eq!(hub.presence("brie").await.unwrap(), expected);
    assert_eq!(hub.presence_count("brie").await, Ok(2));
    assert_eq!(expected[0].node, hub.node());

    // Joining again replaces the info; leaving and disconnecting remove.
    run(&mut bob, "as brie bob").await;
    let bob_now = hub.presence("brie").await.unwrap();
    assert!(bob_now.contains(&Member::new(bob_id, json!({ "nick": "bob" }))));
    run(&mut ann, "leave brie").await;
    assert_eq!(hub.presence_count("brie").await, Ok(1));
    bob.close(1000, "").await;
    ann.close(1000, "").await;
    while hub.connections() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(hub.presence("brie").await, Ok(vec![]));
}

#[tokio::test]
async fn linked_apps_answer_for_all_of_them() {
    let link = MemoryBackplane::new();
    let a = TestServer::start(lobby().backplane(link.clone())).await;
    let b = TestServer::start(lobby().backplane(link)).await;
    let mut ann = a.connect("/lobby").await;
    let mut bob = b.connect("/lobby").await;
    let ann_id = run(&mut ann, "as comte ann").await;
    let bob_id = run(&mut bob, "as comte bob").await;

    let mut both = vec![
        Member::new(ann_id, json!({ "nick": "ann" })),
        Member::new(bob_id, json!({ "nick": "bob" })),
    ];
    both.sort_by_key(|m| m.id);
    for hub in [a.hub(), b.hub()] {
        assert_eq!(hub.presence("comte").await.unwrap(), both);
        assert_eq!(hub.presence_count("comte").await, Ok(2));
    }
    assert_ne!(both[0].node, both[1].node, "one member on each node");

    // A disconnect on B shows on A.
    bob.close(1000, "").await;
    while b.hub().connections() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        a.hub().presence("comte").await.unwrap(),
        [Member::new(ann_id, json!({ "nick": "ann" }))]
    );
    ann.close(1000, "").await;
}

/// A backplane written outside the crate with only `publish` and `start`.
struct Bare;

impl Backplane for Bare {
    fn publish(&self, _: Envelope) {}
    fn start(&self, _: Hub) {}
}

#[tokio::test]
async fn a_backplane_without_presence_says_so() {
    let server = TestServer::start(lobby().backplane(Bare)).await;
    let mut ann = server.connect("/lobby").await;
    run(&mut ann, "as gouda ann").await;
    // This node alone has one member, but the app has others it cannot
    // see: an error, not 1.
    assert_eq!(
        server.hub().presence_count("gouda").await,
        Err(PresenceError::Unsupported)
    );
    assert_eq!(
        server.hub().presence("gouda").await,
        Err(PresenceError::Unsupported)
    );
    ann.close(1000, "").await;
}
