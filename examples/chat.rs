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
//! Nothing lost across a reconnect: every room keeps its last 100 events
//! for 5 minutes (`App::history("*", History::last(100).ttl(..))`), and every
//! event ("joined", "left", "message") is sent with
//! `hub.to_room(room).publish(..)`, which gives it its position in the room:
//! `"epoch"` and `"offset"`. The page remembers the last position it saw and,
//! when the connection drops without it asking (not after a 4000+ refusal),
//! reconnects by itself (after 0.5 s, doubling up to 8 s) to
//! `/ws/<room>?nick=..&since=<epoch>:<offset>`. The chat joins it with
//! `join_since`: the events it missed come first, then
//! `{"type":"resumed","complete":bool,"recovered":n}`, then the usual
//! "joined". The page marks those `n` as missed while away; `complete: false`
//! (the position is older than what is kept, or the history was lost: the
//! server restarted) gets a "history incomplete: reload" note. A `since` that
//! is not `<epoch>:<offset>` closes with 4004.
//!
//! To see it: type `/drop` in the chat. The server closes that connection
//! with 1012 (service restart), as a redeploy would, and the page comes back
//! with what the others said meanwhile. Restarting the server instead loses
//! its in-memory history: the page reconnects and says so.
//!
//! Two instances sharing rooms, members and history through Redis:
//! `CHEESE_REDIS_URL=redis://127.0.0.1/ CHEESE_PORT=5214 cargo run --features redis --example chat`
//! and the same with `CHEESE_PORT=5215`; a tab on each port in the same room
//! shows both nicknames.
//!
//! Metrics: `cargo run --features metrics --example chat` also serves
//! `/metrics` in Prometheus' text format (examples/support/prometheus.rs):
//! open connections, messages, closes by code, hook durations, ... (the
//! table is in docs/deploying.md).

use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use cheese_api::prelude::*;
use cheese_api::{History, Position};
use serde::{Deserialize, Serialize};

#[cfg(feature = "metrics")]
#[path = "support/prometheus.rs"]
mod prometheus;

#[derive(Default)]
struct Chat {
    nick: String,
    room: String,
    /// Where the page left off, when it resumes (`?since=`).
    since: Option<Position>,
    /// Why this connection may not join, if it may not: it closes at once
    /// with this code and reason.
    turned_down: Option<(u16, &'static str)>,
}

#[derive(Deserialize)]
struct Join {
    /// A missing `?nick=` is a blank nickname, turned down like one.
    #[serde(default)]
    nick: String,
    /// `<epoch>:<offset>`: the last event the page saw.
    since: Option<String>,
}

/// The longest nickname and room name, in characters (the page's
/// `maxlength`).
const MAX_NAME: usize = 32;

/// What each room keeps for a page that comes back.
fn history() -> History {
    History::last(100).ttl(Duration::from_secs(300))
}

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

/// The position of `?since=`, or why it is turned down.
fn resume_from(since: Option<&str>) -> Result<Option<Position>, (u16, &'static str)> {
    since
        .map(|since| since.parse())
        .transpose()
        .map_err(|_| (4004, "since is not <epoch>:<offset>"))
}

#[derive(Deserialize)]
struct Say {
    text: String,
}

/// What the page types to have the server drop its connection (1012).
const DROP: &str = "/drop";

/// What presence keeps of a member (`Member::info`).
#[derive(Serialize)]
struct Info<'a> {
    nick: &'a str,
}

/// What the page receives. `members` is the room's member count on every
/// node and `nicks` their nicknames, both `null` when presence cannot be
/// answered (Redis unreachable): no number rather than a wrong one.
#[derive(Serialize, Clone)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event {
    Joined {
        room: String,
        nick: String,
        members: Option<usize>,
        nicks: Option<Vec<String>>,
    },
    Left {
        room: String,
        nick: String,
        members: Option<usize>,
        nicks: Option<Vec<String>>,
    },
    Message {
        room: String,
        nick: String,
        text: String,
    },
}

/// An event with its position in the room: `"epoch"` and `"offset"` beside
/// its own fields.
#[derive(Serialize)]
struct Stamped {
    #[serde(flatten)]
    event: Event,
    #[serde(flatten)]
    position: Position,
}

/// Sent to a resuming page once the events it missed were delivered.
#[derive(Serialize)]
#[serde(tag = "type", rename = "resumed")]
struct Resumed {
    /// `false`: some events may be missing; the page should reload.
    complete: bool,
    /// How many events came before this one, from history.
    recovered: usize,
}

#[websocket("/ws/<room:str>", max_size = 8192)]
impl Chat {
    async fn handshake(&mut self, join: Query<Join>, room: String) {
        self.nick = join.nick.trim().to_owned();
        self.turned_down = turn_down(&self.nick, &room);
        match resume_from(join.since.as_deref()) {
            Ok(since) => self.since = since,
            Err(refusal) => self.turned_down = self.turned_down.or(Some(refusal)),
        }
        self.room = room;
    }

    async fn connection(&mut self) {
        if let Some((code, reason)) = self.turned_down {
            tracing::info!(code, reason, "chat: turned down");
            let _ = self.close(code, reason).await;
            return;
        }
        let info = Info { nick: &self.nick };
        if let Some(since) = &self.since {
            // The missed events first, then the live ones; `join_with`
            // after it only sets this member's presence info.
            let recovery = self.join_since(&self.room, since).await;
            let _ = self.join_with(&self.room, info);
            let resumed = Resumed {
                complete: recovery.complete,
                recovered: recovery.recovered,
            };
            let _ = self.send(Json(resumed)).await;
        } else {
            let _ = self.join_with(&self.room, info);
        }
        let (members, nicks) = members(&self.hub(), &self.room).await;
        let joined = Event::Joined {
            room: self.room.clone(),
            nick: self.nick.clone(),
            members,
            nicks,
        };
        publish(&self.hub(), &self.room, joined).await;
    }

    async fn message(&mut self, message: Json<Say>) {
        let text = message.text.trim();
        if text == DROP {
            // A demo of recovery: the page reconnects with `since`.
            let _ = self.close(1012, "dropped on request (/drop)").await;
        } else if !text.is_empty() {
            let event = Event::Message {
                room: self.room.clone(),
                nick: self.nick.clone(),
                text: text.to_owned(),
            };
            publish(&self.hub(), &self.room, event).await;
        }
    }

    async fn disconnection(&mut self) {
        if self.turned_down.is_some() {
            return; // it never joined
        }
        self.leave(&self.room);
        let (members, nicks) = members(&self.hub(), &self.room).await;
        let left = Event::Left {
            room: self.room.clone(),
            nick: self.nick.clone(),
            members,
            nicks,
        };
        publish(&self.hub(), &self.room, left).await;
    }
}

/// Sends `event` to `room`, stamped with its position there.
async fn publish(hub: &Hub, room: &str, event: Event) {
    let stamped = move |position: &Position| {
        Json(Stamped {
            event: event.clone(),
            position: position.clone(),
        })
    };
    if let Err(e) = hub.to_room(room).publish(stamped).await {
        tracing::warn!(room, error = %e, "chat: event not sent");
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

/// The page at `/` and the chat route, with history in every room, on one
/// node; with the `metrics` feature, `/metrics` too.
pub(crate) fn node() -> App {
    let page = axum::Router::new().route("/", get(|| async { Html(include_str!("chat.html")) }));
    #[cfg(feature = "metrics")]
    let page = page.merge(prometheus::route());
    App::new().merge(page).history("*", history())
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
