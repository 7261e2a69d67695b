//! The history cases (issue 15) across Redis nodes, for both deployments:
//! the scenarios tests/history.rs runs in memory (a dropped client
//! recovers across nodes; rejoins racing publishes), and what only Redis
//! shows: the epoch moves when Redis loses the history (FLUSHALL, a restart
//! without persistence), an outage leaves a hole that recovery reports,
//! and the history keys are bounded and expire. Rooms `h:*` keep history.

use super::super::deploy::{Kind, Redis};
use super::super::history::{
    drop_and_recover, publish, publish_all, racing_rejoins, recv, recv_within, rejoin, try_publish,
    until_linked, witnesses, Msg, Rec,
};
use super::super::nodes::{history_node, until, wait_connected, Node, QUIET, SETTLE};
use super::prefix;
use cheese_api::{History, Position};
use std::time::Duration;
use tokio::time::Instant;

/// The room the cases use.
const ROOM: &str = "h:room";

/// Two nodes on `redis`, rooms `h:*` keeping `history`, both connected.
async fn two_nodes(redis: &Redis, prefix: &str, history: History) -> (Node, Node) {
    let a = history_node(redis, prefix, 0, history).await;
    let b = history_node(redis, prefix, 1, history).await;
    wait_connected(&[&a, &b]).await;
    (a, b)
}

/// A client drops its TCP connection on node A, 50 messages are published
/// on A and B in turn, it comes back on B with its last position: exactly
/// those 50, in order, then the live ones.
pub async fn history_recovers_a_dropped_client_across_nodes(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let (a, b) = two_nodes(&redis, &prefix, History::last(100)).await;
    drop_and_recover(&[&a.server, &b.server], ROOM).await;
}

/// 20 clients rejoin from their last position, each on the other node,
/// while a loop publishes on both: every stream gapless, no duplicate.
pub async fn history_rejoins_racing_publishes_across_nodes(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let (a, b) = two_nodes(&redis, &prefix, History::last(10_000)).await;
    racing_rejoins(&[&a.server, &b.server], ROOM, 20).await;
}

/// `FLUSHALL` on every master: the next message starts a new epoch from
/// offset 1, and a position of the old epoch is reported incomplete.
pub async fn history_epoch_changes_when_redis_is_flushed(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let (a, b) = two_nodes(&redis, &prefix, History::last(100)).await;
    let (mut stayed, before) = witnesses(&[&a.server, &b.server], ROOM).await;

    redis.flushall().await;
    let after = Msg::new("after", &publish(&a.hub, ROOM, "after").await);
    assert_ne!(after.at().epoch, before.epoch, "the history was lost");
    assert_eq!(after.at().offset, 1, "a new epoch counts from 1");
    for member in &mut stayed {
        assert_eq!(recv(member).await, after);
    }
    let mut late = b.server.connect("/chat").await;
    let (got, answer) = rejoin(&mut late, ROOM, &before).await;
    assert!(!answer.complete, "{answer:?}");
    assert!(
        got.iter().all(|m| *m == after),
        "only the new epoch: {got:?}"
    );
    // The new epoch recovers like the old one did.
    let mut next = a.server.connect("/chat").await;
    let (got, answer) = rejoin(&mut next, ROOM, after.at()).await;
    let nothing_missed = Rec {
        complete: true,
        recovered: 0,
        position: after.at.clone(),
    };
    assert_eq!((got, answer), (vec![], nothing_missed));
}

