//! Issue 15 without Redis: room history and recovery on one app and on two
//! apps linked by a `MemoryBackplane`, with real servers and clients. A
//! client that dropped its connection gets exactly what it missed, also
//! while publishes race its rejoin; a position older than what is kept, or
//! of an expired history, is reported incomplete; the history keeps at most
//! `n`; plain sends are numbered too; `Position` is written `epoch:offset`.
//!
//! The app is the Redis tests' chat app (tests/redis_support/chat.rs:
//! `join`, `since ROOM EPOCH:OFFSET`, `id`), with history for rooms `h:*`;
//! the scenarios shared with the Redis tests are in tests/history_support/.
//! The same scenarios across Redis nodes: tests/redis.rs and
//! tests/redis_cluster.rs.

#[path = "redis_support/chat.rs"]
mod chat;
mod history_support;

use chat::Chat;
use cheese_api::prelude::*;
use cheese_api::testing::TestServer;
use cheese_api::{History, MemoryBackplane, Position};
use history_support::{
    drop_and_recover, hubs, member, publish, publish_all, racing_rejoins, recv, rejoin,
    try_publish, Msg, Rec, QUIET,
};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// A room with history (it matches `h:*`).
const ROOM: &str = "h:room";

/// `nodes` apps serving the chat app with `history` for rooms `h:*`; more
/// than one are linked by a `MemoryBackplane`.
async fn start(nodes: usize, history: History) -> Vec<TestServer> {
    let link = MemoryBackplane::new();
    let mut servers = Vec::new();
    for _ in 0..nodes {
        let mut app = App::empty().websocket::<Chat>().history("h:*", history);
        if nodes > 1 {
            app = app.backplane(link.clone());
        }
        servers.push(TestServer::start(app).await);
    }
    servers
}

fn refs(servers: &[TestServer]) -> Vec<&TestServer> {
    servers.iter().collect()
}

/// `$name(nodes)` as two tests, `$name::one_node` and `$name::linked_apps`
/// (two apps), with the `#[tokio::test]` arguments given after the name.
macro_rules! on_one_node_and_linked {
    ($name:ident $(, $($arg:tt)*)?) => {
        mod $name {
            #[tokio::test $(($($arg)*))?]
            async fn one_node() {
                super::$name(1).await;
            }
            #[tokio::test $(($($arg)*))?]
            async fn linked_apps() {
                super::$name(2).await;
            }
        }
    };
}

async fn a_dropped_client_recovers_exactly_what_it_missed(nodes: usize) {
    let servers = start(nodes, History::last(100)).await;
    drop_and_recover(&refs(&servers), ROOM).await;
}
on_one_node_and_linked!(a_dropped_client_recovers_exactly_what_it_missed);

async fn rejoins_racing_publishes_are_gapless(nodes: usize) {
    let servers = start(nodes, History::last(10_000)).await;
    racing_rejoins(&refs(&servers), ROOM, 20).await;
}
on_one_node_and_linked!(
    rejoins_racing_publishes_are_gapless,
    flavor = "multi_thread",
    worker_threads = 2
);

/// `History::last(10)`, 30 sent: from the 20th on everything is kept; from
/// the 19th or the 5th not (the kept 10 still come, and the live ones).
async fn a_position_older_than_the_history_is_incomplete(nodes: usize) {
    let servers = start(nodes, History::last(10)).await;
    let hubs = hubs(&refs(&servers));
    let texts: Vec<String> = (1..=30).map(|k| format!("m-{k}")).collect();
    let sent = publish_all(&hubs, ROOM, &texts).await;
    let kept = &sent[20..];
    let mut clients = Vec::new();
    for (nth, complete) in [(20, true), (19, false), (5, false)] {
        let mut client = servers[nodes - 1].connect("/chat").await;
        let (got, answer) = rejoin(&mut client, ROOM, sent[nth - 1].at()).await;
        assert_eq!(got, kept, "since the {nth}th: the kept ones, in order");
        let expected = Rec {
            complete,
            recovered: 10,
            position: sent[29].at.clone(),
        };
        assert_eq!(answer, expected, "since the {nth}th");
        clients.push(client);
    }
    // Joined anyway: the live ones come.
    let live = Msg::new("live", &publish(&hubs[0], ROOM, "live").await);
    for client in &mut clients {
        assert_eq!(recv(client).await, live);
        client.expect_nothing(Duration::from_millis(10)).await;
    }
}
on_one_node_and_linked!(a_position_older_than_the_history_is_incomplete);

