//! Message classification rules: precedence, conditions, configuration
//! errors (RFC 8689 for REQUIRETLS and `TLS-Required`).

use proptest::prelude::*;
use secmx_policy::Class;
use secmx_policy::rules::{DomainPattern, Location, MessageFacts, Reason, RuleSet};

const CONFIG: &str = r#"
default = "best-effort"

[[rule]]
name = "marking"
class = "secure-only"
header = { name = "X-Security-Classification", value = "RESTRICTED" }

[[rule]]
name = "marking contains"
class = "secure-only"
header = { name = "X-Protective-Marking", value = "sec=protected", match = "contains" }

[[rule]]
name = "tag"
class = "secure-only"
subject_tag = "[SEC=RESTRICTED]"

[[rule]]
name = "exception"
class = "best-effort"
recipient_domains = ["lists.partner.example"]

[[rule]]
name = "partners"
class = "secure-only"
recipient_domains = ["partner.example", "*.partner.example"]

[[rule]]
name = "finance to bank"
class = "secure-only"
sender_domains = ["finance.example.com"]
recipient_domains = ["bank.example"]

[[rule]]
class = "secure-only"
sender_domains = ["*.secret.example"]
"#;

fn rules() -> RuleSet {
    RuleSet::from_toml(CONFIG).expect("test config is valid")
}

fn facts<'a>(sender: Option<&'a str>, recipient: &'a str, headers: &'a [u8]) -> MessageFacts<'a> {
    MessageFacts {
        requiretls: false,
        sender_domain: sender,
        recipient_domain: recipient,
        headers,
    }
}

fn decide(rules: &RuleSet, facts: &MessageFacts<'_>) -> (Class, Option<String>) {
    let decision = rules.classify(facts);
    let why = match &decision.reason {
        Reason::Rule {
            name: Some(name), ..
        } => Some(name.to_string()),
        Reason::Rule { index, name: None } => Some(format!("#{index}")),
        other => Some(other.to_string()),
    };
    (decision.class, why)
}

