//! DESIGN §3: the limits hold against clients that misbehave in exactly the
//! way each limit is about. Limits are fractions of a second so the file runs
//! in a few seconds; every receive has a timeout.
//!
//! A client that must *not* do what a WebSocket library does on its own
//! (answer pings, answer a close) or sends frames a library would not
//! (fragments of a chosen size) is [`RawWs`], spoken by hand over TCP; every
//! other client is `cheese_api::testing`'s, on a small socket where a limit
//! is bounded "plus the socket buffers".
//!
//! Over 500 lines on purpose: one file per promise, and this promise is the
//! eight limits, each with its misbehaving client and the bounds it checks.

mod common;
use common::*;

use cheese_api::prelude::*;
use cheese_api::testing::{TestClient, TestServer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Allowed lateness of a timer on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(500);

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------
// ping_interval / ping_timeout

#[derive(Default)]
struct Keepalive;

#[websocket("/keepalive", ping_interval = 0.2, ping_timeout = 0.2)]
impl Keepalive {
    async fn message(&mut self, message: String) {
        let answer = match message.as_str() {
            "latency" => format!("{:?}", self.socket().latency().map(|d| d.as_millis() < 200)),
            _ => message,
        };
        let _ = self.send(answer).await;
    }
}

#[tokio::test]
async fn ping_timeout_closes_a_client_that_never_answers_pings_with_1011() {
    let server = TestServer::start(App::empty().websocket::<Keepalive>()).await;
    let mut raw = raw_connect(server.addr(), "/keepalive").await;
    let opened = Instant::now();
    let mut first_ping = None;
    let (code, reason, closed) = loop {
        let frame = raw.expect_frame().await;
        match frame.opcode {
            Frame::PING => {
                first_ping.get_or_insert(opened.elapsed());
            }
            Frame::CLOSE => {
                let (code, reason) = frame.close();
                break (code, reason, opened.elapsed());
            }
            _ => panic!("unexpected {frame:?}"),
        }
    };
    let first_ping = first_ping.expect("a ping before the keepalive close");
    assert!(
        first_ping >= Duration::from_millis(150)
            && first_ping <= Duration::from_millis(200) + SLACK,
        "first ping after {}, ping_interval is 0.2s",
        secs(first_ping)
    );
    assert_eq!((code, reason.as_str()), (1011, "keepalive ping timeout"));
    // The first ping goes out at 0.2 s; unanswered, it times out at 0.4 s.
    assert!(
        closed >= Duration::from_millis(350) && closed <= Duration::from_millis(400) + SLACK,
        "closed after {}, expected interval + timeout = 0.4s",
        secs(closed)
    );
    // A late answer to the close ends the connection cleanly.
    raw.send_close(1011).await;
    raw.expect_end(TIMEOUT).await;
}

#[tokio::test]
async fn ping_interval_keeps_a_client_that_answers_pings_open() {
    let server = TestServer::start(App::empty().websocket::<Keepalive>()).await;
    // The test client answers every ping while it is being read.
    let mut client = server.connect("/keepalive").await;
    // Only pings (which the client counts and skips) for 1.1 s.
    client.expect_nothing(Duration::from_millis(1100)).await;
    // 1.1 s at one ping per 0.2 s: five pings, each answered in time.
    let pings = client.pings();
    assert!(pings >= 4, "only {pings} pings in 1.1s");
    client.send("still open").await;
    assert_eq!(client.recv_text().await, "still open");
    // The pongs were read: the round trip is known, and short on loopback.
    client.send("latency").await;
    assert_eq!(client.recv_text().await, "Some(true)");
}

#[derive(Default)]
struct Busy;

#[websocket("/busy", ping_interval = 0.2, ping_timeout = 0.2)]
impl Busy {
    async fn connection(&mut self) {
        // 300 ready receives: more than tokio's budget for one poll of a
        // task (128), so the driver is polled with the budget spent.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for n in 0..300 {
            tx.send(n).unwrap();
        }
        drop(tx);
        let mut sum = 0;
        while let Some(n) = rx.recv().await {
            sum += n;
        }
        let _ = self.send(sum.to_string()).await;
    }
}

