//! One concrete type per route: a generic impl block is one error, and the
//! hooks' `self.send(..)` still type-checks.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Room<T> {
    state: T,
}

#[websocket("/room")]
impl<T: Default + Send + 'static> Room<T> {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

#[derive(Default)]
struct Borrowed<'a> {
    name: &'a str,
}

#[websocket("/borrowed")]
impl<'a> Borrowed<'a> {
    async fn connection(&mut self) {
        self.join("lobby");
    }
}

fn main() {}
