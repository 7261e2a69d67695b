//! Issue 17: WebSocket over HTTP/2 (RFC 8441, extended CONNECT) on the TLS
//! listener. A real HTTP/2 client (hyper's, over rustls with ALPN `h2`)
//! opens WebSockets as streams of one TLS connection: each has its own
//! hooks, path values, messages and close code; refusals keep their
//! statuses and leave the connection up; limits hold per stream; the
//! graceful shutdown closes every stream with 1001, then the connection
//! with GOAWAY; an idle connection closes; HTTP/1.1 clients share the port.
//!
//! The client is in `http2_support/`. Run with
//! `cargo test -p cheese-api-tests --features tls --test http2` (built only
//! with the feature, as tests/tls.rs).

mod http2_support;
mod tls_support;

use cheese_api::prelude::*;
use cheese_api::testing::TestServer;
use cheese_api::Refusal;
use futures_util::SinkExt;
use http2_support::{echo, expect_close, next, refusal, refused, seen, text, H2, TIMEOUT};
use hyper::ext::Protocol;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tls_support::Certificate;
use tokio::io::AsyncReadExt;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The names whose `disconnection` ran.
static GONE: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn gone(name: &str) -> bool {
    GONE.lock().unwrap().iter().any(|n| n == name)
}

/// Each stream's own instance: greets with its path values, its scheme and
/// the client's port (one port: one TCP connection), prefixes each echo
/// with its name, and closes with a code it is sent.
#[derive(Default)]
struct Room {
    name: String,
}

#[websocket("/rooms/<name:str>/<seat:int>", close_timeout = 1.0)]
impl Room {
    async fn connection(&mut self, name: String, seat: u32, request: &Request) {
        self.name = name;
        let port = request.client().map_or(0, |c| c.port());
        let greeting = format!("{} {seat} {} {port}", self.name, request.scheme());
        let _ = self.send(greeting).await;
    }
    async fn message(&mut self, message: String) {
        match message.strip_prefix("close ") {
            Some(code) => {
                let name = self.name.clone();
                let _ = self.close(code.parse().unwrap(), &name).await;
            }
            None => {
                let _ = self.send(format!("{}: {message}", self.name)).await;
            }
        }
    }
    async fn disconnection(&mut self) {
        GONE.lock().unwrap().push(self.name.clone());
    }
}

#[derive(Default)]
struct Small;

