//! Across the rounds: each server's median and range in every scenario,
//! and cheese-api against issue 16's targets (idle ≤ 3 KiB per connection,
//! 1 MiB and fan-out ≥ 1.0× Bun, 1 and 16 in flight ≥ 0.95× the hand-tuned
//! axum echo with no more than 1.05× its server CPU per message, connect +
//! echo + close ≥ the best peer), each a ratio taken round by round.

use std::fmt::Write as _;

use super::format::fmt_num;
use super::{Figure, Report, Scenario, Spread};
use crate::procs::ServerKind;

/// What cheese-api's figure is held against.
#[derive(Clone, Copy)]
enum Against {
    Server(ServerKind),
    /// The highest figure of the other servers in the same round.
    BestPeer,
    /// A fixed figure.
    Fixed(f64),
}

/// One of issue 16's targets: cheese-api's `figure` in `scenario` ÷ the
/// reference's, at least (or, when `at_most`, at most) `goal`.
struct Target {
    /// Its name under the chart's bar.
    short: &'static str,
    scenario: Scenario,
    figure: Figure,
    against: Against,
    at_most: bool,
    goal: f64,
}

const fn target(
    short: &'static str,
    scenario: Scenario,
    figure: Figure,
    against: Against,
    goal: f64,
) -> Target {
    let at_most = matches!(figure, Figure::CpuPerOp) || matches!(scenario, Scenario::Idle);
    Target {
        short,
        scenario,
        figure,
        against,
        at_most,
        goal,
    }
}

const TUNED: Against = Against::Server(ServerKind::AxumTuned);
const BUN: Against = Against::Server(ServerKind::Bun);

/// Issue 16's targets, in table order.
const TARGETS: [Target; 8] = [
    target(
        "1 in flight vs tuned",
        Scenario::Echo64,
        Figure::Headline,
        TUNED,
        0.95,
    ),
    target(
        "CPU at 1 vs tuned",
        Scenario::Echo64,
        Figure::CpuPerOp,
        TUNED,
        1.05,
    ),
    target(
        "16 in flight vs tuned",
        Scenario::Echo64Batch,
        Figure::Headline,
        TUNED,
        0.95,
    ),
    target(
        "CPU at 16 vs tuned",
        Scenario::Echo64Batch,
        Figure::CpuPerOp,
        TUNED,
        1.05,
    ),
    target("1 MiB vs Bun", Scenario::Echo1M, Figure::Headline, BUN, 1.0),
    target(
        "connect vs best peer",
        Scenario::Cycles,
        Figure::Headline,
        Against::BestPeer,
        1.0,
    ),
    target(
        "idle vs 3 KiB",
        Scenario::Idle,
        Figure::Headline,
        Against::Fixed(3.0),
        1.0,
    ),
    target(
        "fan-out vs Bun",
        Scenario::Fanout,
        Figure::Headline,
        BUN,
        1.0,
    ),
];

/// A target's figures over the rounds: cheese-api's, the reference's and
/// their ratios (each ratio within one round).
struct Measured<'t> {
    target: &'t Target,
    mine: Vec<f64>,
    refs: Vec<f64>,
    ratios: Vec<f64>,
}

impl Measured<'_> {
    fn meets(&self, ratio: f64) -> bool {
        if self.target.at_most {
            ratio <= self.target.goal
        } else {
            ratio >= self.target.goal
        }
    }
}

/// A target for the chart, turned so that up is better (an at-most ratio
/// and its goal inverted): its short name, the ratios' median and range,
/// and the goal.
pub struct TargetBar {
    pub name: &'static str,
    pub up: Spread,
    pub goal: f64,
}

/// The unit of a figure: CPU in µs, a headline in the scenario's unit.
fn unit(figure: Figure, scenario: Scenario) -> &'static str {
    match figure {
        Figure::CpuPerOp => "µs",
        Figure::Headline => scenario.unit(),
    }
}

/// A figure's number: CPU with two decimals under 100 µs (as the CPU
/// table), a headline as the main table.
fn number(figure: Figure) -> fn(f64) -> String {
    match figure {
        Figure::CpuPerOp => |x| {
            if x < 100.0 {
                format!("{x:.2}")
            } else {
                fmt_num(x)
            }
        },
        Figure::Headline => fmt_num,
    }
}

/// "median (lowest–highest)" of figures formatted by `f` (only the median
/// when the range reads the same), then `unit`; "–" for none.
fn fmt_spread(v: Vec<f64>, f: impl Fn(f64) -> String, unit: &str) -> String {
    let Some(s) = Spread::of(v) else {
        return "–".to_owned();
    };
    let (median, lo, hi) = (f(s.median), f(s.lo), f(s.hi));
    let range = if lo == hi {
        String::new()
    } else {
        format!(" ({lo}–{hi})")
    };
    format!("{median}{range}{unit}")
}

