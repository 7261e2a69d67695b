//! The connection driver: one task per connection runs the hooks and the
//! socket's I/O side by side, with no task hop, lock or copy per message.
//!
//! [`Io`] owns the [`Engine`] and is polled by hand: it encodes what `send`
//! queued (every queued message, then one flush), reads up to `max_queue`
//! messages ahead of the `message` hook, answers pings and sends its own,
//! and runs the closing handshake under `close_timeout`. While a hook runs,
//! [`drive`] polls the hook and then the I/O in the same task, so a slow hook
//! still has its pongs read and its sends written.

use crate::engine::{Engine, ReadError};
use crate::frame::{Incoming, PING, PONG};
use crate::message::{Message, Text};
use crate::request::Request;
use crate::security::Slot;
use crate::serve::{LiveGuard, Runtime};
use crate::server::{HookError, Hooks};
use crate::socket::{truncate_reason, Command, Shared, Socket, CURRENT};
use crate::stats::Local;
use crate::Limits;
use futures_util::FutureExt;
use hyper::upgrade::OnUpgrade;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{sleep, Instant, Sleep};
use tracing::Instrument;

/// Most frames read or written in one poll before yielding to other tasks.
const BUDGET: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent a close frame; reading on until the peer's answer, the end
    /// of the stream, or `close_timeout`.
    Closing,
    /// The peer closed and our answer is queued: end once it is written.
    Answered,
    Ended,
}

/// What [`Io::poll_io`] has for the hook loop.
pub(crate) enum Event {
    Message(Message),
    Ended,
}

pub(crate) struct Io {
    engine: Option<Engine>,
    shared: Arc<Shared>,
    /// Commands taken from the outbox in one lock, handled in order.
    pending: VecDeque<Command>,
    inbox: VecDeque<Message>,
    max_queue: usize,
    write_limit: usize,
    unflushed: bool,
    /// A protocol failure seen after the messages still in the inbox: the
    /// close goes out once the hook has handled them (Autobahn's strict order).
    pending_fail: Option<crate::frame::Fail>,
    /// After a protocol failure: send the close, FIN, and drain input.
    failed: bool,
    state: State,
    ping_interval: Option<Duration>,
    ping_timeout: Option<Duration>,
    close_timeout: Duration,
    next_ping: Option<Pin<Box<Sleep>>>,
    pong_deadline: Option<Pin<Box<Sleep>>>,
    ping: Option<(u32, Instant)>,
    pings_sent: u32,
    close_deadline: Option<Pin<Box<Sleep>>>,
    /// The close code of the connection, for the log: the peer's, or ours.
    pub(crate) close_code: Option<u16>,
    /// Messages and bytes, added to the app's counters in batches.
    pub(crate) counts: Local,
}

impl Io {
    pub(crate) fn new(engine: Engine, shared: Arc<Shared>, limits: &Limits, draining: bool) -> Io {
        let mut io = Io {
            engine: Some(engine),
            pending: VecDeque::new(),
            shared,
            inbox: VecDeque::new(),
            max_queue: limits.max_queue.unwrap_or(usize::MAX).max(1),
            write_limit: limits.write_limit.max(1),
            unflushed: false,
            pending_fail: None,
            failed: false,
            state: State::Open,
            ping_interval: limits.ping_interval,
            ping_timeout: limits.ping_timeout,
            close_timeout: limits.effective_close_timeout(),
            next_ping: limits.ping_interval.map(|every| Box::pin(sleep(every))),
            pong_deadline: None,
            ping: None,
            pings_sent: 0,
            close_deadline: None,
            close_code: None,
            counts: Local::default(),
        };
        if draining {
            io.start_close(1001, "server shutting down");
        }
        io
    }

