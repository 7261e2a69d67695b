//! Nodes on a Redis deployment and what the tests check through them:
//! [`Node`] (an app in the test process), [`ChildNode`] (the node binary in
//! a process of its own, for SIGKILL), clients, cross-node delivery checks,
//! and bounded waits for what Redis or presence shows.

use super::deploy::{Kind, Redis};
use super::Chat;
use cheese_api::prelude::*;
use cheese_api::testing::{Logs, TestClient, TestServer};
use cheese_api::{History, RedisBackplane};
use std::collections::BTreeMap;
use std::future::Future;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::time::Instant;

/// How long a client waits to be sure nothing more comes.
pub const QUIET: Duration = Duration::from_millis(300);
/// Longest wait for the backplane to (re)connect, a subscription to show in
/// Redis or presence to settle: the reconnect backoff tops out at 2 s and a
/// restarted cluster master waits 2 s more, so this leaves a wide margin on
/// a loaded machine.
pub const SETTLE: Duration = Duration::from_secs(15);

/// An app serving [`Chat`] in the test process, on a Redis backplane.
pub struct Node {
    pub server: TestServer,
    pub hub: Hub,
    pub backplane: RedisBackplane,
}

impl Node {
    pub async fn start(backplane: RedisBackplane) -> Node {
        Node::serve(chat_app(&backplane), backplane).await
    }

    /// Serves `app`, made with [`chat_app`] on `backplane`.
    pub async fn serve(app: App, backplane: RedisBackplane) -> Node {
        let server = TestServer::start(app).await;
        Node {
            hub: server.hub(),
            server,
            backplane,
        }
    }

    /// A client of `/chat` here that ran `commands` (e.g. `join cheese`),
    /// and its socket id.
    pub async fn client(&self, commands: &[&str]) -> (TestClient, u64) {
        let client = self.server.connect("/chat").await;
        run(client, commands).await
    }

    pub fn received(&self) -> u64 {
        self.hub.stats().envelopes_received
    }
}

/// The [`Chat`] app on `backplane` (a clone: the test keeps its handle).
pub fn chat_app(backplane: &RedisBackplane) -> App {
    App::empty()
        .websocket::<Chat>()
        .backplane(backplane.clone())
}

/// A node serving [`Chat`] on a backplane on `redis` under `prefix` (see
/// [`backplane`] for `nth`), its rooms `h:*` keeping `history`.
pub async fn history_node(redis: &Redis, prefix: &str, nth: usize, history: History) -> Node {
    let backplane = backplane(redis, prefix, nth);
    Node::serve(chat_app(&backplane).history("h:*", history), backplane).await
}

/// A backplane on `redis` under `prefix`. `nth` picks how the second node
/// of a cluster finds it: the first connects by the URL of one master (the
/// backplane tells a cluster apart when it connects), the second is told
/// every master ([`RedisBackplane::cluster`]), so both ways are exercised
/// against each other.
pub fn backplane(redis: &Redis, prefix: &str, nth: usize) -> RedisBackplane {
    let backplane = match (redis.kind(), nth % 2) {
        (Kind::Cluster, 1) => RedisBackplane::cluster(redis.urls().iter().map(String::as_str)),
        _ => RedisBackplane::new(&redis.url()),
    };
    backplane.expect("a redis:// URL").channel(prefix)
}

/// Sends `commands` then `id`: every command has been handled when the
/// answer comes.
async fn run(mut client: TestClient, commands: &[&str]) -> (TestClient, u64) {
    for command in commands {
        client.send(*command).await;
    }
    let id = id_of(&mut client).await;
    (client, id)
}

/// Sends `id`; the answer also proves every earlier command was handled.
pub async fn id_of(client: &mut TestClient) -> u64 {
    client.send("id").await;
    client.recv_text().await.parse().unwrap()
}

/// The node binary (tests/bin/node.rs) serving [`Chat`] in a process of its
/// own; SIGKILLed on drop, and it exits by itself when this process's end
/// of its stdin closes.
pub struct ChildNode {
    child: tokio::process::Child,
    port: u16,
    /// Its hub's node id.
    pub node: u64,
}

