//! What the tests of the chat example (examples/chat.rs) share: tests/chat.rs
//! on one node or two linked in memory, tests/redis_support/cases/example.rs
//! on two nodes through Redis. A page joins a room as a client of the
//! example's `/ws/<room>` route, and every event it gets carries its
//! position.
#![allow(dead_code)] // each test binary uses a part

use cheese_api::testing::{TestClient, TestServer};
use serde_json::Value;

/// A page in `room` as `nick`, resuming from `since` (`epoch:offset`) if
/// given.
pub async fn join(server: &TestServer, room: &str, nick: &str, since: Option<&str>) -> TestClient {
    let mut request = server.request(&format!("/ws/{room}")).query("nick", nick);
    if let Some(since) = since {
        request = request.query("since", since);
    }
    request.connect().await.unwrap()
}

/// `"<epoch>:<offset>"` of an event, which must carry both.
pub fn position(event: &Value) -> String {
    match event["epoch"].as_str().zip(event["offset"].as_u64()) {
        Some((epoch, offset)) => format!("{epoch}:{offset}"),
        None => panic!("no epoch and offset in {event}"),
    }
}