    /// Drives the socket. With `want_message`, returns the next received
    /// message as soon as there is one; returns `Ended` once the connection
    /// is over and (when asked) every queued message is taken.
    pub(crate) fn poll_io(&mut self, cx: &mut Context<'_>, want_message: bool) -> Poll<Event> {
        if want_message && self.inbox.is_empty() {
            if let Some(fail) = self.pending_fail.take() {
                self.start_close(fail.0, fail.1);
                self.failed = true;
            }
        }
        if self.state != State::Ended {
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
                // Once a full buffer is written out, take more from the queue.
                if !(self.poll_flush(cx) && backpressured) {
                    break;
                }
                if round == 16 {
                    cx.waker().wake_by_ref();
                    break;
                }
            }
        }
        // A close started during this poll armed a deadline that has not
        // been polled yet: poll it now so its timer wakes this task.
        if let Some(deadline) = self.close_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                self.end();
            }
        }
        if want_message {
            if let Some(message) = self.inbox.pop_front() {
                return Poll::Ready(Event::Message(message));
            }
        }
        if self.state == State::Ended {
            return Poll::Ready(Event::Ended);
        }
        Poll::Pending
    }

    /// Starts the closing handshake from the server's side (hook error, bad
    /// frame, keepalive timeout, `close()`, shutdown).
    pub(crate) fn start_close(&mut self, code: u16, reason: &str) {
        if self.state != State::Open {
            return;
        }
        self.state = State::Closing;
        self.close_code = Some(code);
        // A bad frame already seen: the input cannot be parsed for the
        // peer's answer, so FIN and drain instead.
        if self.pending_fail.take().is_some() {
            self.failed = true;
        }
        self.mark_closing();
        self.inbox.clear();
        match self.engine.as_mut() {
            Some(engine) => {
                // What was sent before the close goes out before it.
                let queued = std::mem::take(&mut self.pending);
                let rest = std::iter::from_fn(|| self.shared.outbox.try_pop());
                for command in queued.into_iter().chain(rest) {
                    if let Command::Send(message) = command {
                        let (opcode, payload) = message.wire();
                        engine.queue(opcode, payload);
                        self.shared
                            .queued
                            .fetch_sub(message.len(), Ordering::AcqRel);
                    }
                }
                engine.queue_close(code, reason);
                self.unflushed = true;
                self.close_deadline = Some(Box::pin(sleep(self.close_timeout)));
            }
            None => self.end(),
        }
    }

    fn mark_closing(&self) {
        if !self.shared.closing.swap(true, Ordering::AcqRel) {
            self.shared.drained.notify_waiters();
        }
    }

    fn end(&mut self) {
        self.state = State::Ended;
        self.engine = None; // closes the TCP connection
        self.close_deadline = None;
        self.next_ping = None;
        self.pong_deadline = None;
        self.mark_closing();
        self.shared.outbox.close();
    }

    /// Encodes queued messages; returns whether it stopped because the
    /// write buffer reached `write_limit`.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        for _ in 0..BUDGET {
            let Some(engine) = self.engine.as_mut() else {
                return false;
            };
            // Backpressure: above write_limit, write out before taking more.
            if engine.buffered() >= self.write_limit {
                return true;
            }
            let command = match self.pending.pop_front() {
                Some(command) => command,
                None if self.shared.outbox.poll_take(cx, &mut self.pending) => continue,
                None => return false,
            };
            match command {
                Command::Send(message) => {
                    let len = message.len();
                    if self.state == State::Open {
                        let (opcode, payload) = message.wire();
                        engine.queue(opcode, payload);
                        self.unflushed = true;
                        self.counts.messages_out += 1;
                        self.counts.bytes_out += len as u64;
                        if self.counts.tick() {
                            self.shared.hub.inner.counters.flush(&mut self.counts);
                        }
                    }
                    let before = self.shared.queued.fetch_sub(len, Ordering::AcqRel);
                    if before > self.shared.write_limit && before - len <= self.shared.write_limit {
                        self.shared.drained.notify_waiters();
                    }
                }
                Command::Close(code, reason) => self.start_close(code, &reason),
            }
        }
        cx.waker().wake_by_ref();
        false
    }

    /// Writes the buffer out; returns whether it is all written.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.unflushed {
            return true;
        }
        let Some(engine) = self.engine.as_mut() else {
            return false;
        };
        match engine.poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                if self.state == State::Answered {
                    self.end(); // the server closes the TCP connection first
                } else if self.failed {
                    let _ = engine.poll_shutdown(cx);
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
            if self.state == State::Open && self.inbox.len() >= self.max_queue {
                return; // backpressure: TCP slows the client until the hook catches up
            }
            if matches!(self.state, State::Answered | State::Ended) || self.pending_fail.is_some() {
                return;
            }
            let Some(engine) = self.engine.as_mut() else {
                return;
            };
            if self.failed {
                if engine.poll_discard(cx).is_ready() {
                    self.end();
                }
                return;
            }
            match engine.poll_next(cx) {
                Poll::Pending => return,
                Poll::Ready(Ok(incoming)) => self.on_incoming(incoming),
                Poll::Ready(Err(ReadError::Fail(fail))) if self.state == State::Open => {
                    // Messages read before the bad frame are still handled.
                    self.pending_fail = Some(fail);
                    if self.inbox.is_empty() {
                        cx.waker().wake_by_ref();
                    }
                    return;
                }
                Poll::Ready(Err(ReadError::Fail(_))) => return self.end(),
                Poll::Ready(Err(ReadError::Gone)) => return self.end(),
            }
        }
        cx.waker().wake_by_ref();
    }

    fn on_incoming(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Data { text, payload } => {
                self.counts.messages_in += 1;
                self.counts.bytes_in += payload.len() as u64;
                if self.counts.tick() {
                    self.shared.hub.inner.counters.flush(&mut self.counts);
                }
                if self.state == State::Open {
                    self.inbox.push_back(if text {
                        Message::Text(Text::from_utf8_checked(payload))
                    } else {
                        Message::Binary(payload)
                    });
                }
            }
            Incoming::Ping(payload) => {
                if let (State::Open, Some(engine)) = (self.state, self.engine.as_mut()) {
                    engine.queue(PONG, &payload);
                    self.unflushed = true;
                }
            }
            Incoming::Pong(payload) => {
                if let Some((id, sent)) = self.ping {
                    if payload[..] == id.to_be_bytes() {
                        let rtt = sent.elapsed().as_micros().max(1) as u64;
                        self.shared.latency_us.store(rtt, Ordering::Relaxed);
                        self.ping = None;
                        self.pong_deadline = None;
                    }
                }
            }
            Incoming::Close { code, .. } => match self.state {
                State::Open => {
                    self.state = State::Answered;
                    self.close_code = Some(code);
                    self.mark_closing();
                    match self.engine.as_mut() {
                        Some(engine) => {
                            engine.queue_close(code, "");
                            self.unflushed = true;
                            self.close_deadline = Some(Box::pin(sleep(self.close_timeout)));
                        }
                        None => self.end(),
                    }
                }
                // The answer to our close: the handshake is complete.
                // The answer to our close: the handshake is complete. Our
                // close frame may still be unwritten (both sides closed at
                // once): write it out first.
                _ if self.unflushed => self.state = State::Answered,
                _ => self.end(),
            },
        }
    }

    fn poll_timers(&mut self, cx: &mut Context<'_>) {
        if let Some(deadline) = self.close_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return self.end();
            }
        }
        if self.state != State::Open {
            return;
        }
        // While max_queue pauses reading, a pong may sit unread: the
        // deadline waits until reading resumes (poll_read runs first).
        let paused = self.inbox.len() >= self.max_queue;
        if let Some(deadline) = self.pong_deadline.as_mut() {
            if !paused && deadline.as_mut().poll(cx).is_ready() {
                return self.start_close(1011, "keepalive ping timeout");
            }
        }
        if let (Some(next), Some(every)) = (self.next_ping.as_mut(), self.ping_interval) {
            if next.as_mut().poll(cx).is_ready() {
                next.as_mut().reset(Instant::now() + every);
                let _ = next.as_mut().poll(cx);
                if let Some(engine) = self.engine.as_mut() {
                    engine.release_idle_buffers();
                }
                self.send_ping(cx);
            }
        }
    }

    fn send_ping(&mut self, cx: &mut Context<'_>) {
        self.pings_sent = self.pings_sent.wrapping_add(1);
        let id = self.pings_sent;
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        engine.queue(PING, &id.to_be_bytes());
        self.unflushed = true;
        match self.ping {
            None => {
                self.ping = Some((id, Instant::now()));
                if let Some(timeout) = self.ping_timeout {
                    let mut deadline = Box::pin(sleep(timeout));
                    let _ = deadline.as_mut().poll(cx);
                    self.pong_deadline = Some(deadline);
                }
            }
            // Still waiting for an earlier pong: keep its deadline, expect this id.
            Some((_, sent)) => self.ping = Some((id, sent)),
        }
    }
}

