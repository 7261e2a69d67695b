//! The `#[websocket]` macro's compile-fail tests: every misuse must be an
//! error on the offending token with a message that says how to fix it.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
