#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Item;

#[websocket("/item/<id:int>")]
impl Item {
    async fn connection(&mut self) {}
}

#[derive(Default)]
struct NoHooks;

#[websocket("/user/<name:str>/<id:int>")]
impl NoHooks {}

fn main() {}
