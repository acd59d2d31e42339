//! Table tests and properties of the SMTP command grammar: commands
//! (RFC 5321 §4.1.1), paths (§4.1.2), parameters (§4.1.2 and the extension
//! RFCs), xtext (RFC 3461 §4) and SMTPUTF8 (RFC 6531).

mod proptest_common;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use secmx_core::proto::command::{
    AuthMechanism, Command, CommandError, ParseContext, STARTTLS_NO_PARAMETERS, Verb,
};
use secmx_core::proto::param::{
    Body, MailParameters, Notify, Orcpt, ParamError, Parameter, RcptParameters, Ret, XtextError,
    xtext_decode, xtext_encode,
};
use secmx_core::proto::path::{
    DOMAIN_TOO_LONG, Domain, ForwardPath, LOCAL_PART_TOO_LONG, LocalPart, Mailbox, PATH_TOO_LONG,
    PathError, ReversePath,
};
use secmx_core::{ErrorReply, limits};

fn ascii() -> ParseContext {
    ParseContext::new()
}

fn utf8() -> ParseContext {
    ParseContext::new().with_smtputf8(true)
}

fn parse(line: &str) -> Result<Command<'_>, CommandError> {
    Command::parse(line.as_bytes(), ascii())
}

fn reply(line: &str) -> ErrorReply {
    match parse(line) {
        Ok(command) => panic!("{line:?} parsed as {command:?}"),
        Err(error) => error.reply(),
    }
}

fn name(s: &str) -> Domain<'_> {
    Domain::Name(Cow::Borrowed(s))
}

fn mailbox<'a>(local: &'a str, domain: Domain<'a>) -> Mailbox<'a> {
    Mailbox {
        local_part: LocalPart::parse(local.as_bytes(), true).expect("test local part is valid"),
        domain,
    }
}

fn mail_from(line: &str) -> (ReversePath<'_>, MailParameters<'_>) {
    match parse(line) {
        Ok(Command::Mail { from, params }) => (from, params),
        other => panic!("{line:?}: {other:?}"),
    }
}

fn rcpt_to(line: &str, ctx: ParseContext) -> (ForwardPath<'_>, RcptParameters<'_>) {
    match Command::parse(line.as_bytes(), ctx) {
        Ok(Command::Rcpt { to, params }) => (to, params),
        other => panic!("{line:?}: {other:?}"),
    }
}

fn encoded(command: &Command<'_>) -> String {
    let mut out = Vec::new();
    command.encode(&mut out);
    String::from_utf8(out).expect("encoding is UTF-8")
}

const SYNTAX_500: ErrorReply = ErrorReply::SYNTAX;
const ARGS_501: ErrorReply = ErrorReply::ARGUMENTS;
const ADDR_501: ErrorReply = ErrorReply::BAD_ADDRESS;

// ---------------------------------------------------------------- commands

#[test]
fn valid_commands_rfc5321_4_1_1() {
    let table: Vec<(&str, Command<'_>)> = vec![
        // §4.1.1.1 EHLO / HELO
        (
            "EHLO mail.example.com",
            Command::Ehlo(name("mail.example.com")),
        ),
        (
            "ehlo Mail.Example.COM",
            Command::Ehlo(name("Mail.Example.COM")),
        ),
        ("EHLO localhost", Command::Ehlo(name("localhost"))),
        ("EHLO x-1.example ", Command::Ehlo(name("x-1.example"))),
        (
            "EHLO [192.0.2.1]",
            Command::Ehlo(Domain::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))),
        ),
        (
            "EHLO [IPv6:2001:db8::1]",
            Command::Ehlo(Domain::Ip("2001:db8::1".parse().unwrap())),
        ),
        ("HELO relay.example", Command::Helo(name("relay.example"))),
        (
            "HELO [10.0.0.1]",
            Command::Helo(Domain::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))),
        ),
        // §4.1.1.4 DATA, §4.1.1.5 RSET, §4.1.1.10 QUIT
        ("DATA", Command::Data),
        ("data", Command::Data),
        ("RSET", Command::Rset),
        ("QUIT", Command::Quit),
        ("QUIT ", Command::Quit),
        // §4.1.1.9 NOOP, §4.1.1.8 HELP
        ("NOOP", Command::Noop(None)),
        ("NOOP  ", Command::Noop(None)),
        (
            "NOOP hello there",
            Command::Noop(Some("hello there".into())),
        ),
        ("HELP", Command::Help(None)),
        ("HELP MAIL", Command::Help(Some("MAIL".into()))),
        // §4.1.1.6 VRFY, §4.1.1.7 EXPN
        ("VRFY Smith", Command::Vrfy("Smith".into())),
        (
            "VRFY <jsmith@example.com>",
            Command::Vrfy("<jsmith@example.com>".into()),
        ),
        (
            "EXPN Example-People",
            Command::Expn("Example-People".into()),
        ),
        // RFC 3030 §2 BDAT
        (
            "BDAT 1000",
            Command::Bdat {
                size: 1000,
                last: false,
            },
        ),
        (
            "BDAT 1000 LAST",
            Command::Bdat {
                size: 1000,
                last: true,
            },
        ),
        (
            "bdat 0 last",
            Command::Bdat {
                size: 0,
                last: true,
            },
        ),
        (
            "BDAT 18446744073709551615 LAST",
            Command::Bdat {
                size: u64::MAX,
                last: true,
            },
        ),
        // RFC 3207 §4 STARTTLS
        ("STARTTLS", Command::StartTls),
        ("starttls", Command::StartTls),
        // RFC 4954 §4 AUTH
        (
            "AUTH PLAIN",
            Command::Auth {
                mechanism: AuthMechanism::Plain,
                initial_response: None,
            },
        ),
        (
            "auth plain dGVzdAB0ZXN0AHRlc3Q=",
            Command::Auth {
                mechanism: AuthMechanism::Plain,
                initial_response: Some("dGVzdAB0ZXN0AHRlc3Q=".into()),
            },
        ),
        (
            "AUTH EXTERNAL =",
            Command::Auth {
                mechanism: AuthMechanism::External,
                initial_response: Some("=".into()),
            },
        ),
        (
            "AUTH cram-md5",
            Command::Auth {
                mechanism: AuthMechanism::CramMd5,
                initial_response: None,
            },
        ),
        (
            "AUTH X-PRIVATE_1",
            Command::Auth {
                mechanism: AuthMechanism::Other("X-PRIVATE_1".into()),
                initial_response: None,
            },
        ),
    ];
    for (line, want) in table {
        assert_eq!(parse(line), Ok(want), "{line:?}");
    }
}

