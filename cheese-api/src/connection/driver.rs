//! The I/O side of one connection, on axum's [`WebSocket`]: the protocol
//! (framing, masking, UTF-8, pong and close replies) is tungstenite's; this
//! module holds the framework's promises on top of it.
//!
//! [`Io`] is polled by hand from the connection's one task. It hands what
//! `send` queued to the socket with `feed` semantics (`poll_ready` +
//! `start_send`, no system call per message) and flushes once per burst,
//! when the next read would wait; it reads up to `max_queue` messages ahead
//! of the `message` hook and then stops polling the stream (TCP
//! backpressure); it sends the pings of its [`Keepalive`]; and it plays its
//! side of the closing handshake as its [`Close`] says (what the phases are
//! and who reads them: [`close`](crate::connection::close)).

use crate::connection::close::{By, Close, Request};
use crate::connection::fifo::Fifo;
use crate::connection::keepalive::{Keepalive, Tick};
use crate::connection::socket::Shared;
use crate::message::{Message, Text};
use crate::stats::Local;
use crate::Limits;
use axum::extract::ws::{self, WebSocket};
use futures_util::{Sink, Stream};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Most messages read or handed to the socket in one poll before yielding.
const BUDGET: usize = 128;

/// What [`Io::poll_io`] has for the hook loop.
pub(crate) enum Event {
    Message(Message),
    Ended,
}

pub(crate) struct Io {
    ws: Option<WebSocket>,
    shared: Arc<Shared>,
    /// The waker reads are polled with: it marks the socket readable, then
    /// wakes the task (see [`Shared::readable`]).
    read_waker: Waker,
    /// Messages taken from the outbox in one lock, handed over in order
    /// (before our close frame, if one is due).
    pending: Fifo,
    /// A ping to send (its id) at the next chance.
    ping_due: Option<u32>,
    inbox: Fifo,
    max_queue: usize,
    unflushed: bool,
    /// The closing handshake: its phase, who started it, its deadline.
    pub(crate) close: Close,
    keepalive: Keepalive,
    /// Messages and bytes, added to the app's counters in batches.
    pub(crate) counts: Local,
}

impl Io {
    /// The I/O side of a connection just opened on the route `route`
    /// (counted in the app's counters from now on).
    pub(crate) fn new(
        ws: WebSocket,
        shared: Arc<Shared>,
        limits: &'static Limits,
        route: &'static str,
        draining: bool,
    ) -> Io {
        let counts = shared.runtime.counters.opened(route);
        let mut io = Io {
            ws: Some(ws),
            read_waker: Waker::from(shared.clone()),
            shared,
            pending: Fifo::default(),
            ping_due: None,
            inbox: Fifo::default(),
            max_queue: limits.max_queue.unwrap_or(usize::MAX).max(1),
            unflushed: false,
            close: Close::new(limits.effective_close_timeout()),
            keepalive: Keepalive::new(limits),
            counts,
        };
        if draining {
            io.begin_close(1001, "server shutting down", By::Shutdown);
        }
        io
    }

    /// The connection is over: adds its last counts and its close to the
    /// app's counters, and says how it closed (code, and who started it).
    pub(crate) fn count_end(&mut self) -> (u16, Option<By>) {
        let (code, by) = self.close.outcome();
        self.shared
            .runtime
            .counters
            .ended(code, by, &mut self.counts);
        (code, by)
    }

    /// Drives the socket. With `want_message`, returns the next received
    /// message as soon as there is one; returns `Ended` once the connection
    /// is over and (when asked) every queued message is taken.
    pub(crate) fn poll_io(&mut self, cx: &mut Context<'_>, want_message: bool) -> Poll<Event> {
        // Woken by the outbox and by the read waker.
        self.shared.outbox.register(cx.waker());
        self.take_outbox();
        if want_message && self.inbox.is_empty() {
            // A bad frame's close, now that what was read before it is handled.
            if let Some(failure) = self.close.failure() {
                let Request { code, reason, by } = failure.clone();
                self.begin_close(code, &reason, by);
            }
        }
        if !self.close.is_ended() {
            self.poll_write(cx);
            self.poll_read(cx);
            self.poll_timers(cx);
            for round in 0.. {
                let backpressured = self.poll_write(cx);
                // Flush once per burst: while the hook loop has more received
                // messages to handle at once, their replies stay buffered.
                if want_message && !self.inbox.is_empty() && !backpressured {
                    break;
                }
                // Once a blocked socket takes the buffer, hand over more.
                if !(self.poll_flush(cx) && backpressured) {
                    break;
                }
                if round == 16 {
                    cx.waker().wake_by_ref();
                    break;
                }
            }
        }
        // The close deadline, polled last: a close started anywhere in this
        // poll has its timer armed before the task waits.
        if self.close.poll_deadline(cx) {
            self.end();
        }
        if want_message {
            if let Some(message) = self.inbox.pop_front() {
                return Poll::Ready(Event::Message(message));
            }
        }
        if self.close.is_ended() {
            return Poll::Ready(Event::Ended);
        }
        Poll::Pending
    }

