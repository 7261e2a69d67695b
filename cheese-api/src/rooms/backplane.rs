//! Reaching past one process: a [`Backplane`] carries every room, route and
//! socket send to the other nodes, which deliver it to their own members.
//!
//! The default app has no backplane (one node). [`MemoryBackplane`] links
//! apps in one process (for tests and for several apps in one binary); the
//! `redis` feature adds `RedisBackplane` over Redis pub/sub.
//!
//! Routing by interest: the hub tells its backplane which [`Topic`]s this
//! node wants ([`Backplane::subscribe`], [`Backplane::unsubscribe`]), so a
//! backplane that honours them sends a node only the traffic of rooms and
//! routes with a member there, and of sockets it holds.
//!
//! Presence: the hub tells its backplane every member that joins or leaves
//! a room on this node ([`Backplane::track`], [`Backplane::untrack`]), so
//! the backplane can answer [`Backplane::presence`] for all nodes.

use crate::connection::error::SendError;
use crate::message::Message;
use crate::rooms::history::{History, Kept, Log, Position};
use crate::rooms::hub::Hub;
use crate::rooms::presence::{Member, PresenceError, PresenceFuture};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Socket ids carry their node's id above this many bits
/// (`id = node << NODE_SHIFT | counter`).
pub(crate) const NODE_SHIFT: u32 = 40;

/// The target kind of a room send with a position, on the wire.
pub(crate) const NUMBERED: u8 = 3;

/// Who a send is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The members of a room.
    Room(String),
    /// The connections of a route, by its pattern.
    Route(String),
    /// Given sockets, by id.
    Sockets(Vec<u64>),
}

/// What a node is interested in: the unit a backplane routes by.
///
/// ```
/// use cheese_api::Topic;
///
/// // A socket id names its node in its high bits.
/// let id = (7u64 << 40) | 12;
/// assert_eq!(Topic::node_of(id), Topic::Node(7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A room's sends.
    Room(String),
    /// A route's sends, by its pattern.
    Route(String),
    /// Sends to given sockets of this node (by [`Hub::node`]).
    Node(u64),
}

impl Topic {
    /// The topic of the node that holds the socket `id`.
    pub fn node_of(id: u64) -> Topic {
        Topic::Node(id >> NODE_SHIFT)
    }
}

/// One send on its way to the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The node that sent it ([`Hub::node`]); it has delivered locally already.
    pub origin: u64,
    /// Who it is for.
    pub target: Target,
    /// A socket left out.
    pub except: Option<u64>,
    /// The message.
    pub message: Message,
    /// Its place in its room's history, for a numbered send to a room
    /// with history ([`Backplane::publish_numbered`]).
    pub position: Option<Position>,
}

/// Builds a history room's message once its position is known
/// ([`Recipients::publish`](crate::Recipients::publish)); may be called
/// again with another position if the first was taken meanwhile.
pub type Build = Arc<dyn Fn(&Position) -> Result<Message, SendError> + Send + Sync>;

/// What [`Backplane::publish_numbered`] and [`Backplane::history_since`] return.
pub type HistoryFuture<T> = futures_util::future::BoxFuture<'static, Result<T, SendError>>;

