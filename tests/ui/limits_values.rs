#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct A;

#[websocket(
    "/a",
    open_timeout = -1,
    ping_interval = 0,
    ping_timeout = 0.0,
    close_timeout = "10",
    max_size = 1.5,
    max_queue = 0,
    read_limit = None,
    write_limit = -1,
)]
impl A {}

#[derive(Default)]
struct B;

#[websocket(
    "/b",
    open_timeout = 1e10,
    ping_interval = SECONDS,
    max_size = 1 << 70,
    max_queue = 16 % 3,
    read_limit = 1 - 2,
)]
impl B {}

const SECONDS: u64 = 5;

fn main() {}
