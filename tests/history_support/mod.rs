//! What tests/history.rs (in memory) and the Redis history cases
//! (tests/redis_support/cases.rs) share: the client side of the test chat
//! app's history (tests/redis_support/chat.rs: `join`, `since`, `id`), and
//! the two scenarios of issue 15 that run alike on one node, on apps linked
//! by a `MemoryBackplane` and on Redis nodes, each checked message by
//! message:
//!
//! - [`drop_and_recover`]: a client drops its TCP connection, 50 messages
//!   are published on every node, it comes back (on another node) with its
//!   last position and gets exactly those, then the live ones, once each.
//! - [`racing_rejoins`]: clients drop and rejoin from their last position,
//!   a few times each, while a loop publishes on every node; each client's
//!   stream (over all its connections) must be the published one, without
//!   a gap or a duplicate.
//!
//! Room messages are `{"text", "epoch", "offset"}` ([`publish`]); a plain
//! `send` is any other text and carries no position.
#![allow(dead_code)] // each test binary uses a part

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestRequest, TestServer};
use cheese_api::Position;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a client waits to be sure nothing more comes.
pub const QUIET: Duration = Duration::from_millis(300);
/// Longest wait for nodes to link (a Redis node's subscription, or its
/// reconnect after a restart: backoff up to 2 s, a cluster master 2 s more).
pub const SETTLE: Duration = Duration::from_secs(15);
/// How long a witness waits for a probe before the round counts as missed.
const PROBE: Duration = Duration::from_millis(200);

/// A room message as a client got it: its text and, if it was published,
/// its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub text: String,
    pub at: Option<Position>,
}

impl Msg {
    pub fn new(text: &str, at: &Position) -> Msg {
        Msg {
            text: text.to_owned(),
            at: Some(at.clone()),
        }
    }

    /// A plain `send`'s message: no position.
    pub fn plain(text: &str) -> Msg {
        Msg {
            text: text.to_owned(),
            at: None,
        }
    }

    /// Its position.
    ///
    /// # Panics
    /// When it has none (a plain send's).
    pub fn at(&self) -> &Position {
        self.at
            .as_ref()
            .unwrap_or_else(|| panic!("{self:?} carries no position"))
    }
}

/// The answer to `since`, after the recovered messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub complete: bool,
    pub recovered: usize,
    pub position: Option<Position>,
}

/// What a client of the chat app receives in a history room.
#[derive(Debug)]
pub enum Event {
    Msg(Msg),
    Rec(Rec),
}

fn parse(text: &str) -> Event {
    let Ok(serde_json::Value::Object(json)) = serde_json::from_str(text) else {
        return Event::Msg(Msg::plain(text));
    };
    if let Some(r) = json.get("recovery") {
        return Event::Rec(Rec {
            complete: r["complete"].as_bool().expect("complete"),
            recovered: r["recovered"].as_u64().expect("recovered") as usize,
            position: r["position"]
                .as_str()
                .map(|p| p.parse().expect("an epoch:offset position")),
        });
    }
    let at = Position {
        epoch: json["epoch"].as_str().expect("an epoch").to_owned(),
        offset: json["offset"].as_u64().expect("an offset"),
    };
    Event::Msg(Msg::new(json["text"].as_str().expect("a text"), &at))
}

/// `publish` to `room` on `hub`: a room message carrying its position.
pub async fn try_publish(hub: &Hub, room: &str, text: &str) -> Result<Position, SendError> {
    let text = text.to_owned();
    let to = hub.to_room(room);
    to.publish(move |at| Json(json!({ "text": text, "epoch": at.epoch, "offset": at.offset })))
        .await
}

/// [`try_publish`], which must succeed.
pub async fn publish(hub: &Hub, room: &str, text: &str) -> Position {
    try_publish(hub, room, text)
        .await
        .unwrap_or_else(|e| panic!("publish {text:?} to {room}: {e}"))
}

/// Publishes `texts` in turn, the k-th on `hubs[k % hubs.len()]` (each
/// publish done before the next starts); returns them as received.
pub async fn publish_all(hubs: &[Hub], room: &str, texts: &[String]) -> Vec<Msg> {
    let mut sent = Vec::new();
    for (k, text) in texts.iter().enumerate() {
        let at = publish(&hubs[k % hubs.len()], room, text).await;
        sent.push(Msg::new(text, &at));
    }
    sent
}

