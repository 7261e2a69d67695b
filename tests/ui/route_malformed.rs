#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Unclosed;

#[websocket("/item/<id:int")]
impl Unclosed {}

#[derive(Default)]
struct DoubleSlash;

#[websocket("/a//b")]
impl DoubleSlash {}

#[derive(Default)]
struct TextAround;

#[websocket("/a<b>")]
impl TextAround {}

#[derive(Default)]
struct NoLeadingSlash;

#[websocket("chat")]
impl NoLeadingSlash {}

#[derive(Default)]
struct Duplicate;

#[websocket("/<id:int>/x/<id:str>")]
impl Duplicate {
    async fn connection(&mut self, id: i64) {}
}

#[derive(Default)]
struct BadNames;

#[websocket("/<9:int>/<x:in-t>/")]
impl BadNames {}

#[derive(Default)]
struct Unicode;

#[websocket("/çà//<é>")]
impl Unicode {}

#[derive(Default)]
struct Wide;

#[websocket("/房间//<id:int>")]
impl Wide {
    async fn connection(&mut self, id: i64) {}
}

#[derive(Default)]
struct Escaped;

#[websocket("/a\tb<x>")]
impl Escaped {}

fn main() {}
