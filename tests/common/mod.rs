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
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// A plain HTTP POST; returns the status and body.
pub async fn http_post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let len = body.len();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n{body}"
    );
    http_request(addr, &req).await
}

/// Sends a raw HTTP/1.1 request and reads the answer to the end.
async fn http_request(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
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

/// One WebSocket frame as read or written by [`RawWs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;

    /// The code and reason of a close frame (1005 when it has no body).
    pub fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, Frame::CLOSE, "not a close frame: {self:?}");
        match self.payload.as_slice() {
            [] => (1005, String::new()),
            [a, b, reason @ ..] => (
                u16::from_be_bytes([*a, *b]),
                String::from_utf8(reason.to_vec()).expect("UTF-8 close reason"),
            ),
            _ => panic!("close frame with a 1-byte body"),
        }
    }
}

/// What [`RawWs::read_frame`] saw.
#[derive(Debug)]
pub enum RawRead {
    Frame(Frame),
    /// The server ended the TCP connection (EOF or reset).
    End,
    /// Nothing complete arrived in time.
    Timeout,
}

/// A WebSocket client spoken by hand over a TCP stream: it does exactly what
/// a test tells it and nothing else (it never answers pings or closes on its
/// own, unlike tokio-tungstenite), so it can misbehave on purpose.
pub struct RawWs {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A WebSocket upgrade request for `path`, written by hand: `extra` is more
/// header lines, each ending in `\r\n`.
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Opens a TCP connection, upgrades it to WebSocket by hand on `path` and
/// panics unless the answer is `101`.
pub async fn raw_connect(addr: SocketAddr, path: &str) -> RawWs {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap(); // frames go out as written
    stream
        .write_all(upgrade_request(path, "").as_bytes())
        .await
        .unwrap();
    // Byte by byte, so no frame after the head is swallowed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(TIMEOUT, stream.read(&mut byte))
            .await
            .expect("handshake answer in time")
            .unwrap();
        assert!(n == 1, "connection closed before the response head ended");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 "), "upgrade refused: {head}");
    RawWs {
        stream,
        buf: Vec::new(),
    }
}

impl RawWs {
    /// Writes one frame, masked as a client must.
    pub async fn write_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = Vec::with_capacity(payload.len() + 14);
        out.push(if fin { 0x80 } else { 0 } | opcode);
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&KEY);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
        self.stream.write_all(&out).await.unwrap();
    }

    /// Writes a whole text message in one frame.
    pub async fn send_text(&mut self, text: &str) {
        self.write_frame(true, Frame::TEXT, text.as_bytes()).await;
    }

    /// Answers a close with a close frame carrying `code`.
    pub async fn send_close(&mut self, code: u16) {
        self.write_frame(true, Frame::CLOSE, &code.to_be_bytes())
            .await;
    }

    /// A complete frame parsed from the front of the buffer, if there is one.
    fn parse(&mut self) -> Option<Frame> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        assert_eq!(b[0] & 0x70, 0, "reserved bits set by the server");
        let masked = b[1] & 0x80 != 0;
        let (len, mut at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        let key = if masked {
            if b.len() < at + 4 {
                return None;
            }
            at += 4;
            Some([b[at - 4], b[at - 3], b[at - 2], b[at - 1]])
        } else {
            None
        };
        if b.len() < at + len {
            return None;
        }
        let mut payload = b[at..at + len].to_vec();
        if let Some(key) = key {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x ^= key[i % 4]);
        }
        self.buf.drain(..at + len);
        Some(Frame {
            fin,
            opcode,
            payload,
        })
    }

    /// The next frame the server sent, waiting at most `wait`.
    pub async fn read_frame(&mut self, wait: Duration) -> RawRead {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(frame) = self.parse() {
                return RawRead::Frame(frame);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return RawRead::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return RawRead::End,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next frame, within [`TIMEOUT`]; panics on a timeout or the end.
    pub async fn expect_frame(&mut self) -> Frame {
        match self.read_frame(TIMEOUT).await {
            RawRead::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Skips pings and expects a close frame with `code`; returns its reason.
    pub async fn expect_close(&mut self, code: u16) -> String {
        loop {
            let frame = self.expect_frame().await;
            match frame.opcode {
                Frame::PING => continue,
                Frame::CLOSE => {
                    let (got, reason) = frame.close();
                    assert_eq!(got, code, "close code (reason {reason:?})");
                    return reason;
                }
                _ => panic!("expected close {code}, got {frame:?}"),
            }
        }
    }

    /// Expects the server to end the TCP connection within `wait`, with no
    /// frame before it.
    pub async fn expect_end(&mut self, wait: Duration) {
        match self.read_frame(wait).await {
            RawRead::End => {}
            other => panic!("expected the connection to end, got {other:?}"),
        }
    }
}

/// Like [`start`], but every accepted connection has `SO_SNDBUF` and
/// `SO_RCVBUF` of `bytes` (Linux doubles it and turns off autotuning), so
/// what the kernel can buffer is small and known: for limits that promise a
/// bound "plus the socket buffers".
pub async fn start_with_buffers(app: App, bytes: u32) -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(bytes).unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(128).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener));
    addr
}

/// Like [`connect`], with the client's `SO_SNDBUF` and `SO_RCVBUF` set to `bytes`.
pub async fn connect_with_buffers(addr: SocketAddr, path: &str, bytes: u32) -> Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(bytes).unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let req = format!("ws://{addr}{path}").into_client_request().unwrap();
    let handshake = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream));
    match tokio::time::timeout(TIMEOUT, handshake).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => panic!("connect {path}: {e}"),
        Err(_) => panic!("connect {path}: timed out"),
    }
}