impl ChildNode {
    pub async fn spawn(url: &str, prefix: &str, presence_ttl: Duration) -> ChildNode {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_redis-node"))
            .args([url, prefix, &presence_ttl.as_millis().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the node binary");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(SETTLE, lines.next_line())
            .await
            .expect("the node binary prints its port in time")
            .expect("read the node binary's stdout")
            .expect("the node binary printed its port");
        let (port, node) = line.split_once(' ').expect("PORT NODE");
        ChildNode {
            child,
            port: port.parse().unwrap(),
            node: node.parse().unwrap(),
        }
    }

    /// A client of its `/chat` (the handshake built by `via`'s test server,
    /// sent over a connection to the child) that ran `commands`.
    pub async fn client(&self, via: &Node, commands: &[&str]) -> (TestClient, u64) {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to the node binary");
        let client = via
            .server
            .request("/chat")
            .connect_on(stream)
            .await
            .expect("the node binary accepts /chat");
        run(client, commands).await
    }

    /// SIGKILL: no goodbye to Redis, its presence entries stay until they
    /// expire.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL the node binary");
    }
}

/// Waits until every node's backplane is connected.
pub async fn wait_connected(nodes: &[&Node]) {
    until("every backplane connected", || async {
        nodes
            .iter()
            .all(|n| n.backplane.is_connected())
            .then_some(())
            .ok_or("not yet")
    })
    .await;
}

/// Polls `check` until it returns `Ok`, for at most [`SETTLE`]; panics with
/// `what` and the last `Err` otherwise.
pub async fn until<T, E: std::fmt::Debug, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + SETTLE;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(e) => assert!(
                Instant::now() < deadline,
                "{what}: not within {SETTLE:?}; last seen: {e:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The channels with subscribers `prefix` should have, with how many nodes
/// subscribe to each: `rooms` and `routes` as (name, nodes), plus one
/// channel per node in `nodes`.
pub fn channels(
    prefix: &str,
    rooms: &[(&str, usize)],
    routes: &[(&str, usize)],
    nodes: &[u64],
) -> BTreeMap<String, usize> {
    let rooms = rooms
        .iter()
        .map(|(r, n)| (format!("{prefix}:room:{{{r}}}"), *n));
    let routes = routes
        .iter()
        .map(|(r, n)| (format!("{prefix}:route:{r}"), *n));
    let nodes = nodes.iter().map(|id| (format!("{prefix}:node:{id}"), 1));
    rooms.chain(routes).chain(nodes).collect()
}

/// Waits until the channels under `prefix` and their subscriber counts are
/// exactly `expected` (subscriptions change in the background).
pub async fn wait_channels(redis: &Redis, prefix: &str, expected: &BTreeMap<String, usize>) {
    until(&format!("channels {expected:?}"), || async {
        match redis.channels(prefix).await {
            Ok(seen) if seen == *expected => Ok(()),
            Ok(seen) => Err(format!("{seen:?}")),
            Err(e) => Err(e),
        }
    })
    .await;
}

/// A presence list as (socket id, node, info), sorted by socket id.
pub type Members = Vec<(u64, u64, serde_json::Value)>;

pub fn members(mut list: Members) -> Members {
    list.sort_by_key(|m| m.0);
    list
}

/// `hub.presence(room)` as [`Members`], or the error as text.
pub async fn presence(hub: &Hub, room: &str) -> Result<Members, String> {
    match hub.presence(room).await {
        Ok(list) => Ok(list.into_iter().map(|m| (m.id, m.node, m.info)).collect()),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Waits until `room`'s presence on every hub is `expected` (sorted by id)
/// and `presence_count` agrees.
pub async fn wait_presence(hubs: &[&Hub], room: &str, expected: &[(u64, u64, serde_json::Value)]) {
    for hub in hubs {
        until(
            &format!("presence of {room} on node {} is {expected:?}", hub.node()),
            || async {
                let seen = presence(hub, room).await?;
                let count = hub
                    .presence_count(room)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                if seen == *expected && count == expected.len() {
                    Ok(())
                } else {
                    Err(format!("{seen:?}, count {count}"))
                }
            },
        )
        .await;
    }
}

/// Sends probes from `from` (a member of `room`) until one reaches `to` on
/// the other node; then drains the probes still on their way.
pub async fn until_cross_node(from: &mut TestClient, to: &mut TestClient, room: &str) {
    let deadline = Instant::now() + SETTLE;
    for k in 0.. {
        assert!(
            Instant::now() < deadline,
            "cross-node delivery did not resume within {SETTLE:?}"
        );
        let probe = format!("probe-{k}");
        from.send(format!("say {room} {probe}")).await;
        assert_eq!(from.recv_text().await, probe, "local delivery");
        if probed(to).await {
            break;
        }
    }
    drain_probes(to).await;
    from.expect_nothing(Duration::from_millis(10)).await;
}

/// Sends probes to `room` from `hub` (a node with no member of it) until
/// one reaches `to`, a member on another node; then drains the probes still
/// on their way.
pub async fn until_delivered(hub: &Hub, room: &str, to: &mut TestClient) {
    let deadline = Instant::now() + SETTLE;
    for k in 0.. {
        assert!(
            Instant::now() < deadline,
            "no send to {room} reached the other node within {SETTLE:?}"
        );
        hub.to_room(room).send(format!("probe-{k}")).unwrap();
        if probed(to).await {
            break;
        }
    }
    drain_probes(to).await;
}

/// Whether a probe reached `client` within 200 ms (nothing else may).
async fn probed(client: &mut TestClient) -> bool {
    match client.recv_within(Duration::from_millis(200)).await {
        Some(m) => {
            assert!(
                m.as_text().is_some_and(|t| t.starts_with("probe-")),
                "unexpected {m:?}"
            );
            true
        }
        None => false,
    }
}

/// Later probes may still arrive (each at most once); nothing else may.
async fn drain_probes(client: &mut TestClient) {
    while let Some(m) = client.recv_within(QUIET).await {
        assert!(
            m.as_text().is_some_and(|t| t.starts_with("probe-")),
            "unexpected {m:?}"
        );
    }
}

/// The cross-node checks that must hold whenever Redis is up: room, room
/// minus the sender, route and socket-id sends, each delivered exactly once
/// on each node. `a1` (node A) and `b1` (node B) are members of `cheese`,
/// `a2` (node A) of no room.
pub async fn check_cross_node(
    (a1, a1_id): (&mut TestClient, u64),
    a2: &mut TestClient,
    (b1, b1_id): (&mut TestClient, u64),
    tag: &str,
) {
    // Room.
    a1.send(format!("say cheese brie-{tag}")).await;
    assert_eq!(a1.recv_text().await, format!("brie-{tag}"));
    assert_eq!(b1.recv_text().await, format!("brie-{tag}"));
    // Room minus the sender, from B.
    b1.send(format!("others cheese gouda-{tag}")).await;
    assert_eq!(a1.recv_text().await, format!("gouda-{tag}"));
    // Route: every /chat connection on both nodes.
    b1.send(format!("route route-{tag}")).await;
    assert_eq!(a1.recv_text().await, format!("route-{tag}"));
    assert_eq!(a2.recv_text().await, format!("route-{tag}"));
    assert_eq!(b1.recv_text().await, format!("route-{tag}"));
    // Socket ids, both directions.
    a2.send(format!("to {b1_id} to-b-{tag}")).await;
    assert_eq!(b1.recv_text().await, format!("to-b-{tag}"));
    b1.send(format!("to {a1_id} to-a-{tag}")).await;
    assert_eq!(a1.recv_text().await, format!("to-a-{tag}"));
    // Nothing twice (the sender's node ignores its own echo from Redis),
    // nothing to non-members.
    a1.expect_nothing(QUIET).await;
    a2.expect_nothing(Duration::from_millis(10)).await;
    b1.expect_nothing(Duration::from_millis(10)).await;
}

/// Counts the Redis backplane's log lines (`cheese_api::rooms::redis`) at
/// one level about one prefix. Each test uses a prefix of its own, so it
/// counts its own lines whatever ran beside it (`Logs` is one capture for
/// the whole binary).
pub struct Counts {
    logs: Logs,
    prefix: String,
}

impl Counts {
    pub fn new(prefix: &str) -> Counts {
        Counts {
            logs: Logs::capture(),
            prefix: prefix.to_owned(),
        }
    }
    fn at(&self, level: &str) -> usize {
        let channel = format!("channel={:?}", self.prefix);
        self.logs
            .lines_with(&[level, "cheese_api::rooms::redis", &channel])
            .len()
    }
    pub fn warn(&self) -> usize {
        self.at(" WARN ")
    }
    pub fn info(&self) -> usize {
        self.at(" INFO ")
    }
}
