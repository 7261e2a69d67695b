//! One connection to Redis, a single server or a Cluster, through the
//! `redis` crate: commands, pipelines and subscriptions (RESP3, so one
//! connection carries all three; messages arrive through [`Pushes`]).
//!
//! A Cluster uses sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`, Redis 7): each
//! channel lives on the shard of its hash slot, so pub/sub scales with the
//! cluster. The crate's cluster client routes every command by its key or
//! channel; a pipeline may not span slots, so on a Cluster a batch goes
//! out as one pipeline per slot (in order), concurrently.

use crate::rooms::backplane::{Envelope, Target, NUMBERED};
use crate::rooms::hub::WeakHub;
use futures_util::future::try_join_all;
use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, Route, RoutingInfo, SlotAddr};
use redis::{
    Cmd, ConnectionInfo, FromRedisValue, ProtocolVersion, PushInfo, PushKind, RedisResult, Value,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// At most this many channels in one `SUBSCRIBE`/`UNSUBSCRIBE`.
const CHANNELS_PER_COMMAND: usize = 512;

/// Where the Redis servers are.
#[derive(Clone)]
pub(super) enum Servers {
    /// One URL: a single server, or a node of a Cluster (asked at connect
    /// time with `INFO cluster`).
    Detect(ConnectionInfo),
    /// A Cluster, by some of its nodes.
    Cluster(Vec<ConnectionInfo>),
}

/// A live connection; cheap to clone (both kinds multiplex).
#[derive(Clone)]
pub(super) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Connects, with `pushes` receiving what the subscriptions bring.
    pub(super) async fn open(
        servers: &Servers,
        pushes: Pushes,
        timeout: Duration,
    ) -> RedisResult<Conn> {
        let cluster_of = |nodes: Vec<ConnectionInfo>, pushes: Pushes| async move {
            let client = ClusterClientBuilder::new(nodes)
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(pushes)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(1)
                .build()?;
            let mut conn = client.get_async_connection().await?;
            for (_, state) in ask_masters(&mut conn, redis::cmd("CLUSTER").arg("INFO")).await? {
                cluster_ok(&state)?;
            }
            Ok(Conn::Cluster(conn))
        };
        match servers {
            Servers::Cluster(nodes) => cluster_of(nodes.clone(), pushes).await,
            Servers::Detect(info) => {
                let settings = info
                    .redis_settings()
                    .clone()
                    .set_protocol(ProtocolVersion::RESP3);
                let info = info.clone().set_redis_settings(settings);
                let client = redis::Client::open(info.clone())?;
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_push_sender(pushes.clone());
                let mut single = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                let about: String = redis::cmd("INFO")
                    .arg("cluster")
                    .query_async(&mut single)
                    .await?;
                if about.lines().any(|l| l.trim() == "cluster_enabled:1") {
                    // The cluster client maps slots from this node: only
                    // once it sees every slot served is the map whole.
                    let state: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut single)
                        .await?;
                    cluster_ok(&state)?;
                    cluster_of(vec![info], pushes).await
                } else {
                    Ok(Conn::Single(single))
                }
            }
        }
    }

    /// Each master's address and run id (`INFO server`), sorted; empty on
    /// a single server. A master that restarted has a new run id and,
    /// without persistence, none of its keys: the worker compares them to
    /// tell, since the crate reconnects to such a master by itself.
    pub(super) async fn masters(&mut self) -> RedisResult<Vec<(String, String)>> {
        let Conn::Cluster(c) = self else {
            return Ok(Vec::new());
        };
        let mut masters: Vec<(String, String)> = ask_masters(c, redis::cmd("INFO").arg("server"))
            .await?
            .into_iter()
            .map(|(address, info)| {
                let run_id = info
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("run_id:"))
                    .unwrap_or_default();
                (address, run_id.to_owned())
            })
            .collect();
        masters.sort();
        Ok(masters)
    }

    /// Whether this is a Cluster (sharded pub/sub).
    pub(super) fn sharded(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// The command that publishes on a channel here.
    pub(super) fn publish(&self, channel: &str, payload: &[u8]) -> Cmd {
        let mut cmd = redis::cmd(if self.sharded() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        });
        cmd.arg(channel).arg(payload);
        cmd
    }

    /// Subscribes to `channels` (`on`) or unsubscribes from them.
    pub(super) async fn subscribe(&mut self, channels: &[String], on: bool) -> RedisResult<()> {
        match self {
            Conn::Single(c) => {
                for chunk in channels.chunks(CHANNELS_PER_COMMAND) {
                    if on {
                        c.subscribe(chunk).await?;
                    } else {
                        c.unsubscribe(chunk).await?;
                    }
                }
                Ok(())
            }
            // One command per channel: the channels of one command must
            // share a hash slot.
            Conn::Cluster(c) => {
                try_join_all(channels.iter().map(|channel| {
                    let mut c = c.clone();
                    async move {
                        if on {
                            c.ssubscribe(channel).await
                        } else {
                            c.sunsubscribe(channel).await
                        }
                    }
                }))
                .await?;
                Ok(())
            }
        }
    }

    /// Runs `cmds`, ignoring their answers but not their errors.
    pub(super) async fn run(&mut self, cmds: &[Cmd]) -> RedisResult<()> {
        self.answers(cmds).await.map(drop)
    }

    /// Runs `cmds` and gives their answers in order: one pipelined round
    /// trip on a single server; on a Cluster one pipeline per hash slot,
    /// concurrently, each in order (a pipeline may not span slots, and
    /// commands sent one by one may overtake each other).
    pub(super) async fn answers(&mut self, cmds: &[Cmd]) -> RedisResult<Vec<Value>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Conn::Single(c) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query_async(c).await
            }
            Conn::Cluster(c) => {
                // Each pipeline with the places of its commands in `cmds`.
                let mut pipes: Vec<(redis::Pipeline, Vec<usize>)> = Vec::new();
                let mut by_slot: HashMap<Route, usize> = HashMap::new();
                for (i, cmd) in cmds.iter().enumerate() {
                    let slot = Route::with_key(key_of(cmd), SlotAddr::Master);
                    let at = *by_slot.entry(slot).or_insert_with(|| {
                        pipes.push((redis::pipe(), Vec::new()));
                        pipes.len() - 1
                    });
                    pipes[at].0.add_command(cmd.clone());
                    pipes[at].1.push(i);
                }
                let answers = try_join_all(pipes.iter().map(|(pipe, _)| {
                    let mut c = c.clone();
                    async move { pipe.query_async::<Vec<Value>>(&mut c).await }
                }))
                .await?;
                let mut ordered = vec![Value::Nil; cmds.len()];
                for ((_, places), answers) in pipes.iter().zip(answers) {
                    for (place, answer) in places.iter().zip(answers) {
                        ordered[*place] = answer;
                    }
                }
                Ok(ordered)
            }
        }
    }

    /// One command and its answer.
    pub(super) async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Conn::Single(c) => cmd.query_async(c).await,
            Conn::Cluster(c) => cmd.query_async(c).await,
        }
    }
}

