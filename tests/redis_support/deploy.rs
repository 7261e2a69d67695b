//! Real Redis deployments started by a test: one `redis-server`
//! ([`RedisServer`]) or a 3-master Redis Cluster ([`RedisCluster`]), each on
//! ports and in a temporary folder of its own, killed (SIGKILL, as a crash)
//! and restarted on the same ports; [`Redis`] is either, so a test body is
//! written once for both. [`Redis::channels`] lists the pub/sub channels a
//! prefix has subscribers on, and how many, as `redis-cli` shows them;
//! [`Redis::command`] runs any other command, [`Redis::flushall`] empties
//! every server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How long a redis-server may take to listen, or a cluster to say
/// `cluster_state:ok` (a restarted master waits 2 s before it does).
const STARTUP: Duration = Duration::from_secs(20);

/// Which deployment a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One `redis-server`: plain pub/sub (`PUBSUB CHANNELS`).
    Single,
    /// Three masters, no replicas: sharded pub/sub (`PUBSUB SHARDCHANNELS`).
    Cluster,
}

/// Whether the deployment can run here; prints a SKIPPED line if not
/// (a failure instead under `CHEESE_REQUIRE_REDIS=1`, as in CI).
pub fn available(kind: Kind, test: &str) -> bool {
    let tools: &[&str] = match kind {
        Kind::Single => &["redis-server"],
        // `redis-cli` lists channels too, but only the cluster needs it to
        // start at all.
        Kind::Cluster => &["redis-server", "redis-cli"],
    };
    for tool in tools {
        let status = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = status {
            if std::env::var("CHEESE_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("CHEESE_REQUIRE_REDIS=1 but {tool} cannot run: {e}");
            }
            println!(
                "SKIPPED {test}: {tool} not found ({e}); install redis-server and redis-tools"
            );
            return false;
        }
    }
    true
}

/// A loopback port nothing listens on, below the kernel's ephemeral range
/// (32768 and up on Linux, 49152 on others): no outgoing connection and no
/// `127.0.0.1:0` listener takes it while its redis-server is down between a
/// kill and a restart. Ports are handed out in turn within the process
/// (tests run in parallel), from a start that differs between processes.
pub fn free_port() -> u16 {
    const LOW: u32 = 16_000;
    const SPAN: u32 = 16_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919);
    for _ in 0..SPAN {
        let port = (LOW + start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN);
}

/// A folder of its own under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(port: u16) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("cheese-api-redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir); // left by a killed earlier run
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `redis-server` process on a loopback port, with its arguments kept
/// for a restart; killed on drop.
struct Process {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl Process {
    fn new(port: u16, dir: &TempDir, extra: &[String]) -> Process {
        let mut args: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        args.extend(["--save", "", "--appendonly", "no", "--dir"].map(str::to_owned));
        args.push(dir.0.to_string_lossy().into_owned());
        args.extend_from_slice(extra);
        Process {
            port,
            args,
            child: None,
        }
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "port {} already running", self.port);
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
    }

