//! `key = value`: a missing `=` or value is one error on that argument, and
//! the other arguments are still read.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct A;

#[websocket("/a", max_size 5, ping_interval = 5, max_queue =, open_timeout)]
impl A {}

#[derive(Default)]
struct B;

#[websocket("/b", , max_size = 5)]
impl B {}

fn main() {
    assert_eq!(A::LIMITS.ping_interval, Some(std::time::Duration::from_secs(5)));
}
