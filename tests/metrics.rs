//! Issue 17, metrics: the chat example (examples/chat.rs, feature `metrics`)
//! serves `/metrics` in Prometheus' text format, and its counters, gauges
//! and histograms move by exactly what real connections did: WebSocket
//! clients over loopback (`cheese_api::testing`, tokio-tungstenite) join,
//! talk, close with codes, fail a hook, get refused, and each scrape is a
//! plain HTTP GET parsed here.
//!
//! A metrics recorder is global to the process, so this binary holds one
//! test: nothing else in it connects or is refused, and every assertion is
//! on a difference between two scrapes, per route pattern. (Other test
//! binaries that include the chat install their own recorder in their own
//! process.) `cargo test -p cheese-api-tests --features metrics --test metrics`.

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
mod metrics_support;

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use metrics_support::{parse, Scrape};
use serde_json::{json, Value};
use std::time::Duration;

/// The chat's route pattern: the `route` label, never the path.
const CHAT: &str = "/ws/<room:str>";
/// A route of this test whose message hook fails or panics on request.
const FAULTY: &str = "/metrics-test/faulty";

/// Served by the chat app too: `App::new()` takes every `#[websocket]` of
/// the binary.
#[derive(Default)]
struct Faulty;

#[websocket("/metrics-test/faulty")]
impl Faulty {
    async fn message(&mut self, message: String) -> Result<(), String> {
        match message.as_str() {
            "fail" => Err("failed on purpose".to_owned()),
            "panic" => panic!("panicked on purpose"),
            _ => Ok(()),
        }
    }
}

async fn scrape(server: &TestServer) -> Scrape {
    let response = server.get("/metrics").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.headers["content-type"],
        "text/plain; version=0.0.4"
    );
    parse(response.body)
}

