//! The Redis backplane's one background task: connects (and reconnects
//! with backoff), keeps the subscriptions equal to what the hub wants,
//! writes this node's presence, publishes the queued envelopes in
//! pipelined batches, and heartbeats.
//!
//! The hub's calls (`subscribe`, `track`, ...) only update [`Wanted`] and
//! wake this task, so a hook never waits for Redis; the task then brings
//! Redis in line with the latest state in one batch (a room joined and
//! left meanwhile costs nothing). After a reconnect it subscribes to
//! everything again and rewrites all of this node's members.

use super::conn::{Conn, Pushes, Servers};
use super::history::{Job, Numbering};
use super::link::Link;
use super::store::{self, Names};
use super::{Outgoing, Shared};
use crate::rooms::backplane::Topic;
use crate::rooms::hub::WeakHub;
use redis::RedisError;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// The first wait before reconnecting; doubled after each failure.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long one connection attempt may take, and one answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The connection is checked this often (a heartbeat), so a lost Redis is
/// noticed before the next send, not by it.
const KEEPALIVE: Duration = Duration::from_secs(1);
/// At most this many envelopes go to Redis in one pipelined round trip.
const BATCH: usize = 256;
/// At most this many presence writes in one round trip.
const WRITES: usize = 1024;

/// What the hub wants of Redis, kept up to date by the backplane's calls.
#[derive(Default)]
pub(super) struct Wanted {
    pub(super) topics: HashSet<Topic>,
    /// This node's members: room → id → info.
    pub(super) members: HashMap<String, HashMap<u64, serde_json::Value>>,
    /// Members whose stored state may differ from `members`.
    pub(super) dirty: HashSet<(String, u64)>,
}

impl Wanted {
    fn all_dirty(&mut self) {
        let all: Vec<(String, u64)> = self
            .members
            .iter()
            .flat_map(|(room, ids)| ids.keys().map(move |id| (room.clone(), *id)))
            .collect();
        self.dirty.extend(all);
    }
}

/// Why a session ended.
enum End {
    Stopped,
    Failed(RedisError),
}

impl From<RedisError> for End {
    fn from(e: RedisError) -> End {
        End::Failed(e)
    }
}

pub(super) struct Worker {
    pub(super) servers: Servers,
    pub(super) names: Names,
    pub(super) ttl: Duration,
    pub(super) node: u64,
    pub(super) hub: WeakHub,
    pub(super) shared: Arc<Shared>,
    pub(super) rx: mpsc::Receiver<Outgoing>,
    /// Numbered sends of history rooms.
    pub(super) jobs: mpsc::Receiver<Job>,
    pub(super) numbering: Numbering,
    pub(super) link: Link,
}

