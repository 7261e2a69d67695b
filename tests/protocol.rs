//! Issue 3, bad frames: invalid UTF-8 closes with 1007, every kind of
//! protocol violation with 1002, and the server keeps serving others.

mod common;
use common::*;

use cheese_api::prelude::*;
use tokio::io::AsyncWriteExt;

#[derive(Default)]
struct Echo;

#[websocket("/")]
impl Echo {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

async fn app() -> std::net::SocketAddr {
    start(App::empty().websocket::<Echo>()).await
}

#[tokio::test]
async fn invalid_utf8_in_a_text_message_closes_1007() {
    let addr = app().await;
    let mut ws = raw_connect(addr, "/").await;
    ws.write_frame(true, Frame::TEXT, &[b'o', b'k', 0xff, 0xfe])
        .await;
    ws.expect_close(1007).await;
    // Split across fragments: each fragment alone is fine, the whole is not.
    let mut ws = raw_connect(addr, "/").await;
    ws.write_frame(false, Frame::TEXT, "caf".as_bytes()).await;
    ws.write_frame(true, 0x0, &[0xc3]).await; // 'é' cut in half at the end
    ws.expect_close(1007).await;
    // A character split across two fragments is valid.
    let mut ws = raw_connect(addr, "/").await;
    ws.write_frame(false, Frame::TEXT, &[b'c', 0xc3]).await;
    ws.write_frame(true, 0x0, &[0xa9]).await;
    let echo = ws.expect_frame().await;
    assert_eq!(echo.payload, "cé".as_bytes());
}

#[tokio::test]
async fn protocol_violations_close_1002() {
    let addr = app().await;
    // (what, raw bytes of one frame from the client)
    let unmasked_text: Vec<u8> = vec![0x81, 0x02, b'h', b'i'];
    let rsv_bit: Vec<u8> = vec![0xc1, 0x80, 0, 0, 0, 0];
    let reserved_opcode: Vec<u8> = vec![0x83, 0x80, 0, 0, 0, 0];
    let lone_continuation: Vec<u8> = vec![0x80, 0x80, 0, 0, 0, 0];
    let fragmented_ping: Vec<u8> = vec![0x09, 0x80, 0, 0, 0, 0];
    let mut big_ping = vec![0x89, 0x80 | 126, 0, 126, 0, 0, 0, 0];
    big_ping.extend_from_slice(&[0u8; 126]);
    let cases = [
        ("unmasked frame", unmasked_text),
        ("reserved bit set", rsv_bit),
        ("reserved opcode", reserved_opcode),
        ("continuation with nothing to continue", lone_continuation),
        ("fragmented control frame", fragmented_ping),
        ("control frame over 125 bytes", big_ping),
    ];
    for (what, bytes) in cases {
        let mut ws = raw_connect(addr, "/").await;
        ws.stream.write_all(&bytes).await.unwrap();
        let frame = ws.expect_frame().await;
        assert_eq!(frame.opcode, Frame::CLOSE, "{what}: got {frame:?}");
        assert_eq!(frame.close().0, 1002, "{what}");
    }
    // A new data frame inside a fragmented message.
    let mut ws = raw_connect(addr, "/").await;
    ws.write_frame(false, Frame::TEXT, b"a").await;
    ws.write_frame(true, Frame::TEXT, b"b").await;
    ws.expect_close(1002).await;
    // And the server still serves.
    let mut ok = connect(addr, "/").await;
    send_text(&mut ok, "still fine").await;
    assert_eq!(recv_text(&mut ok).await, "still fine");
}
