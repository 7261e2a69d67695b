//! A first-in, first-out queue of messages that holds one message without
//! allocating. A connection mostly has one message at a time in each of
//! its queues (one read, one reply queued, one broadcast to deliver), so
//! those queues allocate only for bursts, and a connection that has
//! exchanged a message or two keeps no queue buffer while it idles.

use crate::message::Message;
use std::collections::VecDeque;

/// The queue: `first` is the oldest message; `rest` holds the others only
/// while `first` is taken (`first` empty means the queue is empty).
#[derive(Default)]
pub(crate) struct Fifo {
    first: Option<Message>,
    rest: VecDeque<Message>,
}

impl Fifo {
    pub(crate) fn push_back(&mut self, message: Message) {
        if self.first.is_none() {
            self.first = Some(message);
        } else {
            self.rest.push_back(message);
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        let first = self.first.take()?;
        self.first = self.rest.pop_front();
        Some(first)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(crate) fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }

    /// Moves every message of `other` to the back of this queue; when this
    /// one is empty, by swapping, so no message is moved one by one.
    pub(crate) fn append(&mut self, other: &mut Fifo) {
        if self.is_empty() {
            std::mem::swap(self, other);
        } else {
            while let Some(message) = other.pop_front() {
                self.push_back(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(fifo: &mut Fifo) -> Vec<String> {
        std::iter::from_fn(|| fifo.pop_front())
            .map(|m| m.as_text().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn keeps_order_across_the_slot_and_the_rest() {
        let mut fifo = Fifo::default();
        fifo.push_back(Message::from("a"));
        fifo.push_back(Message::from("b"));
        assert_eq!(fifo.len(), 2);
        assert_eq!(fifo.pop_front().unwrap().as_text(), Some("a"));
        fifo.push_back(Message::from("c"));
        assert_eq!(texts(&mut fifo), ["b", "c"]);
        assert!(fifo.is_empty());
    }

    #[test]
    fn one_message_at_a_time_allocates_nothing() {
        let mut fifo = Fifo::default();
        for i in 0..10 {
            fifo.push_back(Message::from(i.to_string()));
            assert_eq!(fifo.pop_front().unwrap().as_text(), Some(&*i.to_string()));
        }
        assert_eq!(fifo.rest.capacity(), 0);
    }

    #[test]
    fn append_keeps_order_whether_or_not_empty() {
        let (mut a, mut b) = (Fifo::default(), Fifo::default());
        b.push_back(Message::from("1"));
        b.push_back(Message::from("2"));
        a.append(&mut b);
        assert!(b.is_empty());
        b.push_back(Message::from("3"));
        b.push_back(Message::from("4"));
        a.append(&mut b);
        assert_eq!(texts(&mut a), ["1", "2", "3", "4"]);
    }
}