#[test]
fn invalid_commands_rfc5321_4_1_1() {
    let table: &[(&str, ErrorReply)] = &[
        // §4.2.4: unknown verbs are 500.
        ("", SYNTAX_500),
        ("HI", SYNTAX_500),
        ("EHLOX example.com", SYNTAX_500),
        ("MAILFROM:<a@b>", SYNTAX_500),
        ("LHLO example.com", SYNTAX_500),
        ("STARTTLSX", SYNTAX_500),
        ("STAR", SYNTAX_500),
        ("QUIT\t", SYNTAX_500),
        ("\u{e9}HLO x", SYNTAX_500),
        // §4.1.1.1: EHLO needs exactly one domain or address literal.
        ("EHLO", ARGS_501),
        ("EHLO ", ARGS_501),
        ("EHLO  example.com", ARGS_501),
        ("EHLO a.example b.example", ARGS_501),
        ("EHLO -bad.example", ARGS_501),
        ("EHLO bad-.example", ARGS_501),
        ("EHLO a..example", ARGS_501),
        ("EHLO example.com.", ARGS_501),
        ("EHLO under_score.example", ARGS_501),
        ("EHLO [192.0.2.256]", ARGS_501),
        ("EHLO [IPv6:2001:db8::g]", ARGS_501),
        ("EHLO [192.0.2.1", ARGS_501),
        ("EHLO bücher.example", ARGS_501),
        ("HELO", ARGS_501),
        // Commands without arguments.
        ("DATA now", ARGS_501),
        ("RSET x", ARGS_501),
        ("QUIT please", ARGS_501),
        // RFC 3207 §4: STARTTLS has its own 501 text.
        ("STARTTLS now", STARTTLS_NO_PARAMETERS),
        // §4.1.1.6 / §4.1.1.7: VRFY and EXPN need a string.
        ("VRFY", ARGS_501),
        ("VRFY   ", ARGS_501),
        ("EXPN", ARGS_501),
        ("NOOP a\u{1}b", ARGS_501),
        // RFC 3030 §2: BDAT chunk-size [SP LAST].
        ("BDAT", ARGS_501),
        ("BDAT -1", ARGS_501),
        ("BDAT 1x", ARGS_501),
        ("BDAT 18446744073709551616", ARGS_501),
        ("BDAT 10 FIRST", ARGS_501),
        ("BDAT 10  LAST", ARGS_501),
        ("BDAT 10 LAST more", ARGS_501),
        // RFC 4954 §4: AUTH mechanism [initial-response].
        ("AUTH", ARGS_501),
        ("AUTH PL@IN", ARGS_501),
        ("AUTH ABCDEFGHIJKLMNOPQRSTU", ARGS_501),
        ("AUTH PLAIN not*base64", ARGS_501),
        ("AUTH PLAIN a b", ARGS_501),
        // §4.1.1.2: MAIL FROM: and nothing sloppier than one space.
        ("MAIL", ARGS_501),
        ("MAIL FROM", ARGS_501),
        ("MAIL FROM <a@example.com>", ARGS_501),
        ("MAIL  FROM:<a@example.com>", ARGS_501),
        ("MAIL TO:<a@example.com>", ARGS_501),
        ("MAIL FROM:<a@example.com>SIZE=1", ARGS_501),
        ("MAIL FROM:a@example.com", ADDR_501),
        ("MAIL FROM:  <a@example.com>", ADDR_501),
        ("MAIL FROM:<a@example.com", ADDR_501),
        ("MAIL FROM:<a@example.com> SIZE=x", ARGS_501),
        // §4.1.1.3: RCPT TO:
        ("RCPT", ARGS_501),
        ("RCPT TO", ARGS_501),
        ("RCPT FROM:<a@example.com>", ARGS_501),
        ("RCPT TO:<>", ADDR_501),
        ("RCPT TO:<a@example.com> NOTIFY=SOMETIMES", ARGS_501),
    ];
    for &(line, want) in table {
        assert_eq!(reply(line), want, "{line:?}");
    }
}

#[test]
fn non_utf8_octets_rfc6531_3_3() {
    // Latin-1 in RCPT without SMTPUTF8: non-ASCII (553 5.6.7).
    let line = b"RCPT TO:<j\xf6rg@example.com>";
    assert_eq!(
        Command::parse(line, ascii()).map_err(|e| e.reply()),
        Err(ErrorReply::NON_ASCII)
    );
    // With SMTPUTF8 it is still not UTF-8: bad address.
    assert_eq!(
        Command::parse(line, utf8()),
        Err(CommandError::Path(PathError::InvalidUtf8))
    );
    assert_eq!(
        Command::parse(b"NOOP \xff", ascii()),
        Err(CommandError::InvalidUtf8 { verb: Verb::Noop })
    );
    assert_eq!(
        Command::parse(b"MAIL FROM:<\xff@x.example>", ascii()).map_err(|e| e.reply()),
        Err(ADDR_501)
    );
}

#[test]
fn starttls_reply_text_rfc3207_4() {
    assert_eq!(
        STARTTLS_NO_PARAMETERS.to_string(),
        "501 5.5.4 Syntax error (no parameters allowed)"
    );
    assert_eq!(parse("STARTTLS x"), Err(CommandError::StartTlsParameters));
}

#[test]
fn unknown_verb_reply_rfc5321_4_2_4() {
    assert_eq!(
        reply("FOO bar").to_string(),
        "500 5.5.2 Syntax error, command unrecognized"
    );
}

#[test]
fn verbs_rfc5321_4_1_1() {
    let table = [
        ("EHLO x", Verb::Ehlo),
        ("HELO x", Verb::Helo),
        ("MAIL FROM:<>", Verb::Mail),
        ("RCPT TO:<Postmaster>", Verb::Rcpt),
        ("DATA", Verb::Data),
        ("BDAT 1", Verb::Bdat),
        ("RSET", Verb::Rset),
        ("NOOP", Verb::Noop),
        ("QUIT", Verb::Quit),
        ("VRFY x", Verb::Vrfy),
        ("EXPN x", Verb::Expn),
        ("HELP", Verb::Help),
        ("STARTTLS", Verb::StartTls),
        ("AUTH LOGIN", Verb::Auth),
    ];
    for (line, verb) in table {
        let command = parse(line).unwrap();
        assert_eq!(command.verb(), verb);
        assert!(encoded(&command).starts_with(verb.as_str()));
    }
}

#[test]
fn canonical_encoding_rfc5321_4_1_1() {
    let table = [
        ("ehlo Example.com", "EHLO Example.com\r\n"),
        (
            "mail from: <A@B.example>  size=10 ",
            "MAIL FROM:<A@B.example> SIZE=10\r\n",
        ),
        (
            "MAIL FROM:<> body=8bitmime ret=hdrs envid=QQ+2Bx smtputf8 requiretls X-Y=z",
            "MAIL FROM:<> BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS ENVID=QQ+2Bx X-Y=z\r\n",
        ),
        (
            "rcpt to:<postmaster> notify=delay,success orcpt=rfc822;a+40b",
            "RCPT TO:<Postmaster> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a@b\r\n",
        ),
        ("bdat 007 last", "BDAT 7 LAST\r\n"),
        ("auth plain =", "AUTH PLAIN =\r\n"),
        (
            "EHLO [IPv6:2001:DB8:0:0:0:0:0:1]",
            "EHLO [IPv6:2001:db8::1]\r\n",
        ),
        ("EHLO [001.002.003.004]", "EHLO [1.2.3.4]\r\n"),
        ("noop   x  ", "NOOP x\r\n"),
        (
            "MAIL FROM:<@a.example,@b.example:u@c.example>",
            "MAIL FROM:<u@c.example>\r\n",
        ),
    ];
    for (line, want) in table {
        assert_eq!(encoded(&parse(line).unwrap()), want, "{line:?}");
    }
}

