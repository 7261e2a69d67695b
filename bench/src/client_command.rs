//! The `client` subcommand: one ad-hoc run (echo, cycles, idle or fan-out)
//! against a server started by hand, its summary printed on one line.

use std::time::Duration;

use crate::client::{self, EchoSpec};
use crate::fanout::{self, FanoutSpec};
use crate::idle;
use crate::procs::{self, ServerKind};
use crate::report::{Outcome, Scenario};
use crate::{number, runtime, secs, USAGE};

/// `client URL ...`: one ad-hoc run against a server started by hand.
pub fn run_client(args: &[String]) -> Result<(), String> {
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
            let r = idle::idle(addr, &url, n, hold, pid).await;
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
