//! Rooms and broadcast: every connection belongs to its route's group, may
//! join named rooms, and can be reached by id, from a hook, a spawned task
//! or a plain HTTP handler of the same app.
//!
//! A broadcast converts its message once and hands every receiver the same
//! bytes. It never waits: a receiver whose outgoing queue is already more
//! than 16 × its route's `write_limit` (at least 1 MiB) behind is too slow to
//! keep up and is closed with 1013 ("try again later") instead of growing
//! memory or slowing the others; [`Hub::slow_closes`] counts them.
//! With a [`Backplane`](crate::Backplane) the same sends reach the members on
//! every node, and the hub tells the backplane which rooms and routes have a
//! member here (its interest, [`Topic`]) as they gain their first member and
//! lose their last, and every member that joins or leaves (presence,
//! [`Hub::presence`]).

use crate::connection::socket::Socket;
use crate::message::Message;
use crate::rooms::backplane::{Backplane, Target, Topic};
use crate::rooms::history::{Histories, Log, Position};
use crate::rooms::presence::{Member, PresenceError};
use crate::rooms::recipients::Recipients;
use crate::stats::{Counters, Stats};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

type Members = HashMap<u64, Socket>;

#[derive(Default)]
pub(super) struct Registry {
    sockets: Members,
    pub(super) rooms: HashMap<String, Room>,
    /// Keyed by the route's pattern; a group stays when it empties (there
    /// are as many as routes), so connecting allocates no key or map.
    routes: HashMap<&'static str, Members>,
}

/// A room on this node: its members, and the presence info of those
/// that joined with some (`join_with`).
#[derive(Default)]
pub(super) struct Room {
    pub(super) members: Members,
    info: HashMap<u64, serde_json::Value>,
    /// Members joining with recovery: the numbered messages that arrived
    /// since, held back until their history is delivered.
    pub(super) recovering: HashMap<u64, Vec<(Position, Message)>>,
}

/// What the backplane is told, in the order the hub decided it.
pub(super) enum Change {
    /// This node's interest: subscribe (`true`) or unsubscribe.
    Interest(Topic, bool),
    /// A member joined a room (or changed its info there).
    Track(String, Member),
    /// A member left a room.
    Untrack(String, u64),
}

pub(super) struct HubInner {
    registry: Mutex<Registry>,
    /// Which rooms keep history ([`App::history`](crate::App::history)).
    pub(super) histories: RwLock<Histories>,
    /// Whether `histories` has any pattern: read on every room send, so
    /// an app without history never takes its lock.
    pub(super) any_history: AtomicBool,
    /// The history rooms' logs when there is no backplane (one node).
    pub(super) logs: Mutex<HashMap<String, Arc<Mutex<Log>>>>,
    /// Orders the backplane's subscribe and unsubscribe calls: taken before
    /// the registry lock under which a change was decided is released, and
    /// held while the backplane is told (see [`Hub::tell`]).
    interest: Mutex<()>,
    backplane: Mutex<Option<Arc<dyn Backplane>>>,
    node: u64,
    slow_closes: AtomicU64,
    /// The app's counters (owned by its runtime), for [`Hub::stats`].
    pub(super) counters: Arc<Counters>,
}

/// The app's rooms: send to a route's connections, a room or given sockets,
/// on this node and (with a backplane) on every node.
///
/// Get it with `self.hub()` in a hook, [`Socket::hub`] anywhere, or as an
/// extractor in an axum handler served by the same app.
///
/// ```
/// use cheese_api::prelude::*;
///
/// #[derive(Default)]
/// struct Chat;
///
/// #[websocket("/chat/<room:str>")]
/// impl Chat {
///     async fn connection(&mut self, room: String) {
///         self.join(&room);
///     }
///     async fn message(&mut self, message: String, room: String) {
///         // One serialization, shared by every member of the room.
///         let _ = self.hub().to_room(&room).send(Json(serde_json::json!({ "text": message })));
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Hub {
    pub(super) inner: Arc<HubInner>,
}

/// A [`Hub`] that does not keep the app's rooms alive ([`Hub::downgrade`]).
#[derive(Clone)]
pub struct WeakHub(std::sync::Weak<HubInner>);

impl WeakHub {
    /// The hub, while its app still exists.
    pub fn upgrade(&self) -> Option<Hub> {
        self.0.upgrade().map(|inner| Hub { inner })
    }
}

impl std::fmt::Debug for WeakHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakHub").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node", &self.inner.node)
            .finish()
    }
}