// ------------------------------------------------------------------- paths

#[test]
fn reverse_paths_rfc5321_4_1_2() {
    let (from, params) = mail_from("MAIL FROM:<>");
    assert_eq!(from, ReversePath::Null);
    assert!(params.is_empty());
    // One space after the colon is tolerated (as most MTAs do).
    assert_eq!(mail_from("MAIL FROM: <>").0, ReversePath::Null);
    assert_eq!(
        mail_from("MAIL FROM:<user@example.com>").0,
        ReversePath::Mailbox(mailbox("user", name("example.com")))
    );
    assert_eq!(
        mail_from("mail from:<User.Name+tag@Sub.Example.COM>").0,
        ReversePath::Mailbox(mailbox("User.Name+tag", name("Sub.Example.COM")))
    );
    assert_eq!(
        mail_from("MAIL FROM:<!#$%&'*+-/=?^_`{|}~@example.com>").0,
        ReversePath::Mailbox(mailbox("!#$%&'*+-/=?^_`{|}~", name("example.com")))
    );
}

#[test]
fn forward_paths_postmaster_rfc5321_4_1_1_3() {
    assert_eq!(
        rcpt_to("RCPT TO:<Postmaster>", ascii()).0,
        ForwardPath::Postmaster
    );
    assert_eq!(
        rcpt_to("RCPT TO:<postmaster>", ascii()).0,
        ForwardPath::Postmaster
    );
    assert_eq!(
        rcpt_to("RCPT TO:<POSTMASTER> ", ascii()).0,
        ForwardPath::Postmaster
    );
    assert_eq!(
        rcpt_to("RCPT TO:<Postmaster@example.com>", ascii()).0,
        ForwardPath::Mailbox(mailbox("Postmaster", name("example.com")))
    );
    assert_eq!(
        rcpt_to("RCPT TO:<postmasters@example.com>", ascii()).0,
        ForwardPath::Mailbox(mailbox("postmasters", name("example.com")))
    );
    assert_eq!(reply("RCPT TO:<postmaster"), ADDR_501);
    assert_eq!(reply("RCPT TO:<postmaster>x"), ARGS_501);
}

#[test]
fn source_routes_rfc5321_4_1_2_appendix_c() {
    let want = ForwardPath::Mailbox(mailbox("user", name("c.example")));
    for line in [
        "RCPT TO:<@a.example:user@c.example>",
        "RCPT TO:<@a.example,@b.example:user@c.example>",
        "RCPT TO:<@[192.0.2.1],@b.example:user@c.example>",
    ] {
        assert_eq!(rcpt_to(line, ascii()).0, want, "{line:?}");
    }
    assert_eq!(
        mail_from("MAIL FROM:<@a.example:user@c.example>").0,
        ReversePath::Mailbox(mailbox("user", name("c.example")))
    );
    for line in [
        "RCPT TO:<@a.example user@c.example>",
        "RCPT TO:<@a.example,b.example:user@c.example>",
        "RCPT TO:<@:user@c.example>",
        "RCPT TO:<@-a.example:user@c.example>",
        "RCPT TO:<@a.example:>",
        "MAIL FROM:<@a.example:>",
    ] {
        assert_eq!(reply(line), ADDR_501, "{line:?}");
    }
}