/// Polls `hook` to completion while keeping the connection's I/O going.
/// A panic in the hook is caught and returned as `Err`.
async fn drive<F: Future>(io: &mut Io, hook: F) -> std::thread::Result<F::Output> {
    let mut hook = pin!(AssertUnwindSafe(hook).catch_unwind());
    poll_fn(move |cx| {
        if let Poll::Ready(out) = hook.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        let _ = io.poll_io(cx, false);
        Poll::Pending
    })
    .await
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

/// Handles a hook's outcome; returns whether the connection goes on.
fn settle(
    io: &mut Io,
    outcome: std::thread::Result<Result<(), HookError>>,
    hook: &str,
    request: &Request,
) -> bool {
    let (code, mut reason) = match outcome {
        Ok(Ok(())) => return true,
        Ok(Err(HookError::Rejected(rejected))) => (rejected.code, rejected.reason),
        Ok(Err(HookError::Failed(error))) => {
            // The error is for the log; the client sees a generic reason, so
            // internal details do not leak into close frames.
            tracing::error!(path = request.path(), client = ?request.client(), hook, %error, "hook failed");
            (1011, "internal error".to_owned())
        }
        Err(panic) => {
            let error = panic_message(&*panic);
            tracing::error!(path = request.path(), client = ?request.client(), hook, %error, "hook panicked");
            (1011, "internal error".to_owned())
        }
    };
    truncate_reason(&mut reason);
    io.start_close(code, &reason);
    false
}

/// What the handshake hands to the connection task, in one box so the
/// task's future stays small (an async fn's arguments are stored twice).
pub(crate) struct Pending<T: Hooks> {
    pub(crate) handler: T,
    pub(crate) request: Request,
    pub(crate) ex: T::Extracted,
    pub(crate) slot: Slot,
    pub(crate) runtime: Arc<Runtime>,
}

/// One open connection's state, boxed once; hooks borrow its fields.
struct Conn<T: Hooks> {
    handler: T,
    request: Request,
    ex: T::Extracted,
    io: Io,
    runtime: Arc<Runtime>,
    started: std::time::Instant,
    _slot: Slot,
    _live: LiveGuard,
}

/// The connection task: waits for hyper to hand over the upgraded stream,
/// then runs the connection in its own tracing span.
pub(crate) async fn start<T: Hooks>(on_upgrade: OnUpgrade, pending: Box<Pending<T>>) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => return tracing::debug!(%error, "upgrade failed"),
    };
    let Pending {
        handler,
        request,
        ex,
        slot,
        runtime,
    } = *pending;
    let limits = T::LIMITS;
    let engine = Engine::new(upgraded, limits.max_size, limits.read_limit);
    let socket = Socket::new(limits.write_limit, runtime.hub.clone());
    let (live, draining) = runtime.track(&socket, T::PATH);
    runtime.hub.inner.counters.opened();
    let io = Io::new(engine, socket.shared.clone(), &limits, draining);
    // One span per connection: every line logged while it runs (hook
    // errors included) carries its id, client, path and subprotocol.
    let span = tracing::info_span!(
        "ws",
        id = socket.id(),
        client = %request.client().map_or_else(|| "-".to_owned(), |c| c.to_string()),
        path = %request.path(),
        subprotocol = %request.subprotocol().unwrap_or("-"),
    );
    let mut conn = Box::new(Conn {
        handler,
        request,
        ex,
        io,
        runtime,
        started: std::time::Instant::now(),
        _slot: slot,
        _live: live,
    });
    let run = CURRENT.scope(socket, run(&mut conn));
    if span.is_disabled() {
        run.await; // no span to enter on every poll
    } else {
        run.instrument(span).await;
    }
}

