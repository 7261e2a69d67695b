//! The Redis tests' bodies, written once for both deployments: each takes
//! the [`Kind`] it runs against and its own name (the SKIPPED line, and the
//! channel prefix that keeps its channels, keys and log lines its own).
//! tests/redis.rs and tests/redis_cluster.rs instantiate them
//! ([`deployment_tests!`](super::deployment_tests)). The history cases
//! (issue 15) are in `recovery`, the chat example's own in `example`.

mod example;
mod recovery;
pub use example::*;
pub use recovery::*;

use super::deploy::{self, Kind, Redis};
use super::nodes::{
    backplane, channels, chat_app, check_cross_node, id_of, members, presence, until,
    until_cross_node, until_delivered, wait_channels, wait_connected, wait_presence, ChildNode,
    Counts, Node, QUIET,
};
use cheese_api::testing::TestClient;
use cheese_api::{Hub, PresenceError, RedisBackplane};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The test's channel prefix, or `None` (after a SKIPPED line) when the
/// deployment cannot run here.
fn prefix(kind: Kind, test: &str) -> Option<String> {
    deploy::available(kind, test).then(|| format!("cheese-test-{test}"))
}

/// Room "cheese" on two nodes: on A a member (after `join_a`) and a
/// connection outside it, on B a member (after `join_b`); returned once
/// Redis lists every channel they need (the room's, the route's, each
/// node's).
async fn cheese_on_both(
    redis: &Redis,
    prefix: &str,
    (a, join_a): (&Node, &str),
    (b, join_b): (&Node, &str),
) -> ((TestClient, u64), TestClient, (TestClient, u64)) {
    let a1 = a.client(&[join_a]).await;
    let (a2, _) = a.client(&[]).await;
    let b1 = b.client(&[join_b]).await;
    let nodes = [a.hub.node(), b.hub.node()];
    let all = channels(prefix, &[("cheese", 2)], &[("/chat", 2)], &nodes);
    wait_channels(redis, prefix, &all).await;
    (a1, a2, b1)
}

/// Two nodes, a room with a member on each: room, route and socket-id
/// sends cross over once each, once every subscription shows in Redis.
pub async fn two_nodes_deliver_room_route_and_socket_sends_once(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;
    wait_connected(&[&a, &b]).await;

    let ((mut a1, a1_id), mut a2, (mut b1, b1_id)) =
        cheese_on_both(&redis, &prefix, (&a, "join cheese"), (&b, "join cheese")).await;
    check_cross_node((&mut a1, a1_id), &mut a2, (&mut b1, b1_id), "once").await;
    assert_eq!(a.backplane.dropped() + b.backplane.dropped(), 0);
}

/// One channel per room with a member on some node, gone once the room's
/// last member left or disconnected; a route's likewise; one per node
/// always.
pub async fn one_channel_per_room_with_members(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;
    let both = [a.hub.node(), b.hub.node()];
    wait_channels(&redis, &prefix, &channels(&prefix, &[], &[], &both)).await;

    let (mut a1, _) = a.client(&["join a"]).await;
    let (a2, _) = a.client(&["join a"]).await;
    let (mut a3, _) = a.client(&["join b"]).await;
    let (b1, _) = b.client(&[]).await; // on the route, in no room
    let rooms = [("a", 1), ("b", 1)];
    wait_channels(
        &redis,
        &prefix,
        &channels(&prefix, &rooms, &[("/chat", 2)], &both),
    )
    .await;

    // a1 leaves `a`, a2 stays in it; then a3 leaves `b`. Once `b`'s channel
    // is gone, the hub has told the backplane everything before it: `a`'s
    // channel must still be there.
    a1.send("leave a").await;
    id_of(&mut a1).await;
    a3.send("leave b").await;
    id_of(&mut a3).await;
    let only_a = channels(&prefix, &[("a", 1)], &[("/chat", 2)], &both);
    wait_channels(&redis, &prefix, &only_a).await;

    // The last member of `a` disconnects.
    drop(a2);
    let no_room = channels(&prefix, &[], &[("/chat", 2)], &both);
    wait_channels(&redis, &prefix, &no_room).await;

    // The last `/chat` connections of A end: the route's channel has B only.
    drop((a1, a3));
    let b_only = channels(&prefix, &[], &[("/chat", 1)], &both);
    wait_channels(&redis, &prefix, &b_only).await;
    drop(b1);
    wait_channels(&redis, &prefix, &channels(&prefix, &[], &[], &both)).await;
}

