//! The idle-connections test: how much memory a server holds per open,
//! silent connection, and whether every one of them still echoes after
//! the hold.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::time::sleep;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{connect_many, cycle, keep_error, Payloads};
use crate::procs;

/// What the idle run measured.
#[derive(Default)]
pub struct IdleResult {
    pub target: usize,
    pub opened: usize,
    pub open_time: Duration,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// Server CPU time during the hold.
    pub server_cpu: Option<Duration>,
    pub hold: Duration,
    /// Connections whose final echo came back intact.
    pub survivors: usize,
    pub error_count: usize,
    pub errors: Vec<String>,
}

impl IdleResult {
    fn error(&mut self, e: String) {
        keep_error(&mut self.error_count, &mut self.errors, e);
    }

    /// Server memory per held connection in KiB.
    pub fn kib_per_conn(&self) -> Option<f64> {
        let (a, b) = self.rss_before_kib.zip(self.rss_after_kib)?;
        (self.opened > 0).then(|| (b as f64 - a as f64) / self.opened as f64)
    }
}

/// Opens `n` connections (64 handshakes at a time), holds them idle for
/// `hold`, reads the server's VmRSS (delta to before connecting), then
/// echoes once on each to check that all survived.
pub async fn idle(addr: SocketAddr, url: &str, n: usize, hold: Duration, pid: u32) -> IdleResult {
    let payloads = Payloads::new(64, true);
    let mut result = IdleResult {
        target: n,
        hold,
        ..IdleResult::default()
    };
    // One full cycle first, so that lazy start-up allocations are not
    // counted against the idle connections.
    if let Err(e) = cycle(addr, url, &payloads, 0).await {
        result.error(format!("warm-up cycle: {e}"));
    }
    sleep(Duration::from_millis(300)).await;
    result.rss_before_kib = procs::vm_rss_kib(pid);

    let start = Instant::now();
    let mut conns = connect_many(addr, url, n, |e| result.error(e)).await;
    result.open_time = start.elapsed();
    result.opened = conns.len();

    let cpu0 = procs::cpu_time(Some(pid));
    sleep(hold).await;
    let cpu1 = procs::cpu_time(Some(pid));
    result.server_cpu = cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a));
    result.rss_after_kib = procs::vm_rss_kib(pid);

    // One echo on each: send on all, then read all.
    let mut alive = vec![true; conns.len()];
    for (i, ws) in conns.iter_mut().enumerate() {
        if let Err(e) = ws.send(payloads.get(i)).await {
            alive[i] = false;
            result.error(format!("send after the hold: {e}"));
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (i, ws) in conns.iter_mut().enumerate() {
        if !alive[i] {
            continue;
        }
        let got = tokio::time::timeout_at(deadline, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return other,
                }
            }
        })
        .await;
        match got {
            Ok(Some(Ok(m))) if payloads.check(i, &m) => result.survivors += 1,
            Ok(Some(Ok(_))) => result.error("echo after the hold differs".to_owned()),
            Ok(Some(Err(e))) => result.error(format!("echo after the hold: {e}")),
            Ok(None) => result.error("closed during the hold".to_owned()),
            Err(_) => result.error("no echo within 20 s after the hold".to_owned()),
        }
    }
    drop(conns);
    result
}
