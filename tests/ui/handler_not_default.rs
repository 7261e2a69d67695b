//! The handler type must implement `Default`: each connection gets its own.
#![allow(unused_variables, dead_code)]

use cheese_api::prelude::*;

struct Chat {
    name: String,
}

#[websocket("/chat")]
impl Chat {
    async fn connection(&mut self) {
        let _ = self.send("hello").await;
    }
}

fn main() {
    let _app = App::new();
}