/// Waits (up to 5 s) for a scrape on which `done` holds, and returns it.
async fn scrape_until(server: &TestServer, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = scrape(server).await;
        if done(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}; last scrape:\n{}",
            now.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A chat member: its client and the payload bytes it received.
struct Member {
    client: TestClient,
    received: usize,
}

impl Member {
    async fn join(server: &TestServer, nick: &str) -> Member {
        let client = server
            .request("/ws/metrics")
            .query("nick", nick)
            .connect()
            .await
            .unwrap_or_else(|refused| panic!("{nick} refused: {refused}"));
        Member {
            client,
            received: 0,
        }
    }

    /// The next event, which must be of `kind`.
    async fn expect(&mut self, kind: &str) -> Value {
        let text = self.client.recv_text().await;
        self.received += text.len();
        let event: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(event["type"], kind, "{text}");
        event
    }
}

#[tokio::test]
async fn chat_metrics_move_with_real_connections() {
    let server = TestServer::start(chat::app()).await;
    let before = scrape(&server).await;

    // Two members talk in a room: 3 messages in, each to both members.
    let mut alice = Member::join(&server, "alice").await;
    assert_eq!(alice.expect("joined").await["nick"], "alice");
    let mut bob = Member::join(&server, "bob").await;
    assert_eq!(bob.expect("joined").await["nick"], "bob");
    assert_eq!(alice.expect("joined").await["nick"], "bob");
    let both_open = scrape(&server).await;
    let open = |s: &Scrape, route| s.value("cheese_api_connections_open", &[("route", route)]);
    assert_eq!(open(&both_open, CHAT) - open(&before, CHAT), 2.0);

    let mut sent = 0;
    for n in 0..3 {
        let say = json!({ "text": format!("message {n}") }).to_string();
        sent += say.len();
        alice.client.send(say).await;
        alice.expect("message").await;
        bob.expect("message").await;
    }
    // Bob leaves with a code of his own; Alice sees him go, then leaves too.
    bob.client.close(4000, "bye").await;
    assert_eq!(alice.expect("left").await["nick"], "bob");
    let received = alice.received + bob.received;
    alice.client.close(1000, "").await;

    // The chat turns a connection without a nickname down: 4001, by the app.
    let anonymous = server.request("/ws/metrics").connect().await.unwrap();
    anonymous.expect_close(4001).await;

    // A failing and a panicking message hook: 1011, by the hook.
    for word in ["fail", "panic"] {
        let mut client = server.connect(FAULTY).await;
        client.send(word).await;
        client.expect_close(1011).await;
    }

    // Refused before the upgrade: a malformed key (400), no handshake (426).
    let refused = server
        .request("/ws/metrics")
        .query("nick", "mallory")
        .header("sec-websocket-key", "not a key")
        .connect_expect_refused()
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(server.get("/ws/metrics").await.status, 426);

    // Counts reach the metrics when each connection ends, after its
    // `disconnection` hook.
    let closes = |s: &Scrape, route| s.value("cheese_api_closes_total", &[("route", route)]);
    let after = scrape_until(&server, "every close counted", |s| {
        closes(s, CHAT) - closes(&before, CHAT) == 3.0
            && closes(s, FAULTY) - closes(&before, FAULTY) == 2.0
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };

    // Connections, open and opened, by route pattern.
    assert_eq!(open(&after, CHAT), open(&before, CHAT));
    assert_eq!(open(&after, FAULTY), open(&before, FAULTY));
    assert_eq!(
        delta("cheese_api_connections_total", &[("route", CHAT)]),
        3.0
    );
    assert_eq!(
        delta("cheese_api_connections_total", &[("route", FAULTY)]),
        2.0
    );

    // Handshakes by status and kind.
    let handshakes = |status, kind| {
        delta(
            "cheese_api_handshakes_total",
            &[("status", status), ("kind", kind)],
        )
    };
    assert_eq!(handshakes("101", "accepted"), 5.0);
    assert_eq!(handshakes("400", "invalid_key"), 1.0);
    assert_eq!(handshakes("426", "upgrade_required"), 1.0);

    // Messages and payload bytes, each way.
    let way =
        |name: &str, route, direction| delta(name, &[("route", route), ("direction", direction)]);
    assert_eq!(way("cheese_api_messages_total", CHAT, "in"), 3.0);
    // Alice: joined ×2, message ×3, left; Bob: joined, message ×3.
    assert_eq!(way("cheese_api_messages_total", CHAT, "out"), 10.0);
    assert_eq!(
        way("cheese_api_message_bytes_total", CHAT, "in"),
        sent as f64
    );
    assert_eq!(
        way("cheese_api_message_bytes_total", CHAT, "out"),
        received as f64
    );
    assert_eq!(way("cheese_api_messages_total", FAULTY, "in"), 2.0);
    assert_eq!(way("cheese_api_messages_total", FAULTY, "out"), 0.0);

    // Closes by code and by whom; a code the peer chose counts by its range.
    let closed = |route, code, by| {
        delta(
            "cheese_api_closes_total",
            &[("route", route), ("code", code), ("by", by)],
        )
    };
    assert_eq!(closed(CHAT, "4xxx", "peer"), 1.0);
    assert_eq!(closed(CHAT, "1000", "peer"), 1.0);
    assert_eq!(closed(CHAT, "4001", "app"), 1.0);
    assert_eq!(closed(FAULTY, "1011", "hook"), 2.0);

    // Hook errors and panics, and every hook call timed.
    let faulty_message = [("route", FAULTY), ("hook", "message")];
    assert_eq!(delta("cheese_api_hook_errors_total", &faulty_message), 1.0);
    assert_eq!(delta("cheese_api_hook_panics_total", &faulty_message), 1.0);
    assert_eq!(
        delta("cheese_api_hook_errors_total", &[("route", CHAT)]),
        0.0
    );
    assert!(after
        .text
        .contains("# TYPE cheese_api_hook_duration_seconds histogram"));
    let calls = |route, hook| {
        delta(
            "cheese_api_hook_duration_seconds_count",
            &[("route", route), ("hook", hook)],
        )
    };
    assert_eq!(calls(CHAT, "connection"), 3.0);
    assert_eq!(calls(CHAT, "message"), 3.0);
    assert_eq!(calls(CHAT, "disconnection"), 3.0);
    assert_eq!(calls(FAULTY, "message"), 2.0);

    // The chat's rooms: every event numbered and kept (joined ×2, message
    // ×3, left ×2), a member list for each join and leave.
    assert_eq!(delta("cheese_api_history_appends_total", &[]), 7.0);
    let presence = [("op", "members"), ("result", "ok")];
    assert_eq!(delta("cheese_api_presence_queries_total", &presence), 4.0);

    // Nothing but cheese-api's metrics, and no path as a label.
    for sample in &after.samples {
        assert!(sample.name.starts_with("cheese_api_"), "{}", sample.name);
    }
    assert!(!after.text.contains("\"/ws/metrics\""), "{}", after.text);
}
