//! RFC 5322 §3.3 date-time, written from unix seconds (UTC), for the
//! `Date:` header and the `Arrival-Date` field of a DSN (RFC 3464 §2.2.5).
//!
//! ```text
//! date-time   = [ day-of-week "," ] date time [CFWS]
//! day-of-week = ([FWS] day-name) ; "Mon" / "Tue" / ... / "Sun"
//! date        = day month year    ; day = 1*2DIGIT, year = 4*DIGIT
//! month       = "Jan" / "Feb" / ... / "Dec"
//! time        = time-of-day zone
//! time-of-day = hour ":" minute [ ":" second ]
//! zone        = (FWS ( "+" / "-" ) 4DIGIT)
//! ```
//!
//! What is written: `Thu, 01 Jan 1970 00:00:00 +0000` — the day of the
//! week, a two-digit day, the time with seconds, and the zone `+0000`
//! (the time really is UTC; `-0000` would say "local time unknown",
//! RFC 5322 §3.3). Years past 9999 get more digits, as `4*DIGIT` allows.
//!
//! No clock is read and no date library is used: the civil date comes
//! from the day count by the proleptic Gregorian calendar (400-year eras
//! of 146 097 days, years starting in March so that the leap day is the
//! last day of the year).

use std::fmt;

const DAY_NAMES: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const SECONDS_PER_DAY: u64 = 86_400;
/// Days in one 400-year Gregorian era.
const DAYS_PER_ERA: u64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT: u64 = 719_468;

/// A civil date and time in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian).
    pub year: u64,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59 (unix time has no leap seconds).
    pub second: u8,
    /// Days since the epoch modulo 7: 0 is Thursday.
    weekday: u8,
}

impl UtcDateTime {
    /// The date and time `unix_seconds` after 1970-01-01 00:00:00 UTC.
    pub fn from_unix(unix_seconds: u64) -> Self {
        let days = unix_seconds / SECONDS_PER_DAY;
        let secs = unix_seconds % SECONDS_PER_DAY;
        // Days since 0000-03-01; no overflow: u64::MAX / 86400 is far
        // below u64::MAX - EPOCH_SHIFT.
        let z = days + EPOCH_SHIFT;
        let era = z / DAYS_PER_ERA;
        let doe = z % DAYS_PER_ERA; // day of era, 0..=146096
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1
        let mp = (5 * doy + 2) / 153; // 0 = March … 11 = February
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        Self {
            year,
            month: month as u8,
            day: day as u8,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            // 1970-01-01 was a Thursday.
            weekday: (days % 7) as u8,
        }
    }

    /// The day's three-letter name (RFC 5322 §3.3 `day-name`).
    pub fn day_name(&self) -> &'static str {
        DAY_NAMES[usize::from(self.weekday % 7)]
    }

    /// The month's three-letter name (RFC 5322 §3.3 `month`).
    pub fn month_name(&self) -> &'static str {
        MONTH_NAMES[usize::from((self.month + 11) % 12)]
    }
}

impl fmt::Display for UtcDateTime {
    /// `Thu, 01 Jan 1970 00:00:00 +0000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
            self.day_name(),
            self.day,
            self.month_name(),
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// The RFC 5322 §3.3 date-time of `unix_seconds`, in UTC:
/// `Thu, 01 Jan 1970 00:00:00 +0000`.
pub fn format_rfc5322(unix_seconds: u64) -> String {
    UtcDateTime::from_unix(unix_seconds).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_3_3_known_dates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (86_399, "Thu, 01 Jan 1970 23:59:59 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"), // leap day, 400-year rule
            (1_234_567_890, "Fri, 13 Feb 2009 23:31:30 +0000"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 +0000"), // 2100 is no leap year
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 +0000"),
            (253_402_300_800, "Sat, 01 Jan 10000 00:00:00 +0000"),
        ];
        for (t, want) in cases {
            assert_eq!(format_rfc5322(t), want, "{t}");
        }
    }

    #[test]
    fn no_panic_at_the_end_of_time() {
        let d = UtcDateTime::from_unix(u64::MAX);
        assert!(d.year > 500_000_000_000);
        assert!((1..=12).contains(&d.month) && (1..=31).contains(&d.day));
    }
}
