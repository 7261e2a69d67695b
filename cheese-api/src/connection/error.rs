//! [`SendError`]: why a `send` or a `close` did not happen, the one error
//! of a connection's handle.

use std::fmt;

/// Why `send` or `close` did not happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed or closing; nothing more can be sent.
    Closed,
    /// `self.send`/`self.close` was called outside a hook (for example on a
    /// spawned task): take `self.socket()` inside the hook and move it there.
    OutsideHook,
    /// A [`Json`](crate::Json) value could not be written as JSON.
    Json(serde_json::Error),
    /// `close` was given a code an endpoint may not send, or a reason longer
    /// than 123 bytes.
    InvalidClose(String),
    /// `publish` or `position` on something that keeps no history: a room
    /// that matches no [`App::history`](crate::App::history) pattern, a
    /// route or sockets, or an app whose backplane keeps no history.
    NoHistory(String),
    /// The store that numbers a history room's messages (Redis) could not
    /// be reached; the message reached this node's members only.
    Unavailable(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closed"),
            SendError::OutsideHook => f.write_str(
                "self.send()/self.close() was called outside a hook; \
                 call self.socket() inside the hook and use that handle instead",
            ),
            SendError::Json(e) => write!(f, "cannot serialize the message as JSON: {e}"),
            SendError::InvalidClose(why) => f.write_str(why),
            SendError::NoHistory(what) => write!(f, "{what} keeps no history (see App::history)"),
            SendError::Unavailable(why) => write!(f, "history unavailable: {why}"),
        }
    }
}

impl std::error::Error for SendError {}
