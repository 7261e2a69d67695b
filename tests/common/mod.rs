//! Shared helpers for the integration tests: start an app on a loopback port,
//! connect a real tokio-tungstenite client, and receive with a timeout so a
//! broken promise fails the test instead of hanging it.
#![allow(dead_code)]

use cheese_api::App;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
pub use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `app` on 127.0.0.1 with a free port; returns the address.
pub async fn start(app: App) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener));
    addr
}

/// Connects to `path` (with query) and panics if the handshake fails.
pub async fn connect(addr: SocketAddr, path: &str) -> Client {
    connect_with(addr, path, &[])
        .await
        .unwrap_or_else(|e| panic!("connect {path}: {e}"))
}

/// Connects with extra request headers; returns the HTTP status on refusal.
pub async fn connect_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Client, u16> {
    connect_full(addr, path, headers).await.map(|(ws, _)| ws)
}

/// Connects and also returns the handshake response's headers.
pub async fn connect_full(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Client, tokio_tungstenite::tungstenite::http::HeaderMap), u16> {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req)).await {
        Ok(Ok((ws, resp))) => Ok((ws, resp.headers().clone())),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => Err(resp.status().as_u16()),
        Ok(Err(e)) => panic!("connect {path}: {e}"),
        Err(_) => panic!("connect {path}: timed out"),
    }
}

/// The next data or close frame (pings and pongs skipped), within [`TIMEOUT`].
pub async fn recv(ws: &mut Client) -> WsMessage {
    loop {
        match tokio::time::timeout(TIMEOUT, ws.next()).await {
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
            Ok(Some(Ok(m))) => return m,
            Ok(Some(Err(e))) => panic!("receive failed: {e}"),
            Ok(None) => panic!("connection ended without a close frame"),
            Err(_) => panic!("nothing received within {TIMEOUT:?}"),
        }
    }
}

/// The next text message.
pub async fn recv_text(ws: &mut Client) -> String {
    match recv(ws).await {
        WsMessage::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Sends a text message.
pub async fn send_text(ws: &mut Client, text: &str) {
    ws.send(WsMessage::text(text)).await.unwrap();
}

/// Expects a close frame with `code`; returns its reason.
pub async fn expect_close(ws: &mut Client, code: u16) -> String {
    match recv(ws).await {
        WsMessage::Close(Some(frame)) => {
            assert_eq!(
                u16::from(frame.code),
                code,
                "close code (reason {:?})",
                frame.reason
            );
            // Reading on sends our answer to the close, like a well-behaved
            // client, and sees the server end the TCP connection.
            let end = tokio::time::timeout(TIMEOUT, ws.next()).await;
            assert!(
                matches!(end, Ok(None) | Ok(Some(Err(_)))),
                "after close: {end:?}"
            );
            frame.reason.to_string()
        }
        other => panic!("expected close {code}, got {other:?}"),
    }
}

/// Asserts nothing arrives within `wait`.
pub async fn expect_silence(ws: &mut Client, wait: Duration) {
    if let Ok(Some(m)) = tokio::time::timeout(wait, ws.next()).await {
        panic!("expected nothing, got {m:?}");
    }
}

/// The status and body of a plain HTTP GET, sent over a raw socket.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(TIMEOUT, s.read_to_string(&mut out))
        .await
        .expect("HTTP answer in time")
        .unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn close_code(code: u16) -> CloseCode {
    CloseCode::from(code)
}

/// Sends a WebSocket upgrade request by hand and returns the status and the
/// response head, lower-cased: for answers a strict client would refuse to
/// show (a browser accepts a server that declines every offered subprotocol;
/// tungstenite's client does not).
pub async fn raw_handshake(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, s.read(&mut byte))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n == 1, "connection closed before the response head ended");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, head)
}
