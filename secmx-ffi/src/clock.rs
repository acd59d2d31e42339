//! Milliseconds from C to [`Instant`]s for the sans-IO machines, and back.
//!
//! The C API passes time as `uint64_t now_ms`: milliseconds since an epoch
//! the caller chooses (a monotonic clock such as `CLOCK_MONOTONIC` is the
//! right one; a simulated clock works as well). Each object keeps the
//! [`Instant`] of its creation and the caller's `now_ms` at that moment;
//! every later `now_ms` becomes `base + (now_ms - base_ms)`.
//!
//! `Instant` has no constructor but `Instant::now()`, so the FFI layer
//! reads the clock exactly once per object, in [`Clock::start`], only to
//! anchor that mapping. Nothing in SecMX reads the clock anywhere else:
//! every deadline follows the caller's milliseconds.

use std::time::{Duration, Instant};

use crate::error::secmx_result;

/// The anchor of one object's time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    base_ms: u64,
}

impl Clock {
    /// Anchors the caller's `now_ms` to an `Instant`.
    pub(crate) fn start(now_ms: u64) -> Self {
        Self {
            // The one clock read of the FFI layer: see the module docs.
            base: Instant::now(),
            base_ms: now_ms,
        }
    }

    /// The `Instant` for the caller's `now_ms`. Times before the object's
    /// creation are refused ([`secmx_result::InvalidArgument`]): the
    /// caller's clock must not run backwards past it.
    pub(crate) fn instant(&self, now_ms: u64) -> Result<Instant, secmx_result> {
        let since = now_ms
            .checked_sub(self.base_ms)
            .ok_or(secmx_result::InvalidArgument)?;
        self.base
            .checked_add(Duration::from_millis(since))
            .ok_or(secmx_result::InvalidArgument)
    }

    /// The caller's milliseconds for `at`, rounded up: a `handle_timeout`
    /// at that time is never early.
    pub(crate) fn millis(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base);
        let mut ms = since.as_millis();
        if !since.subsec_nanos().is_multiple_of(1_000_000) {
            ms += 1;
        }
        self.base_ms
            .saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rounding() {
        let clock = Clock::start(1_000);
        let at = clock.instant(1_250).expect("after the base");
        assert_eq!(clock.millis(at), 1_250);
        assert_eq!(clock.millis(at + Duration::from_micros(1)), 1_251);
        assert_eq!(clock.millis(clock.instant(1_000).expect("the base")), 1_000);
    }

    #[test]
    fn before_the_base_is_refused() {
        let clock = Clock::start(1_000);
        assert_eq!(clock.instant(999), Err(secmx_result::InvalidArgument));
    }

    #[test]
    fn the_far_future_saturates() {
        let clock = Clock::start(0);
        // Linux's Instant reaches 2^64 ms past any base; where it cannot,
        // the time is refused rather than a panic.
        match clock.instant(u64::MAX) {
            Ok(at) => assert_eq!(clock.millis(at), u64::MAX),
            Err(code) => assert_eq!(code, secmx_result::InvalidArgument),
        }
    }
}