/// Each condition kind, alone and combined, in a table.
#[test]
fn conditions_table() {
    let rules = rules();
    let plain: &[u8] = b"From: a@example.com\r\nSubject: hello\r\n\r\n";
    let cases: Vec<(MessageFacts<'_>, Class, &str)> = vec![
        (facts(Some("example.com"), "example.net", plain), Class::BestEffort, "default"),
        // Header, exact (case and surrounding space ignored), any instance.
        (facts(Some("example.com"), "example.net", b"X-Security-Classification: RESTRICTED\r\n\r\n"), Class::SecureOnly, "marking"),
        (facts(Some("example.com"), "example.net", b"x-security-classification:   restricted  \r\n\r\n"), Class::SecureOnly, "marking"),
        (facts(Some("example.com"), "example.net", b"X-Security-Classification: UNCLASSIFIED\r\nX-Security-Classification: RESTRICTED\r\n\r\n"), Class::SecureOnly, "marking"),
        (facts(Some("example.com"), "example.net", b"X-Security-Classification: RESTRICTED-ISH\r\n\r\n"), Class::BestEffort, "default"),
        // Folded (RFC 5322 §2.2.3) and encoded (RFC 2047) values.
        (facts(Some("example.com"), "example.net", b"X-Security-Classification:\r\n RESTRICTED\r\n\r\n"), Class::SecureOnly, "marking"),
        (facts(Some("example.com"), "example.net", b"X-Security-Classification: =?us-ascii?Q?RESTRICTED?=\r\n\r\n"), Class::SecureOnly, "marking"),
        // Header, contains.
        (facts(Some("example.com"), "example.net", b"X-Protective-Marking: VER=2018.4, NS=gov.au, SEC=PROTECTED, ORIGIN=a@b\r\n\r\n"), Class::SecureOnly, "marking contains"),
        // Subject tag: plain, encoded (Q and B), split over encoded words,
        // any case; not in another field.
        (facts(Some("example.com"), "example.net", b"Subject: Budget [SEC=RESTRICTED]\r\n\r\n"), Class::SecureOnly, "tag"),
        (facts(Some("example.com"), "example.net", b"Subject: =?UTF-8?Q?Budget_=E2=82=AC_[SEC=3DRESTRICTED]?=\r\n\r\n"), Class::SecureOnly, "tag"),
        (facts(Some("example.com"), "example.net", b"Subject: =?UTF-8?B?W1NFQz1SRVNUUklDVEVEXSBCdWRnZXQ=?=\r\n\r\n"), Class::SecureOnly, "tag"),
        (facts(Some("example.com"), "example.net", b"Subject: =?UTF-8?Q?[SEC=3DRES?= =?UTF-8?Q?TRICTED]?=\r\n\r\n"), Class::SecureOnly, "tag"),
        (facts(Some("example.com"), "example.net", b"Subject: [sec=restricted] lower\r\n\r\n"), Class::SecureOnly, "tag"),
        (facts(Some("example.com"), "example.net", b"Comments: [SEC=RESTRICTED]\r\nSubject: hi\r\n\r\n"), Class::BestEffort, "default"),
        (facts(Some("example.com"), "example.net", b"Subject: [SEC=OFFICIAL]\r\n\r\n"), Class::BestEffort, "default"),
        // Recipient domains: exact and below, first match wins.
        (facts(Some("example.com"), "partner.example", plain), Class::SecureOnly, "partners"),
        (facts(Some("example.com"), "PARTNER.example.", plain), Class::SecureOnly, "partners"),
        (facts(Some("example.com"), "mx.eu.partner.example", plain), Class::SecureOnly, "partners"),
        (facts(Some("example.com"), "lists.partner.example", plain), Class::BestEffort, "exception"),
        (facts(Some("example.com"), "notpartner.example", plain), Class::BestEffort, "default"),
        // Both conditions of a rule must hold.
        (facts(Some("finance.example.com"), "bank.example", plain), Class::SecureOnly, "finance to bank"),
        (facts(Some("finance.example.com"), "other.example", plain), Class::BestEffort, "default"),
        (facts(Some("sales.example.com"), "bank.example", plain), Class::BestEffort, "default"),
        // Sender below a domain; the null reverse-path has no domain.
        (facts(Some("a.b.secret.example"), "example.net", plain), Class::SecureOnly, "#6"),
        (facts(Some("secret.example"), "example.net", plain), Class::BestEffort, "default"),
        (facts(None, "example.net", plain), Class::BestEffort, "default"),
        // No header section at all.
        (facts(None, "example.net", b""), Class::BestEffort, "default"),
        // A marking before the recipient rules wins over the exception.
        (facts(Some("example.com"), "lists.partner.example", b"Subject: [SEC=RESTRICTED]\r\n\r\n"), Class::SecureOnly, "tag"),
    ];
    for (facts, class, why) in cases {
        assert_eq!(
            decide(&rules, &facts),
            (class, Some(why.to_owned())),
            "{facts:?}"
        );
    }
}

/// RFC 8689 §4 and §5: REQUIRETLS beats everything; `TLS-Required: No`
/// beats the rules, unless switched off.
#[test]
fn rfc8689_precedence() {
    let rules = rules();
    let no_tls_marked: &[u8] = b"TLS-Required: No\r\nX-Security-Classification: RESTRICTED\r\n\r\n";
    let mut message = facts(Some("example.com"), "partner.example", no_tls_marked);
    assert_eq!(
        rules.classify(&message).reason,
        Reason::TlsRequiredNo,
        "RFC 8689 §5 asks for best effort"
    );
    assert_eq!(rules.classify(&message).class, Class::BestEffort);
    message.requiretls = true;
    let decision = rules.classify(&message);
    assert_eq!(
        (decision.class, decision.reason),
        (Class::RequireTls, Reason::RequireTls)
    );

    // Value compared without regard to case or surrounding space; other
    // values are not "No".
    for (headers, expect_no) in [
        (&b"tls-required:   no \r\n\r\n"[..], true),
        (b"TLS-Required: NO\r\n\r\n", true),
        (b"TLS-Required: yes\r\n\r\n", false),
        (b"TLS-Required: No thanks\r\n\r\n", false),
        (b"X-TLS-Required: No\r\n\r\n", false),
    ] {
        let decision = rules.classify(&facts(None, "partner.example", headers));
        assert_eq!(
            decision.reason == Reason::TlsRequiredNo,
            expect_no,
            "{headers:?}"
        );
    }

    // Switched off: the rules win over the header.
    let strict = RuleSet::from_toml("honor_tls_required_no = false\ndefault = \"secure-only\"\n")
        .expect("valid");
    let decision = strict.classify(&facts(None, "example.net", b"TLS-Required: No\r\n\r\n"));
    assert_eq!(
        (decision.class, decision.reason),
        (Class::SecureOnly, Reason::Default)
    );
    // REQUIRETLS still beats a secure-only default.
    let decision = strict.classify(&MessageFacts {
        requiretls: true,
        ..facts(None, "example.net", b"")
    });
    assert_eq!(decision.class, Class::RequireTls);
}

