//! The eight connection limits of a route, with CheeseAPI's (and the Python
//! `websockets` library's) defaults.
//!
//! Set them in the attribute, `#[websocket("/", max_size = 65536, ping_interval = None)]`;
//! every key not given keeps its default and `T::LIMITS` shows the resolved values.

use std::time::Duration;

/// The limits of one WebSocket route.
///
/// Each field maps to the parameter of the same name of the Python
/// `websockets` library's `serve()`, which CheeseAPI's `WebsocketServer`
/// passes through. Timeouts are [`Duration`]s; `None` disables a limit where
/// the library allows it.
///
/// ```
/// use cheese_api::prelude::*;
///
/// #[derive(Default)]
/// struct Small;
///
/// #[websocket("/small", max_size = 1024, ping_interval = None)]
/// impl Small {}
///
/// assert_eq!(Small::LIMITS.max_size, Some(1024));
/// assert_eq!(Small::LIMITS.ping_interval, None);
/// assert_eq!(Small::LIMITS.max_queue, Limits::DEFAULT.max_queue);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest time from accepting the TCP connection to a finished handshake
    /// (the `101 Switching Protocols` response), pre-upgrade hooks included.
    /// A client that is slower is dropped with no response.
    /// Default: 10 s. `websockets`: `open_timeout`.
    pub open_timeout: Option<Duration>,
    /// The server sends a ping every `ping_interval`. Default: 20 s; `None`:
    /// no pings. `websockets`: `ping_interval`.
    pub ping_interval: Option<Duration>,
    /// A ping not answered by a pong within `ping_timeout` closes the
    /// connection with 1011 "keepalive ping timeout". Pongs are read by the
    /// framework's own read loop, so a slow `message` hook never causes a
    /// false timeout. Default: 20 s; `None`: never. `websockets`: `ping_timeout`.
    pub ping_timeout: Option<Duration>,
    /// Longest wait, once a close has started, for the peer's close frame and
    /// the end of the TCP connection; then the connection is dropped.
    /// Default: `None`, which means 10 s as in the `websockets` library
    /// (CheeseAPI waited forever). `websockets`: `close_timeout`.
    pub close_timeout: Option<Duration>,
    /// Largest incoming message in bytes, whole or reassembled from
    /// fragments; a larger one closes with 1009: a single frame from its
    /// header, before its payload is read, a fragmented message as soon as
    /// its fragments add up to more. Default: 2^20 (1 MiB); `None`: messages
    /// of any size, in frames of at most 16 MiB each (the engine reserves a
    /// frame's declared length up front, so a frame must have a bound).
    /// `websockets`: `max_size`.
    pub max_size: Option<usize>,
    /// Most received messages waiting for the `message` hook; when full, the
    /// server stops reading the socket, so TCP slows the client down.
    /// Default: 2^5; `None`: unbounded. `websockets`: `max_queue`.
    pub max_queue: Option<usize>,
    /// The most the engine reads from the socket at once, ahead of parsing:
    /// each read takes at most `min(read_limit, 4 KiB)`, the read buffer
    /// every connection has from its start (tungstenite allocates and
    /// zero-fills it, so the 4 KiB cap keeps idle connections small; see
    /// docs/performance.md). A frame being read gets room for its whole
    /// length, which `max_size` bounds.
    /// Default: 2^16. `websockets`: `read_limit`.
    pub read_limit: usize,
    /// Outgoing buffer high-water mark in bytes: `send` waits while more than
    /// this is queued for the client (it never fails for a slow reader).
    /// The engine also writes out once this much is buffered.
    /// Default: 2^16. `websockets`: `write_limit`.
    pub write_limit: usize,
}

impl Limits {
    /// The defaults of CheeseAPI's `WebsocketServer` (those of the Python
    /// `websockets` library).
    pub const DEFAULT: Limits = Limits {
        open_timeout: Some(Duration::from_secs(10)),
        ping_interval: Some(Duration::from_secs(20)),
        ping_timeout: Some(Duration::from_secs(20)),
        close_timeout: None,
        max_size: Some(1 << 20),
        max_queue: Some(1 << 5),
        read_limit: 1 << 16,
        write_limit: 1 << 16,
    };

    /// What `close_timeout: None` means: 10 seconds.
    pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

    /// The close timeout in force: `close_timeout`, or 10 s when it is `None`.
    ///
    /// ```
    /// # use cheese_api::Limits;
    /// assert_eq!(Limits::DEFAULT.effective_close_timeout().as_secs(), 10);
    /// ```
    pub fn effective_close_timeout(&self) -> Duration {
        self.close_timeout.unwrap_or(Self::DEFAULT_CLOSE_TIMEOUT)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
