//! One connection, from the upgrade to `disconnection`: the task that runs
//! the hooks ([`task`]), the I/O side on axum's `WebSocket` ([`driver`]) and
//! the pings it sends ([`keepalive`]), the handle hooks and other tasks send
//! through ([`socket`]) and its outgoing queue ([`outbox`]), the queue type
//! they share ([`fifo`]), and the rules of closing ([`close`]).

pub(crate) mod close;
pub(crate) mod driver;
pub(crate) mod error;
pub(crate) mod fifo;
pub(crate) mod keepalive;
pub(crate) mod outbox;
pub(crate) mod socket;
pub(crate) mod task;
