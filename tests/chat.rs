//! The chat example (examples/chat.rs) through the test client: a nickname
//! or room it cannot take is accepted and closed at once with a code from
//! 4000 up and a reason (what a browser can show; a refused handshake shows
//! only 1006), logged by the server; and its start-up log gives the page's
//! URL from the bound address. tests/browser.rs checks the page shows it.
//!
//! Recovery: every event carries its position (`epoch`, `offset`); a client
//! that comes back with `?since=<epoch>:<offset>` gets what it missed, in
//! order, then `resumed`; a `since` from a lost history resumes incomplete;
//! one that is not a position closes with 4004.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
mod chat_support;

use chat_support::{join, position};

use cheese_api::prelude::Json;
use cheese_api::testing::{Logs, TestClient, TestServer};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn logs() -> Logs {
    Logs::capture()
}

/// The first logged line that contains every one of `needles`, waiting up
/// to 5 s for it.
async fn logged(needles: &[&str]) -> String {
    logs().wait_for(needles).await
}

#[tokio::test]
async fn a_blank_or_missing_nickname_closes_with_4001_and_says_why() {
    logs();
    let server = TestServer::start(chat::app()).await;
    // The page trims the nickname, so a blank one arrives empty.
    for nick in [Some(""), Some("   "), None] {
        let mut request = server.request("/ws/lobby");
        if let Some(nick) = nick {
            request = request.query("nick", nick);
        }
        let client = request.connect().await.unwrap_or_else(|refused| {
            panic!("nick {nick:?}: accepted, then closed, not refused ({refused})")
        });
        assert_eq!(
            client.expect_close(4001).await,
            "a nickname is required",
            "nick {nick:?}"
        );
    }
    let line = logged(&["chat: turned down", "code=4001"]).await;
    assert!(line.contains("a nickname is required"), "{line}");
}

#[tokio::test]
async fn a_nickname_or_room_over_32_characters_closes_with_4002_or_4003() {
    let server = TestServer::start(chat::app()).await;
    // 32 characters of three bytes each: the limit counts characters.
    let longest = "奶".repeat(32);
    let too_long = "奶".repeat(33);
    let encoded = |n| "%E5%A5%B6".repeat(n); // "奶" in a path

    let client = server
        .request(&format!("/ws/{}", encoded(33)))
        .query("nick", "alice")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        client.expect_close(4003).await,
        "a room name is at most 32 characters"
    );

    let client = server
        .request("/ws/lobby")
        .query("nick", &too_long)
        .connect()
        .await
        .unwrap();
    assert_eq!(
        client.expect_close(4002).await,
        "a nickname is at most 32 characters"
    );

    let mut client = server
        .request(&format!("/ws/{}", encoded(32)))
        .query("nick", &longest)
        .connect()
        .await
        .unwrap();
    let joined: serde_json::Value = client.recv_json().await;
    assert_eq!(
        without_position(&joined),
        serde_json::json!({
            "type": "joined", "room": longest, "nick": longest, "members": 1, "nicks": [longest]
        })
    );
    client.close(1000, "").await;
}

#[tokio::test]
async fn one_turned_down_is_not_announced_to_the_room() {
    let server = TestServer::start(chat::app()).await;
    let mut alice = server
        .request("/ws/lobby")
        .query("nick", "alice")
        .connect()
        .await
        .unwrap();
    let joined: serde_json::Value = alice.recv_json().await;
    assert_eq!(joined["members"], 1);

    let blank = server
        .request("/ws/lobby")
        .query("nick", "")
        .connect()
        .await
        .unwrap();
    blank.expect_close(4001).await;
    // Neither a "joined" nor a "left" for it.
    alice.expect_nothing(Duration::from_millis(300)).await;
    alice.close(1000, "").await;
}