/// A node with no member of room `r` receives none of `r`'s envelopes.
/// Node A sends to `r`, node C (a member) gets every send; node B holds a
/// member of `other` only. A marker sent to `other` after the `r` sends
/// reaches B: by then one channel for everything (the design before issue
/// 14) would have brought B the `r` sends too, and B's counter shows the
/// marker alone. The nodes are made ready by probes, not by looking at the
/// channels, so that under the old design this counter is what fails.
pub async fn a_node_without_members_of_a_room_receives_none_of_it(kind: Kind, test: &str) {
    const N: u64 = 50;
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;
    let c = Node::start(backplane(&redis, &prefix, 2)).await;
    let (mut a1, _) = a.client(&["join r"]).await;
    let (mut b1, _) = b.client(&["join other"]).await;
    let (mut c1, _) = c.client(&["join r"]).await;
    until_cross_node(&mut a1, &mut c1, "r").await;
    until_delivered(&a.hub, "other", &mut b1).await;

    let (b0, c0) = (b.received(), c.received());
    for i in 0..N {
        assert_eq!(a.hub.to_room("r").send(format!("r-{i}")).unwrap(), 1);
    }
    // Every send, in order (one node's sends on one channel keep theirs).
    let sent: Vec<String> = (0..N).map(|i| format!("r-{i}")).collect();
    let mut on_a = Vec::new();
    let mut on_c = Vec::new();
    for _ in 0..N {
        on_a.push(a1.recv_text().await);
        on_c.push(c1.recv_text().await);
    }
    assert_eq!(on_a, sent, "A, locally");
    assert_eq!(on_c, sent, "C, a member of r on another node");
    a.hub.to_room("other").send("marker").unwrap();
    assert_eq!(b1.recv_text().await, "marker");
    assert_eq!(b.received() - b0, 1, "B got the marker and none of r's {N}");
    // And none later either (sharded, r's channel may ride another master).
    tokio::time::sleep(QUIET).await;
    assert_eq!(b.received() - b0, 1, "B got none of r's {N}, even late");
    assert_eq!(c.received() - c0, N, "C got r's sends and not the marker");
    b1.expect_nothing(Duration::from_millis(10)).await;
    c1.expect_nothing(Duration::from_millis(10)).await;
    // What Redis shows agrees: `r` has two subscribers (A, C), `other` one.
    let nodes = [a.hub.node(), b.hub.node(), c.hub.node()];
    let expected = channels(&prefix, &[("r", 2), ("other", 1)], &[("/chat", 3)], &nodes);
    wait_channels(&redis, &prefix, &expected).await;
}

/// Presence lists the members of a room on every node, with their node and
/// info, the same on both nodes; a leave and a disconnect show on the other.
pub async fn presence_spans_nodes_with_info(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;
    let (na, nb) = (a.hub.node(), b.hub.node());
    wait_connected(&[&a, &b]).await;
    let hubs = [&a.hub, &b.hub];

    let (a1, a1_id) = a.client(&["nick lobby ann"]).await;
    let (mut b1, b1_id) = b.client(&["nick lobby bob"]).await;
    let ann = (a1_id, na, json!({ "nick": "ann" }));
    let bob = (b1_id, nb, json!({ "nick": "bob" }));
    wait_presence(&hubs, "lobby", &members(vec![ann.clone(), bob.clone()])).await;
    assert_eq!(presence(&a.hub, "nobody-here").await, Ok(vec![]));

    // A plain join has no info.
    let (mut a2, a2_id) = a.client(&["join lobby"]).await;
    let plain = (a2_id, na, serde_json::Value::Null);
    wait_presence(
        &hubs,
        "lobby",
        &members(vec![ann.clone(), bob.clone(), plain]),
    )
    .await;

    // join_with on a room already joined replaces the info.
    a2.send("nick lobby cid").await;
    id_of(&mut a2).await;
    let cid = (a2_id, na, json!({ "nick": "cid" }));
    wait_presence(
        &hubs,
        "lobby",
        &members(vec![ann.clone(), bob, cid.clone()]),
    )
    .await;

    // A leave on B shows on A; a disconnect on A shows on B.
    b1.send("leave lobby").await;
    id_of(&mut b1).await;
    wait_presence(&hubs, "lobby", &members(vec![ann, cid.clone()])).await;
    drop(a1);
    wait_presence(&hubs, "lobby", &[cid]).await;
    drop(a2);
    wait_presence(&hubs, "lobby", &[]).await;
}

