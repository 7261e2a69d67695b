//! The server processes and what `/proc` tells about them: start one pinned
//! to a core, wait until it accepts, read its CPU time and resident memory,
//! kill it when done (also when the harness panics); and `cargo` builds.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The servers under test, each its own binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// cheese-api's `examples/echo` (port from `CHEESE_PORT`); in the
    /// fan-out scenario `bench/src/bin/cheese_fanout.rs`.
    Cheese,
    /// `bench/src/bin/axum_echo.rs`: plain axum, every default; in the
    /// fan-out scenario `bench/src/bin/axum_fanout.rs` (plain axum and a
    /// broadcast channel, by hand).
    AxumDefaults,
    /// The same binary with `--nodelay`: defaults but `TCP_NODELAY`.
    AxumNodelay,
    /// `bench/src/bin/axum_tuned.rs`: plain axum tuned by hand.
    AxumTuned,
    /// Bun's `Bun.serve` (uWebSockets inside) running `bench/bun/echo.js`;
    /// in the fan-out scenario `bench/bun/fanout.js` (`server.publish`).
    Bun,
}

impl ServerKind {
    pub const ALL: [ServerKind; 5] = [
        ServerKind::Cheese,
        ServerKind::AxumDefaults,
        ServerKind::AxumNodelay,
        ServerKind::AxumTuned,
        ServerKind::Bun,
    ];

    /// The short name used on the command line.
    pub fn key(self) -> &'static str {
        match self {
            ServerKind::Cheese => "cheese",
            ServerKind::AxumDefaults => "axum",
            ServerKind::AxumNodelay => "nodelay",
            ServerKind::AxumTuned => "tuned",
            ServerKind::Bun => "bun",
        }
    }

    /// The name in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Cheese => "cheese-api echo",
            ServerKind::AxumDefaults => "axum defaults",
            ServerKind::AxumNodelay => "axum + nodelay",
            ServerKind::AxumTuned => "axum tuned",
            ServerKind::Bun => "Bun",
        }
    }

    pub fn from_key(key: &str) -> Option<ServerKind> {
        ServerKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Whether the row has a fan-out server: cheese-api (a room), plain
    /// axum (a `tokio::sync::broadcast` channel, the baseline of the
    /// fan-out ratios) and Bun (`server.publish`); the other two rows are
    /// echo variants only.
    pub fn has_fanout(self) -> bool {
        matches!(
            self,
            ServerKind::Cheese | ServerKind::AxumDefaults | ServerKind::Bun
        )
    }

    /// The name of the row's fan-out server.
    pub fn fanout_label(self) -> &'static str {
        match self {
            ServerKind::Cheese => "cheese-api room",
            ServerKind::AxumDefaults => "axum + broadcast channel",
            ServerKind::Bun => "Bun server.publish",
            ServerKind::AxumNodelay | ServerKind::AxumTuned => "none",
        }
    }

    /// The command line of the row's echo server, or of its fan-out
    /// server, before the port: the program, then its script for Bun
    /// (`None` for Bun when it is not installed).
    fn program(self, programs: &Programs, fanout: bool) -> Option<Vec<PathBuf>> {
        let dir = &programs.dir;
        Some(vec![match (self, fanout) {
            (ServerKind::Cheese, false) => dir.join("examples").join("echo"),
            (ServerKind::AxumDefaults | ServerKind::AxumNodelay, false) => dir.join("axum_echo"),
            (ServerKind::AxumTuned, false) => dir.join("axum_tuned"),
            (ServerKind::Cheese, true) => dir.join("cheese_fanout"),
            (ServerKind::AxumDefaults, true) => dir.join("axum_fanout"),
            (ServerKind::AxumNodelay | ServerKind::AxumTuned, true) => return None,
            (ServerKind::Bun, _) => {
                return Some(vec![programs.bun.clone()?, crate::bun::script(fanout)])
            }
        }])
    }
}

/// Where the servers' programs are.
pub struct Programs {
    /// The release binaries: the directory of this executable
    /// (`target/release`), whose `examples/` holds cheese-api's echo.
    pub dir: PathBuf,
    /// The Bun binary, when installed (see [`crate::bun::install`]).
    pub bun: Option<PathBuf>,
}

/// Where the release binaries are: the directory of this executable
/// (`target/release`), whose `examples/` holds cheese-api's echo.
pub fn binary_dir() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// Checks that every server program needed exists (the echo servers when
/// `echo`, the fan-out ones when `fanout`), with a hint when one is missing.
pub fn check_binaries(
    programs: &Programs,
    kinds: &[ServerKind],
    echo: bool,
    fanout: bool,
) -> Result<(), String> {
    let echoes = kinds.iter().filter(|_| echo).map(|k| (*k, false));
    let fanouts = kinds.iter().filter(|_| fanout).map(|k| (*k, true));
    for (kind, fanout) in echoes.chain(fanouts) {
        if kind == ServerKind::Bun && programs.bun.is_none() {
            return Err("Bun is not installed".to_owned());
        }
        for file in kind.program(programs, fanout).into_iter().flatten() {
            if !file.is_file() {
                return Err(format!(
                    "{} not found: build it with `cargo build --release --example echo` and \
                     `cargo build --release -p cheese-bench --bins` (or drop --no-build)",
                    file.display()
                ));
            }
        }
    }
    Ok(())
}

/// A child process of the harness: it dies with the harness (even one
/// killed with SIGKILL) and is killed (SIGKILL) and reaped when dropped.
pub struct Process {
    child: Child,
    name: String,
}

