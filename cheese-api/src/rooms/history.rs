//! History and recovery: rooms matching a pattern given to
//! [`App::history`](crate::App::history) keep their last messages, each with
//! a [`Position`] (an `epoch` and an `offset`), so a client that reconnects
//! gets what it missed with [`Socket::join_since`](crate::Socket::join_since).
//!
//! This file holds the types and the in-memory log (one node, and
//! [`MemoryBackplane`](crate::MemoryBackplane)); the Redis backplane keeps
//! the same log in Redis.

use crate::connection::error::SendError;
use crate::message::Message;
use crate::rooms::backplane::Build;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How much history the rooms matching a pattern keep.
///
/// ```
/// use cheese_api::{App, History};
/// use std::time::Duration;
///
/// let app = App::empty().history("chat:*", History::last(100).ttl(Duration::from_secs(600)));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    pub(crate) last: usize,
    pub(crate) ttl: Duration,
}

impl History {
    /// The default [`ttl`](Self::ttl): five minutes.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

    /// Keeps each room's last `n` messages (for at most
    /// [`DEFAULT_TTL`](Self::DEFAULT_TTL)).
    ///
    /// # Panics
    /// When `n` is 0.
    pub fn last(n: usize) -> History {
        assert!(
            n > 0,
            "History::last(0) keeps nothing: leave the room out of App::history"
        );
        History {
            last: n,
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// Keeps no message longer than `ttl`. A room whose last message is
    /// older than `ttl` starts over with a new epoch.
    ///
    /// # Panics
    /// When `ttl` is under a millisecond.
    pub fn ttl(mut self, ttl: Duration) -> History {
        assert!(
            ttl >= Duration::from_millis(1),
            "a history TTL under 1 ms keeps nothing"
        );
        self.ttl = ttl;
        self
    }

    /// How many messages a room keeps.
    pub fn max_messages(&self) -> usize {
        self.last
    }

    /// How long a message is kept.
    pub fn max_age(&self) -> Duration {
        self.ttl
    }
}

/// Where a message is in its room's history.
///
/// `offset` grows by one per message in the room, across all nodes;
/// `epoch` changes whenever the room's history was lost (a Redis restart
/// without persistence, a room silent for longer than its TTL, a process
/// restart without Redis), so a position of an older epoch cannot be
/// recovered from. Written `epoch:offset`:
///
/// ```
/// use cheese_api::Position;
///
/// let position: Position = "k3x9:42".parse().unwrap();
/// assert_eq!(position, Position { epoch: "k3x9".into(), offset: 42 });
/// assert_eq!(position.to_string(), "k3x9:42");
/// assert!("no-offset".parse::<Position>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The room's history generation.
    pub epoch: String,
    /// The message's number in the room (the first is 1).
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.epoch, self.offset)
    }
}

/// A string that is not `epoch:offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPosition(String);

impl std::fmt::Display for BadPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a position (epoch:offset): {:?}", self.0)
    }
}

impl std::error::Error for BadPosition {}

impl std::str::FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Position, BadPosition> {
        let bad = || BadPosition(s.chars().take(64).collect());
        let (epoch, offset) = s.rsplit_once(':').ok_or_else(bad)?;
        if epoch.is_empty() {
            return Err(bad());
        }
        Ok(Position {
            epoch: epoch.to_owned(),
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

/// What [`Socket::join_since`](crate::Socket::join_since) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Every message after the given position was delivered. False when
    /// the position is older than what is kept, its epoch is not the
    /// room's, the room keeps no history, or the history could not be
    /// read (Redis unreachable): the client should reload.
    pub complete: bool,
    /// Messages delivered from history by this join.
    pub recovered: usize,
    /// The room's latest position after the join (`None`: no message yet).
    pub position: Option<Position>,
}

/// The kept messages after a position, as a store answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The room's latest position (`None`: no history, or it was lost).
    pub position: Option<Position>,
    /// The kept messages after the asked position, in order.
    pub messages: Vec<(Position, Message)>,
    /// Whether `messages` is everything after the asked position.
    pub complete: bool,
}

impl Kept {
    /// No history: never written, expired, or lost.
    pub(crate) fn none() -> Kept {
        Kept {
            position: None,
            messages: Vec::new(),
            complete: false,
        }
    }
}

impl Recovery {
    /// Nothing recovered, and not complete.
    pub(crate) fn none() -> Recovery {
        Recovery {
            complete: false,
            recovered: 0,
            position: None,
        }
    }
}

/// Which rooms keep history: patterns with `*`, the first match wins.
#[derive(Default)]
pub(crate) struct Histories(Vec<(String, History)>);

impl Histories {
    pub(crate) fn add(&mut self, pattern: &str, history: History) {
        self.0.push((pattern.to_owned(), history));
    }

    pub(crate) fn of(&self, room: &str) -> Option<History> {
        self.0
            .iter()
            .find(|(pattern, _)| matches(pattern, room))
            .map(|(_, history)| *history)
    }
}

/// Whether `name` matches `pattern`, where `*` matches any run of
/// characters (also none).
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: the whole name
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A new epoch: distinct per node and moment.
pub(crate) fn fresh_epoch(node: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = (nanos ^ node.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:x}", mixed >> 16)
}

/// One room's history in memory.
pub(crate) struct Log {
    /// The node keeping it (new epochs are made from it).
    node: u64,
    epoch: String,
    top: u64,
    kept: VecDeque<(u64, Message, Instant)>,
    last_append: Instant,
}

impl Log {
    pub(crate) fn new(node: u64) -> Log {
        Log {
            node,
            epoch: fresh_epoch(node),
            top: 0,
            kept: VecDeque::new(),
            last_append: Instant::now(),
        }
    }