/// A node killed with SIGKILL says goodbye to nobody: its members leave
/// presence on the other node when its entries expire, within the TTL.
pub async fn a_node_killed_with_sigkill_leaves_presence_within_the_ttl(kind: Kind, test: &str) {
    const TTL: Duration = Duration::from_secs(2);
    /// What a loaded machine may add to the TTL.
    const MARGIN: Duration = Duration::from_secs(2);
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let redis = Redis::started(kind).await;
    let a = Node::start(backplane(&redis, &prefix, 0).presence_ttl(TTL)).await;
    let child = ChildNode::spawn(&redis.url(), &prefix, TTL).await;

    let (mut a1, a1_id) = a.client(&["nick lobby ann"]).await;
    let (mut z1, z1_id) = child.client(&a, &["nick lobby zoe"]).await;
    let ann = (a1_id, a.hub.node(), json!({ "nick": "ann" }));
    let zoe = (z1_id, child.node, json!({ "nick": "zoe" }));
    assert_ne!(child.node, a.hub.node());
    wait_presence(&[&a.hub], "lobby", &members(vec![ann.clone(), zoe])).await;
    // The child is a node like the others: its room sends cross over.
    let nodes = [a.hub.node(), child.node];
    let expected = channels(&prefix, &[("lobby", 2)], &[("/chat", 2)], &nodes);
    wait_channels(&redis, &prefix, &expected).await;
    z1.send("say lobby from-the-child").await;
    assert_eq!(a1.recv_text().await, "from-the-child");
    assert_eq!(z1.recv_text().await, "from-the-child");

    child.kill().await;
    let killed = Instant::now();
    loop {
        // Never an error, never someone unknown: the child's entry, then not.
        let seen = presence(&a.hub, "lobby").await.expect("Redis is up");
        if seen == [ann.clone()] {
            break;
        }
        assert_eq!(seen.len(), 2, "ann and zoe, or ann alone: {seen:?}");
        assert!(
            killed.elapsed() < TTL + MARGIN,
            "zoe still present {:?} after SIGKILL (TTL {TTL:?})",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = killed.elapsed();
    assert_eq!(a.hub.presence_count("lobby").await.unwrap(), 1);
    // Redis dropped the dead node's subscriptions with its connections.
    let a_only = channels(&prefix, &[("lobby", 1)], &[("/chat", 1)], &[a.hub.node()]);
    wait_channels(&redis, &prefix, &a_only).await;
    a1.send("say lobby still-here").await;
    assert_eq!(a1.recv_text().await, "still-here");
    println!("SIGKILLed node left presence {gone:?} after the kill (TTL {TTL:?})");
}

/// Two nodes with room "cheese" on both (see [`cheese_on_both`]), ann on A
/// and bob on B joined with their nicknames, presence settled and
/// cross-node delivery checked: where the outage cases start.
struct Linked {
    a: Node,
    b: Node,
    a1: TestClient,
    a1_id: u64,
    a2: TestClient,
    b1: TestClient,
    b1_id: u64,
    /// Every channel the two nodes need, with its subscribers.
    all: std::collections::BTreeMap<String, usize>,
    /// The room's presence.
    both: Vec<(u64, u64, serde_json::Value)>,
}

impl Linked {
    async fn start(redis: &Redis, prefix: &str) -> Linked {
        let a = Node::start(backplane(redis, prefix, 0)).await;
        let b = Node::start(backplane(redis, prefix, 1)).await;
        wait_connected(&[&a, &b]).await;
        let ((a1, a1_id), a2, (b1, b1_id)) = cheese_on_both(
            redis,
            prefix,
            (&a, "nick cheese ann"),
            (&b, "nick cheese bob"),
        )
        .await;
        let all = channels(
            prefix,
            &[("cheese", 2)],
            &[("/chat", 2)],
            &[a.hub.node(), b.hub.node()],
        );
        let both = members(vec![
            (a1_id, a.hub.node(), json!({ "nick": "ann" })),
            (b1_id, b.hub.node(), json!({ "nick": "bob" })),
        ]);
        let mut t = Linked {
            a,
            b,
            a1,
            a1_id,
            a2,
            b1,
            b1_id,
            all,
            both,
        };
        wait_presence(&t.hubs(), "cheese", &t.both).await;
        t.check("before").await;
        t
    }

    fn hubs(&self) -> [&Hub; 2] {
        [&self.a.hub, &self.b.hub]
    }

    async fn check(&mut self, tag: &str) {
        let (a1, b1) = ((&mut self.a1, self.a1_id), (&mut self.b1, self.b1_id));
        check_cross_node(a1, &mut self.a2, b1, tag).await;
    }

    /// After an outage: cross-node delivery resumes, both backplanes are
    /// connected, every channel is subscribed again and presence is right.
    async fn back(&mut self, redis: &Redis, prefix: &str) {
        until_cross_node(&mut self.a1, &mut self.b1, "cheese").await;
        wait_connected(&[&self.a, &self.b]).await;
        wait_channels(redis, prefix, &self.all).await;
        self.check("after").await;
        wait_presence(&self.hubs(), "cheese", &self.both).await;
    }
}

/// Redis killed mid-test (every master of a cluster): local delivery goes
/// on, presence is an error (never a wrong answer), one warning per node;
/// after the restart cross-node delivery resumes, every subscription is
/// back and presence is right again on both nodes.
pub async fn redis_killed_and_restarted_mid_test(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let logs = Counts::new(&prefix);
    let started = std::time::Instant::now();
    let mut redis = Redis::started(kind).await;
    let mut t = Linked::start(&redis, &prefix).await;
    assert_eq!(logs.warn(), 0, "no outage yet");

    // Redis dies: local delivery goes on, on both nodes.
    redis.kill();
    let killed = Instant::now();
    t.a1.send("say cheese during").await;
    assert_eq!(t.a1.recv_text().await, "during");
    for i in 0..20 {
        t.a1.send(format!("say cheese outage-{i}")).await;
    }
    for i in 0..20 {
        assert_eq!(t.a1.recv_text().await, format!("outage-{i}"));
    }
    t.b1.send("route local-b").await;
    assert_eq!(t.b1.recv_text().await, "local-b");
    t.b1.expect_nothing(QUIET).await;
    t.a2.expect_nothing(Duration::from_millis(10)).await;
    t.a1.expect_nothing(Duration::from_millis(10)).await;
    // Presence cannot be answered: an error on both nodes, or until the
    // node notices, the right answer; never a wrong one.
    for hub in t.hubs() {
        let error = until("presence is an error while Redis is down", || async {
            match hub.presence("cheese").await {
                Err(e) => Ok(e),
                Ok(list) => {
                    let list = members(list.into_iter().map(|m| (m.id, m.node, m.info)).collect());
                    assert_eq!(list, t.both, "a wrong presence answer while Redis is down");
                    Err("still answered")
                }
            }
        })
        .await;
        assert!(matches!(error, PresenceError::Unavailable(_)), "{error:?}");
        assert!(hub.presence_count("cheese").await.is_err());
    }
    // Let every connection (idle ones are pinged each second) notice.
    tokio::time::sleep_until(killed + Duration::from_millis(2500)).await;
    for hub in t.hubs() {
        let (list, count) = (
            hub.presence("cheese").await,
            hub.presence_count("cheese").await,
        );
        assert!(
            matches!(list, Err(PresenceError::Unavailable(_))) && count.is_err(),
            "still down: {list:?} {count:?}"
        );
    }
    assert_eq!(
        logs.warn(),
        2,
        "one warning per node for the outage, not one per message"
    );
    assert!(!t.a.backplane.is_connected() && !t.b.backplane.is_connected());
    assert!(t.a.backplane.dropped() >= 21, "{}", t.a.backplane.dropped());

    // Redis comes back on the same ports, empty: both nodes reconnect,
    // subscribe to every channel again and write their presence again.
    redis.start().await;
    let restarted = Instant::now();
    t.back(&redis, &prefix).await;
    let back = restarted.elapsed();
    assert_eq!(logs.warn(), 2, "no new warnings");
    assert_eq!(logs.info(), 2, "one 'reconnected' per node");
    println!(
        "redis restart: delivery, channels and presence back {back:?} after the restart; test took {:?}",
        started.elapsed()
    );
}

/// Redis freezes (SIGSTOP: connections open, nothing answers) for 3 s,
/// shorter than a Cluster's node timeout: hooks and local delivery never
/// wait for it, presence answers within its 2 s timeout with an error (or
/// the right list), never hangs, and each node notices; once Redis thaws,
/// both reconnect and every channel and member is back.
pub async fn redis_frozen_then_thawed(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let logs = Counts::new(&prefix);
    let redis = Redis::started(kind).await;
    let mut t = Linked::start(&redis, &prefix).await;

    redis.freeze();
    let frozen = Instant::now();
    for i in 0..20 {
        t.a1.send(format!("say cheese frozen-{i}")).await;
        assert_eq!(t.a1.recv_text().await, format!("frozen-{i}"));
    }
    assert!(
        frozen.elapsed() < Duration::from_millis(1000),
        "local delivery waited for Redis: {:?}",
        frozen.elapsed()
    );
    for hub in t.hubs() {
        let asked = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(4), hub.presence("cheese"))
            .await
            .expect("presence hung on a frozen Redis");
        match answer {
            Err(e) => assert!(matches!(e, PresenceError::Unavailable(_)), "{e:?}"),
            Ok(list) => {
                let list = members(list.into_iter().map(|m| (m.id, m.node, m.info)).collect());
                assert_eq!(
                    list, t.both,
                    "a wrong presence answer while Redis is frozen"
                );
            }
        }
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{:?}",
            asked.elapsed()
        );
    }
    until("both nodes notice", || async {
        match (t.a.backplane.is_connected(), t.b.backplane.is_connected()) {
            (false, false) => Ok(()),
            seen => Err(seen),
        }
    })
    .await;
    tokio::time::sleep_until(frozen + Duration::from_secs(3)).await;

    redis.thaw();
    t.back(&redis, &prefix).await;
    assert_eq!(logs.warn(), 2, "one warning per node");
    assert_eq!(logs.info(), 2, "one 'reconnected' per node");
}