/// Runs one connection from the upgrade to the end: `connection`, then
/// `message` for each message in order, then `disconnection`, exactly once.
async fn run<T: Hooks>(conn: &mut Conn<T>) {
    tracing::info!("connected");
    let outcome = drive(
        &mut conn.io,
        conn.handler.__connection(&conn.request, &mut conn.ex),
    )
    .await;
    let mut open = settle(&mut conn.io, outcome, "connection", &conn.request);
    while open {
        match poll_fn(|cx| conn.io.poll_io(cx, true)).await {
            Event::Message(message) => {
                let hook = conn.handler.__message(&conn.request, &mut conn.ex, message);
                let outcome = drive(&mut conn.io, hook).await;
                open = settle(&mut conn.io, outcome, "message", &conn.request);
            }
            Event::Ended => break,
        }
    }
    // Finish the closing handshake (bounded by close_timeout) first.
    poll_fn(|cx| match conn.io.poll_io(cx, false) {
        Poll::Ready(_) => Poll::Ready(()),
        Poll::Pending => Poll::Pending,
    })
    .await;
    let done =
        AssertUnwindSafe(conn.handler.__disconnection(&conn.request, &mut conn.ex)).catch_unwind();
    if let Err(panic) = done.await {
        let error = panic_message(&*panic);
        tracing::error!(hook = "disconnection", %error, "hook panicked");
    }
    let code = conn.io.close_code.unwrap_or(1006);
    conn.runtime
        .hub
        .inner
        .counters
        .ended(code, &mut conn.io.counts);
    tracing::info!(code, duration = ?conn.started.elapsed(), "disconnected");
}