/// `History::last(N)`: from offset 0 of the epoch, N sent are all there;
/// N + 1 and 3N sent: only the last N, and incomplete.
async fn the_history_keeps_at_most_n(nodes: usize) {
    const N: usize = 5;
    let servers = start(nodes, History::last(N)).await;
    let hubs = hubs(&refs(&servers));
    let texts: Vec<String> = (1..=3 * N).map(|k| format!("m-{k}")).collect();
    let mut sent = Vec::new();
    for (upto, complete) in [(N, true), (N + 1, false), (3 * N, false)] {
        sent.extend(publish_all(&hubs, ROOM, &texts[sent.len()..upto]).await);
        assert_eq!(sent[0].at().offset, 1, "the first message is offset 1");
        let start = Position {
            epoch: sent[0].at().epoch.clone(),
            offset: 0,
        };
        let mut client = servers[0].connect("/chat").await;
        let (got, answer) = rejoin(&mut client, ROOM, &start).await;
        assert_eq!(got, sent[upto - N..], "the last {N} of {upto}");
        let expected = Rec {
            complete,
            recovered: N,
            position: sent[upto - 1].at.clone(),
        };
        assert_eq!(answer, expected, "{upto} sent");
    }
    history_support::assert_gapless(&sent, "the positions publish returned");
    for hub in &hubs {
        assert_eq!(hub.position(ROOM).await.unwrap(), sent[3 * N - 1].at);
    }
}
on_one_node_and_linked!(the_history_keeps_at_most_n);

/// With a TTL, a position is recoverable until its messages are older than
/// the TTL; then it is incomplete, and the next message starts a new
/// epoch.
async fn messages_older_than_the_ttl_are_gone(nodes: usize) {
    const TTL: Duration = Duration::from_millis(500);
    let servers = start(nodes, History::last(100).ttl(TTL)).await;
    let hubs = hubs(&refs(&servers));
    let texts = ["a", "b", "c"].map(str::to_owned);
    let sent = publish_all(&hubs, ROOM, &texts).await;
    let published = Instant::now();

    let mut client = servers[nodes - 1].connect("/chat").await;
    let (got, answer) = rejoin(&mut client, ROOM, sent[0].at()).await;
    assert!(
        published.elapsed() < TTL,
        "checked too late to mean anything"
    );
    assert_eq!(got, sent[1..]);
    assert!(answer.complete && answer.recovered == 2, "{answer:?}");

    tokio::time::sleep_until(published + TTL + Duration::from_millis(200)).await;
    let mut late = servers[nodes - 1].connect("/chat").await;
    let (got, answer) = rejoin(&mut late, ROOM, sent[0].at()).await;
    assert_eq!(got, [], "nothing older than the TTL");
    assert!(!answer.complete && answer.recovered == 0, "{answer:?}");
    let next = Msg::new("d", &publish(&hubs[0], ROOM, "d").await);
    assert_ne!(next.at().epoch, sent[0].at().epoch, "a new epoch");
    assert_eq!(recv(&mut late).await, next, "joined anyway");
    assert_eq!(recv(&mut client).await, next);
}
on_one_node_and_linked!(messages_older_than_the_ttl_are_gone);

