//! [`RedisBackplane`]: rooms across processes and machines over Redis
//! pub/sub (cargo feature `redis`), on a single Redis or a Redis Cluster.
//!
//! Each node subscribes to the channels of what it holds (a room with a
//! member here, a route with a connection here, its own node) and
//! publishes each send on its room's, route's or node's channel, so a node
//! receives only what it delivers. Presence lives in Redis with a per-node
//! heartbeat ([`store`]). Redis going away never stops local delivery: the
//! node delivers to its own members first, logs the outage once,
//! reconnects by itself and subscribes and writes everything again.

mod conn;
mod history;
mod link;
mod store;
mod worker;

use crate::connection::error::SendError;
use crate::rooms::backplane::{Backplane, Build, Envelope, HistoryFuture, Topic};
use crate::rooms::history::{fresh_epoch, History, Kept, Position};
use crate::rooms::hub::{Hub, WeakHub};
use crate::rooms::presence::{Member, PresenceError, PresenceFuture};
use conn::{Conn, Servers};
use history::Job;
use link::{Health, Link};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use store::Names;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use worker::{Wanted, Worker};

/// Links the apps of many processes or machines through Redis pub/sub.
///
/// ```no_run
/// use cheese_api::{App, RedisBackplane};
///
/// # async fn run() -> std::io::Result<()> {
/// let redis = RedisBackplane::new("redis://127.0.0.1:6379/").expect("a redis:// URL");
/// App::new().backplane(redis).run().await
/// # }
/// ```
///
/// [`new`](Self::new) only checks the URL: connecting happens in the
/// background once an app takes the backplane ([`App::backplane`](crate::App::backplane)),
/// on the Tokio runtime it is called from (or, called outside one, on a
/// thread of its own). One backplane value serves one app: give each app
/// its own.
///
/// # Channels: routing by interest
/// A node subscribes to `<prefix>:room:{<room>}` while a room has a member on
/// it, to `<prefix>:route:<pattern>` while a route has a connection on it,
/// and always to `<prefix>:node:<node id>` (sends to given socket ids go to
/// their node's channel). A node with no member of a room receives none of
/// its traffic. The prefix is [`channel`](Self::channel), `cheese-api` by
/// default. Subscriptions change in the background, batched: a hook never
/// waits for Redis. The price is a short window: a send made on another
/// node right after a member joined here reaches that member only once
/// this node's `SUBSCRIBE` reached Redis (one round trip after the join,
/// plus the time to finish the batch in flight; under a millisecond on a
/// LAN). Sends to a room on the joining node itself are never missed.
///
/// # Redis Cluster
/// When the URL points at a node of a Redis Cluster (asked at connect time)
/// or the backplane is made with [`cluster`](Self::cluster), it uses sharded
/// pub/sub (`SSUBSCRIBE`/`SPUBLISH`, Redis 7): each channel lives on the
/// shard that owns its hash slot, so adding shards adds pub/sub capacity.
/// Routing, presence and recovery work the same.
///
/// # Presence
/// Every member of a room on this node is written to Redis
/// (`<prefix>:presence:{<room>}`, a hash of socket id → info) as it joins and
/// leaves, in the background. The node renews its key `{<prefix>}:alive:<node>`
/// every second with a TTL ([`presence_ttl`](Self::presence_ttl), 15 s by
/// default); [`Hub::presence`] leaves out the members of nodes whose key
/// expired, so a node killed without a goodbye drops out of every room
/// within the TTL. An app that stops cleanly deletes its key at once. While
/// Redis is unreachable, `presence` is an error
/// ([`PresenceError::Unavailable`]). After Redis lost its data (a restart
/// without persistence), each node writes its members again as soon as it
/// reconnects (it retries at least every 2 s).
///
/// # Delivery
/// - At most once, and in order per sending node and channel: one node's
///   sends to a room (route, socket) reach every other node in the order
///   they were made. On a single Redis all of one node's sends keep their
///   order (one connection publishes them, in batches); on a Cluster sends
///   on channels of different shards may overtake each other.
/// - The sending node delivers to its own members directly and ignores its
///   own messages coming back from Redis, so nobody gets a message twice.
/// - [`publish`](Backplane::publish) never waits. Envelopes queue for the
///   background task, at most [`queue`](Self::queue) of them; beyond that
///   new ones are dropped (counted in [`dropped`](Self::dropped), logged once
///   per overflow), never buffered without bound.
///
/// # When Redis goes away
/// Local delivery goes on unchanged. The first failure is logged once with
/// `tracing::warn!` (not once per message); the node retries in the
/// background, after 100 ms, then doubling up to every 2 s, and logs
/// `tracing::info!` when the connection is back, after subscribing to every
/// channel it needs again. Sends made while Redis is unreachable reach this
/// node's members only: they are dropped for the other nodes (counted in
/// [`dropped`](Self::dropped)), not replayed later, and messages the other
/// nodes published meanwhile are missed too (Redis pub/sub keeps nothing).
/// The connection is checked every second, so an outage is noticed, and
/// the connection renewed, even without traffic.
#[derive(Clone)]
pub struct RedisBackplane {
    servers: Servers,
    names: Names,
    capacity: usize,
    ttl: Duration,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<String> = match &self.servers {
            Servers::Detect(info) => vec![info.addr().to_string()],
            Servers::Cluster(nodes) => nodes.iter().map(|n| n.addr().to_string()).collect(),
        };
        f.debug_struct("RedisBackplane")
            .field("servers", &servers)
            .field("channel", &self.names.prefix)
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// How long a recovery waits for this node to subscribe to its room
/// before reading the history anyway (then it may be incomplete).
const READY_WAIT: Duration = Duration::from_secs(2);

/// An envelope for Redis (its bytes) and its channel.
type Outgoing = (String, Vec<u8>);

/// What the backplane's handles share; dropping the last handle stops the
/// background task (the queue's sender and the shutdown signal go with it).
struct Shared {
    tx: mpsc::Sender<Outgoing>,
    rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// Numbered sends of history rooms, for the task.
    jobs: mpsc::Sender<Job>,
    jobs_rx: Mutex<Option<mpsc::Receiver<Job>>>,
    /// The channels subscribed right now (empty while disconnected).
    subscribed: watch::Sender<HashSet<String>>,
    /// The hub, once started: for history sends delivered on this node
    /// only, with `offline` positions (epoch, last offset) while Redis is
    /// unreachable.
    hub: OnceLock<WeakHub>,
    offline: Mutex<(String, u64)>,
    health: Arc<Health>,
    /// What the hub wants subscribed and written; the task is woken by
    /// `wake` when it changes.
    wanted: Mutex<Wanted>,
    wake: Notify,
    /// The connection while it is up, for presence questions.
    live: Mutex<Option<Conn>>,
    /// This app's node (set by `start`).
    node: OnceLock<u64>,
    _stop: watch::Sender<()>,
    stopped: watch::Receiver<()>,
}

impl RedisBackplane {
    /// The default prefix of every channel and key.
    pub const DEFAULT_CHANNEL: &'static str = "cheese-api";
    /// The default number of envelopes that may wait for Redis before new
    /// ones are dropped.
    pub const DEFAULT_QUEUE: usize = 8192;
    /// How long a node that stopped heartbeating stays in presence.
    pub const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(15);