impl Worker {
    pub(super) async fn run(mut self) {
        let mut stopped = self.shared.stopped.clone();
        let current = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let dropped = Arc::new(Notify::new());
        let mut backoff = BACKOFF_MIN;
        for generation in 1.. {
            current.store(generation, Ordering::Release);
            let pushes = Pushes {
                hub: self.hub.clone(),
                generation,
                current: current.clone(),
                dropped: dropped.clone(),
                prefix: self.names.prefix.clone(),
            };
            let opened = tokio::select! {
                c = tokio::time::timeout(TIMEOUT, Conn::open(&self.servers, pushes, TIMEOUT)) => c,
                _ = stopped.changed() => return,
            };
            let error = match opened {
                Ok(Ok(conn)) => match self.session(conn, &dropped).await {
                    End::Stopped => return,
                    End::Failed(e) => {
                        backoff = BACKOFF_MIN;
                        e.to_string()
                    }
                },
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out connecting".to_owned(),
            };
            *self.shared.live() = None;
            self.shared.subscribed.send_replace(HashSet::new());
            self.link.failed(&self.names.prefix, &error);
            // While Redis is away, keep emptying the queue (those sends are
            // dropped for the other nodes) so nothing stale piles up.
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    envelope = self.rx.recv() => match envelope {
                        Some(_) => self.shared.health.lost(1),
                        None => return,
                    },
                    // History rooms' sends reach this node's members, with
                    // a position of this node's own (a hole for recovery).
                    Some(job) = self.jobs.recv() => self.shared.offline(job),
                    _ = stopped.changed() => return,
                }
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One connection's life: set up everything the node needs, then
    /// serve until it fails or the backplane stops.
    async fn session(&mut self, mut conn: Conn, dropped: &Notify) -> End {
        let mut stopped = self.shared.stopped.clone();
        let mut subscribed = HashSet::new();
        self.shared.wanted().all_dirty();
        self.numbering.forget();
        self.numbering.load(&mut conn).await;
        // A Cluster's masters as this session finds them (see `heartbeat`).
        let masters = match conn.masters().await {
            Ok(masters) => masters,
            Err(e) => return End::Failed(e),
        };
        if let Err(e) = self.heartbeat(&mut conn, true, &masters).await {
            return End::Failed(e);
        }
        if let Err(e) = self.sync(&mut conn, &mut subscribed).await {
            return End::Failed(e);
        }
        *self.shared.live() = Some(conn.clone());
        self.link.connected(&self.names.prefix);
        let mut tick = tokio::time::interval(KEEPALIVE.min(self.ttl / 3));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut refreshed = Instant::now();
        loop {
            // In this order: subscriptions and presence writes (`wake`)
            // go before the sends queued after them, so a member's join is
            // in Redis before the event that announces it is published
            // (the chat example counts members from presence).
            let done: Result<(), RedisError> = tokio::select! {
                biased;
                _ = stopped.changed() => {
                    self.goodbye(&mut conn).await;
                    return End::Stopped;
                }
                _ = self.shared.wake.notified() => self.sync(&mut conn, &mut subscribed).await,
                first = self.rx.recv() => match first {
                    Some(first) => self.publish(&mut conn, first).await,
                    None => return End::Stopped,
                },
                Some(first) = self.jobs.recv() => self.number(&mut conn, first).await,
                _ = tick.tick() => {
                    if self.hub.upgrade().is_none() {
                        self.goodbye(&mut conn).await;
                        return End::Stopped;
                    }
                    let refresh = refreshed.elapsed() >= self.ttl / 3;
                    if refresh {
                        refreshed = Instant::now();
                    }
                    match self.heartbeat(&mut conn, refresh, &masters).await {
                        Ok(()) => self.sync(&mut conn, &mut subscribed).await,
                        Err(e) => Err(e),
                    }
                }
                // The connection said it dropped: find out now, not at the
                // next tick.
                _ = dropped.notified() => self.heartbeat(&mut conn, false, &masters).await,
            };
            if let Err(e) = done {
                return End::Failed(e);
            }
        }
    }

    /// Marks this node alive; when Redis had forgotten it, marks every
    /// member to be written again. With `refresh`, also renews the TTL of
    /// the presence hashes of this node's rooms. On a Cluster, fails unless
    /// every master is one of `masters`, the session's (same address, same
    /// run id), and answers: one master's connection may drop while the
    /// others serve, and the crate reconnects to it and subscribes again by
    /// itself, but a master that restarted is back empty (this node's
    /// members gone from its presence hashes, its rooms' history lost), so
    /// the node starts over, as after any outage.
    async fn heartbeat(
        &mut self,
        conn: &mut Conn,
        refresh: bool,
        masters: &[(String, String)],
    ) -> Result<(), RedisError> {
        if !masters.is_empty() && conn.masters().await? != masters {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "a Redis Cluster master restarted or changed",
            )
            .into());
        }
        let before: Option<String> = conn
            .query(&store::heartbeat(&self.names, self.node, self.ttl))
            .await?;
        if before.is_none() {
            self.shared.wanted().all_dirty();
        }
        if refresh {
            let rooms: Vec<_> = self
                .shared
                .wanted()
                .members
                .keys()
                .map(|room| store::expire(&self.names.members(room), self.ttl))
                .collect();
            for chunk in rooms.chunks(WRITES) {
                conn.run(chunk).await?;
            }
        }
        Ok(())
    }

    /// Brings Redis in line with [`Wanted`]: subscribes to the channels
    /// newly wanted, unsubscribes from the others, writes the members that
    /// changed. What failed stays to do for the next connection.
    async fn sync(
        &mut self,
        conn: &mut Conn,
        subscribed: &mut HashSet<String>,
    ) -> Result<(), RedisError> {
        let (channels, writes) = {
            let mut wanted = self.shared.wanted();
            let channels: HashSet<String> = wanted
                .topics
                .iter()
                .map(|t| self.names.channel(t))
                .collect();
            let dirty = std::mem::take(&mut wanted.dirty);
            let writes: Vec<(String, u64, Option<String>)> = dirty
                .into_iter()
                .map(|(room, id)| {
                    let info = wanted
                        .members
                        .get(&room)
                        .and_then(|m| m.get(&id))
                        .map(|info| info.to_string());
                    (room, id, info)
                })
                .collect();
            (channels, writes)
        };
        let result = async {
            let new: Vec<String> = channels.difference(subscribed).cloned().collect();
            conn.subscribe(&new, true).await?;
            let added = !new.is_empty();
            subscribed.extend(new);
            let gone: Vec<String> = subscribed.difference(&channels).cloned().collect();
            conn.subscribe(&gone, false).await?;
            for channel in &gone {
                subscribed.remove(channel);
            }
            if added || !gone.is_empty() {
                self.shared.subscribed.send_replace(subscribed.clone());
            }
            for chunk in writes.chunks(WRITES) {
                let cmds: Vec<_> = chunk
                    .iter()
                    .flat_map(|(room, id, info)| {
                        store::write(&self.names, room, *id, info.as_deref(), self.ttl)
                    })
                    .collect();
                conn.run(&cmds).await?;
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            let mut wanted = self.shared.wanted();
            wanted
                .dirty
                .extend(writes.into_iter().map(|(room, id, _)| (room, id)));
        }
        result
    }

    /// Publishes `first` and what else is queued (up to [`BATCH`]) in one
    /// round trip, in order.
    async fn publish(&mut self, conn: &mut Conn, first: Outgoing) -> Result<(), RedisError> {
        let mut cmds = vec![conn.publish(&first.0, &first.1)];
        while cmds.len() < BATCH {
            match self.rx.try_recv() {
                Ok((channel, payload)) => cmds.push(conn.publish(&channel, &payload)),
                Err(_) => break,
            }
        }
        let health = &self.shared.health;
        match conn.run(&cmds).await {
            Ok(()) => {
                health.overflowing.store(false, Ordering::Release);
                crate::metrics::backplane_published(cmds.len());
                Ok(())
            }
            Err(e) => {
                // Whether Redis got the batch is unknown: not resent (at
                // most once).
                health.lost(cmds.len() as u64);
                Err(e)
            }
        }
    }

    /// Numbers `first` and the other queued sends of history rooms (up to
    /// [`BATCH`]), in order.
    async fn number(&mut self, conn: &mut Conn, first: Job) -> Result<(), RedisError> {
        let mut jobs = vec![first];
        while jobs.len() < BATCH {
            match self.jobs.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let count = jobs.len();
        match self.numbering.run(conn, &self.names, self.node, jobs).await {
            Ok(()) => {
                crate::metrics::backplane_published(count);
                Ok(())
            }
            Err((e, unanswered)) => {
                // Whether Redis numbered them is unknown: not resent (at
                // most once to the other nodes), but this node's members
                // get them, as holes (their echo is lost with the
                // connection), so nothing goes missing without a sign.
                for job in unanswered {
                    self.shared.offline(job);
                }
                Err(e)
            }
        }
    }

    /// The app is gone: this node leaves presence at once instead of after
    /// the TTL (best effort).
    async fn goodbye(&mut self, conn: &mut Conn) {
        let mut del = redis::cmd("DEL");
        del.arg(self.names.alive(self.node));
        let _ = tokio::time::timeout(TIMEOUT, conn.query::<redis::Value>(&del)).await;
    }
}
