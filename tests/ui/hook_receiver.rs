#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn connection(&self) {}
    async fn message(self, message: Message) {}
    async fn disconnection() {}
    async fn handshake(request: &Request) {}
    async fn subprotocol(self: Box<Self>) -> Option<String> {
        None
    }
}

fn main() {}
