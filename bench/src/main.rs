//! cheese-bench: cheese-api's `examples/echo` against plain axum (defaults,
//! and tuned by hand), and a room fan-out against plain axum with a
//! broadcast channel, each a separate server process pinned to its own
//! core, driven by the same lean client in the same run. Results are ratios
//! to plain axum with defaults (fan-out: to axum + broadcast channel). See
//! docs/performance.md.
//!
//! ```text
//! cargo run --release -p cheese-bench -- all            # everything, about 5.5 min
//! cargo run --release -p cheese-bench -- all --quick    # shorter windows
//! cargo run --release -p cheese-bench -- client ws://127.0.0.1:9001/ --inflight 16
//! ```

mod client;
mod fanout;
mod fanout_wire;
mod procs;
mod report;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use client::EchoSpec;
use fanout::FanoutSpec;
use procs::{Server, ServerKind};
use report::{Outcome, Report, Scenario};

const USAGE: &str = "\
cheese-bench: cheese-api vs plain axum (echo, fan-out), same client, same run

USAGE:
  cheese-bench all [OPTIONS]        build the servers, run every scenario on
                                    every server, print the tables, write
                                    docs/performance/{results.md,chart.svg}
  cheese-bench client URL [OPTIONS] drive one running server (ad-hoc)

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
  --servers a,b        subset of: cheese, axum, nodelay, tuned (axum, the
                       baseline of every ratio, is always run; the fan-out
                       runs on cheese and axum only)
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
        Some("client") => run_client(&args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
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

/// Builds cheese-api's echo example and this package's server binaries, in
/// release mode, into the target directory this binary runs from.
fn build() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = workspace_root();
    for args in [
        &[
            "build",
            "--release",
            "-p",
            "cheese-api-workspace",
            "--example",
            "echo",
        ][..],
        &["build", "--release", "-p", "cheese-bench", "--bins"][..],
    ] {
        eprintln!("== {cargo} {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(args)
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cannot run {cargo}: {e}"))?;
        if !status.success() {
            return Err(format!("`cargo {}` failed: {status}", args.join(" ")));
        }
    }
    Ok(())
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
    let fanout = s.scenarios.contains(&Scenario::Fanout);
    let echo = s.scenarios.iter().any(|k| *k != Scenario::Fanout);
    procs::check_binaries(&dir, &s.servers, echo, fanout)?;

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
                    .filter(|k| scenario != Scenario::Fanout || k.has_fanout())
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
                    let mut outcome = run_one(&s, scenario, server, &dir, server_core).await;
                    outcome.round = round;
                    eprintln!("{}", outcome.summary());
                    outcomes.push(outcome);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    });

    let cells: Vec<Vec<Option<&Outcome>>> = s
        .scenarios
        .iter()
        .map(|&scenario| {
            s.servers
                .iter()
                .map(|&server| pick(&outcomes, scenario, server))
                .collect()
        })
        .collect();
    let report = Report {
        servers: &s.servers,
        scenarios: &s.scenarios,
        cells,
        all: &outcomes,
        rounds: s.rounds,
        fanout_conns: s.fanout.conns,
    };
    let elapsed = started.elapsed();
    let command = format!(
        "cargo run --release -p cheese-bench -- all {}",
        args.join(" ")
    )
    .trim_end()
    .to_owned();
    let markdown = results_markdown(&report, &s, &command, elapsed, cores, server_core.is_some());
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

/// The round reported for a cell. Timed scenarios: the quietest round, the
/// one with the least other work on the machine during its window (a choice
/// made on a noise gauge, not on the result). Idle memory, which the
/// machine's load does not move: the median round. Failed rounds last.
/// `None` when the server did not run the scenario.
fn pick(outcomes: &[Outcome], scenario: Scenario, server: ServerKind) -> Option<&Outcome> {
    let mut mine: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.scenario == scenario && o.server == server)
        .collect();
    mine.sort_by(|a, b| match (a.headline, b.headline) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let valid = mine.iter().filter(|o| o.headline.is_some()).count();
    if valid == 0 {
        return mine.first().copied();
    }
    if scenario == Scenario::Idle {
        return Some(mine[(valid - 1) / 2]);
    }
    mine[..valid]
        .iter()
        .copied()
        .min_by(|a, b| a.noise().total_cmp(&b.noise()))
}

