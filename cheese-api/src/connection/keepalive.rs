//! The keepalive of one connection: a ping every `ping_interval`, a
//! `ping_timeout` deadline for its pong, and the round trip of the last
//! answered ping.
//!
//! [`Keepalive`] only keeps the timers; the driver polls it while no close
//! has started, writes the pings it asks for and closes with 1011 when it
//! says the pong is overdue. It is polled on every wake-up of the
//! connection's task, so it stays cheap there: the ping timer, once
//! registered with tokio's timer, is only checked (a load) until it fires;
//! polling it each time would register it again (b118880).

use crate::Limits;
use futures_util::FutureExt;
use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use tokio::task::unconstrained;
use tokio::time::{sleep, Instant, Sleep};

/// What the keepalive timers call for at one poll.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing to do.
    Idle,
    /// Send a ping with this id as its payload.
    Ping(u32),
    /// The awaited pong is overdue: the connection is dead.
    TimedOut,
}

/// The ping timer and the pong deadline of one connection.
pub(crate) struct Keepalive {
    /// The route's limits (`ping_interval`, `ping_timeout`): a reference
    /// to its constant, not copies, which would cost every connection 24 B.
    limits: &'static Limits,
    next_ping: Option<Pin<Box<Sleep>>>,
    /// Whether `next_ping` has been polled since it was set: a polled timer
    /// wakes the task when it fires, so until then it is only checked.
    armed: bool,
    pong_deadline: Option<Pin<Box<Sleep>>>,
    /// The ping whose pong is awaited: its id, and when the oldest ping
    /// still unanswered went out.
    awaited: Option<(u32, Instant)>,
    pings_sent: u32,
}

impl Keepalive {
    pub(crate) fn new(limits: &'static Limits) -> Keepalive {
        Keepalive {
            limits,
            next_ping: limits.ping_interval.map(|every| Box::pin(sleep(every))),
            armed: false,
            pong_deadline: None,
            awaited: None,
            pings_sent: 0,
        }
    }

    /// Polls the timers. `paused`: reading is paused by `max_queue`, so a
    /// pong may sit unread behind the queue and its deadline waits (the
    /// caller reads before it polls this).
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, paused: bool) -> Tick {
        if let Some(deadline) = self.pong_deadline.as_mut() {
            if !paused && deadline.as_mut().poll(cx).is_ready() {
                return Tick::TimedOut;
            }
        }
        if let (Some(next), Some(every)) = (self.next_ping.as_mut(), self.limits.ping_interval) {
            // An armed timer wakes the task when it fires, so it is only
            // checked (a load) until then, not polled on every wake-up. Its
            // polls ignore tokio's task budget: a poll the budget refused
            // would arm nothing, and no ping would ever go out.
            if !self.armed || next.is_elapsed() {
                self.armed = true;
                if unconstrained(next.as_mut()).poll_unpin(cx).is_ready() {
                    next.as_mut().reset(Instant::now() + every);
                    let _ = unconstrained(next.as_mut()).poll_unpin(cx);
                    return Tick::Ping(self.ping_sent(cx));
                }
            }
        }
        Tick::Idle
    }

    /// Records a ping going out and returns its id. The pong deadline runs
    /// from the oldest unanswered ping: a later ping keeps it and is the
    /// one whose pong is expected.
    fn ping_sent(&mut self, cx: &mut Context<'_>) -> u32 {
        self.pings_sent = self.pings_sent.wrapping_add(1);
        let id = self.pings_sent;
        match self.awaited {
            None => {
                self.awaited = Some((id, Instant::now()));
                if let Some(timeout) = self.limits.ping_timeout {
                    let mut deadline = Box::pin(sleep(timeout));
                    let _ = deadline.as_mut().poll(cx);
                    self.pong_deadline = Some(deadline);
                }
            }
            Some((_, sent)) => self.awaited = Some((id, sent)),
        }
        id
    }

    /// A pong arrived: if it answers the awaited ping, the deadline is off
    /// and the round trip (in microseconds, at least 1) comes back.
    pub(crate) fn pong(&mut self, payload: &[u8]) -> Option<u64> {
        let (id, sent) = self.awaited?;
        if payload != id.to_be_bytes() {
            return None;
        }
        self.awaited = None;
        self.pong_deadline = None;
        Some(sent.elapsed().as_micros().max(1) as u64)
    }

    /// Drops the timers (the connection has ended).
    pub(crate) fn stop(&mut self) {
        self.next_ping = None;
        self.pong_deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Poll;
    use std::time::Duration;

    fn limits(every_ms: u64, timeout_ms: u64) -> &'static Limits {
        Box::leak(Box::new(Limits {
            ping_interval: Some(Duration::from_millis(every_ms)),
            ping_timeout: Some(Duration::from_millis(timeout_ms)),
            ..Limits::default()
        }))
    }

    /// Polls until the keepalive asks for something.
    async fn next(keepalive: &mut Keepalive, paused: bool) -> Tick {
        poll_fn(|cx| match keepalive.poll(cx, paused) {
            Tick::Idle => Poll::Pending,
            tick => Poll::Ready(tick),
        })
        .await
    }

    #[tokio::test]
    async fn pings_then_times_out_without_a_pong() {
        let mut k = Keepalive::new(limits(30, 20));
        let started = Instant::now();
        assert_eq!(next(&mut k, false).await, Tick::Ping(1));
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(next(&mut k, false).await, Tick::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_pong_answers_the_last_ping_and_times_the_oldest() {
        let mut k = Keepalive::new(limits(20, 10_000));
        assert_eq!(next(&mut k, false).await, Tick::Ping(1));
        assert_eq!(next(&mut k, false).await, Tick::Ping(2));
        // The first ping's pong comes late: only the second one counts now.
        assert_eq!(k.pong(&1u32.to_be_bytes()), None);
        let rtt = k.pong(&2u32.to_be_bytes()).unwrap();
        assert!(rtt >= 20_000, "{rtt} µs: timed from the first ping");
        assert_eq!(k.pong(&2u32.to_be_bytes()), None, "answered once");
        assert_eq!(next(&mut k, false).await, Tick::Ping(3));
    }

    #[tokio::test]
    async fn the_pong_deadline_waits_while_reading_is_paused() {
        let mut k = Keepalive::new(limits(200, 10));
        assert_eq!(next(&mut k, false).await, Tick::Ping(1));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let tick = poll_fn(|cx| Poll::Ready(k.poll(cx, true))).await;
        assert_eq!(tick, Tick::Idle);
        let tick = poll_fn(|cx| Poll::Ready(k.poll(cx, false))).await;
        assert_eq!(tick, Tick::TimedOut);
    }

    #[test]
    fn without_an_interval_nothing_is_due() {
        let mut k = Keepalive::new(Box::leak(Box::new(Limits {
            ping_interval: None,
            ..Limits::default()
        })));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(k.poll(&mut cx, false), Tick::Idle);
    }
}
