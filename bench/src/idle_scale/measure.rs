//! The idle-scale run itself: start the echo servers (soft open-file limit
//! raised to the hard one in each), warm each with one connection, read
//! what they and the kernel hold, start every client process at once, wait
//! until all report their connections open, hold, read again, then have
//! every connection echo once.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::kernel::{KernelReading, SocketBuffers};
use super::{child, Plan};
use crate::client::{cycle, Payloads};
use crate::procs::{self, Process};
use crate::runtime;

/// One echo server process and what it held.
pub struct ServerMeasure {
    pub port: u16,
    /// Its soft open-file limit, from /proc/PID/limits.
    pub nofile: Option<u64>,
    /// Connections its clients opened to it.
    pub opened: usize,
    pub survivors: usize,
    pub rss_before_kib: Option<u64>,
    pub rss_held_kib: Option<u64>,
    /// Its open file descriptors while holding.
    pub fds_held: Option<usize>,
    /// CPU time over the hold.
    pub cpu_hold: Option<Duration>,
}

impl ServerMeasure {
    pub fn rss_delta_kib(&self) -> Option<i64> {
        super::kernel::delta(self.rss_before_kib, self.rss_held_kib)
    }
}

/// Everything the run measured.
pub struct Measured {
    pub servers: Vec<ServerMeasure>,
    /// From starting the client processes to the last one's connections
    /// all open.
    pub open_time: Duration,
    pub hold: Duration,
    pub kernel_before: KernelReading,
    pub kernel_held: KernelReading,
    /// The servers' ends of the connections, from `ss -m`.
    pub server_buffers: Option<SocketBuffers>,
    /// The client processes' RSS, all together, while holding.
    pub clients_rss_kib: Option<u64>,
    /// The client processes' CPU time over the hold, all together.
    pub clients_cpu_hold: Option<Duration>,
    /// The whole machine's busy time over the hold (all cores).
    pub machine_busy_hold: Option<Duration>,
    pub error_count: usize,
    pub errors: Vec<String>,
}

impl Measured {
    pub fn opened(&self) -> usize {
        self.servers.iter().map(|s| s.opened).sum()
    }

    pub fn survivors(&self) -> usize {
        self.servers.iter().map(|s| s.survivors).sum()
    }
}

/// One client process: its pipes, its server, its source address.
struct ClientProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    server: usize,
    source: Ipv4Addr,
}

impl ClientProc {
    fn spawn(server: usize, url: &str, source: Ipv4Addr, n: usize) -> Result<ClientProc, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let mut command = Command::new(exe);
        command
            .args([
                "idle-scale",
                child::FLAG,
                url,
                &source.to_string(),
                &n.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                // Die with the harness, even when it is killed with SIGKILL.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start a client process: {e}"))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        Ok(ClientProc {
            child,
            stdin: stdin.ok_or("no stdin pipe")?,
            stdout: BufReader::new(stdout.ok_or("no stdout pipe")?),
            server,
            source,
        })
    }

    /// Reads the child's next line, `<word> <count> [<micros>] <errors> <first error>`,
    /// and returns (count, errors, first error).
    fn report(&mut self, word: &str) -> Result<(usize, usize, String), String> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("client {}: {e}", self.source))?;
        let mut parts = line.trim_end().splitn(2, ' ');
        if parts.next() != Some(word) {
            return Err(format!(
                "client {} said `{}` instead of `{word} …` (see its stderr)",
                self.source,
                line.trim_end()
            ));
        }
        let rest = parts.next().unwrap_or_default();
        let mut fields = rest.splitn(if word == "opened" { 4 } else { 3 }, ' ');
        let count = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        if word == "opened" {
            fields.next(); // the child's own time to open
        }
        let errors = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
        let first = fields.next().unwrap_or_default().to_owned();
        Ok((count, errors, first))
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `examples/echo` on a free port with its soft open-file limit
/// raised to the hard one.
fn start_server(dir: &Path, i: usize) -> Result<(Process, u16), String> {
    let port = procs::free_port().map_err(|e| format!("no free port: {e}"))?;
    let mut command = Command::new(dir.join("examples").join("echo"));
    command.env("CHEESE_PORT", port.to_string());
    // SAFETY: getrlimit and setrlimit are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            procs::raise_nofile();
            Ok(())
        });
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let process = Process::start(command, &format!("echo server {}", i + 1), addr, None)?;
    Ok((process, port))
}

/// The soft "Max open files" of a process.
fn nofile_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_ascii_whitespace().nth(3)?.parse().ok()
}

fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn sum<T: std::iter::Sum<T>>(items: impl Iterator<Item = Option<T>>) -> Option<T> {
    items
        .collect::<Option<Vec<T>>>()
        .map(|v| v.into_iter().sum())
}

