//! Results as markdown tables (ratios to plain axum with defaults, same run;
//! for the fan-out scenario, to plain axum with a broadcast channel) and as
//! an SVG bar chart of those ratios.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::client::{IdleResult, RunResult};
use crate::fanout::{FanoutInfo, FanoutResult};
use crate::procs::ServerKind;

/// The scenarios, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Echo64,
    Echo64Batch,
    Echo1M,
    Cycles,
    Idle,
    /// One message to every connection of one node (cheese-api's room
    /// against plain axum with a `tokio::sync::broadcast` channel).
    Fanout,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Echo64,
        Scenario::Echo64Batch,
        Scenario::Echo1M,
        Scenario::Cycles,
        Scenario::Idle,
        Scenario::Fanout,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Scenario::Echo64 => "echo64",
            Scenario::Echo64Batch => "echo64x16",
            Scenario::Echo1M => "echo1m",
            Scenario::Cycles => "cycles",
            Scenario::Idle => "idle",
            Scenario::Fanout => "fanout",
        }
    }

    pub fn from_key(key: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Echo64 => "echo 64 B, 1 in flight",
            Scenario::Echo64Batch => "echo 64 B, 16 in flight",
            Scenario::Echo1M => "echo 1 MiB",
            Scenario::Cycles => "connect+echo+close",
            Scenario::Idle => "idle connections",
            Scenario::Fanout => "broadcast fan-out",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Scenario::Echo64 | Scenario::Echo64Batch => "msg/s",
            Scenario::Fanout => "msg/s delivered",
            Scenario::Echo1M => "MB/s",
            Scenario::Cycles => "cycles/s",
            Scenario::Idle => "KiB/conn",
        }
    }

    /// Idle memory is the only figure where less is better.
    pub fn higher_is_better(self) -> bool {
        self != Scenario::Idle
    }

    /// The scenario's name for `server`'s row: in the fan-out scenario the
    /// rows stand for other programs (see [`ServerKind::fanout_label`]).
    pub fn server_label(self, server: ServerKind) -> &'static str {
        if self == Scenario::Fanout {
            server.fanout_label()
        } else {
            server.label()
        }
    }
}

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
            let _ = write!(
                s,
                ", {} clients × {} broadcasts, fan-out p50 {} p99 {} max {}, \
                 server CPU {}/msg ({}), client CPU {}, rest {}",
                fmt_int(f.connected as u64),
                f.times.len(),
                fmt_dur(f.quantile(0.5)),
                fmt_dur(f.quantile(0.99)),
                fmt_dur(f.max()),
                fmt_opt_us(server_us_per_op(r)),
                fmt_pct(r.server_cpu, r.window),
                fmt_pct(r.client_cpu, r.window),
                fmt_pct(rest_of_machine(r), r.window),
            );
        } else if let Some(r) = &self.run {
            let _ = write!(
                s,
                ", p50 {} p99 {}, server CPU {}/op ({}), client CPU {}, rest {}",
                fmt_dur(r.latency.quantile(0.5)),
                fmt_dur(r.latency.quantile(0.99)),
                fmt_opt_us(server_us_per_op(r)),
                fmt_pct(r.server_cpu, r.window),
                fmt_pct(r.client_cpu, r.window),
                fmt_pct(rest_of_machine(r), r.window),
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

fn server_us_per_op(r: &RunResult) -> Option<f64> {
    let cpu = r.server_cpu?;
    (r.ops > 0).then(|| cpu.as_secs_f64() * 1e6 / r.ops as f64)
}

/// Everything one `all` run produced, medians picked.
pub struct Report<'a> {
    pub servers: &'a [ServerKind],
    pub scenarios: &'a [Scenario],
    /// `cells[scenario][server]`: the round reported (see `pick` in main);
    /// `None` where the server has no program for the scenario (fan-out).
    pub cells: Vec<Vec<Option<&'a Outcome>>>,
    /// Every outcome of every round.
    pub all: &'a [Outcome],
    pub rounds: usize,
    /// Connections in the fan-out scenario.
    pub fanout_conns: usize,
}

/// `true` when `server` runs in `scenario` (the fan-out scenario has two
/// servers only).
fn runs(scenario: Scenario, server: ServerKind) -> bool {
    scenario != Scenario::Fanout || server.has_fanout()
}

impl Report<'_> {
    fn cell(&self, si: usize, server: ServerKind) -> Option<&Outcome> {
        let k = self.servers.iter().position(|s| *s == server)?;
        self.cells[si].get(k).copied().flatten()
    }

    /// A column's heading in the main table.
    fn heading(&self, s: Scenario) -> String {
        match s {
            Scenario::Fanout => format!(
                "fan-out to {} clients ({}; ratio to axum + broadcast channel)",
                fmt_int(self.fanout_conns as u64),
                s.unit()
            ),
            _ => format!("{} ({})", s.title(), s.unit()),
        }
    }

    /// Ratio of a server's headline to axum-with-defaults' in the same
    /// scenario (for idle memory: server ÷ defaults, less is better).
    pub fn ratio(&self, si: usize, server: ServerKind) -> Option<f64> {
        let base = self.cell(si, ServerKind::AxumDefaults)?.headline?;
        let mine = self.cell(si, server)?.headline?;
        (base > 0.0).then(|| mine / base)
    }

    /// The lowest and highest ratio over the rounds, each round's server
    /// against the same round's axum defaults (`None` with one round).
    pub fn ratio_range(&self, scenario: Scenario, server: ServerKind) -> Option<(f64, f64)> {
        let headline = |kind: ServerKind, round: usize| {
            self.all
                .iter()
                .find(|o| o.scenario == scenario && o.server == kind && o.round == round)
                .and_then(|o| o.headline)
        };
        let ratios: Vec<f64> = (0..self.rounds)
            .filter_map(|r| {
                let base = headline(ServerKind::AxumDefaults, r)?;
                Some(headline(server, r)? / base).filter(|x| x.is_finite())
            })
            .collect();
        (ratios.len() >= 2).then(|| {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        })
    }

    /// The main table: rows servers, columns scenarios, absolute (ratio of
    /// the medians; with several rounds, the range of per-round ratios).
    pub fn main_table(&self) -> String {
        let mut t = String::from("| server |");
        for &s in self.scenarios {
            let _ = write!(t, " {} |", self.heading(s));
        }
        t.push_str("\n|---|");
        for _ in self.scenarios {
            t.push_str("---:|");
        }
        t.push('\n');
        for &server in self.servers {
            let _ = write!(t, "| {} |", server.label());
            for (si, &scenario) in self.scenarios.iter().enumerate() {
                if !runs(scenario, server) {
                    t.push_str(" – |");
                    continue;
                }
                let cell = self.cell(si, server);
                match cell.and_then(|c| c.headline) {
                    Some(h) => {
                        let mut ratio = self
                            .ratio(si, server)
                            .map_or("–".to_owned(), |r| format!("{r:.2}×"));
                        if scenario == Scenario::Fanout && server == ServerKind::AxumDefaults {
                            let _ = write!(ratio, ": {}", server.fanout_label());
                        } else if server != ServerKind::AxumDefaults {
                            if let Some((lo, hi)) = self.ratio_range(self.scenarios[si], server) {
                                let _ = write!(ratio, ", {lo:.2}–{hi:.2}");
                            }
                        }
                        let mut flag = "";
                        if cell.is_some_and(|c| !c.problems().is_empty()) {
                            flag = " ⚠";
                        } else if cell.is_some_and(Outcome::disturbed) {
                            flag = " †";
                        }
                        let _ = write!(t, " {} ({ratio}){flag} |", fmt_num(h));
                    }
                    None => t.push_str(" failed |"),
                }
            }
            t.push('\n');
        }
        t
    }

    /// Server CPU time per echo (per cycle), the median over the rounds,
    /// and its ratio to axum defaults' (less is better). It moves much
    /// less with the machine's load than throughput does.
    pub fn cpu_table(&self) -> String {
        let timed: Vec<Scenario> = self
            .scenarios
            .iter()
            .copied()
            .filter(|s| *s != Scenario::Idle)
            .collect();
        if timed.is_empty() {
            return String::new();
        }
        let median_cpu = |scenario: Scenario, server: ServerKind| {
            let mut v: Vec<f64> = self
                .all
                .iter()
                .filter(|o| o.scenario == scenario && o.server == server)
                .filter_map(|o| server_us_per_op(o.run.as_ref()?))
                .collect();
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| v[(v.len() - 1) / 2])
        };
        let mut t = String::from("| server |");
        for s in &timed {
            if *s == Scenario::Fanout {
                t.push_str(" fan-out, per delivered message (vs axum + broadcast channel) |");
            } else {
                let _ = write!(t, " {} |", s.title());
            }
        }
        t.push_str("\n|---|");
        for _ in &timed {
            t.push_str("---:|");
        }
        t.push('\n');
        for &server in self.servers {
            let _ = write!(t, "| {} |", server.label());
            for &s in &timed {
                match median_cpu(s, server) {
                    Some(us) => {
                        let ratio = median_cpu(s, ServerKind::AxumDefaults)
                            .filter(|b| *b > 0.0)
                            .map_or("–".to_owned(), |b| format!("{:.2}×", us / b));
                        let _ = write!(t, " {} ({ratio}) |", fmt_opt_us(Some(us)));
                    }
                    None => t.push_str(" – |"),
                }
            }
            t.push('\n');
        }
        t
    }

    /// Latency and CPU for the timed scenarios; memory and survival for idle.
    pub fn detail_tables(&self) -> String {
        let mut t = String::new();
        if self
            .scenarios
            .iter()
            .any(|s| !matches!(s, Scenario::Idle | Scenario::Fanout))
        {
            t.push_str(
                "| scenario | server | rate | p50 | p99 | server CPU per op | server CPU | client CPU | rest of machine | errors |\n\
                 |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
        }
        for (si, s) in self.scenarios.iter().enumerate() {
            if matches!(s, Scenario::Idle | Scenario::Fanout) {
                continue;
            }
            for &server in self.servers {
                let Some(c) = self.cell(si, server) else {
                    continue;
                };
                let Some(r) = &c.run else {
                    let _ = writeln!(
                        t,
                        "| {} | {} | failed | | | | | | | |",
                        s.title(),
                        server.label()
                    );
                    continue;
                };
                let rate = r.ops as f64 / r.window.as_secs_f64().max(1e-9);
                let unit = if *s == Scenario::Cycles {
                    "cycles/s"
                } else {
                    "msg/s"
                };
                let _ = writeln!(
                    t,
                    "| {} | {} | {} {unit} | {} | {} | {} | {} | {} | {} | {} |",
                    s.title(),
                    server.label(),
                    fmt_num(rate),
                    fmt_dur(r.latency.quantile(0.5)),
                    fmt_dur(r.latency.quantile(0.99)),
                    fmt_opt_us(server_us_per_op(r)),
                    fmt_pct(r.server_cpu, r.window),
                    fmt_pct(r.client_cpu, r.window),
                    fmt_pct(rest_of_machine(r), r.window),
                    r.error_count,
                );
            }
        }
        if let Some(si) = self.scenarios.iter().position(|s| *s == Scenario::Idle) {
            if !t.is_empty() {
                t.push('\n');
            }
            t.push_str(
                "| idle | server | KiB per connection | server VmRSS before → after | survived | opened in | server CPU in the hold | errors |\n\
                 |---|---|---:|---:|---:|---:|---:|---:|\n",
            );
            for &server in self.servers {
                let Some(c) = self.cell(si, server) else {
                    continue;
                };
                let Some(i) = &c.idle else {
                    let _ = writeln!(t, "| idle | {} | failed | | | | | |", server.label());
                    continue;
                };
                let _ = writeln!(
                    t,
                    "| {} held {:.0} s | {} | {} | {} → {} KiB | {} / {} | {:.2} s | {} | {} |",
                    fmt_int(i.target as u64),
                    i.hold.as_secs_f64(),
                    server.label(),
                    i.kib_per_conn()
                        .map_or("–".to_owned(), |k| format!("{k:.1}")),
                    i.rss_before_kib.map_or("?".to_owned(), fmt_int),
                    i.rss_after_kib.map_or("?".to_owned(), fmt_int),
                    fmt_int(i.survivors as u64),
                    fmt_int(i.target as u64),
                    i.open_time.as_secs_f64(),
                    fmt_pct(i.server_cpu, i.hold),
                    i.error_count,
                );
            }
        }
        if let Some(si) = self.scenarios.iter().position(|s| *s == Scenario::Fanout) {
            if !t.is_empty() {
                t.push('\n');
            }
            t.push_str(&self.fanout_table(si));
        }
        t
    }

    /// The fan-out scenario: fan-out times (exact, over the reported
    /// round's broadcasts), per-receiver arrival, rate and CPU.
    fn fanout_table(&self, si: usize) -> String {
        let mut t = String::from(
            "| fan-out | server | broadcasts | fan-out p50 | fan-out p99 | fan-out max | \
             per receiver p50 | per receiver p99 | delivered | server CPU per message | \
             server CPU | client CPU | rest of machine | errors |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for &server in self.servers.iter().filter(|k| k.has_fanout()) {
            let label = Scenario::Fanout.server_label(server);
            let Some((r, f)) = self
                .cell(si, server)
                .and_then(|c| c.run.as_ref().zip(c.fanout.as_ref()))
            else {
                let _ = writeln!(t, "| | {label} | failed | | | | | | | | | | | |");
                continue;
            };
            let _ = writeln!(
                t,
                "| 1 → {} clients | {label} | {} | {} | {} | {} | {} | {} | {} msg/s | {} | {} | {} | {} | {} |",
                fmt_int(f.connected as u64),
                f.times.len(),
                fmt_dur(f.quantile(0.5)),
                fmt_dur(f.quantile(0.99)),
                fmt_dur(f.max()),
                fmt_dur(f.per_client.quantile(0.5)),
                fmt_dur(f.per_client.quantile(0.99)),
                fmt_num(r.ops as f64 / r.window.as_secs_f64().max(1e-9)),
                fmt_opt_us(server_us_per_op(r)),
                fmt_pct(r.server_cpu, r.window),
                fmt_pct(r.client_cpu, r.window),
                fmt_pct(rest_of_machine(r), r.window),
                r.error_count,
            );
        }
        t
    }

    /// Every error seen in any round (empty when the run was clean).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for o in self.all {
            for p in o.problems() {
                out.push(format!(
                    "round {}, {} / {}: {p}",
                    o.round + 1,
                    o.scenario.title(),
                    o.scenario.server_label(o.server)
                ));
            }
        }
        out
    }

    /// A grouped bar chart of the ratios on a log scale, bars starting at
    /// 1× (axum defaults; for the fan-out, axum + broadcast channel). Idle
    /// memory is drawn as defaults ÷ server so that up is better everywhere.
    pub fn chart(&self, path: &Path) -> Result<(), String> {
        let n = self.scenarios.len();
        let mut bars: Vec<(usize, usize, f64)> = Vec::new();
        for (si, s) in self.scenarios.iter().enumerate() {
            for (k, &server) in self.servers.iter().enumerate() {
                if let Some(r) = self.ratio(si, server).filter(|r| *r > 0.0) {
                    let up = if s.higher_is_better() { r } else { 1.0 / r };
                    bars.push((si, k, up));
                }
            }
        }
        let lo = bars.iter().map(|b| b.2).fold(1.0f64, f64::min) / 1.6;
        let hi = bars.iter().map(|b| b.2).fold(1.0f64, f64::max) * 1.6;
        let err = |e: DrawingAreaErrorKind<std::io::Error>| format!("chart: {e}");

        let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Ratio to plain axum with defaults (fan-out: axum + broadcast channel), \
                 same client, same run (higher is better)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            // Scenario i is centred on x = i: the default key points of this
            // range fall on the integers, which get the names.
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (lo..hi).log_scale())
            .map_err(err)?;
        let names: Vec<String> = self
            .scenarios
            .iter()
            .map(|s| match s {
                Scenario::Idle => "idle memory (defaults ÷ server)".to_owned(),
                Scenario::Fanout => "fan-out (vs axum + broadcast)".to_owned(),
                _ => s.title().to_owned(),
            })
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| format!("{y:.2}×"))
            .y_desc("ratio (log scale)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;

        let width = 0.8 / self.servers.len() as f64;
        for (k, &server) in self.servers.iter().enumerate() {
            // Colour-blind-safe (Okabe–Ito), one per server.
            let color = match server {
                ServerKind::Cheese => RGBColor(230, 159, 0),
                ServerKind::AxumDefaults => RGBColor(120, 120, 120),
                ServerKind::AxumNodelay => RGBColor(86, 180, 233),
                ServerKind::AxumTuned => RGBColor(0, 114, 178),
            };
            let mine: Vec<(usize, f64)> = bars
                .iter()
                .filter(|b| b.1 == k)
                .map(|b| (b.0, b.2))
                .collect();
            chart
                .draw_series(mine.iter().map(|&(si, r)| {
                    let x0 = si as f64 - 0.4 + k as f64 * width;
                    // A bar at exactly 1× would be invisible: give it a sliver.
                    let (a, b) = if (r - 1.0).abs() < 0.01 {
                        (0.99, 1.01)
                    } else {
                        (1.0, r)
                    };
                    Rectangle::new([(x0, a), (x0 + width * 0.92, b)], color.filled())
                }))
                .map_err(err)?
                .label(server.label())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart
                .draw_series(mine.iter().map(|&(si, r)| {
                    let x = si as f64 - 0.4 + (k as f64 + 0.46) * width;
                    let y = if r >= 1.0 { r * 1.08 } else { r / 1.02 };
                    Text::new(
                        format!("{r:.2}×"),
                        (x, y),
                        ("sans-serif", 11).into_font().color(&BLACK).pos(Pos::new(
                            HPos::Center,
                            if r >= 1.0 { VPos::Bottom } else { VPos::Top },
                        )),
                    )
                }))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
        Ok(())
    }
}

