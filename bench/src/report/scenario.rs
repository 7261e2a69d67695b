//! The scenarios a run measures: their command-line keys, titles and
//! units, in table order.

use crate::procs::ServerKind;

/// The scenarios, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Echo64,
    Echo64Batch,
    Echo1M,
    Cycles,
    Idle,
    /// One message to every connection of one node (cheese-api's room and
    /// Bun's `server.publish` against plain axum with a
    /// `tokio::sync::broadcast` channel).
    Fanout,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Echo64,
        Scenario::Echo64Batch,
        Scenario::Echo1M,
        Scenario::Cycles,
        Scenario::Idle,
        Scenario::Fanout,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Scenario::Echo64 => "echo64",
            Scenario::Echo64Batch => "echo64x16",
            Scenario::Echo1M => "echo1m",
            Scenario::Cycles => "cycles",
            Scenario::Idle => "idle",
            Scenario::Fanout => "fanout",
        }
    }

    pub fn from_key(key: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Echo64 => "echo 64 B, 1 in flight",
            Scenario::Echo64Batch => "echo 64 B, 16 in flight",
            Scenario::Echo1M => "echo 1 MiB",
            Scenario::Cycles => "connect+echo+close",
            Scenario::Idle => "idle connections",
            Scenario::Fanout => "broadcast fan-out",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Scenario::Echo64 | Scenario::Echo64Batch => "msg/s",
            Scenario::Fanout => "msg/s delivered",
            Scenario::Echo1M => "MB/s",
            Scenario::Cycles => "cycles/s",
            Scenario::Idle => "KiB/conn",
        }
    }

    /// Idle memory is the only figure where less is better.
    pub fn higher_is_better(self) -> bool {
        self != Scenario::Idle
    }

    /// `true` when `server` runs in this scenario (the fan-out scenario
    /// only on the servers with a fan-out program).
    pub fn runs_on(self, server: ServerKind) -> bool {
        self != Scenario::Fanout || server.has_fanout()
    }

    /// The scenario's name for `server`'s row: in the fan-out scenario the
    /// rows stand for other programs (see [`ServerKind::fanout_label`]).
    pub fn server_label(self, server: ServerKind) -> &'static str {
        if self == Scenario::Fanout {
            server.fanout_label()
        } else {
            server.label()
        }
    }
}
