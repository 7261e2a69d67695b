//! Reaching past one process: a [`Backplane`] carries every room, route and
//! socket send to the other nodes, which deliver it to their own members.
//!
//! The default app has no backplane (one node). [`MemoryBackplane`] links
//! apps in one process (for tests and for several apps in one binary); the
//! `redis` feature adds `RedisBackplane` over Redis pub/sub.

use crate::message::Message;
use crate::rooms::hub::Hub;
use std::sync::{Arc, Mutex};

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
}

/// Carries sends between nodes.
///
/// `publish` must not wait (queue and return); `start` begins delivering
/// envelopes from other nodes with [`Hub::deliver`], skipping those whose
/// `origin` is the hub's own node.
pub trait Backplane: Send + Sync + 'static {
    /// Sends an envelope to the other nodes.
    fn publish(&self, envelope: Envelope);
    /// Starts delivering the other nodes' envelopes into `hub`.
    fn start(&self, hub: Hub);
}

/// Links the apps of one process, as a stand-in for Redis in tests.
///
/// ```
/// use cheese_api::{App, MemoryBackplane};
///
/// let link = MemoryBackplane::new();
/// let node_a = App::empty().backplane(link.clone());
/// let node_b = App::empty().backplane(link);
/// # let _ = (node_a, node_b);
/// ```
#[derive(Clone, Default)]
pub struct MemoryBackplane {
    hubs: Arc<Mutex<Vec<Hub>>>,
}

impl MemoryBackplane {
    /// A new, empty link.
    pub fn new() -> MemoryBackplane {
        MemoryBackplane::default()
    }
}

impl Backplane for MemoryBackplane {
    fn publish(&self, envelope: Envelope) {
        let hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for hub in hubs.iter().filter(|h| h.node() != envelope.origin) {
            hub.deliver(&envelope.target, &envelope.message, envelope.except);
        }
    }

    fn start(&self, hub: Hub) {
        self.hubs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hub);
    }
}

impl Envelope {
    /// The wire form for byte-oriented backplanes (Redis):
    /// `origin u64 | except u64 (0 = none) | target kind u8 | target | message kind u8 | payload`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.message.len());
        out.extend_from_slice(&self.origin.to_be_bytes());
        out.extend_from_slice(&self.except.unwrap_or(0).to_be_bytes());
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        match &self.target {
            Target::Room(room) => {
                out.push(0);
                put_str(&mut out, room);
            }
            Target::Route(route) => {
                out.push(1);
                put_str(&mut out, route);
            }
            Target::Sockets(ids) => {
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
        let target = match kind {
            0 | 1 => {
                let len = u32_of(take(4)?);
                let name = String::from_utf8(take(len)?.to_vec()).ok()?;
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
            };
            assert_eq!(Envelope::from_bytes(&e.to_bytes()), Some(e.clone()));
        }
        assert_eq!(Envelope::from_bytes(&[1, 2, 3]), None);
    }
}
