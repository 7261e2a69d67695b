//! Sending: [`Recipients`] says where a send goes (a room, a route, given
//! sockets, minus one); `send` converts the message once, delivers it to
//! this node's members and hands it to the backplane for the others, a
//! send to given sockets as one envelope per node that holds some.

use crate::connection::error::SendError;
use crate::message::IntoMessage;
use crate::rooms::backplane::{Envelope, Target, Topic};
use crate::rooms::hub::Hub;

/// Where a send goes; made by [`Hub::to_room`], [`Hub::to_route`] and
/// [`Hub::to_sockets`].
#[derive(Debug, Clone)]
pub struct Recipients {
    pub(super) hub: Hub,
    pub(super) target: Target,
    pub(super) except: Option<u64>,
}

impl Recipients {
    /// Leaves out one socket (typically the sender).
    pub fn except(mut self, id: u64) -> Recipients {
        self.except = Some(id);
        self
    }

    /// Sends to every recipient without waiting; returns how many on this
    /// node got it queued. The message is converted (JSON serialized) once.
    pub fn send(&self, message: impl IntoMessage) -> Result<usize, SendError> {
        let message = message.into_message().map_err(SendError::Json)?;
        let delivered = self.hub.deliver_here(&self.target, &message, self.except);
        let Some(backplane) = self.hub.backplane() else {
            return Ok(delivered);
        };
        let envelope = |target| Envelope {
            origin: self.hub.node(),
            target,
            except: self.except,
            message: message.clone(),
        };
        match &self.target {
            Target::Sockets(ids) => {
                for ids in ids_by_node(ids, self.hub.node()) {
                    backplane.publish(envelope(Target::Sockets(ids)));
                }
            }
            target => backplane.publish(envelope(target.clone())),
        }
        Ok(delivered)
    }
}

/// A send to given sockets as one list per other node (in the order the
/// nodes first appear), so a backplane can route each to its node only;
/// this node's own sockets are left out (already delivered).
fn ids_by_node(ids: &[u64], own: u64) -> Vec<Vec<u64>> {
    let mut groups: Vec<Vec<u64>> = Vec::new();
    for &id in ids {
        let node = Topic::node_of(id);
        if node == Topic::Node(own) {
            continue;
        }
        match groups.iter_mut().find(|g| Topic::node_of(g[0]) == node) {
            Some(group) => group.push(id),
            None => groups.push(vec![id]),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::backplane::NODE_SHIFT;

    #[test]
    fn socket_ids_are_grouped_by_their_other_nodes() {
        let id = |node: u64, n: u64| (node << NODE_SHIFT) | n;
        let ids = [id(2, 1), id(1, 1), id(3, 1), id(2, 2), id(1, 2)];
        // Node 1 is this one: its sockets were served locally.
        assert_eq!(
            ids_by_node(&ids, 1),
            [vec![id(2, 1), id(2, 2)], vec![id(3, 1)]]
        );
        assert!(ids_by_node(&[id(1, 5)], 1).is_empty());
    }
}
