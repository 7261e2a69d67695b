//! The app's metrics through the [`metrics`](https://docs.rs/metrics) facade
//! (cargo feature `metrics`), and the one file that names them. The rest of
//! the crate calls in from where it already counts: the app's counters
//! (`stats`: connections, messages, bytes, closes), the connection task
//! (hooks), the handshake middleware, the hub (slow receivers, presence,
//! history, envelopes received) and the Redis backplane.
//!
//! Nothing is looked up per message: a route's handles are registered at
//! its first connection and kept ([`Routes`]); each connection holds them
//! ([`RouteMetrics`]) and adds its messages and bytes in the batches the
//! counters already flush; the app-wide counters are registered once per
//! process. Labels are bounded: route patterns (never paths), hook names,
//! statuses, refusal kinds, close codes, where a code the peer chose outside
//! 1000-1015 counts as `3xxx`, `4xxx` or `other`, so a client cannot make
//! new series.
//!
//! Without the feature every type here is empty and every function does
//! nothing, so callers need no `cfg` of their own. Handles registered before
//! a recorder is installed stay no-ops: install it before the first
//! connection. docs/deploying.md has the table of every metric.

// Without the feature the functions ignore their arguments.
#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use crate::connection::close::By;
#[cfg(feature = "metrics")]
use ::metrics::{counter, gauge, histogram, Counter, Gauge, Histogram, SharedString};
#[cfg(feature = "metrics")]
use std::sync::{Arc, LazyLock, Mutex};

/// Whether metrics are compiled in (the `metrics` feature).
pub(crate) const ENABLED: bool = cfg!(feature = "metrics");

/// The metrics' names (the table in docs/deploying.md says what each is).
#[cfg(feature = "metrics")]
mod name {
    pub(super) const CONNECTIONS_OPEN: &str = "cheese_api_connections_open";
    pub(super) const CONNECTIONS: &str = "cheese_api_connections_total";
    pub(super) const HANDSHAKES: &str = "cheese_api_handshakes_total";
    pub(super) const MESSAGES: &str = "cheese_api_messages_total";
    pub(super) const BYTES: &str = "cheese_api_message_bytes_total";
    pub(super) const CLOSES: &str = "cheese_api_closes_total";
    pub(super) const HOOK_ERRORS: &str = "cheese_api_hook_errors_total";
    pub(super) const HOOK_PANICS: &str = "cheese_api_hook_panics_total";
    pub(super) const HOOK_DURATION: &str = "cheese_api_hook_duration_seconds";
    pub(super) const SLOW_CLOSES: &str = "cheese_api_slow_receiver_closes_total";
    pub(super) const PUBLISHED: &str = "cheese_api_backplane_published_total";
    pub(super) const RECEIVED: &str = "cheese_api_backplane_received_total";
    pub(super) const DROPPED: &str = "cheese_api_backplane_dropped_total";
    pub(super) const RECONNECTS: &str = "cheese_api_backplane_reconnects_total";
    pub(super) const PRESENCE: &str = "cheese_api_presence_queries_total";
    pub(super) const HISTORY_APPENDS: &str = "cheese_api_history_appends_total";
    pub(super) const RECOVERIES: &str = "cheese_api_history_recoveries_total";
}

/// Gives the installed recorder every metric's help text and unit, once
/// per process, at the first registration.
#[cfg(feature = "metrics")]
fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        describe_gauge!(name::CONNECTIONS_OPEN, "WebSocket connections open now");
        describe_counter!(name::CONNECTIONS, "WebSocket connections opened");
        describe_counter!(
            name::HANDSHAKES,
            "Answers to WebSocket handshakes, accepted (101) or refused"
        );
        describe_counter!(name::MESSAGES, "Data messages received (in) and sent (out)");
        describe_counter!(
            name::BYTES,
            Unit::Bytes,
            "Payload bytes of data messages, in and out"
        );
        describe_counter!(
            name::CLOSES,
            "Ended connections by close code and who closed"
        );
        describe_counter!(
            name::HOOK_ERRORS,
            "Hooks that returned an error (the connection closed with 1011)"
        );
        describe_counter!(name::HOOK_PANICS, "Hooks that panicked");
        describe_histogram!(name::HOOK_DURATION, Unit::Seconds, "How long a hook ran");
        describe_counter!(
            name::SLOW_CLOSES,
            "Connections closed with 1013 for not keeping up with broadcasts"
        );
        describe_counter!(name::PUBLISHED, "Envelopes published to Redis");
        describe_counter!(name::RECEIVED, "Envelopes from other nodes delivered here");
        describe_counter!(name::DROPPED, "Envelopes that did not reach Redis");
        describe_counter!(
            name::RECONNECTS,
            "Redis backplane connections back after an outage"
        );
        describe_counter!(
            name::PRESENCE,
            "Presence questions (members, count), answered or not"
        );
        describe_counter!(
            name::HISTORY_APPENDS,
            "Messages sent to rooms with history (numbered and kept)"
        );
        describe_counter!(
            name::RECOVERIES,
            "Joins with recovery (join_since), complete or not"
        );
    });
}

