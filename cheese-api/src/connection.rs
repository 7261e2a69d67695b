//! The connection driver: one task per connection runs the hooks and the
//! socket's I/O side by side, with no task hop, lock or copy per message.
//!
//! [`Io`] owns the engine (axum's `WebSocket`) and is polled by hand: it
//! writes what `send` queued (feeding every queued frame, then flushing once),
//! reads up to `max_queue` messages ahead of the `message` hook, answers and
//! sends pings, and runs the closing handshake under `close_timeout`. While a
//! hook runs, [`drive`] polls the hook and then the I/O in the same task, so
//! a slow hook still has its pongs read and its sends written.

use crate::message::Message;
use crate::request::Request;
use crate::serve::Runtime;
use crate::server::{HookError, Hooks};
use crate::socket::{truncate_reason, Command, Shared, Socket, CURRENT};
use crate::Limits;
use axum::extract::ws::{self, CloseFrame, WebSocket};
use futures_util::{FutureExt, Sink, Stream};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::futures::OwnedNotified;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{sleep, Instant, Sleep};

/// Most frames read or written in one poll before yielding to other tasks.
const BUDGET: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame went one way; reading on until the peer's answer and
    /// the end of the stream, or `close_timeout`.
    Closing,
    Ended,
}

/// What [`Io::poll_io`] has for the hook loop.
pub(crate) enum Event {
    Message(Message),
    Ended,
}

pub(crate) struct Io {
    ws: Option<WebSocket>,
    rx: UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    inbox: VecDeque<Message>,
    max_queue: usize,
    unflushed: bool,
    state: State,
    ping_interval: Option<Duration>,
    ping_timeout: Option<Duration>,
    close_timeout: Duration,
    next_ping: Option<Pin<Box<Sleep>>>,
    pong_deadline: Option<Pin<Box<Sleep>>>,
    ping: Option<(u32, Instant)>,
    pings_sent: u32,
    close_deadline: Option<Pin<Box<Sleep>>>,
    /// Fires when the app starts shutting down.
    shutdown: Pin<Box<OwnedNotified>>,
    /// The close code of the connection, for the log: the peer's, or ours.
    pub(crate) close_code: Option<u16>,
}

impl Io {
    pub(crate) fn new(
        ws: WebSocket,
        rx: UnboundedReceiver<Command>,
        shared: Arc<Shared>,
        limits: &Limits,
        runtime: &Runtime,
    ) -> Io {
        let mut shutdown = Box::pin(runtime.shutdown.clone().notified_owned());
        shutdown.as_mut().enable();
        let mut io = Io {
            ws: Some(ws),
            rx,
            shared,
            inbox: VecDeque::new(),
            max_queue: limits.max_queue.unwrap_or(usize::MAX).max(1),
            unflushed: false,
            state: State::Open,
            ping_interval: limits.ping_interval,
            ping_timeout: limits.ping_timeout,
            close_timeout: limits.effective_close_timeout(),
            next_ping: limits.ping_interval.map(|every| Box::pin(sleep(every))),
            pong_deadline: None,
            ping: None,
            pings_sent: 0,
            close_deadline: None,
            shutdown,
            close_code: None,
        };
        if runtime.is_draining() {
            io.start_close(1001, "server shutting down");
        }
        io
    }

