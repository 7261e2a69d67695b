//! Sending: [`Recipients`] says where a send goes (a room, a route, given
//! sockets, minus one); `send` converts the message once, delivers it to
//! this node's members and hands it to the backplane for the others, a
//! send to given sockets as one envelope per node that holds some.

use crate::connection::error::SendError;
use crate::message::IntoMessage;
use crate::rooms::backplane::{Build, Envelope, Target, Topic};
use crate::rooms::history::{History, Position};
use crate::rooms::hub::Hub;
use crate::rooms::recovery::Numbered;
use std::sync::Arc;

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
    ///
    /// To a room with history ([`App::history`](crate::App::history)) the
    /// message is numbered and kept too, like [`publish`](Self::publish);
    /// through a backplane it is then delivered on every node once
    /// numbered, so the count is 0.
    pub fn send(&self, message: impl IntoMessage) -> Result<usize, SendError> {
        let message = message.into_message().map_err(SendError::Json)?;
        if let Some((room, history)) = self.history() {
            let build: Build = Arc::new(move |_: &Position| Ok(message.clone()));
            return match self
                .hub
                .publish_numbered(room, &history, build, self.except)
            {
                Numbered::Done(done) => done.map(|(_, delivered)| delivered),
                Numbered::Pending(_) => Ok(0),
            };
        }
        let delivered = self.hub.deliver_here(&self.target, &message, self.except);
        let Some(backplane) = self.hub.backplane() else {
            return Ok(delivered);
        };
        let envelope = |target| Envelope {
            origin: self.hub.node(),
            target,
            except: self.except,
            message: message.clone(),
            position: None,
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

impl Recipients {
    /// The room and its history, for a send to a room with history.
    fn history(&self) -> Option<(&str, History)> {
        match &self.target {
            Target::Room(room) => self.hub.history_of(room).map(|h| (room.as_str(), h)),
            _ => None,
        }
    }

    /// Sends to a room with history a message built knowing its
    /// [`Position`], so the message can carry it (the client then knows
    /// what it saw last, for [`Socket::join_since`](crate::Socket::join_since)).
    /// The message is numbered, kept and delivered on every node in
    /// position order; returns its position. `build` may be called again
    /// with a later position when another node took the first meanwhile,
    /// and must not send to the same room.
    ///
    /// Only for [`Hub::to_room`] of a room matching an
    /// [`App::history`](crate::App::history) pattern:
    /// [`SendError::NoHistory`] otherwise. Through Redis while Redis is
    /// unreachable, this node's members still get the message, with a
    /// position of this node's own epoch, and the result is
    /// [`SendError::Unavailable`].
    ///
    /// ```
    /// use cheese_api::prelude::*;
    /// use cheese_api::History;
    ///
    /// #[derive(Default)]
    /// struct Chat;
    ///
    /// #[websocket("/chat")]
    /// impl Chat {
    ///     async fn message(&mut self, message: String) {
    ///         let text = message;
    ///         let _ = self
    ///             .hub()
    ///             .to_room("chat:lobby")
    ///             .publish(move |pos| Json(serde_json::json!({ "text": text, "epoch": pos.epoch, "offset": pos.offset })))
    ///             .await;
    ///     }
    /// }
    ///
    /// let app = App::empty().websocket::<Chat>().history("chat:*", History::last(100));
    /// # let _ = app;
    /// ```
    pub async fn publish<M: IntoMessage>(
        &self,
        build: impl Fn(&Position) -> M + Send + Sync + 'static,
    ) -> Result<Position, SendError> {
        let Some((room, history)) = self.history() else {
            let what = match &self.target {
                Target::Room(room) => format!("room {room:?}"),
                Target::Route(route) => format!("route {route:?}"),
                Target::Sockets(_) => "a send to sockets".to_owned(),
            };
            return Err(SendError::NoHistory(what));
        };
        let build: Build =
            Arc::new(move |at: &Position| build(at).into_message().map_err(SendError::Json));
        match self
            .hub
            .publish_numbered(room, &history, build, self.except)
        {
            Numbered::Done(done) => done.map(|(position, _)| position),
            Numbered::Pending(position) => position.await,
        }
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
