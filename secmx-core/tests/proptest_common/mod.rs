//! Proptest settings shared by secmx-core's tests.

use proptest::test_runner::{Config, RngAlgorithm};

/// `cases` cases with proptest's defaults; under Miri eight cases, the
/// XorShift generator (ChaCha's SIMD code is slow there) and no failure
/// file, which Miri's isolation forbids writing.
pub(crate) fn config(cases: u32) -> Config {
    if cfg!(miri) {
        Config {
            cases: 8,
            rng_algorithm: RngAlgorithm::XorShift,
            failure_persistence: None,
            ..Config::default()
        }
    } else {
        Config {
            cases,
            ..Config::default()
        }
    }
}
