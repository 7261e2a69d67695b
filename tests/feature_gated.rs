//! Says, where `cargo test --workspace` lists its tests, which test files it
//! did not build for want of a cargo feature, and how to run them:
//! tests/redis.rs and tests/tls.rs have `required-features` (tests/Cargo.toml),
//! and cargo skips such a target without a word.
//!
//! Each test here exists only while its feature is off. Its name says which
//! feature to pass, and it writes the whole command to stderr, straight to
//! the stream: libtest hides what a passing test prints with `eprintln!`.

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
