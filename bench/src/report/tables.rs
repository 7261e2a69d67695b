//! The markdown tables: the headline (absolute and ratio to axum
//! defaults), server CPU per message, and the details of the reported
//! round (latency and CPU; idle memory; fan-out times).

use std::fmt::Write as _;

use super::format::{fmt_dur, fmt_int, fmt_num, fmt_opt_us, fmt_pct};
use super::outcome::cpu_figures;
use super::{Figure, Outcome, Report, Scenario, Spread};
use crate::procs::ServerKind;

/// The head of a table with a row per server: its first column, then one
/// right-aligned column per heading.
pub(super) fn server_table_head(headings: impl Iterator<Item = String>) -> String {
    let mut t = String::from("| server |");
    let mut n = 0;
    for heading in headings {
        let _ = write!(t, " {heading} |");
        n += 1;
    }
    t.push_str("\n|---|");
    t.push_str(&"---:|".repeat(n));
    t.push('\n');
    t
}

impl Report<'_> {
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

    /// The main table: rows servers, columns scenarios, absolute (ratio of
    /// the medians; with several rounds, the range of per-round ratios).
    pub fn main_table(&self) -> String {
        let mut t = server_table_head(self.scenarios.iter().map(|&s| self.heading(s)));
        for &server in self.servers {
            let _ = write!(t, "| {} |", server.label());
            for (si, &scenario) in self.scenarios.iter().enumerate() {
                if !scenario.runs_on(server) {
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
            Spread::of(self.over_rounds(scenario, server, Figure::CpuPerOp)).map(|s| s.median)
        };
        let mut t = server_table_head(timed.iter().map(|s| match s {
            Scenario::Fanout => {
                "fan-out, per delivered message (vs axum + broadcast channel)".to_owned()
            }
            s => s.title().to_owned(),
        }));
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
                let [per_op, server_cpu, client_cpu, rest] = cpu_figures(r);
                let _ = writeln!(
                    t,
                    "| {} | {} | {} {unit} | {} | {} | {per_op} | {server_cpu} | {client_cpu} | {rest} | {} |",
                    s.title(),
                    server.label(),
                    fmt_num(rate),
                    fmt_dur(r.latency.quantile(0.5)),
                    fmt_dur(r.latency.quantile(0.99)),
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
            let [per_op, server_cpu, client_cpu, rest] = cpu_figures(r);
            let _ = writeln!(
                t,
                "| 1 → {} clients | {label} | {} | {} | {} | {} | {} | {} | {} msg/s | \
                 {per_op} | {server_cpu} | {client_cpu} | {rest} | {} |",
                fmt_int(f.connected as u64),
                f.times.len(),
                fmt_dur(f.quantile(0.5)),
                fmt_dur(f.quantile(0.99)),
                fmt_dur(f.max()),
                fmt_dur(f.per_client.quantile(0.5)),
                fmt_dur(f.per_client.quantile(0.99)),
                fmt_num(r.ops as f64 / r.window.as_secs_f64().max(1e-9)),
                r.error_count,
            );
        }
        t
    }
}
