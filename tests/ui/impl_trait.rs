//! The hooks go in an inherent impl block, not in a trait impl.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

trait Greeter {
    fn greet(&self) -> &'static str;
}

#[websocket("/chat")]
impl Greeter for Chat {
    fn greet(&self) -> &'static str {
        "hello"
    }
}

fn main() {
    assert_eq!(Chat.greet(), "hello");
}
