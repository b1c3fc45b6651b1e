//! Misuse of `#[aio::main]` / `#[aio::test]` must fail to compile with a clear message (the
//! expected compiler output is in `ui/*.stderr`; `TRYBUILD=overwrite` regenerates it).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
