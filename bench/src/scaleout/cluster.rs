//! The scale-out benchmark's processes: the two builds of the node binary
//! (this checkout's, and an older commit's from a `git worktree` under the
//! target directory), a `redis-server` on a free loopback port, and the
//! nodes on it, whose counters are read over HTTP (`GET /stats`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::procs::{self, Process};

/// The node binary's name (`bench/src/bin/scaleout_node.rs`).
const NODE: &str = "scaleout_node";

/// Builds the node binary of this checkout (feature `redis`, release) into
/// the target directory the harness runs from; returns its directory.
pub fn build_current(root: &Path) -> Result<PathBuf, String> {
    let args = [
        "build",
        "--release",
        "-p",
        "cheese-bench",
        "--bin",
        NODE,
        "--features",
        "redis",
    ];
    procs::cargo(&args, root, None)?;
    procs::binary_dir().map_err(|e| format!("cannot find this binary: {e}"))
}

/// Builds the node binary against commit `rev` with cargo's `--features
/// features`: a detached `git worktree` of it in
/// `<target>/scaleout/src-<rev>` (made once), this checkout's
/// `scaleout_node.rs` copied into its bench/, built into
/// `<target>/scaleout/target-<rev>`; returns the binary's directory.
pub fn build_old(root: &Path, rev: &str, features: &str) -> Result<PathBuf, String> {
    let dir = procs::binary_dir().map_err(|e| format!("cannot find this binary: {e}"))?;
    let target = dir.parent().unwrap_or(&dir).join("scaleout");
    let src = target.join(format!("src-{rev}"));
    if !src.join("Cargo.toml").is_file() {
        git(root, &["worktree", "prune"])?;
        let path = src.to_string_lossy();
        git(root, &["worktree", "add", "--detach", &path, rev])?;
    }
    let file = Path::new("bench")
        .join("src")
        .join("bin")
        .join(format!("{NODE}.rs"));
    let copy = src.join(&file);
    let text = std::fs::read(root.join(&file)).map_err(|e| format!("{}: {e}", file.display()))?;
    if std::fs::read(&copy).ok().as_ref() != Some(&text) {
        std::fs::write(&copy, &text).map_err(|e| format!("{}: {e}", copy.display()))?;
    }
    let manifest = src.join("Cargo.toml");
    let manifest = manifest.to_string_lossy();
    let args = [
        "build",
        "--release",
        "--manifest-path",
        &manifest,
        "-p",
        "cheese-bench",
        "--bin",
        NODE,
        "--features",
        features,
    ];
    let out = target.join(format!("target-{rev}"));
    procs::cargo(&args, root, Some(&out))?;
    Ok(out.join("release"))
}

fn git(root: &Path, args: &[&str]) -> Result<(), String> {
    eprintln!("== git {}", args.join(" "));
    let status = Command::new("git")
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !status.success() {
        return Err(format!("`git {}` failed: {status}", args.join(" ")));
    }
    Ok(())
}

/// The directories of the node binary built from commit `rev` (with the
/// cargo `features` its bench package needs) and from this checkout:
/// built now, or with `build` false those of an earlier run.
pub fn builds(
    root: &Path,
    rev: &str,
    features: &str,
    build: bool,
) -> Result<(PathBuf, PathBuf), String> {
    if build {
        return Ok((build_old(root, rev, features)?, build_current(root)?));
    }
    let dir = crate::procs::binary_dir().map_err(|e| format!("cannot find this binary: {e}"))?;
    let old = dir.parent().unwrap_or(&dir).join("scaleout");
    Ok((old.join(format!("target-{rev}/release")), dir))
}

/// The short hash of the checkout's HEAD (for labels).
pub fn head(root: &Path) -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned())
}

fn loopback() -> Result<SocketAddr, String> {
    let port = procs::free_port().map_err(|e| format!("no free port: {e}"))?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A `redis-server` on a free loopback port, nothing saved to disk;
/// stopped when dropped.
pub struct Redis {
    process: Process,
    pub url: String,
}

impl Redis {
    pub fn start() -> Result<Redis, String> {
        let addr = loopback()?;
        let mut command = Command::new("redis-server");
        let port = addr.port().to_string();
        command.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""]);
        command.args(["--appendonly", "no"]);
        let process = Process::start(command, "redis-server", addr, None)?;
        Ok(Redis {
            process,
            url: format!("redis://{addr}/"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// The nodes of one design, each a `scaleout_node` process on a free
/// loopback port, all on one Redis (or none: `-`) and one channel prefix,
/// each with the same `mode` arguments after those.
pub struct Nodes {
    processes: Vec<Process>,
    pub addrs: Vec<SocketAddr>,
}

impl Nodes {
    pub fn start(
        dir: &Path,
        n: usize,
        redis: &str,
        channel: &str,
        mode: &[&str],
    ) -> Result<Nodes, String> {
        let bin = dir.join(NODE);
        let mut nodes = Nodes {
            processes: Vec::with_capacity(n),
            addrs: Vec::with_capacity(n),
        };
        for i in 0..n {
            let addr = loopback()?;
            let mut command = Command::new(&bin);
            command.args([&addr.port().to_string(), redis, channel]);
            command.args(mode);
            let name = format!("{} (node {i})", bin.display());
            nodes
                .processes
                .push(Process::start(command, &name, addr, None)?);
            nodes.addrs.push(addr);
        }
        Ok(nodes)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(Process::pid).collect()
    }

    /// How many of the nodes have exited.
    pub fn exited(&mut self) -> usize {
        self.processes
            .iter_mut()
            .map(Process::alive)
            .filter(|a| !a)
            .count()
    }

    /// Every node's `envelopes_received`, read at once.
    pub async fn envelopes(&self) -> Result<Vec<u64>, String> {
        let reads = self.addrs.iter().map(|&addr| envelopes(addr));
        futures_util::future::join_all(reads)
            .await
            .into_iter()
            .collect()
    }
}

/// `envelopes_received` from `GET /stats` of the node at `addr`.
async fn envelopes(addr: SocketAddr) -> Result<u64, String> {
    let read = async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"GET /stats HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        tcp.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| format!("GET http://{addr}/stats: no answer within 5 s"))?
        .map_err(|e| format!("GET http://{addr}/stats: {e}"))?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    json_u64(body, "envelopes_received")
        .ok_or_else(|| format!("GET http://{addr}/stats: no envelopes_received in `{body}`"))
}

/// The unsigned integer at `"key":` in a flat JSON object.
fn json_u64(json: &str, key: &str) -> Option<u64> {
    let rest = &json[json.find(&format!("\"{key}\":"))? + key.len() + 3..];
    let digits = rest.trim_start();
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::json_u64;

    #[test]
    fn reads_a_counter_of_the_stats_json() {
        let body = r#"{"envelopes_received":1234,"messages_out": 56,"open_connections":0}"#;
        assert_eq!(json_u64(body, "envelopes_received"), Some(1234));
        assert_eq!(json_u64(body, "messages_out"), Some(56));
        assert_eq!(json_u64(body, "open_connections"), Some(0));
        assert_eq!(json_u64(body, "missing"), None);
        assert_eq!(
            json_u64(r#"{"envelopes_received":"x"}"#, "envelopes_received"),
            None
        );
    }
}
