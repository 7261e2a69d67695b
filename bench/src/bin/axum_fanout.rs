//! Plain axum's side of the fan-out scenario, the same fan-out written by
//! hand: axum 0.8's `WebSocketUpgrade`, a `tokio::sync::broadcast` channel
//! of `Utf8Bytes` (capacity 1024) in the router's state, one task per
//! connection that `select!`s between its socket (a text `go <n>` sends one
//! 64-byte message holding `n` into the channel: built once, every
//! receiver gets a reference-counted clone of the same bytes) and its
//! receiver (each broadcast goes out with `socket.send`). `TCP_NODELAY` on
//! accepted sockets, as cheese-api sets it (`axum::serve` leaves Nagle's
//! algorithm on, which would hold back a small message until the previous
//! one is acknowledged); every other setting default.
//!
//! `axum_fanout [PORT]` (or `PORT=...`; default 9103), serves
//! `ws://127.0.0.1:PORT/`.

#[path = "../fanout_wire.rs"]
mod fanout_wire;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::sync::broadcast::{self, error::RecvError};

type Tx = broadcast::Sender<Utf8Bytes>;

async fn upgrade(ws: WebSocketUpgrade, State(tx): State<Tx>) -> Response {
    ws.on_upgrade(move |socket| connection(socket, tx))
}

async fn connection(mut socket: WebSocket, tx: Tx) {
    let mut rx = tx.subscribe();
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(n) = fanout_wire::parse_go(text.as_str()) {
                        let _ = tx.send(Utf8Bytes::from(fanout_wire::payload(n)));
                    }
                }
                // Pings are answered by the engine; after a Close the next
                // `recv` sends the reply and ends the stream.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            outgoing = rx.recv() => match outgoing {
                Ok(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                // Fell more than 1024 broadcasts behind: skip them (the
                // benchmark's client reports the gap).
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .map_or(9103, |p| p.parse().expect("PORT is not a port"));
    let (tx, _) = broadcast::channel::<Utf8Bytes>(1024);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app = Router::new().route("/", get(upgrade)).with_state(tx);
    axum::serve(listener, app).await
}
