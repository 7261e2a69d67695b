//! cheese-bench: cheese-api's `examples/echo` against plain axum (defaults,
//! and tuned by hand) and Bun (uWebSockets inside), and a room fan-out
//! against plain axum with a broadcast channel and Bun's `server.publish`,
//! each a separate server process pinned to its own core, driven by the
//! same lean client in the same run. Results are ratios to plain axum with
//! defaults (fan-out: to axum + broadcast channel), and cheese-api against
//! issue 16's targets. See docs/performance.md.
//!
//! ```text
//! cargo run --release -p cheese-bench -- all            # everything, about 5.5 min
//! cargo run --release -p cheese-bench -- all --quick    # shorter windows
//! cargo run --release -p cheese-bench --features metrics -- all   # cheese-api's metrics on
//! cargo run --release -p cheese-bench -- client ws://127.0.0.1:9001/ --inflight 16
//! cargo run --release -p cheese-bench -- scaleout       # 3 nodes on Redis, vs 5933f6c
//! cargo run --release -p cheese-bench -- history        # history room vs plain, vs 8150b5b
//! ```
//!
//! This file holds the command line and the `all` run loop (build, start
//! each server, run each scenario, round after round). The clients are in
//! [`client`] (echo, cycles), [`idle`] and [`fanout`]; the servers' processes
//! in [`procs`], Bun's install in [`bun`]; results.md and the chart in [`report`]; the `client`
//! subcommand in [`client_command`]; the scale-out run over Redis in
//! [`scaleout`]; what room history costs a publish in [`history`].

mod bun;
mod client;
mod client_command;
mod fanout;
mod fanout_wire;
mod histogram;
mod history;
mod idle;
mod idle_scale;
mod procs;
mod report;
mod scaleout;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use client::EchoSpec;
use fanout::FanoutSpec;
use procs::{Programs, Server, ServerKind};
use report::{Outcome, Report, RunInfo, Scenario};

const USAGE: &str = "\
cheese-bench: cheese-api vs plain axum and Bun (echo, fan-out), same client, same run

USAGE:
  cheese-bench all [OPTIONS]        build the servers, run every scenario on
                                    every server, print the tables, write
                                    docs/performance/{results.md,chart.svg}
  cheese-bench client URL [OPTIONS] drive one running server (ad-hoc)
  cheese-bench scaleout [OPTIONS]   3 nodes on one Redis: this checkout's
                                    routing against one channel (5933f6c);
                                    writes docs/performance/scaleout.md

OPTIONS of `all`:
  --quick              one round, 0.5 s warm-up, 1.5 s windows, 1 s idle hold
  --warmup SECS        warm-up before each window (default 1)
  --secs SECS          measured window per scenario (default 3)
  --hold SECS          how long idle connections are held (default 3)
  --idle N             idle connections (default 5000)
  --fanout N           fan-out connections (default 5000)
  --broadcasts K       measured fan-out broadcasts (default 100; --quick 30)
  --rounds N           repeat everything N times (default 3); report the
                       quietest round of each cell (idle: the median)
  --servers a,b        subset of: cheese, axum, nodelay, tuned, bun (axum,
                       the baseline of every ratio, is always run; the
                       fan-out runs on cheese, axum and bun only; bun is
                       installed from npm into <target>/bun, and left out
                       with a note when it cannot be)
  --scenarios a,b      subset of: echo64, echo64x16, echo1m, cycles, idle,
                       fanout
  --binary             64 B scenarios send binary instead of text
  --no-build           do not run `cargo build` first
  --no-write           print only; do not write docs/performance/
  --out DIR            where results.md and chart.svg go
                       (default: <workspace>/docs/performance)