    /// Starts the closing handshake from the server's side, on the driver's
    /// task (a hook's error, a bad frame, a keepalive timeout, shutdown at
    /// the start): the same way in as `close()` and other tasks take
    /// ([`Shared::begin_close`]), then acted on at once. The first close
    /// wins; once one has started, this does nothing.
    pub(crate) fn begin_close(&mut self, code: u16, reason: &str, by: By) {
        if self.close.is_open() {
            self.shared.begin_close(code, reason, by, false);
            self.take_outbox();
        }
    }

    /// Takes what was queued while open; a close requested starts our side
    /// of the handshake at once (its deadline too, whether or not the
    /// socket takes writes), after the messages queued before it, and
    /// drops what was read but not yet handled.
    fn take_outbox(&mut self) {
        if self.close.is_open() {
            if let Some(request) = self.shared.outbox.take(&mut self.pending) {
                self.close.start(request);
                self.inbox.clear();
            }
        }
    }

    fn end(&mut self) {
        self.close.end();
        self.keepalive.stop();
        self.ws = None; // closes the TCP connection
        self.pending.clear();
        self.shared.stop_sending();
        self.shared.outbox.clear();
    }

    /// Whether there is something to hand to the engine.
    fn has_outgoing(&mut self) -> bool {
        if self.pending.is_empty() {
            self.take_outbox();
        }
        self.close.writes_allowed()
            && (self.ping_due.is_some() || !self.pending.is_empty() || self.close.has_frame())
    }

    /// The next frame to hand to the engine: a due ping first, then queued
    /// messages in order, then our close frame.
    fn next_outgoing(&mut self) -> Option<ws::Message> {
        if let Some(id) = self.ping_due.take() {
            return Some(ws::Message::Ping(id.to_be_bytes().to_vec().into()));
        }
        if let Some(message) = self.pending.pop_front() {
            let len = message.len();
            let before = self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            let limit = self.shared.write_limit;
            if before > limit && before - len <= limit {
                self.shared.drained.notify_waiters();
            }
            self.counts.messages_out += 1;
            self.counts.bytes_out += len as u64;
            if self.counts.tick() {
                self.shared.runtime.counters.flush(&mut self.counts);
            }
            return Some(message.into_ws());
        }
        self.close.take_frame()
    }

