//! Data messages: what a `message` hook receives and what `send` takes.
//!
//! Pings, pongs and close frames are the framework's business and never reach
//! a hook. A hook's `message` parameter may be a [`Message`] (either kind), a
//! `String` (text only), `Vec<u8>` or [`Bytes`] (binary only), or
//! [`Json<T>`] (text or binary holding JSON).

use axum::extract::ws::{self, Utf8Bytes};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

/// A complete WebSocket data message.
///
/// ```
/// use cheese_api::Message;
///
/// let m = Message::text("over");
/// assert!(m == "over");
/// assert_eq!(m.as_text(), Some("over"));
/// assert_eq!(Message::binary(vec![1, 2]).as_bytes(), &[1, 2]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (always valid UTF-8).
    Text(Text),
    /// A binary message.
    Binary(Bytes),
}

/// The payload of a text message: UTF-8 bytes shared without copying (the
/// engine's own buffer, validated by it, moved in and out as it is).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text(pub(crate) Utf8Bytes);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The text's UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The text's UTF-8 bytes, shared without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0.into()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Utf8Bytes::from(s))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(t) => f.debug_tuple("Text").field(t).finish(),
            Message::Binary(b) => f.debug_tuple("Binary").field(b).finish(),
        }
    }
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(Text::from(text.into()))
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Message {
        Message::Binary(data.into())
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload's bytes, whatever the kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_str().as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Message::Text(_))
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Message::Binary(_))
    }

    /// The engine's message, without copying the payload.
    pub(crate) fn into_ws(self) -> ws::Message {
        match self {
            Message::Text(t) => ws::Message::Text(t.0),
            Message::Binary(b) => ws::Message::Binary(b),
        }
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        self.as_text() == Some(other)
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == Some(*other)
    }
}

impl PartialEq<[u8]> for Message {
    fn eq(&self, other: &[u8]) -> bool {
        matches!(self, Message::Binary(b) if b == other)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::text(s)
    }
}
impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::text(s)
    }
}
impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(b.into())
    }
}
impl From<Bytes> for Message {
    fn from(b: Bytes) -> Message {
        Message::Binary(b)
    }
}
impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Message {
        Message::Binary(Bytes::copy_from_slice(b))
    }
}

/// JSON in a message: as a `message` parameter it parses the incoming message
/// (text or binary) into `T`; given to `send` it goes out as one text frame.
///
/// ```
/// use cheese_api::{IntoMessage, Json};
///
/// let m = Json(serde_json::json!({"n": 1})).into_message().unwrap();
/// assert!(m == r#"{"n":1}"#);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Anything `send` accepts: `&str`, `String`, `Vec<u8>`, `&[u8]`, `Bytes`,
/// [`Message`] and [`Json`].
pub trait IntoMessage {
    /// Converts into a message; only [`Json`] can fail (a value serde cannot
    /// write as JSON, such as a map with non-string keys).
    fn into_message(self) -> Result<Message, serde_json::Error>;
}

impl<T: Into<Message>> IntoMessage for T {
    fn into_message(self) -> Result<Message, serde_json::Error> {
        Ok(self.into())
    }
}

impl<T: Serialize> IntoMessage for Json<T> {
    fn into_message(self) -> Result<Message, serde_json::Error> {
        Ok(Message::text(serde_json::to_string(&self.0)?))
    }
}

/// Why an incoming message did not fit the `message` parameter's type: the
/// connection closes with `code` (1003 for the wrong kind, 1007 for bad JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The close code.
    pub code: u16,
    /// The close reason (at most 123 bytes).
    pub reason: String,
}

/// A type a `message` hook's `message` parameter can have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `message` parameter",
    label = "use `Message`, `String`, `Vec<u8>`, `Bytes` or `Json<T>` here",
    note = "see https://docs.rs/cheese-api/latest/cheese_api/trait.FromMessage.html"
)]
pub trait FromMessage: Sized {
    /// Converts, or says which close code ends the connection.
    fn from_message(message: Message) -> Result<Self, Rejected>;
}

fn wrong_kind(expected: &str) -> Rejected {
    Rejected {
        code: 1003,
        reason: format!("expected a {expected} message"),
    }
}

impl FromMessage for Message {
    fn from_message(message: Message) -> Result<Self, Rejected> {
        Ok(message)
    }
}

impl FromMessage for String {
    fn from_message(message: Message) -> Result<Self, Rejected> {
        match message {
            Message::Text(t) => Ok(t.as_str().to_owned()),
            Message::Binary(_) => Err(wrong_kind("text")),
        }
    }
}

impl FromMessage for Text {
    fn from_message(message: Message) -> Result<Self, Rejected> {
        match message {
            Message::Text(t) => Ok(t),
            Message::Binary(_) => Err(wrong_kind("text")),
        }
    }
}

impl FromMessage for Bytes {
    fn from_message(message: Message) -> Result<Self, Rejected> {
        match message {
            Message::Binary(b) => Ok(b),
            Message::Text(_) => Err(wrong_kind("binary")),
        }
    }
}

impl FromMessage for Vec<u8> {
    fn from_message(message: Message) -> Result<Self, Rejected> {
        Bytes::from_message(message).map(Vec::from)
    }
}

impl<T: DeserializeOwned> FromMessage for Json<T> {
    fn from_message(message: Message) -> Result<Self, Rejected> {
        serde_json::from_slice(message.as_bytes())
            .map(Json)
            .map_err(|e| {
                let mut reason = format!("invalid JSON: {e}");
                crate::connection::close::truncate_reason(&mut reason);
                Rejected { code: 1007, reason }
            })
    }
}