OPTIONS of `client` (echo unless --cycles, --idle or --fanout):
  --conns N (50)  --inflight N (1)  --size BYTES (64)  --binary
  --warmup SECS (1)  --secs SECS (3)  --pid PID (server CPU/memory)
  --read-buffer BYTES  the client's read buffer (8 KiB; 128 KiB from 64 KiB up)
  --cycles WORKERS     connect+echo+close cycles instead
  --idle N --hold SECS idle connections instead (needs --pid)
  --fanout N --broadcasts K
                       fan-out instead: N connections, K broadcasts (the
                       server must answer `go <n>` as cheese_fanout does)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("all") => run_all(&args[1..]),
        Some("client") => client_command::run_client(&args[1..]),
        Some("scaleout") => scaleout::run_scaleout(&args[1..]),
        Some("history") => history::run_history(&args[1..]),
        Some("idle-scale") => idle_scale::run_idle_scale(&args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}\n{}\n{}", scaleout::USAGE, history::USAGE);
            print!("\n{}", idle_scale::USAGE);
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cheese-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Settings of an `all` run.
struct Settings {
    warmup: Duration,
    secs: Duration,
    hold: Duration,
    idle: usize,
    fanout: FanoutSpec,
    rounds: usize,
    servers: Vec<ServerKind>,
    scenarios: Vec<Scenario>,
    text: bool,
    build: bool,
    write: bool,
    out: PathBuf,
    /// Why Bun was left out, when it was asked for and could not be
    /// installed (see [`install_bun`]).
    bun_missing: Option<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn parse_all(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        warmup: Duration::from_secs(1),
        secs: Duration::from_secs(3),
        hold: Duration::from_secs(3),
        idle: 5000,
        fanout: FanoutSpec {
            conns: 5000,
            broadcasts: 100,
            warmup: 5,
        },
        rounds: 3,
        servers: ServerKind::ALL.to_vec(),
        scenarios: Scenario::ALL.to_vec(),
        text: true,
        build: true,
        write: true,
        out: workspace_root().join("docs").join("performance"),
        bun_missing: None,
    };
    let (mut quick, mut rounds, mut broadcasts) = (false, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => {
                s.warmup = Duration::from_millis(500);
                s.secs = Duration::from_millis(1500);
                s.hold = Duration::from_secs(1);
                quick = true;
            }
            "--warmup" => s.warmup = secs(value()?)?,
            "--secs" => s.secs = secs(value()?)?,
            "--hold" => s.hold = secs(value()?)?,
            "--idle" => s.idle = number(value()?)?,
            "--fanout" => s.fanout.conns = number(value()?)?.max(1),
            "--broadcasts" => broadcasts = Some(number(value()?)?.max(1)),
            "--rounds" => rounds = Some(number(value()?)?.max(1)),
            "--servers" => {
                let mut list = Vec::new();
                for k in value()?.split(',') {
                    list.push(
                        ServerKind::from_key(k).ok_or_else(|| format!("unknown server `{k}`"))?,
                    );
                }
                if !list.contains(&ServerKind::AxumDefaults) {
                    list.push(ServerKind::AxumDefaults); // the baseline of every ratio
                }
                s.servers = ServerKind::ALL
                    .into_iter()
                    .filter(|k| list.contains(k))
                    .collect();
            }
            "--scenarios" => {
                let mut list = Vec::new();
                for k in value()?.split(',') {
                    list.push(
                        Scenario::from_key(k).ok_or_else(|| format!("unknown scenario `{k}`"))?,
                    );
                }
                s.scenarios = Scenario::ALL
                    .into_iter()
                    .filter(|k| list.contains(k))
                    .collect();
            }
            "--binary" => s.text = false,
            "--no-build" => s.build = false,
            "--no-write" => s.write = false,
            "--out" => s.out = PathBuf::from(value()?),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    s.rounds = rounds.unwrap_or(if quick { 1 } else { 3 });
    s.fanout.broadcasts = broadcasts.unwrap_or(if quick { 30 } else { 100 });
    Ok(s)
}

fn secs(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("`{v}` is not a number of seconds"))
}

fn number(v: &str) -> Result<usize, String> {
    v.parse().map_err(|_| format!("`{v}` is not a number"))
}

/// The cargo features the servers are built with: this harness's
/// `metrics`, when on (cheese-api's metrics recorded by a Prometheus
/// recorder in the echo example and in cheese_fanout).
const FEATURES: &[&str] = if cfg!(feature = "metrics") {
    &["--features", "metrics"]
} else {
    &[]
};