/// A Cluster only: a master that holds a room (its channel and presence
/// hash) but not the nodes' heartbeat keys is killed and comes back empty
/// a moment later, the others staying up, and no send touches it in
/// between. The crate reconnects to it and subscribes again by itself, so
/// only the master's new run id tells the nodes their presence there is
/// gone: both start over (each warns once and reconnects once), and the
/// room's presence is right again on both, every channel subscribed.
pub async fn one_cluster_master_killed_and_restarted(test: &str) {
    let Some(prefix) = prefix(Kind::Cluster, test) else {
        return;
    };
    let logs = Counts::new(&prefix);
    let mut redis = Redis::started(Kind::Cluster).await;
    // A room on another master than the heartbeats' (`{prefix}`).
    let beats = redis.master_of(&format!("{{{prefix}}}:alive:0")).await;
    let mut room = String::new();
    let mut master = beats;
    for i in 0.. {
        room = format!("cheese-{i}");
        master = redis
            .master_of(&format!("{prefix}:presence:{{{room}}}"))
            .await;
        if master != beats {
            break;
        }
    }
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;
    let hubs = [&a.hub, &b.hub];
    wait_connected(&[&a, &b]).await;
    let (mut a1, a1_id) = a.client(&[&format!("nick {room} ann")]).await;
    let (mut b1, b1_id) = b.client(&[&format!("nick {room} bob")]).await;
    let all = channels(
        &prefix,
        &[(&room, 2)],
        &[("/chat", 2)],
        &[a.hub.node(), b.hub.node()],
    );
    wait_channels(&redis, &prefix, &all).await;
    let both = members(vec![
        (a1_id, a.hub.node(), json!({ "nick": "ann" })),
        (b1_id, b.hub.node(), json!({ "nick": "bob" })),
    ]);
    wait_presence(&hubs, &room, &both).await;

    redis.kill_master(master);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.restart_master(master).await;
    wait_presence(&hubs, &room, &both).await;
    wait_connected(&[&a, &b]).await;
    wait_channels(&redis, &prefix, &all).await;
    until_cross_node(&mut a1, &mut b1, &room).await;
    b1.send(format!("say {room} after")).await;
    assert_eq!(b1.recv_text().await, "after");
    assert_eq!(a1.recv_text().await, "after");
    assert_eq!(logs.warn(), 2, "one warning per node");
    assert_eq!(logs.info(), 2, "one 'reconnected' per node");
}

