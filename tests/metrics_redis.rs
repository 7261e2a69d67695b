//! Issue 17, the Redis backplane's metrics (features `metrics` and `redis`):
//! two nodes in this process on one real `redis-server` that the test
//! starts, kills and restarts; envelopes published and received, dropped
//! during the outage, reconnects after it, and presence questions answered
//! or not, read from a Prometheus recorder's text.
//!
//! The recorder is global to the process and these metrics have no route
//! label, so this binary holds one test, and every assertion is on a
//! difference between two readings.
//! `cargo test -p cheese-api-tests --features metrics,redis --test metrics_redis`
//! (needs redis-server on PATH: SKIPPED without it, unless
//! `CHEESE_REQUIRE_REDIS=1`).

mod metrics_support;
// The Redis tests' deployment and nodes; their cases and macro go unused.
#[allow(unused_imports, unused_macros)]
mod redis_support;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_support::{parse, Scrape};
use redis_support::deploy::{self, Kind, Redis};
use redis_support::nodes::{backplane, until, until_cross_node, wait_connected, Node};

const PUBLISHED: &str = "cheese_api_backplane_published_total";
const RECEIVED: &str = "cheese_api_backplane_received_total";
const DROPPED: &str = "cheese_api_backplane_dropped_total";
const RECONNECTS: &str = "cheese_api_backplane_reconnects_total";
const PRESENCE: &str = "cheese_api_presence_queries_total";

/// Waits until the metric `name` has grown by `by` since `before`.
async fn grown(handle: &PrometheusHandle, before: &Scrape, name: &str, by: f64) -> Scrape {
    until(&format!("{name} grown by {by}"), || async {
        let now = parse(handle.render());
        let grew = now.value(name, &[]) - before.value(name, &[]);
        if grew == by {
            Ok(now)
        } else {
            Err(grew)
        }
    })
    .await
}

#[tokio::test]
async fn backplane_metrics_move_with_a_real_redis() {
    let test = "metrics_redis";
    if !deploy::available(Kind::Single, test) {
        return;
    }
    let prefix = format!("cheese-test-{test}");
    // Before the nodes start: a metric registered with no recorder stays a
    // no-op.
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let mut redis = Redis::started(Kind::Single).await;
    let a = Node::start(backplane(&redis, &prefix, 0)).await;
    let b = Node::start(backplane(&redis, &prefix, 1)).await;
    wait_connected(&[&a, &b]).await;
    let (mut a1, _) = a.client(&["join cheese"]).await;
    let (mut b1, _) = b.client(&["join cheese"]).await;
    until_cross_node(&mut a1, &mut b1, "cheese").await;

    // 5 sends from A: each published once, received once on B (A ignores
    // its own).
    let before = parse(handle.render());
    let received_before = a.received() + b.received();
    for i in 0..5 {
        a1.send(format!("say cheese m{i}")).await;
    }
    for i in 0..5 {
        assert_eq!(a1.recv_text().await, format!("m{i}"));
        assert_eq!(b1.recv_text().await, format!("m{i}"));
    }
    grown(&handle, &before, PUBLISHED, 5.0).await;
    let now = grown(&handle, &before, RECEIVED, 5.0).await;
    let received = (a.received() + b.received() - received_before) as f64;
    assert_eq!(
        received, 5.0,
        "the metric and Stats::envelopes_received agree"
    );
    assert_eq!(now.value(DROPPED, &[]), before.value(DROPPED, &[]));

    // Redis goes away: A's sends still reach A's member, and are dropped
    // for the other node, as `RedisBackplane::dropped` counts them.
    let before = parse(handle.render());
    let dropped_before = a.backplane.dropped() + b.backplane.dropped();
    redis.kill();
    for i in 0..3 {
        a1.send(format!("say cheese outage-{i}")).await;
        assert_eq!(a1.recv_text().await, format!("outage-{i}"));
    }
    until("both nodes see the outage", || async {
        let down = !a.backplane.is_connected() && !b.backplane.is_connected();
        down.then_some(()).ok_or("still connected")
    })
    .await;
    let dropped = until("every send of the outage dropped", || async {
        let dropped = a.backplane.dropped() + b.backplane.dropped() - dropped_before;
        (dropped >= 3).then_some(dropped).ok_or(dropped)
    })
    .await;
    grown(&handle, &before, DROPPED, dropped as f64).await;
    // Presence cannot be answered now: each question counted as an error.
    let before_presence = parse(handle.render());
    assert!(a.hub.presence("cheese").await.is_err());
    assert!(b.hub.presence_count("cheese").await.is_err());
    let now = parse(handle.render());
    let errors = |op| {
        let labels = [("op", op), ("result", "error")];
        now.value(PRESENCE, &labels) - before_presence.value(PRESENCE, &labels)
    };
    assert_eq!((errors("members"), errors("count")), (1.0, 1.0));

    // Redis is back: each node's connection reconnects once.
    redis.start().await;
    wait_connected(&[&a, &b]).await;
    until_cross_node(&mut a1, &mut b1, "cheese").await;
    grown(&handle, &before, RECONNECTS, 2.0).await;
}