    /// Drives the socket. With `want_message`, returns the next received
    /// message as soon as there is one; always returns `Ended` once the
    /// connection is over and (when asked) every queued message is taken.
    pub(crate) fn poll_io(&mut self, cx: &mut Context<'_>, want_message: bool) -> Poll<Event> {
        if self.state != State::Ended {
            self.poll_write(cx);
            self.poll_read(cx);
            self.poll_timers(cx);
            self.poll_write(cx);
            // Flush once per burst: while the hook loop has more received
            // messages to handle at once, their replies stay buffered.
            if !want_message || self.inbox.is_empty() {
                self.poll_flush(cx);
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
    /// frame, keepalive timeout, `close()`).
    pub(crate) fn start_close(&mut self, code: u16, reason: &str) {
        if self.state != State::Open {
            return;
        }
        self.state = State::Closing;
        self.close_code = Some(code);
        self.mark_closing();
        self.inbox.clear();
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let sent = match self.ws.as_mut() {
            Some(ws) => Pin::new(ws)
                .start_send(ws::Message::Close(Some(frame)))
                .is_ok(),
            None => false,
        };
        if sent {
            self.unflushed = true;
            self.close_deadline = Some(Box::pin(sleep(self.close_timeout)));
        } else {
            self.end();
        }
    }

    fn mark_closing(&self) {
        if !self.shared.closing.swap(true, Ordering::AcqRel) {
            self.shared.drained.notify_waiters();
        }
    }

    fn end(&mut self) {
        self.state = State::Ended;
        self.ws = None; // closes the TCP connection
        self.close_deadline = None;
        self.next_ping = None;
        self.pong_deadline = None;
        self.mark_closing();
        self.rx.close();
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) {
        for _ in 0..BUDGET {
            let Some(ws) = self.ws.as_mut() else { return };
            match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return self.end(),
                Poll::Pending => return,
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(Command::Send(message))) => {
                    let len = message.len();
                    let fed = self.state != State::Open
                        || Pin::new(&mut *ws).start_send(message.into_axum()).is_ok();
                    let before = self.shared.queued.fetch_sub(len, Ordering::AcqRel);
                    if before > self.shared.write_limit && before - len <= self.shared.write_limit {
                        self.shared.drained.notify_waiters();
                    }
                    if !fed {
                        return self.end();
                    }
                    self.unflushed = true;
                }
                Poll::Ready(Some(Command::Close(code, reason))) => self.start_close(code, &reason),
                Poll::Ready(None) | Poll::Pending => return,
            }
        }
        cx.waker().wake_by_ref();
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) {
        if !self.unflushed {
            return;
        }
        let Some(ws) = self.ws.as_mut() else { return };
        match Pin::new(ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => self.unflushed = false,
            Poll::Ready(Err(_)) => self.end(),
            Poll::Pending => {}
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) {
        for _ in 0..BUDGET {
            if self.state == State::Open && self.inbox.len() >= self.max_queue {
                return; // backpressure: TCP slows the client until the hook catches up
            }
            let Some(ws) = self.ws.as_mut() else { return };
            match Pin::new(ws).poll_next(cx) {
                Poll::Pending => return,
                Poll::Ready(None) => return self.end(),
                Poll::Ready(Some(Ok(frame))) => self.on_frame(frame),
                Poll::Ready(Some(Err(error))) => match (self.state, error_close_code(error)) {
                    (State::Open, Some((code, reason))) => self.start_close(code, reason),
                    _ => return self.end(),
                },
            }
        }
        cx.waker().wake_by_ref();
    }

    fn on_frame(&mut self, frame: ws::Message) {
        match frame {
            ws::Message::Text(_) | ws::Message::Binary(_) => {
                if self.state == State::Open {
                    self.inbox.extend(Message::from_axum(frame));
                }
            }
            // The engine queues the pong; it goes out with the next flush.
            ws::Message::Ping(_) => self.unflushed = true,
            ws::Message::Pong(payload) => {
                if let Some((id, sent)) = self.ping {
                    if payload[..] == id.to_be_bytes() {
                        let rtt = sent.elapsed().as_micros().max(1) as u64;
                        self.shared.latency_us.store(rtt, Ordering::Relaxed);
                        self.ping = None;
                        self.pong_deadline = None;
                    }
                }
            }
            ws::Message::Close(frame) => {
                // The engine queues the answer to a peer's close.
                self.unflushed = true;
                if self.state == State::Open {
                    self.state = State::Closing;
                    self.close_code = Some(frame.map_or(1005, |f| f.code));
                    self.mark_closing();
                    self.close_deadline = Some(Box::pin(sleep(self.close_timeout)));
                }
            }
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
        if self.shutdown.as_mut().poll(cx).is_ready() {
            return self.start_close(1001, "server shutting down");
        }
        if let Some(deadline) = self.pong_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return self.start_close(1011, "keepalive ping timeout");
            }
        }
        if let (Some(next), Some(every)) = (self.next_ping.as_mut(), self.ping_interval) {
            if next.as_mut().poll(cx).is_ready() {
                next.as_mut().reset(Instant::now() + every);
                let _ = next.as_mut().poll(cx);
                self.send_ping(cx);
            }
        }
    }

    fn send_ping(&mut self, cx: &mut Context<'_>) {
        self.pings_sent = self.pings_sent.wrapping_add(1);
        let id = self.pings_sent;
        let Some(ws) = self.ws.as_mut() else { return };
        let payload = bytes::Bytes::copy_from_slice(&id.to_be_bytes());
        if Pin::new(ws).start_send(ws::Message::Ping(payload)).is_err() {
            return self.end();
        }
        self.unflushed = true;
        if self.ping.is_none() {
            self.ping = Some((id, Instant::now()));
            if let Some(timeout) = self.ping_timeout {
                let mut deadline = Box::pin(sleep(timeout));
                let _ = deadline.as_mut().poll(cx);
                self.pong_deadline = Some(deadline);
            }
        } else if let Some((_, sent)) = self.ping {
            // Still waiting for an earlier pong: keep its deadline, expect this id.
            self.ping = Some((id, sent));
        }
    }
}

/// The close code for an error the engine reported while reading, or `None`
/// when the connection is simply gone.
fn error_close_code(error: axum::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::{CapacityError, Error};
    let error = error.into_inner();
    let error = error.downcast_ref::<Error>()?;
    match error {
        Error::Utf8(_) => Some((1007, "invalid UTF-8 in a text message")),
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Some((1009, "message too big")),
        Error::Capacity(_) => Some((1009, "message too big")),
        Error::Protocol(p) => match p {
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake => None,
            _ => Some((1002, "protocol error")),
        },
        _ => None,
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
            tracing::error!(path = request.path(), client = ?request.client(), hook, %error, "hook failed");
            (1011, error)
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

/// Runs one connection from the upgrade to the end: `connection`, then
/// `message` for each message in order, then `disconnection`, exactly once.
pub(crate) async fn run<T: Hooks>(
    ws: WebSocket,
    mut handler: T,
    request: Request,
    mut ex: T::Extracted,
    socket: Socket,
    rx: UnboundedReceiver<Command>,
    runtime: Arc<Runtime>,
) {
    let _live = runtime.track();
    let limits = T::LIMITS;
    let mut io = Io::new(ws, rx, socket.shared.clone(), &limits, &runtime);
    let started = std::time::Instant::now();
    let id = socket.id();
    tracing::info!(id, client = ?request.client(), path = request.path(), subprotocol = request.subprotocol(), "connected");
    CURRENT
        .scope(socket, async {
            let outcome = drive(&mut io, handler.__connection(&request, &mut ex)).await;
            let mut open = settle(&mut io, outcome, "connection", &request);
            while open {
                match poll_fn(|cx| io.poll_io(cx, true)).await {
                    Event::Message(message) => {
                        let outcome =
                            drive(&mut io, handler.__message(&request, &mut ex, message)).await;
                        open = settle(&mut io, outcome, "message", &request);
                    }
                    Event::Ended => break,
                }
            }
            // Finish the closing handshake (bounded by close_timeout) first.
            poll_fn(|cx| match io.poll_io(cx, false) {
                Poll::Ready(_) => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
            })
            .await;
            let done = AssertUnwindSafe(handler.__disconnection(&request, &mut ex)).catch_unwind();
            if let Err(panic) = done.await {
                let error = panic_message(&*panic);
                tracing::error!(path = request.path(), client = ?request.client(), hook = "disconnection", %error, "hook panicked");
            }
        })
        .await;
    tracing::info!(
        id,
        client = ?request.client(),
        path = request.path(),
        code = io.close_code.unwrap_or(1006),
        duration = ?started.elapsed(),
        "disconnected"
    );
}
