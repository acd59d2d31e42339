//! MTA-STS policy text, MX patterns and cache entries (RFC 8461).

use proptest::prelude::*;
use secmx_policy::mta_sts::{
    MAX_MAX_AGE, MAX_POLICY_SIZE, MtaStsCacheEntry, MtaStsError, MtaStsMode, MtaStsPolicy,
    MxPattern,
};

fn pattern(text: &str) -> MxPattern {
    MxPattern::parse(text).expect("test pattern is valid")
}

fn patterns(policy: &MtaStsPolicy) -> Vec<String> {
    policy.mx.iter().map(ToString::to_string).collect()
}

/// RFC 8461 §3.2: the example policy, with LF, CRLF, mixed and no final
/// line end.
#[test]
fn rfc8461_3_2_example_policy() {
    let lines = [
        "version: STSv1",
        "mode: enforce",
        "mx: mail.example.com",
        "mx: *.example.net",
        "mx: backupmx.example.com",
        "max_age: 604800",
    ];
    let texts = [
        lines.join("\n") + "\n",
        lines.join("\r\n") + "\r\n",
        lines.join("\r\n"),
        lines.join("\n"),
        format!("{}\r\n{}\n", lines[..3].join("\n"), lines[3..].join("\r\n")),
    ];
    for text in texts {
        let policy = MtaStsPolicy::parse(&text).expect("RFC 8461 §3.2 example parses");
        assert_eq!(policy.mode, MtaStsMode::Enforce);
        assert!(policy.is_enforced());
        assert_eq!(policy.max_age, 604_800);
        assert_eq!(
            patterns(&policy),
            ["mail.example.com", "*.example.net", "backupmx.example.com"]
        );
        assert!(policy.mx_matches("mail.example.com."));
        assert!(policy.mx_matches("mx1.example.net"));
        assert!(policy.mx_matches("BACKUPMX.example.COM"));
        assert!(!policy.mx_matches("example.net"));
        assert!(!policy.mx_matches("a.b.example.net"));
        assert!(!policy.mx_matches("evil.example.com"));
    }
}

/// RFC 8461 §3.2 and §5: the three modes; `mx` may be absent with mode
/// `none` only.
#[test]
fn rfc8461_3_2_modes() {
    let cases = [
        (
            "version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 86400\n",
            MtaStsMode::Testing,
            1,
        ),
        (
            "version: STSv1\nmode: none\nmax_age: 1209600\n",
            MtaStsMode::None,
            0,
        ),
        (
            "version: STSv1\nmode: none\nmx: mx.example.org\nmax_age: 0\n",
            MtaStsMode::None,
            1,
        ),
        (
            "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 31557600\n",
            MtaStsMode::Enforce,
            1,
        ),
    ];
    for (text, mode, mx) in cases {
        let policy = MtaStsPolicy::parse(text).expect(text);
        assert_eq!(policy.mode, mode, "{text}");
        assert_eq!(policy.mx.len(), mx, "{text}");
        assert_eq!(policy.is_enforced(), mode == MtaStsMode::Enforce);
    }
}

/// RFC 8461 §3.2: "If any non-repeated field ... is duplicated, all entries
/// except for the first SHALL be ignored"; every `mx` counts.
#[test]
fn rfc8461_3_2_duplicates_first_wins() {
    let policy = MtaStsPolicy::parse(
        "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\n\
         max_age: 100\nmax_age: 999999999999\nversion: STSv9\nmode: bogus\nmx: *.b.example\n",
    )
    .expect("later duplicates are ignored unchecked");
    assert_eq!(policy.mode, MtaStsMode::Testing);
    assert_eq!(policy.max_age, 100);
    assert_eq!(patterns(&policy), ["a.example", "*.b.example"]);

    // The first instance decides, even when it is the bad one.
    assert_eq!(
        MtaStsPolicy::parse(
            "version: STSv1\nmode: bogus\nmode: enforce\nmx: a.example\nmax_age: 1\n"
        ),
        Err(MtaStsError::Mode { line: 2 })
    );
}

