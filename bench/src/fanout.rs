//! The fan-out scenario's client: `conns` connections to one server, one of
//! them the trigger. Each broadcast: the trigger sends `go <n>` (the clock
//! starts just before), the server sends one 64-byte message to every
//! connection (the trigger included), and the broadcast is done when every
//! live connection has received it; the next one starts right after.
//!
//! The receiving side is a handful of tasks (one per [`GROUPS`] share of the
//! connections), each reading all its connections at once through one
//! `SelectAll`, which polls only the connections that have something to
//! read. Every receiver must get every broadcast after the warm-up exactly
//! once and in order, byte for byte (see `fanout_wire`); anything else is
//! an error and takes that receiver out of the count.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::Either;
use futures_util::stream::{self, SelectAll, SplitSink};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::task::{spawn_local, JoinHandle};
use tokio::time::{sleep, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{connect_many, RunResult, Ws, KEEP_ERRORS};
use crate::histogram::Histogram;
use crate::{fanout_wire, procs};

/// Tasks reading the connections.
const GROUPS: usize = 8;
/// How long the first (registration) broadcast may take before it is tried
/// again, and how many tries it gets.
const REGISTER_LIMIT: Duration = Duration::from_secs(2);
const REGISTER_TRIES: usize = 10;
/// How long any later broadcast may take before the run is abandoned.
const BROADCAST_LIMIT: Duration = Duration::from_secs(10);

/// The shape of a fan-out run.
#[derive(Debug, Clone)]
pub struct FanoutSpec {
    /// Connections, the trigger included.
    pub conns: usize,
    /// Measured broadcasts, one at a time.
    pub broadcasts: usize,
    /// Unmeasured broadcasts after the first one that reached everyone.
    pub warmup: usize,
}

/// What the fan-out run measured beyond a [`RunResult`].
#[derive(Default)]
pub struct FanoutInfo {
    pub target: usize,
    pub connected: usize,
    pub connect_time: Duration,
    /// Measured broadcasts wanted.
    pub broadcasts: usize,
    /// Fan-out time (trigger sent → last live receiver got it) of each
    /// measured broadcast that completed, in order.
    pub times: Vec<Duration>,
    /// Trigger sent → each receiver got it, every receiver of every
    /// measured broadcast.
    pub per_client: Histogram,
    /// Receivers lost during the run (closed, failed or wrong message).
    pub lost: usize,
}

impl FanoutInfo {
    /// Exact `q`-quantile (nearest rank) of the fan-out times.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut v = self.times.clone();
        v.sort();
        let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1));
        v.get(rank - 1).copied()
    }

    pub fn max(&self) -> Option<Duration> {
        self.times.iter().max().copied()
    }
}

pub struct FanoutResult {
    /// `ops`: messages delivered in the measured broadcasts; `window`: from
    /// the first measured trigger to the end of the last broadcast;
    /// `latency`: the fan-out times; CPU readings at the window's edges.
    pub run: RunResult,
    pub info: FanoutInfo,
}

/// State shared by the driver and the receiving tasks (one thread).
struct Shared {
    /// The broadcast being counted.
    current: Cell<u64>,
    /// Live receivers that got `current`.
    got: Cell<usize>,
    /// Live receivers.
    alive: Cell<usize>,
    /// From this broadcast on, each receiver must get every broadcast, in
    /// order (before it, late joiners may miss some).
    strict_from: Cell<u64>,
    /// When `current` reached every live receiver.
    finished: Cell<Option<Instant>>,
    started: Cell<Instant>,
    measuring: Cell<bool>,
    done: Notify,
    per_client: RefCell<Histogram>,
    error_count: Cell<usize>,
    errors: RefCell<Vec<String>>,
}

impl Shared {
    fn new(alive: usize) -> Shared {
        Shared {
            current: Cell::new(u64::MAX),
            got: Cell::new(0),
            alive: Cell::new(alive),
            strict_from: Cell::new(u64::MAX),
            finished: Cell::new(Some(Instant::now())),
            started: Cell::new(Instant::now()),
            measuring: Cell::new(false),
            done: Notify::new(),
            per_client: RefCell::new(Histogram::default()),
            error_count: Cell::new(0),
            errors: RefCell::new(Vec::new()),
        }
    }

    fn error(&self, e: String) {
        self.error_count.set(self.error_count.get() + 1);
        let mut errors = self.errors.borrow_mut();
        if errors.len() < KEEP_ERRORS {
            errors.push(e);
        }
    }

    fn check_done(&self) {
        if self.finished.get().is_none() && self.got.get() >= self.alive.get() {
            self.finished.set(Some(Instant::now()));
            self.done.notify_one();
        }
    }

