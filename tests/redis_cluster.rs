//! The tests of tests/redis.rs against a real 3-master Redis Cluster that
//! each test starts (`redis-server --cluster-enabled yes` ×3, then
//! `redis-cli --cluster create`), kills and restarts: the backplane finds
//! the cluster when it connects (or is told its masters) and uses sharded
//! pub/sub, so `PUBSUB SHARDCHANNELS` on the masters shows its channels.
//!
//! Run with `cargo test -p cheese-api-tests --features redis --test redis_cluster`;
//! needs Redis 7 (sharded pub/sub, `--cluster-port`): `redis-server` and
//! `redis-cli` (Debian: redis-server, redis-tools), otherwise as
//! tests/redis.rs.

mod redis_support;

redis_support::deployment_tests!(redis_support::Kind::Cluster);

#[tokio::test]
async fn one_cluster_master_killed_and_restarted() {
    redis_support::cases::one_cluster_master_killed_and_restarted(
        "one_cluster_master_killed_and_restarted",
    )
    .await;
}
