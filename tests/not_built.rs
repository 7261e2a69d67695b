//! The test files cargo does not build, said where `cargo test --workspace`
//! lists its tests.
//!
//! - tests/redis.rs and tests/tls.rs have `required-features`
//!   (tests/Cargo.toml), and cargo skips such a target without a word. Each
//!   notice test here exists only while its feature is off: its name says
//!   which feature to pass, and it writes the whole command to stderr,
//!   straight to the stream (libtest hides what a passing test prints with
//!   `eprintln!`).
//! - This package lists its tests by hand (`autotests = false`: its folder
//!   is not a `tests/` to cargo), so a file missing from that list would never
//!   run: a test fails then.

/// Prints that `tests/{name}.rs` was not built and the command that runs it.
#[cfg_attr(all(feature = "redis", feature = "tls"), allow(dead_code))]
fn not_built(name: &str, also_needs: &str) {
    use std::io::Write;
    use std::path::Path;

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.rs"));
    assert!(
        file.is_file(),
        "{} is gone: update this notice",
        file.display()
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED tests/{name}.rs: built only with feature `{name}`; run it with \
         `cargo test -p cheese-api-tests --features {name} --test {name}`{also_needs}"
    );
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_tests_not_built_pass_features_redis() {
    not_built("redis", " (needs redis-server on PATH)");
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_tests_not_built_pass_features_tls() {
    not_built("tls", "");
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
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".rs") && !listed.contains(&name.as_str()) {
            unlisted.push(name);
        }
    }
    assert!(
        unlisted.is_empty(),
        "never built, so never run: {unlisted:?}; add a [[test]] for each to tests/Cargo.toml"
    );
}