/// Starts a fresh server process for one scenario, runs it, stops it.
async fn run_one(
    s: &Settings,
    scenario: Scenario,
    kind: ServerKind,
    dir: &Path,
    core: Option<usize>,
) -> Outcome {
    let mut server = match Server::start(kind, scenario == Scenario::Fanout, dir, core) {
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
            Outcome::from_idle(kind, client::idle(addr, &url, s.idle, s.hold, pid).await)
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

fn results_markdown(
    report: &Report,
    s: &Settings,
    command: &str,
    elapsed: Duration,
    cores: usize,
    pinned: bool,
) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let problems = report.problems();
    let mut md = String::new();
    md.push_str("# cheese-bench results\n\n");
    md.push_str(&format!(
        "Produced by `{command}` in {:.0} s (builds included).\n\n",
        elapsed.as_secs_f64()
    ));
    md.push_str(&format!(
        "Machine: {} cores, Linux {}; {}. Each cell: a fresh server process, \
         {:.1} s warm-up, {:.1} s measured; idle: {} connections held {:.1} s; \
         {} round(s){}. 64 B messages are {}, 1 MiB ones binary. \
         Ratios are to plain axum with defaults in the same run; treat \
         differences under 20 % as noise.\n\n",
        cores,
        kernel.trim(),
        if pinned {
            "client pinned to core 0, servers to core 1"
        } else {
            "not pinned"
        },
        s.warmup.as_secs_f64(),
        s.secs.as_secs_f64(),
        s.idle,
        s.hold.as_secs_f64(),
        report.rounds,
        if report.rounds > 1 {
            ", the quietest round shown (idle: the median)"
        } else {
            ""
        },
        if s.text { "text" } else { "binary" },
    ));
    if s.scenarios.contains(&Scenario::Fanout) {
        md.push_str(&format!(
            "Fan-out: {} connections to one server; once a broadcast has \
             reached them all, {} unmeasured then {} measured broadcasts of \
             64 B text, one at a time. cheese-api's room \
             (`bench/src/bin/cheese_fanout.rs`) against plain axum with a \
             `tokio::sync::broadcast` channel (`bench/src/bin/axum_fanout.rs`), \
             **the baseline of the fan-out ratios**; the axum + nodelay and \
             axum tuned rows have no fan-out server (–).\n\n",
            report::fmt_int(s.fanout.conns as u64),
            s.fanout.warmup,
            s.fanout.broadcasts,
        ));
    }
    md.push_str("## Headline (absolute, and ratio to axum defaults)\n\n");
    md.push_str(&report.main_table());
    md.push_str(
        "\nEach cell: the figure of the reported round (the quietest: least \
         other work on the machine in its window; for idle memory the median), \
         its ratio to axum defaults' reported figure, and with several rounds \
         the lowest–highest ratio of a round to the same round's axum defaults. Idle memory: less is \
         better, so a ratio below 1 is a gain. ⚠ marks a cell with errors \
         (listed below); † one whose window had more than half a core of \
         other work on the machine (\"rest of machine\" below): distrust it.\n\n",
    );
    if s.scenarios.contains(&Scenario::Fanout) {
        md.push_str(
            "Fan-out column: messages delivered per second, receivers × \
             broadcasts ÷ the wall time of the measured broadcasts; its \
             \"cheese-api echo\" row is cheese-api's room server and its \"axum \
             defaults\" row is plain axum + `tokio::sync::broadcast`, the \
             baseline (1.00×) of that column only.\n\n",
        );
    }
    md.push_str("## Server CPU per message (per cycle), and ratio to axum defaults\n\n");
    md.push_str(
        "User + system time of the server process in the window ÷ echoes (cycles, \
         fan-out: messages delivered) in it; median over the rounds; less is better. This moves much less \
         with other load than throughput does, and it is the figure to compare \
         where the client's core is the limit.\n\n",
    );
    md.push_str(&report.cpu_table());
    md.push_str("\n## Details (the reported round)\n\n");
    md.push_str(
        "Latency: from the start of a batch to the arrival of each echo (for \
         cycles: the whole cycle). Server CPU per op: the server's user + \
         system time in the window divided by the echoes (or cycles) in it. \
         CPU columns: share of one core over the window. Rest of machine: \
         busy time of all cores beyond the server's and the client's own, \
         i.e. other programs plus kernel network work charged to neither; \
         when it is high, distrust the row.\n\n",
    );
    md.push_str(&report.detail_tables());
    if s.scenarios.contains(&Scenario::Fanout) {
        md.push_str(
            "\nFan-out p50, p99, max: over the reported round's broadcasts \
             (exact, not from a histogram), the time from the trigger's \
             `go <n>` to the arrival of broadcast n at the last receiver. \
             Per receiver: the same to each receiver's arrival, over every \
             receiver of every broadcast. Delivered: receivers × broadcasts \
             ÷ the wall time of the measured broadcasts, which run back to \
             back. Server CPU per message: the server's CPU in that time ÷ \
             messages delivered.\n",
        );
    }
    md.push_str("\n## Errors\n\n");
    if problems.is_empty() {
        md.push_str(if s.scenarios.contains(&Scenario::Fanout) {
            "None: every echoed byte matched, every receiver got every \
             broadcast exactly once and in order, no connection died.\n"
        } else {
            "None: every echoed byte matched, no connection died.\n"
        });
    } else {
        for p in &problems {
            md.push_str(&format!("- {p}\n"));
        }
    }
    md.push_str("\n![ratios to axum defaults](chart.svg)\n");
    md
}

/// `client URL ...`: one ad-hoc run against a server started by hand.
fn run_client(args: &[String]) -> Result<(), String> {
    let url = args
        .first()
        .ok_or("client needs a URL, e.g. ws://127.0.0.1:9001/")?
        .clone();
    let host = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs")?
        .split('/')
        .next()
        .unwrap_or_default();
    let addr: std::net::SocketAddr = host
        .parse()
        .map_err(|_| format!("`{host}` is not IP:PORT (names are not resolved)"))?;
    let mut spec = EchoSpec {
        conns: 50,
        inflight: 1,
        size: 64,
        text: true,
        warmup: Duration::from_secs(1),
        secs: Duration::from_secs(3),
        read_buffer: 8 * 1024,
    };
    let (mut pid, mut cycles, mut idle, mut hold) = (None, None, None, Duration::from_secs(3));
    let (mut fanout_conns, mut broadcasts) = (None, 100);
    let mut read_buffer = None;
    let mut it = args[1..].iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--conns" => spec.conns = number(value()?)?,
            "--inflight" => spec.inflight = number(value()?)?.max(1),
            "--size" => spec.size = number(value()?)?,
            "--binary" => spec.text = false,
            "--warmup" => spec.warmup = secs(value()?)?,
            "--secs" => spec.secs = secs(value()?)?,
            "--pid" => pid = Some(number(value()?)? as u32),
            "--cycles" => cycles = Some(number(value()?)?),
            "--idle" => idle = Some(number(value()?)?),
            "--hold" => hold = secs(value()?)?,
            "--read-buffer" => read_buffer = Some(number(value()?)?),
            "--fanout" => fanout_conns = Some(number(value()?)?.max(1)),
            "--broadcasts" => broadcasts = number(value()?)?.max(1),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    spec.read_buffer = read_buffer.unwrap_or(if spec.size >= 64 * 1024 {
        128 * 1024
    } else {
        8 * 1024
    });
    procs::raise_nofile();
    let _ = procs::usable_cores() >= 2 && procs::pin(0, 0).is_ok();
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    let outcome = local.block_on(&rt, async {
        if let Some(conns) = fanout_conns {
            let spec = FanoutSpec {
                conns,
                broadcasts,
                warmup: 5,
            };
            let r = fanout::fanout(addr, &url, &spec, pid).await;
            return Ok(Outcome::from_fanout(ServerKind::AxumDefaults, r));
        }
        if let Some(n) = idle {
            let pid = pid.ok_or("--idle needs --pid")?;
            let r = client::idle(addr, &url, n, hold, pid).await;
            return Ok(Outcome::from_idle(ServerKind::AxumDefaults, r));
        }
        let (scenario, run) = match cycles {
            Some(w) => (
                Scenario::Cycles,
                client::cycles(addr, &url, w, spec.size, spec.warmup, spec.secs, pid).await,
            ),
            None => (
                if spec.size >= 64 * 1024 {
                    Scenario::Echo1M
                } else {
                    Scenario::Echo64
                },
                client::echo(addr, &url, &spec, pid).await,
            ),
        };
        Ok::<_, String>(Outcome::from_run(scenario, ServerKind::AxumDefaults, run))
    })?;
    println!("{}", outcome.summary());
    Ok(())
}
