//! A browser chat with rooms: one HTML page (no build step, no CDN) and one
//! WebSocket route. Every message goes to the room once serialized.
//!
//! `cargo run --example chat`, then open http://127.0.0.1:5214 in two tabs.
//!
//! Two instances sharing rooms through Redis:
//! `CHEESE_REDIS_URL=redis://127.0.0.1/ CHEESE_PORT=5214 cargo run --features redis --example chat`
//! and the same with `CHEESE_PORT=5215`.

use axum::response::Html;
use axum::routing::get;
use cheese_api::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Chat {
    nick: String,
    room: String,
}

#[derive(Deserialize)]
struct Join {
    nick: String,
}

#[derive(Deserialize)]
struct Say {
    text: String,
}

/// What the page receives.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event<'a> {
    Joined {
        room: &'a str,
        nick: &'a str,
        members: usize,
    },
    Left {
        room: &'a str,
        nick: &'a str,
        members: usize,
    },
    Message {
        room: &'a str,
        nick: &'a str,
        text: &'a str,
    },
}

#[websocket("/ws/<room:str>", max_size = 8192)]
impl Chat {
    async fn handshake(
        &mut self,
        join: Query<Join>,
        room: String,
    ) -> Result<(), (StatusCode, &'static str)> {
        let nick = join.nick.trim();
        if nick.is_empty() || nick.len() > 32 || room.len() > 32 {
            return Err((
                StatusCode::BAD_REQUEST,
                "nickname and room: 1 to 32 characters",
            ));
        }
        self.nick = nick.to_owned();
        self.room = room;
        Ok(())
    }

    async fn connection(&mut self) {
        self.join(&self.room);
        let hub = self.hub();
        let members = hub.room_size(&self.room);
        let _ = hub.to_room(&self.room).send(Json(Event::Joined {
            room: &self.room,
            nick: &self.nick,
            members,
        }));
    }

    async fn message(&mut self, message: Json<Say>) {
        let text = message.text.trim();
        if !text.is_empty() {
            let event = Event::Message {
                room: &self.room,
                nick: &self.nick,
                text,
            };
            let _ = self.hub().to_room(&self.room).send(Json(event));
        }
    }

    async fn disconnection(&mut self) {
        self.leave(&self.room);
        let hub = self.hub();
        let members = hub.room_size(&self.room);
        let _ = hub.to_room(&self.room).send(Json(Event::Left {
            room: &self.room,
            nick: &self.nick,
            members,
        }));
    }
}

/// The app: the page at `/` and the chat route.
pub(crate) fn app() -> App {
    let page = axum::Router::new().route("/", get(|| async { Html(include_str!("chat.html")) }));
    let app = App::new().merge(page);
    #[cfg(feature = "redis")]
    let app = match std::env::var("CHEESE_REDIS_URL") {
        Ok(url) => app.backplane(
            cheese_api::RedisBackplane::new(&url).expect("CHEESE_REDIS_URL is a redis:// URL"),
        ),
        Err(_) => app,
    };
    app
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    app().run().await
}
