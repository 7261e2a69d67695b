//! Issue 6, wss: the app serves TLS with rustls (feature `tls`); a client
//! that trusts a certificate made here connects, and `request.scheme()`
//! says `wss`.
//!
//! Run with `cargo test -p cheese-api-tests --features tls --test tls` (built
//! only with the feature: `required-features` in tests/Cargo.toml; without it
//! `cargo test --workspace` lists `not_built::tls_tests_not_built...`
//! instead).

mod tls_support;

use cheese_api::prelude::*;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tls_support::Certificate;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Default)]
struct Secure;

#[websocket("/secure")]
impl Secure {
    async fn connection(&mut self, request: &Request) {
        let _ = self.send(format!("hello over {}", request.scheme())).await;
    }
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

#[tokio::test]
async fn wss_with_a_certificate_the_client_trusts() {
    let cert = Certificate::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        App::empty()
            .websocket::<Secure>()
            .tls(cert.server())
            .serve(listener),
    );

    let tls_stream = cert.client(&[]).connect(addr).await;
    let (mut ws, response) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async(
            format!("wss://localhost:{}/secure", addr.port()),
            tls_stream,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status().as_u16(), 101);
    async fn next<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> WsMessage
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    }
    assert_eq!(next(&mut ws).await, WsMessage::text("hello over wss"));
    // A large binary message across many TLS records comes back intact.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(WsMessage::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, WsMessage::binary(big));

    // A plain-TCP client gets no WebSocket from a TLS port.
    let plain = tokio_tungstenite::connect_async(format!("ws://{addr}/secure")).await;
    assert!(plain.is_err());
}
