//! One server in one scenario in one round: its headline figure, what the
//! client measured, its problems, how disturbed its window was, and its
//! line in the progress log.

use std::fmt::Write as _;
use std::time::Duration;

use super::format::{fmt_dur, fmt_int, fmt_num, fmt_opt_us, fmt_pct};
use super::Scenario;
use crate::client::RunResult;
use crate::fanout::{FanoutInfo, FanoutResult};
use crate::idle::IdleResult;
use crate::procs::ServerKind;

/// One server in one scenario (one round).
pub struct Outcome {
    pub scenario: Scenario,
    pub server: ServerKind,
    /// The figure in the main table (see [`Scenario::unit`]).
    pub headline: Option<f64>,
    pub run: Option<RunResult>,
    pub idle: Option<IdleResult>,
    pub fanout: Option<FanoutInfo>,
    /// Why there is no result, when the server could not be run.
    pub failure: Option<String>,
    /// Which round (from 0) this came from.
    pub round: usize,
}

impl Outcome {
    pub fn from_run(scenario: Scenario, server: ServerKind, run: RunResult) -> Outcome {
        let secs = run.window.as_secs_f64().max(1e-9);
        let headline = match scenario {
            Scenario::Echo1M => run.bytes as f64 / secs / 1e6,
            _ => run.ops as f64 / secs,
        };
        Outcome {
            scenario,
            server,
            headline: (run.ops > 0).then_some(headline),
            run: Some(run),
            idle: None,
            fanout: None,
            failure: None,
            round: 0,
        }
    }

    /// Headline: messages delivered per second over the measured
    /// broadcasts (receivers × broadcasts ÷ their wall time).
    pub fn from_fanout(server: ServerKind, result: FanoutResult) -> Outcome {
        let mut outcome = Outcome::from_run(Scenario::Fanout, server, result.run);
        outcome.fanout = Some(result.info);
        outcome
    }

    pub fn from_idle(server: ServerKind, idle: IdleResult) -> Outcome {
        Outcome {
            scenario: Scenario::Idle,
            server,
            headline: idle.kib_per_conn(),
            run: None,
            idle: Some(idle),
            fanout: None,
            failure: None,
            round: 0,
        }
    }

    pub fn failed(scenario: Scenario, server: ServerKind, why: String) -> Outcome {
        Outcome {
            scenario,
            server,
            headline: None,
            run: None,
            idle: None,
            fanout: None,
            failure: Some(why),
            round: 0,
        }
    }

    /// Errors (and dead connections) worth a reader's attention.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.failure {
            out.push(f.clone());
        }
        if let Some(r) = &self.run {
            if r.error_count > 0 {
                out.push(format!(
                    "{} error(s), {} connection(s)/worker(s) failed; first: {}",
                    r.error_count,
                    r.failed,
                    r.errors.join(" | ")
                ));
            }
        }
        if let Some(f) = &self.fanout {
            if f.connected < f.target || f.times.len() < f.broadcasts {
                out.push(format!(
                    "{} of {} connections opened, {} of {} broadcasts completed, {} receiver(s) lost",
                    f.connected,
                    f.target,
                    f.times.len(),
                    f.broadcasts,
                    f.lost
                ));
            }
        }
        if let Some(i) = &self.idle {
            if i.survivors < i.target || i.error_count > 0 {
                out.push(format!(
                    "{} of {} connections survived; {} error(s); first: {}",
                    i.survivors,
                    i.target,
                    i.error_count,
                    i.errors.join(" | ")
                ));
            }
        }
        out
    }

    /// Other work on the machine during the window, in cores (infinite
    /// when unknown).
    pub fn noise(&self) -> f64 {
        self.run
            .as_ref()
            .and_then(|r| {
                Some(rest_of_machine(r)?.as_secs_f64() / r.window.as_secs_f64().max(1e-9))
            })
            .unwrap_or(f64::INFINITY)
    }

    /// `true` when other work took more than half a core during the
    /// measured window (see [`rest_of_machine`]).
    pub fn disturbed(&self) -> bool {
        self.run.as_ref().is_some_and(|r| {
            rest_of_machine(r).is_some_and(|rest| rest.as_secs_f64() > 0.5 * r.window.as_secs_f64())
        })
    }

    /// A one-line summary for the progress log.
    pub fn summary(&self) -> String {
        let mut s = match self.headline {
            Some(h) => format!("{} {}", fmt_num(h), self.scenario.unit()),
            None => "no result".to_owned(),
        };
        if let (Some(r), Some(f)) = (&self.run, &self.fanout) {
            let [per_op, server_cpu, client_cpu, rest] = cpu_figures(r);
            let _ = write!(
                s,
                ", {} clients × {} broadcasts, fan-out p50 {} p99 {} max {}, \
                 server CPU {per_op}/msg ({server_cpu}), client CPU {client_cpu}, rest {rest}",
                fmt_int(f.connected as u64),
                f.times.len(),
                fmt_dur(f.quantile(0.5)),
                fmt_dur(f.quantile(0.99)),
                fmt_dur(f.max()),
            );
        } else if let Some(r) = &self.run {
            let [per_op, server_cpu, client_cpu, rest] = cpu_figures(r);
            let _ = write!(
                s,
                ", p50 {} p99 {}, server CPU {per_op}/op ({server_cpu}), client CPU {client_cpu}, rest {rest}",
                fmt_dur(r.latency.quantile(0.5)),
                fmt_dur(r.latency.quantile(0.99)),
            );
        }
        if let Some(i) = &self.idle {
            let _ = write!(
                s,
                ", {}/{} survived, opened in {:.2} s, server CPU in the hold {}",
                i.survivors,
                i.target,
                i.open_time.as_secs_f64(),
                fmt_pct(i.server_cpu, i.hold),
            );
        }
        for p in self.problems() {
            let _ = write!(s, "\n    !! {p}");
        }
        s
    }
}

/// CPU the machine spent busy in the window beyond what the server and the
/// client were charged: other programs, and kernel work (such as loopback
/// network processing in soft interrupts) not charged to either process.
fn rest_of_machine(r: &RunResult) -> Option<Duration> {
    let all = r.machine_busy?;
    Some(all.saturating_sub(r.server_cpu? + r.client_cpu?))
}

/// Server CPU time per echo (cycle, delivered message) in µs.
pub(super) fn server_us_per_op(r: &RunResult) -> Option<f64> {
    let cpu = r.server_cpu?;
    (r.ops > 0).then(|| cpu.as_secs_f64() * 1e6 / r.ops as f64)
}

/// The CPU columns of a timed run, formatted: server CPU per op, then the
/// server's, the client's and the rest of the machine's share of one core
/// over the window.
pub(super) fn cpu_figures(r: &RunResult) -> [String; 4] {
    [
        fmt_opt_us(server_us_per_op(r)),
        fmt_pct(r.server_cpu, r.window),
        fmt_pct(r.client_cpu, r.window),
        fmt_pct(rest_of_machine(r), r.window),
    ]
}