/// RFC 8461 §3.2: unknown fields are ignored; field order is free; blank
/// lines and trailing white space are tolerated.
#[test]
fn rfc8461_3_2_lenient_parts() {
    let text = "mx: mx.example.org \t\r\n\r\nx-note: anything; goes = here\r\nmax_age:86400\r\n\
                mode:\tenforce\r\n  \r\nversion: STSv1";
    let policy = MtaStsPolicy::parse(text).expect("valid");
    assert_eq!(policy.mode, MtaStsMode::Enforce);
    assert_eq!(policy.max_age, 86_400);
    assert_eq!(patterns(&policy), ["mx.example.org"]);
    // Upper case and a trailing dot in the pattern are normalized.
    let policy =
        MtaStsPolicy::parse("version: STSv1\nmode: enforce\nmx: *.MAIL.Example.COM.\nmax_age: 5\n")
            .expect("valid");
    assert_eq!(patterns(&policy), ["*.mail.example.com"]);
}

/// RFC 8461 §3.2: invalid policies, each with the error it gives.
#[test]
fn rfc8461_3_2_invalid_policies() {
    use MtaStsError::*;
    let ok_tail = "mode: enforce\nmx: mx.example.org\nmax_age: 86400\n";
    let cases: Vec<(String, MtaStsError)> = vec![
        (ok_tail.to_owned(), Missing("version")),
        (
            "version: STSv1\nmx: a.example\nmax_age: 1\n".into(),
            Missing("mode"),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\n".into(),
            Missing("max_age"),
        ),
        (
            "version: STSv1\nmode: enforce\nmax_age: 1\n".into(),
            Missing("mx"),
        ),
        (
            "version: STSv1\nmode: testing\nmax_age: 1\n".into(),
            Missing("mx"),
        ),
        (format!("version: STSv2\n{ok_tail}"), Version { line: 1 }),
        (format!("version: stsv1\n{ok_tail}"), Version { line: 1 }),
        (format!("version:\n{ok_tail}"), Version { line: 1 }),
        (
            "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n".into(),
            Mode { line: 2 },
        ),
        (
            "version: STSv1\nmode: report\nmx: a.example\nmax_age: 1\n".into(),
            Mode { line: 2 },
        ),
        // Field names are case-sensitive: "Mode" is an unknown field.
        (
            "version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n".into(),
            Missing("mode"),
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n".into(),
            MaxAge { line: 4 },
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n".into(),
            MaxAge { line: 4 },
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n".into(),
            MaxAge { line: 4 },
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1e3\n".into(),
            MaxAge { line: 4 },
        ),
        (
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age:\n".into(),
            MaxAge { line: 4 },
        ),
        (
            "version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n".into(),
            Syntax {
                line: 2,
                reason: "expected \"name: value\"",
            },
        ),
        (
            " version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n".into(),
            Syntax {
                line: 1,
                reason: "a field name starts with a letter or digit",
            },
        ),
        (
            "version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n".into(),
            Syntax {
                line: 1,
                reason: "a field name holds only letters, digits, '_', '-' and '.'",
            },
        ),
        (
            format!("{}: x\nversion: STSv1\n{ok_tail}", "a".repeat(33)),
            Syntax {
                line: 1,
                reason: "field name longer than 32 characters",
            },
        ),
        (
            ": x\n".into(),
            Syntax {
                line: 1,
                reason: "empty field name",
            },
        ),
        // A bare CR inside a line is not a line end.
        (
            "version: STSv1\rmode: enforce\nmx: a.example\nmax_age: 1\n".into(),
            Version { line: 1 },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(MtaStsPolicy::parse(&text), Err(expected), "{text:?}");
    }
}

/// RFC 8461 §3.2 `sts-policy-mx-value = ["*."] Domain`: bad patterns name
/// their line.
#[test]
fn rfc8461_3_2_invalid_mx_patterns() {
    let bad = [
        "",
        "*",
        "*.",
        ".",
        "*.*.example.com",
        "mail..example.com",
        ".example.com",
        "-mail.example.com",
        "mail-.example.com",
        "mail_1.example.com",
        "mail.exämple.com",
        "mail example.com",
        "mail.example.com..",
        "a*.example.com",
        "foo.*.example.com",
    ];
    for text in bad {
        match MxPattern::parse(text) {
            Err(MtaStsError::MxPattern { line: None, .. }) => {}
            other => panic!("{text:?} gave {other:?}"),
        }
        let policy =
            format!("version: STSv1\nmode: enforce\nmx: ok.example\nmx: {text}\nmax_age: 1\n");
        match MtaStsPolicy::parse(&policy) {
            Err(error @ MtaStsError::MxPattern { line: Some(4), .. }) => {
                assert!(
                    error.to_string().starts_with("line 4: bad mx pattern"),
                    "{error}"
                );
            }
            other => panic!("{text:?} in a policy gave {other:?}"),
        }
    }
    let long_label = format!("{}.example.com", "a".repeat(64));
    assert!(MxPattern::parse(&long_label).is_err());
    assert!(MxPattern::parse(&format!("{}.example.com", "a".repeat(63))).is_ok());
    let long_name = vec!["abcdefghi"; 26].join("."); // 259 octets
    assert!(MxPattern::parse(&long_name).is_err());
}

/// RFC 8461 §4.1: `*.example.com` stands for exactly one more label; names
/// compare without regard to case or a trailing dot.
#[test]
fn rfc8461_4_1_mx_matching() {
    let cases = [
        ("mail.example.com", "mail.example.com", true),
        ("mail.example.com", "MAIL.EXAMPLE.COM.", true),
        ("mail.example.com.", "mail.example.com", true),
        ("mail.example.com", "mail.example.com..", false),
        ("mail.example.com", "mx.mail.example.com", false),
        ("mail.example.com", "example.com", false),
        ("*.example.com", "mx1.example.com", true),
        ("*.example.com", "MX1.Example.Com.", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", "example.com.", false),
        ("*.example.com", "a.b.example.com", false),
        ("*.example.com", ".example.com", false),
        ("*.example.com", "mx1.example.net", false),
        ("*.example.com", "mx1example.com", false),
        ("*.example.com", "", false),
        ("*.example.com", ".", false),
    ];
    for (text, host, expected) in cases {
        assert_eq!(pattern(text).matches(host), expected, "{text} vs {host:?}");
    }
}

/// RFC 8461 §3.3: bodies over 64 KiB are refused before parsing; bodies
/// that are not UTF-8 are refused.
#[test]
fn rfc8461_3_3_size_and_encoding() {
    let head = "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nx-pad: ";
    let mut body = head.to_owned();
    body.push_str(&"p".repeat(MAX_POLICY_SIZE - head.len()));
    assert_eq!(body.len(), MAX_POLICY_SIZE);
    assert!(MtaStsPolicy::parse(&body).is_ok());
    assert!(MtaStsPolicy::parse_bytes(body.as_bytes()).is_ok());
    body.push('p');
    assert_eq!(
        MtaStsPolicy::parse(&body),
        Err(MtaStsError::TooLarge(MAX_POLICY_SIZE + 1))
    );
    assert_eq!(
        MtaStsPolicy::parse_bytes(body.as_bytes()),
        Err(MtaStsError::TooLarge(MAX_POLICY_SIZE + 1))
    );
    assert_eq!(
        MtaStsPolicy::parse_bytes(b"version: STSv1\nmode: none\nmax_age: 1\nx: \xff\n"),
        Err(MtaStsError::NotUtf8)
    );
}

/// RFC 8461 §5.1: freshness is `max_age` from the fetch; a changed TXT `id`
/// asks for a new fetch; a missing TXT record does not.
#[test]
fn rfc8461_5_1_cache_entry() {
    let entry = MtaStsCacheEntry {
        policy: MtaStsPolicy {
            mode: MtaStsMode::Enforce,
            mx: vec![pattern("*.example.net")],
            max_age: 86_400,
        },
        id: "20160831085700Z".into(),
        fetched_at: 1_000_000,
    };
    assert_eq!(entry.expires_at(), 1_086_400);
    assert!(entry.is_fresh(1_000_000));
    assert!(
        entry.is_fresh(999_000),
        "a clock that went back is still fresh"
    );
    assert!(entry.is_fresh(1_086_399));
    assert!(!entry.is_fresh(1_086_400));
    assert!(!entry.needs_refresh(Some("20160831085700Z"), 1_050_000));
    assert!(!entry.needs_refresh(None, 1_050_000));
    assert!(entry.needs_refresh(Some("20170101000000Z"), 1_050_000));
    assert!(entry.needs_refresh(Some("20160831085700Z"), 1_086_400));
    assert!(entry.needs_refresh(None, 2_000_000));

    let far = MtaStsCacheEntry {
        fetched_at: u64::MAX - 5,
        ..entry.clone()
    };
    assert_eq!(far.expires_at(), u64::MAX);

    let zero = MtaStsCacheEntry {
        policy: MtaStsPolicy {
            max_age: 0,
            ..entry.policy.clone()
        },
        ..entry.clone()
    };
    assert!(!zero.is_fresh(1_000_000), "max_age 0 is never fresh");
}

/// The cache entry is plain serde data with the RFC's spellings.
#[test]
fn cache_entry_serde_round_trip() {
    let entry = MtaStsCacheEntry {
        policy: MtaStsPolicy::parse(
            "version: STSv1\nmode: testing\nmx: *.Example.net.\nmx: a.example\nmax_age: 60\n",
        )
        .expect("valid"),
        id: "abc123".into(),
        fetched_at: 42,
    };
    let json = serde_json::to_value(&entry).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "policy": { "mode": "testing", "mx": ["*.example.net", "a.example"], "max_age": 60 },
            "id": "abc123",
            "fetched_at": 42
        })
    );
    let back: MtaStsCacheEntry = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, entry);
    // A bad pattern in stored data is refused, not trusted.
    let bad = serde_json::json!({
        "policy": { "mode": "enforce", "mx": ["bad pattern"], "max_age": 60 },
        "id": "x", "fetched_at": 1
    });
    assert!(serde_json::from_value::<MtaStsCacheEntry>(bad).is_err());
    assert_eq!(MtaStsMode::Enforce.to_string(), "enforce");
    assert_eq!(MAX_MAX_AGE, 31_557_600);
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..5).prop_map(|labels| labels.join("."))
}

