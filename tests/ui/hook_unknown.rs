use cheese_api::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn conection(&mut self) {}
    async fn on_message(&mut self, message: Message) {}
    async fn helper(&mut self) {}
}

fn main() {}
