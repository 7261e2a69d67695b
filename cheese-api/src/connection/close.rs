//! Closing one connection, owned here: what every task may know of it
//! ([`Status`]), who starts a close ([`By`]) and with what ([`Request`]),
//! the driver's side of the closing handshake ([`Close`]), and the rules of
//! RFC 6455 for a close frame ([`validate_close`], [`truncate_reason`]).
//!
//! # One status for every task
//!
//! [`Status`] is one atomic in the connection's shared state:
//!
//! ```text
//! Open ──(a close starts: either side, or the connection ends)──> Closing ──(left the hub)──> Gone
//! ```
//!
//! `Socket::is_closed`, `send` and broadcasts read it without a lock; the
//! outbox reads it under its lock, and a server-side close moves it under
//! that same lock while it leaves its [`Request`] there, so nothing is ever
//! queued behind a close. `join` reads `Gone` under the rooms lock that
//! `leave_all` moves it under, so no dead socket stays in a room.
//!
//! # One way a close starts
//!
//! Every close the server starts (`close()`, a hook's error, a slow
//! receiver's 1013, shutdown's 1001, a keepalive timeout's 1011, a protocol
//! error's 1002/1007/1009) goes through `Shared::begin_close`: the first to
//! move the status from `Open` wins and leaves its request in the outbox;
//! later ones fail (`close()` returns `SendError::Closed`). The driver takes
//! the request with the messages queued before it, at once, even while the
//! socket takes no writes, so `close_timeout` runs for a peer that does not
//! read. The driver's own closes take the same path on its own task.
//!
//! # The driver's handshake
//!
//! ```text
//!   Open ──(a bad frame read)──> Failing
//!    │ │                            │ a request taken: its own at its turn
//!    │ │ a request taken            │ (the inbox handled), or another's
//!    │ │                            v
//!    │ └──> Closing { answer: true }    Closing { answer: false }
//!    │         │ the peer's answer         │ our close written
//!    │         v                           v
//!    └──────> Answered ──(written)──────> Ended
//!  the peer's close
//! ```
//!
//! Any phase ends at once when the socket fails, the stream ends, or the
//! `close_timeout` deadline (armed when the close starts) runs out. Reads
//! stop in `Failing` (the stream has ended with an error, but the messages
//! read before the bad frame are handled first, in order), in
//! `Closing { answer: false }` and from `Answered` on: see
//! [`Close::reads_allowed`].
//!
//! Both sides closing at once: the driver hands our close frame to the
//! engine before it reads, so ours goes out first; only while the socket
//! takes no writes can the peer's close be read first, and then the
//! engine's reply is the answer and ours is dropped unwritten.

use crate::connection::error::SendError;
use axum::extract::ws::{self, CloseFrame};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Context;
use std::time::Duration;
use tokio::time::{sleep, Sleep};

/// Who started a connection's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    /// `close()`, from a hook or a `Socket` anywhere.
    App,
    /// A hook rejected the connection or failed (1011).
    Hook,
    /// A receiver of broadcasts fell behind (1013).
    SlowReceiver,
    /// Graceful shutdown (1001).
    Shutdown,
    /// No pong within `ping_timeout` (1011).
    Keepalive,
    /// The peer broke the protocol (1002, 1007, 1009).
    Protocol,
    /// The peer sent its close frame first.
    Peer,
}

impl By {
    /// The name in the `disconnected` log line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            By::App => "app",
            By::Hook => "hook",
            By::SlowReceiver => "slow-receiver",
            By::Shutdown => "shutdown",
            By::Keepalive => "keepalive",
            By::Protocol => "protocol",
            By::Peer => "peer",
        }
    }
}

/// A close the server starts: the frame to send and who asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) by: By,
}

const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const GONE: u8 = 2;

/// The one flag of a connection's close that other tasks read (see the
/// module's doc): `Open`, `Closing` (no more sends), `Gone` (left the hub:
/// no more joins).
pub(crate) struct Status(AtomicU8);

impl Status {
    pub(crate) const fn new() -> Status {
        Status(AtomicU8::new(OPEN))
    }

    /// Whether the connection takes sends: no close has started.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire) == OPEN
    }

    /// Whether the connection has left the hub.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.load(Ordering::Acquire) == GONE
    }

    /// Open to closing; returns whether this call moved it (the close it
    /// stands for is the connection's).
    pub(crate) fn begin(&self) -> bool {
        self.0
            .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// To gone; returns whether it was still open.
    pub(crate) fn leave(&self) -> bool {
        self.0.swap(GONE, Ordering::AcqRel) == OPEN
    }
}

