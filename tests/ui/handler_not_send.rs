//! The handler type must be `Send`: connections run on Tokio's worker threads.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;
use std::rc::Rc;

#[derive(Default)]
struct Chat {
    seen: Rc<u32>,
}

#[websocket("/chat")]
impl Chat {
    async fn connection(&mut self) {
        let _ = self.send("hello").await;
    }
    async fn message(&mut self, message: Message) {}
}

fn main() {
    let _app = App::new();
}
