//! Presence: who is in a room, on every node. A [`Member`] is a socket id,
//! its node and the small JSON `info` given at
//! [`Socket::join_with`](crate::Socket::join_with); [`Hub::presence`](crate::Hub::presence)
//! and [`Hub::presence_count`](crate::Hub::presence_count) answer from this
//! node's memory, or through the app's [`Backplane`](crate::Backplane)
//! across nodes. A question that cannot be answered right is an error
//! ([`PresenceError`]), never a wrong answer.

use crate::rooms::backplane::NODE_SHIFT;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// One member of a room, as presence reports it.
///
/// ```
/// use cheese_api::Member;
///
/// let member = Member::new((3u64 << 40) | 1, serde_json::json!({ "nick": "ann" }));
/// assert_eq!(member.node, 3);
/// assert_eq!(
///     serde_json::to_string(&member).unwrap(),
///     r#"{"id":3298534883329,"node":3,"info":{"nick":"ann"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The socket's id ([`Socket::id`](crate::Socket::id)).
    pub id: u64,
    /// The node it is connected to ([`Hub::node`](crate::Hub::node)).
    pub node: u64,
    /// What the app gave at `join_with` (a nickname, a user id); `null`
    /// after a plain `join`.
    pub info: serde_json::Value,
}

impl Member {
    /// The member with socket id `id` (its node is the id's high bits).
    pub fn new(id: u64, info: serde_json::Value) -> Member {
        Member {
            id,
            node: id >> NODE_SHIFT,
            info,
        }
    }
}

/// Why presence could not be answered.
///
/// ```
/// use cheese_api::PresenceError;
///
/// let e = PresenceError::Unavailable("connection refused".into());
/// assert_eq!(e.to_string(), "presence unavailable: connection refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceError {
    /// The backplane cannot reach the store that holds the other nodes'
    /// members (Redis is down or unreachable); ask again later.
    Unavailable(String),
    /// The app's backplane keeps no presence (an outside backplane that
    /// does not implement [`Backplane::presence`](crate::Backplane::presence)).
    Unsupported,
}

impl std::fmt::Display for PresenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PresenceError::Unavailable(why) => write!(f, "presence unavailable: {why}"),
            PresenceError::Unsupported => f.write_str("this app's backplane keeps no presence"),
        }
    }
}

impl std::error::Error for PresenceError {}

/// What [`Backplane::presence`](crate::Backplane::presence) and
/// [`Backplane::presence_count`](crate::Backplane::presence_count) return.
pub type PresenceFuture<T> = BoxFuture<'static, Result<T, PresenceError>>;
