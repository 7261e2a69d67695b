//! The connection task: one task per connection runs the hooks and the
//! socket's I/O side by side, with no task hop, lock or copy per message.
//!
//! While a hook runs, [`drive`] polls the hook and then the I/O
//! ([`Io`]) in the same task, so a slow hook still has its
//! pongs read and its sends written.

use crate::connection::close::{truncate_reason, By};
use crate::connection::driver::{Event, Io};
use crate::connection::socket::{Socket, CURRENT};
use crate::handler::{HookError, Hooks};
use crate::http::security::Slot;
use crate::metrics::{Hook, HookCall};
use crate::request::Request;
use crate::runtime::{LiveGuard, Runtime};
use crate::Limits;
use axum::extract::ws::WebSocket;
use futures_util::future::CatchUnwind;
use futures_util::FutureExt;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Instrument;

pin_project_lite::pin_project! {
    /// Polls a hook to completion while keeping the connection's I/O going;
    /// a panic in the hook is caught and returned as `Err`. A future of its
    /// own, not an `async fn`: an async fn keeps its arguments and their
    /// moved copies apart, which would store the hook's future twice in
    /// every connection's state.
    struct Drive<'a, F> {
        io: &'a mut Io,
        #[pin]
        hook: CatchUnwind<AssertUnwindSafe<F>>,
    }
}

fn drive<F: Future>(io: &mut Io, hook: F) -> Drive<'_, F> {
    Drive {
        io,
        hook: AssertUnwindSafe(hook).catch_unwind(),
    }
}

impl<F: Future> Future for Drive<'_, F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.hook.poll(cx) {
            return Poll::Ready(out);
        }
        let _ = this.io.poll_io(cx, false);
        Poll::Pending
    }
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

/// Handles the outcome of the hook `call`; returns whether the connection
/// goes on.
fn settle(
    io: &mut Io,
    outcome: std::thread::Result<Result<(), HookError>>,
    call: HookCall,
    request: &Request,
) -> bool {
    let hook = call.hook;
    io.counts.metrics().hook_returned(call);
    let (code, mut reason) = match outcome {
        Ok(Ok(())) => return true,
        Ok(Err(HookError::Rejected(rejected))) => (rejected.code, rejected.reason),
        Ok(Err(HookError::Failed(error))) => {
            // The error is for the log; the client sees a generic reason, so
            // internal details do not leak into close frames.
            io.counts.metrics().hook_failed(hook, false);
            tracing::error!(path = request.path(), client = ?request.client(), hook = hook.as_str(), %error, "hook failed");
            (1011, "internal error".to_owned())
        }
        Err(panic) => {
            io.counts.metrics().hook_failed(hook, true);
            let error = panic_message(&*panic);
            tracing::error!(path = request.path(), client = ?request.client(), hook = hook.as_str(), %error, "hook panicked");
            (1011, "internal error".to_owned())
        }
    };
    truncate_reason(&mut reason);
    io.begin_close(code, &reason, By::Hook);
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

/// One open connection's state, kept in the connection's task (no box of
/// its own); hooks borrow its fields.
struct Conn<T: Hooks> {
    handler: T,
    request: Request,
    ex: T::Extracted,
    io: Io,
    started: std::time::Instant,
    _slot: Slot,
    _live: LiveGuard,
}

/// What `on_upgrade` runs with the upgraded socket: spawns the connection's
/// own task, whose future is the connection's state and the future that
/// runs it, unboxed. axum's upgrade task then ends: kept alive around the
/// connection, it would also keep room for its own handshake states (the
/// engine's socket among them): its task was 1,664 B where the
/// connection's own was 1,536 (DHAT, docs/limits.md). One spawn more per
/// connection, none per message. The connection runs in its own tracing
/// span (a disabled span costs a check per poll).
// `pending` is boxed on purpose: the `on_upgrade` closure carries it.
#[allow(clippy::boxed_local)]
pub(crate) fn spawn<T: Hooks>(ws: WebSocket, pending: Box<Pending<T>>) {
    let Pending {
        handler,
        request,
        ex,
        slot,
        runtime,
    } = *pending;
    let limits: &'static Limits = &T::LIMITS;
    let socket = Socket::new(limits.write_limit, runtime.clone());
    let (live, draining) = runtime.track(&socket, T::PATH);
    let io = Io::new(ws, socket.shared.clone(), limits, T::PATH, draining);
    // One span per connection: every line logged while it runs (hook
    // errors included) carries its id, client, path and subprotocol.
    let span = tracing::info_span!(
        "ws",
        id = socket.id(),
        client = %request.client().map_or_else(|| "-".to_owned(), |c| c.to_string()),
        path = %request.path(),
        subprotocol = %request.subprotocol().unwrap_or("-"),
    );
    let mut conn = Conn {
        handler,
        request,
        ex,
        io,
        started: std::time::Instant::now(),
        _slot: slot,
        _live: live,
    };
    // `conn` is captured, not moved into a local: an async block keeps its
    // captures and its locals apart, so a local copy would double its size.
    tokio::spawn(async move { CURRENT.scope(socket, run(&mut conn)).instrument(span).await });
}

/// Runs one connection from the upgrade to the end: `connection`, then
/// `message` for each message in order, then `disconnection`, exactly once.
async fn run<T: Hooks>(conn: &mut Conn<T>) {
    tracing::info!("connected");
    let call = HookCall::start(Hook::Connection);
    let outcome = drive(
        &mut conn.io,
        conn.handler.__connection(&conn.request, &mut conn.ex),
    )
    .await;
    let mut open = settle(&mut conn.io, outcome, call, &conn.request);
    while open {
        match poll_fn(|cx| conn.io.poll_io(cx, true)).await {
            Event::Message(message) => {
                let call = HookCall::start(Hook::Message);
                let outcome = drive(
                    &mut conn.io,
                    conn.handler.__message(&conn.request, &mut conn.ex, message),
                )
                .await;
                open = settle(&mut conn.io, outcome, call, &conn.request);
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
    let call = HookCall::start(Hook::Disconnection);
    let done = AssertUnwindSafe(conn.handler.__disconnection(&conn.request, &mut conn.ex))
        .catch_unwind()
        .await;
    let metrics = conn.io.counts.metrics();
    metrics.hook_returned(call);
    if let Err(panic) = done {
        metrics.hook_failed(Hook::Disconnection, true);
        let error = panic_message(&*panic);
        tracing::error!(hook = Hook::Disconnection.as_str(), %error, "hook panicked");
    }
    let (code, by) = conn.io.count_end();
    let by = by.map_or("-", By::as_str);
    tracing::info!(code, by = %by, duration = ?conn.started.elapsed(), "disconnected");
}
