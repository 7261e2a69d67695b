//! One mistake is one error: a misspelt hook and a misspelt route name give
//! exactly two errors, on those two tokens. The rest of the code (the
//! hooks' `self.send`, `self.join`, `self.hub()`, `T::PATH`, registering
//! the type) type-checks as if they were right, with no cascade.

use cheese_api::prelude::*;

#[derive(Default)]
struct Room {
    name: String,
}

#[websocket("/room/<name>/<id:int>")]
impl Room {
    async fn conection(&mut self, name: String) {
        self.join(&name);
        self.name = name;
        let _ = self.send("welcome").await;
    }

    async fn message(&mut self, message: Message, idd: i64) {
        let _ = (self.hub(), idd + 1);
        let _ = self.send(message).await;
    }

    async fn disconnection(&mut self) {
        self.leave(&self.name);
    }
}

fn main() {
    assert_eq!(Room::PATH, "/room/<name>/<id:int>");
    let _app = App::empty().websocket::<Room>();
}
