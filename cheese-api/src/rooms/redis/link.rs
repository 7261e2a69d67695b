//! The health of the Redis backplane's connections: how many are up, in
//! an outage, what was dropped, and one log line per outage (not one per
//! failed attempt or message), with how long it lasted when it ends.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Connection state shared by the publisher and the subscribers.
#[derive(Default)]
pub(super) struct Health {
    /// Links (the publisher and one subscriber per hub) started.
    pub(super) links: AtomicUsize,
    /// Links connected now.
    pub(super) up: AtomicUsize,
    /// Links in an outage (failed since they were last up, or never up).
    pub(super) down: AtomicUsize,
    /// Envelopes that did not reach Redis (counted by [`Health::lost`]).
    pub(super) dropped: AtomicU64,
    /// Set while the queue is full, so that overflow is logged once.
    pub(super) overflowing: AtomicBool,
}

impl Health {
    /// `count` envelopes did not reach Redis.
    pub(super) fn lost(&self, count: u64) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
        crate::metrics::backplane_dropped(count);
    }
}

/// One connection's view of the shared health, logging each outage once.
pub(super) struct Link {
    pub(super) health: Arc<Health>,
    role: &'static str,
    up: bool,
    in_outage: bool,
    since: Instant,
}

impl Link {
    pub(super) fn new(health: &Arc<Health>, role: &'static str) -> Link {
        health.links.fetch_add(1, Ordering::AcqRel);
        Link {
            health: health.clone(),
            role,
            up: false,
            in_outage: false,
            since: Instant::now(),
        }
    }

    /// A connection attempt failed or an open connection broke.
    pub(super) fn failed(&mut self, channel: &str, error: &dyn std::fmt::Display) {
        if self.up {
            self.up = false;
            self.health.up.fetch_sub(1, Ordering::AcqRel);
        }
        if self.in_outage {
            tracing::debug!(role = self.role, channel, error = %error, "redis backplane: still unreachable");
            return;
        }
        self.in_outage = true;
        self.since = Instant::now();
        if self.health.down.fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!(
                role = self.role,
                channel,
                error = %error,
                "redis backplane unavailable: delivering to this node's members only, reconnecting in the background"
            );
        }
    }

    pub(super) fn connected(&mut self, channel: &str) {
        if !self.up {
            self.up = true;
            self.health.up.fetch_add(1, Ordering::AcqRel);
        }
        if self.in_outage {
            self.in_outage = false;
            crate::metrics::backplane_reconnected();
            if self.health.down.fetch_sub(1, Ordering::AcqRel) == 1 {
                tracing::info!(
                    role = self.role,
                    channel,
                    outage_ms = self.since.elapsed().as_millis() as u64,
                    dropped = self.health.dropped.load(Ordering::Relaxed),
                    "redis backplane reconnected: cross-node delivery resumed"
                );
            }
        } else {
            tracing::debug!(role = self.role, channel, "redis backplane connected");
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.up {
            self.health.up.fetch_sub(1, Ordering::AcqRel);
        }
        if self.in_outage {
            self.health.down.fetch_sub(1, Ordering::AcqRel);
        }
        self.health.links.fetch_sub(1, Ordering::AcqRel);
    }
}
