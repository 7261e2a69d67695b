//! The seed's example of CheeseAPI, in Rust: greets on connect, echoes every
//! message, and closes with 1000 when told "over".
//!
//! `cargo run --example hello`, then connect to ws://127.0.0.1:5214/.

use cheese_api::prelude::*;

#[derive(Default)]
struct MyWebsocket;

#[websocket("/")]
impl MyWebsocket {
    async fn connection(&mut self) {
        let _ = self.send("这里是CheeseAPI！").await;
    }

    async fn message(&mut self, message: Message) {
        if message == "over" {
            let _ = self.close(1000, "").await;
        } else {
            let _ = self.send(message).await;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    App::new().run().await
}