/// Nodes started before Redis deliver locally, warn once each, answer
/// presence with an error, and link up by themselves when Redis appears.
pub async fn nodes_start_without_redis_and_connect_when_it_appears(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let logs = Counts::new(&prefix);
    let mut redis = Redis::new(kind); // its ports, nothing listening yet
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;

    let (mut a1, a1_id) = a.client(&["nick cheese ann"]).await;
    let (mut a2, _) = a.client(&[]).await;
    let (mut b1, b1_id) = b.client(&["join cheese"]).await;
    for i in 0..10 {
        a1.send(format!("say cheese alone-{i}")).await;
        assert_eq!(a1.recv_text().await, format!("alone-{i}"));
    }
    b1.send(format!("to {a1_id} unreachable")).await;
    b1.expect_nothing(QUIET).await;
    a1.expect_nothing(Duration::from_millis(10)).await;
    assert!(!a.backplane.is_connected());
    assert!(matches!(
        a.hub.presence("cheese").await,
        Err(PresenceError::Unavailable(_))
    ));
    assert_eq!(
        logs.warn(),
        2,
        "one warning per node, not one per message or retry"
    );

    redis.start().await;
    wait_connected(&[&a, &b]).await;
    let all = channels(
        &prefix,
        &[("cheese", 2)],
        &[("/chat", 2)],
        &[a.hub.node(), b.hub.node()],
    );
    wait_channels(&redis, &prefix, &all).await;
    check_cross_node((&mut a1, a1_id), &mut a2, (&mut b1, b1_id), "late").await;
    let both = members(vec![
        (a1_id, a.hub.node(), json!({ "nick": "ann" })),
        (b1_id, b.hub.node(), serde_json::Value::Null),
    ]);
    wait_presence(&[&a.hub, &b.hub], "cheese", &both).await;
    assert_eq!(logs.warn(), 2);
}

