//! The report rendered from fixed fake outcomes (every scenario and server,
//! three rounds, with failures, errors and a disturbed window; and a small
//! clean run) and compared with the snapshots in `snapshots/`: results.md,
//! chart.svg and the progress log's lines. After an intended change to the
//! output, `UPDATE_SNAPSHOTS=1 cargo test -p cheese-bench` rewrites them.

use std::path::PathBuf;
use std::time::Duration;

use super::{results_markdown, Outcome, Report, RunInfo, Scenario};
use crate::client::RunResult;
use crate::fanout::{FanoutInfo, FanoutResult};
use crate::histogram::Histogram;
use crate::idle::IdleResult;
use crate::procs::ServerKind;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn spread(center_us: u64) -> Histogram {
    let mut h = Histogram::default();
    for k in 1..=100 {
        h.record(Duration::from_micros(center_us * k / 50));
    }
    h
}

/// A timed run in a 3 s window with `rest_ms` of other work on the machine.
fn run(ops: u64, bytes_per_op: u64, lat_us: u64, server_ms: u64, rest_ms: u64) -> RunResult {
    RunResult {
        ops,
        bytes: ops * bytes_per_op,
        window: ms(3000),
        latency: spread(lat_us),
        server_cpu: Some(ms(server_ms)),
        client_cpu: Some(ms(2900)),
        machine_busy: Some(ms(server_ms + 2900 + rest_ms)),
        ..RunResult::default()
    }
}

fn factor(server: ServerKind) -> f64 {
    match server {
        ServerKind::Cheese => 1.3,
        ServerKind::AxumDefaults => 1.0,
        ServerKind::AxumNodelay => 1.1,
        ServerKind::AxumTuned => 1.25,
        ServerKind::Bun => 1.4,
    }
}

/// Every outcome of a run of `rounds` rounds; `clean` leaves out the
/// failures, errors and disturbed windows.
fn outcomes(
    servers: &[ServerKind],
    scenarios: &[Scenario],
    rounds: usize,
    clean: bool,
) -> Vec<Outcome> {
    let mut all = Vec::new();
    for round in 0..rounds {
        let rf = [1.0, 0.9, 1.05][round % 3];
        let rest = [400, 100, 900][round % 3];
        for &scenario in scenarios {
            for &server in servers {
                if scenario == Scenario::Fanout && !server.has_fanout() {
                    continue;
                }
                let f = factor(server) * rf;
                let dirty = !clean;
                let rest =
                    if dirty && scenario == Scenario::Cycles && server == ServerKind::AxumNodelay {
                        2000
                    } else {
                        rest
                    };
                let mut o = match scenario {
                    Scenario::Echo64 | Scenario::Echo64Batch => {
                        let base = if scenario == Scenario::Echo64 {
                            150_000.0
                        } else {
                            600_000.0
                        };
                        let ops = (base * f) as u64;
                        let mut r = run(ops, 64, (300.0 / f) as u64, (2400.0 / f) as u64, rest);
                        if dirty
                            && scenario == Scenario::Echo64Batch
                            && server == ServerKind::Cheese
                            && round == 1
                        {
                            r.error_count = 3;
                            r.failed = 1;
                            r.errors = vec![
                                "receive: connection reset".to_owned(),
                                "closed by the server".to_owned(),
                            ];
                        }
                        let mut o = Outcome::from_run(scenario, server, r);
                        if dirty
                            && scenario == Scenario::Echo64
                            && server == ServerKind::AxumNodelay
                            && round == 1
                        {
                            o.failure = Some("the server process exited during the run".to_owned());
                        }
                        o
                    }
                    Scenario::Echo1M => {
                        if dirty && server == ServerKind::AxumTuned && round == 0 {
                            Outcome::failed(scenario, server, "axum_tuned: no such file".to_owned())
                        } else {
                            let ops = (2_000.0 * f) as u64;
                            Outcome::from_run(
                                scenario,
                                server,
                                run(ops, 1 << 20, (5_000.0 / f) as u64, 2000, rest),
                            )
                        }
                    }
                    Scenario::Cycles => {
                        if dirty && server == ServerKind::AxumTuned {
                            Outcome::failed(
                                scenario,
                                server,
                                "cannot start: address in use".to_owned(),
                            )
                        } else {
                            let ops = (20_000.0 * f) as u64;
                            Outcome::from_run(
                                scenario,
                                server,
                                run(ops, 64, (800.0 / f) as u64, 2700, rest),
                            )
                        }
                    }
                    Scenario::Idle => {
                        let before = 9_000 + 100 * round as u64;
                        let per = (60.0 / f) as u64;
                        let mut i = IdleResult {
                            target: 5000,
                            opened: 5000,
                            open_time: ms(420 + 10 * round as u64),
                            rss_before_kib: Some(before),
                            rss_after_kib: Some(before + per * 5000),
                            server_cpu: Some(ms(12)),
                            hold: ms(3000),
                            survivors: 5000,
                            ..IdleResult::default()
                        };
                        if dirty && server == ServerKind::AxumTuned && round == 1 {
                            i.survivors = 4990;
                            i.error_count = 10;
                            i.errors = vec!["closed during the hold".to_owned()];
                        }
                        if dirty && server == ServerKind::AxumNodelay && round == 0 {
                            i.rss_after_kib = None;
                        }
                        Outcome::from_idle(server, i)
                    }
                    Scenario::Fanout => {
                        let conns = 5000usize;
                        let mut info = FanoutInfo {
                            target: conns,
                            connected: conns,
                            connect_time: ms(900),
                            broadcasts: 100,
                            times: (0..100)
                                .map(|k| Duration::from_micros((4000.0 / f) as u64 + 37 * k))
                                .collect(),
                            per_client: spread((2000.0 / f) as u64),
                            lost: 0,
                        };
                        if dirty && server == ServerKind::AxumDefaults && round == 1 {
                            info.connected = 4990;
                            info.times.truncate(98);
                            info.lost = 2;
                        }
                        let r = run((conns * info.times.len()) as u64, 64, 4000, 1500, rest);
                        Outcome::from_fanout(server, FanoutResult { run: r, info })
                    }
                };
                o.round = round;
                all.push(o);
            }
        }
    }
    all
}