#[websocket("/small", max_size = 1024)]
impl Small {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

#[derive(Default)]
struct Ticket;

#[websocket("/ticket")]
impl Ticket {
    async fn handshake(&mut self, request: &Request) -> Result<(), StatusCode> {
        match request.header("x-ticket") {
            Some("gouda") => Ok(()),
            _ => Err(StatusCode::UNAUTHORIZED),
        }
    }
}

/// A handshake that takes a moment, well within its open_timeout.
#[derive(Default)]
struct Pause;

#[websocket("/pause", open_timeout = 1.0)]
impl Pause {
    async fn handshake(&mut self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

#[derive(Default)]
struct Slow;

#[websocket("/slow", open_timeout = 0.3)]
impl Slow {
    async fn handshake(&mut self) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Never done with its first message: with `max_queue = 1` the server soon
/// stops reading this stream.
#[derive(Default)]
struct Stall;

#[websocket("/stall", max_queue = 1)]
impl Stall {
    async fn message(&mut self) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// `app` over TLS (ALPN `h2`, `http/1.1`) on a free loopback port, its
/// certificate, and an HTTP/2 connection to it.
async fn start(app: App) -> (TestServer, Certificate, H2) {
    let cert = Certificate::new();
    let server = TestServer::start(app.tls(cert.server())).await;
    let h2 = H2::connect(&server, &cert).await;
    (server, cert, h2)
}

#[tokio::test]
async fn websockets_multiplexed_on_one_connection_each_with_its_own_hooks_and_close_code() {
    let app = App::empty().websocket::<Room>().websocket::<Small>();
    let (_server, _cert, mut h2) = start(app).await;
    let port = h2.local.port();

    let mut brie = h2.open("/rooms/brie/1").await.unwrap();
    let mut comte = h2.open("/rooms/comte/2").await.unwrap();
    let mut feta = h2.open("/rooms/feta/3").await.unwrap();
    let mut small = h2.open("/small").await.unwrap();
    // Each its own path values; one client port: one TCP connection.
    assert_eq!(text(&mut brie).await, format!("brie 1 wss {port}"));
    assert_eq!(text(&mut comte).await, format!("comte 2 wss {port}"));
    assert_eq!(text(&mut feta).await, format!("feta 3 wss {port}"));

    // Sent to all first, read back in another order: each on its stream.
    for (ws, word) in [(&mut brie, "a"), (&mut comte, "b"), (&mut feta, "c")] {
        ws.send(WsMessage::text(word)).await.unwrap();
    }
    assert_eq!(text(&mut feta).await, "feta: c");
    assert_eq!(text(&mut brie).await, "brie: a");
    assert_eq!(text(&mut comte).await, "comte: b");

    // A large message across many DATA frames comes back intact.
    let big: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    small.send(WsMessage::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut small).await, WsMessage::binary(big));
    // max_size (1024) holds over HTTP/2: 1009 to that stream alone.
    small
        .send(WsMessage::binary(vec![7u8; 2000]))
        .await
        .unwrap();
    expect_close(&mut small, 1009).await;
    echo(&mut brie, "still", "brie: still").await;

    // Each its own close: two by the server with their own codes, one by
    // the client.
    brie.send(WsMessage::text("close 4001")).await.unwrap();
    assert_eq!(expect_close(&mut brie, 4001).await, "brie");
    comte.send(WsMessage::text("close 4002")).await.unwrap();
    assert_eq!(expect_close(&mut comte, 4002).await, "comte");
    echo(&mut feta, "alone", "feta: alone").await;
    feta.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    }))
    .await
    .unwrap();
    assert!(
        matches!(next(&mut feta).await, WsMessage::Close(Some(f)) if f.code == CloseCode::Normal)
    );

