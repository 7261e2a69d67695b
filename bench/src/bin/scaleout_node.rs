//! One node of the scale-out and history benchmarks (`cheese-bench
//! scaleout`, `cheese-bench history`): a cheese-api app, three routes.
//!
//! - `/member/<room>`: the connection joins `room` and only listens.
//! - `/publish`: each text message `<room> ...` is sent as is to `room`,
//!   on every node (`hub.to_room(room).send(..)`); in `history` mode with
//!   `hub.to_room(room).publish(..)`, followed by ` <offset>` (its position
//!   in the room, as an app's event would carry it).
//! - `GET /stats`: this node's counters as JSON,
//!   `{"envelopes_received":N,"messages_out":N,"open_connections":N}`.
//!
//! `scaleout_node PORT REDIS_URL CHANNEL [history]`: REDIS_URL `-` runs
//! alone, without Redis; `history` keeps the last 100 messages of every room
//! (`App::history("*", History::last(100))`).
//!
//! Without `history` it uses only API that the one-channel design had
//! (commit 5933f6c): the harnesses build this same file against older
//! commits too, to compare. The `history` mode is the crate feature of that
//! name (a default one), which those commits' bench packages do not have.

// The older commits' bench packages do not declare the `history` feature.
#![allow(unexpected_cfgs)]

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use cheese_api::prelude::*;
use cheese_api::RedisBackplane;

/// Whether rooms keep history (`history` mode).
#[cfg(feature = "history")]
static HISTORY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// A room member: joins the room of its URL, then only receives.
#[derive(Default)]
struct Member {
    room: String,
}

#[websocket("/member/<room:str>")]
impl Member {
    async fn handshake(&mut self, room: String) {
        self.room = room;
    }

    async fn connection(&mut self) {
        self.join(&self.room);
    }
}

/// A publisher: every message goes to the room named by its first word.
/// It receives nothing, so it is never pinged (it would not read a ping).
#[derive(Default)]
struct Publisher;

#[websocket("/publish", ping_interval = None)]
impl Publisher {
    async fn message(&mut self, message: String) {
        if let Some((room, _)) = message.split_once(' ') {
            let room = self.hub().to_room(room);
            #[cfg(feature = "history")]
            if HISTORY.get() == Some(&true) {
                let _ = room
                    .publish(move |at| format!("{message} {}", at.offset))
                    .await;
                return;
            }
            let _ = room.send(message);
        }
    }
}

fn main() -> std::io::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    let mut args = std::env::args().skip(1);
    let usage = "usage: scaleout_node PORT REDIS_URL|- CHANNEL [history]";
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let url = args.next().expect(usage);
    let channel = args.next().expect(usage);
    let history = match args.next().as_deref() {
        None => false,
        Some("history") => true,
        Some(_) => panic!("{usage}"),
    };
    tokio::runtime::Runtime::new()?.block_on(async move {
        let mut app = App::new().port(port);
        if url != "-" {
            let backplane = RedisBackplane::new(&url)
                .expect("REDIS_URL is a redis:// URL")
                .channel(channel);
            app = app.backplane(backplane);
        }
        #[cfg(feature = "history")]
        if history {
            HISTORY.set(true).expect("set once");
            app = app.history("*", cheese_api::History::last(100));
        }
        #[cfg(not(feature = "history"))]
        assert!(!history, "this build has no `history` feature");
        let hub = app.hub();
        let stats = get(move || {
            let s = hub.stats();
            async move {
                let json = format!(
                    "{{\"envelopes_received\":{},\"messages_out\":{},\"open_connections\":{}}}",
                    s.envelopes_received, s.messages_out, s.open_connections
                );
                ([(CONTENT_TYPE, "application/json")], json)
            }
        });
        app.merge(axum::Router::new().route("/stats", stats))
            .run()
            .await
    })
}
