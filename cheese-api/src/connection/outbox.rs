//! The outgoing queue of one connection: any task pushes, the connection's
//! driver takes a whole burst in one lock. A close the server starts
//! travels here too, and the connection's [`Status`] moves from open under
//! the same lock, so nothing is queued behind it.

use crate::connection::close::{By, Request, Status};
use crate::connection::error::SendError;
use crate::connection::fifo::Fifo;
use crate::message::Message;
use futures_util::task::AtomicWaker;
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
    messages: Fifo,
    /// The close the server started, not yet taken by the driver. Not a
    /// queued command: the driver acts on it at once, even while the socket
    /// takes no writes, so its `close_timeout` runs for a peer that does not
    /// read.
    /// Boxed: every connection keeps the slot, only a closing one fills it.
    close: Option<Box<Request>>,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a message for the driver; fails once `status` is no longer
    /// open (checked under the lock, so nothing is queued behind a close).
    /// `wake: false` when the caller runs on the driver's own task (a hook),
    /// which looks at the queue right after: waking it would cost a
    /// spurious re-poll per message.
    pub(crate) fn push(
        &self,
        status: &Status,
        message: Message,
        wake: bool,
    ) -> Result<(), SendError> {
        {
            let mut queue = self.lock();
            if !status.is_open() {
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

    /// Starts the connection's close if `status` is still open: moves it
    /// to closing and leaves the request for the driver, after what is
    /// queued; later pushes fail. Returns whether this close is the one.
    pub(crate) fn request_close(
        &self,
        status: &Status,
        code: u16,
        reason: &str,
        by: By,
        wake: bool,
    ) -> bool {
        {
            let mut queue = self.lock();
            if !status.begin() {
                return false;
            }
            let reason = reason.to_owned();
            queue.close = Some(Box::new(Request { code, reason, by }));
            self.any.store(true, Ordering::Release);
        }
        if wake {
            self.waker.wake();
        }
        true
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
    /// and returns the close requested, if any. The driver registers its
    /// waker before it looks, so a push after this finds the waker.
    pub(crate) fn take(&self, into: &mut Fifo) -> Option<Request> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut queue = self.lock();
        self.any.store(false, Ordering::Release);
        into.append(&mut queue.messages);
        queue.close.take().map(|request| *request)
    }

    /// Drops what is queued (the driver has ended, and the status is no
    /// longer open: later pushes fail).
    pub(crate) fn clear(&self) {
        let dropped = std::mem::take(&mut self.lock().messages);
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_queued_behind_a_close_and_the_first_close_wins() {
        let (outbox, status) = (Outbox::default(), Status::new());
        outbox
            .push(&status, Message::from("before"), false)
            .unwrap();
        assert!(outbox.request_close(&status, 4000, "first", By::App, false));
        assert!(!status.is_open());
        assert!(!outbox.request_close(&status, 1001, "second", By::Shutdown, false));
        assert!(matches!(
            outbox.push(&status, Message::from("after"), false),
            Err(SendError::Closed)
        ));
        let mut taken = Fifo::default();
        let request = outbox.take(&mut taken).unwrap();
        assert_eq!((request.code, request.reason.as_str()), (4000, "first"));
        assert_eq!(request.by, By::App);
        assert_eq!(taken.len(), 1, "the message queued before the close");
        assert!(outbox.take(&mut taken).is_none(), "taken once");
    }
}
