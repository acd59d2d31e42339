//! Learned levels: raise, refresh, no downgrade, expiry, keys, serde; and
//! the RFC 5322 dates the DSNs carry, checked against mail-parser.

use std::time::Duration;

use mail_parser::MessageParser;
use proptest::prelude::*;
use secmx_policy::date::format_rfc5322;
use secmx_policy::learned::{LearnedLevel, LearnedLevels, Observed};

const DAY: u64 = 86_400;

fn levels() -> LearnedLevels {
    LearnedLevels::new(Duration::from_secs(10 * DAY))
}

#[test]
fn design_learned_levels_order() {
    use LearnedLevel::*;
    assert!(None < Tls && Tls < VerifiedTls && VerifiedTls < SorPresent);
}

#[test]
fn design_weaker_result_does_not_lower_the_floor_until_expiry() {
    let mut l = levels();
    let t0 = 1_000_000;
    assert_eq!(l.floor("d.test", t0), None);
    assert_eq!(l.observe("d.test", LearnedLevel::Tls, t0), Observed::New);
    assert_eq!(l.floor("d.test", t0), Some(LearnedLevel::Tls));
    assert_eq!(
        l.observe("d.test", LearnedLevel::SorPresent, t0 + 10),
        Observed::Raised
    );
    assert_eq!(
        l.observe("d.test", LearnedLevel::None, t0 + 20),
        Observed::Weaker
    );
    assert_eq!(
        l.observe("d.test", LearnedLevel::VerifiedTls, t0 + 30),
        Observed::Weaker
    );
    assert_eq!(l.floor("d.test", t0 + 30), Some(LearnedLevel::SorPresent));
    let e = *l.entry("d.test").expect("entry");
    assert_eq!((e.first_seen, e.last_seen), (t0 + 10, t0 + 10));
    // the same level again moves last_seen on
    assert_eq!(
        l.observe("d.test", LearnedLevel::SorPresent, t0 + 5 * DAY),
        Observed::Refreshed
    );
    let e = *l.entry("d.test").expect("entry");
    assert_eq!((e.first_seen, e.last_seen), (t0 + 10, t0 + 5 * DAY));
    // in force until last_seen + expiry, not after
    assert_eq!(
        l.floor("d.test", t0 + 15 * DAY - 1),
        Some(LearnedLevel::SorPresent)
    );
    assert_eq!(l.floor("d.test", t0 + 15 * DAY), None);
    // after expiry a weaker level is a new start
    assert_eq!(
        l.observe("d.test", LearnedLevel::Tls, t0 + 16 * DAY),
        Observed::New
    );
    assert_eq!(l.floor("d.test", t0 + 16 * DAY), Some(LearnedLevel::Tls));
}

#[test]
fn level_none_is_no_floor() {
    let mut l = levels();
    l.observe("d.test", LearnedLevel::None, 5);
    assert_eq!(l.floor("d.test", 5), None);
    assert!(l.entry("d.test").is_some());
}

#[test]
fn keys_ignore_case_and_the_final_dot() {
    let mut l = levels();
    l.observe("Example.NET.", LearnedLevel::VerifiedTls, 7);
    assert_eq!(l.floor("example.net", 8), Some(LearnedLevel::VerifiedTls));
    assert_eq!(l.floor("EXAMPLE.net.", 8), Some(LearnedLevel::VerifiedTls));
    assert_eq!(
        l.iter().map(|(d, _)| d).collect::<Vec<_>>(),
        ["example.net"]
    );
    assert!(l.forget("example.NET").is_some());
    assert!(l.is_empty());
}

#[test]
fn prune_and_expiry_change() {
    let mut l = levels();
    l.observe("a.test", LearnedLevel::Tls, 0);
    l.observe("b.test", LearnedLevel::Tls, 9 * DAY);
    assert_eq!(l.prune(10 * DAY), 1);
    assert_eq!(l.len(), 1);
    l.set_expiry(Duration::from_secs(DAY));
    assert_eq!(l.expiry(), Duration::from_secs(DAY));
    assert_eq!(l.floor("b.test", 10 * DAY), None);
    // time going backwards does not move last_seen back
    l.observe("c.test", LearnedLevel::Tls, 100);
    l.observe("c.test", LearnedLevel::Tls, 50);
    assert_eq!(l.entry("c.test").map(|e| e.last_seen), Some(100));
}

#[test]
fn serde_round_trip_json_and_toml() {
    let mut l = levels();
    l.observe("a.test", LearnedLevel::SorPresent, 1);
    l.observe("b.test", LearnedLevel::VerifiedTls, 2);
    l.observe("c.test", LearnedLevel::Tls, 3);
    let json = serde_json::to_string(&l).expect("json");
    assert!(json.contains("\"sor-present\""), "{json}");
    assert!(json.contains("\"expiry_secs\":864000"), "{json}");
    let back: LearnedLevels = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, l);
    let text = toml::to_string(&l).expect("toml");
    let back: LearnedLevels = toml::from_str(&text).expect("parses");
    assert_eq!(back, l);
    // an empty document is an empty store with the default expiry
    let empty: LearnedLevels = serde_json::from_str("{}").expect("parses");
    assert_eq!(empty, LearnedLevels::default());
}

fn level() -> impl Strategy<Value = LearnedLevel> {
    prop_oneof![
        Just(LearnedLevel::None),
        Just(LearnedLevel::Tls),
        Just(LearnedLevel::VerifiedTls),
        Just(LearnedLevel::SorPresent),
    ]
}

proptest! {
    /// No downgrade: once `level` was seen at `t` (after observations no
    /// stronger), later observations at most as strong leave a floor of
    /// at least `level` until `t + expiry`; and no floor outlives the last
    /// observation by the expiry.
    #[test]
    fn no_downgrade_within_expiry(
        before in proptest::collection::vec((level(), 0u64..5 * DAY), 0..8),
        level in level(),
        after in proptest::collection::vec((level(), 0u64..20 * DAY), 0..8),
        probe in 0u64..12 * DAY,
    ) {
        let mut l = levels();
        let mut t = 0;
        for (lv, dt) in &before {
            t += dt;
            l.observe("d.test", (*lv).min(level), t);
        }
        t += 1;
        let seen = t;
        l.observe("d.test", level, seen);
        let mut last = seen;
        for (lv, dt) in &after {
            t += dt;
            if *lv <= level {
                l.observe("d.test", *lv, t);
                last = t;
            }
        }
        let at = t + probe; // queries come after the observations

        let floor = l.floor("d.test", at).unwrap_or(LearnedLevel::None);
        if at < seen + 10 * DAY {
            prop_assert!(floor >= level, "{floor:?} < {level:?} at +{probe}");
        }
        if at >= last + 10 * DAY {
            prop_assert_eq!(l.floor("d.test", at), None);
        }
    }

    /// RFC 5322 §3.3: what `format_rfc5322` writes, mail-parser reads back
    /// as the same instant.
    #[test]
    fn rfc5322_3_3_date_round_trip(t in 0u64..253_402_300_800) {
        let text = format_rfc5322(t);
        let header = format!("Date: {text}\r\n\r\n");
        let m = MessageParser::default().parse_headers(header.as_bytes()).expect("parses");
        prop_assert_eq!(m.date().expect("a date").to_timestamp(), t as i64, "{}", text);
    }
}
