#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct A;

#[websocket("/a", max_sise = 1024)]
impl A {}

#[derive(Default)]
struct B;

#[websocket("/b", ping_intervall = 5, compression = true)]
impl B {}

fn main() {}
