//! Wall-clock dates for the `Received:` line (RFC 5322 §3.3) and the JSON
//! log (RFC 3339 §5.6), in UTC, without a date crate.
//!
//! ```text
//! date-time (RFC 5322 §3.3) = [ day-of-week "," ] date time
//!   e.g.  Tue, 29 Oct 2024 13:05:09 +0000
//! date-time (RFC 3339 §5.6) = full-date "T" full-time
//!   e.g.  2024-10-29T13:05:09.123Z
//! ```
//!
//! The civil date comes from the day count since 1970-01-01 with the
//! proleptic Gregorian algorithm of H. Hinnant's `civil_from_days`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
    /// 0 = Sunday.
    weekday: u32,
}

fn civil(at: SystemTime) -> Civil {
    // Times before 1970 do not occur on a running mail server; clamp to it.
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // civil_from_days: shift the era to start on 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
        millis: since.subsec_millis(),
        // 1970-01-01 was a Thursday (4).
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Tue, 29 Oct 2024 13:05:09 +0000` (RFC 5322 §3.3), in UTC.
pub fn rfc5322(at: SystemTime) -> String {
    let c = civil(at);
    let day = DAYS.get(c.weekday as usize).copied().unwrap_or("Sun");
    let month = MONTHS
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{day}, {} {month} {:04} {:02}:{:02}:{:02} +0000",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

/// `2024-10-29T13:05:09.123Z` (RFC 3339 §5.6), in UTC.
pub fn rfc3339(at: SystemTime) -> String {
    let c = civil(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn rfc5322_3_3_and_rfc3339_5_6_known_instants() {
        // (unix seconds, RFC 5322, RFC 3339), checked with `date -u -d @N`.
        let cases = [
            (
                0,
                "Thu, 1 Jan 1970 00:00:00 +0000",
                "1970-01-01T00:00:00.000Z",
            ),
            (
                951_782_400, // leap day of a year divisible by 400
                "Tue, 29 Feb 2000 00:00:00 +0000",
                "2000-02-29T00:00:00.000Z",
            ),
            (
                1_730_207_109,
                "Tue, 29 Oct 2024 13:05:09 +0000",
                "2024-10-29T13:05:09.000Z",
            ),
            (
                4_102_444_799, // last second of 2099
                "Thu, 31 Dec 2099 23:59:59 +0000",
                "2099-12-31T23:59:59.000Z",
            ),
            (
                4_107_542_400, // 2100 is not a leap year
                "Mon, 1 Mar 2100 00:00:00 +0000",
                "2100-03-01T00:00:00.000Z",
            ),
        ];
        for (secs, mail, log) in cases {
            assert_eq!(rfc5322(at(secs, 0)), mail, "{secs}");
            assert_eq!(rfc3339(at(secs, 0)), log, "{secs}");
        }
        assert_eq!(rfc3339(at(1, 42)), "1970-01-01T00:00:01.042Z");
    }

    #[test]
    fn every_day_of_four_centuries_is_a_valid_date() {
        let mut previous = civil(at(0, 0));
        for day in 1..(400 * 366) {
            let c = civil(at(day * 86_400, 0));
            assert!((1..=12).contains(&c.month) && (1..=31).contains(&c.day));
            assert_eq!(c.weekday, (previous.weekday + 1) % 7);
            let next_day = c.day == previous.day + 1 && c.month == previous.month;
            let next_month = c.day == 1 && (c.month == previous.month % 12 + 1);
            assert!(next_day || next_month, "{previous:?} -> {c:?}");
            previous = c;
        }
    }
}
