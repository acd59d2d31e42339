//! Reply grammar (RFC 5321 §4.2, RFC 2034) and EHLO capabilities
//! (RFC 5321 §4.1.1.1): table tests, replies from real servers, and
//! properties (round trips, chunking, no panics).

mod proptest_common;

use std::borrow::Cow;

use proptest::prelude::*;
use secmx_core::limits::{MAX_REPLY_LINE, MAX_REPLY_LINES};
use secmx_core::proto::Status;
use secmx_core::proto::ehlo::{AuthMechanism, Capabilities, EhloError, Extension, Keyword, Size};
use secmx_core::proto::reply::{Reply, ReplyError, ReplyParser};
use secmx_core::{EnhancedCode, ErrorReply, ReplyCode};

fn code(value: u16) -> ReplyCode {
    ReplyCode::new(value).expect("test codes are in range")
}

fn enhanced(class: u8, subject: u16, detail: u16) -> EnhancedCode {
    EnhancedCode::new(class, subject, detail).expect("test codes are in range")
}

/// Parses a reply that the test expects to be complete.
fn complete(wire: &[u8]) -> (Reply<'_>, usize) {
    match Reply::parse(wire) {
        Ok(Status::Complete(done)) => done,
        other => panic!("expected a complete reply from {wire:?}, got {other:?}"),
    }
}

/// Feeds `wire` one byte at a time; returns the reply and the index of the
/// byte that completed it.
fn byte_by_byte(wire: &[u8]) -> Result<Option<(Reply<'static>, usize)>, ReplyError> {
    let mut parser = ReplyParser::new();
    for (index, byte) in wire.iter().enumerate() {
        if let Status::Complete((reply, used)) = parser.feed(core::slice::from_ref(byte))? {
            assert_eq!(used, 1);
            return Ok(Some((reply, index)));
        }
    }
    Ok(None)
}

fn caps_of(wire: &[u8]) -> Capabilities {
    let (reply, used) = complete(wire);
    assert_eq!(used, wire.len());
    Capabilities::from_reply(&reply).expect("a 250 reply")
}

// ---------------------------------------------------------------------------
// Valid replies.

struct Valid {
    rfc: &'static str,
    wire: &'static [u8],
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    lines: &'static [&'static str],
    /// The bytes after the reply, left alone.
    rest: &'static [u8],
}

