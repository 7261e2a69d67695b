//! The load generator: echo runs and connect+echo+close cycles, and the
//! pieces the other clients share (connecting, payloads, a run's result).
//! One current-thread runtime (the caller's, inside a `LocalSet`), one task
//! per connection, payloads made once up front and sent as
//! reference-counted clones: the only per-message allocations are
//! tungstenite's own (the frame it reads into a new `Bytes`). Every echoed
//! byte is compared with what was sent. Latencies go into a fixed-size
//! log-linear [`Histogram`], so recording allocates nothing either.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::task::{spawn_local, JoinHandle};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

use crate::histogram::Histogram;
use crate::procs;

pub type Ws = WebSocketStream<TcpStream>;

/// Errors kept per run (the count is always exact).
pub(crate) const KEEP_ERRORS: usize = 5;

/// Counts an error in `count` and keeps its text while fewer than
/// [`KEEP_ERRORS`] are kept.
pub(crate) fn keep_error(count: &mut usize, kept: &mut Vec<String>, e: String) {
    *count += 1;
    if kept.len() < KEEP_ERRORS {
        kept.push(e);
    }
}

/// Opens a TCP connection (`TCP_NODELAY` on) and does the WebSocket
/// handshake. `read_buffer` is the client's tungstenite read buffer.
pub async fn connect(addr: SocketAddr, url: &str, read_buffer: usize) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let (ws, _) = client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Opens `n` connections, 64 handshakes at a time, and returns those that
/// opened; `failed` gets the error of each one that did not.
pub async fn connect_many(
    addr: SocketAddr,
    url: &str,
    n: usize,
    mut failed: impl FnMut(String),
) -> Vec<Ws> {
    let mut conns: Vec<Ws> = Vec::with_capacity(n);
    let mut attempted = 0;
    while attempted < n {
        let batch = (n - attempted).min(64);
        attempted += batch;
        let opened =
            futures_util::future::join_all((0..batch).map(|_| connect(addr, url, 4096))).await;
        for r in opened {
            match r {
                Ok(ws) => conns.push(ws),
                Err(e) => failed(e),
            }
        }
    }
    conns
}

/// The messages a run sends: a few distinct payloads of one size, so that
/// an echo of the wrong message (or of a stale buffer) is caught too.
pub struct Payloads {
    messages: Vec<Message>,
    bytes: Vec<Bytes>,
    text: bool,
}

impl Payloads {
    pub fn new(size: usize, text: bool) -> Payloads {
        let variants = if size >= 64 * 1024 { 4 } else { 64 };
        let mut messages = Vec::with_capacity(variants);
        let mut bytes = Vec::with_capacity(variants);
        for v in 0..variants {
            let data: Vec<u8> = (0..size)
                .map(|j| {
                    if text {
                        b'a' + ((v * 7 + j * 13 + j / 26) % 26) as u8
                    } else {
                        (v * 31 + j * 7 + j / 251) as u8
                    }
                })
                .collect();
            let data = Bytes::from(data);
            messages.push(if text {
                Message::Text(Utf8Bytes::try_from(data.clone()).expect("ASCII"))
            } else {
                Message::Binary(data.clone())
            });
            bytes.push(data);
        }
        Payloads {
            messages,
            bytes,
            text,
        }
    }

    /// The `i`-th message of a connection (a reference-counted clone).
    pub fn get(&self, i: usize) -> Message {
        self.messages[i % self.messages.len()].clone()
    }

