//! History rooms in Redis: a script numbers, keeps and publishes each
//! message in one atomic step, and another reads what was kept.
//!
//! Per room, `<prefix>:history-meta:{<room>}` is a hash (`epoch`, `offset`,
//! `last`: the token of the last numbered send) and `<prefix>:history:{<room>}`
//! a stream of the envelopes, with the offset as their id (`<offset>-1`)
//! and an exact `MAXLEN`; both expire `ttl` after the room's last message,
//! and a missing hash means the history was lost: the next message starts
//! a new epoch. The braces keep both keys and the room's channel in one
//! Cluster slot, which the script needs.
//!
//! The node builds a message knowing its position, so the script checks
//! the position is still the next one (compare and set) and otherwise
//! answers the room's current one; the node then builds again. Within a
//! batch, a room's sends name their predecessor's token, so once one is
//! refused the ones after it are too: one node's sends keep their order.

use super::conn::Conn;
use super::store::Names;
use crate::connection::error::SendError;
use crate::message::Message;
use crate::rooms::backplane::{Build, Envelope, Target};
use crate::rooms::history::{History, Kept, Position};
use redis::{Cmd, RedisError, Value};
use std::collections::HashMap;
use tokio::sync::oneshot;

/// Numbers, keeps and publishes one envelope.
/// KEYS: meta, stream. ARGV: epoch, offset (expected), envelope, maxlen,
/// ttl ms, a fresh epoch, channel, publish command, predecessor token
/// (`*`: none), this send's token.
const NUMBER: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local top = 0
if epoch then
  top = tonumber(redis.call('HGET', KEYS[1], 'offset'))
else
  epoch = ARGV[6]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0, 'last', '')
end
if epoch ~= ARGV[1] or top + 1 ~= tonumber(ARGV[2])
   or (ARGV[9] ~= '*' and redis.call('HGET', KEYS[1], 'last') ~= ARGV[9]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {0, epoch, top}
end
redis.call('HSET', KEYS[1], 'offset', top + 1, 'last', ARGV[10])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], (top + 1) .. '-1', 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call(ARGV[8], ARGV[7], ARGV[3])
return {1, epoch, top + 1}
"#;

/// Reads a room's position, its first kept offset and, when `since` is of
/// its epoch, the envelopes after it.
/// KEYS: meta, stream. ARGV: since's epoch, since's offset.
const READ: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {} end
local top = redis.call('HGET', KEYS[1], 'offset')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local entries = {}
if epoch == ARGV[1] then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[2] .. '-1', '+')
end
return {epoch, top, first, entries}
"#;

/// A numbered send waiting for Redis.
pub(super) struct Job {
    pub(super) room: String,
    pub(super) history: History,
    pub(super) build: Build,
    pub(super) except: Option<u64>,
    pub(super) reply: oneshot::Sender<Result<Position, SendError>>,
}

/// What the worker knows of each history room: its epoch and last offset,
/// as Redis last answered.
#[derive(Default)]
pub(super) struct Numbering {
    rooms: HashMap<String, (String, u64)>,
    /// Makes each send's token distinct.
    sent: u64,
    /// Scripts by SHA once loaded on this connection (`None`: send the
    /// source with `EVAL`).
    pub(super) sha: Option<String>,
}

/// How many times a batch is built again when other nodes keep taking
/// its positions, before its sends are given up.
const ROUNDS: usize = 64;

impl Numbering {
    /// Loads the numbering script on a new connection.
    pub(super) async fn load(&mut self, conn: &mut Conn) {
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(NUMBER);
        self.sha = conn.query::<String>(&load).await.ok();
    }

    fn script(&self, cmd: &mut Cmd) {
        match &self.sha {
            Some(sha) => cmd.arg("EVALSHA").arg(sha),
            None => cmd.arg("EVAL").arg(NUMBER),
        };
    }