/// A `connection` hook that spends tokio's task budget must not stop the
/// keepalive: a timer poll the budget refuses arms nothing, so the driver
/// must not count it as armed.
#[tokio::test]
async fn keepalive_starts_behind_a_hook_that_spends_the_task_budget() {
    let server = TestServer::start(App::empty().websocket::<Busy>()).await;
    let mut raw = raw_connect(server.addr(), "/busy").await;
    let answer = raw.expect_frame().await;
    assert_eq!(answer.payload, (0..300).sum::<i32>().to_string().as_bytes());
    // Never answered, the first ping closes the connection with 1011.
    let mut pings = 0;
    loop {
        let frame = raw.expect_frame().await;
        match frame.opcode {
            Frame::PING => pings += 1,
            Frame::CLOSE => {
                assert_eq!(frame.close(), (1011, "keepalive ping timeout".to_owned()));
                break;
            }
            _ => panic!("unexpected {frame:?}"),
        }
    }
    assert!(pings >= 1, "closed for a ping timeout without a ping");
}

#[derive(Default)]
struct SlowHook;

#[websocket("/slow", ping_interval = 0.2, ping_timeout = 0.2)]
impl SlowHook {
    async fn message(&mut self, message: String) {
        let ms: u64 = message.parse().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let _ = self.send(format!("slept {ms}")).await;
    }
}

#[tokio::test]
async fn ping_timeout_is_not_fooled_by_a_slow_message_hook() {
    let server = TestServer::start(App::empty().websocket::<SlowHook>()).await;
    let mut client = server.connect("/slow").await;
    let asked = Instant::now();
    // The hook sleeps 1 s, five times ping_timeout.
    client.send("1000").await;
    // Pings (counted and answered), then the answer.
    assert_eq!(client.recv_text().await, "slept 1000");
    assert!(asked.elapsed() >= Duration::from_millis(1000));
    // Pings went on while the hook slept, and their pongs were read.
    let pings = client.pings();
    assert!(pings >= 3, "only {pings} pings during a 1s hook");
    client.send("0").await;
    assert_eq!(client.recv_text().await, "slept 0");
}

#[derive(Default)]
struct NoPings;

#[websocket("/nopings", ping_interval = None)]
impl NoPings {
    async fn message(&mut self, message: String) {
        let _ = self.send(message).await;
    }
}

#[tokio::test]
async fn ping_interval_none_sends_no_pings() {
    let server = TestServer::start(App::empty().websocket::<NoPings>()).await;
    let mut client = server.connect("/nopings").await;
    client.expect_nothing(Duration::from_millis(800)).await;
    assert_eq!(client.pings(), 0, "pings with ping_interval = None");
    // Silent, not dead.
    client.send("still here").await;
    assert_eq!(client.recv().await, Message::text("still here"));
}

// ---------------------------------------------------------------------------
// close_timeout

#[derive(Default)]
struct Closer;

#[websocket("/closer", close_timeout = 0.3, ping_interval = None)]
impl Closer {
    async fn message(&mut self) {
        let _ = self.close(1000, "").await;
    }
}

#[tokio::test]
async fn close_timeout_drops_a_peer_that_never_answers_the_close() {
    let server = TestServer::start(App::empty().websocket::<Closer>()).await;
    let mut raw = raw_connect(server.addr(), "/closer").await;
    raw.send_text("bye").await;
    assert_eq!(raw.expect_close(1000).await, "");
    let closed = Instant::now();
    // Never answer the close; keep TCP open and wait for the server to end it.
    raw.expect_end(Duration::from_millis(300) + SLACK + SLACK)
        .await;
    let waited = closed.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited <= Duration::from_millis(300) + SLACK,
        "dropped after {}, close_timeout is 0.3s",
        secs(waited)
    );
}

static STUCK_CLOSED: Mutex<Option<Instant>> = Mutex::new(None);
static STUCK_ENDED: Mutex<Option<Instant>> = Mutex::new(None);

#[derive(Default)]
struct CloserOfStuck;

#[websocket("/closerofstuck", close_timeout = 0.3, ping_interval = None, write_limit = 4096)]
impl CloserOfStuck {
    async fn connection(&mut self) {
        let socket = self.socket();
        tokio::spawn(async move {
            // Send until `send` has to wait: the client reads nothing.
            let chunk = Message::binary(vec![0u8; 4096]);
            while tokio::time::timeout(Duration::from_millis(200), socket.send(chunk.clone()))
                .await
                .is_ok()
            {}
            *STUCK_CLOSED.lock().unwrap() = Some(Instant::now());
            socket.close(4000, "bye").await.unwrap();
        });
    }
    async fn disconnection(&mut self) {
        *STUCK_ENDED.lock().unwrap() = Some(Instant::now());
    }
}

