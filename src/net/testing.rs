//! Helpers shared by the crate's unit tests (compiled for tests only).

/// A proptest configuration: `cases` per property, or `PROPTEST_CASES` when set; no
/// regression files (a failing case becomes a named regular test instead).
pub fn prop_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        failure_persistence: None,
        ..proptest::test_runner::Config::with_cases(cases)
    }
}
