//! [`RedisBackplane`]: rooms across processes and machines over Redis
//! pub/sub (cargo feature `redis`).
//!
//! Every node publishes each room, route and socket send on one Redis
//! channel and subscribes to it; a node delivers what the others sent to its
//! own members. Redis going away never stops local delivery: the node
//! delivers to its own members first, logs the outage once, reconnects by
//! itself and cross-node delivery resumes.

mod link;

use crate::rooms::backplane::{Backplane, Envelope};
use crate::rooms::hub::{Hub, WeakHub};
use futures_util::StreamExt;
use link::{Health, Link};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The first wait before reconnecting; doubled after each failure.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long one connection attempt (TCP, handshake, SUBSCRIBE) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a PUBLISH batch or a PING may wait for its answer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// An idle connection is pinged this often, so a lost Redis is noticed
/// (and the connection renewed) before the next send, not by it.
const KEEPALIVE: Duration = Duration::from_secs(1);
/// At most this many envelopes go to Redis in one pipelined round trip.
const BATCH: usize = 256;

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
/// thread of its own).
///
/// # Delivery
/// - At most once, and in order per sending node: one node's sends reach
///   every other node in the order they were made (one connection publishes
///   them, in batches, in order); sends of different nodes interleave.
/// - The sending node delivers to its own members directly and ignores its
///   own messages coming back from Redis, so nobody gets a message twice.
/// - [`publish`](Backplane::publish) never waits. Envelopes queue for the
///   publishing task, at most [`queue`](Self::queue) of them; beyond that
///   new ones are dropped (counted in [`dropped`](Self::dropped), logged once
///   per overflow), never buffered without bound.
///
/// # When Redis goes away
/// Local delivery goes on unchanged. The first failure is logged once with
/// `tracing::warn!` (not once per message); the node retries in the
/// background, after 100 ms, then doubling up to every 2 s, and logs
/// `tracing::info!` when every connection is back. Sends made while Redis is
/// unreachable reach this node's members only: they are dropped for the
/// other nodes (counted in [`dropped`](Self::dropped)), not replayed later,
/// and messages the other nodes published meanwhile are missed too (Redis
/// pub/sub keeps nothing). An idle connection is pinged every second, so an
/// outage is noticed, and the connection renewed, even without traffic.
#[derive(Clone)]
pub struct RedisBackplane {
    client: ::redis::Client,
    channel: String,
    capacity: usize,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("server", &self.client.get_connection_info().addr())
            .field("channel", &self.channel)
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// What the backplane's handles share; dropping the last handle stops the
/// background tasks (the queue's sender and the shutdown signal go with it).
struct Shared {
    tx: mpsc::Sender<Vec<u8>>,
    rx: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    health: Arc<Health>,
    _stop: watch::Sender<()>,
    stopped: watch::Receiver<()>,
}

impl RedisBackplane {
    /// The default Redis channel.
    pub const DEFAULT_CHANNEL: &'static str = "cheese-api";
    /// The default number of envelopes that may wait for Redis before new
    /// ones are dropped.
    pub const DEFAULT_QUEUE: usize = 8192;

    /// A backplane on the Redis server at `url` (`redis://[:password@]host[:port][/db]`),
    /// on the channel [`DEFAULT_CHANNEL`](Self::DEFAULT_CHANNEL). Connects lazily: only a malformed
    /// URL is an error here.
    pub fn new(url: &str) -> Result<RedisBackplane, ::redis::RedisError> {
        let client = ::redis::Client::open(url)?;
        Ok(RedisBackplane {
            client,
            channel: Self::DEFAULT_CHANNEL.to_owned(),
            capacity: Self::DEFAULT_QUEUE,
            shared: Shared::new(Self::DEFAULT_QUEUE),
        })
    }

    /// A backplane on the URL in `CHEESE_REDIS_URL`, or
    /// `redis://127.0.0.1:6379/` when it is not set.
    pub fn from_env() -> Result<RedisBackplane, ::redis::RedisError> {
        let url = std::env::var("CHEESE_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
        RedisBackplane::new(&url)
    }

    /// Uses the Redis channel `name` (default [`DEFAULT_CHANNEL`](Self::DEFAULT_CHANNEL)): apps on
    /// different channels of one Redis do not see each other's sends. Call
    /// before giving the backplane to an app.
    pub fn channel(mut self, name: impl Into<String>) -> RedisBackplane {
        self.channel = name.into();
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

    /// The Redis channel in use.
    pub fn channel_name(&self) -> &str {
        &self.channel
    }

    /// Whether the backplane has started and all its connections (the
    /// publisher and every subscriber) are up right now.
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
}

impl Shared {
    fn new(capacity: usize) -> Arc<Shared> {
        let (tx, rx) = mpsc::channel(capacity);
        let (stop, stopped) = watch::channel(());
        Arc::new(Shared {
            tx,
            rx: Mutex::new(Some(rx)),
            health: Arc::default(),
            _stop: stop,
            stopped,
        })
    }
}

impl Backplane for RedisBackplane {
    fn publish(&self, envelope: Envelope) {
        let health = &self.shared.health;
        match self.shared.tx.try_send(envelope.to_bytes()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                health.dropped.fetch_add(1, Ordering::Relaxed);
                if !health.overflowing.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        channel = %self.channel,
                        capacity = self.capacity,
                        "redis backplane: publish queue full, dropping sends for other nodes until Redis catches up"
                    );
                }
            }
            // The publishing task is gone (its runtime shut down).
            Err(mpsc::error::TrySendError::Closed(_)) => {
                health.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn start(&self, hub: Hub) {
        let rx = self
            .shared
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let publisher = rx.map(|rx| {
            publisher(
                self.client.clone(),
                self.channel.clone(),
                rx,
                Link::new(&self.shared.health, "publisher"),
                self.shared.stopped.clone(),
            )
        });
        let subscriber = subscriber(
            self.client.clone(),
            self.channel.clone(),
            hub.downgrade(),
            Link::new(&self.shared.health, "subscriber"),
            self.shared.stopped.clone(),
        );
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                if let Some(publisher) = publisher {
                    runtime.spawn(publisher);
                }
                runtime.spawn(subscriber);
            }
            Err(_) => {
                // Called outside a runtime (an app built before `main`'s
                // runtime starts): the backplane gets a small one of its own.
                let spawned = std::thread::Builder::new()
                    .name("cheese-redis".into())
                    .spawn(move || {
                        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                            Ok(runtime) => runtime,
                            Err(e) => {
                                tracing::error!(error = %e, "redis backplane: cannot start a runtime; local delivery only");
                                return;
                            }
                        };
                        runtime.block_on(async move {
                            if let Some(publisher) = publisher {
                                tokio::spawn(publisher);
                            }
                            subscriber.await;
                        });
                    });
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "redis backplane: cannot start its thread; local delivery only");
                }
            }
        }
    }
}

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF_MAX)
}

