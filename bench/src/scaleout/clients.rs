//! What each client of the scale-out benchmark does (see [`super::load`]).
//!
//! A message is `r<room> <publisher> <m|p> xxx…` (padded to its size);
//! each member checks that it is for its own room and counts it, as
//! cross-node when its publisher is on another node. Each publisher has a
//! credit: at most `inflight` of its messages not yet received by every
//! member, so the nodes are kept busy without queues growing and every
//! publisher gets its share (the result is the throughput this machine
//! reaches, not an offered rate).
//!
//! Before measuring, each node's first publisher sends probes (`p`) to
//! every room until every member has had one from every node: cross-node
//! delivery works, every subscription is in place.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio::time::sleep;
use tokio_tungstenite::tungstenite::Message;

use super::load::LoadSpec;
use crate::client::{keep_error, Ws};

/// How long the probes may take to reach every member.
const PROBE_LIMIT: Duration = Duration::from_secs(15);
/// Messages a publisher sends at once (then flushes) when credit allows.
const BATCH: u64 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Probe,
    Warm,
    Measure,
    Stop,
}

/// One publisher's credit.
#[derive(Default)]
struct Credit {
    /// Deliveries expected (sends × members) and not yet received.
    outstanding: Cell<u64>,
    /// Told when the credit allows another message, or the window ends.
    wake: Notify,
}

/// What the clients share (one thread: cells).
pub(super) struct Shared {
    spec: LoadSpec,
    phase: Cell<Phase>,
    /// Per publisher.
    credits: Vec<Credit>,
    /// The most deliveries one publisher may have outstanding.
    cap: u64,
    members: u64,
    /// Members that have had a probe from every node.
    ready: Cell<usize>,
    pub(super) sends: Cell<u64>,
    pub(super) delivered: Cell<u64>,
    pub(super) cross: Cell<u64>,
    pub(super) errors: RefCell<(usize, Vec<String>)>,
}

impl Shared {
    pub(super) fn new(spec: &LoadSpec) -> Shared {
        Shared {
            spec: spec.clone(),
            phase: Cell::new(Phase::Probe),
            credits: (0..spec.nodes * spec.publishers)
                .map(|_| Credit::default())
                .collect(),
            cap: (spec.inflight * spec.members) as u64,
            members: spec.members as u64,
            ready: Cell::new(0),
            sends: Cell::new(0),
            delivered: Cell::new(0),
            cross: Cell::new(0),
            errors: RefCell::new((0, Vec::new())),
        }
    }

    fn error(&self, e: String) {
        let mut errors = self.errors.borrow_mut();
        let (count, kept) = &mut *errors;
        keep_error(count, kept, e);
    }

    fn measuring(&self) -> bool {
        self.phase.get() == Phase::Measure
    }

    /// Moves to `phase`; at [`Phase::Stop`] every waiting publisher wakes
    /// up to end.
    pub(super) fn set_phase(&self, phase: Phase) {
        self.phase.set(phase);
        if phase == Phase::Stop {
            self.credits.iter().for_each(|c| c.wake.notify_one());
        }
    }

    /// Deliveries still expected, all publishers together.
    pub(super) fn outstanding(&self) -> u64 {
        self.credits.iter().map(|c| c.outstanding.get()).sum()
    }
}

/// Every room's message from `publisher`, `m` (measured) or `p` (probe).
pub(super) fn messages(spec: &LoadSpec, publisher: usize, tag: char) -> Rc<Vec<Message>> {
    let all = (0..spec.rooms).map(|room| {
        let mut text = format!("r{room} {publisher} {tag} ");
        let pad = spec.size.saturating_sub(text.len());
        text.extend(std::iter::repeat_n('x', pad));
        Message::text(text)
    });
    Rc::new(all.collect())
}

