//! The hub's side of history: numbering a history room's messages (in
//! memory on one node, through the backplane on many), delivering them in
//! position order, and joining with recovery ([`Socket::join_since`]).
//!
//! One node: each history room has a log behind its own lock; a numbered
//! send takes it, builds, keeps and delivers the message; a recovery takes
//! it, delivers the kept messages and joins. Nothing can slip between.
//! Many nodes: the backplane numbers and delivers on every node in order;
//! a recovering member's live messages are held back while its history is
//! read, then merged by position (no gap, no duplicate).

use crate::connection::error::SendError;
use crate::connection::socket::Socket;
use crate::message::Message;
use crate::rooms::backplane::{Backplane, Build, Topic};
use crate::rooms::history::{History, Kept, Log, Position, Recovery};
use crate::rooms::hub::Hub;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Above this many logs (one node), creating one first drops the expired.
const LOGS_BEFORE_SWEEP: usize = 1024;

impl Hub {
    /// The history kept by `room`, if it matches an [`App::history`](crate::App::history) pattern.
    pub(crate) fn history_of(&self, room: &str) -> Option<History> {
        // Every send to a room asks: an app without history takes no lock.
        if !self.inner.any_history.load(Ordering::Acquire) {
            return None;
        }
        self.inner
            .histories
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .of(room)
    }

    pub(crate) fn add_history(&self, pattern: &str, history: History) {
        self.inner
            .histories
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add(pattern, history);
        self.inner.any_history.store(true, Ordering::Release);
    }

    /// The log of `room` on this node (no backplane); a log past its TTL
    /// starts a new epoch by itself ([`Log::number`]).
    fn log(&self, room: &str) -> Arc<Mutex<Log>> {
        let mut logs = self.inner.logs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = logs.get(room) {
            return log.clone();
        }
        if logs.len() >= LOGS_BEFORE_SWEEP {
            let now = Instant::now();
            // Only an idle room's log can expire; its TTL is this room's or
            // another pattern's: asking each log's own keeps it exact.
            let histories = self
                .inner
                .histories
                .read()
                .unwrap_or_else(|e| e.into_inner());
            logs.retain(|name, log| {
                histories
                    .of(name)
                    .is_some_and(|h| !lock(log).expired(&h, now))
            });
        }
        let log = Arc::new(Mutex::new(Log::new(self.node())));
        logs.insert(room.to_owned(), log.clone());
        log
    }

    /// Numbers, keeps and delivers a message of the history room `room`;
    /// returns its position and how many on this node got it (or, through
    /// a backplane, the position to come: delivery follows on every node).
    pub(crate) fn publish_numbered(
        &self,
        room: &str,
        history: &History,
        build: Build,
        except: Option<u64>,
    ) -> Numbered {
        crate::metrics::history_appended();
        match self.backplane() {
            None => {
                let log = self.log(room);
                let mut log = lock(&log);
                let (position, message) = match log.number(&build, history, Instant::now()) {
                    Ok(numbered) => numbered,
                    Err(e) => return Numbered::Done(Err(e)),
                };
                let delivered = self.deliver_in_order(room, &position, &message, except);
                Numbered::Done(Ok((position, delivered)))
            }
            Some(backplane) => match backplane.publish_numbered(room, history, build, except) {
                Some(position) => Numbered::Pending(position),
                None => Numbered::Done(Err(SendError::NoHistory("this app's backplane".into()))),
            },
        }
    }

    /// Delivers a numbered message of a history room to this node's
    /// members, holding it back for those still recovering. Called by
    /// backplanes, for each room in position order; counted in
    /// [`Stats::envelopes_received`](crate::Stats::envelopes_received).
    pub fn deliver_numbered(
        &self,
        room: &str,
        position: &Position,
        message: &Message,
        except: Option<u64>,
    ) -> usize {
        self.inner.counters.received_envelope();
        self.deliver_in_order(room, position, message, except)
    }

    fn deliver_in_order(
        &self,
        room: &str,
        position: &Position,
        message: &Message,
        except: Option<u64>,
    ) -> usize {
        let receivers: Vec<Socket> = {
            let mut r = self.registry();
            let Some(entry) = r.rooms.get_mut(room) else {
                return 0;
            };
            for (id, held) in entry.recovering.iter_mut() {
                if Some(*id) != except {
                    held.push((position.clone(), message.clone()));
                }
            }
            entry
                .members
                .iter()
                .filter(|(id, _)| !entry.recovering.contains_key(id))
                .map(|(_, socket)| socket.clone())
                .collect()
        };
        self.offer_all(receivers, message, except)
    }

