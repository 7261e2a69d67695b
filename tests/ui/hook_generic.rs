//! A hook has concrete parameter types; lifetimes are fine.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn message<T>(&mut self, message: Message) {}
    async fn connection<'a>(&'a mut self, request: &'a Request) {}
    async fn disconnection<const N: usize>(&mut self) {}
}

fn main() {}