pub fn hubs(servers: &[&TestServer]) -> Vec<Hub> {
    servers.iter().map(|s| s.hub()).collect()
}

pub async fn next(client: &mut TestClient) -> Event {
    parse(&client.recv_text().await)
}

/// The next room message (not an answer).
pub async fn recv(client: &mut TestClient) -> Msg {
    match next(client).await {
        Event::Msg(m) => m,
        Event::Rec(r) => panic!("expected a room message, got the answer {r:?}"),
    }
}

pub async fn recv_n(client: &mut TestClient, n: usize) -> Vec<Msg> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        got.push(recv(client).await);
    }
    got
}

/// A message within `wait`, if any.
pub async fn recv_within(client: &mut TestClient, wait: Duration) -> Option<Msg> {
    let message = client.recv_within(wait).await?;
    match parse(message.as_text().expect("a text message")) {
        Event::Msg(m) => Some(m),
        Event::Rec(r) => panic!("expected a room message, got the answer {r:?}"),
    }
}

/// Room messages until (and with) the one whose text is `last`.
pub async fn recv_until(client: &mut TestClient, last: &str) -> Vec<Msg> {
    let mut got = Vec::new();
    loop {
        let m = recv(client).await;
        let done = m.text == last;
        got.push(m);
        if done {
            return got;
        }
    }
}

/// Sends `since ROOM POSITION`; returns the messages that came before the
/// answer (the recovered ones, then maybe live ones) and the answer.
pub async fn rejoin(client: &mut TestClient, room: &str, since: &Position) -> (Vec<Msg>, Rec) {
    client.send(format!("since {room} {since}")).await;
    let mut got = Vec::new();
    loop {
        match next(client).await {
            Event::Msg(m) => got.push(m),
            Event::Rec(r) => return (got, r),
        }
    }
}

/// A new client of `server` that joined `room` (a plain join), and its
/// socket id. Only while nothing is sent to `room`: the id is the first
/// message expected.
pub async fn member(server: &TestServer, room: &str) -> (TestClient, u64) {
    let mut client = server.connect("/chat").await;
    client.send(format!("join {room}")).await;
    client.send("id").await;
    let id = client.recv_text().await;
    (client, id.parse().expect("the socket id"))
}

/// Asserts that `stream` is published messages of one epoch with
/// consecutive offsets: no gap, no duplicate, nothing out of order.
pub fn assert_gapless(stream: &[Msg], what: &str) {
    for (k, pair) in stream.windows(2).enumerate() {
        let (a, b) = (pair[0].at(), pair[1].at());
        assert!(
            b.epoch == a.epoch && b.offset == a.offset + 1,
            "{what}: message {} at {b} ({:?}) follows {a} ({:?}); offsets: {}",
            k + 1,
            pair[1].text,
            pair[0].text,
            runs(stream)
        );
    }
}

/// `stream`'s offsets as runs, `[index] first..=last`: where a gap, a
/// duplicate or a reordering is.
fn runs(stream: &[Msg]) -> String {
    let mut runs: Vec<(usize, u64, u64)> = Vec::new();
    for (k, m) in stream.iter().enumerate() {
        let offset = m.at().offset;
        match runs.last_mut() {
            Some((_, _, last)) if offset == *last + 1 => *last = offset,
            _ => runs.push((k, offset, offset)),
        }
    }
    let runs: Vec<String> = runs
        .iter()
        .map(|(k, first, last)| format!("[{k}] {first}..={last}"))
        .collect();
    runs.join(", ")
}

/// One member of `room` on each server, once a publish on any node reaches
/// the members on every node; returns them and the last position they all
/// saw (with Redis, a node's subscription takes a moment to be in place).
pub async fn witnesses(servers: &[&TestServer], room: &str) -> (Vec<TestClient>, Position) {
    let mut clients = Vec::new();
    for server in servers {
        clients.push(member(server, room).await.0);
    }
    let last = until_linked(&hubs(servers), &mut clients, room).await;
    (clients, last)
}