    /// `true` when `message` is exactly the `i`-th message: same kind
    /// (text or binary), same bytes.
    pub fn check(&self, i: usize, message: &Message) -> bool {
        let want = &self.bytes[i % self.bytes.len()][..];
        match message {
            Message::Text(t) if self.text => t.as_bytes() == want,
            Message::Binary(b) if !self.text => &b[..] == want,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warm,
    Measure,
    Stop,
}

/// What one timed run measured.
#[derive(Default)]
pub struct RunResult {
    /// Echoed messages (or finished cycles) inside the measured window.
    pub ops: u64,
    /// Echoed payload bytes inside the window (one direction).
    pub bytes: u64,
    pub window: Duration,
    pub latency: Histogram,
    /// Server user + system CPU time inside the window.
    pub server_cpu: Option<Duration>,
    /// Client (this process) CPU time inside the window.
    pub client_cpu: Option<Duration>,
    /// CPU time the whole machine spent busy inside the window (all cores).
    pub machine_busy: Option<Duration>,
    /// Connections (or cycle workers) that ended with an error.
    pub failed: usize,
    pub error_count: usize,
    pub errors: Vec<String>,
}

impl RunResult {
    pub(crate) fn error(&mut self, e: String) {
        keep_error(&mut self.error_count, &mut self.errors, e);
    }

    /// Adds `count` errors, of which `errors` are the first, to the run's.
    pub(crate) fn add_errors(&mut self, count: usize, errors: Vec<String>) {
        self.error_count += count;
        let room = KEEP_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(errors.into_iter().take(room));
    }
}

/// Per-task tallies, merged into a [`RunResult`].
#[derive(Default)]
struct Tally {
    ops: u64,
    bytes: u64,
    latency: Histogram,
    error_count: usize,
    errors: Vec<String>,
    failed: bool,
}

impl Tally {
    fn error(&mut self, e: String) {
        keep_error(&mut self.error_count, &mut self.errors, e);
    }
}

/// The shape of an echo run.
#[derive(Debug, Clone)]
pub struct EchoSpec {
    pub conns: usize,
    pub inflight: usize,
    pub size: usize,
    pub text: bool,
    pub warmup: Duration,
    pub secs: Duration,
    /// The client's read buffer size.
    pub read_buffer: usize,
}

/// Echo run: `conns` connections, each sending `inflight` messages (fed into
/// the write buffer, then one flush) and waiting for all their echoes before
/// the next batch; 1 in flight is a plain `send`. Latency is from the start
/// of a batch to the arrival of each echo.
pub async fn echo(addr: SocketAddr, url: &str, spec: &EchoSpec, pid: Option<u32>) -> RunResult {
    let payloads = Rc::new(Payloads::new(spec.size, spec.text));
    let phase = Rc::new(Cell::new(Phase::Warm));
    let mut result = RunResult::default();
    let mut tasks: Vec<JoinHandle<Tally>> = Vec::with_capacity(spec.conns);
    for _ in 0..spec.conns {
        match connect(addr, url, spec.read_buffer).await {
            Ok(ws) => tasks.push(spawn_local(echo_conn(
                ws,
                payloads.clone(),
                phase.clone(),
                spec.inflight,
            ))),
            Err(e) => {
                result.failed += 1;
                result.error(e);
            }
        }
    }
    measure(&phase, spec.warmup, spec.secs, pid, &mut result).await;
    collect(tasks, &mut result).await;
    result
}

async fn echo_conn(
    mut ws: Ws,
    payloads: Rc<Payloads>,
    phase: Rc<Cell<Phase>>,
    inflight: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut sent = 0usize;
    let mut received = 0usize;
    let outcome: Result<(), String> = async {
        while phase.get() != Phase::Stop {
            let start = Instant::now();
            if inflight == 1 {
                ws.send(payloads.get(sent))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                sent += 1;
            } else {
                for _ in 0..inflight {
                    ws.feed(payloads.get(sent))
                        .await
                        .map_err(|e| format!("feed: {e}"))?;
                    sent += 1;
                }
                ws.flush().await.map_err(|e| format!("flush: {e}"))?;
            }
            while received < sent {
                let message = match ws.next().await {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(format!("receive: {e}")),
                    None => return Err("closed by the server".to_owned()),
                };
                if matches!(message, Message::Ping(_) | Message::Pong(_)) {
                    continue; // tungstenite answers pings by itself
                }
                if !payloads.check(received, &message) {
                    return Err(format!("echo {received} differs from what was sent"));
                }
                received += 1;
                if phase.get() == Phase::Measure {
                    tally.ops += 1;
                    tally.bytes += message.len() as u64;
                    tally.latency.record(start.elapsed());
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        tally.failed = true;
        tally.error(e);
    }
    tally
}

/// Connect → handshake → one echo → close cycles, `workers` at a time.
pub async fn cycles(
    addr: SocketAddr,
    url: &str,
    workers: usize,
    size: usize,
    warmup: Duration,
    secs: Duration,
    pid: Option<u32>,
) -> RunResult {
    let payloads = Rc::new(Payloads::new(size, true));
    let phase = Rc::new(Cell::new(Phase::Warm));
    let mut result = RunResult::default();
    let url: Rc<str> = url.into();
    let tasks: Vec<JoinHandle<Tally>> = (0..workers)
        .map(|w| {
            let (payloads, phase, url) = (payloads.clone(), phase.clone(), url.clone());
            spawn_local(async move {
                let mut tally = Tally::default();
                let mut i = w;
                while phase.get() != Phase::Stop {
                    let start = Instant::now();
                    match timeout(Duration::from_secs(10), cycle(addr, &url, &payloads, i)).await {
                        Ok(Ok(())) => {
                            if phase.get() == Phase::Measure {
                                tally.ops += 1;
                                tally.bytes += size as u64;
                                tally.latency.record(start.elapsed());
                            }
                        }
                        Ok(Err(e)) => {
                            tally.error(e);
                            sleep(Duration::from_millis(10)).await;
                        }
                        Err(_) => tally.error("cycle took over 10 s".to_owned()),
                    }
                    i += workers;
                }
                tally
            })
        })
        .collect();
    measure(&phase, warmup, secs, pid, &mut result).await;
    collect(tasks, &mut result).await;
    result
}

/// One cycle. The client waits for the server to close the TCP connection
/// (RFC 6455: the server closes first and keeps the TIME_WAIT).
pub async fn cycle(
    addr: SocketAddr,
    url: &str,
    payloads: &Payloads,
    i: usize,
) -> Result<(), String> {
    let mut ws = connect(addr, url, 4096).await?;
    ws.send(payloads.get(i))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) if payloads.check(i, &m) => break,
            Some(Ok(_)) => return Err("echo differs from what was sent".to_owned()),
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("closed before the echo".to_owned()),
        }
    }
    ws.close(None).await.map_err(|e| format!("close: {e}"))?;
    loop {
        match ws.next().await {
            None => return Ok(()),
            Some(Ok(_)) => continue, // the server's close frame
            Some(Err(e)) => return Err(format!("closing: {e}")),
        }
    }
}

/// Warm-up, then the measured window: server and client CPU time read at
/// its two edges, with no task running in between.
async fn measure(
    phase: &Cell<Phase>,
    warmup: Duration,
    secs: Duration,
    pid: Option<u32>,
    result: &mut RunResult,
) {
    sleep(warmup).await;
    let cpu = procs::CpuWindow::start(pid);
    let start = Instant::now();
    phase.set(Phase::Measure);
    sleep(secs).await;
    phase.set(Phase::Stop);
    result.window = start.elapsed();
    (result.server_cpu, result.client_cpu, result.machine_busy) = cpu.finish();
}

/// Waits (up to 15 s) for the tasks to finish their last batch.
async fn collect(tasks: Vec<JoinHandle<Tally>>, result: &mut RunResult) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(tally)) => {
                result.ops += tally.ops;
                result.bytes += tally.bytes;
                result.latency.merge(&tally.latency);
                result.failed += usize::from(tally.failed);
                result.add_errors(tally.error_count, tally.errors);
            }
            Ok(Err(e)) => {
                result.failed += 1;
                result.error(format!("task: {e}"));
            }
            Err(_) => {
                abort.abort();
                result.failed += 1;
                result.error("no answer within 15 s of the end".to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_catch_wrong_kind_wrong_order_and_wrong_bytes() {
        let text = Payloads::new(64, true);
        assert!(text.check(3, &text.get(3)));
        assert!(!text.check(3, &text.get(4)));
        assert!(!text.check(3, &Message::Binary(text.bytes[3].clone())));
        let mut bad = text.bytes[3].to_vec();
        bad[63] ^= 1;
        assert!(!text.check(3, &Message::Binary(bad.into())));
        let binary = Payloads::new(1 << 20, false);
        assert!(binary.check(5, &binary.get(5)));
        assert!(!binary.check(5, &binary.get(6)));
    }
}