/// Takes envelopes from the queue and publishes them in pipelined batches
/// on one connection, so one node's sends stay in order.
async fn publisher(
    client: ::redis::Client,
    channel: String,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut link: Link,
    mut stopped: watch::Receiver<()>,
) {
    let config = ::redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let mut backoff = BACKOFF_MIN;
    let health = link.health.clone();
    loop {
        // Connect; while Redis is away, keep emptying the queue (those sends
        // are dropped for the other nodes) so nothing stale piles up.
        let connected = tokio::select! {
            c = client.get_multiplexed_async_connection_with_config(&config) => c,
            _ = stopped.changed() => return,
        };
        let mut connection = match connected {
            Ok(connection) => {
                link.connected(&channel);
                backoff = BACKOFF_MIN;
                connection
            }
            Err(e) => {
                link.failed(&channel, &e);
                let wait = tokio::time::sleep(backoff);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        _ = &mut wait => break,
                        envelope = rx.recv() => match envelope {
                            Some(_) => {
                                health.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            None => return,
                        },
                        _ = stopped.changed() => return,
                    }
                }
                backoff = next_backoff(backoff);
                continue;
            }
        };
        // Connected: publish until the connection fails.
        loop {
            let first = tokio::select! {
                envelope = rx.recv() => envelope,
                _ = tokio::time::sleep(KEEPALIVE) => {
                    let ping: ::redis::RedisResult<()> =
                        ::redis::cmd("PING").query_async(&mut connection).await;
                    if let Err(e) = ping {
                        link.failed(&channel, &e);
                        break;
                    }
                    continue;
                }
                _ = stopped.changed() => return,
            };
            let Some(first) = first else { return };
            let mut pipe = ::redis::pipe();
            pipe.cmd("PUBLISH").arg(&channel).arg(first).ignore();
            let mut count = 1;
            while count < BATCH {
                match rx.try_recv() {
                    Ok(envelope) => {
                        pipe.cmd("PUBLISH").arg(&channel).arg(envelope).ignore();
                        count += 1;
                    }
                    Err(_) => break,
                }
            }
            match pipe.query_async::<()>(&mut connection).await {
                Ok(()) => health.overflowing.store(false, Ordering::Release),
                Err(e) => {
                    // Whether Redis got the batch is unknown: not resent
                    // (at most once).
                    health.dropped.fetch_add(count as u64, Ordering::Relaxed);
                    link.failed(&channel, &e);
                    break;
                }
            }
        }
    }
}

/// Subscribes to the channel and delivers the other nodes' envelopes to
/// `hub`, reconnecting when the subscription breaks.
async fn subscriber(
    client: ::redis::Client,
    channel: String,
    hub: WeakHub,
    mut link: Link,
    mut stopped: watch::Receiver<()>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let subscribed = tokio::select! {
            s = tokio::time::timeout(CONNECT_TIMEOUT, subscribe(&client, &channel)) => s,
            _ = stopped.changed() => return,
        };
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                link.failed(&channel, &e);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => return,
                }
                backoff = next_backoff(backoff);
                continue;
            }
            Err(_) => {
                link.failed(&channel, &"timed out connecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stopped.changed() => return,
                }
                backoff = next_backoff(backoff);
                continue;
            }
        };
        link.connected(&channel);
        backoff = BACKOFF_MIN;
        let (mut sink, mut messages) = pubsub.split();
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        link.failed(&channel, &"connection closed");
                        break;
                    };
                    let Some(hub) = hub.upgrade() else { return };
                    match Envelope::from_bytes(message.get_payload_bytes()) {
                        Some(e) if e.origin == hub.node() => {}
                        Some(e) => {
                            hub.deliver(&e.target, &e.message, e.except);
                        }
                        None => tracing::debug!(channel, "redis backplane: ignoring a malformed message"),
                    }
                }
                _ = keepalive.tick() => {
                    if hub.upgrade().is_none() {
                        return;
                    }
                    match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<::redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            link.failed(&channel, &e);
                            break;
                        }
                        Err(_) => {
                            link.failed(&channel, &"no answer to PING");
                            break;
                        }
                    }
                }
                _ = stopped.changed() => return,
            }
        }
    }
}

async fn subscribe(
    client: &::redis::Client,
    channel: &str,
) -> ::redis::RedisResult<::redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}
