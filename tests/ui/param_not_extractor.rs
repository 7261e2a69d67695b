use cheese_api::prelude::*;

#[derive(Default)]
struct Room;

struct Settings {
    verbose: bool,
}

#[websocket("/room/<name:str>")]
impl Room {
    async fn connection(&mut self, name: String, foo: Vec<String>) {}
    async fn message(&mut self, message: Message, settings: Settings) {}
}

fn main() {}