/// The handle of the counter `$name`, which has no labels: registered
/// once per process, at its first use.
#[cfg(feature = "metrics")]
macro_rules! process_counter {
    ($name:expr) => {{
        static HANDLE: LazyLock<Counter> = LazyLock::new(|| {
            describe();
            counter!($name)
        });
        &*HANDLE
    }};
}

/// A hook, as the `hook` label and the logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    Handshake,
    Subprotocol,
    Connection,
    Message,
    Disconnection,
}

impl Hook {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Hook::Handshake => "handshake",
            Hook::Subprotocol => "subprotocol",
            Hook::Connection => "connection",
            Hook::Message => "message",
            Hook::Disconnection => "disconnection",
        }
    }
}

/// One route's handles.
#[cfg(feature = "metrics")]
struct Handles {
    route: &'static str,
    open: Gauge,
    connections: Counter,
    /// In, out.
    messages: [Counter; 2],
    bytes: [Counter; 2],
    /// `connection`, `message`, `disconnection`: the hooks after the upgrade.
    durations: [Histogram; 3],
}

#[cfg(feature = "metrics")]
impl Handles {
    fn new(route: &'static str) -> Handles {
        describe();
        let way = |metric, direction: &'static str| counter!(metric, "route" => route, "direction" => direction);
        let took =
            |hook: Hook| histogram!(name::HOOK_DURATION, "route" => route, "hook" => hook.as_str());
        Handles {
            route,
            open: gauge!(name::CONNECTIONS_OPEN, "route" => route),
            connections: counter!(name::CONNECTIONS, "route" => route),
            messages: [way(name::MESSAGES, "in"), way(name::MESSAGES, "out")],
            bytes: [way(name::BYTES, "in"), way(name::BYTES, "out")],
            durations: [Hook::Connection, Hook::Message, Hook::Disconnection].map(took),
        }
    }
}

/// Every route's handles in one app, registered at the route's first
/// connection (a lock and a lookup per connection, none per message).
#[derive(Default)]
pub(crate) struct Routes {
    #[cfg(feature = "metrics")]
    known: Mutex<std::collections::HashMap<&'static str, Arc<Handles>>>,
}

impl Routes {
    /// The handles of the route with the pattern `route`.
    pub(crate) fn get(&self, route: &'static str) -> RouteMetrics {
        RouteMetrics {
            #[cfg(feature = "metrics")]
            handles: Some(
                self.known
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(route)
                    .or_insert_with(|| Arc::new(Handles::new(route)))
                    .clone(),
            ),
        }
    }
}

/// A connection's handles to its route's metrics (none by default).
#[derive(Default)]
pub(crate) struct RouteMetrics {
    #[cfg(feature = "metrics")]
    handles: Option<Arc<Handles>>,
}

impl RouteMetrics {
    pub(crate) fn opened(&self) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.open.increment(1);
            h.connections.increment(1);
        }
    }

    /// Adds a batch of the connection's counts.
    pub(crate) fn add(&self, messages_in: u64, messages_out: u64, bytes_in: u64, bytes_out: u64) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.messages[0].increment(messages_in);
            h.messages[1].increment(messages_out);
            h.bytes[0].increment(bytes_in);
            h.bytes[1].increment(bytes_out);
        }
    }

    /// The connection ended with `code`, closed by `by` (`None`: nobody, 1006).
    pub(crate) fn ended(&self, code: u16, by: Option<By>) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            h.open.decrement(1);
            let by_label = by.map_or("none", By::as_str);
            counter!(name::CLOSES, "route" => h.route, "code" => code_label(code, by), "by" => by_label)
                .increment(1);
        }
    }

    /// The hook `call` returned (or panicked): its duration.
    pub(crate) fn hook_returned(&self, call: HookCall) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            let index = match call.hook {
                Hook::Connection => 0,
                Hook::Message => 1,
                Hook::Disconnection => 2,
                Hook::Handshake | Hook::Subprotocol => return,
            };
            h.durations[index].record(call.started.elapsed());
        }
    }

    /// `hook` returned an error, or panicked.
    pub(crate) fn hook_failed(&self, hook: Hook, panicked: bool) {
        #[cfg(feature = "metrics")]
        if let Some(h) = &self.handles {
            hook_failed(h.route, hook, panicked);
        }
    }
}