#[tokio::test]
async fn the_start_up_log_gives_the_page_url_from_the_bound_address() {
    logs();
    let app = chat::app().host("127.0.0.1").port(0);
    let stop = app.shutdown_handle();
    let running = tokio::spawn(app.run());

    // Port 0 binds a free port: only the real address can be in the line.
    let line = logged(&["cheese-api serving HTTP routes on http://127.0.0.1:"]).await;
    let url = line[line.find("http://").unwrap()..].trim_end();
    assert!(url.ends_with('/'), "{line}");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    assert_ne!(addr, "127.0.0.1:0", "{line}");
    let ws_line = logged(&["cheese-api serving /ws/<room:str> on ws://"]).await;
    assert!(ws_line.ends_with(&format!("ws://{addr}")), "{ws_line}");

    // And the page is there.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("the page within 5 s")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("<title>cheese-api chat</title>"),
        "{response}"
    );

    stop.shutdown();
    running.await.unwrap().unwrap();
}

/// Two chat nodes linked by a backplane (in memory here; through a real
/// Redis and a Redis Cluster in tests/redis_support/cases/example.rs):
/// "joined" and "left" count and name the members of both.
#[tokio::test]
async fn joined_and_left_carry_the_members_of_every_node() {
    let link = cheese_api::MemoryBackplane::new();
    let a = TestServer::start(chat::node().backplane(link.clone())).await;
    let b = TestServer::start(chat::node().backplane(link)).await;
    let join = |server: &TestServer, nick: &str| {
        server.request("/ws/fondue").query("nick", nick).connect()
    };

    let mut alice = join(&a, "alice").await.unwrap();
    let joined: serde_json::Value = alice.recv_json().await;
    assert_eq!(
        (joined["members"].clone(), joined["nicks"].clone()),
        (1.into(), serde_json::json!(["alice"]))
    );

    // Bob joins on the other node: both pages hear it with both names.
    let mut bob = join(&b, "bob").await.unwrap();
    for page in [&mut bob, &mut alice] {
        let joined: serde_json::Value = page.recv_json().await;
        assert_eq!(joined["nick"], "bob");
        assert_eq!(joined["members"], 2);
        assert_eq!(joined["nicks"], serde_json::json!(["alice", "bob"]));
    }

    // Alice leaves node A: bob, on node B, hears it with one member left.
    alice.close(1000, "").await;
    let left: serde_json::Value = bob.recv_json().await;
    assert_eq!(left["type"], "left");
    assert_eq!(left["nick"], "alice");
    assert_eq!(left["members"], 1);
    assert_eq!(left["nicks"], serde_json::json!(["bob"]));
    assert_eq!(b.hub().presence_count("fondue").await, Ok(1));
    bob.close(1000, "").await;
}

/// `event` without its position (which it must carry).
fn without_position(event: &Value) -> Value {
    position(event);
    let mut event = event.clone();
    let fields = event.as_object_mut().unwrap();
    fields.remove("epoch");
    fields.remove("offset");
    event
}

async fn say(client: &mut TestClient, text: &str) {
    client.send(Json(json!({ "text": text }))).await;
}