    /// Joins `socket` to `room` and, on one node, delivers what it missed
    /// since `since` at once. Called under the socket's rooms lock (so a
    /// disconnect cannot slip in between); across nodes the member is held
    /// back and [`finish_recovery`](Self::finish_recovery) completes it.
    pub(crate) fn start_recovery(&self, socket: &Socket, room: &str, since: &Position) -> Started {
        let Some(history) = self.history_of(room) else {
            self.join(socket, room, serde_json::Value::Null);
            return Started::Done(Recovery::none());
        };
        let Some(backplane) = self.backplane() else {
            // One node: under the room's log lock no message is numbered
            // between reading the history and joining.
            let log = self.log(room);
            let mut log = lock(&log);
            let kept = log.since(since, &history, Instant::now());
            self.join(socket, room, serde_json::Value::Null);
            return Started::Done(self.recover(socket, room, since, Ok(kept), Vec::new()));
        };
        self.join_as(socket, room, serde_json::Value::Null, true);
        Started::Waiting(history, backplane)
    }

    /// Across nodes: waits until this node receives the room, then reads
    /// the history: whatever was numbered after the read is held back,
    /// whatever before is in it; delivers both, merged.
    pub(crate) async fn finish_recovery(
        &self,
        socket: &Socket,
        room: &str,
        since: &Position,
        history: History,
        backplane: Arc<dyn Backplane>,
    ) -> Recovery {
        let ready = backplane.ready(&Topic::Room(room.to_owned())).await;
        let kept = match backplane.history_since(room, &history, since).await {
            // Not subscribed: live messages may have passed unseen.
            Ok(kept) if !ready => Ok(Kept {
                complete: false,
                ..kept
            }),
            kept => kept,
        };
        // Under the registry lock, as it stops being held back: a live
        // message comes either before (held, merged here) or after (once
        // these are queued), never in between.
        let mut r = self.registry();
        let entry = r.rooms.get_mut(room);
        let Some(held) = entry.and_then(|e| e.recovering.remove(&socket.id())) else {
            // Left (or disconnected) meanwhile.
            return Recovery::none();
        };
        let recovery = self.recover(socket, room, since, kept, held);
        drop(r);
        recovery
    }

    /// Delivers to `socket` the kept messages after `since`, then the held
    /// back live ones not already among them, in position order. Only
    /// queues (never waits): it runs under the registry lock.
    fn recover(
        &self,
        socket: &Socket,
        room: &str,
        since: &Position,
        kept: Result<Kept, SendError>,
        held: Vec<(Position, Message)>,
    ) -> Recovery {
        let (mut complete, messages, mut position) = match kept {
            Ok(kept) => (kept.complete, kept.messages, kept.position),
            Err(e) => {
                tracing::warn!(room, error = %e, "history unavailable: recovery incomplete");
                (false, Vec::new(), None)
            }
        };
        let mut last = since.clone();
        let mut recovered = 0;
        for (at, message) in messages {
            if at.epoch == last.epoch && at.offset > last.offset {
                self.offer(socket, message);
                last = at;
                recovered += 1;
            }
        }
        for (at, message) in held {
            if at.epoch == last.epoch && at.offset <= last.offset {
                continue; // already delivered from history
            }
            if at.epoch != last.epoch || at.offset != last.offset + 1 {
                complete = false; // a new epoch, or a hole
            }
            self.offer(socket, message);
            last = at;
        }
        let newer = match &position {
            None => last != *since,
            Some(p) if p.epoch == last.epoch => last.offset > p.offset,
            // Live messages of a new epoch came after the history's.
            Some(_) => last != *since,
        };
        if newer {
            position = Some(last);
        }
        crate::metrics::history_recovered(complete);
        Recovery {
            complete,
            recovered,
            position,
        }
    }

    /// The latest position of the history room `room` (`None` before its
    /// first message).
    pub async fn position(&self, room: &str) -> Result<Option<Position>, SendError> {
        let history = self
            .history_of(room)
            .ok_or_else(|| SendError::NoHistory(format!("room {room:?}")))?;
        match self.backplane() {
            None => Ok(lock(&self.log(room)).position(&history, Instant::now())),
            Some(backplane) => {
                let nowhere = Position {
                    epoch: String::new(),
                    offset: 0,
                };
                Ok(backplane
                    .history_since(room, &history, &nowhere)
                    .await?
                    .position)
            }
        }
    }
}

/// How a join with recovery started.
pub(crate) enum Started {
    Done(Recovery),
    Waiting(History, Arc<dyn Backplane>),
}

/// A numbered send's outcome: done here, or on its way through the backplane.
pub(crate) enum Numbered {
    Done(Result<(Position, usize), SendError>),
    Pending(crate::rooms::backplane::HistoryFuture<Position>),
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}