/// A code the peer chose outside the RFC's 1000-1015 is counted by its
/// range, so clients cannot make a series per code.
#[cfg(feature = "metrics")]
fn code_label(code: u16, by: Option<By>) -> SharedString {
    match code {
        1000..=1015 => code.to_string().into(),
        _ if by != Some(By::Peer) => code.to_string().into(),
        3000..=3999 => "3xxx".into(),
        4000..=4999 => "4xxx".into(),
        _ => "other".into(),
    }
}

/// A call of a hook, and when it started: the clock is read only with the
/// feature (once at the start and once at the end of each call).
pub(crate) struct HookCall {
    pub(crate) hook: Hook,
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl HookCall {
    #[inline]
    pub(crate) fn start(hook: Hook) -> HookCall {
        HookCall {
            hook,
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }
}

/// A hook of the route `route` returned an error, or panicked.
pub(crate) fn hook_failed(route: &'static str, hook: Hook, panicked: bool) {
    #[cfg(feature = "metrics")]
    {
        describe();
        let metric = if panicked {
            name::HOOK_PANICS
        } else {
            name::HOOK_ERRORS
        };
        counter!(metric, "route" => route, "hook" => hook.as_str()).increment(1);
    }
}

/// A handshake was answered with `status`: `kind` is `accepted`, the
/// refusal's kind, who refused (`extractor`, `handshake_hook`) or `other`.
pub(crate) fn handshake(status: u16, kind: &'static str) {
    #[cfg(feature = "metrics")]
    {
        describe();
        counter!(name::HANDSHAKES, "status" => status.to_string(), "kind" => kind).increment(1);
    }
}

/// A receiver too slow for broadcasts is being closed with 1013.
pub(crate) fn slow_receiver_closed() {
    #[cfg(feature = "metrics")]
    process_counter!(name::SLOW_CLOSES).increment(1);
}

/// `count` envelopes reached Redis.
#[cfg(feature = "redis")]
pub(crate) fn backplane_published(count: usize) {
    #[cfg(feature = "metrics")]
    process_counter!(name::PUBLISHED).increment(count as u64);
}

/// An envelope from another node was delivered here.
pub(crate) fn backplane_received() {
    #[cfg(feature = "metrics")]
    process_counter!(name::RECEIVED).increment(1);
}

/// `count` envelopes did not reach Redis.
#[cfg(feature = "redis")]
pub(crate) fn backplane_dropped(count: u64) {
    #[cfg(feature = "metrics")]
    process_counter!(name::DROPPED).increment(count);
}

/// A backplane connection is back after an outage.
#[cfg(feature = "redis")]
pub(crate) fn backplane_reconnected() {
    #[cfg(feature = "metrics")]
    process_counter!(name::RECONNECTS).increment(1);
}

/// A presence question (`op`: `members` or `count`) was answered, or not.
pub(crate) fn presence_query(op: &'static str, answered: bool) {
    #[cfg(feature = "metrics")]
    {
        describe();
        let result = if answered { "ok" } else { "error" };
        counter!(name::PRESENCE, "op" => op, "result" => result).increment(1);
    }
}

/// A message was sent to a room with history.
pub(crate) fn history_appended() {
    #[cfg(feature = "metrics")]
    process_counter!(name::HISTORY_APPENDS).increment(1);
}

/// A join with recovery delivered what was missed, all of it or not.
pub(crate) fn history_recovered(complete: bool) {
    #[cfg(feature = "metrics")]
    {
        describe();
        let complete = if complete { "true" } else { "false" };
        counter!(name::RECOVERIES, "complete" => complete).increment(1);
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    #[test]
    fn a_code_the_peer_chose_outside_the_rfc_counts_by_its_range() {
        let label = |code, by| code_label(code, by).to_string();
        assert_eq!(label(1000, Some(By::Peer)), "1000");
        assert_eq!(label(1001, Some(By::Peer)), "1001");
        assert_eq!(label(3000, Some(By::Peer)), "3xxx");
        assert_eq!(label(4999, Some(By::Peer)), "4xxx");
        assert_eq!(label(2000, Some(By::Peer)), "other");
        // The app's codes are its own choice: bounded by its code.
        assert_eq!(label(4001, Some(By::App)), "4001");
        assert_eq!(label(1013, Some(By::SlowReceiver)), "1013");
        assert_eq!(label(1006, None), "1006");
    }
}
