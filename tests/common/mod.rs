//! The integration tests' deliberately misbehaving clients: what the shipped
//! test client (`cheese_api::testing`) must not do, because no browser does
//! it. Every well-behaved client in these tests is `cheese_api::testing`'s.
//!
//! - [`RawWs`] ([`raw_connect`]): a WebSocket client spoken by hand over
//!   TCP that does exactly what a test says and nothing else: bad or
//!   fragmented frames, never an answer to a ping or a close.
//! - [`upgrade_request`]: the upgrade request written by hand, for clients
//!   that hold a handshake open or never read its answer.
//! - [`start_with_buffers`], [`connect_with_buffers`]: connections with tiny
//!   kernel socket buffers, for the limits that promise a bound "plus the
//!   socket buffers". The client on such a socket is the shipped
//!   [`TestClient`]; only its socket is small.
#![allow(dead_code)] // each test binary uses a part

use cheese_api::testing::{TestClient, TestServer};
use cheese_api::App;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};

/// How long a raw read waits before the test fails: the test client's.
pub const TIMEOUT: Duration = TestClient::DEFAULT_TIMEOUT;

/// A WebSocket upgrade request for `path`, written by hand: `extra` is more
/// header lines, each ending in `\r\n`.
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
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

/// A TCP socket whose `SO_SNDBUF` and `SO_RCVBUF` are `bytes` (Linux
/// doubles it and turns off autotuning), so what the kernel can buffer is
/// small and known.
fn small_socket(bytes: u32) -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(bytes).unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    socket
}

/// Serves `app` like [`TestServer::start`], but every accepted connection
/// has socket buffers of `bytes` (see [`small_socket`]).
pub fn start_with_buffers(app: App, bytes: u32) -> TestServer {
    let socket = small_socket(bytes);
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    TestServer::start_on(app, socket.listen(128).unwrap())
}

/// Connects a test client to `path` like [`TestServer::connect`], on a
/// socket with buffers of `bytes` (see [`small_socket`]).
pub async fn connect_with_buffers(server: &TestServer, path: &str, bytes: u32) -> TestClient {
    let stream = small_socket(bytes).connect(server.addr()).await.unwrap();
    server
        .request(path)
        .connect_on(stream)
        .await
        .unwrap_or_else(|refused| panic!("connect {path}: {refused}"))
}