    /// A backplane on the Redis server at `url` (`redis://[:password@]host[:port][/db]`):
    /// a single server, or any node of a Redis Cluster (found out when
    /// connecting, then sharded pub/sub is used). Connects lazily: only a
    /// malformed URL is an error here.
    pub fn new(url: &str) -> Result<RedisBackplane, ::redis::RedisError> {
        let info = ::redis::IntoConnectionInfo::into_connection_info(url)?;
        Ok(RedisBackplane::on(Servers::Detect(info)))
    }

    /// A backplane on the Redis Cluster that has these nodes (some of them
    /// are enough: the others are found from them). Sharded pub/sub.
    ///
    /// ```
    /// use cheese_api::RedisBackplane;
    ///
    /// let redis = RedisBackplane::cluster(["redis://10.0.0.1:6379/", "redis://10.0.0.2:6379/"]);
    /// assert!(redis.is_ok());
    /// ```
    pub fn cluster<'a>(
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Result<RedisBackplane, ::redis::RedisError> {
        let nodes = urls
            .into_iter()
            .map(::redis::IntoConnectionInfo::into_connection_info)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RedisBackplane::on(Servers::Cluster(nodes)))
    }

    fn on(servers: Servers) -> RedisBackplane {
        RedisBackplane {
            servers,
            names: Names {
                prefix: Self::DEFAULT_CHANNEL.into(),
            },
            capacity: Self::DEFAULT_QUEUE,
            ttl: Self::DEFAULT_PRESENCE_TTL,
            shared: Shared::new(Self::DEFAULT_QUEUE),
        }
    }

