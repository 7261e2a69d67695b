//! The `#[websocket]` macro's compile-fail tests: every misuse must be an
//! error on the offending token with a message that says how to fix it.
//! Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p cheese-api-tests --test ui`. Paths are
//! relative to this package's folder (tests/): the inputs are `ui/*.rs`, and
//! the `.stderr` files point at them as `--> ui/NAME.rs`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