/// Builds cheese-api's echo example and this package's server binaries, in
/// release mode, into the target directory this binary runs from.
fn build() -> Result<(), String> {
    let root = workspace_root();
    let example = [
        "build",
        "--release",
        "-p",
        "cheese-api-workspace",
        "--example",
        "echo",
    ];
    procs::cargo(&[&example[..], FEATURES].concat(), &root, None)?;
    let bins = ["build", "--release", "-p", "cheese-bench", "--bins"];
    procs::cargo(&[&bins[..], FEATURES].concat(), &root, None)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// Pins this process to core 0 and returns the servers' core (1), when
/// there are two cores or more.
fn pin_client() -> Option<usize> {
    if procs::usable_cores() < 2 {
        eprintln!("note: fewer than 2 cores: client and server are not pinned");
        return None;
    }
    match procs::pin(0, 0) {
        Ok(()) => Some(1),
        Err(e) => {
            eprintln!("note: cannot pin to core 0 ({e}): client and server are not pinned");
            None
        }
    }
}

fn run_all(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let mut s = parse_all(args)?;
    if s.build {
        build()?;
    }
    let dir = procs::binary_dir().map_err(|e| format!("cannot find this binary: {e}"))?;
    let bun = install_bun(&mut s, &dir);
    let programs = Programs { dir, bun };
    let fanout = s.scenarios.contains(&Scenario::Fanout);
    let echo = s.scenarios.iter().any(|k| *k != Scenario::Fanout);
    procs::check_binaries(&programs, &s.servers, echo, fanout)?;

    let nofile = procs::raise_nofile();
    let room = usize::try_from(nofile)
        .unwrap_or(usize::MAX)
        .saturating_sub(200);
    if s.scenarios.contains(&Scenario::Idle) && s.idle > room {
        eprintln!(
            "note: open-file limit {nofile}: idle connections cut from {} to {room} \
             (raise it with `ulimit -n 20000`)",
            s.idle
        );
        s.idle = room;
    }
    if fanout && s.fanout.conns > room {
        eprintln!(
            "note: open-file limit {nofile}: fan-out connections cut from {} to {room} \
             (raise it with `ulimit -n 20000`)",
            s.fanout.conns
        );
        s.fanout.conns = room;
    }
    let cores = procs::usable_cores();
    let server_core = pin_client();

    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    local.block_on(&rt, async {
        for round in 0..s.rounds {
            for &scenario in &s.scenarios {
                // Rotate the order from round to round so that drift in the
                // machine's load does not always hit the same server.
                let servers: Vec<ServerKind> = s
                    .servers
                    .iter()
                    .copied()
                    .filter(|&k| scenario.runs_on(k))
                    .collect();
                let n = servers.len();
                for k in 0..n {
                    let server = servers[(k + round) % n];
                    eprint!(
                        "[round {}/{}] {:<26} {:<24} ",
                        round + 1,
                        s.rounds,
                        scenario.title(),
                        scenario.server_label(server)
                    );
                    let mut outcome = run_one(&s, scenario, server, &programs, server_core).await;
                    outcome.round = round;
                    eprintln!("{}", outcome.summary());
                    outcomes.push(outcome);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    });

    let report = Report::new(
        &s.servers,
        &s.scenarios,
        &outcomes,
        s.rounds,
        s.fanout.conns,
    );
    let run = RunInfo {
        command: format!(
            "cargo run --release -p cheese-bench {}-- all {}",
            FEATURES.iter().map(|f| format!("{f} ")).collect::<String>(),
            args.join(" ")
        )
        .trim_end()
        .to_owned(),
        elapsed: started.elapsed(),
        cores,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default(),
        pinned: server_core.is_some(),
    };
    let markdown = report::results_markdown(&report, &s, &run);
    println!("\n{markdown}");
    if s.write {
        std::fs::create_dir_all(&s.out).map_err(|e| format!("{}: {e}", s.out.display()))?;
        let md = s.out.join("results.md");
        std::fs::write(&md, &markdown).map_err(|e| format!("{}: {e}", md.display()))?;
        let svg = s.out.join("chart.svg");
        report.chart(&svg)?;
        eprintln!("wrote {} and {}", md.display(), svg.display());
    }
    eprintln!("total time: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Installs Bun (once per target directory, the parent of `dir`) when the
/// run includes it; when it cannot, says why, takes it out of the run and
/// keeps the reason for results.md.
fn install_bun(s: &mut Settings, dir: &Path) -> Option<PathBuf> {
    if !s.servers.contains(&ServerKind::Bun) {
        return None;
    }
    match bun::install(dir.parent().unwrap_or(dir)) {
        Ok(bin) => Some(bin),
        Err(why) => {
            eprintln!("note: Bun is left out of this run: {why}");
            s.servers.retain(|k| *k != ServerKind::Bun);
            s.bun_missing = Some(why);
            None
        }
    }
}

/// Starts a fresh server process for one scenario, runs it, stops it.
async fn run_one(
    s: &Settings,
    scenario: Scenario,
    kind: ServerKind,
    programs: &Programs,
    core: Option<usize>,
) -> Outcome {
    let mut server = match Server::start(kind, scenario == Scenario::Fanout, programs, core) {
        Ok(server) => server,
        Err(e) => return Outcome::failed(scenario, kind, e),
    };
    let (addr, url, pid) = (server.addr, server.url(), server.pid());
    let small = |inflight| EchoSpec {
        conns: 50,
        inflight,
        size: 64,
        text: s.text,
        warmup: s.warmup,
        secs: s.secs,
        read_buffer: 8 * 1024,
    };
    let mut outcome = match scenario {
        Scenario::Echo64 => Outcome::from_run(
            scenario,
            kind,
            client::echo(addr, &url, &small(1), Some(pid)).await,
        ),
        Scenario::Echo64Batch => Outcome::from_run(
            scenario,
            kind,
            client::echo(addr, &url, &small(16), Some(pid)).await,
        ),
        Scenario::Echo1M => {
            let spec = EchoSpec {
                conns: 4,
                inflight: 1,
                size: 1 << 20,
                text: false,
                warmup: s.warmup,
                secs: s.secs,
                read_buffer: 128 * 1024,
            };
            Outcome::from_run(
                scenario,
                kind,
                client::echo(addr, &url, &spec, Some(pid)).await,
            )
        }
        Scenario::Cycles => {
            let run = client::cycles(addr, &url, 16, 64, s.warmup, s.secs, Some(pid)).await;
            Outcome::from_run(scenario, kind, run)
        }
        Scenario::Idle => {
            Outcome::from_idle(kind, idle::idle(addr, &url, s.idle, s.hold, pid).await)
        }
        Scenario::Fanout => {
            Outcome::from_fanout(kind, fanout::fanout(addr, &url, &s.fanout, Some(pid)).await)
        }
    };
    if !server.alive() {
        outcome.failure = Some("the server process exited during the run".to_owned());
    }
    outcome
}