    /// A backplane on the URL in `CHEESE_REDIS_URL`, or
    /// `redis://127.0.0.1:6379/` when it is not set.
    pub fn from_env() -> Result<RedisBackplane, ::redis::RedisError> {
        let url = std::env::var("CHEESE_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
        RedisBackplane::new(&url)
    }

    /// Starts every channel and key with `prefix` (default
    /// [`DEFAULT_CHANNEL`](Self::DEFAULT_CHANNEL)): apps with different
    /// prefixes on one Redis do not see each other's sends or members.
    /// Call before giving the backplane to an app.
    pub fn channel(mut self, prefix: impl Into<String>) -> RedisBackplane {
        self.names.prefix = prefix.into().into();
        self.shared = Shared::new(self.capacity);
        self
    }

    /// How many envelopes may wait for Redis (default [`DEFAULT_QUEUE`](Self::DEFAULT_QUEUE));
    /// beyond that, new ones are dropped. Call before giving the backplane
    /// to an app.
    ///
    /// # Panics
    /// When `capacity` is 0.
    pub fn queue(mut self, capacity: usize) -> RedisBackplane {
        assert!(capacity > 0, "the queue needs room for one envelope");
        self.capacity = capacity;
        self.shared = Shared::new(capacity);
        self
    }

    /// How long a node that stopped heartbeating (killed, cut off) stays in
    /// presence (default [`DEFAULT_PRESENCE_TTL`](Self::DEFAULT_PRESENCE_TTL)).
    /// Every node of an app should use the same.
    ///
    /// # Panics
    /// Under 300 ms (the heartbeat runs every TTL/3, at most every second).
    pub fn presence_ttl(mut self, ttl: Duration) -> RedisBackplane {
        assert!(
            ttl >= Duration::from_millis(300),
            "a presence TTL under 300 ms would expire between heartbeats"
        );
        self.ttl = ttl;
        self
    }

    /// The prefix of the channels and keys in use.
    pub fn channel_name(&self) -> &str {
        &self.names.prefix
    }

    /// Whether the backplane has started and is connected right now, with
    /// every channel it needs subscribed.
    pub fn is_connected(&self) -> bool {
        let h = &self.shared.health;
        let links = h.links.load(Ordering::Acquire);
        links > 0 && h.up.load(Ordering::Acquire) == links
    }

    /// Envelopes that did not reach Redis: sent during an outage, lost with
    /// a failed connection, or dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.health.dropped.load(Ordering::Relaxed)
    }

    fn own_members(&self, room: &str) -> Vec<Member> {
        let wanted = self.shared.wanted();
        let Some(members) = wanted.members.get(room) else {
            return Vec::new();
        };
        members
            .iter()
            .map(|(id, info)| Member::new(*id, info.clone()))
            .collect()
    }

