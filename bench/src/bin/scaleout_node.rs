//! One node of the scale-out benchmark (`cheese-bench scaleout`): a
//! cheese-api app on a `RedisBackplane`, three routes.
//!
//! - `/member/<room>`: the connection joins `room` and only listens.
//! - `/publish`: each text message `<room> ...` is sent as is to `room`,
//!   on every node (`hub.to_room(room).send(..)`).
//! - `GET /stats`: this node's counters as JSON,
//!   `{"envelopes_received":N,"messages_out":N,"open_connections":N}`.
//!
//! `scaleout_node PORT REDIS_URL CHANNEL`. It uses only API that the
//! one-channel design had (commit 5933f6c): the harness builds this same
//! file against that commit too, to compare both designs.

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use cheese_api::prelude::*;
use cheese_api::RedisBackplane;

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
            let room = room.to_owned();
            let _ = self.hub().to_room(&room).send(message);
        }
    }
}

fn main() -> std::io::Result<()> {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    let mut args = std::env::args().skip(1);
    let usage = "usage: scaleout_node PORT REDIS_URL CHANNEL";
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let url = args.next().expect(usage);
    let channel = args.next().expect(usage);
    let backplane = RedisBackplane::new(&url)
        .expect("REDIS_URL is a redis:// URL")
        .channel(channel);
    tokio::runtime::Runtime::new()?.block_on(async move {
        let app = App::new().port(port).backplane(backplane);
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