/// Carries sends between nodes.
///
/// `publish` must not wait (queue and return); `start` begins delivering
/// envelopes from other nodes with [`Hub::deliver`], skipping those whose
/// `origin` is the hub's own node. An app owns its backplane value: give
/// each app its own (a clone, a new connection).
///
/// # Interest
/// The hub says what its node needs, so the backplane can route each
/// envelope ([`Envelope::topic`]) to the interested nodes only:
/// - [`Topic::Node`] with the node's own id, once, right after `start`;
/// - [`Topic::Room`] when a room's first member on this node joins, and
///   `unsubscribe` when its last one leaves or disconnects;
/// - [`Topic::Route`] when a route's first connection on this node opens,
///   and `unsubscribe` when its last one ends.
///
/// The calls come in the order the hub decided them (a subscribe is never
/// overtaken by the unsubscribe that followed it), outside the hub's
/// registry lock but from a hook's task: like `publish` they must not
/// wait (queue and return). A send to given sockets is published as one
/// envelope per node holding them, so its topic is that node's. Both
/// methods default to doing nothing: a backplane that ignores interest
/// delivers everything to every node, which stays correct (each hub
/// delivers only to its own members), just not cheaper.
///
/// # Presence
/// The hub also tells, in the same order, each member joining a room on
/// this node ([`track`](Self::track), again with the new info when a
/// member joins with other info) and leaving it ([`untrack`](Self::untrack),
/// also on disconnect); [`presence`](Self::presence) answers for all nodes.
/// `track` and `untrack` must not wait either. The defaults keep nothing
/// and answer [`PresenceError::Unsupported`]: never a wrong answer.
///
/// # History
/// For rooms with history ([`App::history`](crate::App::history)) the hub
/// does not deliver locally: it hands the message to
/// [`publish_numbered`](Self::publish_numbered), and the backplane numbers
/// it in one place for all nodes, keeps it, and delivers it on every node
/// (this one too) with [`Hub::deliver_numbered`], in position order. A
/// recovery ([`Socket::join_since`](crate::Socket::join_since)) waits for
/// [`ready`](Self::ready) and reads [`history_since`](Self::history_since).
/// A backplane that keeps no history (the defaults) makes `publish` an
/// error and every recovery incomplete, never a silent gap.
///
/// ```
/// use cheese_api::{Backplane, Envelope, Hub, Topic};
/// use std::sync::{Arc, Mutex};
///
/// /// Delivers only what this node subscribed to (a stand-in for a real
/// /// engine's channels).
/// #[derive(Default)]
/// struct Picky {
///     hub: Mutex<Option<Hub>>,
///     topics: Arc<Mutex<Vec<Topic>>>,
/// }
///
/// impl Backplane for Picky {
///     fn publish(&self, _envelope: Envelope) {
///         // Queue for the engine, e.g. on the channel named by `envelope.topic()`.
///     }
///     fn start(&self, hub: Hub) {
///         *self.hub.lock().unwrap() = Some(hub);
///     }
///     fn subscribe(&self, topic: Topic) {
///         self.topics.lock().unwrap().push(topic);
///     }
///     fn unsubscribe(&self, topic: Topic) {
///         self.topics.lock().unwrap().retain(|t| *t != topic);
///     }
/// }
///
/// let picky = Picky::default();
/// let topics = picky.topics.clone();
/// let app = cheese_api::App::empty().backplane(picky);
/// assert_eq!(*topics.lock().unwrap(), [Topic::Node(app.hub().node())]);
/// ```
pub trait Backplane: Send + Sync + 'static {
    /// Sends an envelope to the other nodes.
    fn publish(&self, envelope: Envelope);
    /// Starts delivering the other nodes' envelopes into `hub`.
    fn start(&self, hub: Hub);
    /// This node now needs the envelopes of `topic` (see [Interest](Backplane#interest)).
    fn subscribe(&self, topic: Topic) {
        let _ = topic;
    }
    /// This node no longer needs the envelopes of `topic`.
    fn unsubscribe(&self, topic: Topic) {
        let _ = topic;
    }
    /// `member` (of this node) joined `room`, or changed its info there
    /// (see [Presence](Backplane#presence)).
    fn track(&self, room: &str, member: &Member) {
        let _ = (room, member);
    }
    /// The socket `id` (of this node) left `room`.
    fn untrack(&self, room: &str, id: u64) {
        let _ = (room, id);
    }
    /// The members of `room` on every node, sorted by id; an error when
    /// that cannot be answered right now.
    fn presence(&self, room: &str) -> PresenceFuture<Vec<Member>> {
        let _ = room;
        Box::pin(std::future::ready(Err(PresenceError::Unsupported)))
    }
    /// How many members `room` has on every node. Defaults to counting
    /// [`presence`](Self::presence); a backplane may answer it cheaper.
    fn presence_count(&self, room: &str) -> PresenceFuture<usize> {
        let members = self.presence(room);
        Box::pin(async move { members.await.map(|m| m.len()) })
    }
    /// Numbers a message of the history room `room`, keeps it (within
    /// `history`'s bounds) and delivers it to the members on every node,
    /// this one included, with [`Hub::deliver_numbered`], in position order
    /// on each node (see [History](Backplane#history)). The work is queued
    /// before this returns (a caller may drop the future); the future
    /// gives the position. `None`: this backplane keeps no history (the
    /// default).
    fn publish_numbered(
        &self,
        room: &str,
        history: &History,
        build: Build,
        except: Option<u64>,
    ) -> Option<HistoryFuture<Position>> {
        let _ = (room, history, build, except);
        None
    }
    /// The kept messages of `room` after `since`, and the room's latest
    /// position (a `since` of another epoch gives just the position).
    fn history_since(
        &self,
        room: &str,
        history: &History,
        since: &Position,
    ) -> HistoryFuture<Kept> {
        let _ = (room, history, since);
        Box::pin(std::future::ready(Err(SendError::NoHistory(
            "this app's backplane".into(),
        ))))
    }
    /// Resolves once this node receives the envelopes of `topic` (after a
    /// `subscribe`, once its subscription is in place), so a recovery reads
    /// the history only when nothing newer can be missed: `true`; `false`
    /// when it gave up waiting (the recovery is then incomplete).
    fn ready(&self, topic: &Topic) -> futures_util::future::BoxFuture<'static, bool> {
        let _ = topic;
        Box::pin(std::future::ready(true))
    }
}

