//! The route is the first argument, a string literal.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Number;

#[websocket(42)]
impl Number {}

#[derive(Default)]
struct Bare;

#[websocket(/chat/<room>)]
impl Bare {
    async fn connection(&mut self) {
        let _ = self.send("hi").await;
    }
}

#[derive(Default)]
struct Missing;

#[websocket(max_size = 1024)]
impl Missing {}

#[derive(Default)]
struct Empty;

#[websocket]
impl Empty {}

#[derive(Default)]
struct NoComma;

#[websocket("/a" max_size = 1024)]
impl NoComma {}

#[derive(Default)]
struct Twice;

#[websocket("/a", "/b")]
impl Twice {}

fn main() {
    let _ = (Bare::PATH, Missing::LIMITS);
}
