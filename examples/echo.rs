//! The smallest fast echo: text comes back as text, binary as binary, on `/`.
//! Benchmarks and the conformance run use it. Port from `CHEESE_PORT`
//! (default 5214); `max_size` raised to 16 MiB, every other limit default.
//!
//! `CHEESE_PORT=9001 cargo run --release --example echo`

use cheese_api::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket("/", max_size = 16 << 20)]
impl Echo {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    App::new().run().await
}