/// Redis killed: a publish to a history room still reaches this node's
/// members (and a plain send too), with a position of the node's own epoch
/// (a hole), and resuming from it, or from before the outage, is
/// incomplete. Redis restarted empty: a new epoch, and neither position
/// recovers.
pub async fn history_outage_reaches_local_members_with_a_hole_then_a_new_epoch(
    kind: Kind,
    test: &str,
) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let mut redis = Redis::started(kind).await;
    let (a, b) = two_nodes(&redis, &prefix, History::last(100)).await;
    let hubs = [a.hub.clone(), b.hub.clone()];
    let (mut stayed, before) = witnesses(&[&a.server, &b.server], ROOM).await;

    redis.kill();
    // A send in flight when Redis went away fails and reaches no one
    // (whether Redis numbered it is unknown); once the node knows, history
    // sends reach its members.
    let deadline = Instant::now() + SETTLE;
    let during = loop {
        let published = tokio::time::timeout(SETTLE, try_publish(&a.hub, ROOM, "during"))
            .await
            .expect("publish returns while Redis is down");
        match recv_within(&mut stayed[0], QUIET).await {
            Some(during) => {
                assert_eq!(during.text, "during");
                if let Ok(at) = &published {
                    assert_eq!(at, during.at(), "publish returned the position it built");
                }
                break during;
            }
            None => assert!(published.is_err(), "{published:?} but delivered to no one"),
        }
        assert!(
            Instant::now() < deadline,
            "no history send reached a local member"
        );
    };
    assert_ne!(during.at().epoch, before.epoch, "a hole: this node's epoch");
    a.hub.to_room(ROOM).send("plain-during").unwrap();
    assert_eq!(recv(&mut stayed[0]).await, Msg::plain("plain-during"));
    stayed[1].expect_nothing(QUIET).await;
    for since in [during.at(), &before] {
        let mut resumer = a.server.connect("/chat").await;
        let (_, answer) = tokio::time::timeout(SETTLE, rejoin(&mut resumer, ROOM, since))
            .await
            .expect("join_since returns while Redis is down");
        assert!(
            !answer.complete,
            "since {since} while Redis is down: {answer:?}"
        );
    }

    redis.start().await;
    wait_connected(&[&a, &b]).await;
    let after = until_linked(&hubs, &mut stayed, ROOM).await;
    assert_ne!(after.epoch, before.epoch, "Redis came back empty");
    assert_ne!(after.epoch, during.at().epoch);
    for since in [during.at(), &before] {
        let mut resumer = b.server.connect("/chat").await;
        let (_, answer) = rejoin(&mut resumer, ROOM, since).await;
        assert!(
            !answer.complete,
            "since {since} after the restart: {answer:?}"
        );
    }
}

/// After 3n sends the room's stream holds n entries; the stream and its
/// meta key expire `ttl` after the last message (PTTL), and are gone once
/// it passed; the next message starts a new epoch.
pub async fn history_keys_are_bounded_and_expire(kind: Kind, test: &str) {
    const N: usize = 5;
    const TTL: Duration = Duration::from_secs(2);
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let a = history_node(&redis, &prefix, 0, History::last(N).ttl(TTL)).await;
    wait_connected(&[&a]).await;
    let texts: Vec<String> = (1..=3 * N).map(|k| format!("m-{k}")).collect();
    let sent = publish_all(std::slice::from_ref(&a.hub), ROOM, &texts).await;
    let published = Instant::now();

    let stream = format!("{prefix}:history:{{{ROOM}}}");
    let meta = format!("{prefix}:history-meta:{{{ROOM}}}");
    let xlen = redis.command(&["XLEN", &stream]).await.unwrap();
    assert_eq!(xlen, [N.to_string()], "XLEN {stream}");
    for key in [&stream, &meta] {
        let pttl = redis.command(&["PTTL", key]).await.unwrap();
        let pttl: i64 = pttl[0].parse().unwrap();
        assert!(
            pttl > 0 && pttl <= TTL.as_millis() as i64,
            "PTTL {key}: {pttl}"
        );
    }
    assert!(
        published.elapsed() < TTL,
        "checked too late to mean anything"
    );
    // Recovery agrees: from offset 0, only the last N.
    let mut client = a.server.connect("/chat").await;
    let start = Position {
        epoch: sent[0].at().epoch.clone(),
        offset: 0,
    };
    let (got, answer) = rejoin(&mut client, ROOM, &start).await;
    assert_eq!(got, sent[2 * N..]);
    assert!(!answer.complete && answer.recovered == N, "{answer:?}");

    tokio::time::sleep_until(published + TTL).await;
    until("the history keys expire", || async {
        let left = redis.command(&["EXISTS", &stream, &meta]).await?;
        (left == ["0"]).then_some(()).ok_or(format!("{left:?}"))
    })
    .await;
    assert!(
        published.elapsed() < TTL + Duration::from_secs(1),
        "gone only {:?} after the last message (TTL {TTL:?})",
        published.elapsed()
    );
    let next = publish(&a.hub, ROOM, "next").await;
    assert_ne!(next.epoch, start.epoch, "the history expired: a new epoch");
}
