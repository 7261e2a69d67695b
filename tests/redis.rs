//! Nodes linked by `RedisBackplane` through one real `redis-server` that
//! each test starts, kills and restarts: cross-node delivery, one channel per
//! room, route and node (routing by interest), presence across nodes, a node
//! killed with SIGKILL, Redis going away and coming back. The same tests run
//! against a Redis Cluster in tests/redis_cluster.rs; their bodies are in
//! tests/redis_support/cases.rs.
//!
//! Run with `cargo test -p cheese-api-tests --features redis --test redis`
//! (built only with the feature: `required-features` in tests/Cargo.toml;
//! without it `cargo test --workspace` lists
//! `not_built::redis_tests_not_built...` instead). Without `redis-server`
//! on PATH the tests print a SKIPPED line and pass, unless
//! `CHEESE_REQUIRE_REDIS=1` (as in CI) makes that a failure.

mod redis_support;

redis_support::deployment_tests!(redis_support::Kind::Single);

#[test]
fn a_malformed_url_is_an_error_and_the_channel_is_configurable() {
    redis_support::cases::a_malformed_url_is_an_error_and_the_channel_is_configurable();
}
