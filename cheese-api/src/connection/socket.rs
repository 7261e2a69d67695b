//! The handle to one connection: `send`, `close`, `id`, from a hook or from
//! anywhere else.
//!
//! Inside a hook, `self.send(..)` and `self.close(..)` use the connection the
//! hook runs for; [`Socket`] is the same thing as a cheap, cloneable value for
//! spawned tasks and other connections. Messages go into the connection's
//! outgoing queue and its driver writes them, batching whatever is queued
//! into one flush.

use crate::connection::close::{validate_close, By, Status};
use crate::connection::error::SendError;
use crate::connection::outbox::Outbox;
use crate::message::{IntoMessage, Message};
use crate::rooms::backplane::NODE_SHIFT;
use crate::rooms::history::{Position, Recovery};
use crate::rooms::hub::{Hub, Offer};
use crate::rooms::recovery::Started;
use crate::runtime::Runtime;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

tokio::task_local! {
    /// The socket of the connection whose hooks run on this task.
    pub(crate) static CURRENT: Socket;
}

/// The outcome of [`Socket::try_queue`].
pub(crate) enum TryQueue {
    Queued,
    /// Over the limit: the message comes back.
    Full(Message),
    Failed(SendError),
}

pub(crate) struct Shared {
    pub(crate) id: u64,
    /// Open, closing or gone: the one flag of the connection's close that
    /// other tasks read (see [`close`](crate::connection::close)).
    pub(crate) status: Status,
    pub(crate) outbox: Outbox,
    /// Bytes handed to `send` and not yet given to the engine.
    pub(crate) queued: AtomicUsize,
    /// Woken when `queued` falls or the connection stops taking sends.
    pub(crate) drained: Notify,
    pub(crate) write_limit: usize,
    /// Whether the socket may have something to read: set by the read
    /// waker (and at the start), cleared by a read that would wait.
    pub(crate) readable: AtomicBool,
    /// Last ping round trip in microseconds (0: none yet).
    pub(crate) latency_us: AtomicU64,
    /// The app this connection belongs to: its hub, counters and node id.
    pub(crate) runtime: Arc<Runtime>,
    /// The rooms this connection joined. Under this lock `join` checks
    /// and `leave_all` moves the status to gone, so no dead socket stays in
    /// a room.
    rooms: Mutex<Vec<String>>,
}

impl Shared {
    /// The one way a close the server decides on starts: `close()`, a
    /// hook's error, a slow receiver's 1013, shutdown's 1001, a keepalive
    /// timeout, a protocol error. The first one wins (returns true): its
    /// request waits in the outbox for the driver, behind the messages
    /// queued before it, and senders waiting for room find the connection
    /// closed. `wake: false` on the driver's own task.
    pub(crate) fn begin_close(&self, code: u16, reason: &str, by: By, wake: bool) -> bool {
        let began = self
            .outbox
            .request_close(&self.status, code, reason, by, wake);
        if began {
            self.drained.notify_waiters();
        }
        began
    }

    /// The connection takes no more sends with no close frame of ours to
    /// send: the peer closed first, or the connection ended.
    pub(crate) fn stop_sending(&self) {
        if self.status.begin() {
            self.drained.notify_waiters();
        }
    }
}

