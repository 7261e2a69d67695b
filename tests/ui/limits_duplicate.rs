#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct A;

#[websocket("/a", max_size = 1024, ping_interval = 5, max_size = 2048)]
impl A {}

fn main() {}