    /// Whether the room was silent for longer than its TTL (its history
    /// is lost: the next message starts a new epoch).
    pub(crate) fn expired(&self, history: &History, now: Instant) -> bool {
        now.duration_since(self.last_append) > history.ttl
    }

    /// The position the next message gets.
    pub(crate) fn next(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.top + 1,
        }
    }

    /// Numbers the message `build` makes for the next position and keeps
    /// it; a log silent for longer than its TTL starts a new epoch first.
    pub(crate) fn number(
        &mut self,
        build: &Build,
        history: &History,
        now: Instant,
    ) -> Result<(Position, Message), SendError> {
        if self.expired(history, now) {
            *self = Log::new(self.node);
        }
        let position = self.next();
        let message = build(&position)?;
        self.append(message.clone(), history, now);
        Ok((position, message))
    }

    /// The latest position (`None` before the first message, or once the
    /// log expired).
    pub(crate) fn position(&self, history: &History, now: Instant) -> Option<Position> {
        (self.top > 0 && !self.expired(history, now)).then(|| Position {
            epoch: self.epoch.clone(),
            offset: self.top,
        })
    }

    /// Keeps `message` at the [`next`](Self::next) position.
    pub(crate) fn append(&mut self, message: Message, history: &History, now: Instant) {
        self.top += 1;
        self.kept.push_back((self.top, message, now));
        self.last_append = now;
        self.trim(history, now);
    }

    fn trim(&mut self, history: &History, now: Instant) {
        while self.kept.len() > history.last {
            self.kept.pop_front();
        }
        while self
            .kept
            .front()
            .is_some_and(|(_, _, at)| now.duration_since(*at) > history.ttl)
        {
            self.kept.pop_front();
        }
    }

    /// The kept messages after `since`; an expired log has none.
    pub(crate) fn since(&mut self, since: &Position, history: &History, now: Instant) -> Kept {
        if self.expired(history, now) {
            return Kept::none();
        }
        self.trim(history, now);
        let position = self.position(history, now);
        if since.epoch != self.epoch || since.offset > self.top {
            return Kept {
                position,
                messages: Vec::new(),
                complete: false,
            };
        }
        let first_kept = self
            .kept
            .front()
            .map_or(self.top + 1, |(offset, _, _)| *offset);
        let messages = self
            .kept
            .iter()
            .filter(|(offset, _, _)| *offset > since.offset)
            .map(|(offset, message, _)| {
                let at = Position {
                    epoch: self.epoch.clone(),
                    offset: *offset,
                };
                (at, message.clone())
            })
            .collect();
        Kept {
            position,
            messages,
            complete: since.offset + 1 >= first_kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_stars() {
        assert!(matches("chat:*", "chat:lobby"));
        assert!(matches("chat:*", "chat:"));
        assert!(!matches("chat:*", "chatter"));
        assert!(matches("*", "anything"));
        assert!(matches("lobby", "lobby"));
        assert!(!matches("lobby", "lobby2"));
        assert!(matches("a*b*c", "a-b-c"));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("a*b*c", "a-c-b"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn a_log_keeps_the_last_n_and_says_when_a_position_is_too_old() {
        let history = History::last(3);
        let now = Instant::now();
        let mut log = Log::new(1);
        for k in 1..=5 {
            assert_eq!(log.next().offset, k);
            log.append(Message::text(k.to_string()), &history, now);
        }
        let epoch = log.next().epoch;
        let at = |offset| Position {
            epoch: epoch.clone(),
            offset,
        };
        // 3, 4, 5 are kept: from 2 on everything is there.
        let kept = log.since(&at(2), &history, now);
        assert!(kept.complete);
        assert_eq!(kept.messages.len(), 3);
        assert_eq!(kept.position, Some(at(5)));
        let kept = log.since(&at(1), &history, now);
        assert!(!kept.complete, "2 is gone");
        assert_eq!(kept.messages.len(), 3);
        assert!(log.since(&at(5), &history, now).complete);
        // Another epoch, or a position never given: incomplete, nothing.
        let other = Position {
            epoch: "other".into(),
            offset: 4,
        };
        assert_eq!(log.since(&other, &history, now).messages, vec![]);
        assert!(!log.since(&at(6), &history, now).complete);
    }

    #[test]
    fn a_log_forgets_messages_older_than_its_ttl() {
        let history = History::last(10).ttl(Duration::from_secs(1));
        let start = Instant::now();
        let mut log = Log::new(1);
        log.append(Message::text("old"), &history, start);
        let later = start + Duration::from_secs(2);
        assert!(log.expired(&history, later));
        let since = Position {
            epoch: log.next().epoch,
            offset: 0,
        };
        let kept = log.since(&since, &history, later);
        assert!(kept.messages.is_empty());
        assert!(!kept.complete);
    }
}