/// Where the driver is in the closing handshake (see the module's doc).
#[derive(Debug)]
enum Phase {
    Open,
    /// A bad frame ended the stream; its close waits until the hook has
    /// handled the messages read before it (Autobahn's strict order).
    Failing(Box<Request>),
    /// Our close frame goes out after what was queued before it (`frame`
    /// until it is handed to the engine). With `answer`, reads go on until
    /// the peer's close; without (the stream failed), the connection ends
    /// once our frame is written.
    Closing {
        frame: Option<Box<(u16, String)>>,
        answer: bool,
    },
    /// The handshake is answered (the engine queued its reply to the peer's
    /// close, or the peer answered ours): end once it is written.
    Answered,
    Ended,
}

/// The driver's closing handshake: its phase, who started it with which
/// code, and the `close_timeout` deadline that bounds it. The phases' texts
/// are boxed: every open connection keeps a `Close`, only a closing one
/// needs them.
pub(crate) struct Close {
    phase: Phase,
    /// Who started the close and its code (ours, or the peer's).
    started: Option<(By, u16)>,
    deadline: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
}

impl Close {
    pub(crate) fn new(timeout: Duration) -> Close {
        Close {
            phase: Phase::Open,
            started: None,
            deadline: None,
            timeout,
        }
    }

    /// No close has started (a bad frame's close may be waiting its turn):
    /// the keepalive runs, and the outbox is taken.
    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Failing(_))
    }

    /// Whether the socket is read: while open, and while closing with an
    /// answer to wait for. The one place "stop reading" is decided.
    #[inline]
    pub(crate) fn reads_allowed(&self) -> bool {
        matches!(
            self.phase,
            Phase::Open | Phase::Closing { answer: true, .. }
        )
    }

    /// Whether frames are handed to the engine: until the handshake is
    /// answered.
    #[inline]
    pub(crate) fn writes_allowed(&self) -> bool {
        !matches!(self.phase, Phase::Answered | Phase::Ended)
    }

    pub(crate) fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended)
    }

    /// Whether our close frame waits to be handed to the engine.
    pub(crate) fn has_frame(&self) -> bool {
        matches!(self.phase, Phase::Closing { frame: Some(_), .. })
    }

    /// Our close frame, once: it goes after everything queued before it.
    pub(crate) fn take_frame(&mut self) -> Option<ws::Message> {
        let Phase::Closing { frame, .. } = &mut self.phase else {
            return None;
        };
        let (code, reason) = *frame.take()?;
        let reason = reason.into();
        Some(ws::Message::Close(Some(CloseFrame { code, reason })))
    }

    /// Whether the connection ends once what was handed over is written:
    /// the handshake is answered, or our close is out and no answer can be
    /// read.
    pub(crate) fn ends_when_flushed(&self) -> bool {
        matches!(
            self.phase,
            Phase::Answered
                | Phase::Closing {
                    frame: None,
                    answer: false
                }
        )
    }

    /// A bad frame was read: reads stop, and `request` waits for its turn.
    /// False when a close had started already (then the connection ends).
    pub(crate) fn fail(&mut self, request: Request) -> bool {
        if !matches!(self.phase, Phase::Open) {
            return false;
        }
        self.phase = Phase::Failing(Box::new(request));
        true
    }

    /// The close a bad frame calls for, waiting for its turn.
    pub(crate) fn failure(&self) -> Option<&Request> {
        match &self.phase {
            Phase::Failing(request) => Some(request),
            _ => None,
        }
    }

    /// Starts our side of the handshake with the request taken from the
    /// outbox, and its deadline. Nothing happens once a close has started.
    pub(crate) fn start(&mut self, request: Request) {
        let answer = match self.phase {
            Phase::Open => true,
            Phase::Failing(_) => false,
            _ => return,
        };
        self.started = Some((request.by, request.code));
        self.phase = Phase::Closing {
            frame: Some(Box::new((request.code, request.reason))),
            answer,
        };
        self.arm();
    }

    /// The peer's close arrived: the handshake is answered. Returns whether
    /// the peer started it (then its deadline starts now).
    pub(crate) fn peer_closed(&mut self, code: Option<u16>) -> bool {
        let first = matches!(self.phase, Phase::Open);
        if first {
            self.started = Some((By::Peer, code.unwrap_or(1005)));
            self.arm();
        }
        self.phase = Phase::Answered;
        first
    }

    fn arm(&mut self) {
        self.deadline = Some(Box::pin(sleep(self.timeout)));
    }

    /// Polls the `close_timeout` deadline; true once it has run out.
    pub(crate) fn poll_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        match self.deadline.as_mut() {
            Some(deadline) => deadline.as_mut().poll(cx).is_ready(),
            None => false,
        }
    }

    pub(crate) fn end(&mut self) {
        self.phase = Phase::Ended;
        self.deadline = None;
    }

    /// The close code for the log and the counters (1006: the connection
    /// ended with no close from either side), and who started the close.
    pub(crate) fn outcome(&self) -> (u16, Option<By>) {
        match self.started {
            Some((by, code)) => (code, Some(by)),
            None => (1006, None),
        }
    }
}

