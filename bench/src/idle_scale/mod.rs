//! `cheese-bench idle-scale`: more idle connections than one process may
//! hold here (20,000 open files, a hard limit), all alive at once. Several
//! server processes of cheese-api's `examples/echo`, each on its own port
//! with its soft open-file limit raised to the hard one; several client
//! processes (this binary re-executed, [`child`]), each binding its own
//! loopback source address (127.0.0.2, 127.0.0.3, …) so that no address
//! runs out of its ~28,000 ephemeral ports. The parent ([`measure`]) reads
//! each server's RSS before and while holding, its CPU over the hold, the
//! kernel's socket memory ([`kernel`]), then has every connection echo
//! once; the markdown ([`table`]) adds what a 64 GiB node and a 10-node
//! cluster would hold, computed from the measured figures.
//!
//! ```text
//! cargo run --release -p cheese-bench -- idle-scale            # 60,000 on 4 servers
//! cargo run --release -p cheese-bench -- idle-scale --conns 20000 --servers 2 --hold 5
//! ```

mod child;
mod kernel;
mod measure;
mod table;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::report::{self, RunInfo};
use crate::{number, procs, secs, workspace_root};

pub const USAGE: &str = "\
OPTIONS of `idle-scale` (idle connections over several server processes):
  --conns N        connections, all held at once (default 60000)
  --servers N      echo server processes, the connections split evenly
                   (default 4: one process holds at most 20,000 files here,
                   its listener and runtime included, so 3 cannot hold 60,000)
  --per-client N   most connections per client process (default 10000);
                   each client process has its own source address 127.0.0.x
  --hold SECS      how long all are held idle before measuring (default 20:
                   one keepalive ping per connection at the default 20 s)
  --no-build       do not build examples/echo first
  --no-write       print only; do not write docs/performance/idle-scale.md
  --out FILE       where the markdown goes
";

/// Open files a process needs besides its connections (stdio, the
/// runtime's epoll and wake-up descriptors, the listener, pipes).
const FD_RESERVE: u64 = 32;

/// Settings of an `idle-scale` run.
pub struct Settings {
    pub conns: usize,
    pub servers: usize,
    pub per_client: usize,
    pub hold: Duration,
    build: bool,
    write: bool,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        conns: 60_000,
        servers: 4,
        per_client: 10_000,
        hold: Duration::from_secs(20),
        build: true,
        write: true,
        out: workspace_root().join("docs/performance/idle-scale.md"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--conns" => s.conns = number(value()?)?.max(1),
            "--servers" => s.servers = number(value()?)?.max(1),
            "--per-client" => s.per_client = number(value()?)?.max(1),
            "--hold" => s.hold = secs(value()?)?,
            "--no-build" => s.build = false,
            "--no-write" => s.write = false,
            "--out" => s.out = PathBuf::from(value()?),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(s)
}

/// Which client process connects where: for each server, its connections
/// split over as few client processes as `per_client` allows, each with
/// its own source address.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per server: its clients, as (source address, connections).
    pub servers: Vec<Vec<(Ipv4Addr, usize)>>,
}

impl Plan {
    /// Splits `s.conns` over the servers and clients; fails when a server
    /// or a client would need more than `nofile` open files.
    pub fn new(s: &Settings, nofile: u64) -> Result<Plan, String> {
        let room = usize::try_from(nofile.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
        let per_server = s.conns.div_ceil(s.servers);
        if per_server > room {
            return Err(format!(
                "{} connections on {} servers is {per_server} per server, more than one \
                 process may hold here (open-file limit {nofile}, less {FD_RESERVE} for the \
                 runtime): use --servers {}",
                s.conns,
                s.servers,
                s.conns.div_ceil(room)
            ));
        }
        let per_client = s.per_client.min(room);
        let mut next_source: u32 = 2; // 127.0.0.2, …
        let mut servers = Vec::with_capacity(s.servers);
        for i in 0..s.servers {
            let conns = split(s.conns, s.servers, i);
            let parts = conns.div_ceil(per_client).max(1);
            let mut clients = Vec::with_capacity(parts);
            for k in 0..parts {
                if next_source > 254 {
                    return Err("more than 253 client processes: raise --per-client".to_owned());
                }
                let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + next_source);
                next_source += 1;
                clients.push((source, split(conns, parts, k)));
            }
            servers.push(clients);
        }
        Ok(Plan { servers })
    }

