//! DSNs (RFC 3464) built, then parsed back with mail-parser and checked
//! field by field.

use std::borrow::Cow;

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use proptest::prelude::*;
use secmx_core::{EnhancedCode, Orcpt, Reply, ReplyCode, Ret};
use secmx_policy::dsn::{Dsn, DsnBuilder, DsnError, DsnRecipient};

const NOW: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 +0000
const ARRIVED: u64 = 1_699_990_000;

const ORIGINAL: &[u8] = b"From: Alice <alice@example.org>\r\n\
To: bob@example.net\r\n\
Subject: [SEC=RESTRICTED] quarterly figures\r\n\
Message-ID: <orig-1@example.org>\r\n\
\r\n\
The figures are secret.\r\n";

fn reply(code: u16, enhanced: Option<EnhancedCode>, text: &str) -> Reply<'static> {
    Reply::new(
        ReplyCode::new(code).expect("valid code"),
        enhanced,
        text.to_owned(),
    )
}

fn builder() -> DsnBuilder<'static> {
    DsnBuilder::new("mx.example.org", "alice@example.org", "q1234.1", NOW).arrival_date(ARRIVED)
}

fn parse(dsn: &Dsn) -> Message<'_> {
    MessageParser::default()
        .parse(&dsn.message)
        .expect("the DSN parses")
}

/// The groups of a message/delivery-status body (RFC 3464 §2.1), each
/// parsed as a header block: (field name lower case, unfolded value).
fn status_groups(body: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).expect("delivery-status is ASCII");
    text.split("\r\n\r\n")
        .filter(|g| !g.trim().is_empty())
        .map(|g| {
            let block = format!("{}\r\n\r\n", g.trim_matches(['\r', '\n']));
            let m = MessageParser::default()
                .parse_headers(block.as_bytes())
                .expect("group parses as headers");
            m.headers_raw()
                .map(|(n, v)| {
                    (
                        n.to_ascii_lowercase(),
                        v.replace("\r\n", "").trim().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn get<'g>(group: &'g [(String, String)], name: &str) -> Option<&'g str> {
    group
        .iter()
        .find(|(n, _)| n == &name.to_ascii_lowercase())
        .map(|(_, v)| v.as_str())
}

/// The three parts of a multipart/report: (content type, part).
fn parts<'m>(m: &'m Message<'m>) -> Vec<(String, &'m mail_parser::MessagePart<'m>)> {
    let root = m.root_part();
    let PartType::Multipart(ids) = &root.body else {
        panic!("the root is multipart")
    };
    ids.iter()
        .map(|id| {
            let p = m.part(*id).expect("part");
            let ct = p.content_type().expect("content type");
            (format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")), p)
        })
        .collect()
}

fn text_of<'a>(p: &'a mail_parser::MessagePart<'a>) -> Cow<'a, str> {
    match &p.body {
        PartType::Text(t) => Cow::Borrowed(t.as_ref()),
        PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b),
        other => panic!("not text: {other:?}"),
    }
}

/// The text with every run of white space made one space.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_well_formed(bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
        }
        if *b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in bytes.split(|b| *b == b'\n') {
        assert!(line.len() <= 999, "line of {} octets", line.len()); // 998 + CR
    }
}