    /// A receiver is out: it no longer counts.
    fn lose(&self, e: String) {
        self.error(e);
        self.alive.set(self.alive.get().saturating_sub(1));
        self.check_done();
    }

    /// One text message on a receiver whose last broadcast was `last`.
    fn receive(&self, last: &mut Option<u64>, data: &[u8]) -> Result<(), String> {
        let n = fanout_wire::parse_payload(data).ok_or_else(|| {
            format!(
                "a message that is no broadcast ({} B, after {last:?})",
                data.len()
            )
        })?;
        let in_order = if n >= self.strict_from.get() {
            n > 0 && *last == Some(n - 1)
        } else {
            last.is_none_or(|l| n > l)
        };
        if !in_order {
            return Err(format!(
                "broadcast {n} after {last:?}: duplicated, out of order or one missing"
            ));
        }
        *last = Some(n);
        if n == self.current.get() {
            self.got.set(self.got.get() + 1);
            if self.measuring.get() {
                self.per_client
                    .borrow_mut()
                    .record(self.started.get().elapsed());
            }
            self.check_done();
        }
        Ok(())
    }
}

type Receiver = Either<Ws, stream::SplitStream<Ws>>;
type Trigger = SplitSink<Ws, Message>;

/// Reads every connection of one group until they all end (or the task is
/// aborted).
async fn receive_group(conns: Vec<Receiver>, shared: Rc<Shared>) {
    let mut last: Vec<Option<u64>> = vec![None; conns.len()];
    let mut dead = vec![false; conns.len()];
    let mut all = SelectAll::new();
    for (i, ws) in conns.into_iter().enumerate() {
        // `None` marks the end of connection `i`.
        all.push(
            ws.map(move |m| (i, Some(m)))
                .chain(stream::once(futures_util::future::ready((i, None)))),
        );
    }
    while let Some((i, item)) = all.next().await {
        if dead[i] {
            continue;
        }
        let outcome = match item {
            Some(Ok(Message::Text(text))) => shared.receive(&mut last[i], text.as_bytes()),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
            Some(Ok(Message::Binary(_))) => Err("a binary message".to_owned()),
            Some(Ok(Message::Close(c))) => Err(format!("closed by the server: {c:?}")),
            Some(Err(e)) => Err(format!("receive: {e}")),
            None => Err("closed by the server".to_owned()),
        };
        if let Err(e) = outcome {
            dead[i] = true;
            shared.lose(e);
        }
    }
}

/// One broadcast: `go n` on the trigger, then wait until every live
/// receiver has it. Returns the fan-out time and the receivers reached.
async fn broadcast(
    shared: &Shared,
    trigger: &mut Trigger,
    n: u64,
    limit: Duration,
) -> Result<(Duration, usize), String> {
    shared.current.set(n);
    shared.got.set(0);
    shared.finished.set(None);
    let start = Instant::now();
    shared.started.set(start);
    trigger
        .send(Message::text(fanout_wire::go(n)))
        .await
        .map_err(|e| format!("trigger: {e}"))?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(end) = shared.finished.get() {
            return Ok((end - start, shared.got.get()));
        }
        // A permit left from an earlier broadcast only loops once more.
        if timeout_at(deadline, shared.done.notified()).await.is_err() {
            return Err(format!(
                "broadcast {n}: {} of {} receivers got it within {limit:?}",
                shared.got.get(),
                shared.alive.get()
            ));
        }
    }
}