    pub fn clients(&self) -> usize {
        self.servers.iter().map(Vec::len).sum()
    }
}

/// The `i`-th of `parts` near-equal shares of `total`.
fn split(total: usize, parts: usize, i: usize) -> usize {
    total / parts + usize::from(i < total % parts)
}

/// `idle-scale ...`: the run, the table printed and written; or, with
/// `--child`, one client process.
pub fn run_idle_scale(args: &[String]) -> Result<(), String> {
    if args.first().map(String::as_str) == Some(child::FLAG) {
        return child::run(&args[1..]);
    }
    let started = Instant::now();
    let s = parse(args)?;
    let nofile = procs::raise_nofile();
    let plan = Plan::new(&s, nofile)?;
    if s.build {
        let example = ["build", "--release", "--example", "echo"];
        procs::cargo(&example, &workspace_root(), None)?;
    }
    let dir = procs::binary_dir().map_err(|e| format!("cannot find this binary: {e}"))?;
    let measured = measure::run(&dir, &plan, s.hold)?;
    let run = RunInfo::of_command("idle-scale", args, started);
    let markdown = table::markdown(&s, &plan, &measured, &run);
    report::print_and_write(&markdown, s.write.then_some(s.out.as_path()))?;
    eprintln!("total time: {:.0} s", started.elapsed().as_secs_f64());
    match measured.survivors() {
        n if n == s.conns => Ok(()),
        n => Err(format!("{n} of {} connections survived the hold", s.conns)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(conns: usize, servers: usize, per_client: usize) -> Settings {
        let mut s = parse(&[]).unwrap();
        (s.conns, s.servers, s.per_client) = (conns, servers, per_client);
        s
    }

    #[test]
    fn sixty_thousand_on_four_servers_from_eight_addresses() {
        let plan = Plan::new(&settings(60_000, 4, 10_000), 20_000).unwrap();
        assert_eq!(plan.clients(), 8);
        for clients in &plan.servers {
            assert_eq!(clients.iter().map(|c| c.1).sum::<usize>(), 15_000);
            assert!(clients.iter().all(|c| c.1 == 7_500));
        }
        let sources: Vec<Ipv4Addr> = plan.servers.iter().flatten().map(|c| c.0).collect();
        assert_eq!(sources.first(), Some(&Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(sources.last(), Some(&Ipv4Addr::new(127, 0, 0, 9)));
    }

    #[test]
    fn three_servers_cannot_hold_sixty_thousand_here() {
        let e = Plan::new(&settings(60_000, 3, 10_000), 20_000).unwrap_err();
        assert!(e.contains("use --servers 4"), "{e}");
        assert!(Plan::new(&settings(60_000, 3, 10_000), 40_000).is_ok());
    }

    #[test]
    fn uneven_splits_add_up() {
        let plan = Plan::new(&settings(10_001, 3, 1_000), 20_000).unwrap();
        let per_server: Vec<usize> = plan
            .servers
            .iter()
            .map(|c| c.iter().map(|c| c.1).sum())
            .collect();
        assert_eq!(per_server, [3_334, 3_334, 3_333]);
        assert!(plan.servers.iter().flatten().all(|c| c.1 <= 1_000));
        assert_eq!(plan.clients(), 12);
        let e = Plan::new(&settings(300_000, 300, 10), 20_000).unwrap_err();
        assert!(e.contains("253"), "{e}");
    }
}