/// Publishes a `probe` on each of `hubs` in rounds until every one of
/// `witnesses` (members of `room`) gets every probe of a round; returns
/// the round's last position. A publish that fails (Redis not back yet)
/// spoils the round. Nothing but probes may reach the witnesses meanwhile.
pub async fn until_linked(hubs: &[Hub], witnesses: &mut [TestClient], room: &str) -> Position {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut probes = Vec::new();
        let mut failed = None;
        for hub in hubs {
            match try_publish(hub, room, "probe").await {
                Ok(at) => probes.push(at),
                Err(e) => failed = Some(e),
            }
        }
        let mut linked = failed.is_none();
        for witness in witnesses.iter_mut() {
            let mut seen = Vec::new();
            while let Some(m) = recv_within(witness, PROBE).await {
                assert_eq!(m.text, "probe", "only probes while linking");
                let last = probes.last() == m.at.as_ref();
                seen.push(m.at);
                if last {
                    break;
                }
            }
            linked &= probes.iter().all(|p| seen.contains(&Some(p.clone())));
        }
        if linked {
            return probes.pop().expect("one probe per hub");
        }
        assert!(
            Instant::now() < deadline,
            "a publish on each node did not reach every node within {SETTLE:?}; last error: {failed:?}"
        );
    }
}

/// A client of `room` drops its TCP connection (no close handshake), 50
/// messages are published, alternately on each server; it reconnects on
/// the last server with its last position and gets exactly those 50 in
/// order with `complete: true, recovered: 50`, then live ones from every
/// node, once each. A member on each node that stayed sees the same.
pub async fn drop_and_recover(servers: &[&TestServer], room: &str) {
    const MISSED: usize = 50;
    let hubs = hubs(servers);
    let (mut stayed, _) = witnesses(servers, room).await;
    let (mut ann, _) = member(servers[0], room).await;
    let seen = Msg::new("seen", &publish(&hubs[0], room, "seen").await);
    assert_eq!(recv(&mut ann).await, seen);
    drop(ann); // TCP ends, no close frame: the app learns it when it reads

    let texts: Vec<String> = (0..MISSED).map(|k| format!("missed-{k}")).collect();
    let missed = publish_all(&hubs, room, &texts).await;
    let mut all = vec![seen.clone()];
    all.extend(missed.iter().cloned());
    assert_gapless(&all, "the positions publish returned");
    for (n, client) in stayed.iter_mut().enumerate() {
        assert_eq!(recv_n(client, all.len()).await, all, "member on node {n}");
    }

    let mut ann = servers[servers.len() - 1].connect("/chat").await;
    let (got, answer) = rejoin(&mut ann, room, seen.at()).await;
    assert_eq!(got, missed, "exactly the missed messages, in order");
    let expected = Rec {
        complete: true,
        recovered: MISSED,
        position: missed[MISSED - 1].at.clone(),
    };
    assert_eq!(answer, expected);

    // Then the live ones, from every node, once each.
    let texts: Vec<String> = (0..hubs.len()).map(|k| format!("live-{k}")).collect();
    let live = publish_all(&hubs, room, &texts).await;
    assert_eq!(
        recv_n(&mut ann, live.len()).await,
        live,
        "live after recovery"
    );
    for (n, client) in stayed.iter_mut().enumerate() {
        assert_eq!(recv_n(client, live.len()).await, live, "member on node {n}");
    }
    ann.expect_nothing(QUIET).await;
    for client in &mut stayed {
        client.expect_nothing(Duration::from_millis(10)).await;
    }
}

/// How many times each client of [`racing_rejoins`] drops and rejoins.
const ROUNDS: usize = 3;

/// What one client of [`racing_rejoins`] saw.
struct Seen {
    /// Every room message, over all its connections, through `end`.
    stream: Vec<Msg>,
    /// Each rejoin: where in `stream` it began, how many messages came
    /// before its answer, and the answer.
    rejoins: Vec<(usize, usize, Rec)>,
}