/// Opens the connections (64 handshakes at a time), waits until a
/// broadcast reaches them all, warms up, then measures `spec.broadcasts`
/// broadcasts one after the other.
pub async fn fanout(
    addr: SocketAddr,
    url: &str,
    spec: &FanoutSpec,
    pid: Option<u32>,
) -> FanoutResult {
    let mut run = RunResult::default();
    let mut info = FanoutInfo {
        target: spec.conns,
        broadcasts: spec.broadcasts,
        ..FanoutInfo::default()
    };

    let start = Instant::now();
    let conns = connect_many(addr, url, spec.conns, |e| {
        run.failed += 1;
        run.error(e);
    })
    .await;
    info.connect_time = start.elapsed();
    info.connected = conns.len();
    if conns.is_empty() {
        run.error("no connection opened".to_owned());
        return FanoutResult { run, info };
    }

    let shared = Rc::new(Shared::new(conns.len()));
    // Connection 0 is the trigger: its sending half stays here, its
    // receiving half is read like every other connection.
    let groups = GROUPS.min(conns.len());
    let mut members: Vec<Vec<Receiver>> = (0..groups).map(|_| Vec::new()).collect();
    let mut it = conns.into_iter();
    let (mut trigger, first) = it.next().expect("one connection at least").split();
    members[0].push(Either::Right(first));
    for (k, ws) in it.enumerate() {
        members[(k + 1) % groups].push(Either::Left(ws));
    }
    let tasks: Vec<JoinHandle<()>> = members
        .into_iter()
        .map(|m| spawn_local(receive_group(m, shared.clone())))
        .collect();

    let outcome: Result<(), String> = async {
        // The server may register a connection (join the room, subscribe)
        // a little after its handshake: broadcast until one reaches all.
        sleep(Duration::from_millis(200)).await;
        let mut n = 0u64;
        let mut tries = 0;
        loop {
            tries += 1;
            match broadcast(&shared, &mut trigger, n, REGISTER_LIMIT).await {
                Ok(_) => break,
                Err(e) if tries >= REGISTER_TRIES => {
                    return Err(format!("no broadcast reached every connection: {e}"))
                }
                Err(_) => n += 1,
            }
        }
        n += 1;
        shared.strict_from.set(n);
        for _ in 0..spec.warmup {
            broadcast(&shared, &mut trigger, n, BROADCAST_LIMIT).await?;
            n += 1;
        }

        let cpu = procs::CpuWindow::start(pid);
        shared.measuring.set(true);
        let window = Instant::now();
        let mut failure = None;
        for _ in 0..spec.broadcasts {
            match broadcast(&shared, &mut trigger, n, BROADCAST_LIMIT).await {
                Ok((took, reached)) => {
                    info.times.push(took);
                    run.latency.record(took);
                    run.ops += reached as u64;
                    run.bytes += (reached * fanout_wire::PAYLOAD_LEN) as u64;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            n += 1;
        }
        run.window = window.elapsed();
        shared.measuring.set(false);
        (run.server_cpu, run.client_cpu, run.machine_busy) = cpu.finish();
        if let Some(e) = failure {
            return Err(e);
        }
        // A duplicate sent after the last broadcast would arrive now.
        sleep(Duration::from_millis(100)).await;
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        run.error(e);
    }

    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    drop(trigger);
    info.lost = info.connected - shared.alive.get().min(info.connected);
    info.per_client = shared.per_client.take();
    run.failed += info.lost;
    run.add_errors(shared.error_count.get(), shared.errors.take());
    FanoutResult { run, info }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_reject_changes() {
        for n in [0, 1, 25, 26, 1234, u64::MAX] {
            let p = fanout_wire::payload(n);
            assert_eq!(p.len(), fanout_wire::PAYLOAD_LEN);
            assert_eq!(fanout_wire::parse_payload(p.as_bytes()), Some(n));
            let mut bad = p.clone().into_bytes();
            bad[63] ^= 1;
            assert_eq!(fanout_wire::parse_payload(&bad), None);
            assert_eq!(fanout_wire::parse_go(&fanout_wire::go(n)), Some(n));
        }
        assert_ne!(fanout_wire::payload(1), fanout_wire::payload(27));
        assert_eq!(fanout_wire::parse_payload(b"fanout 1"), None);
    }

    #[test]
    fn receivers_must_get_every_broadcast_once_and_in_order() {
        let shared = Shared::new(2);
        let p = |n| fanout_wire::payload(n).into_bytes();
        // Warm-up: a late joiner may miss broadcasts, but not go back.
        let mut last = None;
        assert!(shared.receive(&mut last, &p(2)).is_ok());
        assert!(shared.receive(&mut last, &p(2)).is_err());
        assert!(shared.receive(&mut last, &p(1)).is_err());
        assert!(shared.receive(&mut last, &p(4)).is_ok());
        // Strict from 5: every one, once, in order.
        shared.strict_from.set(5);
        assert!(shared.receive(&mut last, &p(5)).is_ok());
        assert!(shared.receive(&mut last, &p(5)).is_err());
        assert!(shared.receive(&mut last, &p(7)).is_err());
        assert!(shared.receive(&mut last, &p(6)).is_ok());
        assert!(shared.receive(&mut last, b"echo").is_err());
        // Counting: done when every live receiver has the current one.
        shared.current.set(7);
        shared.got.set(0);
        shared.finished.set(None);
        assert!(shared.receive(&mut last, &p(7)).is_ok());
        assert!(shared.finished.get().is_none());
        shared.lose("gone".to_owned());
        assert!(shared.finished.get().is_some());
        assert_eq!(shared.error_count.get(), 1);
    }

    #[test]
    fn fanout_quantiles_are_exact() {
        let info = FanoutInfo {
            times: (1..=100).rev().map(Duration::from_millis).collect(),
            ..FanoutInfo::default()
        };
        assert_eq!(info.quantile(0.5), Some(Duration::from_millis(50)));
        assert_eq!(info.quantile(0.99), Some(Duration::from_millis(99)));
        assert_eq!(info.max(), Some(Duration::from_millis(100)));
        assert_eq!(FanoutInfo::default().quantile(0.5), None);
    }
}