/// A handle to one connection: `Clone + Send + Sync + 'static`.
///
/// ```no_run
/// use cheese_api::prelude::*;
///
/// #[derive(Default)]
/// struct Ticker;
///
/// #[websocket("/ticker")]
/// impl Ticker {
///     async fn connection(&mut self) {
///         let socket = self.socket();
///         tokio::spawn(async move {
///             let mut n = 0;
///             while socket.send(format!("tick {n}")).await.is_ok() {
///                 n += 1;
///                 tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///             }
///         });
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket").field("id", &self.id()).finish()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Socket {
    pub(crate) fn new(write_limit: usize, runtime: Arc<Runtime>) -> Socket {
        let shared = Shared {
            // Unique across nodes: the node id above a local counter.
            id: (runtime.node << NODE_SHIFT) | NEXT_ID.fetch_add(1, Ordering::Relaxed),
            status: Status::new(),
            outbox: Outbox::default(),
            queued: AtomicUsize::new(0),
            drained: Notify::new(),
            write_limit,
            readable: AtomicBool::new(true),
            latency_us: AtomicU64::new(0),
            runtime,
            rooms: Mutex::new(Vec::new()),
        };
        Socket {
            shared: Arc::new(shared),
        }
    }

    /// Queues `message` now if the connection is open and no more than
    /// `limit` bytes are already queued. The one place that counts queued
    /// bytes in: `send` (limit `write_limit`, waiting when `Full`) and
    /// broadcasts (limit [`broadcast_limit`], closing when `Full`). `wake`
    /// is false on the driver's own task, which polls the queue right after.
    pub(crate) fn try_queue(&self, message: Message, limit: usize, wake: bool) -> TryQueue {
        let shared = &self.shared;
        if self.is_closed() {
            return TryQueue::Failed(SendError::Closed);
        }
        if shared.queued.load(Ordering::Acquire) > limit {
            return TryQueue::Full(message);
        }
        let len = message.len();
        shared.queued.fetch_add(len, Ordering::AcqRel);
        match shared.outbox.push(&shared.status, message, wake) {
            Ok(()) => TryQueue::Queued,
            Err(error) => {
                shared.queued.fetch_sub(len, Ordering::AcqRel);
                TryQueue::Failed(error)
            }
        }
    }

    /// Whether this runs inside a hook of this very connection, on its
    /// driver's task.
    fn on_own_task(&self) -> bool {
        CURRENT
            .try_with(|current| Arc::ptr_eq(&current.shared, &self.shared))
            .unwrap_or(false)
    }

    /// The socket of the hook running on this task, if any.
    pub(crate) fn current() -> Option<Socket> {
        CURRENT.try_with(Socket::clone).ok()
    }

    /// This connection's id, unique in the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Whether a close has started (by either side) or the connection ended.
    pub fn is_closed(&self) -> bool {
        !self.shared.status.is_open()
    }

    /// The round trip of the last answered keepalive ping, if any.
    pub fn latency(&self) -> Option<Duration> {
        match self.shared.latency_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Queues a message for the client. Waits while more than the route's
    /// `write_limit` bytes are already queued; fails once the connection is
    /// closing.
    pub async fn send(&self, message: impl IntoMessage) -> Result<(), SendError> {
        let mut message = message.into_message().map_err(SendError::Json)?;
        let shared = &self.shared;
        let wake = !self.on_own_task();
        let mut armed = false;
        loop {
            // Waiting only when over the limit: the first attempt takes no
            // lock; after a `Full`, the wake-up is armed before the retry so
            // a drain in between is not missed.
            let drained = shared.drained.notified();
            tokio::pin!(drained);
            if armed {
                drained.as_mut().enable();
            }
            match self.try_queue(message, shared.write_limit, wake) {
                TryQueue::Queued => return Ok(()),
                TryQueue::Failed(error) => return Err(error),
                TryQueue::Full(back) => message = back,
            }
            if armed {
                drained.await;
            }
            armed = true;
        }
    }

    /// Starts the closing handshake with `code` and `reason`; returns once the
    /// close frame is queued (messages queued before it go out first).
    /// Only codes an endpoint may send are accepted: 1000–1003, 1007–1014
    /// and 3000–4999; the reason is at most 123 bytes.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), SendError> {
        validate_close(code, reason)?;
        let wake = !self.on_own_task();
        if !self.shared.begin_close(code, reason, By::App, wake) {
            return Err(SendError::Closed);
        }
        Ok(())
    }
}

impl Socket {
    /// Joins `room` (on this node; sends to the room reach every node).
    /// Does nothing once the connection has ended.
    pub fn join(&self, room: &str) {
        self.entering(room, |new| {
            if new {
                self.hub_ref().join(self, room, serde_json::Value::Null);
            }
        });
    }

    /// Runs `enter` with whether `room` is new to this connection, after
    /// adding it to the connection's rooms, all under the rooms lock (so
    /// `leave_all` on disconnect cannot slip in and leave a dead member);
    /// `None` once the connection has ended.
    fn entering<R>(&self, room: &str, enter: impl FnOnce(bool) -> R) -> Option<R> {
        let mut joined = self.shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if self.shared.status.is_gone() {
            return None;
        }
        let new = !joined.iter().any(|r| r == room);
        if new {
            joined.push(room.to_owned());
        }
        Some(enter(new))
    }

    fn hub_ref(&self) -> &Hub {
        &self.shared.runtime.hub
    }

