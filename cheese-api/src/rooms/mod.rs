//! Rooms and broadcast: the [`hub`] that knows which connections are in
//! which room or route on this node, and the [`backplane`] that carries sends
//! to the other nodes (in memory for tests, Redis with the `redis` feature).

pub(crate) mod backplane;
pub(crate) mod history;
pub(crate) mod hub;
pub(crate) mod presence;
pub(crate) mod recipients;
pub(crate) mod recovery;
#[cfg(feature = "redis")]
pub(crate) mod redis;