    /// Numbers `jobs` in order; answers each. An error of the connection
    /// is returned with the jobs not yet answered (their fate unknown).
    pub(super) async fn run(
        &mut self,
        conn: &mut Conn,
        names: &Names,
        node: u64,
        mut jobs: Vec<Job>,
    ) -> Result<(), (RedisError, Vec<Job>)> {
        for _ in 0..ROUNDS {
            if jobs.is_empty() {
                return Ok(());
            }
            let mut next: HashMap<String, (String, u64, String)> = HashMap::new();
            let mut cmds = Vec::new();
            let mut built = Vec::new();
            for job in jobs {
                let (epoch, top) = self.rooms.get(&job.room).cloned().unwrap_or_default();
                let slot = next
                    .entry(job.room.clone())
                    .or_insert((epoch, top, "*".to_owned()));
                let position = Position {
                    epoch: slot.0.clone(),
                    offset: slot.1 + 1,
                };
                let message = match (job.build)(&position) {
                    Ok(message) => message,
                    Err(e) => {
                        let _ = job.reply.send(Err(e));
                        continue;
                    }
                };
                self.sent += 1;
                let token = format!("{node:x}.{}", self.sent);
                let envelope = Envelope {
                    origin: node,
                    target: Target::Room(job.room.clone()),
                    except: job.except,
                    message,
                    position: Some(position.clone()),
                };
                let mut cmd = redis::Cmd::new();
                self.script(&mut cmd);
                cmd.arg(2)
                    .arg(names.history_meta(&job.room))
                    .arg(names.history(&job.room))
                    .arg(&position.epoch)
                    .arg(position.offset)
                    .arg(envelope.to_bytes())
                    .arg(job.history.max_messages())
                    .arg(job.history.max_age().as_millis() as u64)
                    .arg(crate::rooms::history::fresh_epoch(node))
                    .arg(names.channel(&crate::rooms::backplane::Topic::Room(job.room.clone())))
                    .arg(if conn.sharded() {
                        "SPUBLISH"
                    } else {
                        "PUBLISH"
                    })
                    .arg(&slot.2)
                    .arg(&token);
                slot.1 += 1;
                slot.2 = token;
                cmds.push(cmd);
                built.push((job, position));
            }
            let answers = match conn.answers(&cmds).await {
                Ok(answers) => answers,
                Err(e) => return Err((e, built.into_iter().map(|(job, _)| job).collect())),
            };
            jobs = Vec::new();
            for ((job, position), answer) in built.into_iter().zip(answers) {
                match numbered(answer) {
                    Some((true, epoch, top)) => {
                        self.rooms.insert(job.room.clone(), (epoch, top));
                        let _ = job.reply.send(Ok(position));
                    }
                    Some((false, epoch, top)) => {
                        self.rooms.insert(job.room.clone(), (epoch, top));
                        jobs.push(job);
                    }
                    None => {
                        let _ = job.reply.send(Err(SendError::Unavailable(
                            "unexpected answer from the history script".into(),
                        )));
                    }
                }
            }
        }
        for job in jobs {
            let _ = job.reply.send(Err(SendError::Unavailable(
                "other nodes kept taking this room's positions".into(),
            )));
        }
        Ok(())
    }

    /// Forgets every room's position (a new connection: Redis may have
    /// lost them).
    pub(super) fn forget(&mut self) {
        self.rooms.clear();
        self.sha = None;
    }
}

/// `{ok, epoch, top}` from the numbering script.
fn numbered(answer: Value) -> Option<(bool, String, u64)> {
    let Value::Array(items) = answer else {
        return None;
    };
    let [ok, epoch, top] = <[Value; 3]>::try_from(items).ok()?;
    let ok: i64 = redis::from_redis_value(ok).ok()?;
    let epoch: String = redis::from_redis_value(epoch).ok()?;
    let top: u64 = redis::from_redis_value(top).ok()?;
    Some((ok == 1, epoch, top))
}

/// The kept messages of `room` after `since`.
pub(super) async fn read(
    conn: &mut Conn,
    names: &Names,
    room: &str,
    since: &Position,
) -> Result<Kept, SendError> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(READ)
        .arg(2)
        .arg(names.history_meta(room))
        .arg(names.history(room))
        .arg(&since.epoch)
        .arg(since.offset);
    let answer: Vec<Value> = conn
        .query(&cmd)
        .await
        .map_err(|e| SendError::Unavailable(e.to_string()))?;
    let Ok([epoch, top, first, entries]) = <[Value; 4]>::try_from(answer) else {
        return Ok(Kept::none()); // no history (never, expired, or lost)
    };
    let epoch: String = redis::from_redis_value(epoch).map_err(bad)?;
    let top: u64 = redis::from_redis_value(top).map_err(bad)?;
    let first_kept = entries_of(first)?
        .first()
        .map_or(top + 1, |(offset, _)| *offset);
    let messages: Vec<(Position, Message)> = entries_of(entries)?
        .into_iter()
        .map(|(offset, message)| {
            let at = Position {
                epoch: epoch.clone(),
                offset,
            };
            (at, message)
        })
        .collect();
    let position = (top > 0).then(|| Position {
        epoch: epoch.clone(),
        offset: top,
    });
    let complete = since.epoch == epoch && since.offset <= top && since.offset + 1 >= first_kept;
    Ok(Kept {
        position,
        messages,
        complete,
    })
}

fn bad(e: impl std::fmt::Display) -> SendError {
    SendError::Unavailable(format!("unexpected history in Redis: {e}"))
}

/// Stream entries `[[id, [field, envelope]], ...]` as (offset, message).
fn entries_of(value: Value) -> Result<Vec<(u64, Message)>, SendError> {
    let entries: Vec<(String, Vec<Vec<u8>>)> = redis::from_redis_value(value).map_err(bad)?;
    entries
        .into_iter()
        .map(|(id, fields)| {
            let offset = id
                .split_once('-')
                .and_then(|(offset, _)| offset.parse().ok())
                .ok_or_else(|| bad(format!("stream id {id}")))?;
            let envelope = fields
                .get(1)
                .and_then(|bytes| Envelope::from_bytes(bytes))
                .ok_or_else(|| bad("a malformed envelope"))?;
            Ok((offset, envelope.message))
        })
        .collect()
}
