//! The smallest fast echo: text comes back as text, binary as binary, on `/`.
//! Benchmarks and the conformance run use it. Port from `CHEESE_PORT`
//! (default 5214); `max_size` raised to 16 MiB, every other limit default;
//! logs warnings only unless `RUST_LOG` says otherwise.
//!
//! `CHEESE_PORT=9001 cargo run --release --example echo`
//!
//! With `--features metrics`, it records cheese-api's metrics in a
//! Prometheus recorder and serves them at `/metrics`, as an app in
//! production would: the benchmark's "metrics on" (bench/run.sh).

use cheese_api::prelude::*;

#[cfg(feature = "metrics")]
#[path = "support/prometheus.rs"]
mod prometheus;

#[derive(Default)]
struct Echo;

#[websocket("/", max_size = 16 << 20)]
impl Echo {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

fn main() -> std::io::Result<()> {
    // A benchmark and conformance server: a log line per connection would
    // cost more than the connection. Warnings only, unless RUST_LOG says.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    let app = App::new();
    #[cfg(feature = "metrics")]
    let app = app.merge(prometheus::route());
    tokio::runtime::Runtime::new()?.block_on(app.run())
}
