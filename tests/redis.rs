//! Issue 5 across processes: two app instances linked by `RedisBackplane`
//! through a real `redis-server` that the test starts, kills and restarts.
//!
//! Run with `cargo test -p cheese-api-tests --features redis --test redis`
//! (built only with the feature: `required-features` in tests/Cargo.toml;
//! without it `cargo test --workspace` lists
//! `not_built::redis_tests_not_built...` instead). Without `redis-server`
//! on PATH the tests print a SKIPPED line and pass, unless
//! `CHEESE_REQUIRE_REDIS=1` (as in CI) makes that a failure.

use cheese_api::prelude::*;
use cheese_api::testing::{Logs, TestClient, TestServer};
use cheese_api::RedisBackplane;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

const QUIET: Duration = Duration::from_millis(300);
/// Longest wait for the backplane to (re)connect: the backoff tops out at
/// 2 s, so this leaves a wide margin on a loaded machine.
const RECONNECT: Duration = Duration::from_secs(15);

/// `join ROOM`, `say ROOM TEXT`, `others ROOM TEXT`, `route TEXT`,
/// `to ID TEXT`, `id`.
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
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- redis-server

/// A `redis-server` child process on a loopback port; killed on drop.
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// Whether `redis-server` can run here; prints the SKIPPED line if not.
fn redis_available(test: &str) -> bool {
    match Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CHEESE_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("CHEESE_REQUIRE_REDIS=1 but redis-server cannot run: {e}");
            }
            println!("SKIPPED {test}: redis-server not found ({e}); install redis-server");
            false
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts a server on `port` and waits until it accepts connections.
    async fn start(port: u16) -> RedisServer {
        let mut server = RedisServer { port, child: None };
        server.restart().await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on the same port.
    async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------- log counting

/// Counts the Redis backplane's log lines (`cheese_api::rooms::redis`) at
/// one level about one channel. Each test uses a channel of its own, so it
/// counts its own lines whatever ran beside it (`Logs` is one capture for
/// the whole binary).
struct Counts {
    logs: Logs,
    channel: String,
}

impl Counts {
    fn at(&self, level: &str) -> usize {
        let channel = format!("channel={:?}", self.channel);
        self.logs
            .lines_with(&[level, "cheese_api::rooms::redis", &channel])
            .len()
    }
    fn warn(&self) -> usize {
        self.at(" WARN ")
    }
    fn info(&self) -> usize {
        self.at(" INFO ")
    }
}

fn count_logs(channel: &str) -> Counts {
    Counts {
        logs: Logs::capture(),
        channel: channel.to_owned(),
    }
}

// ------------------------------------------------------------------ helpers

struct Node {
    server: TestServer,
    backplane: RedisBackplane,
}

async fn node(url: &str, channel: &str) -> Node {
    let backplane = RedisBackplane::new(url).unwrap().channel(channel);
    let app = App::empty()
        .websocket::<Chat>()
        .backplane(backplane.clone());
    Node {
        server: TestServer::start(app).await,
        backplane,
    }
}

async fn wait_connected(nodes: &[&Node]) {
    let deadline = Instant::now() + RECONNECT;
    while !nodes.iter().all(|n| n.backplane.is_connected()) {
        assert!(
            Instant::now() < deadline,
            "backplane not connected within {RECONNECT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `id`; the answer also proves every earlier command was handled.
async fn id_of(client: &mut TestClient) -> u64 {
    client.send("id").await;
    client.recv_text().await.parse().unwrap()
}

/// Connects to `/chat` on `node`, joins `room` (if any); returns the client
/// and its socket id.
async fn member(node: &Node, room: Option<&str>) -> (TestClient, u64) {
    let mut client = node.server.connect("/chat").await;
    if let Some(room) = room {
        client.send(format!("join {room}")).await;
    }
    let id = id_of(&mut client).await;
    (client, id)
}

/// Sends probes from `from` (a member of `room`) until one reaches `to` on
/// the other node; then drains the probes still on their way. Bounded by
/// [`RECONNECT`].
async fn until_cross_node(from: &mut TestClient, to: &mut TestClient, room: &str) {
    let deadline = Instant::now() + RECONNECT;
    for k in 0.. {
        assert!(
            Instant::now() < deadline,
            "cross-node delivery did not resume within {RECONNECT:?}"
        );
        let probe = format!("probe-{k}");
        from.send(format!("say {room} {probe}")).await;
        assert_eq!(from.recv_text().await, probe, "local delivery");
        if let Some(m) = to.recv_within(Duration::from_millis(200)).await {
            assert!(
                m.as_text().is_some_and(|t| t.starts_with("probe-")),
                "unexpected {m:?}"
            );
            break;
        }
    }
    // Later probes may still arrive (each at most once); nothing else may.
    while let Some(m) = to.recv_within(QUIET).await {
        assert!(
            m.as_text().is_some_and(|t| t.starts_with("probe-")),
            "unexpected {m:?}"
        );
    }
    from.expect_nothing(Duration::from_millis(10)).await;
}

/// The cross-node checks that must hold whenever Redis is up: room, room
/// minus the sender, route and socket-id sends, each delivered exactly once
/// on each node.
async fn check_cross_node(
    a1: &mut TestClient,
    a1_id: u64,
    a2: &mut TestClient,
    b1: &mut TestClient,
    b1_id: u64,
    tag: &str,
) {
    // Room: a1 (A) and b1 (B) are members; a2 (A) is not.
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

// -------------------------------------------------------------------- tests

#[tokio::test]
async fn rooms_span_nodes_and_survive_a_redis_restart() {
    if !redis_available("rooms_span_nodes_and_survive_a_redis_restart") {
        return;
    }
    let logs = count_logs("cheese-test-restart");
    let started = std::time::Instant::now();
    let mut redis = RedisServer::start(free_port()).await;
    let url = redis.url();
    let node_a = node(&url, "cheese-test-restart").await;
    let node_b = node(&url, "cheese-test-restart").await;
    wait_connected(&[&node_a, &node_b]).await;

    let (mut a1, a1_id) = member(&node_a, Some("cheese")).await;
    let (mut a2, _) = member(&node_a, None).await;
    let (mut b1, b1_id) = member(&node_b, Some("cheese")).await;
    check_cross_node(&mut a1, a1_id, &mut a2, &mut b1, b1_id, "before").await;
    assert_eq!(logs.warn(), 0, "no outage yet");
    assert_eq!(node_a.backplane.dropped(), 0);

    // Redis dies: local delivery goes on, on both nodes.
    redis.kill();
    let killed = Instant::now();
    a1.send("say cheese during").await;
    assert_eq!(a1.recv_text().await, "during");
    for i in 0..20 {
        a1.send(format!("say cheese outage-{i}")).await;
    }
    for i in 0..20 {
        assert_eq!(a1.recv_text().await, format!("outage-{i}"));
    }
    b1.send("route local-b").await;
    assert_eq!(b1.recv_text().await, "local-b");
    b1.expect_nothing(QUIET).await;
    a2.expect_nothing(Duration::from_millis(10)).await;
    a1.expect_nothing(Duration::from_millis(10)).await;
    // Let every connection (idle ones are pinged each second) notice.
    tokio::time::sleep_until(killed + Duration::from_millis(2500)).await;
    assert_eq!(
        logs.warn(),
        2,
        "one warning per node for the outage, not one per message"
    );
    assert!(!node_a.backplane.is_connected() && !node_b.backplane.is_connected());
    assert!(
        node_a.backplane.dropped() >= 21,
        "{}",
        node_a.backplane.dropped()
    );

    // Redis comes back on the same port: both nodes reconnect by themselves.
    redis.restart().await;
    let restarted = Instant::now();
    until_cross_node(&mut a1, &mut b1, "cheese").await;
    wait_connected(&[&node_a, &node_b]).await;
    let reconnect = restarted.elapsed();
    check_cross_node(&mut a1, a1_id, &mut a2, &mut b1, b1_id, "after").await;
    assert_eq!(logs.warn(), 2, "no new warnings");
    assert_eq!(logs.info(), 2, "one 'reconnected' per node");
    println!(
        "redis restart: reconnected {reconnect:?} after the restart; test took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn nodes_start_without_redis_and_connect_when_it_appears() {
    if !redis_available("nodes_start_without_redis_and_connect_when_it_appears") {
        return;
    }
    let logs = count_logs("cheese-test-late");
    let port = free_port(); // nothing listens there yet
    let url = format!("redis://127.0.0.1:{port}/");
    let node_a = node(&url, "cheese-test-late").await;
    let node_b = node(&url, "cheese-test-late").await;

    let (mut a1, a1_id) = member(&node_a, Some("cheese")).await;
    let (mut a2, _) = member(&node_a, None).await;
    let (mut b1, b1_id) = member(&node_b, Some("cheese")).await;
    for i in 0..10 {
        a1.send(format!("say cheese alone-{i}")).await;
        assert_eq!(a1.recv_text().await, format!("alone-{i}"));
    }
    b1.send(format!("to {a1_id} unreachable")).await;
    b1.expect_nothing(QUIET).await;
    a1.expect_nothing(Duration::from_millis(10)).await;
    assert!(!node_a.backplane.is_connected());
    assert_eq!(
        logs.warn(),
        2,
        "one warning per node, not one per message or retry"
    );

    let _redis = RedisServer::start(port).await;
    wait_connected(&[&node_a, &node_b]).await;
    check_cross_node(&mut a1, a1_id, &mut a2, &mut b1, b1_id, "late").await;
    assert_eq!(logs.warn(), 2);
}

#[test]
fn a_malformed_url_is_an_error_and_the_channel_is_configurable() {
    assert!(RedisBackplane::new("not a url").is_err());
    let b = RedisBackplane::new("redis://127.0.0.1:1/").unwrap();
    assert_eq!(b.channel_name(), RedisBackplane::DEFAULT_CHANNEL);
    let b = b.channel("elsewhere");
    assert_eq!(b.channel_name(), "elsewhere");
    assert!(!b.is_connected(), "not started");
}

#[test]
fn a_backplane_given_outside_a_runtime_runs_on_its_own_thread() {
    if !redis_available("a_backplane_given_outside_a_runtime_runs_on_its_own_thread") {
        return;
    }
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    // No Tokio runtime here: the backplane starts one on a thread of its own.
    let backplane_a = RedisBackplane::new(&url)
        .unwrap()
        .channel("cheese-test-thread");
    let app_a = App::empty()
        .websocket::<Chat>()
        .backplane(backplane_a.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let _redis = RedisServer::start(port).await;
        let node_a = Node {
            server: TestServer::start(app_a).await,
            backplane: backplane_a,
        };
        let node_b = node(&url, "cheese-test-thread").await;
        wait_connected(&[&node_a, &node_b]).await;
        let (mut a1, a1_id) = member(&node_a, Some("cheese")).await;
        let (mut a2, _) = member(&node_a, None).await;
        let (mut b1, b1_id) = member(&node_b, Some("cheese")).await;
        check_cross_node(&mut a1, a1_id, &mut a2, &mut b1, b1_id, "thread").await;
    });
}
