//! The test files cargo does not build, said where `cargo test --workspace`
//! lists its tests.
//!
//! - tests/redis.rs, tests/redis_cluster.rs, tests/tls.rs, tests/http2.rs,
//!   tests/metrics.rs and tests/metrics_redis.rs have
//!   `required-features` (tests/Cargo.toml), and cargo skips such a target
//!   without a word. Each
//!   notice test here exists only while its feature is off: its name says
//!   which feature to pass, and it writes the whole command to stderr,
//!   straight to the stream (libtest hides what a passing test prints with
//!   `eprintln!`).
//! - This package lists its tests (and bin/'s binaries) by hand
//!   (`autotests = false`: its folder is not a `tests/` to cargo), so a file
//!   missing from that list would never run: a test fails then.

/// Prints that the test files `tests/{name}.rs` of `names`, built only with
/// `feature`, were not built, and the command that runs them.
#[cfg_attr(
    all(feature = "redis", feature = "tls", feature = "metrics"),
    allow(dead_code)
)]
fn not_built(feature: &str, names: &[&str], also_needs: &str) {
    use std::io::Write;
    use std::path::Path;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in names {
        let file = dir.join(format!("{name}.rs"));
        assert!(
            file.is_file(),
            "{} is gone: update this notice",
            file.display()
        );
    }
    let files: Vec<String> = names.iter().map(|n| format!("tests/{n}.rs")).collect();
    let tests: String = names.iter().map(|n| format!(" --test {n}")).collect();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {}: built only with feature `{feature}`; run with \
         `cargo test -p cheese-api-tests --features {feature}{tests}`{also_needs}",
        files.join(", ")
    );
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_tests_not_built_pass_features_redis() {
    not_built(
        "redis",
        &["redis", "redis_cluster"],
        " (needs redis-server and redis-cli on PATH)",
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_tests_not_built_pass_features_tls() {
    not_built("tls", &["tls", "http2"], "");
}

#[cfg(not(feature = "metrics"))]
#[test]
fn metrics_tests_not_built_pass_features_metrics() {
    not_built("metrics", &["metrics"], "");
}

#[cfg(not(all(feature = "metrics", feature = "redis")))]
#[test]
fn metrics_redis_tests_not_built_pass_features_metrics_redis() {
    not_built(
        "metrics,redis",
        &["metrics_redis"],
        " (needs redis-server on PATH)",
    );
}

#[test]
fn every_test_file_here_is_a_test_of_tests_cargo_toml() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let listed: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.strip_prefix("path = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .collect();
    let mut unlisted = Vec::new();
    // The tests, and the binaries some of them run (`bin/`).
    for folder in ["", "bin/"] {
        for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let path = format!("{folder}{name}");
            if name.ends_with(".rs") && !listed.contains(&path.as_str()) {
                unlisted.push(path);
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "never built, so never run: {unlisted:?}; add a [[test]] (or [[bin]]) for each to tests/Cargo.toml"
    );
}