/// Checks a close code and reason against RFC 6455.
pub(crate) fn validate_close(code: u16, reason: &str) -> Result<(), SendError> {
    let code_ok = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !code_ok {
        return Err(SendError::InvalidClose(format!(
            "close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999"
        )));
    }
    if reason.len() > 123 {
        return Err(SendError::InvalidClose(format!(
            "close reason is {} bytes; at most 123 fit in a close frame",
            reason.len()
        )));
    }
    Ok(())
}

/// Cuts a reason to at most 123 bytes on a character boundary.
pub(crate) fn truncate_reason(reason: &mut String) {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(code: u16, by: By) -> Request {
        Request {
            code,
            reason: "why".to_owned(),
            by,
        }
    }

    fn close() -> Close {
        Close::new(Duration::from_secs(10))
    }

    #[test]
    fn status_moves_forward_once() {
        let status = Status::new();
        assert!(status.is_open());
        assert!(status.begin(), "the first close wins");
        assert!(!status.begin(), "a second close does not");
        assert!(!status.is_open() && !status.is_gone());
        assert!(!status.leave(), "it was closing already");
        assert!(status.is_gone() && !status.begin());
        assert!(Status::new().leave(), "left while open");
    }

    #[tokio::test]
    async fn our_close_then_the_answer() {
        let mut c = close();
        assert!(c.is_open() && c.reads_allowed() && !c.has_frame());
        c.start(request(4000, By::App));
        assert!(!c.is_open() && c.reads_allowed() && c.has_frame());
        assert!(!c.ends_when_flushed(), "our close is not written yet");
        let Some(ws::Message::Close(Some(frame))) = c.take_frame() else {
            panic!("no close frame");
        };
        assert_eq!((frame.code, frame.reason.as_str()), (4000, "why"));
        assert!(c.take_frame().is_none(), "sent once");
        assert!(!c.ends_when_flushed(), "the peer's answer is awaited");
        c.start(request(1001, By::Shutdown));
        assert_eq!(
            c.outcome(),
            (4000, Some(By::App)),
            "a later close is ignored"
        );
        assert!(
            !c.peer_closed(Some(1000)),
            "an answer, not a close of the peer's"
        );
        assert!(!c.reads_allowed() && !c.writes_allowed() && c.ends_when_flushed());
        assert_eq!(c.outcome(), (4000, Some(By::App)));
    }

    #[tokio::test]
    async fn the_peer_closes_first() {
        let mut c = close();
        assert!(c.peer_closed(None));
        assert_eq!(c.outcome(), (1005, Some(By::Peer)));
        assert!(!c.reads_allowed() && !c.writes_allowed() && c.ends_when_flushed());
        assert!(c.deadline.is_some(), "close_timeout bounds the reply too");
    }

    #[tokio::test]
    async fn a_bad_frame_waits_its_turn_and_expects_no_answer() {
        let mut c = close();
        assert!(c.fail(request(1002, By::Protocol)));
        assert!(c.is_open() && !c.reads_allowed() && c.writes_allowed());
        assert_eq!(c.failure().map(|r| r.code), Some(1002));
        assert!(!c.fail(request(1007, By::Protocol)), "one failure");
        // A close asked for meanwhile (or the failure's own turn) starts it.
        c.start(request(1011, By::Hook));
        assert!(c.failure().is_none() && !c.reads_allowed());
        assert!(!c.ends_when_flushed(), "our close is not written yet");
        c.take_frame().unwrap();
        assert!(c.ends_when_flushed(), "no answer can be read");
        assert_eq!(c.outcome(), (1011, Some(By::Hook)));
    }

    #[tokio::test]
    async fn the_deadline_runs_from_the_start() {
        let mut c = Close::new(Duration::from_millis(20));
        let started = std::time::Instant::now();
        assert!(!std::future::poll_fn(|cx| std::task::Poll::Ready(c.poll_deadline(cx))).await);
        c.start(request(1000, By::App));
        std::future::poll_fn(|cx| match c.poll_deadline(cx) {
            true => std::task::Poll::Ready(()),
            false => std::task::Poll::Pending,
        })
        .await;
        assert!(started.elapsed() >= Duration::from_millis(20));
        c.end();
        assert!(c.is_ended() && !c.writes_allowed() && !c.reads_allowed());
        assert_eq!(close().outcome(), (1006, None), "ended with no close");
    }

    #[test]
    fn close_codes() {
        for ok in [1000, 1003, 1007, 1014, 3000, 4999] {
            assert!(validate_close(ok, "").is_ok(), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert!(validate_close(bad, "").is_err(), "{bad}");
        }
        assert!(validate_close(1000, &"x".repeat(124)).is_err());
    }

    #[test]
    fn truncation_keeps_utf8() {
        let mut s = "é".repeat(100);
        truncate_reason(&mut s);
        assert!(s.len() <= 123);
        assert!(s.ends_with("..."));
    }
}