/// An app built outside a Tokio runtime: its backplane runs on a thread
/// (and runtime) of its own, and links up with a node built inside one.
pub fn a_backplane_given_outside_a_runtime_runs_on_its_own_thread(kind: Kind, test: &str) {
    let Some(prefix) = prefix(kind, test) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let redis = runtime.block_on(Redis::started(kind));
    // No Tokio runtime here.
    let backplane_a = backplane(&redis, &prefix, 0);
    let app_a = chat_app(&backplane_a);
    runtime.block_on(async move {
        let a = Node::serve(app_a, backplane_a).await;
        let b = Node::start(backplane(&redis, &prefix, 1)).await;
        wait_connected(&[&a, &b]).await;
        let ((mut a1, a1_id), mut a2, (mut b1, b1_id)) =
            cheese_on_both(&redis, &prefix, (&a, "join cheese"), (&b, "join cheese")).await;
        check_cross_node((&mut a1, a1_id), &mut a2, (&mut b1, b1_id), "thread").await;
    });
}

/// A malformed URL is refused at once; the prefix is configurable.
pub fn a_malformed_url_is_an_error_and_the_channel_is_configurable() {
    assert!(RedisBackplane::new("not a url").is_err());
    assert!(RedisBackplane::cluster(["redis://127.0.0.1:1/", "not a url"]).is_err());
    let b = RedisBackplane::new("redis://127.0.0.1:1/").unwrap();
    assert_eq!(b.channel_name(), RedisBackplane::DEFAULT_CHANNEL);
    let b = b.channel("elsewhere");
    assert_eq!(b.channel_name(), "elsewhere");
    assert!(!b.is_connected(), "not started");
}
