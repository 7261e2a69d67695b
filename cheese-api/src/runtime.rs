//! The app's live state while it serves, shared by its routes and
//! connections: this node's id, its counters, its [`Hub`], and the count of
//! open connections that graceful shutdown waits for.

use crate::connection::close::By;
use crate::connection::socket::Socket;
use crate::rooms::hub::Hub;
use crate::stats::Counters;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// State shared by an app's routes and connections.
pub(crate) struct Runtime {
    /// This node's id: the high bits of every socket id made here.
    pub(crate) node: u64,
    /// Messages, bytes and closes, added to by each connection in batches.
    pub(crate) counters: Arc<Counters>,
    /// Every open connection and its rooms (locked at connect, disconnect
    /// and broadcast, never per message): shutdown closes each with 1001.
    pub(crate) hub: Hub,
    draining: AtomicBool,
    live: AtomicUsize,
    idle: Notify,
}

/// A node id distinct per process without a random-number crate: time and
/// pid, mixed, 24 bits.
fn node_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    mixed.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40
}

impl Runtime {
    pub(crate) fn new() -> Runtime {
        let node = node_id();
        let counters = Arc::new(Counters::default());
        Runtime {
            node,
            hub: Hub::new(node, counters.clone()),
            counters,
            draining: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Counts a connection as open until the guard drops (after its
    /// `disconnection` ran, or if its task panicked), and says whether the
    /// app is already draining: then the caller closes with 1001 at once.
    pub(crate) fn track(
        self: &Arc<Self>,
        socket: &Socket,
        route: &'static str,
    ) -> (LiveGuard, bool) {
        self.live.fetch_add(1, Ordering::AcqRel);
        self.hub.register(socket, route);
        // Registered before the check: either shutdown's sweep sees this
        // socket, or this check sees the flag.
        let draining = self.is_draining();
        (
            LiveGuard {
                runtime: self.clone(),
                socket: socket.clone(),
                route,
            },
            draining,
        )
    }

    /// Shutdown begins: new upgrades are refused and every open connection
    /// closes with 1001.
    pub(crate) fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        for socket in self.hub.all_sockets() {
            socket.begin_close(1001, "server shutting down", By::Shutdown);
        }
    }

    /// Waits until every tracked connection has ended.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.live.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// One open connection, counted until dropped: then it leaves the hub.
pub(crate) struct LiveGuard {
    runtime: Arc<Runtime>,
    socket: Socket,
    route: &'static str,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.runtime.hub.unregister(&self.socket, self.route);
        if self.runtime.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.runtime.idle.notify_waiters();
        }
    }
}