/// Asks every master of the Cluster `cmd`; each answer as text, with the
/// master's address (empty when the crate gives one answer for all).
async fn ask_masters(
    conn: &mut ClusterConnection,
    cmd: &Cmd,
) -> RedisResult<Vec<(String, String)>> {
    let all = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let answers = match conn.route_command(cmd.clone(), all).await? {
        Value::Map(answers) => answers,
        answer => vec![(Value::Nil, answer)],
    };
    answers
        .into_iter()
        .map(|(address, text)| {
            let address = Option::<String>::from_redis_value(address)?;
            Ok((address.unwrap_or_default(), String::from_redis_value(text)?))
        })
        .collect()
}

/// Whether a Cluster node's `CLUSTER INFO` says it serves: a cluster being
/// created (or missing a master) is not joined yet, since a slot map read
/// then lacks slots and the crate would send their subscriptions to a node
/// that refuses them, and a connection later may not subscribe again.
fn cluster_ok(info: &str) -> RedisResult<()> {
    match info
        .lines()
        .find_map(|l| l.trim().strip_prefix("cluster_state:"))
    {
        Some("ok") => Ok(()),
        state => Err((
            redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
            "the cluster does not serve every slot yet",
            format!("cluster_state:{}", state.unwrap_or("?")),
        )
            .into()),
    }
}

/// The key (or shard channel) a command is routed by: after the script
/// and the key count for `EVALSHA`, else the first argument.
fn key_of(cmd: &Cmd) -> &[u8] {
    let mut args = cmd.args_iter();
    let name = match args.next() {
        Some(redis::Arg::Simple(name)) => name,
        _ => return &[],
    };
    let skip = if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        2
    } else {
        0
    };
    match args.nth(skip) {
        Some(redis::Arg::Simple(key)) => key,
        _ => &[],
    }
}

/// Receives the connection's pushes: delivers the other nodes' envelopes
/// to the hub, right on the connection's reading task (no hop), and says
/// when the connection dropped. Pushes of an older connection than the
/// current `generation` are ignored.
#[derive(Clone)]
pub(super) struct Pushes {
    pub(super) hub: WeakHub,
    pub(super) generation: u64,
    pub(super) current: Arc<AtomicU64>,
    /// Woken when this connection reports a disconnection.
    pub(super) dropped: Arc<Notify>,
    pub(super) prefix: Arc<str>,
}

impl AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        if self.current.load(Ordering::Acquire) != self.generation {
            return Ok(());
        }
        match info.kind {
            PushKind::Message | PushKind::SMessage => {
                let Some(hub) = self.hub.upgrade() else {
                    return Ok(());
                };
                let payload = match info.data.get(1) {
                    Some(Value::BulkString(bytes)) => bytes.as_slice(),
                    _ => &[],
                };
                // This node's own sends come back too (it may be subscribed
                // to the channel): told by the first 8 bytes, not decoded.
                // Numbered ones (history rooms) are delivered only so, in
                // position order, on every node this one included.
                let numbered = payload.get(16) == Some(&NUMBERED);
                if !numbered && payload.get(..8) == Some(&hub.node().to_be_bytes()[..]) {
                    return Ok(());
                }
                match Envelope::from_bytes(payload) {
                    Some(Envelope {
                        target: Target::Room(room),
                        position: Some(position),
                        message,
                        except,
                        ..
                    }) => {
                        hub.deliver_numbered(&room, &position, &message, except);
                    }
                    Some(e) => {
                        hub.deliver(&e.target, &e.message, e.except);
                    }
                    None => tracing::debug!(
                        channel = %self.prefix,
                        "redis backplane: ignoring a malformed message"
                    ),
                }
            }
            PushKind::Disconnection => self.dropped.notify_one(),
            _ => {}
        }
        Ok(())
    }
}
