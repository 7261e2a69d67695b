//! A browser chat with rooms: one HTML page (no build step, no CDN) and one
//! WebSocket route. Every message goes to the room once serialized.
//!
//! `cargo run --example chat`, then open the page URL it logs
//! (http://127.0.0.1:5214/) in two tabs.
//!
//! A nickname or room the chat cannot take is not refused with an HTTP
//! status: a browser's `WebSocket` never shows one (only close code 1006).
//! The chat accepts and closes at once with a code from 4000 up and a reason
//! the page shows, e.g. 4001 "a nickname is required".
//!
//! "joined" and "left" carry the room's members on every node (presence:
//! `join_with` a nickname, `hub.presence`), and the page lists them.
//!
//! Two instances sharing rooms and members through Redis:
//! `CHEESE_REDIS_URL=redis://127.0.0.1/ CHEESE_PORT=5214 cargo run --features redis --example chat`
//! and the same with `CHEESE_PORT=5215`; a tab on each port in the same room
//! shows both nicknames.

use axum::response::Html;
use axum::routing::get;
use cheese_api::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Default)]
struct Chat {
    nick: String,
    room: String,
    /// Why this connection may not join, if it may not: it closes at once
    /// with this code and reason.
    turned_down: Option<(u16, &'static str)>,
}

#[derive(Deserialize)]
struct Join {
    /// A missing `?nick=` is a blank nickname, turned down like one.
    #[serde(default)]
    nick: String,
}

/// The longest nickname and room name, in characters (the page's
/// `maxlength`).
const MAX_NAME: usize = 32;

/// Why `nick` and `room` cannot join, as a close code and its reason.
fn turn_down(nick: &str, room: &str) -> Option<(u16, &'static str)> {
    if nick.is_empty() {
        Some((4001, "a nickname is required"))
    } else if nick.chars().count() > MAX_NAME {
        Some((4002, "a nickname is at most 32 characters"))
    } else if room.chars().count() > MAX_NAME {
        Some((4003, "a room name is at most 32 characters"))
    } else {
        None
    }
}

#[derive(Deserialize)]
struct Say {
    text: String,
}

/// What presence keeps of a member (`Member::info`).
#[derive(Serialize)]
struct Info<'a> {
    nick: &'a str,
}

/// What the page receives. `members` is the room's member count on every
/// node and `nicks` their nicknames, both `null` when presence cannot be
/// answered (Redis unreachable): no number rather than a wrong one.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event<'a> {
    Joined {
        room: &'a str,
        nick: &'a str,
        members: Option<usize>,
        nicks: Option<Vec<String>>,
    },
    Left {
        room: &'a str,
        nick: &'a str,
        members: Option<usize>,
        nicks: Option<Vec<String>>,
    },
    Message {
        room: &'a str,
        nick: &'a str,
        text: &'a str,
    },
}

#[websocket("/ws/<room:str>", max_size = 8192)]
impl Chat {
    async fn handshake(&mut self, join: Query<Join>, room: String) {
        self.nick = join.nick.trim().to_owned();
        self.turned_down = turn_down(&self.nick, &room);
        self.room = room;
    }

    async fn connection(&mut self) {
        if let Some((code, reason)) = self.turned_down {
            tracing::info!(code, reason, "chat: turned down");
            let _ = self.close(code, reason).await;
            return;
        }
        let _ = self.join_with(&self.room, Info { nick: &self.nick });
        let (members, nicks) = members(&self.hub(), &self.room).await;
        let _ = self.hub().to_room(&self.room).send(Json(Event::Joined {
            room: &self.room,
            nick: &self.nick,
            members,
            nicks,
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
        if self.turned_down.is_some() {
            return; // it never joined
        }
        self.leave(&self.room);
        let (members, nicks) = members(&self.hub(), &self.room).await;
        let _ = self.hub().to_room(&self.room).send(Json(Event::Left {
            room: &self.room,
            nick: &self.nick,
            members,
            nicks,
        }));
    }
}

/// The members of `room` on every node: how many, and their nicknames in
/// order; `None` when presence cannot answer.
async fn members(hub: &Hub, room: &str) -> (Option<usize>, Option<Vec<String>>) {
    match hub.presence(room).await {
        Ok(members) => {
            let mut nicks: Vec<String> = members
                .iter()
                .filter_map(|m| m.info["nick"].as_str().map(str::to_owned))
                .collect();
            nicks.sort();
            (Some(members.len()), Some(nicks))
        }
        Err(e) => {
            tracing::warn!(room, error = %e, "chat: no member list");
            (None, None)
        }
    }
}

/// The page at `/` and the chat route, on one node.
pub(crate) fn node() -> App {
    let page = axum::Router::new().route("/", get(|| async { Html(include_str!("chat.html")) }));
    App::new().merge(page)
}

/// The app: one node, or one of many with `CHEESE_REDIS_URL` (and the
/// `redis` feature).
pub(crate) fn app() -> App {
    let app = node();
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