    /// The live connection and this node, or why presence cannot answer.
    fn asking(&self) -> Result<(Conn, u64), PresenceError> {
        let not_connected = || PresenceError::Unavailable("not connected to Redis".into());
        let conn = self.shared.live().clone().ok_or_else(not_connected)?;
        let node = *self.shared.node.get().ok_or_else(not_connected)?;
        Ok((conn, node))
    }
}

impl Shared {
    fn new(capacity: usize) -> Arc<Shared> {
        let (tx, rx) = mpsc::channel(capacity);
        let (jobs, jobs_rx) = mpsc::channel(capacity);
        let (stop, stopped) = watch::channel(());
        Arc::new(Shared {
            tx,
            rx: Mutex::new(Some(rx)),
            jobs,
            jobs_rx: Mutex::new(Some(jobs_rx)),
            subscribed: watch::Sender::new(HashSet::new()),
            hub: OnceLock::new(),
            offline: Mutex::new((String::new(), 0)),
            health: Arc::default(),
            wanted: Mutex::default(),
            wake: Notify::new(),
            live: Mutex::new(None),
            node: OnceLock::new(),
            _stop: stop,
            stopped,
        })
    }

    fn wanted(&self) -> MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self) -> MutexGuard<'_, Option<Conn>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers a history room's send on this node only, with a position
    /// of an epoch of this node's own (`offline-...`): whoever resumes
    /// from it gets an incomplete recovery, never a silent gap.
    fn offline(&self, job: Job) {
        let position = {
            let mut offline = self.offline.lock().unwrap_or_else(|e| e.into_inner());
            let node = self.node.get().copied().unwrap_or_default();
            if offline.0.is_empty() {
                offline.0 = format!("offline-{}", fresh_epoch(node));
            }
            offline.1 += 1;
            Position {
                epoch: offline.0.clone(),
                offset: offline.1,
            }
        };
        let result = (job.build)(&position).map(|message| {
            if let Some(hub) = self.hub.get().and_then(WeakHub::upgrade) {
                hub.deliver_numbered(&job.room, &position, &message, job.except);
            }
        });
        let _ = job.reply.send(result.and(Err(SendError::Unavailable(
            "Redis is unreachable: delivered on this node only".into(),
        ))));
    }

    /// Changes what is wanted and wakes the task.
    fn want(&self, change: impl FnOnce(&mut Wanted)) {
        change(&mut self.wanted());
        self.wake.notify_one();
    }
}

