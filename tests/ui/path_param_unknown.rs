#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Item;

#[websocket("/item/<id:int>")]
impl Item {
    async fn connection(&mut self, idd: i64) {}
}

#[derive(Default)]
struct Static;

#[websocket("/static")]
impl Static {
    async fn message(&mut self, message: Message, page: u32) {}
}

fn main() {}