/// `clients` clients join `room` (on the servers in turn) while a loop
/// publishes on every server; each reads a few messages, drops its TCP
/// connection and rejoins from its last position on the next server,
/// [`ROUNDS`] times, while the loop goes on. Once all rejoined for the last
/// time the loop stops with `end`. Every client's stream (over all its
/// connections) must be the published messages themselves, gapless and
/// without duplicates, through `end`, and every recovery complete; a member
/// on each node that stayed sees every one.
pub async fn racing_rejoins(servers: &[&TestServer], room: &str, clients: usize) {
    let hubs = hubs(servers);
    let (mut stayed, linked_at) = witnesses(servers, room).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Two publishers, on two nodes if there are.
    let publishers: Vec<_> = (0..2)
        .map(|n| {
            let hub = hubs[n % hubs.len()].clone();
            tokio::spawn(publish_until(n, hub, room.to_owned(), stop.clone()))
        })
        .collect();

    let (rejoined, mut all_rejoined) = tokio::sync::mpsc::channel(clients);
    let requests: Vec<TestRequest> = servers.iter().map(|s| s.request("/chat")).collect();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let task = rejoin_rounds(i, requests.clone(), room.to_owned(), rejoined.clone());
            tokio::spawn(task)
        })
        .collect();
    drop(rejoined);
    for _ in 0..clients {
        if all_rejoined.recv().await.is_none() {
            break; // a client failed: its task says why below
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await; // publishes after the last rejoin
    stop.store(true, Ordering::Relaxed);
    let mut published = Vec::new();
    for publisher in publishers {
        published.extend(publisher.await.unwrap());
    }
    published.sort_by_key(|m| m.at().offset);
    published.push(Msg::new("end", &publish(&hubs[0], room, "end").await));
    assert_eq!(published[0].at().offset, linked_at.offset + 1);
    assert_gapless(&published, "the positions publish returned");
    // The message published at `offset`.
    let sent = |m: &Msg| &published[(m.at().offset - published[0].at().offset) as usize];

    let (mut raced, mut recovered) = (0, 0);
    for (i, task) in tasks.into_iter().enumerate() {
        let seen = task.await.unwrap_or_else(|e| panic!("client {i}: {e}"));
        for (_, before_answer, answer) in &seen.rejoins {
            assert!(answer.complete, "client {i}: {answer:?}");
            assert!(answer.recovered <= *before_answer, "client {i}: {answer:?}");
            raced += usize::from(*before_answer > answer.recovered);
            recovered += answer.recovered;
        }
        let rejoins: Vec<_> = seen.rejoins.iter().map(|r| (r.0, &r.2)).collect();
        assert_gapless(
            &seen.stream,
            &format!("client {i} (rejoins at {rejoins:?})"),
        );
        for m in &seen.stream {
            assert_eq!(m, sent(m), "client {i}: not what was published there");
        }
        assert_eq!(
            seen.stream.last(),
            published.last(),
            "client {i} got through `end`"
        );
    }
    for (n, client) in stayed.iter_mut().enumerate() {
        let got = recv_until(client, "end").await;
        assert_eq!(got, published, "member on node {n}");
    }
    println!(
        "racing rejoins: {} published, {clients} clients rejoined {ROUNDS} times each, \
         {recovered} recovered in all, {raced} rejoins got live messages before their answer",
        published.len()
    );
}

/// Client `i` of [`racing_rejoins`]: joins on server `i`, then [`ROUNDS`]
/// times reads a few messages, drops its connection and rejoins on the
/// next server; says so on `rejoined`, then reads through `end`.
async fn rejoin_rounds(
    i: usize,
    servers: Vec<TestRequest>,
    room: String,
    rejoined: tokio::sync::mpsc::Sender<()>,
) -> Seen {
    let server = |k: usize| servers[(i + k) % servers.len()].clone();
    let mut client = server(0).connect().await.expect("connect");
    client.send(format!("join {room}")).await;
    let mut seen = Seen {
        stream: Vec::new(),
        rejoins: Vec::new(),
    };
    for round in 1..=ROUNDS {
        seen.stream
            .extend(recv_n(&mut client, 1 + (i + round) % 5).await);
        drop(client); // TCP ends, no close frame
                      // Spread the rejoins over many publishes.
        tokio::time::sleep(Duration::from_millis(i as u64)).await;
        client = server(round).connect().await.expect("reconnect");
        let last = seen.stream[seen.stream.len() - 1].at().clone();
        let (got, answer) = rejoin(&mut client, &room, &last).await;
        seen.rejoins.push((seen.stream.len(), got.len(), answer));
        seen.stream.extend(got);
    }
    rejoined.send(()).await.unwrap();
    seen.stream.extend(recv_until(&mut client, "end").await);
    client.expect_nothing(Duration::from_millis(50)).await;
    seen
}

/// Publishes `m-N-0`, `m-N-1`, ... on `hub` (in bursts of 50 a
/// millisecond) until `stop`; returns them as published.
async fn publish_until(n: usize, hub: Hub, room: String, stop: Arc<AtomicBool>) -> Vec<Msg> {
    let mut published = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let text = format!("m-{n}-{}", published.len());
        let at = publish(&hub, &room, &text).await;
        published.push(Msg::new(&text, &at));
        if published.len() % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    published
}