/// Alice drops out with `/drop` (closed with 1012); bob says three things;
/// alice comes back from the last event she saw and gets exactly what she
/// missed, in order, numbered one after the other, then `resumed`, then
/// her own "joined" live.
#[tokio::test]
async fn a_page_back_with_since_gets_what_it_missed_then_resumed() {
    let server = TestServer::start(chat::app()).await;
    let mut alice = join(&server, "brie", "alice", None).await;
    let own: Value = alice.recv_json().await;
    let mut bob = join(&server, "brie", "bob", None).await;
    let _: Value = bob.recv_json().await;
    let bob_joined: Value = alice.recv_json().await;
    assert_eq!(
        (&bob_joined["type"], &bob_joined["nick"]),
        (&json!("joined"), &json!("bob"))
    );
    assert_eq!(bob_joined["epoch"], own["epoch"], "one room, one epoch");
    assert_eq!(
        bob_joined["offset"].as_u64(),
        own["offset"].as_u64().map(|o| o + 1)
    );
    let since = position(&bob_joined);

    say(&mut alice, "/drop").await;
    assert_eq!(alice.expect_close(1012).await, "dropped on request (/drop)");
    let left: Value = bob.recv_json().await;
    assert_eq!(
        (&left["type"], &left["nick"]),
        (&json!("left"), &json!("alice"))
    );
    for n in 1..=3 {
        say(&mut bob, &format!("missed {n}")).await;
        let echo: Value = bob.recv_json().await;
        assert_eq!(echo["text"], format!("missed {n}"));
    }

    let mut alice = join(&server, "brie", "alice", Some(&since)).await;
    let mut missed = Vec::new();
    for _ in 0..4 {
        missed.push(alice.recv_json::<Value>().await);
    }
    let offsets: Vec<u64> = missed
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    let first = bob_joined["offset"].as_u64().unwrap() + 1;
    assert_eq!(
        offsets,
        (first..first + 4).collect::<Vec<_>>(),
        "{missed:?}"
    );
    assert_eq!(without_position(&missed[0]), without_position(&left));
    let texts: Vec<&Value> = missed[1..].iter().map(|e| &e["text"]).collect();
    assert_eq!(
        texts,
        [&json!("missed 1"), &json!("missed 2"), &json!("missed 3")]
    );
    assert!(
        missed.iter().all(|e| e["epoch"] == own["epoch"]),
        "{missed:?}"
    );

    let resumed: Value = alice.recv_json().await;
    assert_eq!(
        resumed,
        json!({"type": "resumed", "complete": true, "recovered": 4})
    );
    let joined: Value = alice.recv_json().await;
    assert_eq!(
        without_position(&joined),
        json!({"type": "joined", "room": "brie", "nick": "alice", "members": 2, "nicks": ["alice", "bob"]})
    );
    assert_eq!(joined["offset"].as_u64(), Some(first + 4));
    let for_bob: Value = bob.recv_json().await;
    assert_eq!(for_bob, joined);
    alice.expect_nothing(Duration::from_millis(200)).await;
    alice.close(1000, "").await;
    bob.close(1000, "").await;
}

/// A position from a history this server never had (the epoch of a
/// server since restarted): nothing to recover, `complete: false`, and the
/// page is still joined.
#[tokio::test]
async fn a_since_from_a_lost_history_resumes_incomplete() {
    let before = TestServer::start(chat::app()).await;
    let mut alice = join(&before, "gouda", "alice", None).await;
    let since = position(&alice.recv_json().await);
    alice.close(1000, "").await;

    let server = TestServer::start(chat::app()).await;
    let mut alice = join(&server, "gouda", "alice", Some(&since)).await;
    let resumed: Value = alice.recv_json().await;
    assert_eq!(
        resumed,
        json!({"type": "resumed", "complete": false, "recovered": 0})
    );
    let joined: Value = alice.recv_json().await;
    assert_eq!(
        (&joined["type"], &joined["members"]),
        (&json!("joined"), &json!(1))
    );
    assert_ne!(
        position(&joined).rsplit_once(':').unwrap().0,
        since.rsplit_once(':').unwrap().0,
        "a new epoch"
    );
    alice.close(1000, "").await;
}

#[tokio::test]
async fn a_since_that_is_not_a_position_closes_with_4004() {
    let server = TestServer::start(chat::app()).await;
    let mut bob = join(&server, "edam", "bob", None).await;
    let _: Value = bob.recv_json().await;
    for since in ["", "12", "epoch", "epoch:", "epoch:x", "epoch:-1"] {
        let client = join(&server, "edam", "alice", Some(since)).await;
        assert_eq!(
            client.expect_close(4004).await,
            "since is not <epoch>:<offset>",
            "since={since:?}"
        );
    }
    // Turned down before joining: the room hears nothing of it.
    bob.expect_nothing(Duration::from_millis(300)).await;
    bob.close(1000, "").await;
}