/// A plain `send` to a history room is numbered and kept like a publish
/// (it carries no position itself); `except` leaves one member out of a
/// publish, not of the history.
async fn plain_sends_are_numbered_and_recovered(nodes: usize) {
    let servers = start(nodes, History::last(100)).await;
    let hubs = hubs(&refs(&servers));
    let (mut ann, ann_id) = member(&servers[0], ROOM).await;
    let (mut bob, _) = member(&servers[nodes - 1], ROOM).await;
    for hub in &hubs {
        assert_eq!(hub.position(ROOM).await.unwrap(), None, "nothing sent yet");
    }
    let first = Msg::new("first", &publish(&hubs[0], ROOM, "first").await);
    let mut missed = Vec::new();
    for client in [&mut ann, &mut bob] {
        assert_eq!(recv(client).await, first);
    }
    // One after the other, each from a node of its own.
    for (k, hub) in hubs.iter().cycle().take(2).enumerate() {
        let plain = Msg::plain(&format!("plain-{k}"));
        hub.to_room(ROOM).send(plain.text.clone()).unwrap();
        for client in [&mut ann, &mut bob] {
            assert_eq!(recv(client).await, plain);
        }
        missed.push(plain);
    }
    let at = hubs[0]
        .to_room(ROOM)
        .except(ann_id)
        .publish(|at| Json(json!({ "text": "not-ann", "epoch": at.epoch, "offset": at.offset })))
        .await
        .unwrap();
    assert_eq!(
        at.offset,
        first.at().offset + 3,
        "the plain sends were numbered"
    );
    let not_ann = Msg::new("not-ann", &at);
    assert_eq!(recv(&mut bob).await, not_ann);
    ann.expect_nothing(QUIET).await;
    for hub in &hubs {
        assert_eq!(hub.position(ROOM).await.unwrap(), Some(at.clone()));
    }

    let mut cid = servers[nodes - 1].connect("/chat").await;
    let (got, answer) = rejoin(&mut cid, ROOM, first.at()).await;
    missed.push(not_ann);
    assert_eq!(got, missed, "the plain sends too");
    let whole = Rec {
        complete: true,
        recovered: 3,
        position: Some(at),
    };
    assert_eq!(answer, whole);
}
on_one_node_and_linked!(plain_sends_are_numbered_and_recovered);

/// `publish` needs a room with history; `join_since` on a room without
/// joins anyway and says the recovery is incomplete.
#[tokio::test]
async fn a_room_without_history_has_no_positions() {
    let servers = start(1, History::last(10)).await;
    let hub = servers[0].hub();
    let refused = try_publish(&hub, "plain", "x").await;
    assert!(
        matches!(&refused, Err(SendError::NoHistory(what)) if what.contains("plain")),
        "{refused:?}"
    );
    let refused = hub.to_route("/chat").publish(|_| "x").await;
    assert!(
        matches!(refused, Err(SendError::NoHistory(_))),
        "{refused:?}"
    );
    assert!(matches!(
        hub.position("plain").await,
        Err(SendError::NoHistory(_))
    ));

    let somewhere = Position {
        epoch: "e".into(),
        offset: 5,
    };
    let nothing = Rec {
        complete: false,
        recovered: 0,
        position: None,
    };
    let mut client = servers[0].connect("/chat").await;
    let (got, answer) = rejoin(&mut client, "plain", &somewhere).await;
    assert_eq!((got, answer), (vec![], nothing.clone()));
    assert_eq!(hub.to_room("plain").send("hello").unwrap(), 1, "joined");
    assert_eq!(recv(&mut client).await, Msg::plain("hello"));

    // A history room before its first message: no position yet, and a
    // position from elsewhere is not recoverable.
    assert_eq!(hub.position(ROOM).await.unwrap(), None);
    let (got, answer) = rejoin(&mut client, ROOM, &somewhere).await;
    assert_eq!((got, answer), (vec![], nothing));
}

#[test]
fn a_position_is_written_epoch_colon_offset() {
    let position = Position {
        epoch: "k3x9".into(),
        offset: 42,
    };
    assert_eq!(position.to_string(), "k3x9:42");
    assert_eq!("k3x9:42".parse::<Position>().unwrap(), position);
    assert_eq!(
        serde_json::to_value(&position).unwrap(),
        json!({ "epoch": "k3x9", "offset": 42 })
    );
    // The offset is after the last ':'.
    let colons = Position {
        epoch: "a:b".into(),
        offset: u64::MAX,
    };
    assert_eq!(colons.to_string().parse::<Position>().unwrap(), colons);
    for bad in [
        "",
        "k3x9",
        "k3x9:",
        "k3x9:x",
        "k3x9:-1",
        "k3x9:1.5",
        "k3x9: 1",
        "k3x9:18446744073709551616",
        "42",
    ] {
        assert!(bad.parse::<Position>().is_err(), "{bad:?} parsed");
    }
    let error = "nope".parse::<Position>().unwrap_err().to_string();
    assert!(error.contains("nope"), "{error}");
}