#[test]
fn rfc3464_bounce_5_7_4_every_field() {
    let dsn = builder()
        .recipient(
            DsnRecipient::failed("bob@example.net", EnhancedCode::SECURITY_NOT_SUPPORTED)
                .remote_mta("mx.example.net.")
                .diagnostic(reply(
                    530,
                    Some(EnhancedCode::SECURITY),
                    "Must issue a STARTTLS command first",
                ))
                .last_attempt(NOW - 60),
        )
        .build(ORIGINAL)
        .expect("builds");
    assert_eq!(dsn.rcpt_to, "alice@example.org");
    assert!(!dsn.eight_bit && !dsn.smtputf8 && !dsn.require_tls);
    assert_well_formed(&dsn.message);

    let m = parse(&dsn);
    // Header of the DSN itself.
    let from = m.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.address(), Some("MAILER-DAEMON@mx.example.org"));
    let to = m.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("alice@example.org"));
    assert_eq!(m.subject(), Some("Undelivered Mail Returned to Sender"));
    assert_eq!(m.date().expect("Date").to_timestamp(), NOW as i64);
    assert_eq!(m.message_id(), Some("q1234.1@mx.example.org"));
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    ); // RFC 3834 §5
    let ct = m.content_type().expect("Content-Type");
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status")); // RFC 6522 §3

    let parts = parts(&m);
    let kinds: Vec<&str> = parts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["text/plain", "message/delivery-status", "message/rfc822"]
    );

    // The human part explains 5.7.4 in SecMX terms.
    let human = words(&text_of(parts[0].1));
    assert!(human.contains("<bob@example.net>"), "{human}");
    assert!(
        human.contains("has no receiver that accepts mail over TLS"),
        "{human}"
    );
    assert!(human.contains("mx.example.net said: 530 5.7.0 Must issue a STARTTLS command first"));

    // RFC 3464 §2.2 per-message and §2.3 per-recipient fields.
    let groups = status_groups(parts[1].1.contents());
    assert_eq!(groups.len(), 2);
    assert_eq!(
        get(&groups[0], "Reporting-MTA"),
        Some("dns; mx.example.org")
    );
    assert_eq!(
        get(&groups[0], "Arrival-Date"),
        Some("Tue, 14 Nov 2023 19:26:40 +0000")
    );
    let r = &groups[1];
    assert_eq!(get(r, "Final-Recipient"), Some("rfc822; bob@example.net"));
    assert_eq!(get(r, "Action"), Some("failed"));
    assert_eq!(get(r, "Status"), Some("5.7.4"));
    assert_eq!(get(r, "Remote-MTA"), Some("dns; mx.example.net"));
    assert_eq!(
        get(r, "Diagnostic-Code"),
        Some("smtp; 530 5.7.0 Must issue a STARTTLS command first")
    );
    assert_eq!(
        get(r, "Last-Attempt-Date"),
        Some("Tue, 14 Nov 2023 22:12:20 +0000")
    );
    assert_eq!(get(r, "Original-Recipient"), None);
    assert_eq!(get(r, "Will-Retry-Until"), None);

    // The original, whole (no RET: the MTA's choice, RFC 3461 §4.3).
    let original = parts[2].1.message().expect("message/rfc822");
    assert_eq!(
        original.subject(),
        Some("[SEC=RESTRICTED] quarterly figures")
    );
    assert!(
        original
            .body_text(0)
            .expect("body")
            .contains("The figures are secret.")
    );
}

#[test]
fn rfc8689_5_requiretls_returns_headers_only_even_with_ret_full() {
    let dsn = builder()
        .ret(Some(Ret::Full))
        .require_tls(true)
        .recipient(
            DsnRecipient::failed("bob@example.net", EnhancedCode::REQUIRETLS_NEEDED)
                .remote_mta("mx.example.net"),
        )
        .build(ORIGINAL)
        .expect("builds");
    assert!(dsn.require_tls);
    let text = String::from_utf8(dsn.message.clone()).expect("ASCII");
    assert!(!text.contains("The figures are secret."), "body leaked");
    let m = parse(&dsn);
    let parts = parts(&m);
    assert_eq!(parts[2].0, "text/rfc822-headers");
    let headers = text_of(parts[2].1);
    assert!(headers.contains("Subject: [SEC=RESTRICTED] quarterly figures"));
    let human = words(&text_of(parts[0].1));
    assert!(human.contains("REQUIRETLS"), "{human}");
    assert!(human.contains("Only the header of the original message"));
    let groups = status_groups(parts[1].1.contents());
    assert_eq!(get(&groups[1], "Status"), Some("5.7.30"));
}

#[test]
fn rfc3461_4_3_ret_hdrs() {
    let dsn = builder()
        .ret(Some(Ret::Hdrs))
        .recipient(DsnRecipient::failed(
            "bob@example.net",
            EnhancedCode::NULL_MX,
        ))
        .build(ORIGINAL)
        .expect("builds");
    assert!(!dsn.require_tls);
    let m = parse(&dsn);
    let parts = parts(&m);
    assert_eq!(parts[2].0, "text/rfc822-headers");
    assert!(!text_of(parts[2].1).contains("secret"));
    let human = words(&text_of(parts[0].1));
    assert!(human.contains("null MX"), "{human}");
    assert!(human.contains("RET=HDRS"), "{human}");
}

#[test]
fn rfc3464_2_3_delayed_with_orcpt_and_retry_until() {
    let dsn = builder()
        .envid("QQ314159")
        .recipient(
            DsnRecipient::delayed("bob@example.net", EnhancedCode::new(4, 4, 1).expect("code"))
                .original_recipient(Orcpt {
                    addr_type: "rfc822".into(),
                    address: "robert@example.net".into(),
                })
                .remote_mta("mx.example.net")
                .will_retry_until(NOW + 4 * 86_400),
        )
        .build(ORIGINAL)
        .expect("builds");
    let m = parse(&dsn);
    assert_eq!(m.subject(), Some("Delayed Mail (still being retried)"));
    let parts = parts(&m);
    let groups = status_groups(parts[1].1.contents());
    assert_eq!(get(&groups[0], "Original-Envelope-Id"), Some("QQ314159"));
    let r = &groups[1];
    assert_eq!(
        get(r, "Original-Recipient"),
        Some("rfc822; robert@example.net")
    );
    assert_eq!(get(r, "Action"), Some("delayed"));
    assert_eq!(get(r, "Status"), Some("4.4.1"));
    assert_eq!(
        get(r, "Will-Retry-Until"),
        Some("Sat, 18 Nov 2023 22:13:20 +0000")
    );
    let human = words(&text_of(parts[0].1));
    assert!(human.contains("has not been delivered yet"), "{human}");
}

