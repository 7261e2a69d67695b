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
        }
    }
}

impl std::error::Error for SendError {}
