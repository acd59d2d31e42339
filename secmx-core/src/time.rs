//! Timeouts (RFC 5321 §4.5.3.2) and deadlines.
//!
//! The sessions never read a clock: every call that can change state takes
//! `now: Instant`, and `poll_timeout()` returns the next [`Instant`] at which
//! the caller must call `handle_timeout(now)`.

use std::time::{Duration, Instant};

/// How long each side waits, per RFC 5321 §4.5.3.2, plus the TLS handshake.
///
/// The defaults are the RFC's minimums; an MTA may lower them to shed idle
/// clients faster, which the RFC discourages for the client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Client: waiting for the `220` greeting (§4.5.3.2.1, 5 minutes).
    pub greeting: Duration,
    /// Client: waiting for the reply to EHLO, HELO, RSET, NOOP, STARTTLS and
    /// QUIT. The RFC names none; SecMX uses the MAIL timeout (5 minutes).
    pub command: Duration,
    /// Client: waiting for the reply to MAIL (§4.5.3.2.2, 5 minutes).
    pub mail: Duration,
    /// Client: waiting for the reply to RCPT (§4.5.3.2.3, 5 minutes).
    pub rcpt: Duration,
    /// Client: waiting for the `354` to DATA (§4.5.3.2.4, 2 minutes).
    pub data_initiation: Duration,
    /// Client: between writes of message data (§4.5.3.2.5, 3 minutes).
    pub data_block: Duration,
    /// Client: waiting for the reply after `.` or the last BDAT
    /// (§4.5.3.2.6, 10 minutes).
    pub data_termination: Duration,
    /// Server: waiting for the next command or data (§4.5.3.2.7, 5 minutes).
    pub server: Duration,
    /// Both: the whole TLS handshake after `220` to STARTTLS. RFC 3207 names
    /// none; SecMX uses 1 minute.
    pub tls_handshake: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MINUTE: Duration = Duration::from_secs(60);
        Self {
            greeting: 5 * MINUTE,
            command: 5 * MINUTE,
            mail: 5 * MINUTE,
            rcpt: 5 * MINUTE,
            data_initiation: 2 * MINUTE,
            data_block: 3 * MINUTE,
            data_termination: 10 * MINUTE,
            server: 5 * MINUTE,
            tls_handshake: MINUTE,
        }
    }
}

/// One pending deadline, or none: what a session keeps per timer and
/// reports through `poll_timeout()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// Sets the deadline to `now + after`, saturating far in the future.
    pub fn set(&mut self, now: Instant, after: Duration) {
        self.0 = Some(now.checked_add(after).unwrap_or(now));
    }

    /// Clears it.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// When it fires.
    pub fn get(self) -> Option<Instant> {
        self.0
    }

    /// True if it is set and `now` is at or past it.
    pub fn expired(self, now: Instant) -> bool {
        self.0.is_some_and(|at| now >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_rfc5321_4_5_3_2_minimums() {
        let t = Timeouts::default();
        assert_eq!(t.greeting, Duration::from_secs(300));
        assert_eq!(t.mail, Duration::from_secs(300));
        assert_eq!(t.rcpt, Duration::from_secs(300));
        assert_eq!(t.data_initiation, Duration::from_secs(120));
        assert_eq!(t.data_block, Duration::from_secs(180));
        assert_eq!(t.data_termination, Duration::from_secs(600));
        assert_eq!(t.server, Duration::from_secs(300));
    }

    #[test]
    fn deadline_fires_at_and_after() {
        let now = Instant::now();
        let mut d = Deadline::default();
        assert!(!d.expired(now));
        d.set(now, Duration::from_secs(1));
        assert!(!d.expired(now));
        assert!(d.expired(now + Duration::from_secs(1)));
        assert_eq!(d.get(), Some(now + Duration::from_secs(1)));
        d.clear();
        assert_eq!(d.get(), None);
    }
}