    let deadline = Instant::now() + TIMEOUT;
    while !["brie", "comte", "feta"].iter().all(|n| gone(n)) {
        assert!(
            Instant::now() < deadline,
            "disconnection: {:?}",
            GONE.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The connection outlived its streams: a new one opens on it.
    let mut gouda = h2.open("/rooms/gouda/4").await.unwrap();
    assert_eq!(text(&mut gouda).await, format!("gouda 4 wss {port}"));
    assert!(h2.is_up());
    assert_eq!(h2.goaways.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn refusals_over_http2_keep_their_statuses_and_the_connection() {
    let app = App::empty()
        .websocket::<Room>()
        .websocket::<Small>()
        .websocket::<Ticket>()
        .allowed_origins(["https://cheese.example"])
        .route_max_connections::<Small>(1);
    let (_server, _cert, mut h2) = start(app).await;
    let mut kept = h2.open("/rooms/kept/1").await.unwrap();
    assert!(text(&mut kept).await.starts_with("kept 1 wss"));

    // No route; a path value of the wrong type.
    let no_route = h2.connect_request("/nowhere");
    assert_eq!(refused(&mut h2, no_route).await, seen(Refusal::not_found()));
    let not_int = h2.connect_request("/rooms/kept/one");
    assert_eq!(refused(&mut h2, not_int).await, seen(Refusal::not_found()));
    // An origin not allowed; an allowed one opens.
    let evil = h2
        .connect_request("/rooms/evil/1")
        .header("origin", "https://evil.example");
    let origin = seen(Refusal::origin_not_allowed());
    assert_eq!(refused(&mut h2, evil).await, origin);
    let good = h2
        .connect_request("/rooms/good/1")
        .header("origin", "https://cheese.example");
    assert!(h2.open_with(good).await.is_ok());
    // Not a WebSocket handshake: a plain GET, another protocol, version 8.
    let upgrade = seen(Refusal::upgrade_required());
    let get = hyper::Request::get(format!("https://{}/small", h2.authority));
    assert_eq!(refusal(h2.send(get).await).await, upgrade);
    let other = hyper::Request::connect(format!("https://{}/small", h2.authority))
        .extension(Protocol::from_static("webtransport"))
        .header("sec-websocket-version", "13");
    assert_eq!(refused(&mut h2, other).await, upgrade);
    let version = hyper::Request::connect(format!("https://{}/small", h2.authority))
        .extension(Protocol::from_static("websocket"))
        .header("sec-websocket-version", "8");
    assert_eq!(refused(&mut h2, version).await, upgrade);
    // The route's cap counts HTTP/2 streams.
    let mut first = h2.open("/small").await.unwrap();
    let second = h2.connect_request("/small");
    let cap = seen(Refusal::too_many_connections());
    assert_eq!(refused(&mut h2, second).await, cap);
    // The handshake hook's own answer.
    let no_ticket = h2.connect_request("/ticket");
    assert_eq!(refused(&mut h2, no_ticket).await, (401, String::new()));
    let ticket = h2.connect_request("/ticket").header("x-ticket", "gouda");
    assert!(h2.open_with(ticket).await.is_ok());

    // None of it touched the connection or its open streams.
    first.send(WsMessage::text("ok")).await.unwrap();
    assert_eq!(next(&mut first).await, WsMessage::text("ok"));
    echo(&mut kept, "after", "kept: after").await;
    assert!(h2.is_up());
}

#[tokio::test]
async fn open_timeout_counts_from_each_streams_arrival_and_a_late_one_gets_408_alone() {
    let app = App::empty().websocket::<Pause>().websocket::<Slow>();
    let (_server, _cert, mut h2) = start(app).await;
    let mut early = h2.open("/pause").await.unwrap();
    // Longer than Pause's open_timeout (1 s) after the connection's accept:
    // a later stream's handshake counts from its own arrival.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut late = h2.open("/pause").await.expect("counted from its arrival");

    // A handshake hook slower than its route's open_timeout (0.3 s): 408 to
    // that stream; HTTP/1.1 would drop the TCP connection, HTTP/2 keeps
    // the others.
    let started = Instant::now();
    let slow = h2.connect_request("/slow");
    assert_eq!(refused(&mut h2, slow).await, seen(Refusal::open_timeout()));
    assert!(started.elapsed() < Duration::from_secs(3));
    for ws in [&mut early, &mut late] {
        ws.send(WsMessage::text("on")).await.unwrap();
        assert_eq!(text(ws).await, "on");
    }
    assert!(h2.is_up());
}

#[tokio::test]
async fn streams_that_stop_reading_hold_back_only_their_own_client() {
    let app = App::empty().websocket::<Room>().websocket::<Stall>();
    let (_server, _cert, mut h2) = start(app).await;
    let mut room = h2.open("/rooms/busy/1").await.unwrap();
    text(&mut room).await;
    // 2.5 MiB into each of two streams the server stopped reading: with
    // hyper's default windows (1 MiB per stream and per connection) they
    // would take the whole connection's window and starve the others.
    let mut floods = Vec::new();
    for _ in 0..2 {
        let mut stall = h2.open("/stall").await.unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let flood = tokio::spawn(async move {
            for _ in 0..40 {
                let message = WsMessage::binary(vec![0u8; 64 * 1024]);
                stall.send(message).await.unwrap();
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        floods.push((flood, sent));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..5 {
        let word = format!("{i}");
        echo(&mut room, &word, &format!("busy: {word}")).await;
    }
    // Flow control held each flood back: the server took a stream window,
    // a queue and a message in its hook.
    for (flood, sent) in floods {
        let taken = sent.load(Ordering::Relaxed);
        assert!(
            taken < 10,
            "{taken} messages of 64 KiB sent into a stalled stream"
        );
        assert!(!flood.is_finished());
        flood.abort();
    }
}

/// Graceful shutdown over HTTP/2: 1001 to every stream (and to an HTTP/1.1
/// client on the same port), 503 to a stream opened during the drain, and
/// only then GOAWAY and the connection's end.
#[tokio::test]
async fn graceful_shutdown_closes_each_stream_1001_then_the_connection_with_goaway() {
    let (server, cert, mut h2) = start(App::empty().websocket::<Room>()).await;
    let mut streams = Vec::new();
    for (i, name) in ["swiss", "cheddar", "edam"].iter().enumerate() {
        let mut ws = h2.open(&format!("/rooms/{name}/{i}")).await.unwrap();
        text(&mut ws).await;
        streams.push(ws);
    }
    // One that will not answer the server's close: it holds the drain for
    // Room's close_timeout (1 s).
    let mut stubborn = h2.open("/rooms/stubborn/9").await.unwrap();
    text(&mut stubborn).await;
    // An HTTP/1.1 client (no ALPN) on the same listener.
    let tls = cert.client(&[]).connect(server.addr()).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let url = format!("wss://localhost:{}/rooms/http1/7", server.addr().port());
    let (mut http1, response) = timeout(TIMEOUT, tokio_tungstenite::client_async(url, tls))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 101);
    assert!(text(&mut http1).await.starts_with("http1 7 wss"));

    let stopping = tokio::spawn(server.shutdown());
    for ws in &mut streams {
        expect_close(ws, 1001).await;
    }
    expect_close(&mut http1, 1001).await;
    // Draining: the connection is still up, a new stream gets 503.
    let late = h2.connect_request("/rooms/late/5");
    assert_eq!(refused(&mut h2, late).await, seen(Refusal::shutting_down()));
    assert_eq!(
        h2.goaways.load(Ordering::Relaxed),
        0,
        "GOAWAY before the drain ended"
    );
    assert!(h2.is_up());

    // The stubborn stream's close_timeout ends the drain: then GOAWAY, and
    // the connection ends cleanly.
    let ended = timeout(TIMEOUT, &mut h2.ended)
        .await
        .expect("the connection ends");
    ended.unwrap().expect("a clean end");
    assert!(h2.goaways.load(Ordering::Relaxed) >= 1, "no GOAWAY");
    timeout(TIMEOUT, stopping).await.unwrap().unwrap();
    for name in ["swiss", "cheddar", "edam", "stubborn", "http1"] {
        assert!(gone(name), "{name}: {:?}", GONE.lock().unwrap());
    }
}

#[tokio::test]
async fn an_idle_connection_closes_after_the_handshake_timeout_but_not_while_a_websocket_is_open() {
    let idle = Duration::from_secs(1);
    let app = App::empty().websocket::<Room>().handshake_timeout(idle);
    let (server, cert, mut h2) = start(app).await;
    let mut ws = h2.open("/rooms/idle/1").await.unwrap();
    text(&mut ws).await;
    // Three idle timeouts with a WebSocket open and quiet: nothing closes.
    tokio::time::sleep(idle * 3).await;
    echo(&mut ws, "awake", "idle: awake").await;
    assert!(h2.is_up());
    assert_eq!(h2.goaways.load(Ordering::Relaxed), 0);

    // Its last stream gone, the connection gets GOAWAY within two timeouts.
    ws.send(WsMessage::text("close 1000")).await.unwrap();
    expect_close(&mut ws, 1000).await;
    let closed = Instant::now();
    timeout(TIMEOUT, &mut h2.ended)
        .await
        .expect("the idle connection ends")
        .unwrap()
        .expect("a clean end");
    assert!(h2.goaways.load(Ordering::Relaxed) >= 1, "no GOAWAY");
    assert!(
        closed.elapsed() >= idle / 2,
        "closed after {:?}",
        closed.elapsed()
    );

    // A client that chose h2 and then sends nothing, not even the HTTP/2
    // preface, is dropped (as HTTP/1.1's header timeout drops one).
    let mut silent = cert.client(&[b"h2"]).connect(server.addr()).await;
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read = timeout(TIMEOUT, async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // the server's SETTINGS and GOAWAY
            }
        }
    });
    read.await.expect("the silent connection is dropped");
    assert!(
        started.elapsed() >= idle,
        "dropped after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn with_http2_off_a_client_offering_h2_gets_http1() {
    let cert = Certificate::new();
    let app = App::empty().websocket::<Room>();
    let server = TestServer::start(app.tls(cert.server().http2(false))).await;
    let tls = cert.client(&[b"h2", b"http/1.1"]);
    let tls = tls.connect(server.addr()).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let url = format!("wss://localhost:{}/rooms/plain/1", server.addr().port());
    let (mut ws, response) = timeout(TIMEOUT, tokio_tungstenite::client_async(url, tls))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 101);
    assert!(text(&mut ws).await.starts_with("plain 1 wss"));
}