/// A close asked for while the socket takes no writes (its client reads
/// nothing) still ends the connection within close_timeout: the close
/// frame cannot be written, but its deadline runs from the request.
#[tokio::test]
async fn close_timeout_runs_for_a_close_that_cannot_be_written() {
    let server = start_with_buffers(App::empty().websocket::<CloserOfStuck>(), BUF);
    let _client = connect_with_buffers(&server, "/closerofstuck", BUF).await; // never read
    let deadline = Instant::now() + TIMEOUT;
    let ended = loop {
        if let Some(ended) = *STUCK_ENDED.lock().unwrap() {
            break ended;
        }
        assert!(Instant::now() < deadline, "the connection never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let closed = STUCK_CLOSED.lock().unwrap().expect("close asked for");
    let waited = ended - closed;
    assert!(
        waited >= Duration::from_millis(250) && waited <= Duration::from_millis(300) + SLACK,
        "ended {} after the close was asked for, close_timeout is 0.3s",
        secs(waited)
    );
}

// ---------------------------------------------------------------------------
// max_size

#[derive(Default)]
struct Small;

#[websocket("/small", max_size = 1000, ping_interval = None)]
impl Small {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

#[tokio::test]
async fn max_size_closes_a_whole_message_over_the_limit_with_1009() {
    let server = TestServer::start(App::empty().websocket::<Small>()).await;
    let mut client = server.connect("/small").await;
    client.send(vec![7u8; 1000]).await;
    assert_eq!(client.recv().await, Message::binary(vec![7u8; 1000]));
    client.send(vec![7u8; 1001]).await;
    // Answered (with 1009, as tungstenite echoes the code), then the end.
    client.expect_close(1009).await;
}

#[tokio::test]
async fn max_size_closes_a_fragmented_message_over_the_limit_with_1009() {
    let server = TestServer::start(App::empty().websocket::<Small>()).await;
    let mut raw = raw_connect(server.addr(), "/small").await;
    // 400 + 400 + 200 = 1000 bytes in three frames: exactly the limit, accepted.
    raw.write_frame(false, Frame::BINARY, &[1; 400]).await;
    raw.write_frame(false, Frame::CONTINUATION, &[2; 400]).await;
    raw.write_frame(true, Frame::CONTINUATION, &[3; 200]).await;
    let echo = raw.expect_frame().await;
    let expected: Vec<u8> = [[1; 400].as_slice(), &[2; 400], &[3; 200]].concat();
    assert_eq!((echo.opcode, echo.payload), (Frame::BINARY, expected));
    // Every frame below max_size, the message over it: 1009 before the
    // final frame is even sent.
    raw.write_frame(false, Frame::TEXT, &[b'a'; 400]).await;
    raw.write_frame(false, Frame::CONTINUATION, &[b'b'; 400])
        .await;
    raw.write_frame(false, Frame::CONTINUATION, &[b'c'; 400])
        .await;
    raw.expect_close(1009).await;
    raw.send_close(1009).await;
    raw.expect_end(TIMEOUT).await;
}

// ---------------------------------------------------------------------------
// max_queue and write_limit: both promise a bound "plus the socket buffers",
// so these tests pin the kernel's buffers to a small, known size.

/// `SO_SNDBUF`/`SO_RCVBUF` asked for on both ends; Linux doubles it.
const BUF: u32 = 16 * 1024;
/// What the kernel may hold on one connection and direction: the sender's
/// send buffer plus the receiver's receive buffer, each doubled.
const KERNEL: usize = 4 * BUF as usize;

/// Payload size of the flood messages.
const FLOOD_SIZE: usize = 64 * 1024;
const FLOOD_COUNT: u32 = 64;

fn flood_message(seq: u32) -> Vec<u8> {
    let mut m = vec![(seq % 251) as u8; FLOOD_SIZE];
    m[..4].copy_from_slice(&seq.to_be_bytes());
    m
}

/// Checks a flood message is intact; returns its sequence number.
fn check_flood_message(m: &[u8]) -> u32 {
    let seq = u32::from_be_bytes(m[..4].try_into().unwrap());
    assert!(
        m.len() == FLOOD_SIZE && m[4..].iter().all(|&b| b == (seq % 251) as u8),
        "message {seq} damaged"
    );
    seq
}

/// A `message` hook that records each message, then stays busy until the
/// test opens `gate`.
async fn busy_hook(gate: &watch::Sender<bool>, seen: &Mutex<Vec<u32>>, message: &[u8]) {
    seen.lock().unwrap().push(check_flood_message(message));
    let mut gate = gate.subscribe();
    let _ = gate.wait_for(|open| *open).await;
}

static QUEUE_GATE: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::Sender::new(false));
static QUEUE_SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Queue;

#[websocket("/queue", max_queue = 4, ping_interval = None)]
impl Queue {
    async fn message(&mut self, message: Vec<u8>) {
        busy_hook(&QUEUE_GATE, &QUEUE_SEEN, &message).await;
    }
}

static UNBOUNDED_GATE: LazyLock<watch::Sender<bool>> = LazyLock::new(|| watch::Sender::new(false));
static UNBOUNDED_SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Unbounded;

#[websocket("/unbounded", max_queue = None, ping_interval = None)]
impl Unbounded {
    async fn message(&mut self, message: Vec<u8>) {
        busy_hook(&UNBOUNDED_GATE, &UNBOUNDED_SEEN, &message).await;
    }
}

/// Sends the flood on a task, counting the bytes of the sends completed.
/// A send waits as long as the test keeps the hook busy; the test bounds
/// the whole flood instead.
fn spawn_flood(client: TestClient) -> (tokio::task::JoinHandle<TestClient>, Arc<AtomicUsize>) {
    let mut client = client.with_timeout(Duration::from_secs(60));
    let written = Arc::new(AtomicUsize::new(0));
    let count = written.clone();
    let task = tokio::spawn(async move {
        for seq in 0..FLOOD_COUNT {
            client.send(flood_message(seq)).await;
            count.fetch_add(FLOOD_SIZE, Ordering::Relaxed);
        }
        client
    });
    (task, written)
}

/// Waits until `counter` stops growing for 300 ms (or 3 s pass); returns it.
async fn settled(counter: &AtomicUsize) -> usize {
    let start = Instant::now();
    let mut last = counter.load(Ordering::Relaxed);
    let mut still = 0;
    while still < 3 && start.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = counter.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    last
}

/// Waits until `seen` holds every flood message; returns it.
async fn all_seen(seen: &Mutex<Vec<u32>>) -> Vec<u32> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = seen.lock().unwrap().clone();
        if now.len() >= FLOOD_COUNT as usize || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn max_queue_stops_reading_while_the_hook_is_busy_and_loses_nothing() {
    let server = start_with_buffers(App::empty().websocket::<Queue>(), BUF);
    let client = connect_with_buffers(&server, "/queue", BUF).await;
    let (flood, written) = spawn_flood(client);

    // The hook holds message 0 and at most 4 more wait for it. Beyond those,
    // only the engine's read buffer (read_limit plus the frame it is
    // parsing) and the kernel's buffers can take the client's bytes: then
    // its writes block.
    let stuck_at = settled(&written).await;
    let read_ahead = Queue::LIMITS.read_limit + FLOOD_SIZE;
    let bound = (1 + 4) * FLOOD_SIZE + read_ahead + KERNEL;
    assert!(
        !flood.is_finished() && stuck_at <= bound,
        "the client got {stuck_at} bytes out while the hook was busy, more than \
         5 messages + read_limit + a frame + socket buffers = {bound}: the server kept reading"
    );
    // ... and the server did read ahead: the hook's message and 4 queued.
    assert!(
        stuck_at >= (1 + 4) * FLOOD_SIZE,
        "only {stuck_at} bytes taken: the server read fewer than max_queue messages ahead"
    );
    assert_eq!(*QUEUE_SEEN.lock().unwrap(), [0], "the hook entered once");

    // Released, the hook gets every message, intact and in order.
    QUEUE_GATE.send_replace(true);
    let client = tokio::time::timeout(TIMEOUT, flood)
        .await
        .expect("the flood finishes once the hook is released")
        .unwrap();
    let seen = all_seen(&QUEUE_SEEN).await;
    assert_eq!(seen, (0..FLOOD_COUNT).collect::<Vec<_>>());
    println!(
        "max_queue: client stalled after {} of {FLOOD_COUNT} messages (bound {})",
        stuck_at / FLOOD_SIZE,
        bound as f64 / FLOOD_SIZE as f64
    );
    drop(client);
}

#[tokio::test]
async fn max_queue_none_reads_on_while_the_hook_is_busy() {
    let server = start_with_buffers(App::empty().websocket::<Unbounded>(), BUF);
    let client = connect_with_buffers(&server, "/unbounded", BUF).await;
    let (flood, _) = spawn_flood(client);
    // The same flood as above, with the same socket buffers, gets through
    // although the hook never returns: it is max_queue that stops the reading.
    let client = tokio::time::timeout(TIMEOUT, flood)
        .await
        .expect("with max_queue = None the server reads the whole flood")
        .unwrap();
    assert_eq!(
        *UNBOUNDED_SEEN.lock().unwrap(),
        [0],
        "the hook entered once"
    );
    UNBOUNDED_GATE.send_replace(true);
    let seen = all_seen(&UNBOUNDED_SEEN).await;
    assert_eq!(seen, (0..FLOOD_COUNT).collect::<Vec<_>>());
    drop(client);
}

const OUT_COUNT: usize = 2000;
const OUT_SIZE: usize = 1024;
const WRITE_LIMIT: usize = 8192;
static OUT_SENT: AtomicUsize = AtomicUsize::new(0);

fn out_message(seq: usize) -> Vec<u8> {
    let mut m = vec![(seq % 251) as u8; OUT_SIZE];
    m[..4].copy_from_slice(&(seq as u32).to_be_bytes());
    m
}

#[derive(Default)]
struct Firehose;

#[websocket("/firehose", write_limit = 8192, ping_interval = None)]
impl Firehose {
    async fn connection(&mut self) {
        let socket = self.socket();
        tokio::spawn(async move {
            for seq in 0..OUT_COUNT {
                socket
                    .send(Message::binary(out_message(seq)))
                    .await
                    .unwrap();
                OUT_SENT.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

#[tokio::test]
async fn write_limit_makes_send_wait_for_a_client_that_does_not_read() {
    assert_eq!(Firehose::LIMITS.write_limit, WRITE_LIMIT);
    let server = start_with_buffers(App::empty().websocket::<Firehose>(), BUF);
    let mut client = connect_with_buffers(&server, "/firehose", BUF).await;

    // The client does not read. `send` may run ahead by write_limit (plus the
    // message that crosses it) in the queue, as much again in the engine's
    // write buffer, and the kernel's buffers; then it must wait.
    let stuck_at = settled(&OUT_SENT).await;
    let frame = OUT_SIZE + 4;
    let bound = 2 * (WRITE_LIMIT + frame) + KERNEL;
    assert!(
        stuck_at * OUT_SIZE <= bound,
        "{stuck_at} of {OUT_COUNT} sends of {OUT_SIZE} bytes completed for a client \
         that does not read; write_limit + engine buffer + socket buffers = {bound} bytes"
    );
    assert!(
        stuck_at * OUT_SIZE >= WRITE_LIMIT,
        "send waited before write_limit was queued ({stuck_at} sends)"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        OUT_SENT.load(Ordering::Relaxed),
        stuck_at,
        "send kept going"
    );

    // Reading now, the client gets every message, intact and in order.
    for seq in 0..OUT_COUNT {
        let message = client.recv().await;
        assert!(
            message.is_binary(),
            "message {seq}: expected binary, got {message:?}"
        );
        assert!(message.as_bytes() == out_message(seq), "message {seq}");
    }
    assert_eq!(OUT_SENT.load(Ordering::Relaxed), OUT_COUNT);
    println!(
        "write_limit: sender stalled after {stuck_at} of {OUT_COUNT} sends (bound {})",
        bound / OUT_SIZE
    );
}

#[derive(Default)]
struct NoWriteLimit;

#[websocket("/nowritelimit", write_limit = 18446744073709551615)]
impl NoWriteLimit {
    async fn message(&mut self, message: Message) {
        let _ = self.send(message).await;
    }
}

/// The largest write_limit the attribute takes is also one the engine
/// takes (tungstenite asserts its write buffer is below its maximum, and an
/// assertion in the upgrade task would kill every connection of the route).
#[tokio::test]
async fn the_largest_write_limit_still_serves() {
    assert_eq!(NoWriteLimit::LIMITS.write_limit, usize::MAX);
    let server = TestServer::start(App::empty().websocket::<NoWriteLimit>()).await;
    let mut client = server.connect("/nowritelimit").await;
    client.send("still echoes").await;
    assert_eq!(client.recv_text().await, "still echoes");
}

#[derive(Default)]
struct SlowQueue;

// The hook stays busy well past ping_timeout (while the queue is full and
// reading paused), with margins a loaded machine's scheduling stalls do not
// eat (0.2 s timeouts failed once at load 8 on 2 cores).
#[websocket("/slowqueue", ping_interval = 0.3, ping_timeout = 0.6, max_queue = 1)]
impl SlowQueue {
    async fn message(&mut self, message: String) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = self.send(message).await;
    }
}

/// max_queue pauses reading while the hook is slow; the client's pongs sit
/// unread meanwhile, which must not count as a keepalive timeout.
#[tokio::test]
async fn ping_timeout_is_not_fooled_by_a_full_queue() {
    let server = TestServer::start(App::empty().websocket::<SlowQueue>()).await;
    let mut client = server.connect("/slowqueue").await;
    for m in ["a", "b", "c"] {
        client.send(m).await;
    }
    // Reading answers pings (tungstenite replies while it reads).
    for m in ["a", "b", "c"] {
        assert_eq!(client.recv_text().await, m);
    }
}
