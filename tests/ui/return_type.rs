#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn handshake(&mut self) -> bool {
        true
    }
    async fn subprotocol(&mut self) -> String {
        String::new()
    }
    async fn connection(&mut self) -> u32 {
        0
    }
    async fn message(&mut self, message: Message) -> Result<(), ()> {
        Ok(())
    }
    async fn disconnection(&mut self) -> bool {
        false
    }
}

fn main() {}