#[test]
fn quoted_local_parts_rfc5321_4_1_2() {
    let table: &[(&str, &str, &str)] = &[
        // (wire, decoded value, line)
        (
            r#""john doe""#,
            "john doe",
            r#"MAIL FROM:<"john doe"@example.com>"#,
        ),
        (r#""a\"b""#, r#"a"b"#, r#"MAIL FROM:<"a\"b"@example.com>"#),
        (r#""a\\b""#, r"a\b", r#"MAIL FROM:<"a\\b"@example.com>"#),
        (r#""\a\ b""#, "a b", r#"MAIL FROM:<"\a\ b"@example.com>"#),
        (r#""""#, "", r#"MAIL FROM:<""@example.com>"#),
        (r#""a@b>c""#, "a@b>c", r#"MAIL FROM:<"a@b>c"@example.com>"#),
        (r#""x.""#, "x.", r#"MAIL FROM:<"x."@example.com>"#),
    ];
    for &(wire, value, line) in table {
        let (from, _) = mail_from(line);
        let local = &from.mailbox().unwrap().local_part;
        assert!(local.is_quoted(), "{line:?}");
        assert_eq!(local.as_wire(), wire, "{line:?}");
        assert_eq!(local.value(), value, "{line:?}");
        // Encoding keeps the wire form exactly.
        assert_eq!(encoded(&parse(line).unwrap()), format!("{line}\r\n"));
    }
    for line in [
        r#"MAIL FROM:<"unterminated@example.com>"#,
        "MAIL FROM:<\"tab\there\"@example.com>",
        "MAIL FROM:<\"bad pair\\\u{1}\"@example.com>",
        r#"MAIL FROM:<"a"b@example.com>"#,
        "MAIL FROM:<.a@example.com>",
        "MAIL FROM:<a.@example.com>",
        "MAIL FROM:<a..b@example.com>",
        "MAIL FROM:<a b@example.com>",
        "MAIL FROM:<a(b)@example.com>",
        "MAIL FROM:<@example.com>",
        "MAIL FROM:<user>",
        "MAIL FROM:<user@>",
        "MAIL FROM:<a@b@example.com>",
    ] {
        assert_eq!(reply(line), ADDR_501, "{line:?}");
    }
}

#[test]
fn address_literals_rfc5321_4_1_3() {
    let table: &[(&str, Domain<'_>)] = &[
        (
            "[192.0.2.1]",
            Domain::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        ),
        ("[0.0.0.0]", Domain::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        (
            "[255.255.255.255]",
            Domain::Ip(IpAddr::V4(Ipv4Addr::BROADCAST)),
        ),
        ("[IPv6:::1]", Domain::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        (
            "[ipv6:2001:DB8::1]",
            Domain::Ip("2001:db8::1".parse().unwrap()),
        ),
        (
            "[IPv6:::ffff:192.0.2.1]",
            Domain::Ip("::ffff:192.0.2.1".parse().unwrap()),
        ),
        (
            "[IPv6:2001:db8:0:0:0:0:0:1]",
            Domain::Ip("2001:db8::1".parse().unwrap()),
        ),
        (
            "[x-tag:some-content]",
            Domain::General("x-tag:some-content".into()),
        ),
        ("[tag:a:b>c]", Domain::General("tag:a:b>c".into())),
        // Standardized-tag = Ldh-str, which may start with '-'.
        ("[-tag:x]", Domain::General("-tag:x".into())),
    ];
    for (literal, want) in table {
        let line = format!("RCPT TO:<user@{literal}>");
        let (to, _) = rcpt_to(&line, ascii());
        assert_eq!(&to.mailbox().unwrap().domain, want, "{line:?}");
        assert!(want.is_address_literal());
        assert_eq!(Domain::parse(literal.as_bytes(), false).as_ref(), Ok(want));
    }
    if let Domain::General(text) = &table[7].1 {
        assert_eq!(text, "x-tag:some-content");
    }
    for literal in [
        "[192.0.2]",
        "[192.0.2.1.5]",
        "[192.0.2.256]",
        "[192.0.2.-1]",
        "[1234.0.2.1]",
        "[IPv6:192.0.2.1]",
        "[IPv6:2001:db8::1::1]",
        "[IPv6:]",
        "[]",
        "[tag:]",
        "[tag-:x]",
        "[ta_g:x]",
        "[tag:a\\b]",
        "[tag:a[b]",
        "[tag:a b]",
        "[192.0.2.1",
    ] {
        let line = format!("RCPT TO:<user@{literal}>");
        assert_eq!(reply(&line), ADDR_501, "{line:?}");
        assert!(
            Domain::parse(literal.as_bytes(), false).is_err(),
            "{literal}"
        );
    }
}

#[test]
fn domains_rfc5321_4_1_2() {
    for good in [
        "a",
        "example.com",
        "a-b.c-d.example",
        "123.example",
        "x1",
        "EXAMPLE.COM",
    ] {
        assert_eq!(
            Domain::parse(good.as_bytes(), false),
            Ok(name(good)),
            "{good}"
        );
    }
    let label63 = "a".repeat(63);
    assert!(Domain::parse(label63.as_bytes(), false).is_ok());
    let label64 = "a".repeat(64);
    assert!(matches!(
        Domain::parse(label64.as_bytes(), false),
        Err(PathError::Syntax(_))
    ));
    for bad in [
        "", ".", ".a", "a.", "a..b", "-a", "a-", "a_b", "a b", "a.-b",
    ] {
        assert!(
            matches!(
                Domain::parse(bad.as_bytes(), false),
                Err(PathError::Syntax(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn limits_rfc5321_4_5_3_1() {
    // Local part: 64 octets (§4.5.3.1.1).
    let local64 = "l".repeat(limits::MAX_LOCAL_PART);
    let line = format!("MAIL FROM:<{local64}@example.com>");
    assert!(parse(&line).is_ok());
    let line = format!("MAIL FROM:<{local64}x@example.com>");
    assert_eq!(
        parse(&line),
        Err(CommandError::Path(PathError::LocalPartTooLong))
    );
    assert_eq!(reply(&line), LOCAL_PART_TOO_LONG);
    let quoted = format!("\"{}\"", "q".repeat(63));
    let line = format!("MAIL FROM:<{quoted}@example.com>");
    assert_eq!(
        parse(&line),
        Err(CommandError::Path(PathError::LocalPartTooLong))
    );

    // Domain: 255 octets (§4.5.3.1.2), in labels of at most 63.
    let domain = |len: usize| {
        let mut d = String::new();
        while len - d.len() > 51 {
            d.push_str(&"d".repeat(50));
            d.push('.');
        }
        d.push_str(&"d".repeat(len - d.len()));
        assert_eq!(d.len(), len);
        d
    };
    let d255 = domain(limits::MAX_DOMAIN);
    assert_eq!(d255.len(), 255);
    assert!(Domain::parse(d255.as_bytes(), false).is_ok());
    let d256 = domain(256);
    assert_eq!(
        Domain::parse(d256.as_bytes(), false),
        Err(PathError::DomainTooLong)
    );
    let line = format!("EHLO {d256}");
    assert_eq!(reply(&line), ARGS_501);
    let line = format!("RCPT TO:<a@{d256}>");
    assert_eq!(reply(&line), DOMAIN_TOO_LONG);

    // Path: 256 octets with the brackets (§4.5.3.1.3).
    let fits = format!("<{}@{}>", "l".repeat(64), domain(256 - 2 - 65));
    assert_eq!(fits.len(), limits::MAX_PATH);
    assert!(ForwardPath::parse(fits.as_bytes(), false).is_ok());
    let over = format!("<{}@{}>", "l".repeat(64), domain(256 - 2 - 64));
    assert_eq!(over.len(), limits::MAX_PATH + 1);
    assert_eq!(
        ForwardPath::parse(over.as_bytes(), false),
        Err(PathError::PathTooLong)
    );
    assert_eq!(
        ReversePath::parse(over.as_bytes(), false),
        Err(PathError::PathTooLong)
    );
    let line = format!("RCPT TO:{over}");
    assert_eq!(reply(&line), PATH_TOO_LONG);
    assert_eq!(PATH_TOO_LONG.to_string(), "501 5.1.3 Path too long");
    // A source route counts towards the path.
    let routed = format!("<@{}:a@b>", domain(250));
    assert_eq!(
        ForwardPath::parse(routed.as_bytes(), false),
        Err(PathError::PathTooLong)
    );
}

#[test]
fn utf8_addresses_rfc6531_3_3() {
    // Without SMTPUTF8: 553 5.6.7.
    for line in [
        "MAIL FROM:<jörg@example.com>",
        "MAIL FROM:<user@bücher.example>",
        "MAIL FROM:<\"jö rg\"@example.com>",
        "MAIL FROM:<user@example.com> X-NOTE=ü",
        "RCPT TO:<jörg@example.com>",
    ] {
        assert_eq!(reply(line), ErrorReply::NON_ASCII, "{line:?}");
        assert_eq!(
            reply(line).to_string(),
            "553 5.6.7 Non-ASCII address requires SMTPUTF8"
        );
    }
    // MAIL: SMTPUTF8 on the same line allows UTF-8 in its own path.
    let (from, params) = mail_from("MAIL FROM:<jörg@bücher.example> SMTPUTF8");
    assert!(params.smtputf8);
    assert_eq!(
        from,
        ReversePath::Mailbox(mailbox("jörg", name("bücher.example")))
    );
    let (from, _) = mail_from("MAIL FROM:<\"jö rg\"@例え.テスト> smtputf8");
    assert_eq!(from.mailbox().unwrap().local_part.value(), "jö rg");
    // RCPT: the context says whether MAIL carried SMTPUTF8.
    let (to, _) = rcpt_to("RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>", utf8());
    assert_eq!(
        to,
        ForwardPath::Mailbox(mailbox("δοκιμή", name("παράδειγμα.δοκιμή")))
    );
    // UTF-8 never makes bad grammar good.
    for line in [
        "RCPT TO:<a@-ü.example>",
        "RCPT TO:<a@ü-.example>",
        "RCPT TO:<ü..a@example>",
        "RCPT TO:<a@[ü:x]>",
    ] {
        assert_eq!(
            Command::parse(line.as_bytes(), utf8()).map_err(|e| e.reply()),
            Err(ADDR_501),
            "{line:?}"
        );
    }
    // The path-level API takes the flag directly.
    assert_eq!(
        Mailbox::parse("jörg@example.com".as_bytes(), false),
        Err(PathError::NonAscii)
    );
    assert!(Mailbox::parse("jörg@example.com".as_bytes(), true).is_ok());
    assert_eq!(
        Domain::parse("bücher.example".as_bytes(), false),
        Err(PathError::NonAscii)
    );
    assert_eq!(
        Domain::parse(b"b\xfccher.example", true),
        Err(PathError::InvalidUtf8)
    );
    assert_eq!(
        LocalPart::from_value("jörg", false),
        Err(PathError::NonAscii)
    );
    assert_eq!(
        LocalPart::from_value("jörg", true).unwrap().as_wire(),
        "jörg"
    );
}

#[test]
fn path_api_rfc5321_4_1_2() {
    assert_eq!(ReversePath::parse(b"<>", false), Ok(ReversePath::Null));
    assert_eq!(
        ForwardPath::parse(b"<>", false).map_err(|e| e.reply()),
        Err(ADDR_501)
    );
    assert_eq!(
        ForwardPath::parse(b"<PostMaster>", false),
        Ok(ForwardPath::Postmaster)
    );
    assert!(ReversePath::parse(b"<Postmaster>", false).is_err());
    assert!(ReversePath::parse(b"<a@b> ", false).is_err());
    assert!(ReversePath::parse(b"a@b", false).is_err());
    let mailbox = Mailbox::parse(b"\"a b\"@[IPv6:::1]", false).unwrap();
    assert_eq!(mailbox.to_string(), "\"a b\"@[IPv6:::1]");
    let mut out = Vec::new();
    ForwardPath::Mailbox(mailbox.clone()).encode(&mut out);
    assert_eq!(out, b"<\"a b\"@[IPv6:::1]>");
    assert_eq!(ForwardPath::Postmaster.to_string(), "<Postmaster>");
    assert_eq!(ReversePath::Null.to_string(), "<>");
    let owned: Mailbox<'static> = mailbox.clone().into_owned();
    assert_eq!(owned, mailbox);
    assert_eq!(
        LocalPart::from_value("has space", false).unwrap().as_wire(),
        "\"has space\""
    );
    assert_eq!(LocalPart::from_value("", false).unwrap().as_wire(), "\"\"");
    assert_eq!(
        LocalPart::from_value(".a", false).unwrap().as_wire(),
        "\".a\""
    );
    assert!(LocalPart::from_value("a\u{1}", false).is_err());
    assert_eq!(
        LocalPart::from_value(&"x".repeat(65), false),
        Err(PathError::LocalPartTooLong)
    );
}

// -------------------------------------------------------------- parameters

#[test]
fn mail_parameters_rfc5321_4_1_2() {
    let (_, p) = mail_from("MAIL FROM:<a@example.com> SIZE=12345");
    assert_eq!(p.size, Some(12345));
    assert!(p.unknown.is_empty());

    let (_, p) = mail_from(
        "MAIL FROM:<a@example.com> size=0 Body=BinaryMime SmtpUtf8 requireTLS RET=full ENVID=id+2B1 AUTH=<> X-A X-B=1 x-a=2",
    );
    assert_eq!(p.size, Some(0));
    assert_eq!(p.body, Some(Body::BinaryMime));
    assert!(p.smtputf8);
    assert!(p.requiretls);
    assert_eq!(p.ret, Some(Ret::Full));
    assert_eq!(p.envid.as_deref(), Some("id+1"));
    assert_eq!(p.auth.as_deref(), Some("<>"));
    assert_eq!(
        p.unknown,
        vec![
            Parameter {
                keyword: "X-A".into(),
                value: None
            },
            Parameter {
                keyword: "X-B".into(),
                value: Some("1".into())
            },
            Parameter {
                keyword: "x-a".into(),
                value: Some("2".into())
            },
        ]
    );

    let table: &[(&str, Body)] = &[
        ("BODY=7BIT", Body::SevenBit),
        ("BODY=8bitmime", Body::EightBitMime),
        ("BODY=BINARYMIME", Body::BinaryMime),
    ];
    for &(param, body) in table {
        let line = format!("MAIL FROM:<> {param}");
        assert_eq!(mail_from(&line).1.body, Some(body), "{param}");
    }
    // RFC 1870 §3: up to 20 digits; past u64::MAX reads as u64::MAX.
    assert_eq!(
        mail_from("MAIL FROM:<> SIZE=99999999999999999999").1.size,
        Some(u64::MAX)
    );
    // RFC 4954 §5: AUTH=xtext.
    assert_eq!(
        mail_from("MAIL FROM:<> AUTH=e+3Dmc2@example.com")
            .1
            .auth
            .as_deref(),
        Some("e=mc2@example.com")
    );
    // Unknown parameters are kept, not refused, at this layer.
    let (_, p) = mail_from("MAIL FROM:<> MT-PRIORITY=3 HOLDFOR=60");
    assert_eq!(p.unknown.len(), 2);
    assert_eq!(p.unknown[0].keyword, "MT-PRIORITY");
    assert_eq!(p.unknown[1].value.as_deref(), Some("60"));
}

#[test]
fn bad_mail_parameters_rfc5321_4_1_2() {
    let table: &[(&str, ParamError)] = &[
        ("SIZE", ParamError::MissingValue("SIZE")),
        ("SIZE=", ParamError::Syntax("empty parameter value")),
        ("SIZE=12a", ParamError::InvalidValue("SIZE")),
        ("SIZE=-1", ParamError::InvalidValue("SIZE")),
        (
            "SIZE=123456789012345678901",
            ParamError::InvalidValue("SIZE"),
        ),
        ("SIZE=1 SIZE=2", ParamError::Repeated("SIZE")),
        ("BODY=9BIT", ParamError::InvalidValue("BODY")),
        ("BODY=8BITMIME body=7bit", ParamError::Repeated("BODY")),
        ("SMTPUTF8=yes", ParamError::UnexpectedValue("SMTPUTF8")),
        ("SMTPUTF8 SMTPUTF8", ParamError::Repeated("SMTPUTF8")),
        // RFC 8689 §4: REQUIRETLS takes no value.
        ("REQUIRETLS=YES", ParamError::UnexpectedValue("REQUIRETLS")),
        ("REQUIRETLS REQUIRETLS", ParamError::Repeated("REQUIRETLS")),
        ("RET=ALL", ParamError::InvalidValue("RET")),
        ("RET", ParamError::MissingValue("RET")),
        ("RET=FULL RET=HDRS", ParamError::Repeated("RET")),
        (
            "ENVID=a+2",
            ParamError::Xtext {
                keyword: "ENVID",
                error: XtextError::BadHexchar,
            },
        ),
        // RFC 3461 §4.4: ENVID is printable ASCII.
        ("ENVID=a+00b", ParamError::InvalidValue("ENVID")),
        (
            "AUTH=+FF",
            ParamError::Xtext {
                keyword: "AUTH",
                error: XtextError::NotUtf8,
            },
        ),
        (
            "-X=1",
            ParamError::Syntax("keyword must start with a letter or digit"),
        ),
        ("X_Y=1", ParamError::Syntax("bad character in keyword")),
        ("X=a=b", ParamError::Syntax("'=' in parameter value")),
        (
            "X=a\u{7f}",
            ParamError::Syntax("control character in parameter"),
        ),
        (
            "X=\u{1}",
            ParamError::Syntax("control character in parameter"),
        ),
    ];
    for &(param, ref want) in table {
        let line = format!("MAIL FROM:<a@example.com> {param}");
        assert_eq!(
            parse(&line),
            Err(CommandError::Parameter(*want)),
            "{line:?}"
        );
        assert_eq!(reply(&line), ARGS_501, "{line:?}");
        assert_eq!(
            MailParameters::parse(param.as_bytes()),
            Err(*want),
            "{param:?}"
        );
    }
}

#[test]
fn keyword_and_value_matching_rfc5321_4_1_2() {
    // Known keywords and values match case-insensitively wherever they sit
    // on the line (mid-line, or at its very end with few octets left).
    let (_, p) = mail_from("MAIL FROM:<> sIzE=1 body=7bit");
    assert_eq!((p.size, p.body), (Some(1), Some(Body::SevenBit)));
    let (_, p) = mail_from("MAIL FROM:<> BODY=binarymime SIZE=2");
    assert_eq!((p.size, p.body), (Some(2), Some(Body::BinaryMime)));
    let (_, p) = mail_from("MAIL FROM:<> RET=hdrs");
    assert_eq!(p.ret, Some(Ret::Hdrs));
    let (_, p) = mail_from("MAIL FROM:<> requiretls SMTPUTF8");
    assert!(p.requiretls && p.smtputf8);
    let (_, p) = rcpt_to("RCPT TO:<a@b> NOTIFY=failure,delay X=1", ascii());
    assert_eq!(p.notify, Some(Notify::FAILURE | Notify::DELAY));
    // Near misses are other keywords (kept) or bad values (refused).
    let (_, p) = mail_from(
        "MAIL FROM:<> SIZ=1 SIZEX=2 REQUIRETLSX SMTPUTF SMTPUTF8X ABCDEFGHIJKLMNOPQ=3 SIZE-=4",
    );
    assert!(p.size.is_none() && !p.requiretls && !p.smtputf8);
    let kept: Vec<&str> = p.unknown.iter().map(|u| u.keyword.as_ref()).collect();
    assert_eq!(
        kept,
        [
            "SIZ",
            "SIZEX",
            "REQUIRETLSX",
            "SMTPUTF",
            "SMTPUTF8X",
            "ABCDEFGHIJKLMNOPQ",
            "SIZE-"
        ]
    );
    for (param, keyword) in [
        ("BODY=8BITMIM", "BODY"),
        ("BODY=8BITMIMEX", "BODY"),
        ("BODY=8bit", "BODY"),
        ("BODY=7BIT8", "BODY"),
        ("RET=FUL", "RET"),
        ("RET=FULLHDRS", "RET"),
    ] {
        assert_eq!(
            MailParameters::parse(param.as_bytes()),
            Err(ParamError::InvalidValue(keyword)),
            "{param}"
        );
        let mid = format!("{param} X=1");
        assert_eq!(
            MailParameters::parse(mid.as_bytes()),
            Err(ParamError::InvalidValue(keyword)),
            "{mid}"
        );
    }
    for value in ["SUCCES", "SUCCESSS", "FAILURE,DELAYS", "NEVERX"] {
        for tail in ["", " X=1"] {
            let params = format!("NOTIFY={value}{tail}");
            assert_eq!(
                RcptParameters::parse(params.as_bytes()),
                Err(ParamError::InvalidValue("NOTIFY")),
                "{params}"
            );
        }
    }
}

#[test]
fn parameter_count_limit() {
    let fits = vec!["X=1"; limits::MAX_PARAMETERS].join(" ");
    assert_eq!(
        MailParameters::parse(fits.as_bytes()).map(|p| p.unknown.len()),
        Ok(limits::MAX_PARAMETERS)
    );
    let over = vec!["X=1"; limits::MAX_PARAMETERS + 1].join(" ");
    assert_eq!(
        MailParameters::parse(over.as_bytes()),
        Err(ParamError::TooMany)
    );
    assert_eq!(
        RcptParameters::parse(over.as_bytes()),
        Err(ParamError::TooMany)
    );
}

#[test]
fn notify_rfc3461_4_1() {
    let table: &[(&str, Notify)] = &[
        ("NEVER", Notify::NEVER),
        ("never", Notify::NEVER),
        ("SUCCESS", Notify::SUCCESS),
        ("FAILURE", Notify::FAILURE),
        ("DELAY", Notify::DELAY),
        ("SUCCESS,FAILURE", Notify::SUCCESS | Notify::FAILURE),
        ("FAILURE,DELAY", Notify::FAILURE | Notify::DELAY),
        ("delay,success", Notify::SUCCESS | Notify::DELAY),
        (
            "SUCCESS,FAILURE,DELAY",
            Notify::SUCCESS | Notify::FAILURE | Notify::DELAY,
        ),
        (
            "DELAY,FAILURE,SUCCESS",
            Notify::SUCCESS | Notify::FAILURE | Notify::DELAY,
        ),
    ];
    for &(value, want) in table {
        let line = format!("RCPT TO:<a@example.com> NOTIFY={value}");
        assert_eq!(rcpt_to(&line, ascii()).1.notify, Some(want), "{value}");
    }
    let n = Notify::SUCCESS | Notify::DELAY;
    assert!(n.success() && n.delay() && !n.failure() && !n.is_never());
    assert!(Notify::NEVER.is_never());
    assert_eq!(n.to_string(), "SUCCESS,DELAY");
    assert_eq!(Notify::NEVER.to_string(), "NEVER");
    for value in [
        "NEVER,SUCCESS",
        "SUCCESS,NEVER",
        "SUCCESS,SUCCESS",
        "SUCCESS,",
        ",SUCCESS",
        "SUCCESS,,DELAY",
        "SOMETIMES",
        "SUCCESS;DELAY",
    ] {
        let line = format!("RCPT TO:<a@example.com> NOTIFY={value}");
        assert_eq!(
            Command::parse(line.as_bytes(), ascii()),
            Err(CommandError::Parameter(ParamError::InvalidValue("NOTIFY"))),
            "{value}"
        );
    }
    assert_eq!(
        RcptParameters::parse(b"NOTIFY=NEVER NOTIFY=NEVER"),
        Err(ParamError::Repeated("NOTIFY"))
    );
    assert_eq!(
        RcptParameters::parse(b"NOTIFY"),
        Err(ParamError::MissingValue("NOTIFY"))
    );
}

#[test]
fn orcpt_rfc3461_4_2() {
    let (_, p) = rcpt_to(
        "RCPT TO:<a@example.com> ORCPT=rfc822;Joe+20Q+2E+20Public+40example.com NOTIFY=FAILURE X-Z",
        ascii(),
    );
    assert_eq!(
        p.orcpt,
        Some(Orcpt {
            addr_type: "rfc822".into(),
            address: "Joe Q. Public@example.com".into()
        })
    );
    assert_eq!(p.notify, Some(Notify::FAILURE));
    assert_eq!(
        p.unknown,
        vec![Parameter {
            keyword: "X-Z".into(),
            value: None
        }]
    );
    // SIZE means nothing on RCPT: kept as unknown.
    let (_, p) = rcpt_to("RCPT TO:<a@example.com> SIZE=1", ascii());
    assert_eq!(p.unknown[0].keyword, "SIZE");
    for value in [
        "rfc822",
        ";a@b",
        "rfc822;",
        "rfc 822;a",
        "rfc822;a+4",
        "r(fc;a",
    ] {
        let params = format!("ORCPT={value}");
        assert!(RcptParameters::parse(params.as_bytes()).is_err(), "{value}");
    }
    assert_eq!(
        RcptParameters::parse(b"ORCPT=rfc822;a@b ORCPT=rfc822;c@d"),
        Err(ParamError::Repeated("ORCPT"))
    );
}

#[test]
fn xtext_rfc3461_4() {
    let table: &[(&str, &str)] = &[
        ("", ""),
        ("plain", "plain"),
        ("a+2Bb", "a+b"),
        ("a+3Db", "a=b"),
        ("+20", " "),
        ("+2b+3d", "+="),
        ("caf+C3+A9", "café"),
    ];
    for &(xtext, value) in table {
        assert_eq!(xtext_decode(xtext).as_deref(), Ok(value), "{xtext}");
    }
    assert!(matches!(xtext_decode("plain"), Ok(Cow::Borrowed(_))));
    assert_eq!(xtext_encode("a+b=c d\u{7f}"), "a+2Bb+3Dc+20d+7F");
    assert!(matches!(xtext_encode("!~"), Cow::Borrowed("!~")));
    for bad in ["+", "+4", "+4G", "a=b", "a b", "\u{e9}"] {
        assert!(xtext_decode(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn parameters_do_not_allocate_in_the_common_case() {
    let line = b"MAIL FROM:<sender@example.com> SIZE=123 BODY=8BITMIME";
    let Ok(Command::Mail { from, params }) = Command::parse(line, ascii()) else {
        panic!("MAIL did not parse");
    };
    assert_eq!(params.unknown.capacity(), 0);
    let mailbox = from.mailbox().unwrap();
    assert!(matches!(mailbox.domain, Domain::Name(Cow::Borrowed(_))));
    let mut wire = Vec::new();
    mailbox.local_part.encode(&mut wire);
    assert_eq!(wire, b"sender");
}

#[test]
fn into_owned_keeps_the_value() {
    let lines = [
        "MAIL FROM:<\"q\\\"x\"@[tag:v]> SIZE=1 ENVID=a+20b AUTH=x X-Q=1",
        "RCPT TO:<u@example.com> NOTIFY=NEVER ORCPT=rfc822;u@example.com X",
        "EHLO example.com",
        "VRFY x y",
        "HELP me",
        "NOOP n",
        "EXPN l",
        "AUTH X-MINE abc=",
    ];
    for line in lines {
        let command = parse(line).unwrap();
        let owned: Command<'static> = command.clone().into_owned();
        assert_eq!(owned, command, "{line:?}");
    }
}

// -------------------------------------------------------------- properties

fn is_known_mail_keyword(k: &str) -> bool {
    [
        "SIZE",
        "BODY",
        "SMTPUTF8",
        "REQUIRETLS",
        "RET",
        "ENVID",
        "AUTH",
    ]
    .iter()
    .any(|known| k.eq_ignore_ascii_case(known))
}

fn is_known_rcpt_keyword(k: &str) -> bool {
    ["NOTIFY", "ORCPT"]
        .iter()
        .any(|known| k.eq_ignore_ascii_case(known))
}

fn ldh_label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?"
}

fn u_label() -> impl Strategy<Value = String> {
    "[a-z0-9\u{e0}-\u{ff}\u{3b1}-\u{3c9}\u{4e00}-\u{4e20}]{1,6}"
}

fn domain_name(utf8: bool) -> BoxedStrategy<Domain<'static>> {
    let label = if utf8 {
        prop_oneof![ldh_label(), u_label()].boxed()
    } else {
        ldh_label().boxed()
    };
    prop::collection::vec(label, 1..4)
        .prop_map(|labels| Domain::Name(Cow::Owned(labels.join("."))))
        .boxed()
}

fn domain(utf8: bool) -> impl Strategy<Value = Domain<'static>> {
    prop_oneof![
        4 => domain_name(utf8),
        1 => any::<[u8; 4]>().prop_map(|o| Domain::Ip(IpAddr::V4(Ipv4Addr::from(o)))),
        1 => any::<[u16; 8]>().prop_map(|s| Domain::Ip(IpAddr::V6(Ipv6Addr::from(s)))),
        1 => ("[a-zA-Z0-9]([a-zA-Z0-9-]{0,5}[a-zA-Z0-9])?", "[!-Z^-~]{1,12}")
            .prop_filter("tag IPv6 is not general", |(tag, _)| !tag.eq_ignore_ascii_case("IPv6"))
            .prop_map(|(tag, content)| Domain::General(Cow::Owned(format!("{tag}:{content}")))),
    ]
}

fn local_part(utf8: bool) -> BoxedStrategy<LocalPart<'static>> {
    let dot_string =
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}(\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}){0,2}";
    let quoted_value = if utf8 {
        "[ -~\u{e0}-\u{ff}]{0,20}"
    } else {
        "[ -~]{0,20}"
    };
    prop_oneof![
        dot_string.prop_map(move |s| LocalPart::from_value(&s, false).unwrap()),
        quoted_value.prop_map(move |s| LocalPart::from_value(&s, utf8).unwrap()),
    ]
    .boxed()
}

fn mailbox_strategy(utf8: bool) -> impl Strategy<Value = Mailbox<'static>> {
    (local_part(utf8), domain(utf8)).prop_map(|(local_part, domain)| Mailbox { local_part, domain })
}

fn short_text() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,20}[!-~])?"
}

fn esmtp_value() -> impl Strategy<Value = String> {
    "[!-<>-~]{1,12}"
}

fn unknown_params(known: fn(&str) -> bool) -> impl Strategy<Value = Vec<Parameter<'static>>> {
    prop::collection::vec(
        (
            "[a-zA-Z0-9][a-zA-Z0-9-]{0,9}",
            prop::option::of(esmtp_value()),
        )
            .prop_filter("not a known keyword", move |(k, _)| !known(k))
            .prop_map(|(keyword, value)| Parameter {
                keyword: Cow::Owned(keyword),
                value: value.map(Cow::Owned),
            }),
        0..4,
    )
}

fn mail_params() -> impl Strategy<Value = MailParameters<'static>> {
    (
        prop::option::of(any::<u64>()),
        prop::option::of(prop_oneof![
            Just(Body::SevenBit),
            Just(Body::EightBitMime),
            Just(Body::BinaryMime)
        ]),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop_oneof![Just(Ret::Full), Just(Ret::Hdrs)]),
        prop::option::of("[ -~]{1,20}"),
        prop::option::of(".{1,12}"),
        unknown_params(is_known_mail_keyword),
    )
        .prop_map(
            |(size, body, smtputf8, requiretls, ret, envid, auth, unknown)| MailParameters {
                size,
                body,
                smtputf8,
                requiretls,
                ret,
                envid: envid.map(Cow::Owned),
                auth: auth.map(Cow::Owned),
                unknown,
            },
        )
}

fn notify() -> impl Strategy<Value = Notify> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(s, f, d)| {
        let mut n = Notify::NEVER;
        for (on, bit) in [
            (s, Notify::SUCCESS),
            (f, Notify::FAILURE),
            (d, Notify::DELAY),
        ] {
            if on {
                n = n | bit;
            }
        }
        n
    })
}

fn rcpt_params() -> impl Strategy<Value = RcptParameters<'static>> {
    (
        prop::option::of(notify()),
        prop::option::of(("[a-zA-Z0-9-]{1,8}", ".{1,20}")),
        unknown_params(is_known_rcpt_keyword),
    )
        .prop_map(|(notify, orcpt, unknown)| RcptParameters {
            notify,
            orcpt: orcpt.map(|(addr_type, address)| Orcpt {
                addr_type: Cow::Owned(addr_type),
                address: Cow::Owned(address),
            }),
            unknown,
        })
}

fn mechanism() -> impl Strategy<Value = AuthMechanism<'static>> {
    prop_oneof![
        Just(AuthMechanism::Plain),
        Just(AuthMechanism::Login),
        Just(AuthMechanism::CramMd5),
        Just(AuthMechanism::ScramSha1),
        Just(AuthMechanism::ScramSha256),
        Just(AuthMechanism::External),
        Just(AuthMechanism::XOAuth2),
        Just(AuthMechanism::OAuthBearer),
        "[A-Za-z0-9_-]{1,20}"
            .prop_filter("not a known name", |name| {
                !matches!(AuthMechanism::parse(name), Some(m) if !matches!(m, AuthMechanism::Other(_)))
            })
            .prop_map(|name| AuthMechanism::Other(Cow::Owned(name))),
    ]
}

fn command() -> impl Strategy<Value = Command<'static>> {
    prop_oneof![
        domain(false).prop_map(Command::Ehlo),
        domain(false).prop_map(Command::Helo),
        (
            prop_oneof![
                1 => Just(ReversePath::Null),
                4 => mailbox_strategy(false).prop_map(ReversePath::Mailbox),
            ],
            mail_params()
        )
            .prop_map(|(from, params)| Command::Mail { from, params }),
        // UTF-8 in MAIL goes with SMTPUTF8 on the same line.
        (mailbox_strategy(true), mail_params()).prop_map(|(mailbox, mut params)| {
            params.smtputf8 = true;
            Command::Mail {
                from: ReversePath::Mailbox(mailbox),
                params,
            }
        }),
        (
            prop_oneof![
                1 => Just(ForwardPath::Postmaster),
                4 => mailbox_strategy(true).prop_map(ForwardPath::Mailbox),
            ],
            rcpt_params()
        )
            .prop_map(|(to, params)| Command::Rcpt { to, params }),
        Just(Command::Data),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Rset),
        prop::option::of(short_text()).prop_map(|s| Command::Noop(s.map(Cow::Owned))),
        Just(Command::Quit),
        short_text().prop_map(|s| Command::Vrfy(Cow::Owned(s))),
        short_text().prop_map(|s| Command::Expn(Cow::Owned(s))),
        prop::option::of(short_text()).prop_map(|s| Command::Help(s.map(Cow::Owned))),
        Just(Command::StartTls),
        (mechanism(), prop::option::of("[A-Za-z0-9+/]{0,40}={0,2}|="))
            .prop_filter("a response is not empty", |(_, r)| r.as_deref() != Some(""))
            .prop_map(|(mechanism, initial_response)| Command::Auth {
                mechanism,
                initial_response: initial_response.map(Cow::Owned),
            }),
    ]
}

