#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Item;

#[websocket("/item/<id:int>/<tags:str>")]
impl Item {
    async fn connection(&mut self, id: i64, tags: Vec<String>) {}
}

fn main() {}
