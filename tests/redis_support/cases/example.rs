//! The chat example itself (examples/chat.rs, the app `CHEESE_REDIS_URL`
//! gives a backplane) on two nodes through Redis: "joined" and "left" count
//! and name the members of both nodes, and a page that drops on one node
//! and comes back on the other gets what it missed, then `resumed`.

#[path = "../../../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "../../chat_support/mod.rs"]
mod chat_support;

use chat_support::{join, position};

use super::super::deploy::{Kind, Redis};
use super::super::nodes::{backplane, until, wait_connected, Node};
use super::prefix;
use cheese_api::prelude::Json;
use cheese_api::testing::{TestClient, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const ROOM: &str = "raclette";

/// A page of the example in `ROOM` as `nick`, from `since` if given.
async fn page(server: &TestServer, nick: &str, since: Option<&str>) -> TestClient {
    join(server, ROOM, nick, since).await
}

/// The next event with `type`, skipping none: the type must match.
async fn next(client: &mut TestClient, kind: &str) -> Value {
    let event: Value = client.recv_json().await;
    assert_eq!(event["type"], kind, "{event}");
    event
}

/// Alice on node A, bob on node B: both pages count and name both; alice
/// drops (`/drop`), bob says three things on B, alice comes back on B from
/// her last event and gets exactly the left event and those three, in
/// order, then `resumed` complete; bob leaving is counted on the other node.
pub async fn the_chat_example_counts_names_and_resumes_across_nodes(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let node = |nth| {
        let backplane = backplane(&redis, &prefix, nth);
        Node::serve(chat::node().backplane(backplane.clone()), backplane)
    };
    let (a, b) = (node(0).await, node(1).await);
    wait_connected(&[&a, &b]).await;

    let mut alice = page(&a.server, "alice", None).await;
    let joined = next(&mut alice, "joined").await;
    assert_eq!(
        (&joined["members"], &joined["nicks"]),
        (&json!(1), &json!(["alice"]))
    );
    // B sees alice (her presence is written after her room's subscription).
    until("node B counts alice", || async {
        match b.hub.presence_count(ROOM).await {
            Ok(1) => Ok(()),
            other => Err(other),
        }
    })
    .await;

    let mut bob = page(&b.server, "bob", None).await;
    let bob_joined = next(&mut bob, "joined").await;
    assert_eq!(
        next(&mut alice, "joined").await,
        bob_joined,
        "one event, both nodes"
    );
    assert_eq!(
        (
            &bob_joined["nick"],
            &bob_joined["members"],
            &bob_joined["nicks"]
        ),
        (&json!("bob"), &json!(2), &json!(["alice", "bob"]))
    );
    let since = position(&bob_joined);

    alice.send(Json(json!({ "text": "/drop" }))).await;
    assert_eq!(alice.expect_close(1012).await, "dropped on request (/drop)");
    let left = next(&mut bob, "left").await;
    assert_eq!(
        (&left["nick"], &left["members"], &left["nicks"]),
        (&json!("alice"), &json!(1), &json!(["bob"]))
    );
    let mut said = vec![left];
    for n in 1..=3 {
        bob.send(Json(json!({ "text": format!("missed {n}") })))
            .await;
        said.push(next(&mut bob, "message").await);
    }

    // Back on the other node, from the last event she saw.
    let mut alice = page(&b.server, "alice", Some(&since)).await;
    let mut missed = Vec::new();
    for _ in 0..said.len() {
        missed.push(alice.recv_json::<Value>().await);
    }
    assert_eq!(
        missed, said,
        "what she missed, in order, positions included"
    );
    let first = bob_joined["offset"].as_u64().unwrap() + 1;
    let offsets: Vec<_> = missed
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, (first..first + 4).collect::<Vec<_>>());
    assert_eq!(
        alice.recv_json::<Value>().await,
        json!({"type": "resumed", "complete": true, "recovered": 4})
    );
    let back = next(&mut alice, "joined").await;
    assert_eq!(
        (&back["members"], &back["nicks"]),
        (&json!(2), &json!(["alice", "bob"]))
    );
    assert_eq!(next(&mut bob, "joined").await, back);

    // Bob leaves: alice, back on B, hears it with one member left.
    bob.close(1000, "").await;
    let left = next(&mut alice, "left").await;
    assert_eq!(
        (&left["nick"], &left["members"]),
        (&json!("bob"), &json!(1))
    );
    alice.expect_nothing(Duration::from_millis(200)).await;
    alice.close(1000, "").await;
}
