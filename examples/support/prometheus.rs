//! The examples' `/metrics` page (cargo feature `metrics`): installs the
//! Prometheus recorder of `metrics-exporter-prometheus` once per process,
//! so that cheese-api's metrics (docs/deploying.md) are recorded, and
//! serves them in Prometheus' text format. cheese-api names no exporter;
//! this is the part an app writes, with the exporter of its choice.
//!
//! Not an example of its own (cargo only takes `examples/*.rs`): chat.rs
//! and echo.rs include it.

use axum::http::header;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// The buckets of every `*_seconds` histogram (hook durations): 100 µs to
/// 10 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// How often the recorder's histograms are drained into their buckets:
/// until then each keeps its samples, 8 bytes a hook call (the exporter's
/// own listener drains every 5 s; at a million messages a second that
/// would hold 40 MB).
const UPKEEP: Duration = Duration::from_secs(1);

/// The recorder, installed at the first call: call it before the app's
/// first connection (cheese-api registers a route's metrics then, and a
/// metric registered with no recorder stays a no-op).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                // Buckets make them Prometheus histograms (for Grafana's
                // histogram_quantile) rather than summaries.
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .expect("the buckets are not empty")
                .install_recorder()
                .expect("another metrics recorder is installed in this process");
            // Without an HTTP listener of its own, the exporter leaves its
            // upkeep to the app: a histogram keeps its samples until then.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("prometheus-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                })
                .expect("cannot start the metrics upkeep thread");
            handle
        })
        .clone()
}

/// `GET /metrics`: every metric recorded so far, in Prometheus' text format.
pub fn route() -> axum::Router {
    let handle = recorder();
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
        }),
    )
}
