//! cheese-api's side of the fan-out scenario: route `/`, every connection
//! joins the room `all` when it connects, and a text `go <n>` from any
//! client broadcasts one 64-byte text message holding `n` to the room with
//! `hub.to_room("all").send(..)` (converted once, shared by every member,
//! never waits). Every limit default; warnings-only logging unless
//! `RUST_LOG` says otherwise (as `examples/echo.rs`).
//!
//! `cheese_fanout [PORT]` (or `CHEESE_PORT=...`; default 5214), serves
//! `ws://127.0.0.1:PORT/`. With the `metrics` feature it records
//! cheese-api's metrics and serves them at `/metrics`, as examples/echo.rs.

#[path = "../fanout_wire.rs"]
mod fanout_wire;

#[cfg(feature = "metrics")]
#[path = "../../../examples/support/prometheus.rs"]
mod prometheus;

use cheese_api::prelude::*;

#[derive(Default)]
struct Fanout;

#[websocket("/")]
impl Fanout {
    async fn connection(&mut self) {
        self.join("all");
    }

    async fn message(&mut self, message: String) {
        if let Some(n) = fanout_wire::parse_go(&message) {
            let _ = self.hub().to_room("all").send(fanout_wire::payload(n));
        }
    }
}

fn main() -> std::io::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    let mut app = App::new();
    #[cfg(feature = "metrics")]
    {
        app = app.merge(prometheus::route());
    }
    if let Some(port) = std::env::args().nth(1) {
        app = app.port(port.parse().expect("PORT is not a port"));
    }
    tokio::runtime::Runtime::new()?.block_on(app.run())
}