/// Renders results.md, chart.svg and the summaries of `outcomes` and
/// compares each with its snapshot `name.{md,svg,txt}`.
fn check(name: &str, args: &str, clean: bool, cores: usize, pinned: bool) {
    let args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
    let s = crate::parse_all(&args).expect("the arguments parse");
    let all = outcomes(&s.servers, &s.scenarios, s.rounds, clean);
    let report = Report::new(&s.servers, &s.scenarios, &all, s.rounds, s.fanout.conns);
    let run = RunInfo {
        command: "cargo run --release -p cheese-bench -- all".to_owned(),
        elapsed: Duration::from_millis(331_400),
        cores,
        kernel: "6.1.0-snapshot\n".to_owned(),
        pinned,
    };
    let markdown = results_markdown(&report, &s, &run);
    let svg_path =
        std::env::temp_dir().join(format!("cheese-bench-{}-{name}.svg", std::process::id()));
    report.chart(&svg_path).expect("the chart draws");
    let svg = std::fs::read_to_string(&svg_path).expect("the chart was written");
    let _ = std::fs::remove_file(&svg_path);
    let summaries: Vec<String> = all.iter().map(Outcome::summary).collect();

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/report/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    for (ext, actual) in [
        ("md", markdown),
        ("svg", svg),
        ("txt", summaries.join("\n") + "\n"),
    ] {
        let path = dir.join(format!("{name}.{ext}"));
        if update {
            std::fs::write(&path, &actual).expect("the snapshot is writable");
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if actual != expected {
            let out = std::env::temp_dir().join(format!("cheese-bench-{name}.{ext}"));
            let _ = std::fs::write(&out, &actual);
            panic!(
                "{} differs from this output, written to {}: diff them; \
                 if the change is intended, run with UPDATE_SNAPSHOTS=1",
                path.display(),
                out.display()
            );
        }
    }
}

#[test]
fn a_full_run_with_failures_renders_as_its_snapshot() {
    check("full", "", false, 2, true);
}

#[test]
fn a_small_clean_quick_run_renders_as_its_snapshot() {
    check(
        "small",
        "--quick --binary --servers cheese --scenarios echo64,idle",
        true,
        1,
        false,
    );
}
