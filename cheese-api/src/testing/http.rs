//! The HTTP under the test client: the WebSocket handshake with a browser's
//! rules, and reading the body of an answer that is not an upgrade.

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

/// The WebSocket handshake with a browser's rules, over tungstenite's
/// request writer and response parser: unlike `tokio_tungstenite::connect`
/// it accepts an app that declines every offered subprotocol, and reads the
/// whole body of a refusal, not just the bytes that came with the head.
pub(super) async fn handshake(
    addr: SocketAddr,
    request: ClientRequest,
    path: &str,
) -> Result<(WebSocketStream<TcpStream>, Option<String>, HeaderMap), Refused> {
    let offered = crate::request::offered_subprotocols(request.headers());
    let (bytes, key) = generate_request(request)
        .unwrap_or_else(|e| panic!("connect {path}: not a valid handshake request: {e}"));
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {path}: cannot reach {addr}: {e}"));
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&bytes)
        .await
        .unwrap_or_else(|e| panic!("connect {path}: sending the handshake failed: {e}"));

    let mut buf = Vec::with_capacity(4096);
    let (head_len, response) = loop {
        match ClientResponse::try_parse(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(e) => panic!("connect {path}: the answer is not an HTTP response: {e}"),
        }
        assert!(
            buf.len() <= 64 * 1024,
            "connect {path}: the answer's head is over 64 KiB"
        );
        let n = stream
            .read_buf(&mut buf)
            .await
            .unwrap_or_else(|e| panic!("connect {path}: reading the answer failed: {e}"));
        assert!(
            n > 0,
            "connect {path}: the app closed the connection without answering the handshake"
        );
    };
    let tail = buf.split_off(head_len);
    let status = response.status().as_u16();
    let headers = response.headers().clone();

    if status != 101 {
        let body = read_body(&mut stream, status, &headers, tail)
            .await
            .unwrap_or_else(|e| {
                panic!("connect {path}: reading the HTTP {status} body failed: {e}")
            });
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
