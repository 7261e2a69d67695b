//! What the Redis backplane keeps in Redis, by name: a channel per room,
//! route and node, and presence.
//!
//! Presence is one hash per room, `<prefix>:presence:{<room>}`, field = socket
//! id, value = the member's info (JSON). A member's node is its id's high
//! bits; a node is alive while its key `{<prefix>}:alive:<node>` exists
//! (written with a TTL by its heartbeat; the braces put every node's key in
//! one Cluster slot, so one `MGET` reads them all). Readers leave out the
//! members of dead nodes and delete them, so a node that died without a
//! goodbye drops out within the TTL. Each room's hash expires a TTL after
//! its last live node stopped refreshing it.

use super::conn::Conn;
use crate::rooms::backplane::{Topic, NODE_SHIFT};
use crate::rooms::presence::{Member, PresenceError};
use redis::{Cmd, RedisError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Channel and key names under one prefix.
#[derive(Clone)]
pub(super) struct Names {
    pub(super) prefix: Arc<str>,
}

impl Names {
    /// `<prefix>:room:{<room>}`, `<prefix>:route:<pattern>`, `<prefix>:node:<id>`.
    pub(super) fn channel(&self, topic: &Topic) -> String {
        let p = &self.prefix;
        match topic {
            // The braces make the room the hash tag: on a Cluster its
            // channel and keys share a slot.
            Topic::Room(room) => format!("{p}:room:{{{room}}}"),
            Topic::Route(route) => format!("{p}:route:{route}"),
            Topic::Node(node) => format!("{p}:node:{node}"),
        }
    }

    pub(super) fn members(&self, room: &str) -> String {
        format!("{}:presence:{{{room}}}", self.prefix)
    }

    /// A history room's stream of envelopes.
    pub(super) fn history(&self, room: &str) -> String {
        format!("{}:history:{{{room}}}", self.prefix)
    }

    /// A history room's epoch and last offset.
    pub(super) fn history_meta(&self, room: &str) -> String {
        format!("{}:history-meta:{{{room}}}", self.prefix)
    }

    pub(super) fn alive(&self, node: u64) -> String {
        format!("{{{}}}:alive:{node}", self.prefix)
    }
}

/// Writes one member of this node: its info, or its removal (`None`).
pub(super) fn write(
    names: &Names,
    room: &str,
    id: u64,
    info: Option<&str>,
    ttl: Duration,
) -> Vec<Cmd> {
    let key = names.members(room);
    match info {
        Some(info) => {
            let mut set = redis::cmd("HSET");
            set.arg(&key).arg(id).arg(info);
            vec![set, expire(&key, ttl)]
        }
        None => {
            let mut del = redis::cmd("HDEL");
            del.arg(&key).arg(id);
            vec![del]
        }
    }
}

pub(super) fn expire(key: &str, ttl: Duration) -> Cmd {
    let mut cmd = redis::cmd("PEXPIRE");
    cmd.arg(key).arg(ttl.as_millis() as u64);
    cmd
}

/// The heartbeat: marks `node` alive for `ttl`; its answer (the key's old
/// value) is `None` when Redis had forgotten the node (a restart, or a
/// silence longer than the TTL): then the node writes all its members again.
pub(super) fn heartbeat(names: &Names, node: u64, ttl: Duration) -> Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(names.alive(node))
        .arg(1)
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .arg("GET");
    cmd
}

fn unavailable(e: RedisError) -> PresenceError {
    PresenceError::Unavailable(e.to_string())
}

/// The nodes among `nodes` that are alive.
async fn alive(
    conn: &mut Conn,
    names: &Names,
    nodes: &HashSet<u64>,
) -> Result<HashSet<u64>, PresenceError> {
    if nodes.is_empty() {
        return Ok(HashSet::new());
    }
    let nodes: Vec<u64> = nodes.iter().copied().collect();
    let mut mget = redis::cmd("MGET");
    for node in &nodes {
        mget.arg(names.alive(*node));
    }
    let flags: Vec<Option<String>> = conn.query(&mget).await.map_err(unavailable)?;
    Ok(nodes
        .into_iter()
        .zip(flags)
        .filter_map(|(node, flag)| flag.map(|_| node))
        .collect())
}

/// The members of `room` on every node: this node's from `mine` (it knows
/// them best), the others' from Redis, without those of dead nodes (which
/// are deleted on the way).
pub(super) async fn members(
    conn: &mut Conn,
    names: &Names,
    room: &str,
    own: u64,
    mine: Vec<Member>,
) -> Result<Vec<Member>, PresenceError> {
    let key = names.members(room);
    let stored: HashMap<String, String> = conn
        .query(redis::cmd("HGETALL").arg(&key))
        .await
        .map_err(unavailable)?;
    let others: Vec<(u64, String)> = stored
        .into_iter()
        .filter_map(|(id, info)| Some((id.parse::<u64>().ok()?, info)))
        .filter(|(id, _)| id >> NODE_SHIFT != own)
        .collect();
    let nodes = others.iter().map(|(id, _)| id >> NODE_SHIFT).collect();
    let alive = alive(conn, names, &nodes).await?;
    let (live, dead): (Vec<_>, Vec<_>) = others
        .into_iter()
        .partition(|(id, _)| alive.contains(&(id >> NODE_SHIFT)));
    forget(conn, &key, dead.iter().map(|(id, _)| *id)).await;
    let mut all = mine;
    all.extend(
        live.into_iter()
            .map(|(id, info)| Member::new(id, serde_json::from_str(&info).unwrap_or_default())),
    );
    all.sort_by_key(|m| m.id);
    Ok(all)
}

/// How many members `room` has on every node (as [`members`], without the
/// info).
pub(super) async fn count(
    conn: &mut Conn,
    names: &Names,
    room: &str,
    own: u64,
    mine: usize,
) -> Result<usize, PresenceError> {
    let ids: Vec<String> = conn
        .query(redis::cmd("HKEYS").arg(names.members(room)))
        .await
        .map_err(unavailable)?;
    let others: Vec<u64> = ids
        .iter()
        .filter_map(|id| id.parse::<u64>().ok())
        .filter(|id| id >> NODE_SHIFT != own)
        .collect();
    let nodes = others.iter().map(|id| id >> NODE_SHIFT).collect();
    let alive = alive(conn, names, &nodes).await?;
    Ok(mine
        + others
            .iter()
            .filter(|id| alive.contains(&(*id >> NODE_SHIFT)))
            .count())
}

/// Deletes the members of dead nodes; best effort (the next reader tries
/// again).
async fn forget(conn: &mut Conn, key: &str, ids: impl Iterator<Item = u64>) {
    let mut del = redis::cmd("HDEL");
    del.arg(key);
    let mut any = false;
    for id in ids {
        del.arg(id);
        any = true;
    }
    if any {
        let _ = conn.query::<redis::Value>(&del).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let names = Names {
            prefix: "app".into(),
        };
        assert_eq!(
            names.channel(&Topic::Room("lobby".into())),
            "app:room:{lobby}"
        );
        assert_eq!(
            names.channel(&Topic::Route("/chat".into())),
            "app:route:/chat"
        );
        assert_eq!(names.channel(&Topic::Node(7)), "app:node:7");
        assert_eq!(names.members("lobby"), "app:presence:{lobby}");
        // One hash tag for every node's key: one Cluster slot, one MGET.
        assert_eq!(names.alive(7), "{app}:alive:7");
        // A room's channel and history keys share its hash tag.
        assert_eq!(names.history("lobby"), "app:history:{lobby}");
        assert_eq!(names.history_meta("lobby"), "app:history-meta:{lobby}");
    }
}
