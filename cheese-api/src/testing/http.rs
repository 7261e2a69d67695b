//! The HTTP under the test client, spoken over a plain TCP stream: the
//! WebSocket handshake with a browser's rules, plain requests to the app's
//! HTTP routes ([`TestResponse`]), and reading an answer's head and body.

use super::Refused;
use axum::http::HeaderMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::{
    generate_request, Request as ClientRequest, Response as ClientResponse,
};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// The answer to a plain HTTP request, from
/// [`TestServer::get`](super::TestServer::get) or
/// [`TestServer::post`](super::TestServer::post).
///
/// ```
/// # use cheese_api::prelude::*;
/// use axum::routing::get;
/// use cheese_api::testing::TestServer;
/// # #[tokio::main] async fn main() {
///
/// let app = App::empty().merge(axum::Router::new().route("/health", get(|| async { "ok" })));
/// let server = TestServer::start(app).await;
/// let response = server.get("/health").await;
/// assert_eq!(response.status, 200);
/// assert_eq!(response.headers["content-type"], "text/plain; charset=utf-8");
/// assert_eq!(response.body, "ok");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// The HTTP status (200, 404, 426, ...).
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body, decoded (`Content-Length`, chunked, or up to the
    /// end of the connection) and read as UTF-8 (invalid bytes become
    /// U+FFFD).
    pub body: String,
}

/// Sends `method path` (with `body` and its `Content-Length`, if any) on a
/// new connection (`Connection: close`) and reads the whole answer.
pub(super) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> TestResponse {
    let what = format!("{method} {path}");
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot reach {addr}: {e}"));
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    stream
        .write_all(&bytes)
        .await
        .unwrap_or_else(|e| panic!("{what}: sending the request failed: {e}"));
    let (status, headers, tail) = read_head(&mut stream, &what).await;
    let body = read_body(&mut stream, status, &headers, tail)
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the HTTP {status} body failed: {e}"));
    TestResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The WebSocket handshake with a browser's rules, over tungstenite's
/// request writer and response parser: unlike `tokio_tungstenite::connect`
/// it accepts an app that declines every offered subprotocol, and reads the
/// whole body of a refusal, not just the bytes that came with the head.
pub(super) async fn handshake(
    mut stream: TcpStream,
    request: ClientRequest,
    path: &str,
) -> Result<(WebSocketStream<TcpStream>, Option<String>, HeaderMap), Refused> {
    let offered = crate::request::offered_subprotocols(request.headers());
    let (bytes, key) = generate_request(request)
        .unwrap_or_else(|e| panic!("connect {path}: not a valid handshake request: {e}"));
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&bytes)
        .await
        .unwrap_or_else(|e| panic!("connect {path}: sending the handshake failed: {e}"));

    let what = format!("connect {path}");
    let (status, headers, tail) = read_head(&mut stream, &what).await;
    if status != 101 {
        let body = read_body(&mut stream, status, &headers, tail)
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the HTTP {status} body failed: {e}"));
        return Err(Refused {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }

    let has_token = |name: &str, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    assert!(
        has_token("upgrade", "websocket"),
        "connect {path}: the 101 has no `Upgrade: websocket` (a browser fails the connection)"
    );
    assert!(
        has_token("connection", "upgrade"),
        "connect {path}: the 101 has no `Connection: Upgrade` (a browser fails the connection)"
    );
    let accept = derive_accept_key(key.as_bytes());
    assert!(
        headers
            .get("sec-websocket-accept")
            .is_some_and(|v| v == accept.as_str()),
        "connect {path}: the 101's Sec-WebSocket-Accept is {:?}, expected {accept:?} \
         (a browser fails the connection)",
        headers.get("sec-websocket-accept")
    );
    let subprotocol = match headers.get("sec-websocket-protocol") {
        None => None,
        Some(chosen) => {
            let chosen = chosen.to_str().unwrap_or_default().to_owned();
            assert!(
                offered.contains(&chosen),
                "connect {path}: the app chose the subprotocol {chosen:?}, which was not \
                 offered (offers: {offered:?}); a browser fails the connection"
            );
            Some(chosen)
        }
    };
    let ws = WebSocketStream::from_partially_read(stream, tail, Role::Client, None).await;
    Ok((ws, subprotocol, headers))
}

/// Reads the head of an answer; returns its status, its headers and the
/// bytes that came after it. `what` (`connect /chat`, `GET /health`) starts
/// the panic messages.
async fn read_head(stream: &mut TcpStream, what: &str) -> (u16, HeaderMap, Vec<u8>) {
    let mut buf = Vec::with_capacity(4096);
    let (head_len, response) = loop {
        match ClientResponse::try_parse(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(e) => panic!("{what}: the answer is not an HTTP response: {e}"),
        }
        assert!(
            buf.len() <= 64 * 1024,
            "{what}: the answer's head is over 64 KiB"
        );
        let n = stream
            .read_buf(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the answer failed: {e}"));
        assert!(
            n > 0,
            "{what}: the app closed the connection without answering"
        );
    };
    let tail = buf.split_off(head_len);
    let headers = response.headers().clone();
    (response.status().as_u16(), headers, tail)
}

/// Reads the body of a non-101 answer: by `Transfer-Encoding: chunked`, by
/// `Content-Length`, or up to the end of the connection.
async fn read_body(
    stream: &mut TcpStream,
    status: u16,
    headers: &HeaderMap,
    mut buf: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    async fn more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.reserve(4096);
        match stream.read_buf(buf).await? {
            0 => Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the connection ended inside the body",
            )),
            _ => Ok(()),
        }
    }
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Vec::new());
    }
    let chunked = headers
        .get_all("transfer-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = loop {
                if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                more(stream, &mut buf).await?;
            };
            let line = String::from_utf8_lossy(&buf[at..line_end]);
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                Error::new(ErrorKind::InvalidData, format!("bad chunk size {line:?}"))
            })?;
            at = line_end + 2;
            if size == 0 {
                return Ok(body); // trailers, if any, are not read
            }
            while buf.len() < at + size + 2 {
                more(stream, &mut buf).await?;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while buf.len() < length {
                more(stream, &mut buf).await?;
            }
            buf.truncate(length);
        }
        None => {
            stream.read_to_end(&mut buf).await?;
        }
    }
    Ok(buf)
}
