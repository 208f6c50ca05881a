//! Property tests over everything that parses input from the network or an operator: each
//! area checks that arbitrary input never panics and that accepted input gives the answer a
//! simple reference implementation (or a round trip) gives.
//!
//! Failure persistence is off (see [`runner`]): a shrunk failing case is kept as a named
//! regular test beside the property instead of an opaque seed file, which would be tied to
//! the generators' shapes and silently go stale when they change.

mod admin;
mod allow;
mod config;
mod headers;
mod protocol;
mod routing;

use proptest::test_runner::Config;

/// The runner settings every property here uses: `cases` per property (or `PROPTEST_CASES`
/// when set, for a deeper run), no regression files.
pub fn runner(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    }
}