/// 1234567.8 → "1,234,568"; small values keep one or two decimals.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "?".to_owned();
    }
    if x.abs() < 10.0 {
        return format!("{x:.2}");
    }
    if x.abs() < 1000.0 {
        return format!("{x:.1}");
    }
    let digits = fmt_int(x.abs().round() as u64);
    if x < 0.0 {
        format!("-{digits}")
    } else {
        digits
    }
}

/// 1234567 → "1,234,567".
pub fn fmt_int(n: u64) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = String::from(&digits[..first.min(digits.len())]);
    for group in digits.as_bytes()[first.min(digits.len())..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

pub fn fmt_dur(d: Option<Duration>) -> String {
    match d {
        None => "–".to_owned(),
        Some(d) if d < Duration::from_millis(1) => format!("{:.0} µs", d.as_secs_f64() * 1e6),
        Some(d) if d < Duration::from_secs(1) => format!("{:.2} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}

fn fmt_opt_us(us: Option<f64>) -> String {
    match us {
        None => "–".to_owned(),
        Some(us) if us < 100.0 => format!("{us:.2} µs"),
        Some(us) => format!("{} µs", fmt_num(us)),
    }
}

fn fmt_pct(cpu: Option<Duration>, window: Duration) -> String {
    match cpu {
        None => "–".to_owned(),
        Some(c) => format!(
            "{:.0} %",
            c.as_secs_f64() / window.as_secs_f64().max(1e-9) * 100.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(fmt_num(1_234_567.8), "1,234,568");
        assert_eq!(fmt_num(999.94), "999.9");
        assert_eq!(fmt_num(6.3), "6.30");
        assert_eq!(fmt_int(5000), "5,000");
        assert_eq!(fmt_int(12), "12");
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(100_000), "100,000");
        assert_eq!(fmt_int(1_234_567), "1,234,567");
        assert_eq!(fmt_dur(Some(Duration::from_micros(250))), "250 µs");
        assert_eq!(fmt_dur(Some(Duration::from_micros(4_010))), "4.01 ms");
    }
}