proptest! {
    /// The parser never panics, whatever the text.
    #[test]
    fn parse_never_panics(text in "\\PC*") {
        let _ = MtaStsPolicy::parse(&text);
    }

    /// Nor on arbitrary octets.
    #[test]
    fn parse_bytes_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = MtaStsPolicy::parse_bytes(&body);
    }

    /// Nor on text made of policy-like lines.
    #[test]
    fn parse_policy_like_never_panics(lines in prop::collection::vec(
        prop_oneof![
            Just("version: STSv1".to_owned()),
            Just("mode: enforce".to_owned()),
            Just("mode: none".to_owned()),
            "max_age: [0-9]{0,12}",
            "mx: [*.a-z0-9-]{0,20}",
            "[a-z_.-]{0,5}:[ \t]*[ -~]{0,10}",
            "[ \t\r]{0,3}",
        ],
        0..10,
    ), crlf in any::<bool>()) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        if let Ok(policy) = MtaStsPolicy::parse(&text) {
            prop_assert!(policy.max_age <= MAX_MAX_AGE);
            prop_assert!(policy.mode == MtaStsMode::None || !policy.mx.is_empty());
        }
    }

    /// MxPattern::parse never panics, and what it accepts displays back to
    /// itself.
    #[test]
    fn mx_pattern_parse_round_trips(text in "\\PC{0,80}") {
        if let Ok(pattern) = MxPattern::parse(&text) {
            let shown = pattern.to_string();
            prop_assert_eq!(MxPattern::parse(&shown), Ok(pattern));
        }
    }

    /// RFC 8461 §4.1: `*.d` matches `l.d` for any one label `l`, in any case
    /// and with a trailing dot, but neither `d` nor `l.l.d`.
    #[test]
    fn wildcard_matches_exactly_one_label(d in domain(), l in label(), l2 in label(), dot in any::<bool>()) {
        let p = MxPattern::parse(&format!("*.{d}")).expect("valid");
        let trail = if dot { "." } else { "" };
        let host = format!("{l}.{d}{trail}");
        prop_assert!(p.matches(&host));
        prop_assert!(p.matches(&host.to_ascii_uppercase()));
        let bare = format!("{d}{trail}");
        let deeper = format!("{l2}.{l}.{d}{trail}");
        prop_assert!(!p.matches(&bare));
        prop_assert!(!p.matches(&deeper));
    }

    /// An exact pattern matches only its own name (modulo case and a
    /// trailing dot).
    #[test]
    fn exact_matches_only_itself(d in domain(), other in domain(), l in label()) {
        let p = MxPattern::parse(&d).expect("valid");
        prop_assert!(p.matches(&d));
        let upper = format!("{}.", d.to_ascii_uppercase());
        prop_assert!(p.matches(&upper));
        let sub = format!("{l}.{d}");
        prop_assert!(!p.matches(&sub));
        prop_assert_eq!(p.matches(&other), other == d);
    }

    /// Whatever matches a wildcard has exactly one more label than its
    /// domain, and ends with it.
    #[test]
    fn wildcard_match_shape(d in domain(), host in "[a-zA-Z0-9.-]{0,40}") {
        let p = MxPattern::parse(&format!("*.{d}")).expect("valid");
        if p.matches(&host) {
            let host = host.strip_suffix('.').unwrap_or(&host).to_ascii_lowercase();
            let (first, rest) = host.split_once('.').expect("a match has a dot");
            prop_assert!(!first.is_empty());
            prop_assert_eq!(rest, d.as_str());
        }
    }
}