    /// Hands queued messages to the engine while it takes them; returns
    /// whether it stopped because the socket does not take more (the write
    /// buffer is past its size and the peer is not reading).
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        for _ in 0..BUDGET {
            if !self.has_outgoing() {
                return false;
            }
            let Some(ws) = self.ws.as_mut() else {
                return false;
            };
            match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Pending => return true,
                Poll::Ready(Err(_)) => {
                    self.end();
                    return false;
                }
                Poll::Ready(Ok(())) => {}
            }
            let Some(message) = self.next_outgoing() else {
                return false;
            };
            let Some(ws) = self.ws.as_mut() else {
                return false;
            };
            if Pin::new(ws).start_send(message).is_err() {
                self.end();
                return false;
            }
            self.unflushed = true;
        }
        cx.waker().wake_by_ref();
        false
    }

    /// Writes everything handed over out; returns whether it is all written.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.unflushed {
            return true;
        }
        let Some(ws) = self.ws.as_mut() else {
            return false;
        };
        match Pin::new(ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                // The server closes the TCP connection first once the
                // handshake is answered; after a failure, once our close is out.
                if self.close.ends_when_flushed() {
                    self.end();
                }
                true
            }
            Poll::Ready(Err(_)) => {
                self.end();
                false
            }
            Poll::Pending => false,
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) {
        for _ in 0..BUDGET {
            if !self.close.reads_allowed() {
                return;
            }
            if self.close.is_open() && self.inbox.len() >= self.max_queue {
                return; // backpressure: TCP slows the client until the hook catches up
            }
            // Only when there may be something to read: every read attempt
            // costs tungstenite a memset of its read buffer, and most wakes
            // of a busy sender are for its outbox, not its socket.
            if !self.shared.readable.swap(false, Ordering::AcqRel) {
                return;
            }
            let Some(ws) = self.ws.as_mut() else {
                return;
            };
            let mut read_cx = Context::from_waker(&self.read_waker);
            let polled = Pin::new(ws).poll_next(&mut read_cx);
            if polled.is_ready() {
                self.shared.readable.store(true, Ordering::Release); // maybe more buffered
            }
            match polled {
                Poll::Pending => return,
                Poll::Ready(Some(Ok(message))) => self.on_incoming(message),
                Poll::Ready(Some(Err(error))) => {
                    // While open, messages read before the bad frame are
                    // still handled before its close; else it ends here.
                    if !fail_of(error).is_some_and(|failure| self.close.fail(failure)) {
                        return self.end();
                    }
                    if self.inbox.is_empty() {
                        cx.waker().wake_by_ref();
                    }
                    return;
                }
                Poll::Ready(None) => return self.end(),
            }
        }
        cx.waker().wake_by_ref();
    }

    fn on_incoming(&mut self, message: ws::Message) {
        let data = match message {
            ws::Message::Text(text) => Message::Text(Text(text)),
            ws::Message::Binary(bytes) => Message::Binary(bytes),
            // The engine queued the pong; the next flush writes it.
            ws::Message::Ping(_) => {
                self.unflushed = true;
                return;
            }
            ws::Message::Pong(payload) => {
                if let Some(rtt) = self.keepalive.pong(&payload) {
                    self.shared.latency_us.store(rtt, Ordering::Relaxed);
                }
                return;
            }
            // The peer closes (the engine queued its reply), or it answered
            // our close: the handshake is complete once this is written.
            ws::Message::Close(frame) => {
                if self.close.peer_closed(frame.map(|f| f.code)) {
                    self.shared.stop_sending();
                }
                self.unflushed = true;
                return;
            }
        };
        self.counts.messages_in += 1;
        self.counts.bytes_in += data.len() as u64;
        if self.counts.tick() {
            self.shared.runtime.counters.flush(&mut self.counts);
        }
        if self.close.is_open() {
            self.inbox.push_back(data);
        }
    }

    /// The keepalive timers (the close deadline is polled at the end of
    /// [`poll_io`](Self::poll_io)).
    fn poll_timers(&mut self, cx: &mut Context<'_>) {
        if !self.close.is_open() {
            return;
        }
        // While max_queue pauses reading, a pong may sit unread: the
        // deadline waits until reading resumes (poll_read runs first).
        let paused = self.inbox.len() >= self.max_queue;
        match self.keepalive.poll(cx, paused) {
            Tick::Idle => {}
            Tick::Ping(id) => self.ping_due = Some(id),
            Tick::TimedOut => self.begin_close(1011, "keepalive ping timeout", By::Keepalive),
        }
    }
}

/// The read waker: tungstenite registers it when a read would wait, so its
/// wake means "readable now"; it records that and wakes the driver's task.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.readable.store(true, Ordering::Release);
        self.outbox.wake();
    }
}

/// The close that a read error calls for, or `None` when the connection is
/// simply gone (reset, end of stream).
fn fail_of(error: axum::Error) -> Option<Request> {
    use tungstenite::error::{Error, ProtocolError};
    let error = error.into_inner().downcast::<Error>().ok()?;
    let (code, reason) = match *error {
        Error::Utf8(_) => (1007, "invalid UTF-8 in a text message".to_owned()),
        Error::Capacity(_) => (1009, "message too big".to_owned()),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return None,
        Error::Protocol(error) => {
            let mut reason = error.to_string();
            crate::connection::close::truncate_reason(&mut reason);
            (1002, reason)
        }
        _ => return None,
    };
    let by = By::Protocol;
    Some(Request { code, reason, by })
}
