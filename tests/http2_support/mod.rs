//! The HTTP/2 client of tests/http2.rs: hyper's client over rustls with
//! ALPN `h2` (as axum's own test of RFC 8441), each WebSocket an extended
//! CONNECT with `:protocol websocket` wrapped by tokio-tungstenite as a
//! client; reads with the test client's timeout; and a tap on the
//! connection that counts the GOAWAY frames the server sends.
#![allow(dead_code)] // each test binary uses a part

use crate::tls_support::Certificate;
use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use cheese_api::Refusal;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::{self, SendRequest};
use hyper::ext::Protocol;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// How long a read waits before the test fails: the test client's.
pub const TIMEOUT: Duration = TestClient::DEFAULT_TIMEOUT;

/// A WebSocket over one HTTP/2 stream, as the client sees it.
pub type Ws = WebSocketStream<TokioIo<Upgraded>>;

/// One HTTP/2 connection over TLS to a test's app.
pub struct H2 {
    send: SendRequest<Empty<Bytes>>,
    /// The connection's task: it ends when the server closes the connection.
    pub ended: JoinHandle<hyper::Result<()>>,
    /// GOAWAY frames received so far.
    pub goaways: Arc<AtomicUsize>,
    pub authority: String,
    /// The client's end of the TCP connection.
    pub local: SocketAddr,
}

impl H2 {
    pub async fn connect(server: &TestServer, cert: &Certificate) -> H2 {
        let tls = cert.client(&[b"h2", b"http/1.1"]);
        let tls = tls.connect(server.addr()).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let local = tls.get_ref().0.local_addr().unwrap();
        let goaways = Arc::new(AtomicUsize::new(0));
        let io = GoawayTap::new(tls, goaways.clone());
        let (send, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(io))
            .await
            .unwrap();
        let mut connection = Box::pin(connection);
        // The server's SETTINGS must enable extended CONNECT (RFC 8441 §3).
        // h2 applies them when it acknowledges them, at a later poll than
        // the one that read them: poll again until then.
        let settings = std::future::poll_fn(|cx| match connection.as_mut().poll(cx) {
            Poll::Ready(result) => panic!("connection ended before its SETTINGS: {result:?}"),
            Poll::Pending if connection.is_extended_connect_protocol_enabled() => Poll::Ready(()),
            Poll::Pending => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        });
        timeout(TIMEOUT, settings)
            .await
            .expect("SETTINGS_ENABLE_CONNECT_PROTOCOL from the server");
        H2 {
            send,
            ended: tokio::spawn(connection),
            goaways,
            authority: format!("localhost:{}", server.addr().port()),
            local,
        }
    }

    /// An extended CONNECT for `path`, to add headers to.
    pub fn connect_request(&self, path: &str) -> hyper::http::request::Builder {
        hyper::Request::connect(format!("https://{}{path}", self.authority))
            .extension(Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
    }

    /// The WebSocket at `path`, or the refusal's status and body.
    pub async fn open(&mut self, path: &str) -> Result<Ws, (u16, String)> {
        self.open_with(self.connect_request(path)).await
    }

    pub async fn open_with(
        &mut self,
        request: hyper::http::request::Builder,
    ) -> Result<Ws, (u16, String)> {
        let response = self.send(request).await;
        if response.status() != StatusCode::OK {
            return Err(refusal(response).await);
        }
        let upgraded = timeout(TIMEOUT, hyper::upgrade::on(response))
            .await
            .unwrap()
            .unwrap();
        Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await)
    }

    pub async fn send(
        &mut self,
        request: hyper::http::request::Builder,
    ) -> hyper::Response<hyper::body::Incoming> {
        let request = request.body(Empty::new()).unwrap();
        timeout(TIMEOUT, async {
            self.send.ready().await.unwrap();
            self.send.send_request(request).await.unwrap()
        })
        .await
        .expect("a response in time")
    }

    pub fn is_up(&self) -> bool {
        !self.ended.is_finished()
    }
}

/// A refusal's status and body.
pub async fn refusal(response: hyper::Response<hyper::body::Incoming>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = timeout(TIMEOUT, response.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The refusal `request` gets.
pub async fn refused(h2: &mut H2, request: hyper::http::request::Builder) -> (u16, String) {
    match h2.open_with(request).await {
        Ok(_) => panic!("opened a WebSocket"),
        Err(refused) => refused,
    }
}

/// A refusal as the client sees it.
pub fn seen(refusal: Refusal) -> (u16, String) {
    (refusal.status().as_u16(), refusal.reason().to_owned())
}

/// The next message, in time.
pub async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> WsMessage {
    timeout(TIMEOUT, ws.next())
        .await
        .expect("a message in time")
        .expect("the stream is open")
        .expect("a message, not an error")
}

pub async fn text<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> String {
    match next(ws).await {
        WsMessage::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads the server's close frame: its code must be `code`; returns its
/// reason, once the closing handshake is done (the client's answer sent)
/// and the stream ended: nothing more arrives. The end reads as the end of
/// the stream, or as an error: over HTTP/2 the server, done, resets the
/// client's half with NO_ERROR (RFC 9113 §8.1), which hyper's client turns
/// into an error if the client then flushes; over HTTP/1.1 the server drops
/// the connection without a TLS close_notify.
pub async fn expect_close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    code: u16,
) -> String {
    let reason = match next(ws).await {
        WsMessage::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), code, "{frame:?}");
            frame.reason.to_string()
        }
        other => panic!("expected close {code}, got {other:?}"),
    };
    let end = timeout(TIMEOUT, ws.next()).await.expect("the stream ends");
    assert!(!matches!(end, Some(Ok(_))), "after the close: {end:?}");
    reason
}

/// Sends `message` and expects `want` back.
pub async fn echo(ws: &mut Ws, message: &str, want: &str) {
    ws.send(WsMessage::text(message)).await.unwrap();
    assert_eq!(text(ws).await, want);
}

/// The client's TLS stream, read through: counts the GOAWAY frames the
/// server sends (HTTP/2 frames from the server start at the first byte: a
/// 9-byte header of length, type, flags and stream, then the payload).
struct GoawayTap<S> {
    io: S,
    goaways: Arc<AtomicUsize>,
    header: Vec<u8>,
    /// Payload bytes of the current frame still to pass.
    skip: usize,
}

impl<S> GoawayTap<S> {
    fn new(io: S, goaways: Arc<AtomicUsize>) -> GoawayTap<S> {
        GoawayTap {
            io,
            goaways,
            header: Vec::with_capacity(9),
            skip: 0,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        const GOAWAY: u8 = 0x7;
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 9 {
                let h = &self.header;
                self.skip = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                if h[3] == GOAWAY {
                    self.goaways.fetch_add(1, Ordering::Relaxed);
                }
                self.header.clear();
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GoawayTap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.scan(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GoawayTap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
