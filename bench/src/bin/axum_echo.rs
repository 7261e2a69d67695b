//! Plain axum 0.8 echo with every default: `WebSocketUpgrade` as is (128 KiB
//! read buffer), `axum::serve` as is (Nagle left on), one `send` (= feed +
//! flush, one write system call) per echoed message. The baseline every ratio
//! in the benchmark is taken against.
//!
//! `--nodelay` changes one thing: `TCP_NODELAY` on every accepted socket
//! (`ListenerExt::tap_io`). The benchmark runs it as a fourth server, to
//! tell what Nagle's algorithm costs the defaults from what batching gains.
//!
//! `axum_echo [PORT] [--nodelay]` (or `PORT=...`; default 9101), serves
//! `ws://127.0.0.1:PORT/`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    // A received Close is not a reason to stop: the next `recv` flushes the
    // engine's close reply and then ends the stream.
    while let Some(Ok(message)) = socket.recv().await {
        if matches!(message, Message::Text(_) | Message::Binary(_))
            && socket.send(message).await.is_err()
        {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let nodelay = std::env::args().any(|a| a == "--nodelay");
    let port = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .or_else(|| std::env::var("PORT").ok())
        .map_or(9101, |p| p.parse().expect("PORT is not a port"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let app = Router::new().route("/", get(upgrade));
    if nodelay {
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    } else {
        axum::serve(listener, app).await
    }
}