/// The run: servers, clients, readings, the final echo.
pub fn run(dir: &Path, plan: &Plan, hold: Duration) -> Result<Measured, String> {
    let mut servers: Vec<(Process, u16)> = Vec::new();
    for i in 0..plan.servers.len() {
        servers.push(start_server(dir, i)?);
    }
    let mut measured: Vec<ServerMeasure> = servers
        .iter()
        .map(|(p, port)| ServerMeasure {
            port: *port,
            nofile: nofile_of(p.pid()),
            opened: 0,
            survivors: 0,
            rss_before_kib: None,
            rss_held_kib: None,
            fds_held: None,
            cpu_hold: None,
        })
        .collect();
    let (mut error_count, mut errors) = (0, Vec::new());
    let mut error = |n: usize, e: String| {
        error_count += n;
        if n > 0 && errors.len() < crate::client::KEEP_ERRORS {
            errors.push(e);
        }
    };

    // One full cycle on each server first, so that lazy start-up
    // allocations are not counted against the idle connections.
    let rt = runtime()?;
    let payloads = Payloads::new(64, true);
    for (i, (_, port)) in servers.iter().enumerate() {
        let addr = SocketAddr::from(([127, 0, 0, 1], *port));
        if let Err(e) = rt.block_on(cycle(addr, &format!("ws://{addr}/"), &payloads, 0)) {
            error(1, format!("warm-up cycle on server {}: {e}", i + 1));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    for (m, (p, _)) in measured.iter_mut().zip(&servers) {
        m.rss_before_kib = procs::vm_rss_kib(p.pid());
    }
    let kernel_before = KernelReading::now();

    let start = Instant::now();
    let mut clients = Vec::with_capacity(plan.clients());
    for (i, list) in plan.servers.iter().enumerate() {
        let url = format!("ws://127.0.0.1:{}/", servers[i].1);
        for &(source, n) in list {
            clients.push(ClientProc::spawn(i, &url, source, n)?);
        }
    }
    for c in &mut clients {
        let (opened, n, first) = c.report("opened")?;
        measured[c.server].opened += opened;
        error(n, format!("client {}: {first}", c.source));
    }
    let open_time = start.elapsed();
    eprintln!(
        "opened {} connections in {:.1} s; holding {:.0} s",
        measured.iter().map(|m| m.opened).sum::<usize>(),
        open_time.as_secs_f64(),
        hold.as_secs_f64()
    );

    let client_pids: Vec<u32> = clients.iter().map(|c| c.child.id()).collect();
    let cpu_now = || -> Vec<Option<Duration>> {
        servers
            .iter()
            .map(|(p, _)| procs::cpu_time(Some(p.pid())))
            .collect()
    };
    let clients_cpu = || sum(client_pids.iter().map(|&p| procs::cpu_time(Some(p))));
    let (servers0, clients0, machine0) = (cpu_now(), clients_cpu(), procs::machine_busy());
    std::thread::sleep(hold);
    let (servers1, clients1, machine1) = (cpu_now(), clients_cpu(), procs::machine_busy());
    let used =
        |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
    for (i, (m, (p, _))) in measured.iter_mut().zip(&servers).enumerate() {
        m.cpu_hold = used(servers0[i], servers1[i]);
        m.rss_held_kib = procs::vm_rss_kib(p.pid());
    }
    // Before listing /proc/PID/fd, which adds proc inodes to the slab.
    let kernel_held = KernelReading::now();
    let ports: Vec<u16> = servers.iter().map(|s| s.1).collect();
    let server_buffers = SocketBuffers::of_ports(&ports);
    for (m, (p, _)) in measured.iter_mut().zip(&servers) {
        m.fds_held = fd_count(p.pid());
    }
    let clients_rss_kib = sum(client_pids.iter().map(|&p| procs::vm_rss_kib(p)));

    for c in &mut clients {
        writeln!(c.stdin, "check").map_err(|e| format!("client {}: {e}", c.source))?;
    }
    for c in &mut clients {
        let (survivors, n, first) = c.report("checked")?;
        measured[c.server].survivors += survivors;
        error(n, format!("client {}: {first}", c.source));
    }
    for (i, (p, _)) in servers.iter_mut().enumerate() {
        if !p.alive() {
            error(1, format!("echo server {} exited during the run", i + 1));
        }
    }
    Ok(Measured {
        servers: measured,
        open_time,
        hold,
        kernel_before,
        kernel_held,
        server_buffers,
        clients_rss_kib,
        clients_cpu_hold: used(clients0, clients1),
        machine_busy_hold: used(machine0, machine1),
        error_count,
        errors,
    })
}
