#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    fn connection(&mut self) {}
    pub fn message(&mut self, message: Message) {}
}

fn main() {}
