//! The history run's results: one line per run for the progress log, and
//! the markdown (medians and ratios per cell, every run, errors) that goes
//! to docs/performance/history.md.

use std::fmt::Write as _;

use super::{Kind, Outcome, Settings, Setup};
use crate::report::format::{fmt_num, fmt_opt_us, fmt_pct};
use crate::report::RunInfo;
use crate::scaleout::load::{Measured, DRAIN_LIMIT};

/// The name of a kind's column and runs.
pub fn kind_label(kind: Kind, old: &str, head: &str) -> String {
    match kind {
        Kind::OldPlain => format!("plain room ({old})"),
        Kind::Plain => format!("plain room ({head})"),
        Kind::History => format!("history room ({head})"),
    }
}

fn publishes_per_s(m: &Measured) -> f64 {
    m.sends as f64 / m.window.as_secs_f64().max(1e-9)
}

/// CPU time per message published, in µs.
fn us_per_publish(cpu: Option<std::time::Duration>, m: &Measured) -> Option<f64> {
    let cpu = cpu?.as_secs_f64() * 1e6;
    (m.sends > 0).then(|| cpu / m.sends as f64)
}

/// One run on one line, for the progress log.
pub fn summary(result: &Result<Measured, String>) -> String {
    match result {
        Err(e) => format!("FAILED: {e}"),
        Ok(m) => format!(
            "{} publishes/s, node {} per publish, Redis {}, other load {}, {} lost, {} errors",
            fmt_num(publishes_per_s(m)),
            fmt_opt_us(us_per_publish(m.node_cpu, m)),
            fmt_opt_us(us_per_publish(m.redis_cpu, m)),
            fmt_pct(m.other_cpu, m.window),
            m.lost,
            m.error_count
        ),
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The median over the rounds of one cell's successful runs.
fn cell(
    outcomes: &[Outcome],
    setup: Setup,
    members: usize,
    kind: Kind,
    value: impl Fn(&Measured) -> Option<f64>,
) -> Option<f64> {
    let runs = outcomes
        .iter()
        .filter(|o| (o.setup, o.members, o.kind) == (setup, members, kind))
        .filter_map(|o| o.result.as_ref().ok().and_then(&value));
    median(runs.collect())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match a.zip(b) {
        Some((a, b)) if b > 0.0 => format!("**{:.2}**", a / b),
        _ => "?".to_owned(),
    }
}

/// The medians and ratios: one row per setup and members per room.
fn medians(s: &Settings, outcomes: &[Outcome]) -> String {
    let mut t = format!(
        "| setup | members per room | publishes/s: plain ({old}) / plain / history | \
         **history ÷ plain**: publishes/s, node CPU per publish | \
         **plain ÷ plain ({old})**: publishes/s, node CPU per publish | \
         node CPU per publish: plain ({old}) / plain / history | \
         Redis CPU per publish: plain / history |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        old = s.old
    );
    for &setup in &s.setups {
        for &members in &s.members {
            let of = |value: fn(&Measured) -> Option<f64>| {
                Kind::ALL.map(|kind| cell(outcomes, setup, members, kind, value))
            };
            let [old_rate, rate, history_rate] = of(|m| Some(publishes_per_s(m)));
            let [old_cpu, cpu, history_cpu] = of(|m| us_per_publish(m.node_cpu, m));
            let [_, redis, history_redis] = of(|m| us_per_publish(m.redis_cpu, m));
            let rates = [old_rate, rate, history_rate].map(|r| r.map_or("?".to_owned(), fmt_num));
            let cpus = [old_cpu, cpu, history_cpu].map(fmt_opt_us);
            let _ = writeln!(
                t,
                "| {} | {members} | {} | {}, {} | {}, {} | {} | {} / {} |",
                setup.label(),
                rates.join(" / "),
                ratio(history_rate, rate),
                ratio(history_cpu, cpu),
                ratio(rate, old_rate),
                ratio(cpu, old_cpu),
                cpus.join(" / "),
                fmt_opt_us(redis),
                fmt_opt_us(history_redis),
            );
        }
    }
    t
}

/// Every run, in the order run.
fn runs(s: &Settings, head: &str, outcomes: &[Outcome]) -> String {
    let mut t = String::from(
        "| round | setup | members | room | publishes/s | delivered/s | node CPU per publish | \
         Redis CPU per publish | Redis CPU | other load | lost |\n\
         |---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let label = kind_label(o.kind, &s.old, head);
        let start = format!(
            "| {} | {} | {} | {label} |",
            o.round + 1,
            o.setup.label(),
            o.members
        );
        let _ = match &o.result {
            Err(e) => writeln!(t, "{start} failed: {e} | | | | | | |"),
            Ok(m) => writeln!(
                t,
                "{start} {} | {} | {} | {} | {} | {} | {} |",
                fmt_num(publishes_per_s(m)),
                fmt_num(m.delivered as f64 / m.window.as_secs_f64().max(1e-9)),
                fmt_opt_us(us_per_publish(m.node_cpu, m)),
                fmt_opt_us(us_per_publish(m.redis_cpu, m)),
                fmt_pct(m.redis_cpu, m.window),
                fmt_pct(m.other_cpu, m.window),
                m.lost,
            ),
        };
    }
    t
}

/// docs/performance/history.md.
pub fn markdown(s: &Settings, head: &str, outcomes: &[Outcome], run: &RunInfo) -> String {
    let spec = &s.spec;
    let mut md = String::from("# Room history: what it costs a publish\n\n");
    md.push_str(&run.produced_by("the node, Redis and the client"));
    let _ = write!(
        md,
        "Setup: one node (`bench/src/bin/scaleout_node.rs`, a process of its own), alone \
         (a history room's messages kept in its memory) or on one `redis-server` (kept in \
         Redis; the plain room goes through Redis pub/sub); {} rooms of {} members each, \
         all on the node; {} publisher connection(s) send {} B messages to every room in \
         turn, each with at most {} messages in flight (sent and not yet received by every \
         member); {:.1} s warm-up, then {:.1} s measured; {} round(s), the order of the \
         three rooms rotating. Three builds of the same node: a **plain room** \
         (`hub.to_room(r).send(message)`) from commit {old}, before room history; a \
         **plain room** from this checkout ({head}); a **history room** from this \
         checkout: `App::history(\"*\", History::last(100))`, each message sent with \
         `hub.to_room(r).publish(|position| ..)` awaited in the hook, and carrying \
         ` <offset>` at its end (a few bytes more), as an app's event carries its \
         position.\n\n",
        spec.rooms,
        s.members
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
        spec.publishers,
        spec.size,
        spec.inflight,
        spec.warmup.as_secs_f64(),
        spec.secs.as_secs_f64(),
        s.rounds,
        old = s.old,
    );
    md.push_str("## Medians over the rounds\n\n");
    md.push_str(&medians(s, outcomes));
    let _ = write!(
        md,
        "\nPublishes/s: messages the publishers sent in the window (each then received \
         by every member of its room). Node CPU per publish: the node process's user + \
         system time in the window ÷ publishes; Redis CPU per publish likewise for \
         `redis-server`. The ratios are of the medians: history ÷ plain is what keeping \
         history costs (publishes/s below 1, CPU per publish above 1); plain ÷ plain \
         ({old}) near 1 says the plain room did not get slower. The node, Redis and the \
         client share this machine (with other programs: see \"other load\" below), so \
         publishes/s move with it; the CPU per publish depends on it less.\n\n\
         ## Every run\n\n",
        old = s.old
    );
    md.push_str(&runs(s, head, outcomes));
    let _ = write!(
        md,
        "\nOther load: the machine's busy time beyond the node's, Redis' and the \
         client's (other programs), as a share of one core: where it is high, distrust \
         the row. Lost: deliveries still missing {} s after the window (should be 0).\n\n\
         ## Errors\n\n",
        DRAIN_LIMIT.as_secs()
    );
    let mut none = true;
    for o in outcomes {
        let label = kind_label(o.kind, &s.old, head);
        let run = format!(
            "{}, {} members, {label}, round {}",
            o.setup.label(),
            o.members,
            o.round + 1
        );
        match &o.result {
            Err(e) => {
                let _ = writeln!(md, "- {run}: {e}");
                none = false;
            }
            Ok(m) if m.error_count > 0 || m.lost > 0 => {
                let _ = writeln!(
                    md,
                    "- {run}: {} lost, {} error(s): {}",
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

#[cfg(test)]
mod tests {
    use super::{median, ratio};

    #[test]
    fn the_median_of_the_rounds_and_the_ratio_of_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(ratio(Some(1.0), Some(4.0)), "**0.25**");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "?");
        assert_eq!(ratio(None, Some(1.0)), "?");
    }
}
