//! Parameters are bound by their name, so each must be a plain name.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat/<a:int>")]
impl Chat {
    async fn connection(&mut self, (a, b): (i64, i64)) {}
    async fn message(&mut self, _: Message) {}
    async fn disconnection(&mut self, mut a: i64) {
        a = a.max(0);
        let _ = a;
    }
}

fn main() {}