impl Process {
    /// Spawns `command` (stdin and stdout to /dev/null, stderr inherited),
    /// pinned to `core` when given, and waits (up to 10 s) until `addr`
    /// accepts TCP connections. `name` is for error messages.
    pub fn start(
        mut command: Command,
        name: &str,
        addr: SocketAddr,
        core: Option<usize>,
    ) -> Result<Process, String> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: only async-signal-safe calls (prctl, sched_setaffinity)
        // between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // Die with the harness, even when it is killed with SIGKILL.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(core) = core {
                    pin(0, core)?;
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let mut process = Process {
            child,
            name: name.to_owned(),
        };
        process.wait_ready(addr, Duration::from_secs(10))?;
        Ok(process)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self, addr: SocketAddr, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited before accepting: {status}", self.name));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{} did not accept on {addr} within {limit:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `true` while the process has not exited.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running server under test (see [`Process`]).
pub struct Server {
    process: Process,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `kind` (its fan-out server when `fanout`) on a free loopback
    /// port, pinned to `core` when given, and waits (up to 10 s) until it
    /// accepts TCP connections.
    pub fn start(
        kind: ServerKind,
        fanout: bool,
        programs: &Programs,
        core: Option<usize>,
    ) -> Result<Server, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let argv = kind
            .program(programs, fanout)
            .ok_or_else(|| format!("{} has no such server (or is not installed)", kind.label()))?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).arg(port.to_string());
        if kind == ServerKind::AxumNodelay {
            command.arg("--nodelay");
        }
        command
            .env("CHEESE_PORT", port.to_string())
            .env("PORT", port.to_string());
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let process = Process::start(command, kind.label(), addr, core)?;
        Ok(Server { process, addr })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `true` while the process has not exited.
    pub fn alive(&mut self) -> bool {
        self.process.alive()
    }
}

/// A free TCP port on the loopback interface (free when asked: the caller
/// binds it soon after).
pub fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `cargo ARGS` in `dir` (the `CARGO` the harness was started with, or
/// `cargo`), into `target` when given (`CARGO_TARGET_DIR`), and fails
/// unless it succeeds.
pub fn cargo(args: &[&str], dir: &Path, target: Option<&Path>) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("== {cargo} {}", args.join(" "));
    let mut command = Command::new(&cargo);
    command.args(args).current_dir(dir);
    if let Some(target) = target {
        command.env("CARGO_TARGET_DIR", target);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!("`cargo {}` failed: {status}", args.join(" ")));
    }
    Ok(())
}

/// Pins thread/process `pid` (0: the caller) to one core: what
/// `taskset -c CORE` does, without needing util-linux.
pub fn pin(pid: libc::pid_t, core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within it for core < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How many cores this process may run on.
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Raises the soft open-file limit to the hard one (children inherit it);
/// returns the limit in force.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                return wanted.rlim_cur as u64;
            }
        }
        lim.rlim_cur as u64
    }
}

/// User + system CPU time of a process so far (`/proc/PID/stat` fields 14
/// and 15), or `None` when it cannot be read. `pid` `None`: this process.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces: count from its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace().skip(11); // field 14 is the 12th after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros((utime + stime) * 1_000_000 / hz))
}

/// CPU time all cores have spent busy since boot (`/proc/stat`: user, nice,
/// system, irq, softirq, steal; not idle or iowait).
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .map(|&i| v.get(i).copied().unwrap_or(0))
        .sum::<u64>();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(busy * 1_000_000 / hz))
}

/// Resident memory of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// CPU time of the server, of this client and of the whole machine, sampled
/// at the start of a measured window; [`finish`](Self::finish) gives what
/// each used during it.
pub struct CpuWindow {
    pid: Option<u32>,
    start: [Option<Duration>; 3],
}

/// CPU used during a window: (server, client, whole machine).
pub type CpuUse = (Option<Duration>, Option<Duration>, Option<Duration>);

impl CpuWindow {
    fn sample(pid: Option<u32>) -> [Option<Duration>; 3] {
        [
            pid.and_then(|p| cpu_time(Some(p))),
            cpu_time(None),
            machine_busy(),
        ]
    }

    /// Samples now, at the window's start.
    pub fn start(pid: Option<u32>) -> CpuWindow {
        CpuWindow {
            pid,
            start: Self::sample(pid),
        }
    }

    /// Samples again and returns the differences.
    pub fn finish(&self) -> CpuUse {
        let end = Self::sample(self.pid);
        let used = |i: usize| self.start[i].zip(end[i]).map(|(a, b)| b.saturating_sub(a));
        (used(0), used(1), used(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_readings_of_this_process() {
        assert!(cpu_time(None).is_some());
        assert!(machine_busy().is_some());
        let me = std::process::id();
        assert!(cpu_time(Some(me)).is_some());
        assert!(vm_rss_kib(me).is_some_and(|k| k > 0));
        assert!(usable_cores() >= 1);
        assert!(raise_nofile() >= 1);
    }

    #[test]
    fn server_keys_round_trip() {
        let programs = Programs {
            dir: PathBuf::from("/x"),
            bun: Some(PathBuf::from("/y/bun")),
        };
        for kind in ServerKind::ALL {
            assert_eq!(ServerKind::from_key(kind.key()), Some(kind));
            assert!(kind.program(&programs, false).is_some());
            assert_eq!(kind.program(&programs, true).is_some(), kind.has_fanout());
        }
        let bun = ServerKind::Bun
            .program(&programs, true)
            .expect("Bun has a fan-out");
        assert_eq!(bun[0], Path::new("/y/bun"));
        assert!(bun[1].ends_with("bench/bun/fanout.js") && bun[1].is_file());
        let without = Programs {
            bun: None,
            ..programs
        };
        assert!(ServerKind::Bun.program(&without, false).is_none());
        assert!(check_binaries(&without, &[ServerKind::Bun], true, false).is_err());
    }
}