    async fn wait_listening(&mut self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the running server.
    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running redis-server");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", child.id());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `redis-cli -p port ARGS...` and returns its output lines (raw
/// format: one element a line), or why it failed.
async fn cli(port: u16, args: &[&str]) -> Result<Vec<String>, String> {
    let output = tokio::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("redis-cli: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // redis-cli exits 0 on an error reply and says it on stdout.
    if !output.status.success() || stdout.starts_with("ERR") || stdout.contains("Could not connect")
    {
        return Err(format!(
            "redis-cli -p {port} {args:?}: {} {stdout} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A single `redis-server`.
pub struct RedisServer {
    process: Process,
    _dir: TempDir,
}

impl RedisServer {
    /// A server on a free port, not started yet.
    fn new() -> RedisServer {
        let port = free_port();
        let dir = TempDir::new(port);
        RedisServer {
            process: Process::new(port, &dir, &[]),
            _dir: dir,
        }
    }

    async fn start(&mut self) {
        self.process.spawn();
        self.process.wait_listening().await;
    }
}

/// Three Redis Cluster masters without replicas, made one cluster with
/// `redis-cli --cluster create` on the first start; a restart starts the same
/// processes on the same ports with the same `nodes-PORT.conf`, so the same
/// cluster comes back.
pub struct RedisCluster {
    masters: Vec<Process>,
    created: bool,
    _dir: TempDir,
}

impl RedisCluster {
    fn new() -> RedisCluster {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir = TempDir::new(ports[0]);
        let masters = ports
            .iter()
            .map(|&port| {
                let conf = dir.0.join(format!("nodes-{port}.conf"));
                let extra = [
                    "--cluster-enabled".to_owned(),
                    "yes".to_owned(),
                    "--cluster-config-file".to_owned(),
                    conf.to_string_lossy().into_owned(),
                    // The bus on a port of our own, not port + 10000 (which
                    // may be taken, or above 65535).
                    "--cluster-port".to_owned(),
                    free_port().to_string(),
                    // Long enough that a loaded machine does not fail a master.
                    "--cluster-node-timeout".to_owned(),
                    "5000".to_owned(),
                ];
                Process::new(port, &dir, &extra)
            })
            .collect();
        RedisCluster {
            masters,
            created: false,
            _dir: dir,
        }
    }

    fn ports(&self) -> Vec<u16> {
        self.masters.iter().map(|m| m.port).collect()
    }

    async fn start(&mut self) {
        for master in &mut self.masters {
            master.spawn();
        }
        for master in &mut self.masters {
            master.wait_listening().await;
        }
        if !self.created {
            let nodes: Vec<String> = self
                .ports()
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect();
            let output = tokio::process::Command::new("redis-cli")
                .arg("--cluster")
                .arg("create")
                .args(&nodes)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
                .await
                .expect("run redis-cli --cluster create");
            assert!(
                output.status.success(),
                "redis-cli --cluster create {nodes:?}: {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            self.created = true;
        }
        self.wait_ok().await;
    }

    /// Waits until every master says `cluster_state:ok`.
    async fn wait_ok(&self) {
        let deadline = Instant::now() + STARTUP;
        for port in self.ports() {
            loop {
                let info = cli(port, &["CLUSTER", "INFO"]).await;
                if info
                    .as_ref()
                    .is_ok_and(|lines| lines.iter().any(|l| l == "cluster_state:ok"))
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster on {:?} not ok within {STARTUP:?}: port {port} says {info:?}",
                    self.ports()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// A Redis deployment of either [`Kind`].
pub enum Redis {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    /// A deployment on free ports, not started: nodes given its
    /// [`url`](Self::url) now find nothing there until [`start`](Self::start).
    pub fn new(kind: Kind) -> Redis {
        match kind {
            Kind::Single => Redis::Single(RedisServer::new()),
            Kind::Cluster => Redis::Cluster(RedisCluster::new()),
        }
    }

    /// A deployment started and ready (a cluster: created, state ok).
    pub async fn started(kind: Kind) -> Redis {
        let mut redis = Redis::new(kind);
        redis.start().await;
        redis
    }

    pub fn kind(&self) -> Kind {
        match self {
            Redis::Single(_) => Kind::Single,
            Redis::Cluster(_) => Kind::Cluster,
        }
    }

    fn ports(&self) -> Vec<u16> {
        match self {
            Redis::Single(s) => vec![s.process.port],
            Redis::Cluster(c) => c.ports(),
        }
    }

    /// The URL of the (first) server: a cluster is told apart by the
    /// backplane when it connects.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.ports()[0])
    }

    /// Every server's URL (a cluster's seed nodes).
    pub fn urls(&self) -> Vec<String> {
        self.ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// Starts every server, or restarts them after [`kill`](Self::kill), on
    /// the same ports; returns once the deployment serves (a cluster: created
    /// on the first start, `cluster_state:ok` on every master).
    pub async fn start(&mut self) {
        match self {
            Redis::Single(s) => s.start().await,
            Redis::Cluster(c) => c.start().await,
        }
    }

    /// Kills every server at once (SIGKILL), as a crash would; the data goes
    /// with them (no persistence), a cluster's `nodes.conf` stays.
    pub fn kill(&mut self) {
        match self {
            Redis::Single(s) => s.process.kill(),
            Redis::Cluster(c) => c.masters.iter_mut().for_each(Process::kill),
        }
    }

    /// Freezes every server (SIGSTOP), as a hung machine or a network that
    /// drops packets would: connections stay open and nothing answers.
    pub fn freeze(&self) {
        self.processes().for_each(|p| p.signal("STOP"));
    }

    /// Thaws every server frozen with [`freeze`](Self::freeze) (SIGCONT).
    pub fn thaw(&self) {
        self.processes().for_each(|p| p.signal("CONT"));
    }

    fn processes(&self) -> impl Iterator<Item = &Process> {
        match self {
            Redis::Single(s) => std::slice::from_ref(&s.process).iter(),
            Redis::Cluster(c) => c.masters.iter(),
        }
    }

    /// A cluster's master that holds `key` (its index): the one that
    /// answers `EXISTS key` itself instead of redirecting.
    pub async fn master_of(&self, key: &str) -> usize {
        let Redis::Cluster(c) = self else {
            panic!("only a cluster has masters");
        };
        for (i, port) in c.ports().into_iter().enumerate() {
            let answer = cli(port, &["EXISTS", key]).await.expect("EXISTS");
            if !answer.iter().any(|l| l.starts_with("MOVED")) {
                return i;
            }
        }
        panic!("no master holds {key}");
    }

    /// Kills one master of a cluster (SIGKILL); its data goes with it.
    pub fn kill_master(&mut self, i: usize) {
        let Redis::Cluster(c) = self else {
            panic!("only a cluster has masters");
        };
        c.masters[i].kill();
    }

    /// Restarts a master killed with [`kill_master`](Self::kill_master) on
    /// its port, with its `nodes.conf`; returns once every master says
    /// `cluster_state:ok`.
    pub async fn restart_master(&mut self, i: usize) {
        let Redis::Cluster(c) = self else {
            panic!("only a cluster has masters");
        };
        c.masters[i].spawn();
        c.masters[i].wait_listening().await;
        c.wait_ok().await;
    }

    /// `redis-cli -c ARGS...` on the first server, its output lines: a
    /// cluster's master redirects a key's command to the master of its slot.
    pub async fn command(&self, args: &[&str]) -> Result<Vec<String>, String> {
        cli(self.ports()[0], &[&["-c"], args].concat()).await
    }

    /// `FLUSHALL` on every server: every key is gone, as after a restart
    /// without persistence, while connections and subscriptions stay.
    pub async fn flushall(&self) {
        for port in self.ports() {
            cli(port, &["FLUSHALL"]).await.expect("FLUSHALL");
        }
    }

    /// The channels under `prefix` that have subscribers, with how many
    /// each (one per node: a node subscribes once): `PUBSUB CHANNELS
    /// 'prefix:*'` and `PUBSUB NUMSUB` on a single server; on a cluster,
    /// `PUBSUB SHARDCHANNELS 'prefix:*'` and `PUBSUB SHARDNUMSUB` on each
    /// master (a shard channel lives on the master of its slot), all
    /// together.
    pub async fn channels(&self, prefix: &str) -> Result<BTreeMap<String, usize>, String> {
        let pattern = format!("{prefix}:*");
        let (list, count) = match self.kind() {
            Kind::Single => ("CHANNELS", "NUMSUB"),
            Kind::Cluster => ("SHARDCHANNELS", "SHARDNUMSUB"),
        };
        let mut all = BTreeMap::new();
        for port in self.ports() {
            // One channel per count: a cluster refuses channels of several
            // slots in one command.
            for channel in cli(port, &["PUBSUB", list, &pattern]).await? {
                let answer = cli(port, &["PUBSUB", count, &channel]).await?;
                let subscribers = match &answer[..] {
                    [name, n] if *name == channel => n.parse().ok(),
                    _ => None,
                };
                let subscribers = subscribers
                    .ok_or_else(|| format!("PUBSUB {count} {channel} on {port}: {answer:?}"))?;
                // Unsubscribed between the two commands: not a channel now.
                if subscribers > 0 {
                    all.insert(channel, subscribers);
                }
            }
        }
        Ok(all)
    }
}