/// Links the apps of one process, as a stand-in for Redis in tests.
///
/// Routes by interest: an envelope reaches only the apps subscribed to its
/// topic. Each clone is a new end of the same link, for one app.
///
/// ```
/// use cheese_api::{App, MemoryBackplane};
///
/// let link = MemoryBackplane::new();
/// let node_a = App::empty().backplane(link.clone());
/// let node_b = App::empty().backplane(link);
/// # let _ = (node_a, node_b);
/// ```
#[derive(Default)]
pub struct MemoryBackplane {
    nodes: Arc<Mutex<HashMap<u64, Node>>>,
    /// Every linked app's members, by room, then id.
    presence: Arc<Mutex<HashMap<String, BTreeMap<u64, Member>>>>,
    /// The history rooms' logs, shared by the linked apps: numbering and
    /// delivering under this lock keeps every node in position order.
    logs: Arc<Mutex<HashMap<String, Log>>>,
    /// The node of the app that took this end (set by `start`).
    node: OnceLock<u64>,
}

/// One linked app: its hub and what it subscribed to.
struct Node {
    hub: Hub,
    topics: HashSet<Topic>,
}

impl Clone for MemoryBackplane {
    /// Another end of the same link, not yet taken by an app.
    fn clone(&self) -> MemoryBackplane {
        MemoryBackplane {
            nodes: self.nodes.clone(),
            presence: self.presence.clone(),
            logs: self.logs.clone(),
            node: OnceLock::new(),
        }
    }
}

