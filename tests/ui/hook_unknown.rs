#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn conection(&mut self) {}
    async fn on_message(&mut self, message: Message) {}
    async fn helper(&mut self) {}
}

#[derive(Default)]
struct Item;

// Only the misspelt hook is reported: `<id>` is not also "never used".
#[websocket("/item/<id:int>")]
impl Item {
    async fn on_connect(&mut self, id: i64) {}
}

fn main() {}
