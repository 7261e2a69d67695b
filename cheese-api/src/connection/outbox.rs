//! The outgoing queue of one connection: any task pushes, the connection's
//! driver takes a whole burst in one lock. A close asked for travels here
//! too, so nothing is queued behind it.

use crate::connection::socket::SendError;
use crate::message::Message;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The connection's outgoing queue: any task pushes, the driver takes.
/// Allocates nothing until used (a tokio channel allocates a block of 32
/// slots per connection up front, which an idle connection would keep).
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    /// Whether `queue` holds anything: the driver looks here first, so
    /// finding it empty takes no lock.
    any: AtomicBool,
    waker: AtomicWaker,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    /// A close asked for (`close()`, shutdown, a slow receiver), not yet
    /// taken by the driver. Not a queued command: the driver acts on it at
    /// once, even while the socket takes no writes, so its `close_timeout`
    /// runs for a peer that does not read.
    close: Option<(u16, String)>,
    /// Nothing more is queued: a close was asked for, or the driver is gone.
    refusing: bool,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message for the driver; fails once a close was asked for or
    /// the driver is gone (checked under the lock, so nothing is queued
    /// behind a close). `wake: false` when the caller runs on the driver's
    /// own task (a hook), which looks at the queue right after: waking it
    /// would cost a spurious re-poll per message.
    pub(crate) fn push(&self, message: Message, wake: bool) -> Result<(), SendError> {
        {
            let mut queue = self.lock();
            if queue.refusing {
                return Err(SendError::Closed);
            }
            queue.messages.push_back(message);
            self.any.store(true, Ordering::Release);
        }
        if wake {
            self.waker.wake();
        }
        Ok(())
    }

    /// Asks the driver to close with `code` and `reason` after what is
    /// queued; later pushes fail.
    pub(crate) fn request_close(&self, code: u16, reason: &str, wake: bool) {
        {
            let mut queue = self.lock();
            if queue.refusing {
                return;
            }
            queue.refusing = true;
            queue.close = Some((code, reason.to_owned()));
            self.any.store(true, Ordering::Release);
        }
        if wake {
            self.waker.wake();
        }
    }

    /// Registers the driver's task waker, woken by pushes and reads.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Wakes the driver's task.
    pub(crate) fn wake(&self) {
        self.waker.wake();
    }

    /// Moves every queued message into `into` (one lock for a whole burst)
    /// and returns the close asked for, if any. The driver registers its
    /// waker before it looks, so a push after this finds the waker.
    pub(crate) fn take(&self, into: &mut VecDeque<Message>) -> Option<(u16, String)> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut queue = self.lock();
        self.any.store(false, Ordering::Release);
        if into.is_empty() {
            std::mem::swap(&mut queue.messages, into);
        } else {
            into.append(&mut queue.messages);
        }
        queue.close.take()
    }

    /// Refuses further pushes and drops what is queued.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut queue = self.lock();
            queue.refusing = true;
            std::mem::take(&mut queue.messages)
        };
        drop(dropped);
    }
}