impl Backplane for RedisBackplane {
    fn publish(&self, envelope: Envelope) {
        let Some(topic) = envelope.topic() else {
            return;
        };
        let health = &self.shared.health;
        let channel = self.names.channel(&topic);
        match self.shared.tx.try_send((channel, envelope.to_bytes())) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                health.lost(1);
                if !health.overflowing.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        channel = %self.names.prefix,
                        capacity = self.capacity,
                        "redis backplane: publish queue full, dropping sends for other nodes until Redis catches up"
                    );
                }
            }
            // The task is gone (its runtime shut down).
            Err(mpsc::error::TrySendError::Closed(_)) => {
                health.lost(1);
            }
        }
    }

    fn start(&self, hub: Hub) {
        let taken = self
            .shared
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(rx) = taken else {
            tracing::error!(
                channel = %self.names.prefix,
                "redis backplane: already serving another app; give each app its own RedisBackplane"
            );
            return;
        };
        let _ = self.shared.node.set(hub.node());
        let _ = self.shared.hub.set(hub.downgrade());
        let jobs = self
            .shared
            .jobs_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("taken with rx, once");
        let worker = Worker {
            servers: self.servers.clone(),
            names: self.names.clone(),
            ttl: self.ttl,
            node: hub.node(),
            hub: hub.downgrade(),
            shared: self.shared.clone(),
            rx,
            jobs,
            numbering: history::Numbering::default(),
            link: Link::new(&self.shared.health, "connection"),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(worker.run());
            }
            Err(_) => {
                // Called outside a runtime (an app built before `main`'s
                // runtime starts): the backplane gets a small one of its own.
                let spawned = std::thread::Builder::new()
                    .name("cheese-redis".into())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(runtime) => runtime.block_on(worker.run()),
                            Err(e) => {
                                tracing::error!(error = %e, "redis backplane: cannot start a runtime; local delivery only");
                            }
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "redis backplane: cannot start its thread; local delivery only");
                }
            }
        }
    }

    fn subscribe(&self, topic: Topic) {
        self.shared.want(|w| {
            w.topics.insert(topic);
        });
    }

    fn unsubscribe(&self, topic: Topic) {
        self.shared.want(|w| {
            w.topics.remove(&topic);
        });
    }

    fn track(&self, room: &str, member: &Member) {
        self.shared.want(|w| {
            w.members
                .entry(room.to_owned())
                .or_default()
                .insert(member.id, member.info.clone());
            w.dirty.insert((room.to_owned(), member.id));
        });
    }

    fn untrack(&self, room: &str, id: u64) {
        self.shared.want(|w| {
            if let Some(members) = w.members.get_mut(room) {
                members.remove(&id);
                if members.is_empty() {
                    w.members.remove(room);
                }
            }
            w.dirty.insert((room.to_owned(), id));
        });
    }

    fn presence(&self, room: &str) -> PresenceFuture<Vec<Member>> {
        let asking = self.asking();
        let mine = self.own_members(room);
        let names = self.names.clone();
        let room = room.to_owned();
        Box::pin(async move {
            let (mut conn, node) = asking?;
            store::members(&mut conn, &names, &room, node, mine).await
        })
    }

    fn publish_numbered(
        &self,
        room: &str,
        history: &History,
        build: Build,
        except: Option<u64>,
    ) -> Option<HistoryFuture<Position>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            room: room.to_owned(),
            history: *history,
            build,
            except,
            reply,
        };
        if let Err(e) = self.shared.jobs.try_send(job) {
            // Redis cannot keep up (or the task is gone): this node's
            // members still get it, as a hole.
            let job = match e {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            self.shared.health.lost(1);
            self.shared.offline(job);
        }
        Some(Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(SendError::Unavailable("the Redis backplane stopped".into()))
            })
        }))
    }

    fn history_since(
        &self,
        room: &str,
        _history: &History,
        since: &Position,
    ) -> HistoryFuture<Kept> {
        let conn = self.shared.live().clone();
        let names = self.names.clone();
        let room = room.to_owned();
        let since = since.clone();
        Box::pin(async move {
            let Some(mut conn) = conn else {
                return Err(SendError::Unavailable("not connected to Redis".into()));
            };
            history::read(&mut conn, &names, &room, &since).await
        })
    }

    fn ready(&self, topic: &Topic) -> futures_util::future::BoxFuture<'static, bool> {
        let channel = self.names.channel(topic);
        let mut subscribed = self.shared.subscribed.subscribe();
        let connected = self.shared.live().is_some();
        Box::pin(async move {
            if !connected {
                return false;
            }
            let wait = subscribed.wait_for(|s| s.contains(&channel));
            matches!(tokio::time::timeout(READY_WAIT, wait).await, Ok(Ok(_)))
        })
    }

    fn presence_count(&self, room: &str) -> PresenceFuture<usize> {
        let asking = self.asking();
        let mine = self
            .shared
            .wanted()
            .members
            .get(room)
            .map_or(0, |m| m.len());
        let names = self.names.clone();
        let room = room.to_owned();
        Box::pin(async move {
            let (mut conn, node) = asking?;
            store::count(&mut conn, &names, &room, node, mine).await
        })
    }
}
