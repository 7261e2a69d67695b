//! `cheese-bench history`: what room history costs a publish. One node,
//! alone and on a `redis-server`, under the same load three ways: a plain
//! room and a history room (`App::history`, `hub.to_room(r).publish(..)`)
//! built from this checkout, and a plain room built from commit 8150b5b
//! (before history: the plain room must not have got slower). 1 and 20
//! members per room; rounds alternate the order. The node is
//! `bench/src/bin/scaleout_node.rs`, the clients and the window those of
//! [`crate::scaleout`]; the table is printed and written to
//! docs/performance/history.md ([`table`]).
//!
//! ```text
//! cargo run --release -p cheese-bench -- history         # under 3 min once built
//! cargo run --release -p cheese-bench -- history --members 1,20,100 --rounds 5
//! ```

mod table;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::report::{self, RunInfo};
use crate::scaleout::cluster::{self, Nodes, Redis};
use crate::scaleout::load::{self, LoadSpec, Measured};
use crate::{number, procs, runtime, secs, workspace_root};

pub const USAGE: &str = "\
OPTIONS of `history` (one node, alone and on Redis: plain vs history room, vs --old):
  --members A,B    members per room, one run each (default 1,20)
  --setups A,B     subset of: alone, redis (default both)
  --rooms N        rooms (default 10)
  --publishers N   publisher connections (default 32)
  --inflight N     messages in flight per publisher (default 16)
  --size BYTES     message size (default 64)
  --warmup SECS    warm-up (default 0.5)   --secs SECS  measured (default 1.5)
  --rounds N       runs of each cell, order rotating (default 5)
  --old REV        the commit whose plain room to compare with (default 8150b5b)
  --no-build       use the node binaries already built
  --no-write       print only; do not write docs/performance/history.md
  --out FILE       where the markdown goes
";

/// Where the node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// One node, no backplane: the history in the node's memory.
    Alone,
    /// One node on a `RedisBackplane`: the history in Redis.
    Redis,
}

impl Setup {
    pub fn label(self) -> &'static str {
        match self {
            Setup::Alone => "one node",
            Setup::Redis => "one node + Redis",
        }
    }
}

/// What the publishers send to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain room, the node built from `--old`.
    OldPlain,
    /// A plain room, this checkout.
    Plain,
    /// A history room (`publish`), this checkout.
    History,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::OldPlain, Kind::Plain, Kind::History];
}

/// Settings of a `history` run.
pub struct Settings {
    /// The load; `members` is set per cell.
    pub spec: LoadSpec,
    pub members: Vec<usize>,
    pub setups: Vec<Setup>,
    pub rounds: usize,
    pub old: String,
    build: bool,
    write: bool,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        spec: LoadSpec {
            nodes: 1,
            rooms: 10,
            members: 1,
            publishers: 32,
            inflight: 16,
            size: 64,
            warmup: Duration::from_millis(500),
            secs: Duration::from_millis(1500),
        },
        members: vec![1, 20],
        setups: vec![Setup::Alone, Setup::Redis],
        rounds: 5,
        old: "8150b5b".to_owned(),
        build: true,
        write: true,
        out: workspace_root().join("docs/performance/history.md"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        let at_least_1 = |v: &str| number(v).map(|n| n.max(1));
        match arg.as_str() {
            "--members" => {
                s.members = value()?
                    .split(',')
                    .map(at_least_1)
                    .collect::<Result<_, _>>()?
            }
            "--setups" => {
                s.setups = Vec::new();
                for setup in value()?.split(',') {
                    s.setups.push(match setup {
                        "alone" => Setup::Alone,
                        "redis" => Setup::Redis,
                        other => return Err(format!("unknown setup `{other}`")),
                    });
                }
            }
            "--rooms" => s.spec.rooms = at_least_1(value()?)?,
            "--publishers" => s.spec.publishers = at_least_1(value()?)?,
            "--inflight" => s.spec.inflight = at_least_1(value()?)?,
            "--size" => s.spec.size = number(value()?)?,
            "--warmup" => s.spec.warmup = secs(value()?)?,
            "--secs" => s.spec.secs = secs(value()?)?,
            "--rounds" => s.rounds = at_least_1(value()?)?,
            "--old" => s.old = value()?.clone(),
            "--no-build" => s.build = false,
            "--no-write" => s.write = false,
            "--out" => s.out = PathBuf::from(value()?),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(s)
}

/// One run of one cell.
pub struct Outcome {
    pub setup: Setup,
    pub members: usize,
    pub kind: Kind,
    pub round: usize,
    pub result: Result<Measured, String>,
}

/// `history ...`: builds both nodes, runs every cell round after round,
/// prints and writes the table.
pub fn run_history(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let s = parse(args)?;
    let root = workspace_root();
    // The old bench package lists the node with `required-features =
    // ["redis"]`; it has no `history` feature (the node's plain mode).
    let (old_dir, new_dir) = cluster::builds(&root, &s.old, "redis", s.build)?;
    let head = cluster::head(&root);
    procs::raise_nofile();
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    let mut outcomes = Vec::new();
    for round in 0..s.rounds {
        for &setup in &s.setups {
            for &members in &s.members {
                let spec = LoadSpec {
                    members,
                    ..s.spec.clone()
                };
                for k in 0..Kind::ALL.len() {
                    // Rotate the order so drift in the machine's load does
                    // not always favour the same kind.
                    let kind = Kind::ALL[(k + round) % Kind::ALL.len()];
                    eprint!(
                        "[round {}/{}] {:<17} {members:>3} members  {:<24} ",
                        round + 1,
                        s.rounds,
                        setup.label(),
                        table::kind_label(kind, &s.old, &head),
                    );
                    let dir = if kind == Kind::OldPlain {
                        &old_dir
                    } else {
                        &new_dir
                    };
                    let result = run_one(dir, setup, kind, &spec, &rt, &local);
                    eprintln!("{}", table::summary(&result));
                    outcomes.push(Outcome {
                        setup,
                        members,
                        kind,
                        round,
                        result,
                    });
                }
            }
        }
    }
    let run = RunInfo::of_command("history", args, started);
    let markdown = table::markdown(&s, &head, &outcomes, &run);
    report::print_and_write(&markdown, s.write.then_some(s.out.as_path()))?;
    eprintln!("total time: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A fresh node (and Redis) of `kind`, one measured window.
fn run_one(
    dir: &std::path::Path,
    setup: Setup,
    kind: Kind,
    spec: &LoadSpec,
    rt: &tokio::runtime::Runtime,
    local: &tokio::task::LocalSet,
) -> Result<Measured, String> {
    let redis = match setup {
        Setup::Redis => Some(Redis::start()?),
        Setup::Alone => None,
    };
    let url = redis.as_ref().map_or("-", |r| r.url.as_str());
    let mode: &[&str] = match kind {
        Kind::History => &["history"],
        Kind::Plain | Kind::OldPlain => &[],
    };
    let mut nodes = Nodes::start(dir, 1, url, "history", mode)?;
    let measured = local.block_on(rt, load::run(&nodes, redis.as_ref().map(Redis::pid), spec))?;
    match nodes.exited() {
        0 => Ok(measured),
        _ => Err("the node exited during the run".to_owned()),
    }
}