const VALID: &[Valid] = &[
    Valid {
        rfc: "RFC 5321 §4.2: one line",
        wire: b"250 OK\r\n",
        code: 250,
        enhanced: None,
        lines: &["OK"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: Reply-code [ SP textstring ] CRLF, no text",
        wire: b"250\r\n",
        code: 250,
        enhanced: None,
        lines: &[""],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: SP and no text, taken as empty text",
        wire: b"250 \r\n",
        code: 250,
        enhanced: None,
        lines: &[""],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2.1: multi-line",
        wire: b"250-first\r\n250-second\r\n250 last\r\n",
        code: 250,
        enhanced: None,
        lines: &["first", "second", "last"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: Reply-code \"-\" [ textstring ] CRLF, empty continuation",
        wire: b"250-\r\n250 x\r\n",
        code: 250,
        enhanced: None,
        lines: &["", "x"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: multi-line ending in a bare code",
        wire: b"250-a\r\n250\r\n",
        code: 250,
        enhanced: None,
        lines: &["a", ""],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: enhanced code split from the text",
        wire: b"550 5.1.1 <x@example.org>: Recipient address rejected\r\n",
        code: 550,
        enhanced: Some((5, 1, 1)),
        lines: &["<x@example.org>: Recipient address rejected"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: enhanced code on every line",
        wire: b"550-5.7.1 Line one\r\n550 5.7.1 Line two\r\n",
        code: 550,
        enhanced: Some((5, 7, 1)),
        lines: &["Line one", "Line two"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §3: one or more spaces after the enhanced code",
        wire: b"250 2.0.0   Ok\r\n",
        code: 250,
        enhanced: Some((2, 0, 0)),
        lines: &["Ok"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: enhanced code alone",
        wire: b"250 2.0.0\r\n",
        code: 250,
        enhanced: Some((2, 0, 0)),
        lines: &[""],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5248: three-digit detail",
        wire: b"550 5.7.30 REQUIRETLS support required\r\n",
        code: 550,
        enhanced: Some((5, 7, 30)),
        lines: &["REQUIRETLS support required"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: class must agree with the reply code, else it is text",
        wire: b"250 5.0.0 odd\r\n",
        code: 250,
        enhanced: None,
        lines: &["5.0.0 odd"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: 3xx replies carry no enhanced code",
        wire: b"354 2.0.0 End data with <CR><LF>.<CR><LF>\r\n",
        code: 354,
        enhanced: None,
        lines: &["2.0.0 End data with <CR><LF>.<CR><LF>"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: a later line with another code keeps it as text",
        wire: b"250-2.0.0 a\r\n250 2.1.0 b\r\n",
        code: 250,
        enhanced: Some((2, 0, 0)),
        lines: &["a", "2.1.0 b"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 2034 §4: a later line without the code keeps its text",
        wire: b"451-4.3.0 a\r\n451 b\r\n",
        code: 451,
        enhanced: Some((4, 3, 0)),
        lines: &["a", "b"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: textstring includes HT",
        wire: b"220 mx.example\tESMTP\r\n",
        code: 220,
        enhanced: None,
        lines: &["mx.example\tESMTP"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 6531 §3.7.4: UTF-8 text",
        wire: "250 2.1.5 Destinataire <él@example.fr> OK\r\n".as_bytes(),
        code: 250,
        enhanced: Some((2, 1, 5)),
        lines: &["Destinataire <él@example.fr> OK"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: invalid UTF-8 is replaced, not rejected",
        wire: b"250 caf\xe9\r\n",
        code: 250,
        enhanced: None,
        lines: &["caf\u{FFFD}"],
        rest: b"",
    },
    Valid {
        rfc: "RFC 5321 §4.2: the reply stops at its final line; more bytes stay",
        wire: b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n",
        code: 220,
        enhanced: Some((2, 0, 0)),
        lines: &["Ready to start TLS"],
        rest: b"250 injected\r\n",
    },
    Valid {
        rfc: "RFC 5321 §4.2.1: highest code",
        wire: b"559 x\r\n",
        code: 559,
        enhanced: None,
        lines: &["x"],
        rest: b"",
    },
];

#[test]
fn valid_replies_rfc5321_4_2() {
    for case in VALID {
        let (reply, used) = complete(case.wire);
        assert_eq!(reply.code(), code(case.code), "{}", case.rfc);
        let expected = case.enhanced.map(|(c, s, d)| enhanced(c, s, d));
        assert_eq!(reply.enhanced(), expected, "{}", case.rfc);
        assert_eq!(reply.lines(), case.lines, "{}", case.rfc);
        let used_expected = case.wire.len() - case.rest.len();
        assert_eq!(used, used_expected, "{}", case.rfc);

        // The incremental parser agrees, byte by byte, and completes on the
        // reply's last byte.
        let (owned, at) = byte_by_byte(case.wire).expect("valid").expect("complete");
        assert_eq!(owned, reply, "{}", case.rfc);
        assert_eq!(at + 1, used_expected, "{}", case.rfc);
    }
}

// ---------------------------------------------------------------------------
// Incomplete and invalid replies.

#[test]
fn partial_replies_are_not_errors_rfc5321_4_2() {
    let partial: &[&[u8]] = &[
        b"",
        b"2",
        b"25",
        b"250",
        b"250 ok",
        b"250 ok\r",
        b"250-a\r\n",
        b"250-a\r\n250 b",
        b"250-a\r\n25",
        b"250-a\r\n250-",
    ];
    for wire in partial {
        assert_eq!(Reply::parse(wire), Ok(Status::Partial), "{wire:?}");
        let mut parser = ReplyParser::new();
        assert_eq!(parser.feed(wire), Ok(Status::Partial), "{wire:?}");
        assert_eq!(parser.is_idle(), wire.is_empty(), "{wire:?}");
    }
}

#[test]
fn invalid_replies_rfc5321_4_2() {
    let invalid: &[(&str, &[u8], ReplyError)] = &[
        ("§4.2.1 two digits", b"25 ok\r\n", ReplyError::InvalidCode),
        ("§4.2.1 letters", b"abc ok\r\n", ReplyError::InvalidCode),
        ("§4.2.1 below 200", b"199 x\r\n", ReplyError::InvalidCode),
        ("§4.2.1 above 559", b"600 x\r\n", ReplyError::InvalidCode),
        (
            "§4.2.1 second digit 6",
            b"260 x\r\n",
            ReplyError::InvalidCode,
        ),
        ("§4.2.1 code too short", b"25\r\n", ReplyError::InvalidCode),
        ("§4.2.1 empty line", b"\r\n", ReplyError::InvalidCode),
        (
            "§4.2.1 bad code on a later line",
            b"250-a\r\n2x0 b\r\n",
            ReplyError::InvalidCode,
        ),
        (
            "§4.2 four digits",
            b"2500 ok\r\n",
            ReplyError::InvalidSeparator,
        ),
        (
            "§4.2 missing separator",
            b"250ok\r\n",
            ReplyError::InvalidSeparator,
        ),
        (
            "§4.2 HT separator",
            b"250\tok\r\n",
            ReplyError::InvalidSeparator,
        ),
        (
            "§4.2 missing separator on a later line",
            b"250-a\r\n250b\r\n",
            ReplyError::InvalidSeparator,
        ),
        (
            "§4.2.1 mismatched codes",
            b"250-a\r\n251 b\r\n",
            ReplyError::MismatchedCode {
                first: code(250),
                found: code(251),
            },
        ),
        (
            "§4.2.1 mismatched class",
            b"250-a\r\n550 b\r\n",
            ReplyError::MismatchedCode {
                first: code(250),
                found: code(550),
            },
        ),
        (
            "§2.3.8 bare LF in text",
            b"250 a\nb\r\n",
            ReplyError::BareLf,
        ),
        ("§2.3.8 bare LF ends line", b"250 ok\n", ReplyError::BareLf),
        ("§2.3.8 bare LF after code", b"250\n", ReplyError::BareLf),
        ("§2.3.8 bare LF in code", b"2\n", ReplyError::BareLf),
        (
            "§2.3.8 bare CR in text",
            b"250 a\rb\r\n",
            ReplyError::BareCr,
        ),
        ("§2.3.8 CR CR LF", b"250 a\r\r\n", ReplyError::BareCr),
        ("§2.3.8 bare CR after code", b"250\rx", ReplyError::BareCr),
        ("NUL in text", b"250 a\0b\r\n", ReplyError::Nul),
        ("NUL in code", b"2\x0050 a\r\n", ReplyError::Nul),
        ("NUL as separator", b"250\0a\r\n", ReplyError::Nul),
    ];
    for (rfc, wire, error) in invalid {
        assert_eq!(Reply::parse(wire), Err(error.clone()), "RFC 5321 {rfc}");
        assert_eq!(byte_by_byte(wire), Err(error.clone()), "RFC 5321 {rfc}");
    }
}

#[test]
fn line_length_limit_rfc5321_4_5_3_1_5() {
    // 512 octets with CRLF: allowed.
    let mut longest = b"250 ".to_vec();
    longest.resize(MAX_REPLY_LINE - 2, b'a');
    longest.extend_from_slice(b"\r\n");
    let (reply, used) = complete(&longest);
    assert_eq!(used, MAX_REPLY_LINE);
    assert_eq!(reply.lines()[0].len(), MAX_REPLY_LINE - 6);

    // 513: refused.
    let mut over = b"250 ".to_vec();
    over.resize(MAX_REPLY_LINE - 1, b'a');
    over.extend_from_slice(b"\r\n");
    assert_eq!(Reply::parse(&over), Err(ReplyError::LineTooLong));
    assert_eq!(byte_by_byte(&over), Err(ReplyError::LineTooLong));

    // Found as soon as octet 511 is not the CR, without waiting for more.
    let prefix = &over[..MAX_REPLY_LINE - 1];
    assert_eq!(Reply::parse(prefix), Err(ReplyError::LineTooLong));
    assert_eq!(
        ReplyParser::new().feed(prefix),
        Err(ReplyError::LineTooLong)
    );
    // One octet fewer is still waiting for its CRLF.
    assert_eq!(
        Reply::parse(&prefix[..prefix.len() - 1]),
        Ok(Status::Partial)
    );

    // The limit applies to continuation lines too.
    let mut later = b"250-ok\r\n".to_vec();
    later.extend_from_slice(&over);
    assert_eq!(Reply::parse(&later), Err(ReplyError::LineTooLong));

    // A CR at the last allowed place, then something other than LF.
    let mut bare = longest.clone();
    let last = bare.len() - 1;
    bare[last] = b'x';
    assert_eq!(Reply::parse(&bare), Err(ReplyError::BareCr));
}

#[test]
fn line_count_limit() {
    let mut wire = Vec::new();
    for _ in 0..MAX_REPLY_LINES - 1 {
        wire.extend_from_slice(b"250-x\r\n");
    }
    let mut most = wire.clone();
    most.extend_from_slice(b"250 last\r\n");
    let (reply, used) = complete(&most);
    assert_eq!(reply.lines().len(), MAX_REPLY_LINES);
    assert_eq!(used, most.len());

    // The last allowed line announces another: refused at its '-'.
    let mut over = wire.clone();
    over.extend_from_slice(b"250-");
    assert_eq!(Reply::parse(&over), Err(ReplyError::TooManyLines));
    assert_eq!(byte_by_byte(&over), Err(ReplyError::TooManyLines));
    // Just before it, still waiting.
    assert_eq!(Reply::parse(&over[..over.len() - 1]), Ok(Status::Partial));
}

// ---------------------------------------------------------------------------
// The incremental parser.

#[test]
fn starttls_reply_stops_before_injected_bytes_cve_2021_38371() {
    let wire = b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n";
    let mut parser = ReplyParser::new();
    let Ok(Status::Complete((reply, used))) = parser.feed(wire) else {
        panic!("the 220 is complete");
    };
    assert_eq!(reply.code(), ReplyCode::SERVICE_READY);
    assert_eq!(&wire[used..], b"250 injected\r\n");
    assert!(parser.is_idle());

    // Split across reads: the second read carries the end of the 220 and the
    // injected bytes; the count says where the 220 ended.
    let mut parser = ReplyParser::new();
    assert_eq!(parser.feed(&wire[..10]), Ok(Status::Partial));
    assert!(!parser.is_idle());
    let Ok(Status::Complete((_, used))) = parser.feed(&wire[10..]) else {
        panic!("the 220 is complete");
    };
    assert_eq!(10 + used, 30);
    assert!(parser.is_idle());
}

#[test]
fn parser_reads_consecutive_replies_rfc2920_3_1() {
    // Pipelined replies (RFC 2920) arrive in one read.
    let wire = b"250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 2.1.5 Ok too\r\n354 go\r\n";
    let mut parser = ReplyParser::new();
    let mut rest: &[u8] = wire;
    let mut codes = Vec::new();
    while !rest.is_empty() {
        match parser.feed(rest) {
            Ok(Status::Complete((reply, used))) => {
                codes.push((reply.code().get(), reply.lines().len()));
                rest = &rest[used..];
            }
            other => panic!("expected a reply, got {other:?}"),
        }
    }
    assert_eq!(codes, [(250, 1), (250, 2), (354, 1)]);
    assert!(parser.is_idle());
}

#[test]
fn parser_errors_are_sticky() {
    let mut parser = ReplyParser::new();
    assert_eq!(parser.feed(b"250 a\nb"), Err(ReplyError::BareLf));
    assert_eq!(parser.feed(b"250 ok\r\n"), Err(ReplyError::BareLf));
    assert!(!parser.is_idle());
}

// ---------------------------------------------------------------------------
// Encoding.

#[test]
fn encode_multi_line_with_enhanced_code_rfc2034_4() {
    let reply = Reply::new(ReplyCode::OK, Some(EnhancedCode::OK), "first").with_line("second");
    assert_eq!(reply.to_bytes(), b"250-2.0.0 first\r\n250 2.0.0 second\r\n");
    let wire = reply.to_bytes();
    let (parsed, _) = complete(&wire);
    assert_eq!(parsed, reply);
    assert_eq!(parsed.text(), "first second");
}

#[test]
fn encode_without_text_rfc5321_4_2() {
    assert_eq!(Reply::new(ReplyCode::OK, None, "").to_bytes(), b"250\r\n");
    assert_eq!(
        Reply::new(ReplyCode::OK, None, "")
            .with_line("x")
            .to_bytes(),
        b"250-\r\n250 x\r\n"
    );
    assert_eq!(
        Reply::new(ReplyCode::OK, Some(EnhancedCode::OK), "").to_bytes(),
        b"250 2.0.0\r\n"
    );
}

#[test]
fn error_reply_into_reply() {
    let reply = Reply::from(ErrorReply::MUST_STARTTLS);
    assert_eq!(
        reply.to_bytes(),
        b"530 5.7.0 Must issue a STARTTLS command first\r\n"
    );
    assert!(reply.is_permanent() && reply.is_negative() && !reply.is_positive());
    assert_eq!(
        reply.to_string(),
        "530 5.7.0 Must issue a STARTTLS command first"
    );
}

#[test]
fn enhanced_code_of_another_class_is_dropped_rfc2034_4() {
    let reply = Reply::new(ReplyCode::OK, Some(EnhancedCode::SECURITY), "x");
    assert_eq!(reply.enhanced(), None);
    let reply = Reply::new(ReplyCode::START_MAIL_INPUT, Some(EnhancedCode::OK), "go");
    assert_eq!(reply.enhanced(), None);
    assert!(reply.is_positive_intermediate() && reply.is_positive());
}

#[test]
fn encode_never_writes_line_ends_from_text_rfc5321_2_3_8() {
    let reply = Reply::new(ReplyCode::OK, None, "a\r\n250 injected\0b\rc\nd");
    let wire = reply.to_bytes();
    assert_eq!(wire, b"250 a  250 injected b c d\r\n");
    let (_, used) = complete(&wire);
    assert_eq!(used, wire.len());
}

#[test]
fn encode_wraps_long_text_rfc5321_4_5_3_1_5() {
    let words: Vec<String> = (0..400).map(|i| format!("word{i}")).collect();
    let text = words.join(" ");
    let reply = Reply::new(code(554), Some(enhanced(5, 7, 1)), text.clone());
    let wire = reply.to_bytes();
    for line in wire.split_inclusive(|&b| b == b'\n') {
        assert!(line.len() <= MAX_REPLY_LINE, "{} octets", line.len());
    }
    let (parsed, used) = complete(&wire);
    assert_eq!(used, wire.len());
    assert!(parsed.lines().len() > 1);
    assert_eq!(parsed.text(), text);

    // No space to break at: cut on a character boundary.
    let text = "é".repeat(600);
    let wire = Reply::new(ReplyCode::OK, None, text.clone()).to_bytes();
    let (parsed, _) = complete(&wire);
    assert_eq!(parsed.lines().concat(), text);
}

#[test]
fn encode_cuts_at_line_limit() {
    let mut reply = Reply::new(ReplyCode::OK, None, "0");
    for i in 1..MAX_REPLY_LINES + 10 {
        reply.push_line(i.to_string());
    }
    let wire = reply.to_bytes();
    let (parsed, used) = complete(&wire);
    assert_eq!(used, wire.len());
    assert_eq!(parsed.lines().len(), MAX_REPLY_LINES);
    assert_eq!(parsed.lines()[MAX_REPLY_LINES - 1], "127");
}

#[test]
fn display_escapes_control_characters() {
    let (reply, _) = complete(b"550-5.1.1 bad\x1b[31m\r\n550 5.1.1 user\r\n");
    assert_eq!(reply.to_string(), "550 5.1.1 bad\\u{1b}[31m user");
    assert_eq!(reply.text(), "bad\u{1b}[31m user");
}

#[test]
fn into_owned_outlives_the_buffer() {
    let owned = {
        let wire = b"250-a\r\n250 b\r\n".to_vec();
        let (reply, _) = complete(&wire);
        reply.into_owned()
    };
    assert_eq!(owned.lines(), ["a", "b"]);
    assert!(matches!(owned.lines()[0], Cow::Owned(_)));
}

// ---------------------------------------------------------------------------
// EHLO (RFC 5321 §4.1.1.1) from real servers.

const POSTFIX: &[u8] = b"250-mail.example.com\r\n\
250-PIPELINING\r\n\
250-SIZE 10240000\r\n\
250-VRFY\r\n\
250-ETRN\r\n\
250-STARTTLS\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n\
250-DSN\r\n\
250-SMTPUTF8\r\n\
250 CHUNKING\r\n";

#[test]
fn ehlo_postfix_rfc5321_4_1_1_1() {
    let caps = caps_of(POSTFIX);
    assert_eq!(caps.domain(), "mail.example.com");
    assert!(caps.pipelining());
    assert_eq!(caps.size(), Some(Size::Max(10_240_000)));
    assert_eq!(caps.max_size(), Some(10_240_000));
    assert!(caps.starttls());
    assert!(caps.enhanced_status_codes());
    assert!(caps.eight_bit_mime());
    assert!(caps.dsn());
    assert!(caps.smtputf8());
    assert!(caps.chunking());
    assert!(!caps.binary_mime());
    assert!(!caps.requiretls());
    assert_eq!(caps.auth(), None);
    let others: Vec<&str> = caps.extensions().iter().map(Extension::keyword).collect();
    assert_eq!(others, ["VRFY", "ETRN"]);
    assert!(caps.supports("vrfy") && caps.supports("starttls") && !caps.supports("XCLIENT"));
}

#[test]
fn ehlo_postfix_after_tls_with_auth_both_forms_rfc4954_3() {
    // Postfix with broken_sasl_auth_clients = yes, after STARTTLS.
    let wire = b"250-mail.example.com\r\n\
250-PIPELINING\r\n\
250-SIZE 10240000\r\n\
250-ETRN\r\n\
250-AUTH PLAIN LOGIN\r\n\
250-AUTH=PLAIN LOGIN\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n\
250-DSN\r\n\
250-REQUIRETLS\r\n\
250 CHUNKING\r\n";
    let caps = caps_of(wire);
    assert_eq!(
        caps.auth(),
        Some(&[AuthMechanism::Plain, AuthMechanism::Login][..])
    );
    assert!(!caps.starttls());
    assert!(caps.requiretls());
    assert!(caps.extension("AUTH=PLAIN").is_none());
}

#[test]
fn ehlo_old_auth_form_only_rfc4954_3() {
    let caps = caps_of(b"250-mx.example\r\n250 AUTH=LOGIN plain cram-md5\r\n");
    assert_eq!(
        caps.auth(),
        Some(
            &[
                AuthMechanism::Login,
                AuthMechanism::Plain,
                AuthMechanism::CramMd5
            ][..]
        )
    );
}

#[test]
fn ehlo_gmail() {
    let wire = b"250-mx.google.com at your service, [192.0.2.1]\r\n\
250-SIZE 157286400\r\n\
250-8BITMIME\r\n\
250-STARTTLS\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-PIPELINING\r\n\
250-CHUNKING\r\n\
250 SMTPUTF8\r\n";
    let caps = caps_of(wire);
    assert_eq!(caps.domain(), "mx.google.com");
    assert_eq!(caps.max_size(), Some(157_286_400));
    assert!(caps.starttls() && caps.chunking() && caps.smtputf8() && caps.pipelining());
    assert!(caps.extensions().is_empty());
}

#[test]
fn ehlo_exchange() {
    let wire = b"250-EXCH01.contoso.com Hello [192.0.2.7]\r\n\
250-SIZE 37748736\r\n\
250-PIPELINING\r\n\
250-DSN\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-STARTTLS\r\n\
250-AUTH GSSAPI NTLM\r\n\
250-X-EXPS GSSAPI NTLM\r\n\
250-8BITMIME\r\n\
250-BINARYMIME\r\n\
250-CHUNKING\r\n\
250 XRDST\r\n";
    let caps = caps_of(wire);
    assert_eq!(caps.domain(), "EXCH01.contoso.com");
    assert_eq!(
        caps.auth(),
        Some(&[AuthMechanism::GssApi, AuthMechanism::Other("NTLM".into())][..])
    );
    assert!(caps.binary_mime() && caps.chunking());
    let exps = caps.extension("x-exps").expect("kept");
    assert_eq!(exps.params().collect::<Vec<_>>(), ["GSSAPI", "NTLM"]);
    assert!(caps.supports("XRDST"));
}

#[test]
fn ehlo_exim_malformed_keyword_is_ignored_rfc5321_4_1_1_1() {
    // PIPE_CONNECT has an underscore, which ehlo-keyword does not allow.
    let wire = b"250-mx.example.org Hello client [192.0.2.9]\r\n\
250-SIZE 52428800\r\n\
250-8BITMIME\r\n\
250-PIPELINING\r\n\
250-PIPE_CONNECT\r\n\
250-CHUNKING\r\n\
250-STARTTLS\r\n\
250-PRDR\r\n\
250 HELP\r\n";
    let caps = caps_of(wire);
    let others: Vec<&str> = caps.extensions().iter().map(Extension::keyword).collect();
    assert_eq!(others, ["PRDR", "HELP"]);
    assert!(!caps.supports("PIPE_CONNECT"));
    assert!(caps.pipelining() && caps.starttls());
}

#[test]
fn ehlo_size_forms_rfc1870_4() {
    let size = |line: &str| {
        let wire = format!("250-mx\r\n250 {line}\r\n");
        caps_of(wire.as_bytes())
    };
    assert_eq!(size("SIZE").size(), Some(Size::NoLimit));
    assert_eq!(size("SIZE 0").size(), Some(Size::NoLimit));
    assert_eq!(size("SIZE 0").max_size(), None);
    assert_eq!(size("size 1000").size(), Some(Size::Max(1000)));
    assert_eq!(
        size("SIZE 18446744073709551615").size(),
        Some(Size::Max(u64::MAX))
    );
    // Malformed SIZE: kept as an unknown extension, SIZE not offered.
    for bad in [
        "SIZE abc",
        "SIZE 10 20",
        "SIZE -1",
        "SIZE 18446744073709551616",
    ] {
        let caps = size(bad);
        assert_eq!(caps.size(), None, "{bad}");
        assert!(!caps.supports("SIZE"), "{bad}");
        let kept = caps.extension("SIZE").expect("kept as unknown");
        assert_eq!(
            kept.params().collect::<Vec<_>>().join(" "),
            bad["SIZE ".len()..],
            "{bad}"
        );
    }
}

#[test]
fn ehlo_lenient_lines_rfc5321_4_1_1_1() {
    let wire = "250-mx.example greets you\r\n\
250-starttls\r\n\
250-Pipelining  \r\n\
250-STARTTLS extra\r\n\
250-\r\n\
250-BAD_KEYWORD\r\n\
250--DASH\r\n\
250-XUTF8 caf\u{e9}\r\n\
250-XTAB a\tb\r\n\
250-X-ONE a\r\n\
250-x-one b\r\n\
250 DSN\r\n";
    let caps = caps_of(wire.as_bytes());
    assert!(caps.starttls() && caps.pipelining() && caps.dsn());
    let others: Vec<String> = caps
        .extensions()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e.keyword(),
                e.params().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    assert_eq!(others, ["X-ONE a"]);
    assert_eq!(caps.domain(), "mx.example");
}

#[test]
fn ehlo_one_line_and_negative_rfc5321_4_1_1_1() {
    let caps = caps_of(b"250 mx.example\r\n");
    assert_eq!(caps.domain(), "mx.example");
    assert_eq!(caps, Capabilities::new("mx.example"));

    let (reply, _) = complete(b"502 5.5.1 Command not implemented\r\n");
    assert_eq!(
        Capabilities::from_reply(&reply),
        Err(EhloError::NotOk {
            code: ReplyCode::NOT_IMPLEMENTED
        })
    );
}

#[test]
fn ehlo_to_reply_rfc5321_4_1_1_1() {
    let mut caps = Capabilities::new("mx.example.net")
        .with(Keyword::Pipelining)
        .with(Keyword::StartTls)
        .with(Keyword::EnhancedStatusCodes)
        .with(Keyword::EightBitMime);
    caps.set_size(Some(10_240_000));
    caps.insert_extension(Extension::new("VRFY", []).expect("valid"));
    caps.insert_extension(Extension::new("xclient", ["NAME", "ADDR"]).expect("valid"));
    let wire = caps.to_reply("ESMTP SecMX").to_bytes();
    assert_eq!(
        wire,
        b"250-mx.example.net ESMTP SecMX\r\n\
250-PIPELINING\r\n\
250-SIZE 10240000\r\n\
250-STARTTLS\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n\
250-VRFY\r\n\
250 XCLIENT NAME ADDR\r\n"
    );
    assert_eq!(caps_of(&wire), caps);

    // Withdrawing STARTTLS and SIZE (after TLS, or by configuration).
    caps.remove(Keyword::StartTls);
    caps.remove(Keyword::Size);
    assert!(!caps.starttls() && caps.size().is_none());
    assert_eq!(caps_of(&caps.to_reply("").to_bytes()), caps);
}

#[test]
fn ehlo_long_auth_list_spreads_over_lines_rfc4954_3() {
    let mut caps = Capabilities::new("mx.example");
    let names: Vec<String> = (0..60).map(|i| format!("X-MECHANISM-{i:06}")).collect();
    caps.set_auth(names.iter().filter_map(|n| AuthMechanism::from_name(n)));
    assert_eq!(caps.auth().map(<[_]>::len), Some(60));
    let reply = caps.to_reply("hi");
    assert!(reply.lines().len() > 2);
    let wire = reply.to_bytes();
    assert_eq!(caps_of(&wire), caps);
}

#[test]
fn ehlo_long_greeting_is_shortened() {
    let caps = Capabilities::new("mx.example").with(Keyword::StartTls);
    let reply = caps.to_reply(&"greeting ".repeat(100));
    assert_eq!(reply.lines().len(), 2);
    assert_eq!(caps_of(&reply.to_bytes()), caps);
}

#[test]
fn extension_new_checks_grammar_rfc5321_4_1_1_1() {
    assert_eq!(
        Extension::new("PIPE_CONNECT", []),
        Err(EhloError::InvalidKeyword)
    );
    assert_eq!(Extension::new("-X", []), Err(EhloError::InvalidKeyword));
    assert_eq!(Extension::new("", []), Err(EhloError::InvalidKeyword));
    assert_eq!(
        Extension::new("size", ["10"]),
        Err(EhloError::TypedKeyword(Keyword::Size))
    );
    assert_eq!(
        Extension::new("X", ["a b"]),
        Err(EhloError::InvalidParameter)
    );
    assert_eq!(Extension::new("X", [""]), Err(EhloError::InvalidParameter));
    let long = "p".repeat(MAX_REPLY_LINE);
    assert_eq!(
        Extension::new("X", [long.as_str()]),
        Err(EhloError::TooLong)
    );
    let ok = Extension::new("x-custom", ["A=1", "b"]).expect("valid");
    assert_eq!(ok.keyword(), "X-CUSTOM");
    assert_eq!(ok.params().collect::<Vec<_>>(), ["A=1", "b"]);
}

#[test]
fn auth_mechanism_names_rfc4422_3_1() {
    assert_eq!(
        AuthMechanism::from_name("scram-sha-256-plus"),
        Some(AuthMechanism::ScramSha256Plus)
    );
    assert_eq!(
        AuthMechanism::from_name("x_custom"),
        Some(AuthMechanism::Other("X_CUSTOM".into()))
    );
    assert_eq!(AuthMechanism::from_name(""), None);
    assert_eq!(
        AuthMechanism::from_name("TWENTY-ONE-CHARACTER"),
        Some(AuthMechanism::Other("TWENTY-ONE-CHARACTER".into()))
    );
    assert_eq!(AuthMechanism::from_name("TWENTY-ONE-CHARACTERS"), None);
    assert_eq!(AuthMechanism::from_name("A=B"), None);
    assert_eq!(Keyword::from_name("8bitmime"), Some(Keyword::EightBitMime));
    assert_eq!(Keyword::from_name("VRFY"), None);
}

// ---------------------------------------------------------------------------
// Properties.

fn any_code() -> impl Strategy<Value = ReplyCode> {
    (2u16..=5, 0u16..=5, 0u16..=9).prop_map(|(a, b, c)| code(a * 100 + b * 10 + c))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\x20-\\x7e\\t]{0,60}",
        "[a-zé€ 😀.]{0,20}",
        Just(String::new()),
        Just("2.0.0 text".to_string()),
    ]
}

/// Replies that [`Reply::encode`] writes without wrapping and that parse back
/// unchanged (see its docs).
fn any_reply() -> impl Strategy<Value = Reply<'static>> {
    (
        any_code(),
        any::<bool>(),
        0u16..1000,
        0u16..1000,
        prop::collection::vec(any_text(), 1..6),
    )
        .prop_map(|(code, with_enhanced, subject, detail, lines)| {
            let class = u8::try_from(code.get() / 100).expect("one digit");
            let enhanced = if with_enhanced {
                EnhancedCode::new(class, subject, detail)
            } else {
                None
            };
            let mut lines: Vec<String> = if enhanced.is_some() {
                lines
                    .into_iter()
                    .map(|line| line.trim_start_matches(' ').to_string())
                    .collect()
            } else {
                lines
            };
            if enhanced.is_none() {
                let looks_enhanced = EnhancedCode::parse_prefix(lines[0].as_bytes())
                    .is_some_and(|(e, _)| e.class() == class);
                if looks_enhanced {
                    lines[0].insert(0, 'x');
                }
            }
            let mut lines = lines.into_iter();
            let mut reply = Reply::new(code, enhanced, lines.next().unwrap_or_default());
            for line in lines {
                reply.push_line(line);
            }
            reply
        })
}

#[derive(Debug, PartialEq)]
enum Event {
    Reply(Reply<'static>, usize),
    Error(ReplyError),
    /// The stream ended; true when it ended inside a reply.
    End(bool),
}

/// What [`Reply::parse`] makes of a stream, reply after reply.
fn whole(stream: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut offset = 0;
    loop {
        match Reply::parse(&stream[offset..]) {
            Ok(Status::Complete((reply, used))) => {
                assert!(used > 0);
                offset += used;
                events.push(Event::Reply(reply.into_owned(), offset));
            }
            Ok(Status::Partial) => {
                events.push(Event::End(offset < stream.len()));
                return events;
            }
            Err(error) => {
                events.push(Event::Error(error));
                return events;
            }
        }
    }
}

/// What [`ReplyParser`] makes of the same stream cut into pieces of the
/// given sizes (cycled).
fn incremental(stream: &[u8], sizes: &[usize]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut parser = ReplyParser::new();
    let mut offset = 0;
    let mut sizes = sizes.iter().copied().cycle();
    while offset < stream.len() {
        let size = sizes.next().unwrap_or(1).max(1);
        let end = stream.len().min(offset + size);
        let mut rest = &stream[offset..end];
        while !rest.is_empty() {
            match parser.feed(rest) {
                Ok(Status::Complete((reply, used))) => {
                    assert!(used > 0 && used <= rest.len());
                    offset += used;
                    rest = &rest[used..];
                    events.push(Event::Reply(reply, offset));
                }
                Ok(Status::Partial) => {
                    offset += rest.len();
                    rest = &[];
                }
                Err(error) => {
                    events.push(Event::Error(error));
                    return events;
                }
            }
        }
    }
    events.push(Event::End(!parser.is_idle()));
    events
}

/// Encoded replies, then maybe a changed byte, a cut, or trailing bytes.
fn any_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any_reply(), 1..4),
        prop::option::of((
            any::<prop::sample::Index>(),
            prop::sample::select(b"\r\n\0- x9".to_vec()),
        )),
        prop::option::of(any::<prop::sample::Index>()),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(replies, change, cut, tail)| {
            let mut stream = Vec::new();
            for reply in &replies {
                reply.encode(&mut stream);
            }
            if let Some((at, byte)) = change {
                let at = at.index(stream.len());
                stream[at] = byte;
            }
            if let Some(at) = cut {
                stream.truncate(at.index(stream.len() + 1));
            }
            stream.extend_from_slice(&tail);
            stream
        })
}

fn any_capabilities() -> impl Strategy<Value = Capabilities> {
    let mechanism = prop_oneof![
        Just(AuthMechanism::Plain),
        Just(AuthMechanism::Login),
        Just(AuthMechanism::ScramSha256),
        Just(AuthMechanism::XOAuth2),
        "[A-Z0-9_-]{1,20}".prop_filter_map("valid name", |name| AuthMechanism::from_name(&name)),
    ];
    let extension = (
        "[A-Za-z0-9][A-Za-z0-9-]{0,15}",
        prop::collection::vec("[!-~]{1,10}", 0..4),
    )
        .prop_filter_map("untyped extension", |(keyword, params)| {
            Extension::new(&keyword, params.iter().map(String::as_str)).ok()
        });
    (
        "[a-z][a-z0-9.-]{0,30}",
        any::<u16>(),
        prop::option::of(any::<u64>()),
        prop::collection::vec(mechanism, 0..8),
        prop::collection::vec(extension, 0..8),
    )
        .prop_map(|(domain, flags, size, auth, extensions)| {
            let mut caps = Capabilities::new(domain);
            for (bit, &keyword) in Keyword::ALL.iter().enumerate() {
                if flags & (1 << bit) == 0 {
                    continue;
                }
                match keyword {
                    Keyword::Size => caps.set_size(size),
                    Keyword::Auth => caps.set_auth(auth.clone()),
                    other => caps.insert(other),
                }
            }
            for extension in extensions {
                caps.insert_extension(extension);
            }
            caps
        })
}

/// EHLO-like replies from loosely valid lines: typed and untyped keywords in
/// any case with any parameters, and junk.
fn any_ehlo_wire() -> impl Strategy<Value = Vec<u8>> {
    let keyword = prop_oneof![
        prop::sample::select(vec![
            "SIZE",
            "size",
            "AUTH",
            "AUTH=LOGIN",
            "auth=",
            "STARTTLS",
            "8bitmime",
            "DSN",
            "REQUIRETLS",
            "X-A",
            "x-a",
            "PIPE_CONNECT",
            "-",
            "2.0.0",
        ])
        .prop_map(str::to_string),
        "[A-Za-z0-9=_-]{1,12}",
    ];
    let line = (
        keyword,
        prop::collection::vec("[\\x20-\\x7e\\t]{0,12}|[0-9]{1,21}", 0..4),
    )
        .prop_map(|(keyword, params)| {
            let mut line = keyword;
            for param in params {
                line.push(' ');
                line.push_str(&param);
            }
            line
        });
    (
        "[a-z0-9.]{0,12}( [\\x20-\\x7e]{0,20})?",
        prop::collection::vec(line, 0..12),
    )
        .prop_map(|(first, lines)| {
            let mut wire = Vec::new();
            let total = lines.len() + 1;
            for (index, text) in core::iter::once(first).chain(lines).enumerate() {
                wire.extend_from_slice(if index + 1 == total { b"250 " } else { b"250-" });
                wire.extend_from_slice(text.as_bytes());
                wire.extend_from_slice(b"\r\n");
            }
            wire
        })
}

proptest! {
    #![proptest_config(proptest_common::config(512))]

    /// RFC 5321 §4.2: what `encode` writes, `parse` reads back.
    #[test]
    fn reply_round_trip(reply in any_reply()) {
        let wire = reply.to_bytes();
        let (parsed, used) = complete(&wire);
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(&parsed, &reply);
        let (owned, at) = byte_by_byte(&wire).expect("valid").expect("complete");
        prop_assert_eq!(&owned, &reply);
        prop_assert_eq!(at + 1, wire.len());
    }

    /// RFC 5321 §4.5.3.1.5: whatever the text, encoded lines fit the limit,
    /// parse, and keep the words.
    #[test]
    fn encode_respects_line_limit(
        code in any_code(),
        words in prop::collection::vec("[!-~é]{1,40}", 1..200),
        with_enhanced in any::<bool>(),
    ) {
        let class = u8::try_from(code.get() / 100).expect("one digit");
        let enhanced = if with_enhanced { EnhancedCode::new(class, 999, 999) } else { None };
        let text = words.join(" ");
        let reply = Reply::new(code, enhanced, text.clone());
        let wire = reply.to_bytes();
        for line in wire.split_inclusive(|&b| b == b'\n') {
            prop_assert!(line.len() <= MAX_REPLY_LINE);
        }
        let (parsed, used) = complete(&wire);
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(parsed.enhanced(), reply.enhanced());
        if enhanced.is_some() || EnhancedCode::parse_prefix(text.as_bytes()).is_none() {
            prop_assert_eq!(parsed.text(), text);
        }
    }

    /// The incremental parser gives the same replies, end offsets and errors
    /// as the whole-buffer parser, however the stream is cut.
    #[test]
    fn chunking_does_not_matter(
        stream in any_stream(),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let expected = whole(&stream);
        prop_assert_eq!(&incremental(&stream, &sizes), &expected);
        prop_assert_eq!(&incremental(&stream, &[1]), &expected);
        prop_assert_eq!(&incremental(&stream, &[stream.len().max(1)]), &expected);
    }

    /// Arbitrary bytes never panic either parser, and both agree on them.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop::sample::select(vec![&b""[..], b"250-", b"250 ", b"250-a\r\n250"]),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        sizes in prop::collection::vec(1usize..16, 1..4),
    ) {
        let mut stream = prefix.to_vec();
        stream.extend_from_slice(&bytes);
        let expected = whole(&stream);
        prop_assert_eq!(&incremental(&stream, &sizes), &expected);
        for event in expected {
            if let Event::Reply(reply, _) = event {
                let _ = reply.to_string();
                let _ = Capabilities::from_reply(&reply);
            }
        }
    }

    /// RFC 5321 §4.1.1.1: a capability set survives `to_reply`, encoding,
    /// parsing and reading.
    #[test]
    fn capabilities_round_trip(caps in any_capabilities(), greeting in "[\\x20-\\x7e]{0,40}") {
        let reply = caps.to_reply(&greeting);
        let wire = reply.to_bytes();
        let (parsed, used) = complete(&wire);
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(&parsed, &reply);
        prop_assert_eq!(Capabilities::from_reply(&parsed), Ok(caps));
    }

    /// Reading is idempotent: what was read from any EHLO reply writes out
    /// and reads back the same.
    #[test]
    fn capabilities_read_write_read(wire in any_ehlo_wire()) {
        let (reply, _) = complete(&wire);
        let caps = Capabilities::from_reply(&reply).expect("250");
        let again = caps_of(&caps.to_reply("again").to_bytes());
        let domain_is_a_code = EnhancedCode::parse_prefix(caps.domain().as_bytes())
            .is_some_and(|(e, _)| e.class() == 2);
        if !domain_is_a_code {
            prop_assert_eq!(again, caps);
        }
    }
}