impl MemoryBackplane {
    /// A new, empty link.
    pub fn new() -> MemoryBackplane {
        MemoryBackplane::default()
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn members(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<u64, Member>>> {
        self.presence.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or removes `topic` for this end's app.
    fn interest(&self, topic: Topic, on: bool) {
        let Some(node) = self.node.get() else { return };
        if let Some(n) = self.nodes().get_mut(node) {
            if on {
                n.topics.insert(topic);
            } else {
                n.topics.remove(&topic);
            }
        }
    }
}

impl Backplane for MemoryBackplane {
    fn publish(&self, envelope: Envelope) {
        let Some(topic) = envelope.topic() else {
            return;
        };
        let hubs: Vec<Hub> = self
            .nodes()
            .iter()
            .filter(|(node, n)| **node != envelope.origin && n.topics.contains(&topic))
            .map(|(_, n)| n.hub.clone())
            .collect();
        for hub in hubs {
            hub.deliver(&envelope.target, &envelope.message, envelope.except);
        }
    }

    fn start(&self, hub: Hub) {
        let _ = self.node.set(hub.node());
        self.nodes().insert(
            hub.node(),
            Node {
                hub,
                topics: HashSet::new(),
            },
        );
    }

    fn subscribe(&self, topic: Topic) {
        self.interest(topic, true);
    }

    fn unsubscribe(&self, topic: Topic) {
        self.interest(topic, false);
    }

    fn track(&self, room: &str, member: &Member) {
        self.members()
            .entry(room.to_owned())
            .or_default()
            .insert(member.id, member.clone());
    }

    fn untrack(&self, room: &str, id: u64) {
        let mut rooms = self.members();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    fn presence(&self, room: &str) -> PresenceFuture<Vec<Member>> {
        let members = self
            .members()
            .get(room)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        Box::pin(std::future::ready(Ok(members)))
    }

    fn presence_count(&self, room: &str) -> PresenceFuture<usize> {
        let count = self.members().get(room).map_or(0, BTreeMap::len);
        Box::pin(std::future::ready(Ok(count)))
    }

    fn publish_numbered(
        &self,
        room: &str,
        history: &History,
        build: Build,
        except: Option<u64>,
    ) -> Option<HistoryFuture<Position>> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let node = self.node.get().copied().unwrap_or_default();
        let numbered = logs
            .entry(room.to_owned())
            .or_insert_with(|| Log::new(node))
            .number(&build, history, Instant::now());
        let (position, message) = match numbered {
            Ok(numbered) => numbered,
            Err(e) => return Some(Box::pin(std::future::ready(Err(e)))),
        };
        let topic = Topic::Room(room.to_owned());
        let hubs: Vec<Hub> = self
            .nodes()
            .values()
            .filter(|n| n.topics.contains(&topic))
            .map(|n| n.hub.clone())
            .collect();
        for hub in hubs {
            hub.deliver_numbered(room, &position, &message, except);
        }
        Some(Box::pin(std::future::ready(Ok(position))))
    }

    fn history_since(
        &self,
        room: &str,
        history: &History,
        since: &Position,
    ) -> HistoryFuture<Kept> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let kept = logs
            .get_mut(room)
            .map_or_else(Kept::none, |log| log.since(since, history, Instant::now()));
        Box::pin(std::future::ready(Ok(kept)))
    }
}

impl Envelope {
    /// The topic this envelope is routed by: its room, its route, or the
    /// node of its sockets (the hub publishes one envelope per node for a
    /// send to given sockets). `None` for a send to no socket.
    pub fn topic(&self) -> Option<Topic> {
        match &self.target {
            Target::Room(room) => Some(Topic::Room(room.clone())),
            Target::Route(route) => Some(Topic::Route(route.clone())),
            Target::Sockets(ids) => ids.first().map(|id| Topic::node_of(*id)),
        }
    }

    /// The wire form for byte-oriented backplanes (Redis):
    /// `origin u64 | except u64 (0 = none) | target kind u8 | target | message kind u8 | payload`;
    /// target kind 3 is a room with a position (room, epoch, offset).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.message.len());
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(&self.except.unwrap_or(0).to_be_bytes());
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        match (&self.target, &self.position) {
            (Target::Room(room), Some(position)) => {
                out.push(NUMBERED);
                put_str(&mut out, room);
                put_str(&mut out, &position.epoch);
                out.extend_from_slice(&position.offset.to_be_bytes());
            }
            (Target::Room(room), None) => {
                out.push(0);
                put_str(&mut out, room);
            }
            (Target::Route(route), _) => {
                out.push(1);
                put_str(&mut out, route);
            }
            (Target::Sockets(ids), _) => {
                out.push(2);
                out.extend_from_slice(&(ids.len() as u32).to_be_bytes());
                for id in ids {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
        out.push(u8::from(self.message.is_binary()));
        out.extend_from_slice(self.message.as_bytes());
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes); `None` if malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<Envelope> {
        let mut at = 0;
        let mut take = |n: usize| {
            let s = bytes.get(at..at + n)?;
            at += n;
            Some(s)
        };
        let u64_of = |s: &[u8]| u64::from_be_bytes(s.try_into().unwrap());
        let u32_of = |s: &[u8]| u32::from_be_bytes(s.try_into().unwrap()) as usize;
        let origin = u64_of(take(8)?);
        let except = Some(u64_of(take(8)?)).filter(|e| *e != 0);
        let kind = take(1)?[0];
        let mut position = None;
        macro_rules! string {
            () => {{
                let len = u32_of(take(4)?);
                String::from_utf8(take(len)?.to_vec()).ok()?
            }};
        }
        let target = match kind {
            NUMBERED => {
                let room = string!();
                let epoch = string!();
                let offset = u64_of(take(8)?);
                position = Some(Position { epoch, offset });
                Target::Room(room)
            }
            0 | 1 => {
                let name = string!();
                if kind == 0 {
                    Target::Room(name)
                } else {
                    Target::Route(name)
                }
            }
            2 => {
                let n = u32_of(take(4)?);
                let mut ids = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    ids.push(u64_of(take(8)?));
                }
                Target::Sockets(ids)
            }
            _ => return None,
        };
        let binary = take(1)?[0] == 1;
        let payload = &bytes[at..];
        let message = if binary {
            Message::binary(payload.to_vec())
        } else {
            Message::text(String::from_utf8(payload.to_vec()).ok()?)
        };
        Some(Envelope {
            origin,
            target,
            except,
            message,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        for (target, message) in [
            (Target::Room("lobby".into()), Message::text("héllo")),
            (
                Target::Route("/chat/<room:str>".into()),
                Message::binary(vec![0, 255]),
            ),
            (Target::Sockets(vec![1, u64::MAX]), Message::text("")),
        ] {
            let e = Envelope {
                origin: 42,
                target,
                except: Some(7),
                message,
                position: None,
            };
            assert_eq!(Envelope::from_bytes(&e.to_bytes()), Some(e.clone()));
        }
        let numbered = Envelope {
            origin: 42,
            target: Target::Room("chat:1".into()),
            except: None,
            message: Message::text("hi"),
            position: Some(Position {
                epoch: "e1".into(),
                offset: 9,
            }),
        };
        assert_eq!(Envelope::from_bytes(&numbered.to_bytes()), Some(numbered));
        assert_eq!(Envelope::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn an_envelope_names_its_topic() {
        let envelope = |target| Envelope {
            origin: 1,
            target,
            except: None,
            message: Message::text("x"),
            position: None,
        };
        let room = envelope(Target::Room("lobby".into()));
        assert_eq!(room.topic(), Some(Topic::Room("lobby".into())));
        let route = envelope(Target::Route("/chat".into()));
        assert_eq!(route.topic(), Some(Topic::Route("/chat".into())));
        let sockets = envelope(Target::Sockets(vec![(9 << NODE_SHIFT) | 3]));
        assert_eq!(sockets.topic(), Some(Topic::Node(9)));
        assert_eq!(envelope(Target::Sockets(vec![])).topic(), None);
    }
}