impl Report<'_> {
    /// Rows servers, columns scenarios: the median of the rounds' headline
    /// figures and their range.
    pub fn medians_table(&self) -> String {
        let mut t = super::tables::server_table_head(
            self.scenarios
                .iter()
                .map(|s| format!("{} ({})", s.title(), s.unit())),
        );
        for &server in self.servers {
            let _ = write!(t, "| {} |", server.label());
            for &s in self.scenarios {
                let v = self.over_rounds(s, server, Figure::Headline);
                let _ = write!(t, " {} |", fmt_spread(v, fmt_num, ""));
            }
            t.push('\n');
        }
        t
    }

    /// The reference figure of `target` in `round`.
    fn reference(&self, target: &Target, round: usize) -> Option<f64> {
        let Target {
            scenario, figure, ..
        } = *target;
        match target.against {
            Against::Server(k) => self.figure(scenario, k, round, figure),
            Against::Fixed(x) => Some(x),
            Against::BestPeer => self
                .servers
                .iter()
                .filter(|&&k| k != ServerKind::Cheese)
                .filter_map(|&k| self.figure(scenario, k, round, figure))
                .reduce(f64::max),
        }
    }

    /// The targets whose scenario ran, with cheese-api's figures and the
    /// reference's over the rounds; those without a single ratio left out.
    fn measured(&self) -> Vec<Measured<'static>> {
        TARGETS
            .iter()
            .filter(|t| self.scenarios.contains(&t.scenario))
            .filter_map(|target| {
                let (mut mine, mut refs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..self.rounds {
                    let Some(m) =
                        self.figure(target.scenario, ServerKind::Cheese, round, target.figure)
                    else {
                        continue;
                    };
                    mine.push(m);
                    if let Some(r) = self.reference(target, round).filter(|r| *r > 0.0) {
                        refs.push(r);
                        ratios.push(m / r);
                    }
                }
                (!ratios.is_empty()).then_some(Measured {
                    target,
                    mine,
                    refs,
                    ratios,
                })
            })
            .collect()
    }

    /// The targets as the chart draws them (see [`TargetBar`]).
    pub fn target_bars(&self) -> Vec<TargetBar> {
        self.measured()
            .into_iter()
            .filter_map(|m| {
                let t = m.target;
                let turn = |x: f64| if t.at_most { 1.0 / x } else { x };
                Some(TargetBar {
                    name: t.short,
                    up: Spread::of(m.ratios.iter().map(|&x| turn(x)).collect())?,
                    goal: turn(t.goal),
                })
            })
            .collect()
    }

    /// cheese-api against issue 16's targets, each as the ratio of its
    /// figure to the reference's in the same round (median and range), met
    /// or not on the median, and in how many rounds. Targets whose
    /// scenario or reference did not run are left out; empty when none is
    /// left.
    pub fn targets_table(&self) -> String {
        let rows: String = self.measured().into_iter().map(target_row).collect();
        if rows.is_empty() {
            return rows;
        }
        format!(
            "| target (issue 16) | cheese-api | reference | cheese-api ÷ reference, round by round | met on the median |\n\
             |---|---:|---:|---:|---|\n{rows}"
        )
    }
}

/// The table's row of one target.
fn target_row(m: Measured) -> String {
    let target = m.target;
    let Target {
        scenario, figure, ..
    } = *target;
    let median = Spread::of(m.ratios.clone()).map_or(f64::NAN, |s| s.median);
    let rounds_met = m.ratios.iter().filter(|&&x| m.meets(x)).count();
    let counted = m.ratios.len();
    let met = if m.meets(median) { "**yes**" } else { "no" };
    let (num, suffix) = (number(figure), format!(" {}", unit(figure, scenario)));
    let sign = if target.at_most { "≤" } else { "≥" };
    let measure = match figure {
        Figure::CpuPerOp => "server CPU per message",
        Figure::Headline => scenario.unit(),
    };
    let (goal, reference) = match target.against {
        Against::Server(k) => (
            format!("{sign} {:.2}× {}", target.goal, k.label()),
            format!(
                "{}: {}",
                scenario.server_label(k),
                fmt_spread(m.refs, num, &suffix)
            ),
        ),
        Against::BestPeer => (
            format!("{sign} {:.2}× the best peer", target.goal),
            format!(
                "best of the others in each round: {}",
                fmt_spread(m.refs, num, &suffix)
            ),
        ),
        Against::Fixed(x) => (
            format!("{sign} {}", fmt_num(x * target.goal)),
            format!("{}{suffix}", num(x)),
        ),
    };
    format!(
        "| {}, {measure} {goal} | {} | {reference} | {} | {met} ({rounds_met} of {counted} round{}) |\n",
        scenario.title(),
        fmt_spread(m.mine, num, &suffix),
        fmt_spread(m.ratios, |x| format!("{x:.2}×"), ""),
        if counted == 1 { "" } else { "s" },
    )
}
