//! results.md as a whole: how the run was made, the tables of
//! [`super::tables`] and [`super::targets`] with the prose that explains
//! them, and the errors of every round.

use std::time::Duration;

use super::format::fmt_int;
use super::{Report, Scenario};
use crate::procs::ServerKind;
use crate::{bun, Settings};

/// How and where a run was made, for the opening lines of results.md.
pub struct RunInfo {
    /// The command line that produced the run.
    pub command: String,
    /// Wall time of the whole run, builds included.
    pub elapsed: Duration,
    /// Cores this process may use.
    pub cores: usize,
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// Whether client and servers were pinned to cores 0 and 1.
    pub pinned: bool,
}

impl RunInfo {
    /// A run of `cheese-bench SUBCOMMAND ARGS` that began at `started`,
    /// its processes not pinned to cores.
    pub fn of_command(subcommand: &str, args: &[String], started: std::time::Instant) -> RunInfo {
        RunInfo {
            command: format!(
                "cargo run --release -p cheese-bench -- {subcommand} {}",
                args.join(" ")
            )
            .trim_end()
            .to_owned(),
            elapsed: started.elapsed(),
            cores: crate::procs::usable_cores(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default(),
            pinned: false,
        }
    }

    /// The opening line of a page: the command, its time and the machine,
    /// whose cores `sharing` (the processes of the run) share, not pinned.
    pub fn produced_by(&self, sharing: &str) -> String {
        format!(
            "Produced by `{}` in {:.0} s (builds included). Machine: {} cores, Linux {}; \
             {sharing} share them, not pinned.\n\n",
            self.command,
            self.elapsed.as_secs_f64(),
            self.cores,
            self.kernel.trim()
        )
    }
}

/// Prints a page of results and, given a path, writes it there too.
pub fn print_and_write(markdown: &str, out: Option<&std::path::Path>) -> Result<(), String> {
    println!("\n{markdown}");
    let Some(out) = out else { return Ok(()) };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(out, markdown).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// results.md: the tables of `report` with the prose around them.
pub fn results_markdown(report: &Report, s: &Settings, run: &RunInfo) -> String {
    let RunInfo {
        command,
        elapsed,
        cores,
        kernel,
        pinned,
    } = run;
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
        if *pinned {
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
    if report.servers.contains(&ServerKind::Bun) {
        md.push_str(&format!(
            "Bun {} (npm package `bun`, installed by the harness with \
             `npm install --prefix <target>/bun bun@{}`): `Bun.serve` with a \
             `websocket` handler, compression off (`bench/bun/echo.js`; \
             fan-out: `server.publish`, `bench/bun/fanout.js`).\n\n",
            bun::VERSION,
            bun::VERSION,
        ));
    } else if let Some(why) = &s.bun_missing {
        md.push_str(&format!("Bun was left out of this run: {why}.\n\n"));
    }
    if s.scenarios.contains(&Scenario::Fanout) {
        md.push_str(&format!(
            "Fan-out: {} connections to one server; once a broadcast has \
             reached them all, {} unmeasured then {} measured broadcasts of \
             64 B text, one at a time. cheese-api's room \
             (`bench/src/bin/cheese_fanout.rs`) and Bun's `server.publish` \
             against plain axum with a `tokio::sync::broadcast` channel \
             (`bench/src/bin/axum_fanout.rs`), **the baseline of the fan-out \
             ratios**; the axum + nodelay and axum tuned rows have no fan-out \
             server (–).\n\n",
            fmt_int(s.fanout.conns as u64),
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
             \"cheese-api echo\" row is cheese-api's room server, its \"Bun\" \
             row Bun's `server.publish` and its \"axum defaults\" row plain \
             axum + `tokio::sync::broadcast`, the baseline (1.00×) of that \
             column only.\n\n",
        );
    }
    let targets = report.targets_table();
    if !targets.is_empty() {
        md.push_str("## cheese-api against issue 16's targets\n\n");
        md.push_str(
            "Each ratio is taken within a round (cheese-api's figure ÷ the \
             reference's in the same round): the median over the rounds and \
             the lowest–highest. A target is met when the median ratio is; \
             the last column also says in how many rounds it was. Targets \
             whose reference did not run are left out.\n\n",
        );
        md.push_str(&targets);
        md.push('\n');
    }
    md.push_str("## Over the rounds: median (lowest–highest)\n\n");
    md.push_str(
        "Every round's headline figure, not only the reported one: the \
         median and, with several rounds, the lowest and highest.\n\n",
    );
    md.push_str(&report.medians_table());
    md.push('\n');
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
