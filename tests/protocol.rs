//! Issue 3, bad frames: invalid UTF-8 closes with 1007, every kind of
//! protocol violation with 1002, and the server keeps serving others.
//!
//! The clients that send bad frames are [`RawWs`], spoken by hand over TCP;
//! the clients that check the server still serves are the shipped
//! `cheese_api::testing` client.

mod common;
use common::*;

use cheese_api::prelude::*;
use cheese_api::testing::TestServer;
use tokio::io::AsyncWriteExt;

#[derive(Default)]
struct Echo;

#[websocket("/")]
impl Echo {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

async fn app() -> TestServer {
    TestServer::start(App::empty().websocket::<Echo>()).await
}

#[tokio::test]
async fn invalid_utf8_in_a_text_message_closes_1007() {
    let server = app().await;
    let addr = server.addr();
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
    let server = app().await;
    let addr = server.addr();
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
    let mut ok = server.connect("/").await;
    ok.send("still fine").await;
    assert_eq!(ok.recv_text().await, "still fine");
}

#[derive(Default)]
struct Unlimited;

#[websocket("/unlimited", max_size = None)]
impl Unlimited {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

/// A frame header alone claiming a terabyte must not make the server
/// allocate it. tungstenite reserves a frame's declared length before its
/// payload arrives, so with `max_size = None` the engine still caps one
/// frame at 16 MiB (tungstenite's default): such a header is closed with
/// 1009 instead of aborting the whole process.
#[tokio::test]
async fn a_huge_frame_header_allocates_nothing_up_front() {
    let server = TestServer::start(App::empty().websocket::<Unlimited>().websocket::<Echo>()).await;
    let mut ws = raw_connect(server.addr(), "/unlimited").await;
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4, 9, 9, 9, 9]); // mask key and a few payload bytes
    ws.stream.write_all(&header).await.unwrap();
    assert_eq!(ws.expect_close(1009).await, "message too big");
    // The server (this very process) is alive and serving.
    let mut ok = server.connect("/").await;
    ok.send("alive").await;
    assert_eq!(ok.recv_text().await, "alive");
}

/// With `max_size = None` a message has no limit: one larger than the
/// 16 MiB frame cap arrives whole when it comes in fragments.
#[tokio::test]
async fn max_size_none_takes_a_message_over_16_mib_in_fragments() {
    let server = TestServer::start(App::empty().websocket::<Unlimited>()).await;
    let mut ws = raw_connect(server.addr(), "/unlimited").await;
    let half = 9 << 20; // two 9 MiB fragments: 18 MiB in all
    ws.write_frame(false, Frame::BINARY, &vec![1u8; half]).await;
    ws.write_frame(true, Frame::CONTINUATION, &vec![2u8; half])
        .await;
    let echo = ws.expect_frame().await;
    assert_eq!(echo.opcode, Frame::BINARY);
    assert_eq!(echo.payload.len(), 2 * half);
    assert!(echo.payload[..half].iter().all(|&b| b == 1));
    assert!(echo.payload[half..].iter().all(|&b| b == 2));
}

#[derive(Default)]
struct ClosesAtOnce;

#[websocket("/closes")]
impl ClosesAtOnce {
    async fn connection(&mut self) {
        let _ = self.close(4000, "bye").await;
    }
}

/// Both sides close at once: our close frame still goes out before the TCP
/// connection ends (it used to be dropped unwritten).
#[tokio::test]
async fn simultaneous_close_still_sends_our_close_frame() {
    let server = TestServer::start(App::empty().websocket::<ClosesAtOnce>()).await;
    for _ in 0..20 {
        let mut ws = raw_connect(server.addr(), "/closes").await;
        ws.send_close(1000).await;
        let frame = ws.expect_frame().await;
        assert_eq!(frame.opcode, Frame::CLOSE);
        assert_eq!(frame.close().0, 4000);
    }
}

#[derive(Default)]
struct SlowThenFails;

#[websocket("/slowfail", close_timeout = 10)]
impl SlowThenFails {
    async fn message(&mut self) -> Result<(), &'static str> {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        Err("failed")
    }
}

/// A bad frame arrives while a hook runs, then the hook fails: the server
/// must not wait close_timeout (10 s here) for a close it cannot parse.
#[tokio::test]
async fn a_bad_frame_during_a_failing_hook_does_not_hold_the_connection() {
    let server = TestServer::start(App::empty().websocket::<SlowThenFails>()).await;
    let mut ws = raw_connect(server.addr(), "/slowfail").await;
    ws.send_text("go").await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    ws.stream
        .write_all(&[0x81, 0x02, b'h', b'i'])
        .await
        .unwrap(); // unmasked
    let frame = ws.expect_frame().await;
    assert_eq!(frame.opcode, Frame::CLOSE);
    ws.send_close(1000).await;
    let started = std::time::Instant::now();
    ws.expect_end(std::time::Duration::from_secs(3)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

/// What axum's extractor cannot do: after a bad frame tokio-tungstenite
/// ends the stream, so the server cannot read on (drain) until the client
/// stops. It writes its close and drops the connection; with the rest of a
/// 32 MiB frame unread, the kernel answers the client's further bytes with
/// a reset. A client that reads while it writes (browsers, every async
/// client) still gets the 1009 close frame first; one that only writes sees
/// the reset.
#[tokio::test]
async fn an_oversized_frame_gets_1009_and_its_unread_rest_a_reset() {
    let server = app().await; // max_size: the default 1 MiB
    let mut raw = raw_connect(server.addr(), "/").await;
    let stream = raw.stream.into_std().unwrap();
    let mut writer = stream.try_clone().unwrap();
    raw.stream = tokio::net::TcpStream::from_std(stream).unwrap();
    let size = 32usize << 20;
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(size as u64).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]); // mask key
    frame.resize(frame.len() + size, 0);
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        writer.set_nonblocking(false).unwrap();
        writer.write_all(&frame).map_err(|e| e.kind())
    });
    assert_eq!(raw.expect_close(1009).await, "message too big");
    let sent = sender.join().unwrap();
    assert!(
        matches!(
            sent,
            Err(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
        ),
        "the rest of the frame: {sent:?}"
    );
}
