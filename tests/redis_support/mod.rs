//! What tests/redis.rs (one `redis-server`) and tests/redis_cluster.rs (a
//! 3-master Redis Cluster) share: the tests are written once, in `cases`,
//! for either deployment, and each file instantiates them all with
//! [`deployment_tests!`].
//!
//! - `deploy`: the Redis processes the tests start, kill and restart, on
//!   ports and in temporary folders of their own, and the channels they
//!   show (`PUBSUB CHANNELS` / `SHARDCHANNELS`).
//! - `chat`: the app every node serves (also built into the node binary,
//!   tests/bin/node.rs).
//! - `nodes`: nodes in this process and in a child process, clients, and
//!   the bounded waits and checks the cases use.
//! - `cases`: the test bodies.
//! - `history`: tests/history_support/, the history scenarios tests/history.rs
//!   runs in memory, which `cases` runs across Redis nodes.
//!
//! Every test has its own Redis deployment, ports and channel prefix, so
//! they run in parallel (`cargo test` without `--test-threads=1`).
#![allow(dead_code)] // each test binary uses a part

pub mod cases;
mod chat;
pub mod deploy;
#[path = "../history_support/mod.rs"]
pub mod history;
pub mod nodes;

pub use chat::Chat;
pub use deploy::Kind;

/// Declares every test of `cases` as a test of this binary, against the
/// deployment `$kind`, each under its own name: `async` on Tokio's test
/// runtime (one thread), `multi` on two worker threads (for races), `sync`
/// without a runtime.
macro_rules! deployment_tests {
    ($kind:expr) => {
        $crate::redis_support::deployment_tests!(
            $kind;
            async two_nodes_deliver_room_route_and_socket_sends_once,
            async one_channel_per_room_with_members,
            async a_node_without_members_of_a_room_receives_none_of_it,
            async presence_spans_nodes_with_info,
            async a_node_killed_with_sigkill_leaves_presence_within_the_ttl,
            async redis_killed_and_restarted_mid_test,
            async redis_frozen_then_thawed,
            async nodes_start_without_redis_and_connect_when_it_appears,
            async history_recovers_a_dropped_client_across_nodes,
            multi history_rejoins_racing_publishes_across_nodes,
            async history_epoch_changes_when_redis_is_flushed,
            async history_outage_reaches_local_members_with_a_hole_then_a_new_epoch,
            async history_keys_are_bounded_and_expire,
            async the_chat_example_counts_names_and_resumes_across_nodes,
            sync a_backplane_given_outside_a_runtime_runs_on_its_own_thread,
        );
    };
    ($kind:expr; $($flavour:ident $name:ident,)*) => {
        $($crate::redis_support::deployment_tests!(@one $kind, $flavour $name);)*
    };
    (@one $kind:expr, async $name:ident) => {
        #[tokio::test]
        async fn $name() {
            $crate::redis_support::cases::$name($kind, stringify!($name)).await;
        }
    };
    (@one $kind:expr, multi $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::redis_support::cases::$name($kind, stringify!($name)).await;
        }
    };
    (@one $kind:expr, sync $name:ident) => {
        #[test]
        fn $name() {
            $crate::redis_support::cases::$name($kind, stringify!($name));
        }
    };
}
pub(crate) use deployment_tests;