#[test]
fn rfc3464_several_recipients_failed_and_delayed() {
    let dsn = builder()
        .recipient(DsnRecipient::failed(
            "a@d.test",
            EnhancedCode::new(5, 1, 1).expect("code"),
        ))
        .recipient(DsnRecipient::delayed(
            "b@d.test",
            EnhancedCode::new(4, 2, 2).expect("code"),
        ))
        .build(ORIGINAL)
        .expect("builds");
    let m = parse(&dsn);
    assert_eq!(m.subject(), Some("Undelivered Mail Returned to Sender"));
    let groups = status_groups(parts(&m)[1].1.contents());
    assert_eq!(groups.len(), 3);
    assert_eq!(get(&groups[1], "Action"), Some("failed"));
    assert_eq!(get(&groups[2], "Action"), Some("delayed"));
}

#[test]
fn bounded_size_truncates_and_says_so() {
    let mut big = ORIGINAL.to_vec();
    for i in 0..50_000 {
        big.extend_from_slice(format!("line {i} of a very long message\r\n").as_bytes());
    }
    let max = 4096;
    let dsn = builder()
        .max_original(max)
        .recipient(DsnRecipient::failed(
            "bob@example.net",
            EnhancedCode::SECURITY_NOT_SUPPORTED,
        ))
        .build(&big)
        .expect("builds");
    assert!(dsn.message.len() < max + 4096, "{}", dsn.message.len());
    assert_well_formed(&dsn.message);
    let m = parse(&dsn);
    let p = parts(&m);
    assert_eq!(p[2].0, "message/rfc822");
    let original = p[2].1.message().expect("nested");
    assert_eq!(
        original.subject(),
        Some("[SEC=RESTRICTED] quarterly figures")
    );
    let human = words(&text_of(p[0].1));
    assert!(
        human.contains(&format!(
            "The original message was {} octets long",
            big.len()
        )),
        "{human}"
    );

    // A header alone over the limit: headers only, cut, still said.
    let mut huge_header = b"X-Long: ".to_vec();
    for _ in 0..2000 {
        huge_header.extend_from_slice(b"\r\n x");
    }
    huge_header.extend_from_slice(b"\r\n\r\nbody\r\n");
    let dsn = builder()
        .max_original(1000)
        .recipient(DsnRecipient::failed(
            "bob@example.net",
            EnhancedCode::SECURITY,
        ))
        .build(&huge_header)
        .expect("builds");
    let m = parse(&dsn);
    assert_eq!(parts(&m)[2].0, "text/rfc822-headers");

    // max 0: no third part.
    let dsn = builder()
        .max_original(0)
        .recipient(DsnRecipient::failed(
            "bob@example.net",
            EnhancedCode::SECURITY,
        ))
        .build(ORIGINAL)
        .expect("builds");
    let m = parse(&dsn);
    assert_eq!(parts(&m).len(), 2);
}

#[test]
fn bare_lf_original_and_8bit() {
    let original = "Subject: caf\u{e9}\n\nd\u{e9}j\u{e0} vu\n".as_bytes();
    let dsn = builder()
        .recipient(DsnRecipient::failed(
            "bob@example.net",
            EnhancedCode::SECURITY,
        ))
        .build(original)
        .expect("builds");
    assert!(dsn.eight_bit);
    assert_well_formed(&dsn.message);
    let text = String::from_utf8_lossy(&dsn.message);
    assert!(text.contains("Content-Transfer-Encoding: 8bit\r\n"));
}

#[test]
fn rfc6533_3_non_ascii_addresses_as_utf8_addr_xtext() {
    let dsn = DsnBuilder::new("mx.example.org", "jos\u{e9}@example.org", "t1", NOW)
        .recipient(DsnRecipient::failed(
            "pel\u{e9}@exemple.fr",
            EnhancedCode::SECURITY,
        ))
        .build(ORIGINAL)
        .expect("builds");
    assert!(dsn.smtputf8);
    let m = parse(&dsn);
    let groups = status_groups(parts(&m)[1].1.contents());
    assert_eq!(
        get(&groups[1], "Final-Recipient"),
        Some("utf-8; pel\\x{E9}@exemple.fr")
    );
}

