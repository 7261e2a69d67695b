//! The results of an `all` run: which round each cell reports, the ratios
//! to plain axum with defaults (same run; for the fan-out scenario, to
//! plain axum with a broadcast channel), and how they are shown: the
//! markdown tables ([`tables`]; medians over the rounds and issue 16's
//! targets in [`targets`]) inside results.md ([`results`]) and an SVG bar
//! chart of the ratios ([`chart`]).

mod chart;
pub(crate) mod format;
mod outcome;
mod results;
mod scenario;
mod tables;
mod targets;
#[cfg(test)]
mod tests;

pub use outcome::Outcome;
pub use results::{print_and_write, results_markdown, RunInfo};
pub use scenario::Scenario;

use crate::procs::ServerKind;

/// Everything one `all` run produced, the reported rounds picked.
pub struct Report<'a> {
    pub servers: &'a [ServerKind],
    pub scenarios: &'a [Scenario],
    /// `cells[scenario][server]`: the round reported (see [`pick`]);
    /// `None` where the server has no program for the scenario (fan-out).
    pub cells: Vec<Vec<Option<&'a Outcome>>>,
    /// Every outcome of every round.
    pub all: &'a [Outcome],
    pub rounds: usize,
    /// Connections in the fan-out scenario.
    pub fanout_conns: usize,
}

impl<'a> Report<'a> {
    /// The report of `all`, every outcome of every round, with the round
    /// each cell reports picked (see [`pick`]).
    pub fn new(
        servers: &'a [ServerKind],
        scenarios: &'a [Scenario],
        all: &'a [Outcome],
        rounds: usize,
        fanout_conns: usize,
    ) -> Report<'a> {
        let cells = scenarios
            .iter()
            .map(|&scenario| {
                servers
                    .iter()
                    .map(|&server| pick(all, scenario, server))
                    .collect()
            })
            .collect();
        Report {
            servers,
            scenarios,
            cells,
            all,
            rounds,
            fanout_conns,
        }
    }
}

impl Report<'_> {
    fn cell(&self, si: usize, server: ServerKind) -> Option<&Outcome> {
        let k = self.servers.iter().position(|s| *s == server)?;
        self.cells[si].get(k).copied().flatten()
    }

    /// scenario (for idle memory: server ÷ defaults, less is better).
    pub fn ratio(&self, si: usize, server: ServerKind) -> Option<f64> {
        let base = self.cell(si, ServerKind::AxumDefaults)?.headline?;
        let mine = self.cell(si, server)?.headline?;
        (base > 0.0).then(|| mine / base)
    }

    /// The lowest and highest ratio over the rounds, each round's server
    /// against the same round's axum defaults (`None` with one round).
    pub fn ratio_range(&self, scenario: Scenario, server: ServerKind) -> Option<(f64, f64)> {
        let ratios: Vec<f64> = (0..self.rounds)
            .filter_map(|r| {
                let base = self.figure(scenario, ServerKind::AxumDefaults, r, Figure::Headline)?;
                Some(self.figure(scenario, server, r, Figure::Headline)? / base)
                    .filter(|x| x.is_finite())
            })
            .collect();
        (ratios.len() >= 2)
            .then(|| Spread::of(ratios))
            .flatten()
            .map(|s| (s.lo, s.hi))
    }

    /// One round's figure of `server` in `scenario`.
    pub fn figure(
        &self,
        scenario: Scenario,
        server: ServerKind,
        round: usize,
        figure: Figure,
    ) -> Option<f64> {
        let o = self
            .all
            .iter()
            .find(|o| o.scenario == scenario && o.server == server && o.round == round)?;
        match figure {
            Figure::Headline => o.headline,
            Figure::CpuPerOp => outcome::server_us_per_op(o.run.as_ref()?),
        }
    }

    /// `figure` of `server` in `scenario` over the rounds that have it.
    pub fn over_rounds(&self, scenario: Scenario, server: ServerKind, figure: Figure) -> Vec<f64> {
        (0..self.rounds)
            .filter_map(|r| self.figure(scenario, server, r, figure))
            .collect()
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
}

/// Which figure of an outcome: the headline (see [`Scenario::unit`]) or
/// the server's CPU time per echo (cycle, delivered message) in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Headline,
    CpuPerOp,
}

/// The median (the lower of the middle two for an even count), lowest and
/// highest of some figures.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Spread {
    /// `None` for no figures.
    pub fn of(mut v: Vec<f64>) -> Option<Spread> {
        v.sort_by(f64::total_cmp);
        Some(Spread {
            median: *v.get(v.len().checked_sub(1)? / 2)?,
            lo: *v.first()?,
            hi: *v.last()?,
        })
    }
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
