//! `cheese-bench scaleout`: cheese-api scaled out on Redis, this checkout
//! against the one-channel design of commit 5933f6c, same node source, same
//! run. Each run: a fresh `redis-server`, three node processes
//! ([`cluster`]), the clients ([`load`]); the result is a markdown table
//! printed and written to docs/performance/scaleout.md.
//!
//! ```text
//! cargo run --release -p cheese-bench -- scaleout            # under 1 min once built
//! cargo run --release -p cheese-bench -- scaleout --rounds 3 --members 40
//! ```

mod clients;
pub(crate) mod cluster;
pub(crate) mod load;
mod table;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::report::{self, RunInfo};
use crate::{number, procs, runtime, secs, workspace_root};
use load::{LoadSpec, Measured};

pub const USAGE: &str = "\
OPTIONS of `scaleout` (3 nodes on one Redis; this checkout vs --old):
  --nodes N        nodes (default 3)
  --rooms N        rooms, spread evenly over the nodes (default 30)
  --members N      members per room (default 20)
  --publishers N   publisher connections per node (default 2)
  --inflight N     messages in flight per publisher (default 16)
  --size BYTES     message size (default 64)
  --warmup SECS    warm-up (default 1)   --secs SECS  measured (default 3)
  --rounds N       runs of each build, alternating (default 3)
  --old REV        the commit to compare with (default 5933f6c)
  --no-build       use the node binaries already built
  --no-write       print only; do not write docs/performance/scaleout.md
  --out FILE       where the markdown goes
";

/// Settings of a `scaleout` run.
pub struct Settings {
    pub spec: LoadSpec,
    pub rounds: usize,
    pub old: String,
    build: bool,
    write: bool,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        spec: LoadSpec {
            nodes: 3,
            rooms: 30,
            members: 20,
            publishers: 2,
            inflight: 16,
            size: 64,
            warmup: Duration::from_secs(1),
            secs: Duration::from_secs(3),
        },
        rounds: 3,
        old: "5933f6c".to_owned(),
        build: true,
        write: true,
        out: workspace_root().join("docs/performance/scaleout.md"),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        let at_least_1 = |v: &String| number(v).map(|n| n.max(1));
        match arg.as_str() {
            "--nodes" => s.spec.nodes = at_least_1(value()?)?.min(64),
            "--rooms" => s.spec.rooms = at_least_1(value()?)?,
            "--members" => s.spec.members = at_least_1(value()?)?,
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
    if s.spec.rooms < s.spec.nodes {
        return Err("--rooms must be at least --nodes (each node holds rooms)".to_owned());
    }
    Ok(s)
}

/// One build of the node binary.
pub struct Design {
    pub label: String,
    dir: PathBuf,
}

/// One run of one design.
pub struct Outcome {
    pub design: usize,
    pub round: usize,
    pub result: Result<Measured, String>,
}

/// `scaleout ...`: builds both designs, runs them in turn, prints and
/// writes the table.
pub fn run_scaleout(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let s = parse(args)?;
    let root = workspace_root();
    // The old bench/Cargo.toml does not list the bin (Cargo finds it in
    // src/bin/) and has no `redis` feature: ask for cheese-api's directly.
    let (old_dir, new_dir) = cluster::builds(&root, &s.old, "cheese-api/redis", s.build)?;
    let designs = [
        Design {
            label: format!("one channel ({})", s.old),
            dir: old_dir,
        },
        Design {
            label: format!("this checkout ({})", cluster::head(&root)),
            dir: new_dir,
        },
    ];
    procs::raise_nofile();
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    let mut outcomes = Vec::new();
    for round in 0..s.rounds {
        for k in 0..designs.len() {
            // Alternate the order so drift in the machine's load does not
            // always favour the same build.
            let design = (k + round) % designs.len();
            eprint!(
                "[round {}/{}] {:<28} ",
                round + 1,
                s.rounds,
                designs[design].label
            );
            let result = run_one(&designs[design], &s.spec, &rt, &local);
            eprintln!("{}", table::summary(&result));
            outcomes.push(Outcome {
                design,
                round,
                result,
            });
        }
    }
    let run = RunInfo::of_command("scaleout", args, started);
    let markdown = table::markdown(&s, &designs, &outcomes, &run);
    report::print_and_write(&markdown, s.write.then_some(s.out.as_path()))?;
    eprintln!("total time: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A fresh Redis and fresh nodes of `design`, one measured window.
fn run_one(
    design: &Design,
    spec: &LoadSpec,
    rt: &tokio::runtime::Runtime,
    local: &tokio::task::LocalSet,
) -> Result<Measured, String> {
    let redis = cluster::Redis::start()?;
    let mut nodes = cluster::Nodes::start(&design.dir, spec.nodes, &redis.url, "scaleout", &[])?;
    let measured = local.block_on(rt, load::run(&nodes, Some(redis.pid()), spec))?;
    match nodes.exited() {
        0 => Ok(measured),
        n => Err(format!("{n} node(s) exited during the run")),
    }
}
