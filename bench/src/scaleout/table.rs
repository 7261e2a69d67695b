//! The scale-out run's results: one line per run for the progress log, and
//! the markdown (table, ratios, how it was measured, errors) that goes to
//! docs/performance/scaleout.md.

use std::fmt::Write as _;

use super::load::{Measured, DRAIN_LIMIT};
use super::{Design, Outcome, Settings};
use crate::report::format::{fmt_int, fmt_num, fmt_opt_us, fmt_pct};
use crate::report::RunInfo;

impl Measured {
    fn per_s(&self, n: u64) -> f64 {
        n as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Envelopes a node decoded per message sent (mean of the nodes).
    fn envelopes_per_send(&self) -> f64 {
        let mean = self.envelopes.iter().sum::<u64>() as f64 / self.envelopes.len().max(1) as f64;
        mean / self.sends.max(1) as f64
    }

    /// The nodes' CPU time (all together) per delivered message, in µs.
    fn node_us_per_delivery(&self) -> Option<f64> {
        let cpu = self.node_cpu?.as_secs_f64() * 1e6;
        (self.delivered > 0).then(|| cpu / self.delivered as f64)
    }
}

/// One run on one line, for the progress log.
pub fn summary(result: &Result<Measured, String>) -> String {
    match result {
        Err(e) => format!("FAILED: {e}"),
        Ok(m) => format!(
            "{} sends/s, {} delivered/s ({} cross-node), {:.3} envelopes per node per send, \
             {} lost, {} errors",
            fmt_num(m.per_s(m.sends)),
            fmt_num(m.per_s(m.delivered)),
            fmt_num(m.per_s(m.cross)),
            m.envelopes_per_send(),
            fmt_int(m.lost),
            m.error_count
        ),
    }
}

/// The table: one row per run.
fn table(designs: &[Design], outcomes: &[Outcome], rounds: usize) -> String {
    let mut t = String::from(
        "| build | sends/s | delivered/s | cross-node delivered/s | \
         envelopes decoded/s, each node | envelopes decoded per node per send | \
         nodes' CPU per delivery | Redis CPU | other load | lost |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let label = &designs[o.design].label;
        let label = match rounds {
            1 => label.clone(),
            _ => format!("{label}, round {}", o.round + 1),
        };
        let m = match &o.result {
            Ok(m) => m,
            Err(e) => {
                let _ = writeln!(t, "| {label} | failed: {e} | | | | | | | | |");
                continue;
            }
        };
        let each: Vec<String> = m.envelopes.iter().map(|&e| fmt_num(m.per_s(e))).collect();
        let _ = writeln!(
            t,
            "| {label} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {} |",
            fmt_num(m.per_s(m.sends)),
            fmt_num(m.per_s(m.delivered)),
            fmt_num(m.per_s(m.cross)),
            each.join(" / "),
            m.envelopes_per_send(),
            fmt_opt_us(m.node_us_per_delivery()),
            fmt_pct(m.redis_cpu, m.window),
            fmt_pct(m.other_cpu, m.window),
            fmt_int(m.lost),
        );
    }
    t
}

/// The design's runs that succeeded, summed into one.
fn total(outcomes: &[Outcome], design: usize) -> Option<Measured> {
    let runs = outcomes
        .iter()
        .filter(|o| o.design == design)
        .filter_map(|o| o.result.as_ref().ok());
    let mut sum: Option<Measured> = None;
    for m in runs {
        let s = sum.get_or_insert_with(|| Measured {
            envelopes: vec![0; m.envelopes.len()],
            node_cpu: Some(Default::default()),
            ..Default::default()
        });
        s.window += m.window;
        s.sends += m.sends;
        s.delivered += m.delivered;
        s.cross += m.cross;
        s.envelopes
            .iter_mut()
            .zip(&m.envelopes)
            .for_each(|(a, b)| *a += b);
        s.node_cpu = s.node_cpu.zip(m.node_cpu).map(|(a, b)| a + b);
    }
    sum
}

/// The ratios, this checkout ÷ the old commit, over all rounds.
fn ratios(s: &Settings, outcomes: &[Outcome]) -> String {
    let (Some(old), Some(new)) = (total(outcomes, 0), total(outcomes, 1)) else {
        return "No ratio: a build has no successful run.\n".to_owned();
    };
    let n = s.spec.nodes as f64;
    let ratio = |a: Option<f64>, b: Option<f64>| match a.zip(b) {
        Some((a, b)) if a > 0.0 => format!("**{:.2}**", b / a),
        _ => "?".to_owned(),
    };
    let mut md = String::from("| this checkout ÷ one channel | ratio |\n|---|---:|\n");
    let _ =
        writeln!(
        md,
        "| envelopes decoded per node per send | {} (by interest: 1/{} = {:.2}; one channel: 1) |",
        ratio(Some(old.envelopes_per_send()), Some(new.envelopes_per_send())),
        s.spec.nodes,
        1.0 / n
    );
    let _ = writeln!(
        md,
        "| cross-node delivered/s | {} |",
        ratio(Some(old.per_s(old.cross)), Some(new.per_s(new.cross)))
    );
    let _ = writeln!(
        md,
        "| nodes' CPU per delivery | {} |",
        ratio(old.node_us_per_delivery(), new.node_us_per_delivery())
    );
    md
}

/// docs/performance/scaleout.md.
pub fn markdown(s: &Settings, designs: &[Design], outcomes: &[Outcome], run: &RunInfo) -> String {
    let spec = &s.spec;
    let n = spec.nodes;
    let mut md =
        String::from("# Scale-out over Redis: routing by interest against one channel\n\n");
    md.push_str(&run.produced_by("the nodes, Redis and the client"));
    let _ = write!(
        md,
        "Setup: {n} nodes (`bench/src/bin/scaleout_node.rs`, each its own process) on one \
         `redis-server`; {} rooms of {} members, room r's members on node ⌊r·{n}/{}⌋ \
         (node i holds {} rooms); {} publisher connection(s) per node send {} B messages \
         to every room in turn, each with at most {} messages in flight (sent and not yet \
         received by every member); {:.1} s warm-up, then {:.1} s measured, {} round(s). The same node \
         source is built twice: from commit {} (one Redis channel that every node subscribes \
         to) and from this checkout.\n\n",
        spec.rooms,
        spec.members,
        spec.rooms,
        spec.rooms / n,
        spec.publishers,
        spec.size,
        spec.inflight,
        spec.warmup.as_secs_f64(),
        spec.secs.as_secs_f64(),
        s.rounds,
        s.old,
    );
    md.push_str(&table(designs, outcomes, s.rounds));
    md.push('\n');
    md.push_str(&ratios(s, outcomes));
    let _ = write!(
        md,
        "\nDelivered: messages received by members in the window; cross-node: of those, the \
         ones whose publisher was on another node ({}/{n} of them). Envelopes decoded: each \
         node's `hub().stats().envelopes_received` over the window (from its `GET /stats`). \
         With one channel a node decodes every other node's sends, ({n}−1)/{n} = {:.2} per \
         send; routed by interest, only those for its own rooms, ({n}−1)/{n}² = {:.2}. \
         Its own sends coming back from Redis are not counted: 5933f6c decoded them and \
         then dropped them (so it decoded 1 per send), this checkout skips them unread. \
         Nodes' CPU: user + system time of the {n} node processes together ÷ delivered \
         messages. Redis CPU, other load: share of one core in the window; other load is \
         the machine's busy time beyond the nodes', Redis' and the client's (other \
         programs): where it is high, distrust the row's throughput. Lost: deliveries still missing {} s after the window (should be 0). The \
         throughput is what this machine reaches with nodes, Redis and client on it; the \
         envelope counts do not depend on it. With many members per room, a node's time \
         goes mostly to writing each message to every member, not to decoding it: \
         `--members 1` shows the decoding's share.\n\n## Errors\n\n",
        n - 1,
        (n as f64 - 1.0) / n as f64,
        (n as f64 - 1.0) / (n * n) as f64,
        DRAIN_LIMIT.as_secs(),
    );
    let mut none = true;
    for o in outcomes {
        let label = &designs[o.design].label;
        match &o.result {
            Err(e) => {
                let _ = writeln!(md, "- {label}, round {}: {e}", o.round + 1);
                none = false;
            }
            Ok(m) if m.error_count > 0 || m.lost > 0 => {
                let _ = writeln!(
                    md,
                    "- {label}, round {}: {} lost, {} error(s): {}",
                    o.round + 1,
                    m.lost,
                    m.error_count,
                    m.errors.join("; ")
                );
                none = false;
            }
            Ok(_) => {}
        }
    }
    if none {
        md.push_str("None: every member got only its room's messages, nothing lost.\n");
    }
    md
}
