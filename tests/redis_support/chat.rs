//! The app every Redis test node serves, in the test process and in the node
//! binary (tests/bin/node.rs includes this file): a client drives it with
//! one-line commands.
//!
//! `join ROOM`, `nick ROOM NAME` (joins with `{"nick": NAME}` as presence
//! info), `leave ROOM`, `say ROOM TEXT`, `others ROOM TEXT` (all but the
//! sender), `route TEXT` (every `/chat` connection), `to ID TEXT`, `id` (the
//! answer is the socket id, and proves every earlier command was handled),
//! `since ROOM EPOCH:OFFSET` (joins with recovery; the answer, after the
//! recovered messages, is the `Recovery` as JSON:
//! `{"recovery": {"complete": .., "recovered": .., "position": "E:O" | null}}`).

use cheese_api::prelude::*;

#[derive(Default)]
pub struct Chat;

#[websocket("/chat")]
impl Chat {
    async fn message(&mut self, message: String) {
        let mut words = message.splitn(3, ' ');
        let (cmd, a, b) = (
            words.next().unwrap(),
            words.next().unwrap_or(""),
            words.next().unwrap_or(""),
        );
        let hub = self.hub();
        match cmd {
            "join" => self.join(a),
            "nick" => self
                .join_with(a, serde_json::json!({ "nick": b }))
                .expect("a nickname is JSON"),
            "leave" => self.leave(a),
            "say" => {
                hub.to_room(a).send(b.to_owned()).unwrap();
            }
            "others" => {
                hub.to_room(a)
                    .except(self.socket().id())
                    .send(b.to_owned())
                    .unwrap();
            }
            "route" => {
                hub.to_route("/chat").send(a.to_owned()).unwrap();
            }
            "to" => {
                hub.to_sockets(&[a.parse().unwrap()])
                    .send(b.to_owned())
                    .unwrap();
            }
            "since" => {
                let since: cheese_api::Position = b.parse().expect("since ROOM EPOCH:OFFSET");
                let recovery = self.join_since(a, &since).await;
                let answer = serde_json::json!({ "recovery": {
                    "complete": recovery.complete,
                    "recovered": recovery.recovered,
                    "position": recovery.position.map(|p| p.to_string()),
                }});
                let _ = self.send(Json(answer)).await;
            }
            "id" => {
                let _ = self.send(self.socket().id().to_string()).await;
            }
            other => panic!("unknown command {other:?}"),
        }
    }
}
