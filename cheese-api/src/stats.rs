//! Counters a user can read: connections, messages and bytes each way, and
//! closes by code.
//!
//! Each connection counts its messages in plain fields and adds them to the
//! app's counters every 256 messages and when it ends, so the hot path
//! touches no shared cache line; the totals lag by at most that much. The
//! same batches go to the route's metrics (feature `metrics`, see
//! [`metrics`](crate::metrics)).

use crate::connection::close::By;
use crate::metrics::{RouteMetrics, Routes};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The app's counters; read them with [`Hub::stats`](crate::Hub::stats) or
/// [`App::stats`](crate::App::stats).
#[derive(Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    closed: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    closes: Mutex<BTreeMap<u16, u64>>,
    envelopes_received: AtomicU64,
    /// Each route's metrics, handed to its connections.
    routes: Routes,
}

/// A snapshot of the app's counters.
///
/// ```
/// let app = cheese_api::App::empty();
/// let stats = app.stats();
/// assert_eq!(stats.open_connections, 0);
/// assert!(stats.closes_by_code.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open now.
    pub open_connections: u64,
    /// Connections accepted since the start.
    pub total_connections: u64,
    /// Data messages received (updated every 256 messages per connection and at its end).
    pub messages_in: u64,
    /// Data messages sent.
    pub messages_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Ended connections by close code (1006: ended without a close frame).
    pub closes_by_code: BTreeMap<u16, u64>,
    /// Connections closed with 1013 for not keeping up with broadcasts.
    pub slow_closes: u64,
    /// Sends of other nodes delivered here by the backplane
    /// ([`Hub::deliver`](crate::Hub::deliver)); with routing by interest,
    /// only those for rooms and routes with a member here and for sockets
    /// held here.
    pub envelopes_received: u64,
}

/// One connection's counts, added to the app's in batches.
#[derive(Default)]
pub(crate) struct Local {
    /// At most 256 in a batch (see `tick`), hence `u32`: every open
    /// connection keeps these.
    pub(crate) messages_in: u32,
    pub(crate) messages_out: u32,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pending: u32,
    /// The route's metrics, which each batch is added to.
    metrics: RouteMetrics,
}

impl Local {
    /// Counts one message; true when it is time to flush.
    pub(crate) fn tick(&mut self) -> bool {
        self.pending += 1;
        self.pending >= 256
    }

    /// The route's metrics, for the connection's hooks.
    pub(crate) fn metrics(&self) -> &RouteMetrics {
        &self.metrics
    }
}

impl Counters {
    /// A connection opened on the route `route`: its counts.
    pub(crate) fn opened(&self, route: &'static str) -> Local {
        self.connections.fetch_add(1, Ordering::Relaxed);
        let metrics = self.routes.get(route);
        metrics.opened();
        Local {
            metrics,
            ..Local::default()
        }
    }

    pub(crate) fn flush(&self, local: &mut Local) {
        self.messages_in
            .fetch_add(local.messages_in.into(), Ordering::Relaxed);
        self.messages_out
            .fetch_add(local.messages_out.into(), Ordering::Relaxed);
        self.bytes_in.fetch_add(local.bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(local.bytes_out, Ordering::Relaxed);
        local.metrics.add(
            local.messages_in.into(),
            local.messages_out.into(),
            local.bytes_in,
            local.bytes_out,
        );
        *local = Local {
            metrics: std::mem::take(&mut local.metrics),
            ..Local::default()
        };
    }

    /// The connection ended with `code`, closed by `by` (`None`: nobody).
    pub(crate) fn ended(&self, code: u16, by: Option<By>, local: &mut Local) {
        self.flush(local);
        local.metrics.ended(code, by);
        self.closed.fetch_add(1, Ordering::Relaxed);
        *self
            .closes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(code)
            .or_default() += 1;
    }

    /// One envelope from another node came in.
    pub(crate) fn received_envelope(&self) {
        self.envelopes_received.fetch_add(1, Ordering::Relaxed);
        crate::metrics::backplane_received();
    }

    pub(crate) fn snapshot(&self, slow_closes: u64) -> Stats {
        let total = self.connections.load(Ordering::Relaxed);
        Stats {
            open_connections: total.saturating_sub(self.closed.load(Ordering::Relaxed)),
            total_connections: total,
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            closes_by_code: self
                .closes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            slow_closes,
            envelopes_received: self.envelopes_received.load(Ordering::Relaxed),
        }
    }
}