impl Hub {
    /// The hub of the node `node`; `counters` are the app's, for
    /// [`stats`](Self::stats).
    pub(crate) fn new(node: u64, counters: Arc<Counters>) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                registry: Mutex::new(Registry::default()),
                histories: RwLock::default(),
                any_history: AtomicBool::new(false),
                logs: Mutex::default(),
                interest: Mutex::new(()),
                backplane: Mutex::new(None),
                node,
                slow_closes: AtomicU64::new(0),
                counters,
            }),
        }
    }

    /// A handle that does not keep the hub alive, for a backplane's
    /// background tasks: they end once the app is gone.
    pub fn downgrade(&self) -> WeakHub {
        WeakHub(Arc::downgrade(&self.inner))
    }

    pub(super) fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock cannot leave the maps half-updated
        // (every update is one insert or remove), so poisoning is ignored.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `backplane` and subscribes it to this node's topic and to
    /// the rooms and routes that already have members here. Holding the
    /// registry, then the interest lock, no join or leave slips between the
    /// topics read here and the backplane being in place.
    pub(crate) fn set_backplane(&self, backplane: Arc<dyn Backplane>) {
        let r = self.registry();
        let _order = self
            .inner
            .interest
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let topics: Vec<Topic> = std::iter::once(Topic::Node(self.inner.node))
            .chain(r.rooms.keys().map(|room| Topic::Room(room.clone())))
            .chain(
                r.routes
                    .iter()
                    .filter(|(_, members)| !members.is_empty())
                    .map(|(route, _)| Topic::Route((*route).to_owned())),
            )
            .collect();
        let members: Vec<(String, Member)> = r
            .rooms
            .iter()
            .flat_map(|(name, room)| {
                room.members
                    .keys()
                    .map(move |id| (name.clone(), room.member(*id)))
            })
            .collect();
        // Set while the registry is held: a join decides whether to tell
        // the backplane under that lock, so none is missed or told twice.
        let before = self
            .inner
            .backplane
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(backplane.clone());
        drop(r);
        backplane.start(self.clone());
        // A backplane replaced lets go of this node: nothing more reaches
        // the hub through it, and its members leave its presence.
        if let Some(before) = before {
            for topic in &topics {
                before.unsubscribe(topic.clone());
            }
            for (room, member) in &members {
                before.untrack(room, member.id);
            }
        }
        for topic in topics {
            backplane.subscribe(topic);
        }
        for (room, member) in members {
            backplane.track(&room, &member);
        }
    }

    pub(super) fn backplane(&self) -> Option<Arc<dyn Backplane>> {
        self.inner
            .backplane
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tells the backplane the interest `changes` decided under `registry`.
    ///
    /// The order of the calls is the order of the decisions: the interest
    /// lock is taken *before* the registry lock is released, so the next
    /// change (decided under the registry lock, later) waits for this one
    /// to be told. Otherwise a leave racing a join on another thread could
    /// tell `subscribe` then `unsubscribe` in the reverse order and leave a
    /// room with a member unsubscribed. Only transitions (a first member, a
    /// last one) take this lock, broadcasts never; the backplane's calls
    /// queue and return, so it is held briefly.
    pub(super) fn tell(
        &self,
        registry: MutexGuard<'_, Registry>,
        changes: impl IntoIterator<Item = Change>,
    ) {
        let _order = self
            .inner
            .interest
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        drop(registry);
        let Some(backplane) = self.backplane() else {
            return;
        };
        for change in changes {
            match change {
                Change::Interest(topic, true) => backplane.subscribe(topic),
                Change::Interest(topic, false) => backplane.unsubscribe(topic),
                Change::Track(room, member) => backplane.track(&room, &member),
                Change::Untrack(room, id) => backplane.untrack(&room, id),
            }
        }
    }

    /// This node's id: the high bits of every socket id made here.
    pub fn node(&self) -> u64 {
        self.inner.node
    }

    /// Everyone connected to the route with this pattern, as written in its
    /// attribute (`"/chat"`, `"/room/<name:str>"`).
    pub fn to_route(&self, pattern: &str) -> Recipients {
        self.recipients(Target::Route(pattern.to_owned()))
    }

    /// The members of a room.
    pub fn to_room(&self, room: &str) -> Recipients {
        self.recipients(Target::Room(room.to_owned()))
    }

    /// The given sockets (by [`Socket::id`]), wherever they are connected.
    pub fn to_sockets(&self, ids: &[u64]) -> Recipients {
        self.recipients(Target::Sockets(ids.to_vec()))
    }

    fn recipients(&self, target: Target) -> Recipients {
        Recipients {
            hub: self.clone(),
            target,
            except: None,
        }
    }

    /// Members of `room` connected to this node.
    pub fn room_size(&self, room: &str) -> usize {
        self.registry()
            .rooms
            .get(room)
            .map_or(0, |r| r.members.len())
    }

    /// The members of `room` on every node, sorted by socket id, each with
    /// its node and the info given at [`Socket::join_with`] (`null` after a
    /// plain [`Socket::join`]).
    ///
    /// Without a backplane this node is the whole app: the answer comes
    /// from memory. With one, the backplane answers for all nodes
    /// ([`Backplane::presence`]); when it cannot (Redis unreachable) the
    /// result is an error, never a partial list.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = cheese_api::App::empty();
    /// let hub = app.hub();
    /// assert!(hub.presence("lobby").await.unwrap().is_empty());
    /// assert_eq!(hub.presence_count("lobby").await, Ok(0));
    /// # }
    /// ```
    pub async fn presence(&self, room: &str) -> Result<Vec<Member>, PresenceError> {
        let members = match self.backplane() {
            Some(backplane) => backplane.presence(room).await,
            None => Ok(self.local_presence(room)),
        };
        crate::metrics::presence_query("members", members.is_ok());
        members
    }

    /// How many members `room` has on every node (see [`presence`](Self::presence)).
    pub async fn presence_count(&self, room: &str) -> Result<usize, PresenceError> {
        let count = match self.backplane() {
            Some(backplane) => backplane.presence_count(room).await,
            None => Ok(self.room_size(room)),
        };
        crate::metrics::presence_query("count", count.is_ok());
        count
    }

    /// The members of `room` on this node only, sorted by socket id.
    pub fn local_presence(&self, room: &str) -> Vec<Member> {
        let r = self.registry();
        let Some(room) = r.rooms.get(room) else {
            return Vec::new();
        };
        let mut members: Vec<Member> = room.members.keys().map(|id| room.member(*id)).collect();
        members.sort_by_key(|m| m.id);
        members
    }

    /// Connections of the route `pattern` on this node.
    pub fn route_size(&self, pattern: &str) -> usize {
        self.registry().routes.get(pattern).map_or(0, HashMap::len)
    }

    /// Open connections on this node.
    pub fn connections(&self) -> usize {
        self.registry().sockets.len()
    }

    /// The app's counters: connections, messages and bytes, closes by code.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot(self.slow_closes())
    }

    /// Connections closed with 1013 because they could not keep up with
    /// broadcasts.
    pub fn slow_closes(&self) -> u64 {
        self.inner.slow_closes.load(Ordering::Relaxed)
    }

    pub(crate) fn register(&self, socket: &Socket, route: &'static str) {
        let mut r = self.registry();
        r.sockets.insert(socket.id(), socket.clone());
        let members = r.routes.entry(route).or_default();
        if members.insert(socket.id(), socket.clone()).is_none() && members.len() == 1 {
            self.tell(r, [Change::Interest(Topic::Route(route.to_owned()), true)]);
        }
    }

    pub(crate) fn unregister(&self, socket: &Socket, route: &'static str) {
        let rooms = socket.leave_all();
        let mut r = self.registry();
        let mut changes = Vec::new();
        r.sockets.remove(&socket.id());
        if let Some(members) = r.routes.get_mut(route) {
            if members.remove(&socket.id()).is_some() && members.is_empty() {
                changes.push(Change::Interest(Topic::Route(route.to_owned()), false));
            }
        }
        for room in rooms {
            changes.extend(self.leave_changes(&mut r, room, socket.id()));
        }
        if !changes.is_empty() {
            self.tell(r, changes);
        }
    }

    /// Adds `socket` to `room` with `info` (`Null`: none), or replaces its
    /// info when it is a member already.
    pub(crate) fn join(&self, socket: &Socket, room: &str, info: serde_json::Value) {
        self.join_as(socket, room, info, false);
    }

    /// [`join`](Self::join); with `recovering`, the member's numbered
    /// messages are held back until [`finish_recovery`](Self::finish_recovery).
    pub(super) fn join_as(
        &self,
        socket: &Socket,
        room: &str,
        info: serde_json::Value,
        recovering: bool,
    ) {
        let mut r = self.registry();
        let entry = r.rooms.entry(room.to_owned()).or_default();
        if recovering {
            entry.recovering.insert(socket.id(), Vec::new());
        }
        let first =
            entry.members.insert(socket.id(), socket.clone()).is_none() && entry.members.len() == 1;
        if info.is_null() {
            entry.info.remove(&socket.id());
        } else {
            entry.info.insert(socket.id(), info.clone());
        }
        if self.backplane().is_none() {
            return;
        }
        let track = Change::Track(room.to_owned(), Member::new(socket.id(), info));
        if first {
            self.tell(
                r,
                [Change::Interest(Topic::Room(room.to_owned()), true), track],
            );
        } else {
            self.tell(r, [track]);
        }
    }

    pub(crate) fn leave(&self, socket: &Socket, room: &str) {
        let mut r = self.registry();
        let changes = self.leave_changes(&mut r, room.to_owned(), socket.id());
        if !changes.is_empty() {
            self.tell(r, changes);
        }
    }

    /// Removes `id` from `room` under the registry lock `r`; what the
    /// backplane must be told (nothing without one, or if it was no member).
    fn leave_changes(&self, r: &mut Registry, room: String, id: u64) -> Vec<Change> {
        let Some(entry) = r.rooms.get_mut(&room) else {
            return Vec::new();
        };
        if entry.members.remove(&id).is_none() {
            return Vec::new();
        }
        entry.info.remove(&id);
        entry.recovering.remove(&id);
        let last = entry.members.is_empty();
        if last {
            r.rooms.remove(&room);
        }
        if self.backplane().is_none() {
            return Vec::new();
        }
        let mut changes = vec![Change::Untrack(room.clone(), id)];
        if last {
            changes.push(Change::Interest(Topic::Room(room), false));
        }
        changes
    }

    pub(crate) fn all_sockets(&self) -> Vec<Socket> {
        self.registry().sockets.values().cloned().collect()
    }

    /// Delivers an envelope from another node to this node's members of
    /// `target`; returns how many got it. Called by backplanes; counted in
    /// [`Stats::envelopes_received`].
    pub fn deliver(&self, target: &Target, message: &Message, except: Option<u64>) -> usize {
        self.inner.counters.received_envelope();
        self.deliver_here(target, message, except)
    }

    /// Delivers to this node's members of `target`; returns how many got it.
    pub(super) fn deliver_here(
        &self,
        target: &Target,
        message: &Message,
        except: Option<u64>,
    ) -> usize {
        let receivers: Vec<Socket> = {
            let r = self.registry();
            match target {
                Target::Room(room) => r
                    .rooms
                    .get(room)
                    .map(|m| m.members.values().cloned().collect()),
                Target::Route(route) => r
                    .routes
                    .get(route.as_str())
                    .map(|m| m.values().cloned().collect()),
                Target::Sockets(ids) => Some(
                    ids.iter()
                        .filter_map(|id| r.sockets.get(id).cloned())
                        .collect(),
                ),
            }
            .unwrap_or_default()
        };
        self.offer_all(receivers, message, except)
    }

    /// Offers `message` to each of `receivers` but `except`; returns how
    /// many queued it.
    pub(super) fn offer_all(
        &self,
        receivers: Vec<Socket>,
        message: &Message,
        except: Option<u64>,
    ) -> usize {
        receivers
            .iter()
            .filter(|socket| Some(socket.id()) != except)
            .filter(|socket| self.offer(socket, message.clone()))
            .count()
    }

    /// Offers `message` to `socket`: a receiver too slow for broadcasts is
    /// closed (1013) and counted. True when queued.
    pub(super) fn offer(&self, socket: &Socket, message: Message) -> bool {
        match socket.offer(message) {
            Offer::Queued => true,
            Offer::Closed => false,
            Offer::TooSlow => {
                self.inner.slow_closes.fetch_add(1, Ordering::Relaxed);
                crate::metrics::slow_receiver_closed();
                tracing::warn!(
                    id = socket.id(),
                    "closing a connection that cannot keep up with broadcasts (1013)"
                );
                false
            }
        }
    }
}

impl Room {
    /// The member `id` as presence reports it.
    fn member(&self, id: u64) -> Member {
        let info = self.info.get(&id).cloned().unwrap_or_default();
        Member::new(id, info)
    }
}

/// What a broadcast did to one receiver.
pub(crate) enum Offer {
    Queued,
    Closed,
    TooSlow,
}

/// `Hub` as an axum extractor, in handlers served by the app (and in hooks,
/// including `handshake` and `subprotocol`). Outside the app's router there
/// is no hub to hand out: the request fails with [`Refusal::no_hub`] (500)
/// rather than sending into an empty hub that reaches nobody.
///
/// [`Refusal::no_hub`]: crate::Refusal::no_hub
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Hub {
    type Rejection = crate::Refusal;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Hub>()
            .cloned()
            .ok_or_else(crate::Refusal::no_hub)
    }
}
