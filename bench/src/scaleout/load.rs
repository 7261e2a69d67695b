//! The scale-out benchmark's clients, all in this process: the members of
//! every room (room `r` on node `r × nodes ÷ rooms`, so node i holds rooms
//! 10i..10i+9 of 30 on 3 nodes) and the publishers on every node, which
//! send to every room in turn.
//!
//! This file connects them and measures one window (messages, each node's
//! envelopes, CPU); what each client does is in [`super::clients`].

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::task::{spawn_local, JoinHandle};
use tokio::time::sleep;

use super::clients::{member, messages, probe, publisher, Phase, Shared};
use super::cluster::Nodes;
use crate::client::{connect_many, Ws};
use crate::procs;

/// How long, after the window, the last deliveries may take.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(3);

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub nodes: usize,
    pub rooms: usize,
    /// Members per room, all on the room's node.
    pub members: usize,
    /// Publisher connections per node.
    pub publishers: usize,
    /// Messages in flight (sent, not yet received by every member) per
    /// publisher.
    pub inflight: usize,
    /// Message size in bytes.
    pub size: usize,
    pub warmup: Duration,
    pub secs: Duration,
}

impl LoadSpec {
    /// The node holding the members of `room`.
    pub fn room_node(&self, room: usize) -> usize {
        room * self.nodes / self.rooms
    }

    /// The node of publisher `p` (numbered node after node).
    pub(super) fn publisher_node(&self, p: usize) -> usize {
        p / self.publishers
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Measured {
    pub window: Duration,
    /// Messages published inside the window.
    pub sends: u64,
    /// Messages received by members inside the window.
    pub delivered: u64,
    /// Of those, the ones whose publisher was on another node.
    pub cross: u64,
    /// Envelopes each node decoded from Redis inside the window.
    pub envelopes: Vec<u64>,
    /// CPU time of all nodes together, and of Redis, inside the window.
    pub node_cpu: Option<Duration>,
    pub redis_cpu: Option<Duration>,
    /// CPU time the rest of the machine used inside the window (other
    /// programs; kernel work charged to no process of the run).
    pub other_cpu: Option<Duration>,
    /// Deliveries still missing a few seconds after the window.
    pub lost: u64,
    pub error_count: usize,
    pub errors: Vec<String>,
}

/// Connects the clients, probes, then measures one window; the clients
/// are gone when it returns. `redis_pid`: `None` for nodes without Redis.
pub async fn run(
    nodes: &Nodes,
    redis_pid: Option<u32>,
    spec: &LoadSpec,
) -> Result<Measured, String> {
    let shared = Rc::new(Shared::new(spec));
    let mut tasks = Tasks(Vec::new());
    for room in 0..spec.rooms {
        let node = spec.room_node(room);
        let url = format!("ws://{}/member/r{room}", nodes.addrs[node]);
        let prefix: Rc<str> = format!("r{room} ").into();
        for ws in open(nodes.addrs[node], &url, spec.members).await? {
            let task = member(ws, prefix.clone(), node, shared.clone());
            tasks.0.push(spawn_local(task));
        }
    }
    let mut publishers: Vec<Ws> = Vec::new(); // node after node
    for &addr in &nodes.addrs {
        let url = format!("ws://{addr}/publish");
        publishers.extend(open(addr, &url, spec.publishers).await?);
    }
    probe(spec, &shared, &mut publishers).await?;
    sleep(Duration::from_millis(300)).await; // the probes' stragglers

    shared.set_phase(Phase::Warm);
    for (p, ws) in publishers.into_iter().enumerate() {
        let first = p * 7 % spec.rooms; // publishers start on different rooms
        let task = publisher(ws, p, messages(spec, p, 'm'), first, shared.clone());
        tasks.0.push(spawn_local(task));
    }
    sleep(spec.warmup).await;
    let before = Edge::read(nodes, redis_pid).await?;
    let start = Instant::now();
    shared.set_phase(Phase::Measure);
    sleep(spec.secs).await;
    shared.set_phase(Phase::Stop);
    let window = start.elapsed();
    let after = Edge::read(nodes, redis_pid).await?;
    let drained = Instant::now();
    while shared.outstanding() > 0 && drained.elapsed() < DRAIN_LIMIT {
        sleep(Duration::from_millis(10)).await;
    }
    drop(tasks);
    let used = |i: usize| {
        before.cpu[i]
            .zip(after.cpu[i])
            .map(|(a, b)| b.saturating_sub(a))
    };
    let mine = used(0)
        .zip(used(1))
        .zip(used(2))
        .map(|((a, b), c)| a + b + c);
    let (error_count, errors) = shared.errors.take();
    Ok(Measured {
        window,
        sends: shared.sends.get(),
        delivered: shared.delivered.get(),
        cross: shared.cross.get(),
        envelopes: (after.envelopes.iter().zip(&before.envelopes))
            .map(|(a, b)| a - b)
            .collect(),
        node_cpu: used(0),
        redis_cpu: redis_pid.and(used(1)),
        other_cpu: used(3)
            .zip(mine)
            .map(|(all, mine)| all.saturating_sub(mine)),
        lost: shared.outstanding(),
        error_count,
        errors,
    })
}

/// What is read at each edge of the window.
struct Edge {
    envelopes: Vec<u64>,
    /// CPU time so far of: the nodes together, Redis, this process, the
    /// whole machine (busy time of all cores).
    cpu: [Option<Duration>; 4],
}

impl Edge {
    async fn read(nodes: &Nodes, redis_pid: Option<u32>) -> Result<Edge, String> {
        let envelopes = nodes.envelopes().await?;
        let of = |pid| procs::cpu_time(Some(pid));
        let node_cpu = nodes.pids().into_iter().map(of).sum();
        let cpu = [
            node_cpu,
            redis_pid.map_or(Some(Duration::ZERO), of),
            procs::cpu_time(None),
            procs::machine_busy(),
        ];
        Ok(Edge { envelopes, cpu })
    }
}

/// `n` connections to `url`, or the first error.
async fn open(addr: SocketAddr, url: &str, n: usize) -> Result<Vec<Ws>, String> {
    let mut failure = None;
    let conns = connect_many(addr, url, n, |e| {
        failure.get_or_insert(e);
    })
    .await;
    match failure {
        Some(e) => Err(format!("{url}: {e}")),
        None => Ok(conns),
    }
}

/// The spawned clients, aborted (their connections dropped) when dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}