/// An empty configuration and `RuleSet::default()` agree: best effort.
#[test]
fn empty_config_is_best_effort() {
    let empty = RuleSet::from_toml("").expect("valid");
    assert_eq!(empty, RuleSet::default());
    assert!(empty.is_empty());
    assert_eq!(empty.default_class(), Class::BestEffort);
    assert_eq!(rules().len(), 7);
    let decision = empty.classify(&facts(None, "example.net", b"Subject: x\r\n\r\n"));
    assert_eq!(
        (decision.class, decision.reason),
        (Class::BestEffort, Reason::Default)
    );
    assert_eq!(Reason::Default.to_string(), "default");
}

/// Bad configurations are refused at load time with the line and column.
#[test]
fn config_errors_name_the_line() {
    let cases = [
        // Bad TOML.
        ("default = \n", 1, 11, "string values must be quoted"),
        ("[[rule]\nclass = 1\n", 1, 8, "unclosed array table"),
        // Unknown keys, at the top, in a rule, in a header table.
        (
            "defualt = \"best-effort\"\n",
            1,
            1,
            "unknown field `defualt`",
        ),
        (
            "default = \"secure-only\"\n[[rule]]\nclas = \"x\"\n",
            3,
            1,
            "unknown field `clas`",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nheader = { name = \"X\", valu = \"y\" }\n",
            3,
            24,
            "unknown field `valu`",
        ),
        // Missing fields.
        (
            "[[rule]]\nsubject_tag = \"x\"\n",
            1,
            1,
            "missing field `class`",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nheader = { name = \"X\" }\n",
            3,
            10,
            "missing field `value`",
        ),
        // Bad values.
        ("default = \"secure\"\n", 1, 11, "unknown class \"secure\""),
        (
            "\n\n[[rule]]\nclass = \"require-tls\"\nsubject_tag = \"x\"\n",
            4,
            9,
            "REQUIRETLS comes only from the MAIL parameter",
        ),
        (
            "honor_tls_required_no = \"yes\"\n",
            1,
            25,
            "expected a boolean",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nrecipient_domains = [\"ok.example\", \"bad_domain.example\"]\n",
            3,
            36,
            "bad domain \"bad_domain.example\" in recipient_domains",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nsender_domains = [\"*.\"]\n",
            3,
            19,
            "bad domain \"*.\" in sender_domains",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nrecipient_domains = []\n",
            3,
            21,
            "recipient_domains is empty",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\n",
            1,
            1,
            "a rule needs a condition",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nheader = { name = \"X Y\", value = \"v\" }\n",
            3,
            19,
            "bad header field name",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nheader = { name = \"X\", value = \"  \" }\n",
            3,
            32,
            "empty header value",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nheader = { name = \"X\", value = \"v\", match = \"regex\" }\n",
            3,
            45,
            "unknown variant `regex`",
        ),
        (
            "[[rule]]\nclass = \"secure-only\"\nsubject_tag = \"\"\n",
            3,
            15,
            "empty subject_tag",
        ),
        // Columns count characters, not octets.
        (
            "# héllo\n[[rule]]\nname = \"ünïcode\"\nclass = \"secure-only\"\nsender_domains = [\"é.example\"]\n",
            5,
            19,
            "bad domain",
        ),
    ];
    for (text, line, column, message) in cases {
        let error = RuleSet::from_toml(text).expect_err(text);
        assert_eq!(
            error.location,
            Some(Location { line, column }),
            "{text:?}: {error}"
        );
        assert!(error.message.contains(message), "{text:?}: {error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("line {line}, column {column}: ")),
            "{error}"
        );
    }
}

/// Byte offsets to line and column.
#[test]
fn location_of_offset() {
    let text = "ab\ncdé\n\nx";
    let cases = [
        (0, 1, 1),
        (2, 1, 3),
        (3, 2, 1),
        (5, 2, 3),
        (7, 2, 4),
        (8, 3, 1),
        (9, 4, 1),
        (10, 4, 2),
        (999, 4, 2),
    ];
    for (offset, line, column) in cases {
        assert_eq!(
            Location::of_offset(text, offset),
            Location { line, column },
            "{offset}"
        );
    }
    assert_eq!(Location::of_offset(text, 6).line, 2, "inside a character");
}

/// Domain patterns: exact, and `*.` for any depth below but not the apex.
#[test]
fn domain_patterns() {
    let cases = [
        ("example.com", "example.com", true),
        ("example.com", "EXAMPLE.COM.", true),
        ("example.com", "a.example.com", false),
        ("*.example.com", "a.example.com", true),
        ("*.example.com", "a.b.example.com", true),
        ("*.example.com", "A.Example.Com.", true),
        ("*.example.com", "example.com", false),
        ("*.example.com", ".example.com", false),
        ("*.example.com", "aexample.com", false),
        ("*.example.com", "", false),
    ];
    for (pattern, domain, expected) in cases {
        let parsed = DomainPattern::parse(pattern).expect(pattern);
        assert_eq!(parsed.matches(domain), expected, "{pattern} vs {domain:?}");
        assert_eq!(parsed.to_string(), pattern);
    }
    for bad in ["", "*", "*.", "a..b", "a b", "-a.example", "*.*.a", "a.*.b"] {
        assert!(DomainPattern::parse(bad).is_err(), "{bad:?}");
    }
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

proptest! {
    /// Loading never panics, whatever the text.
    #[test]
    fn from_toml_never_panics(text in "\\PC{0,200}") {
        let _ = RuleSet::from_toml(&text);
    }

    /// Nor on text built from the config's own pieces.
    #[test]
    fn from_toml_config_like_never_panics(lines in prop::collection::vec(prop_oneof![
        Just("[[rule]]".to_owned()),
        Just("class = \"secure-only\"".to_owned()),
        Just("default = \"best-effort\"".to_owned()),
        "recipient_domains = \\[\"[*.a-z-]{0,12}\"\\]",
        "header = \\{ name = \"[ -~]{0,6}\", value = \"[ -~]{0,6}\" \\}",
        "subject_tag = \"[ -~]{0,8}\"",
        "[a-z_]{1,8} = [0-9]{1,3}",
    ], 0..8)) {
        let text = lines.join("\n");
        match RuleSet::from_toml(&text) {
            Ok(rules) => prop_assert!(rules.len() <= lines.len()),
            Err(error) => {
                let at = error.location.expect("every error here has a location");
                prop_assert!(at.line >= 1 && at.line <= lines.len().max(1));
            }
        }
    }

    /// Classification never panics on arbitrary header octets, and
    /// REQUIRETLS always wins.
    #[test]
    fn classify_never_panics(headers in prop::collection::vec(any::<u8>(), 0..400), requiretls in any::<bool>()) {
        let rules = rules();
        let facts = MessageFacts { requiretls, ..facts(Some("example.com"), "example.net", &headers) };
        let decision = rules.classify(&facts);
        prop_assert_eq!(decision.class == Class::RequireTls, requiretls);
    }

    /// `*.d` matches every name below `d` and never `d` itself.
    #[test]
    fn below_pattern_property(d in prop::collection::vec(label(), 1..4), sub in prop::collection::vec(label(), 1..4)) {
        let d = d.join(".");
        let pattern = DomainPattern::parse(&format!("*.{d}")).expect("valid");
        let below = format!("{}.{d}", sub.join("."));
        prop_assert!(pattern.matches(&below));
        prop_assert!(!pattern.matches(&d));
        let exact = DomainPattern::parse(&d).expect("valid");
        prop_assert!(exact.matches(&d.to_ascii_uppercase()));
        prop_assert!(!exact.matches(&below));
    }
}