    /// Joins `room` with `info`, the small JSON that [`Hub::presence`]
    /// reports for this member on every node (a nickname, a user id; keep
    /// it small: every presence answer carries it). Joining a room again
    /// replaces the info. Fails only if `info` cannot be serialized.
    /// Does nothing once the connection has ended.
    ///
    /// ```
    /// use cheese_api::prelude::*;
    ///
    /// #[derive(Default)]
    /// struct Lobby;
    ///
    /// #[websocket("/lobby/<nick:str>")]
    /// impl Lobby {
    ///     async fn connection(&mut self, nick: String) {
    ///         self.join_with("lobby", serde_json::json!({ "nick": nick })).unwrap();
    ///         let members = self.hub().presence("lobby").await.unwrap_or_default();
    ///         let _ = self.send(Json(members)).await;
    ///     }
    /// }
    /// ```
    pub fn join_with(
        &self,
        room: &str,
        info: impl serde::Serialize,
    ) -> Result<(), serde_json::Error> {
        let info = serde_json::to_value(info)?;
        self.entering(room, |_| self.hub_ref().join(self, room, info));
        Ok(())
    }

    /// Joins `room` and first delivers every message it kept after
    /// `since` (a [`Position`] the client saw last), in order, then the
    /// live ones: no gap and no duplicate, even while others publish during
    /// the join, on one node and across nodes. [`Recovery::complete`] is
    /// false when that could not be done fully (the position is older
    /// than what is kept, or of another epoch, the room keeps no history,
    /// or Redis is unreachable): the client should reload.
    ///
    /// ```
    /// use cheese_api::prelude::*;
    /// use cheese_api::{History, Position};
    ///
    /// #[derive(Default)]
    /// struct Chat;
    ///
    /// #[websocket("/chat/<since:str>")]
    /// impl Chat {
    ///     async fn connection(&mut self, since: String) {
    ///         match since.parse::<Position>() {
    ///             Ok(since) => {
    ///                 let recovery = self.join_since("chat:lobby", &since).await;
    ///                 if !recovery.complete {
    ///                     let _ = self.send("reload").await;
    ///                 }
    ///             }
    ///             Err(_) => self.join("chat:lobby"),
    ///         }
    ///     }
    /// }
    ///
    /// let app = App::empty().websocket::<Chat>().history("chat:*", History::last(100));
    /// # let _ = app;
    /// ```
    pub async fn join_since(&self, room: &str, since: &Position) -> Recovery {
        let hub = self.hub_ref();
        let started = self
            .entering(room, |new| {
                new.then(|| hub.start_recovery(self, room, since))
            })
            .flatten()
            .unwrap_or(Started::Done(Recovery::none()));
        match started {
            Started::Done(recovery) => recovery,
            Started::Waiting(history, backplane) => {
                hub.finish_recovery(self, room, since, history, backplane)
                    .await
            }
        }
    }

    /// Leaves `room`; rooms are left automatically on disconnect.
    pub fn leave(&self, room: &str) {
        let mut rooms = self.shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = rooms.iter().position(|r| r == room) {
            rooms.swap_remove(at);
            self.shared.runtime.hub.leave(self, room);
        }
    }

    /// The rooms this connection is in.
    pub fn rooms(&self) -> Vec<String> {
        self.shared
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the connection as gone from the hub and returns its rooms.
    pub(crate) fn leave_all(&self) -> Vec<String> {
        let mut rooms = self.shared.rooms.lock().unwrap_or_else(|e| e.into_inner());
        // Still open only if the connection's task was dropped or panicked
        // before its driver ended: senders waiting for room stop waiting.
        if self.shared.status.leave() {
            self.shared.drained.notify_waiters();
        }
        std::mem::take(&mut *rooms)
    }

    /// The app's [`Hub`], to send to rooms, routes and other sockets.
    pub fn hub(&self) -> Hub {
        self.shared.runtime.hub.clone()
    }

    /// A broadcast's delivery: never waits; a receiver whose queue is
    /// already over [`broadcast_limit`] is closed with 1013.
    pub(crate) fn offer(&self, message: Message) -> Offer {
        match self.try_queue(message, broadcast_limit(self.shared.write_limit), true) {
            TryQueue::Queued => Offer::Queued,
            TryQueue::Failed(_) => Offer::Closed,
            TryQueue::Full(_) => {
                self.begin_close(1013, "too slow: outgoing queue full", By::SlowReceiver);
                Offer::TooSlow
            }
        }
    }

    /// Starts a close the server decided on (a slow receiver, shutdown)
    /// from any task; no-op once closing.
    pub(crate) fn begin_close(&self, code: u16, reason: &str, by: By) {
        let _ = self.shared.begin_close(code, reason, by, true);
    }
}

/// How far behind a receiver of broadcasts may fall before it is closed
/// with 1013: 16 × `write_limit`, at least 1 MiB, so a burst of broadcasts
/// is absorbed while a stalled reader is cut off with bounded memory.
pub(crate) fn broadcast_limit(write_limit: usize) -> usize {
    write_limit.saturating_mul(16).max(1 << 20)
}
