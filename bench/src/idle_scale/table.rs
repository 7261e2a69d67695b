//! The idle-scale run's markdown, written to docs/performance/idle-scale.md:
//! how it was run, one row per server process and a total, the run's other
//! readings (time to open, the kernel's socket memory, the clients), the
//! slab caches that grew, and on paper what a 64 GiB node and a 10-node
//! cluster hold at the measured figures.

use std::fmt::Write as _;
use std::time::Duration;

use super::kernel::{delta, SOCKET_CACHES};
use super::measure::Measured;
use super::{Plan, Settings};
use crate::report::format::{fmt_int, fmt_num, fmt_pct};
use crate::report::RunInfo;

/// The node on paper: its memory, and what is kept for the kernel's own
/// needs, the page cache and the server processes' fixed part.
const NODE_GIB: f64 = 64.0;
const NODE_RESERVED_GIB: f64 = 8.0;
const CLUSTER_NODES: f64 = 10.0;

fn mib(kib: Option<u64>) -> String {
    kib.map_or("–".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

fn per_conn(total_kib: Option<f64>, conns: usize) -> Option<f64> {
    total_kib.filter(|_| conns > 0).map(|k| k / conns as f64)
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".to_owned(), |x| format!("{x:.digits$}"))
}

/// Server CPU per held connection and second of holding, in µs.
fn us_per_conn_s(cpu: Option<Duration>, hold: Duration, conns: usize) -> Option<f64> {
    let cpu = cpu?.as_secs_f64() * 1e6;
    (conns > 0 && !hold.is_zero()).then(|| cpu / hold.as_secs_f64() / conns as f64)
}

/// What the kernel holds for the server's end of a connection, in KiB:
/// its socket's slab objects (the growth per socket added, see
/// [`super::kernel::KernelReading::socket_kib_per_socket`]; without /proc/slabinfo, half
/// the whole slab's growth per connection) plus the bytes in the server
/// ends' buffers (`ss -m`).
fn kernel_kib_per_conn(m: &Measured) -> Option<f64> {
    let (kb, kh) = (&m.kernel_before, &m.kernel_held);
    let slab = kh.socket_kib_per_socket(kb).or_else(|| {
        let d = delta(kb.slab_kib, kh.slab_kib)?;
        per_conn(Some(d as f64 / 2.0), m.opened())
    })?;
    let buffers = m.server_buffers.as_ref().map_or(0, |b| b.bytes);
    Some(slab + per_conn(Some(buffers as f64 / 1024.0), m.opened()).unwrap_or(0.0))
}

fn servers_table(m: &Measured) -> String {
    let mut t = String::from(
        "| server | connections held | open files while holding (soft limit) | RSS before | \
         RSS holding | KiB per connection | CPU while idle | µs CPU per connection per s | \
         echoed after the hold |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, s) in m.servers.iter().enumerate() {
        let kib = per_conn(s.rss_delta_kib().map(|d| d as f64), s.opened);
        let _ = writeln!(
            t,
            "| echo {} (port {}) | {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
            i + 1,
            s.port,
            fmt_int(s.opened as u64),
            s.fds_held.map_or("–".to_owned(), |n| fmt_int(n as u64)),
            s.nofile.map_or("–".to_owned(), fmt_int),
            mib(s.rss_before_kib),
            mib(s.rss_held_kib),
            opt(kib, 2),
            fmt_pct(s.cpu_hold, m.hold),
            opt(us_per_conn_s(s.cpu_hold, m.hold, s.opened), 3),
            fmt_int(s.survivors as u64),
        );
    }
    let total_delta: Option<i64> = m.servers.iter().map(|s| s.rss_delta_kib()).sum();
    let total_cpu: Option<Duration> = m.servers.iter().map(|s| s.cpu_hold).sum();
    let _ = writeln!(
        t,
        "| **all {}** | **{}** | | | | **{}** | {} | {} | **{}** |",
        m.servers.len(),
        fmt_int(m.opened() as u64),
        opt(per_conn(total_delta.map(|d| d as f64), m.opened()), 2),
        fmt_pct(total_cpu, m.hold),
        opt(us_per_conn_s(total_cpu, m.hold, m.opened()), 3),
        fmt_int(m.survivors() as u64),
    );
    t
}

fn run_table(m: &Measured, plan: &Plan) -> String {
    let n = m.opened();
    let (kb, kh) = (&m.kernel_before, &m.kernel_held);
    let mut t = String::from("| reading | value |\n|---|---:|\n");
    let _ = writeln!(
        t,
        "| time to open all {} ({} client processes at once) | {:.1} s ({} connections/s) |",
        fmt_int(n as u64),
        plan.clients(),
        m.open_time.as_secs_f64(),
        fmt_num(n as f64 / m.open_time.as_secs_f64().max(1e-9)),
    );
    let sockets = delta(kb.tcp_inuse, kh.tcp_inuse);
    let _ = writeln!(
        t,
        "| kernel: TCP sockets in use (sockstat `inuse`) | {} → {} ({} per connection) |",
        kb.tcp_inuse.map_or("–".to_owned(), fmt_int),
        kh.tcp_inuse.map_or("–".to_owned(), fmt_int),
        opt(per_conn(sockets.map(|d| d as f64), n), 2),
    );
    let slab = delta(kb.slab_kib, kh.slab_kib);
    let _ = writeln!(
        t,
        "| kernel: slab memory (meminfo `Slab`) | {} MiB more ({} KiB per connection, both ends) |",
        opt(slab.map(|k| k as f64 / 1024.0), 1),
        opt(per_conn(slab.map(|k| k as f64), n), 2),
    );
    let _ = writeln!(
        t,
        "| kernel: slab per socket added, socket caches only ({}; at most one object of each per socket) | {} KiB |",
        SOCKET_CACHES.map(|c| format!("`{c}`")).join(", "),
        opt(kh.socket_kib_per_socket(kb), 2),
    );
    let _ = writeln!(
        t,
        "| kernel: pages charged to TCP memory, machine-wide (sockstat `mem`, per-CPU reserves included) | {} → {} |",
        kb.tcp_mem_pages.map_or("–".to_owned(), fmt_int),
        kh.tcp_mem_pages.map_or("–".to_owned(), fmt_int),
    );
    let buffers = m
        .server_buffers
        .as_ref()
        .map_or("`ss` not available".to_owned(), |b| {
            format!(
                "{} bytes in {} sockets ({} holding any)",
                fmt_int(b.bytes),
                fmt_int(b.sockets),
                fmt_int(b.busy)
            )
        });
    let _ = writeln!(
        t,
        "| kernel: the servers' ends' buffers while idle (`ss -tm`, skmem r+t+f+w+o) | {buffers} |"
    );
    let _ = writeln!(
        t,
        "| client processes: RSS together, CPU over the hold | {} ({} KiB per connection), {} of a core |",
        mib(m.clients_rss_kib),
        opt(per_conn(m.clients_rss_kib.map(|k| k as f64), n), 2),
        fmt_pct(m.clients_cpu_hold, m.hold),
    );
    let servers_cpu: Option<Duration> = m.servers.iter().map(|s| s.cpu_hold).sum();
    let other = m.machine_busy_hold.map(|busy| {
        busy.saturating_sub(
            servers_cpu.unwrap_or_default() + m.clients_cpu_hold.unwrap_or_default(),
        )
    });
    let _ = writeln!(
        t,
        "| other load over the hold (machine busy time less servers' and clients') | {} of a core |",
        fmt_pct(other, m.hold),
    );
    t
}

fn slab_table(m: &Measured) -> String {
    let grown = m.kernel_held.grown_since(&m.kernel_before, 8);
    if grown.is_empty() {
        return "(/proc/slabinfo could not be read: no breakdown.)\n".to_owned();
    }
    let n = m.opened().max(1) as f64;
    let mut t = String::from(
        "| slab cache | objects added | per connection | object size | KiB per connection |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for g in grown {
        let _ = writeln!(
            t,
            "| `{}` | {} | {:.2} | {} B | {:.2} |",
            g.name,
            fmt_int(g.objects as u64),
            g.objects as f64 / n,
            g.object_size,
            g.kib() / n
        );
    }
    t
}

fn on_paper(m: &Measured) -> String {
    let n = m.opened();
    let total_delta: Option<i64> = m.servers.iter().map(|s| s.rss_delta_kib()).sum();
    let (Some(user), Some(kernel)) = (
        per_conn(total_delta.map(|d| d as f64), n),
        kernel_kib_per_conn(m),
    ) else {
        return "Not computed: a reading is missing.\n".to_owned();
    };
    let each = user + kernel;
    let room_kib = (NODE_GIB - NODE_RESERVED_GIB) * 1024.0 * 1024.0;
    let node = room_kib / each;
    let node_user_only = room_kib / user;
    let total_cpu: Option<Duration> = m.servers.iter().map(|s| s.cpu_hold).sum();
    let cpu = us_per_conn_s(total_cpu, m.hold, n);
    let cores = |conns: f64| opt(cpu.map(|us| us * conns / 1e6), 1);
    let processes = |conns: f64| fmt_int((conns / 19_968.0).ceil() as u64);
    let mut t = String::new();
    let _ = write!(
        t,
        "Per connection, from this run: **{user:.2} KiB** in the server process (the total row) \
         and **{kernel:.2} KiB** in the kernel for the server's end: the slab objects of one \
         socket (a server whose clients are elsewhere holds one socket per connection; this \
         machine holds both ends of each loopback connection, hence the two sockets per \
         connection above) plus what the server ends' buffers hold while idle (`ss`: nothing). \
         The slab's growth beyond that is not the sockets': /proc/PID/fd entries \
         (`proc_inode_cache` and a second dentry per socket: a program on this machine lists \
         processes' open files every few seconds; reclaimable cache), the clients' port \
         bindings (in the 128 B cache shown as `eventpoll_epi`) and page mappings. \
         Together {each:.2} KiB.\n\n\
         Assumptions: a {NODE_GIB:.0} GiB node keeps {NODE_RESERVED_GIB:.0} GiB for the kernel's \
         own needs, the page cache and the processes' fixed part, and gives the rest to idle \
         connections of this kind (`examples/echo`: no rooms, no state of its own; a handler \
         with state or room membership adds its own bytes, see docs/limits.md); the open-file \
         limit is raised to fit (here one process may hold 20,000 files, so the count of \
         processes at that limit is given), clients come from enough addresses that ephemeral \
         ports do not bind; keepalive pings stay at the default 20 s, and the CPU they cost \
         scales linearly from this run's idle CPU. Cluster: {CLUSTER_NODES:.0} such nodes, \
         connections independent of each other (rooms across nodes go through Redis, whose \
         memory grows with rooms, not connections).\n\n\
         | | one {NODE_GIB:.0} GiB node | {CLUSTER_NODES:.0}-node cluster |\n|---|---:|---:|\n"
    );
    let _ = writeln!(
        t,
        "| idle connections held (process + kernel, {each:.2} KiB each) | **{}** | **{}** |",
        fmt_int(node as u64),
        fmt_int((node * CLUSTER_NODES) as u64)
    );
    let _ = writeln!(
        t,
        "| counting process memory only ({user:.2} KiB each) | {} | {} |",
        fmt_int(node_user_only as u64),
        fmt_int((node_user_only * CLUSTER_NODES) as u64)
    );
    let _ = writeln!(
        t,
        "| server processes at 20,000 open files each | {} | {} |",
        processes(node),
        processes(node * CLUSTER_NODES)
    );
    let _ = writeln!(
        t,
        "| cores busy with keepalive while idle ({} µs per connection per s) | {} | {} |",
        opt(cpu, 3),
        cores(node),
        cores(node * CLUSTER_NODES)
    );
    t
}

/// The whole page.
pub fn markdown(s: &Settings, plan: &Plan, m: &Measured, run: &RunInfo) -> String {
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
            line.split_ascii_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or("?".to_owned(), |k| {
            format!("{:.0} GiB", k as f64 / 1024.0 / 1024.0)
        });
    let sources: Vec<_> = plan.servers.iter().flatten().map(|c| c.0).collect();
    let mut md = String::from("# Idle connections past one process's limits\n\n");
    let _ = write!(
        md,
        "Produced by `{}` in {:.0} s (build included). Machine: {} cores, {mem_total}, Linux {}; \
         the servers and the client processes share the cores, not pinned.\n\n\
         Setup: {} idle WebSocket connections on {} server processes of cheese-api's \
         `examples/echo` (default limits: keepalive ping every 20 s), each on its own port, \
         its soft open-file limit raised to the hard one ({} here; one process may not hold \
         more). {} client processes (this binary re-executed, `idle-scale --child`, at most {} \
         connections each, 64 handshakes at a time) each bind their own source address \
         ({}–{}), so that no address needs more than its ~28,000 ephemeral ports towards one \
         server port. Each client answers the server's pings while idle. All are held \
         {:.0} s after the last one opened; then every connection echoes one 64 B text \
         message, which must come back intact. RSS: each server's VmRSS while holding, less \
         before the first client (after one warm-up connection); CPU: user + system time \
         over the hold.\n\n",
        run.command,
        run.elapsed.as_secs_f64(),
        run.cores,
        run.kernel.trim(),
        fmt_int(s.conns as u64),
        s.servers,
        m.servers
            .first()
            .and_then(|x| x.nofile)
            .map_or("?".to_owned(), fmt_int),
        plan.clients(),
        fmt_int(s.per_client as u64),
        sources.first().map_or("?".to_owned(), ToString::to_string),
        sources.last().map_or("?".to_owned(), ToString::to_string),
        m.hold.as_secs_f64(),
    );
    md.push_str(&servers_table(m));
    md.push('\n');
    md.push_str(&run_table(m, plan));
    md.push_str(
        "\nThe kernel's readings are machine-wide: other programs' activity over the run \
         shows in them too (the socket count says whether they were quiet).\n\n\
         Slab caches that grew most while the connections were held:\n\n",
    );
    md.push_str(&slab_table(m));
    md.push_str("\n## On paper: a 64 GiB node, a 10-node cluster\n\n");
    md.push_str(&on_paper(m));
    md.push_str("\n## Errors\n\n");
    if m.error_count == 0 {
        md.push_str("None: every connection opened, stayed open and echoed.\n");
    } else {
        let _ = writeln!(md, "{} errors; the first:\n", m.error_count);
        for e in &m.errors {
            let _ = writeln!(md, "- {e}");
        }
    }
    md
}