/// Sends probes from each node's first publisher to every room, every
/// 100 ms, until every member has had one from every node.
pub(super) async fn probe(
    spec: &LoadSpec,
    shared: &Shared,
    publishers: &mut [Ws],
) -> Result<(), String> {
    let all = spec.rooms * spec.members;
    let start = Instant::now();
    let firsts: Vec<usize> = (0..spec.nodes).map(|n| n * spec.publishers).collect();
    let probes: Vec<_> = firsts.iter().map(|&p| messages(spec, p, 'p')).collect();
    while shared.ready.get() < all {
        if start.elapsed() > PROBE_LIMIT {
            return Err(format!(
                "after {PROBE_LIMIT:?} of probes, {} of {all} members had one from every node",
                shared.ready.get()
            ));
        }
        for (&p, probes) in firsts.iter().zip(&probes) {
            let ws = &mut publishers[p];
            for m in probes.iter() {
                ws.feed(m.clone())
                    .await
                    .map_err(|e| format!("probe: {e}"))?;
            }
            ws.flush().await.map_err(|e| format!("probe: {e}"))?;
        }
        sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Publisher `p`: sends `messages` (one per room, in turn from `room`)
/// while its credit allows, until the window ends.
pub(super) async fn publisher(
    mut ws: Ws,
    p: usize,
    messages: Rc<Vec<Message>>,
    mut room: usize,
    shared: Rc<Shared>,
) {
    let credit = &shared.credits[p];
    let result: Result<(), String> = async {
        while shared.phase.get() != Phase::Stop {
            let free = shared.cap.saturating_sub(credit.outstanding.get()) / shared.members;
            if free == 0 {
                credit.wake.notified().await;
                continue;
            }
            for _ in 0..free.min(BATCH) {
                let m = messages[room].clone();
                ws.feed(m).await.map_err(|e| format!("publish: {e}"))?;
                room = (room + 1) % messages.len();
                credit
                    .outstanding
                    .set(credit.outstanding.get() + shared.members);
                if shared.measuring() {
                    shared.sends.set(shared.sends.get() + 1);
                }
            }
            ws.flush().await.map_err(|e| format!("publish: {e}"))?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        shared.error(e);
    }
}

/// Receives the messages of one room's member on `node` and counts them.
pub(super) async fn member(mut ws: Ws, prefix: Rc<str>, node: usize, shared: Rc<Shared>) {
    let spec = &shared.spec;
    let every_node = (1u128 << spec.nodes) - 1;
    let publishers = spec.nodes * spec.publishers;
    let mut probed = 0u128;
    while let Some(message) = ws.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(other) => return shared.error(format!("member: unexpected {other:?}")),
            Err(e) => return shared.error(format!("member: {e}")),
        };
        let Some((p, tag)) = parse(&text, &prefix).filter(|&(p, _)| p < publishers) else {
            return shared.error(format!("member of `{prefix}` got `{}`", &text[..]));
        };
        let origin = spec.publisher_node(p);
        if tag == 'p' {
            let had = probed == every_node;
            probed |= 1 << origin;
            if !had && probed == every_node {
                shared.ready.set(shared.ready.get() + 1);
            }
            continue;
        }
        let credit = &shared.credits[p];
        let left = credit.outstanding.get().saturating_sub(1);
        credit.outstanding.set(left);
        if left + shared.members <= shared.cap {
            credit.wake.notify_one();
        }
        if shared.measuring() {
            shared.delivered.set(shared.delivered.get() + 1);
            if origin != node {
                shared.cross.set(shared.cross.get() + 1);
            }
        }
    }
    shared.error("member: closed by the node".to_owned());
}

/// `(publisher, tag)` of a message for the room of `prefix` (`r<room> `).
fn parse(text: &str, prefix: &str) -> Option<(usize, char)> {
    let mut words = text.strip_prefix(prefix)?.split(' ');
    let publisher = words.next()?.parse().ok()?;
    match words.next()? {
        "m" => Some((publisher, 'm')),
        "p" => Some((publisher, 'p')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_room_origin_and_kind_and_have_their_size() {
        let spec = LoadSpec {
            nodes: 3,
            rooms: 30,
            members: 20,
            publishers: 2,
            inflight: 16,
            size: 64,
            warmup: Duration::ZERO,
            secs: Duration::ZERO,
        };
        let m = messages(&spec, 5, 'm');
        assert_eq!(m.len(), 30);
        let text = m[12].to_text().unwrap();
        assert_eq!(text.len(), 64);
        assert_eq!(parse(text, "r12 "), Some((5, 'm')));
        assert_eq!(parse(text, "r1 "), None);
        assert_eq!(parse("r12 1 q x", "r12 "), None);
        assert_eq!(parse("r12 -1 m x", "r12 "), None);
        assert_eq!(spec.publisher_node(5), 2);
        assert_eq!(spec.publisher_node(1), 0);
        let p = messages(&spec, 0, 'p');
        assert_eq!(parse(p[3].to_text().unwrap(), "r3 "), Some((0, 'p')));
        let nodes: Vec<usize> = [0, 9, 10, 19, 20, 29].map(|r| spec.room_node(r)).to_vec();
        assert_eq!(nodes, [0, 0, 1, 1, 2, 2]);
    }
}
