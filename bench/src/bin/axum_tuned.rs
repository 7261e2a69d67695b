//! Plain axum 0.8 echo tuned by hand, through axum's public API only:
//!
//! - `read_buffer_size(4096)`: tungstenite allocates (and zeroes) the read
//!   buffer up front, 128 KiB by default; 4 KiB keeps idle connections small.
//! - `TCP_NODELAY` on every accepted socket (`ListenerExt::tap_io`).
//! - Batched writes: take every message that is already readable (polled
//!   once with `now_or_never`, no waiting), `feed` each echo into the write
//!   buffer, and flush once when reading would wait. While a flush is
//!   blocked nothing more is read, so a slow reader slows its sender down.
//!
//! `axum_tuned [PORT]` (or `PORT=...`; default 9102), serves `ws://127.0.0.1:PORT/`.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures_util::{FutureExt, SinkExt};

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(4096).on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    loop {
        // Wait for the first message of a batch.
        let Some(Ok(first)) = socket.recv().await else {
            return;
        };
        let mut open = feed(&mut socket, first).await;
        // Then everything already readable, without waiting.
        while open {
            match socket.recv().now_or_never() {
                Some(Some(Ok(message))) => open = feed(&mut socket, message).await,
                Some(_) => open = false,
                None => break,
            }
        }
        // Flush once: the close reply and pongs queued by the engine go too.
        if socket.flush().await.is_err() || !open {
            return;
        }
    }
}

/// Queues the echo of `message` without a system call (unless the write
/// buffer is full); `false` once the connection is done.
async fn feed(socket: &mut WebSocket, message: Message) -> bool {
    match message {
        Message::Text(_) | Message::Binary(_) => socket.feed(message).await.is_ok(),
        Message::Close(_) => true, // the next read sends the reply and ends
        _ => true,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = port(9102);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app = Router::new().route("/", get(upgrade));
    axum::serve(listener, app).await
}

fn port(default: u16) -> u16 {
    std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok())
        .map(|p| p.parse().expect("PORT is not a port"))
        .unwrap_or(default)
}