#[test]
fn boundary_never_occurs_in_the_parts() {
    let mut original = ORIGINAL.to_vec();
    for n in 0..5 {
        original.extend_from_slice(format!("--=_secmx_q12341_{n}\r\n").as_bytes());
    }
    let dsn = builder()
        .recipient(DsnRecipient::failed(
            "bob@example.net",
            EnhancedCode::SECURITY,
        ))
        .build(&original)
        .expect("builds");
    let m = parse(&dsn);
    let ct = m.content_type().expect("ct");
    assert_eq!(ct.attribute("boundary"), Some("=_secmx_q12341_5"));
    assert_eq!(parts(&m).len(), 3);
}

#[test]
fn long_and_hostile_diagnostics_stay_in_their_field() {
    let text = format!("{} \u{1b}[31m\u{e9}", "x".repeat(3000));
    let dsn = builder()
        .recipient(
            DsnRecipient::failed("bob@example.net", EnhancedCode::SECURITY)
                .diagnostic(reply(550, None, &text).with_line("second: line")),
        )
        .build(ORIGINAL)
        .expect("builds");
    assert_well_formed(&dsn.message);
    let m = parse(&dsn);
    let groups = status_groups(parts(&m)[1].1.contents());
    let diag = get(&groups[1], "Diagnostic-Code").expect("diagnostic");
    assert!(diag.starts_with("smtp; 550 xxx"), "{diag}");
    assert!(diag.len() < 2100);
    assert!(diag.is_ascii() && !diag.contains('\u{1b}'));
    // the field after it is intact
    assert_eq!(get(&groups[1], "Status"), Some("5.7.0"));
}

#[test]
fn refused_inputs() {
    let r = || DsnRecipient::failed("bob@example.net", EnhancedCode::SECURITY);
    let cases: Vec<(DsnBuilder<'static>, DsnError)> = vec![
        // RFC 5321 §4.5.5: never a DSN about a DSN
        (
            DsnBuilder::new("mx.example.org", "", "t", NOW).recipient(r()),
            DsnError::NullSender,
        ),
        (builder(), DsnError::NoRecipients),
        (
            DsnBuilder::new("mx.example.org\r\nBcc: x@y", "a@b", "t", NOW).recipient(r()),
            DsnError::Invalid("reporting MTA host name"),
        ),
        (
            DsnBuilder::new("mx.example.org", "a@b>\r\nBcc: <x@y", "t", NOW).recipient(r()),
            DsnError::Invalid("sender address"),
        ),
        (
            DsnBuilder::new("mx.example.org", "a@b", "t>\r\nX: <y", NOW).recipient(r()),
            DsnError::Invalid("Message-ID token"),
        ),
        (
            builder().recipient(DsnRecipient::failed(
                "bob@example.net",
                EnhancedCode::SECURITY_TEMPORARY,
            )),
            DsnError::StatusMismatch {
                action: "failed",
                status: EnhancedCode::SECURITY_TEMPORARY,
            },
        ),
        (
            builder().recipient(DsnRecipient::delayed(
                "bob@example.net",
                EnhancedCode::SECURITY,
            )),
            DsnError::StatusMismatch {
                action: "delayed",
                status: EnhancedCode::SECURITY,
            },
        ),
        (
            builder().recipient(r().remote_mta("mx\r\n.example")),
            DsnError::Invalid("remote MTA host name"),
        ),
    ];
    for (b, want) in cases {
        assert_eq!(b.build(ORIGINAL).expect_err("refused"), want);
    }
}

fn header_text(v: &HeaderValue<'_>) -> String {
    match v {
        HeaderValue::Text(t) => t.to_string(),
        other => format!("{other:?}"),
    }
}

proptest! {
    /// Whatever the original and the reply text, the DSN is CRLF only,
    /// has no line over 998 octets, parses into three parts, keeps its
    /// Subject, and stays within the bound.
    #[test]
    fn any_original_any_reply_well_formed(
        original in proptest::collection::vec(any::<u8>(), 0..3000),
        text in ".{0,600}",
        max in 0usize..2000,
        hdrs in any::<bool>(),
    ) {
        let dsn = builder()
            .max_original(max)
            .ret(hdrs.then_some(Ret::Hdrs))
            .recipient(
                DsnRecipient::failed("bob@example.net", EnhancedCode::SECURITY_NOT_SUPPORTED)
                    .diagnostic(reply(554, None, &text.replace(['\r', '\n', '\0'], " "))),
            )
            .build(&original)
            .expect("builds");
        assert_well_formed(&dsn.message);
        prop_assert!(dsn.message.len() <= 2 * max + 8000);
        let m = parse(&dsn);
        prop_assert_eq!(
            m.header("Subject").map(header_text),
            Some("Undelivered Mail Returned to Sender".to_owned())
        );
        let groups = status_groups(parts(&m)[1].1.contents());
        prop_assert_eq!(get(&groups[1], "Status"), Some("5.7.4"));
        prop_assert_eq!(parts(&m).len(), if max == 0 { 2 } else { 3 });
    }
}
