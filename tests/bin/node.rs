//! A Redis test node in a process of its own, for the test that kills one
//! with SIGKILL (tests/redis_support/cases.rs): serves the tests' chat app
//! on a free loopback port with a `RedisBackplane`.
//!
//! `redis-node REDIS_URL PREFIX PRESENCE_TTL_MS`: prints `PORT NODE_ID` on a
//! line once listening, and exits when its stdin closes (the test process
//! ended, however it ended).

#[path = "../redis_support/chat.rs"]
mod chat;

use cheese_api::{App, RedisBackplane};
use std::time::Duration;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, prefix, ttl_ms] = &args[..] else {
        eprintln!("usage: redis-node REDIS_URL PREFIX PRESENCE_TTL_MS");
        std::process::exit(2);
    };
    let ttl = Duration::from_millis(ttl_ms.parse().expect("PRESENCE_TTL_MS: milliseconds"));
    let backplane = RedisBackplane::new(url)
        .expect("a redis:// URL")
        .channel(prefix.as_str())
        .presence_ttl(ttl);
    let app = App::empty().websocket::<chat::Chat>().backplane(backplane);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{} {}", listener.local_addr()?.port(), app.hub().node());
    tokio::spawn(async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
        std::process::exit(0);
    });
    app.serve(listener).await
}
