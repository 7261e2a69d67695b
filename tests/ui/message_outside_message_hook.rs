#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn connection(&mut self, message: Message) {}
    async fn disconnection(&mut self, request: &Request, message: String) {}
}

fn main() {}
