//! The attribute goes on an impl block: on anything else it says where.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[websocket("/chat")]
async fn chat(message: Message) {}

#[websocket("/room")]
#[derive(Default)]
struct Room;

#[websocket("/state")]
enum State {
    Open,
    Closed,
}

#[websocket("/limit")]
const LIMIT: usize = 5;

fn main() {}