/// Lines that start like commands, to reach deep into the parsers.
fn command_like_line() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        Just(&b"MAIL FROM:<"[..]),
        Just(&b"RCPT TO:<"[..]),
        Just(&b"MAIL FROM:<a@b> "[..]),
        Just(&b"RCPT TO:<a@b> "[..]),
        Just(&b"EHLO "[..]),
        Just(&b"EHLO ["[..]),
        Just(&b"BDAT "[..]),
        Just(&b"AUTH "[..]),
        Just(&b"STARTTLS"[..]),
        Just(&b"NOOP "[..]),
        Just(&b""[..]),
    ];
    let tail = prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"<>@.:,;[]\"\\ =+-aZ09IPv6\xc3\xa9\xff\x00\x7f".to_vec()),
            1 => any::<u8>(),
        ],
        0..80,
    );
    (head, tail).prop_map(|(head, tail)| [head, &tail[..]].concat())
}

proptest! {
    #![proptest_config(proptest_common::config(2000))]

    /// parse(encode(x)) == x for every command (RFC 5321 §4.1).
    #[test]
    fn encode_then_parse_is_identity(command in command()) {
        let mut wire = Vec::new();
        command.encode(&mut wire);
        prop_assert!(wire.ends_with(b"\r\n"));
        let line = &wire[..wire.len() - 2];
        prop_assert!(!line.contains(&b'\r') && !line.contains(&b'\n'));
        let parsed = Command::parse(line, utf8());
        prop_assert_eq!(parsed.as_ref(), Ok(&command), "{}", String::from_utf8_lossy(line));
        prop_assert_eq!(parsed.map(Command::into_owned), Ok(command.clone()));
    }

    /// xtext decoding undoes encoding (RFC 3461 §4).
    #[test]
    fn xtext_round_trip(value in ".{0,30}") {
        let encoded = xtext_encode(&value);
        prop_assert!(encoded.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
        let decoded = xtext_decode(&encoded);
        prop_assert_eq!(decoded.as_deref(), Ok(value.as_str()));
    }

    /// A parsed local part's value maps back to a local part of the same value.
    #[test]
    fn local_part_value_round_trip(value in "[ -~]{0,40}") {
        let local = LocalPart::from_value(&value, false).unwrap();
        prop_assert_eq!(local.value(), value.as_str());
        let wire = local.as_wire().to_owned();
        let again = LocalPart::parse(wire.as_bytes(), false).unwrap();
        prop_assert_eq!(&again, &local);
    }

    /// Parsing never panics, and whatever parses encodes to a line that
    /// parses to the same command.
    #[test]
    fn parse_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_reparse(&bytes)?;
    }

    #[test]
    fn parse_command_like_lines(bytes in command_like_line()) {
        check_reparse(&bytes)?;
    }

    /// The path and parameter parsers alone never panic.
    #[test]
    fn path_and_param_parsers_total(bytes in prop::collection::vec(any::<u8>(), 0..120), utf8 in any::<bool>()) {
        let _ = ReversePath::parse(&bytes, utf8);
        let _ = ForwardPath::parse(&bytes, utf8);
        let _ = Mailbox::parse(&bytes, utf8);
        let _ = Domain::parse(&bytes, utf8);
        let _ = LocalPart::parse(&bytes, utf8);
        let _ = MailParameters::parse(&bytes);
        let _ = RcptParameters::parse(&bytes);
    }
}

fn check_reparse(bytes: &[u8]) -> Result<(), TestCaseError> {
    for ctx in [ascii(), utf8()] {
        match Command::parse(bytes, ctx) {
            Ok(command) => {
                let mut wire = Vec::new();
                command.encode(&mut wire);
                let line = &wire[..wire.len() - 2];
                prop_assert_eq!(Command::parse(line, ctx), Ok(command));
            }
            Err(error) => {
                let code = error.reply().code.get();
                prop_assert!(matches!(code, 500 | 501 | 553), "{}", code);
            }
        }
    }
    Ok(())
}
