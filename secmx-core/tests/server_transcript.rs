//! `ServerSession` transcripts in clear text: bytes in, exact bytes out,
//! every scenario delivered whole, in random chunks and byte by byte.

mod server_common;

use std::time::Duration;

use secmx_core::server::{
    AbortReason, AnswerError, CloseReason, Decision, MAX_INPUT_BUFFER, ServerConfig, ServerError,
    ServerEvent, ServerMode, ServerSession,
};
use secmx_core::{ErrorReply, ReplyCode, Verb};
use server_common::Step::{Client, Eof, Server, Wait};
use server_common::*;

fn reject_bad_rcpt(event: &ServerEvent) -> Answer {
    match event {
        ServerEvent::RcptTo { to, .. } if to.to_string().contains("bad") => {
            Answer::Reject(secmx_core::Reply::new(
                ReplyCode::MAILBOX_UNAVAILABLE,
                secmx_core::EnhancedCode::new(5, 1, 1),
                "User unknown",
            ))
        }
        _ => Answer::Accept,
    }
}

// ---------------------------------------------------------------------------
// Greeting, EHLO, HELO (RFC 5321 §4.1.1.1, §4.3.1)

#[test]
fn greeting_ehlo_helo_quit_rfc5321_4_1_1_1() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(EHLO_PLAIN),
            Client(b"HELO client.example\r\n"),
            Server(b"250 mx.example.test\r\n"),
            Client(b"NOOP\r\nHELP\r\nRSET\r\nVRFY postmaster\r\nQUIT\r\n"),
            Server(
                b"250 2.0.0 Ok\r\n214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS\r\n\
250 2.0.0 Ok\r\n252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n\
221 2.0.0 Bye\r\n",
            ),
        ],
    );
    let run = &runs[0];
    assert!(matches!(
        &run.events[0],
        ServerEvent::Helo { extended: true, name } if name.to_string() == "client.example"
    ));
    assert!(matches!(
        &run.events[1],
        ServerEvent::Helo {
            extended: false,
            ..
        }
    ));
    assert_eq!(run.closed(), Some(&CloseReason::Quit));
    assert!(run.session.is_closed());
    assert_eq!(run.session.poll_timeout(), None);
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn ehlo_announces_starttls_only_with_a_certificate_rfc3207_4() {
    transcript(
        ber_tls,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(EHLO_STARTTLS),
        ],
    );
}

#[test]
fn extensions_can_be_switched_off_rfc2034_3() {
    let config = || {
        let mut config = ber_plain();
        config.extensions.enhanced_status_codes = false;
        config.extensions.chunking = false;
        config.extensions.dsn = false;
        config.extensions.smtputf8 = false;
        config.max_message_size = None;
        config
    };
    transcript(
        config,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE\r\n250 8BITMIME\r\n"),
            // Without ENHANCEDSTATUSCODES, no enhanced codes.
            Client(b"MAIL FROM:<a@example.org>\r\nMAIL FROM:<b@example.org>\r\n"),
            Server(b"250 Ok\r\n503 Error: nested MAIL command\r\n"),
            // Parameters of extensions not announced: 555 (RFC 5321 §4.1.1.11).
            Client(b"RSET\r\nMAIL FROM:<a@example.org> SMTPUTF8\r\nMAIL FROM:<a@example.org> RET=HDRS\r\n"),
            Server(b"250 Ok\r\n555 Error: parameter not supported\r\n555 Error: parameter not supported\r\n"),
            // BDAT without CHUNKING: the chunk is read and dropped, never run.
            Client(b"BDAT 6 LAST\r\nQUIT\r\n"),
            Server(b"502 Error: command not implemented\r\n"),
        ],
    );
}

// ---------------------------------------------------------------------------
// A whole transaction (RFC 5321 §3.3)

#[test]
fn transaction_with_data_rfc5321_3_3() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(EHLO_PLAIN),
            Client(b"MAIL FROM:<alice@example.org> BODY=8BITMIME SIZE=40\r\n"),
            Server(MAIL_OK),
            Client(b"RCPT TO:<bob@example.test>\r\n"),
            Server(RCPT_OK),
            Client(b"RCPT TO:<carol@example.test> NOTIFY=FAILURE\r\n"),
            Server(RCPT_OK),
            Client(b"DATA\r\n"),
            Server(GO_AHEAD),
            Client(b"Subject: test\r\n\r\n..leading dot\r\nend\r\n.\r\n"),
            Server(QUEUED),
            Client(b"QUIT\r\n"),
            Server(BYE),
        ],
    );
    for run in &runs {
        assert_eq!(
            run.bodies(),
            [b"Subject: test\r\n\r\n.leading dot\r\nend\r\n".to_vec()]
        );
        let complete = run
            .events
            .iter()
            .find_map(|event| match event {
                ServerEvent::MessageComplete { envelope, report } => Some((envelope, report)),
                _ => None,
            })
            .expect("message complete");
        let (envelope, report) = complete;
        assert_eq!(envelope.from.to_string(), "<alice@example.org>");
        assert_eq!(envelope.params.size, Some(40));
        assert_eq!(envelope.recipients.len(), 2);
        assert_eq!(
            envelope.recipients[1].to.to_string(),
            "<carol@example.test>"
        );
        assert!(envelope.recipients[1].params.notify.is_some());
        assert_eq!(envelope.helo.to_string(), "client.example");
        assert!(envelope.extended && !envelope.tls && !envelope.bdat);
        assert_eq!(report.size, 36);
        assert_eq!(
            run.count(|e| matches!(e, ServerEvent::DataStart { bdat: false })),
            1
        );
        assert_eq!(
            run.count(|e| matches!(e, ServerEvent::MessageAborted { .. })),
            0
        );
    }
}

#[test]
fn pipelined_group_is_answered_in_order_rfc2920_3_1() {
    let runs = transcript(
        ber_plain,
        reject_bad_rcpt,
        &[
            Server(GREETING),
            Client(b"EHLO client.example\r\n"),
            Server(EHLO_PLAIN),
            Client(
                b"MAIL FROM:<a@example.org>\r\nRCPT TO:<bad@example.test>\r\n\
RCPT TO:<good@example.test>\r\nRCPT TO:<also-bad@example.test>\r\nNOOP\r\nDATA\r\n",
            ),
            Server(
                b"250 2.1.0 Ok\r\n550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n\
250 2.0.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            Client(b"hi\r\n.\r\nMAIL FROM:<c@example.org>\r\nRCPT TO:<bad@example.test>\r\nDATA\r\n"),
            Server(
                b"250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n550 5.1.1 User unknown\r\n\
554 5.5.1 Error: no valid recipients\r\n",
            ),
            Client(b"RSET\r\nQUIT\r\n"),
            Server(b"250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"),
        ],
    );
    let run = &runs[0];
    let complete = run
        .events
        .iter()
        .find_map(|event| match event {
            ServerEvent::MessageComplete { envelope, .. } => Some(envelope),
            _ => None,
        })
        .expect("first message");
    assert_eq!(complete.recipients.len(), 1);
    // The second transaction ended without a message.
    assert!(run.events.contains(&ServerEvent::MessageAborted {
        reason: AbortReason::Reset
    }));
}

#[test]
fn a_decision_blocks_later_commands_until_answered_rfc2920_3_1() {
    // The application answers later: nothing after MAIL is read meanwhile.
    let mut harness = Harness::new(ber_plain(), Delivery::Whole, wait_all);
    harness.take_output();
    harness.send(b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    assert_eq!(show(&harness.take_output()), show(EHLO_PLAIN));
    assert_eq!(harness.session.pending_decision(), Some(Decision::Mail));
    // Out-of-turn misuse is typed and changes nothing.
    assert_eq!(
        harness
            .session
            .accept_with(harness.now, ErrorReply::TOO_BIG),
        Err(AnswerError::WrongClass(552))
    );
    let ok = secmx_core::Reply::new(ReplyCode::OK, None, "fine");
    assert_eq!(
        harness.session.reject(harness.now, ok.clone()),
        Err(AnswerError::WrongClass(250))
    );
    harness
        .session
        .accept_with(harness.now, ok)
        .expect("pending");
    harness.drain();
    assert_eq!(harness.session.pending_decision(), Some(Decision::Rcpt));
    assert_eq!(show(&harness.take_output()), "250 fine\r\n");
    harness
        .session
        .reject(harness.now, ErrorReply::BAD_ADDRESS)
        .expect("pending");
    harness.drain();
    assert_eq!(
        show(&harness.take_output()),
        "501 5.1.3 Bad address syntax\r\n"
    );
    assert_eq!(harness.session.pending_decision(), None);
    assert_eq!(
        harness.session.accept(harness.now),
        Err(AnswerError::NothingPending)
    );
    // No timer runs while the application decides.
    harness.send(b"RCPT TO:<c@example.test>\r\n");
    assert_eq!(harness.session.poll_timeout(), None);
    harness.session.accept(harness.now).expect("pending");
    assert!(harness.session.poll_timeout().is_some());
}

// ---------------------------------------------------------------------------
// Sequence errors (RFC 5321 §4.1.4)

#[test]
fn bad_sequences_get_503_rfc5321_4_1_4() {
    transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"MAIL FROM:<a@example.org>\r\n"),
            Server(b"503 5.5.1 Error: send HELO/EHLO first\r\n"),
            Client(b"HELO c.example\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"),
            Server(
                b"250 mx.example.test\r\n503 5.5.1 Error: need MAIL command\r\n\
503 5.5.1 Error: need MAIL command\r\n",
            ),
            Client(b"MAIL FROM:<a@example.org>\r\nDATA\r\nMAIL FROM:<a@example.org>\r\n"),
            Server(
                b"250 2.1.0 Ok\r\n503 5.5.1 Error: need RCPT command\r\n\
503 5.5.1 Error: nested MAIL command\r\n",
            ),
            // ESMTP parameters after HELO (not EHLO) were never announced.
            Client(b"RSET\r\nMAIL FROM:<a@example.org> SIZE=10\r\n"),
            Server(b"250 2.0.0 Ok\r\n555 5.5.4 Error: parameter not supported\r\n"),
            Client(b"FOO bar\r\nMAIL FROM:a@example.org\r\nSTARTTLS\r\n"),
            Server(
                b"500 5.5.2 Syntax error, command unrecognized\r\n501 5.1.3 Bad address syntax\r\n\
454 4.7.0 TLS not available due to local problem\r\n",
            ),
        ],
    );
}

#[test]
fn too_many_errors_close_with_421() {
    let config = || {
        let mut config = ber_plain();
        config.max_errors = 3;
        config
    };
    let runs = transcript(
        config,
        accept_all,
        &[
            Server(GREETING),
            Client(b"X\r\nY\r\nZ\r\nNOOP\r\n"),
            Server(
                b"500 5.5.2 Syntax error, command unrecognized\r\n\
500 5.5.2 Syntax error, command unrecognized\r\n\
500 5.5.2 Syntax error, command unrecognized\r\n\
421 4.7.0 mx.example.test Error: too many errors\r\n",
            ),
        ],
    );
    assert_eq!(runs[0].closed(), Some(&CloseReason::TooManyErrors));
}

// ---------------------------------------------------------------------------
// Line framing (RFC 5321 §2.3.8, §4.5.3.1.4)

#[test]
fn bare_lf_and_bare_cr_get_500_5_5_2_rfc5321_2_3_8() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\n"),
            Server(EHLO_PLAIN),
            // The whole bad line is dropped up to its CRLF: the RCPT hidden
            // behind the bare LF never runs.
            Client(b"MAIL FROM:<a@example.org>\nRCPT TO:<b@example.test>\r\n"),
            Server(b"500 5.5.2 Bare CR or LF not allowed\r\n"),
            Client(b"NOOP\rRSET\r\n"),
            Server(b"500 5.5.2 Bare CR or LF not allowed\r\n"),
            Client(b"NOOP\r\n"),
            Server(b"250 2.0.0 Ok\r\n"),
        ],
    );
    assert_eq!(
        runs[0].count(|e| matches!(e, ServerEvent::MailFrom { .. })),
        0
    );
    assert_eq!(runs[0].refused_codes(), [500, 500]);
}

#[test]
fn over_long_command_line_gets_500_rfc5321_4_5_3_1_4() {
    let mut long = b"NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 600));
    long.extend_from_slice(b"\r\nNOOP\r\n");
    transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(&long),
            Server(b"500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n"),
        ],
    );
}

// ---------------------------------------------------------------------------
// SOR and BER (SecMX design; RFC 3207 §4)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn sor_refuses_every_transaction_command_before_tls_rfc3207_4() {
    let runs = transcript(
        sor,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\n"),
            Server(EHLO_STARTTLS),
            Client(b"MAIL FROM:<a@example.org>\r\n"),
            Server(MUST_STARTTLS),
            Client(b"RCPT TO:<b@example.test>\r\n"),
            Server(MUST_STARTTLS),
            Client(b"DATA\r\n"),
            Server(MUST_STARTTLS),
            // The BDAT chunk is read and dropped (RFC 3030 §2), then 530.
            Client(b"BDAT 12 LAST\r\nQUIT\r\nQUIT\r\n"),
            Server(MUST_STARTTLS),
            Client(b"VRFY root\r\n"),
            Server(MUST_STARTTLS),
            Client(b"EXPN staff\r\n"),
            Server(MUST_STARTTLS),
            Client(b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            Server(MUST_STARTTLS),
            // Refused by verb, whatever the arguments.
            Client(b"mail from:<broken\r\n"),
            Server(MUST_STARTTLS),
            // Allowed: EHLO, HELO, NOOP, RSET, QUIT.
            Client(b"HELO c.example\r\nNOOP\r\nRSET\r\nQUIT\r\n"),
            Server(b"250 mx.example.test\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"),
        ],
    );
    let run = &runs[0];
    let verbs: Vec<_> = run
        .events
        .iter()
        .filter_map(|event| match event {
            ServerEvent::Refused { verb, reply } => {
                assert_eq!(reply.code(), ReplyCode::MUST_STARTTLS);
                assert_eq!(
                    reply.enhanced().map(|e| e.to_string()).as_deref(),
                    Some("5.7.0")
                );
                *verb
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        verbs,
        [
            Verb::Mail,
            Verb::Rcpt,
            Verb::Data,
            Verb::Bdat,
            Verb::Vrfy,
            Verb::Expn,
            Verb::Auth,
            Verb::Mail
        ]
    );
    assert_eq!(run.count(|e| matches!(e, ServerEvent::MailFrom { .. })), 0);
    assert_eq!(run.closed(), Some(&CloseReason::Quit));
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn sor_allows_starttls_before_tls_rfc3207_4() {
    transcript(
        sor,
        accept_all,
        &[
            Server(GREETING),
            Client(b"STARTTLS\r\n"),
            Server(b"220 2.0.0 Ready to start TLS\r\n"),
        ],
    );
}

#[test]
fn sor_without_certificate_is_a_configuration_error() {
    let config = ServerConfig::new(HOST, ServerMode::Sor);
    assert!(matches!(
        ServerSession::new(config, std::time::Instant::now()),
        Err(secmx_core::server::ConfigError::SorWithoutCertificate)
    ));
    let mut few = ber_plain();
    few.max_recipients = 99;
    assert!(few.validate().is_err());
    let bad_name = ServerConfig::new("mx example", ServerMode::Ber);
    assert!(bad_name.validate().is_err());
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn ber_accepts_mail_in_clear_even_with_a_certificate() {
    let runs = transcript(
        ber_tls,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\n"),
            Server(EHLO_STARTTLS),
            Client(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"),
            Server(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
            Client(b"clear\r\n.\r\n"),
            Server(QUEUED),
        ],
    );
    assert_eq!(runs[0].bodies(), [b"clear\r\n".to_vec()]);
}

// ---------------------------------------------------------------------------
// STARTTLS in clear (RFC 3207 §4) and command injection (CVE-2011-0411)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn starttls_with_a_parameter_gets_501_rfc3207_4() {
    transcript(
        ber_tls,
        accept_all,
        &[
            Server(GREETING),
            Client(b"STARTTLS now\r\n"),
            Server(b"501 5.5.4 Syntax error (no parameters allowed)\r\n"),
        ],
    );
}

#[test]
fn starttls_without_certificate_gets_454_rfc3207_4() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"STARTTLS\r\n"),
            Server(b"454 4.7.0 TLS not available due to local problem\r\n"),
            Client(b"EHLO c.example\r\n"),
            Server(EHLO_PLAIN),
        ],
    );
    assert!(!runs[0].session.is_tls());
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn command_injection_in_one_packet_is_never_executed_cve_2011_0411() {
    let mut harness = Harness::new(ber_tls(), Delivery::Whole, accept_all);
    harness.take_output();
    harness.send(b"EHLO c.example\r\n");
    harness.take_output();
    harness.send(b"STARTTLS\r\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<y@example.test>\r\n");
    // No 220: the session refuses and closes.
    assert_eq!(
        show(&harness.take_output()),
        "554 5.5.0 Error: command injection after STARTTLS\r\n"
    );
    let injected = b"MAIL FROM:<x@evil.example>\r\nRCPT TO:<y@example.test>\r\n";
    assert!(harness.events.contains(&ServerEvent::Injection {
        sample: bytes::Bytes::from_static(injected),
        len: injected.len(),
    }));
    assert_eq!(
        harness.count(|e| matches!(e, ServerEvent::MailFrom { .. })),
        0
    );
    assert_eq!(
        harness.closed(),
        Some(&CloseReason::Failed(ServerError::CommandInjection))
    );
    assert_eq!(harness.errors, [ServerError::CommandInjection]);
    // Sticky.
    assert_eq!(
        harness.session.handle_input(harness.now, b"NOOP\r\n"),
        Err(ServerError::CommandInjection)
    );
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn injection_read_before_the_220_left_is_never_executed_cve_2011_0411() {
    // The embedder reads twice before it writes: the 220 was queued and TLS
    // started, but the client could not have seen it.
    let mut harness = Harness::new(ber_tls(), Delivery::Whole, accept_all);
    harness.take_output();
    harness.offer_without_drain(&[b"STARTTLS\r\n", b"MAIL FROM:<x@evil.example>\r\n"]);
    assert_eq!(
        show(&harness.take_output()),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    assert!(harness.events.contains(&ServerEvent::Injection {
        sample: bytes::Bytes::from_static(b"MAIL FROM:<x@evil.example>\r\n"),
        len: 28,
    }));
    assert_eq!(
        harness.count(|e| matches!(e, ServerEvent::MailFrom { .. })),
        0
    );
    assert_eq!(
        harness.closed(),
        Some(&CloseReason::Failed(ServerError::CommandInjection))
    );
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn plaintext_after_the_220_is_a_tls_failure_never_a_command_rfc3207_4() {
    // With the drain rule applied after every byte the 220 leaves first;
    // what follows must then be TLS, and plaintext fails the handshake.
    for delivery in DELIVERIES {
        let mut harness = Harness::new(ber_tls(), delivery, accept_all);
        harness.send(b"EHLO c.example\r\nSTARTTLS\r\n");
        harness.send(b"MAIL FROM:<x@evil.example>\r\n");
        assert_eq!(
            harness.count(|e| matches!(e, ServerEvent::MailFrom { .. })),
            0
        );
        assert!(
            matches!(
                harness.closed(),
                Some(CloseReason::Failed(
                    ServerError::Tls(_) | ServerError::CommandInjection
                ))
            ),
            "{delivery:?}: {:?}",
            harness.closed()
        );
    }
}

// ---------------------------------------------------------------------------
// SIZE (RFC 1870)

fn small() -> ServerConfig {
    let mut config = ber_plain();
    config.max_message_size = Some(20);
    config
}

#[test]
fn size_limit_rfc1870_6() {
    let runs = transcript(
        small,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\n"),
            Server(
                b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 20\r\n250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n250 SMTPUTF8\r\n",
            ),
            Client(b"MAIL FROM:<a@example.org> SIZE=21\r\n"),
            Server(b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"),
            Client(b"MAIL FROM:<a@example.org> SIZE=20\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"),
            Server(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
            // 21 octets: refused after the end of data, not before.
            Client(b"123456789\r\n12345678\r\n.\r\n"),
            Server(b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"),
            // Exactly the limit passes.
            Client(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"),
            Server(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
            Client(b"123456789\r\n1234567\r\n.\r\n"),
            Server(QUEUED),
        ],
    );
    let run = &runs[0];
    assert!(run.events.contains(&ServerEvent::MessageAborted {
        reason: AbortReason::BodyRefused(ErrorReply::TOO_BIG)
    }));
    assert_eq!(
        run.count(|e| matches!(e, ServerEvent::MessageComplete { .. })),
        1
    );
    // Content past the limit was never handed out.
    assert!(run.bodies().iter().all(|body| body.len() <= 20));
}

#[test]
fn bdat_size_limit_rfc1870_6_rfc3030_2() {
    let runs = transcript(
        small,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\n"),
            Client(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            Client(b"BDAT 15\r\n123456789012345BDAT 10 LAST\r\n1234567890NOOP\r\n"),
            Server(
                b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 20\r\n250-ENHANCEDSTATUSCODES\r\n\
250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n250 SMTPUTF8\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
250 2.0.0 Ok: 15 octets received\r\n\
552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n",
            ),
        ],
    );
    let run = &runs[0];
    assert_eq!(run.bodies(), [b"123456789012345".to_vec()]);
    assert_eq!(
        run.count(|e| matches!(e, ServerEvent::MessageComplete { .. })),
        0
    );
    assert_eq!(
        run.count(|e| matches!(e, ServerEvent::MessageAborted { .. })),
        1
    );
}

// ---------------------------------------------------------------------------
// Recipients (RFC 5321 §4.5.3.1.8, §4.5.3.1.10)

#[test]
fn one_hundred_recipients_then_452_rfc5321_4_5_3_1_10() {
    let mut commands = b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n".to_vec();
    let mut expected = EHLO_PLAIN.to_vec();
    expected.extend_from_slice(MAIL_OK);
    for n in 0..102 {
        commands.extend_from_slice(format!("RCPT TO:<user{n}@example.test>\r\n").as_bytes());
        expected.extend_from_slice(if n < 100 {
            RCPT_OK
        } else {
            b"452 4.5.3 Error: too many recipients\r\n"
        });
    }
    commands.extend_from_slice(b"DATA\r\n");
    expected.extend_from_slice(GO_AHEAD);
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(&commands),
            Server(&expected),
            Client(b"x\r\n.\r\n"),
            Server(QUEUED),
        ],
    );
    let recipients = runs[0].events.iter().find_map(|event| match event {
        ServerEvent::MessageComplete { envelope, .. } => Some(envelope.recipients.len()),
        _ => None,
    });
    assert_eq!(recipients, Some(100));
    // 452 is transient: it does not count towards max_errors.
    assert!(!runs[0].session.is_closed());
}

// ---------------------------------------------------------------------------
// The body: smuggling, BDAT, pipelining before the 354

#[test]
fn smuggling_sequences_stay_content_rfc5321_4_1_1_4() {
    // CVE-2023-51764/51765/51766: only CRLF . CRLF ends the data.
    let body: &[u8] = b"a\n.\nMAIL FROM:<x@evil.example>\r\nb\r\n.\nc\n.\r\nd\r.\r\ne\r\n.\rf\r\n";
    // RFC 5321 §4.5.2: a line that starts with "." loses that dot, even
    // when a bare LF or CR follows it; nothing else changes.
    let content: &[u8] = b"a\n.\nMAIL FROM:<x@evil.example>\r\nb\r\n\nc\n.\r\nd\r.\r\ne\r\n\rf\r\n";
    let mut client = body.to_vec();
    client.extend_from_slice(b".\r\n");
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            Client(b"DATA\r\n"),
            Server(
                b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n250 SMTPUTF8\r\n\
250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            Client(&client),
            Server(QUEUED),
        ],
    );
    let run = &runs[0];
    assert_eq!(run.bodies(), [content.to_vec()]);
    assert_eq!(run.count(|e| matches!(e, ServerEvent::MailFrom { .. })), 1);
    let report = run
        .events
        .iter()
        .find_map(|event| match event {
            ServerEvent::MessageComplete { report, .. } => Some(*report),
            _ => None,
        })
        .expect("complete");
    assert!(report.bare_lf && report.bare_cr);
}

#[test]
fn bare_line_ends_in_the_body_can_be_refused_rfc5321_2_3_8() {
    let config = || {
        let mut config = ber_plain();
        config.forbid_bare_line_ends = true;
        config
    };
    let runs = transcript(
        config,
        accept_all,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            Client(b"DATA\r\n"),
            Server(
                b"250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            Client(b"a\nb\r\n.\r\n"),
            Server(b"500 5.5.2 Bare CR or LF not allowed\r\n"),
        ],
    );
    assert!(runs[0].events.contains(&ServerEvent::MessageAborted {
        reason: AbortReason::BodyRefused(ErrorReply::BARE_LINE_END)
    }));
}

#[test]
fn text_pipelined_before_the_354_never_becomes_content_rfc2920_3_1() {
    // In one packet: DATA is refused before any 354.
    let mut harness = Harness::new(ber_plain(), Delivery::Whole, accept_all);
    harness.send(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    harness.take_output();
    harness.send(b"DATA\r\nSubject: early\r\n\r\nbody\r\n.\r\n");
    assert_eq!(
        show(&harness.take_output()),
        "554 5.5.0 Error: improper use of SMTP command pipelining\r\n"
    );
    assert!(harness.bodies().is_empty());
    assert_eq!(
        harness.count(|e| matches!(e, ServerEvent::MessageComplete { .. })),
        0
    );
    assert_eq!(
        harness.closed(),
        Some(&CloseReason::Failed(ServerError::PipelinedAfterData))
    );
    assert!(harness.events.contains(&ServerEvent::MessageAborted {
        reason: AbortReason::Closed(CloseReason::Failed(ServerError::PipelinedAfterData))
    }));

    // Read in two pieces before the 354 was written: the 354 is queued,
    // the text is still refused.
    let mut harness = Harness::new(ber_plain(), Delivery::Whole, accept_all);
    harness.send(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    harness.take_output();
    harness.offer_without_drain(&[b"DATA\r\n", b"Subject: early\r\n"]);
    assert_eq!(
        show(&harness.take_output()),
        "354 End data with <CR><LF>.<CR><LF>\r\n\
554 5.5.0 Error: improper use of SMTP command pipelining\r\n"
    );
    assert!(harness.bodies().is_empty());
    assert_eq!(harness.errors, [ServerError::PipelinedAfterData]);
}

#[test]
fn bdat_chunks_rfc3030_2() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            // Chunk octets are content, never commands, dots included.
            Client(b"BDAT 13\r\nQUIT\r\n.\r\nhi\r\nBDAT 0 LAST\r\nNOOP\r\n"),
            Server(
                b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n250 SMTPUTF8\r\n\
250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 13 octets received\r\n\
250 2.0.0 Ok: queued\r\n250 2.0.0 Ok\r\n",
            ),
            // BDAT outside a transaction: read, dropped, 503.
            Client(b"BDAT 4 LAST\r\nQUITDATA\r\n"),
            Server(b"503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n"),
        ],
    );
    let run = &runs[0];
    assert_eq!(run.bodies(), [b"QUIT\r\n.\r\nhi\r\n".to_vec()]);
    let envelope = run
        .events
        .iter()
        .find_map(|event| match event {
            ServerEvent::MessageComplete { envelope, report } => {
                assert_eq!(report.size, 13);
                Some(envelope)
            }
            _ => None,
        })
        .expect("complete");
    assert!(envelope.bdat);
    assert_eq!(
        run.count(|e| matches!(e, ServerEvent::DataStart { bdat: true })),
        1
    );
    assert!(!run.session.is_closed());
}

#[test]
fn data_after_bdat_and_rcpt_after_bdat_are_refused_rfc3030_2() {
    transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            Client(b"BDAT 3\r\nabcDATA\r\nRCPT TO:<c@example.test>\r\nBDAT 0 LAST\r\n"),
            Server(
                b"250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
250 2.0.0 Ok: 3 octets received\r\n503 5.5.1 Error: DATA after BDAT in the same transaction\r\n\
503 5.5.1 Error: RCPT after BDAT\r\n250 2.0.0 Ok: queued\r\n",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------
// Connection loss and timeouts (RFC 5321 §3.8, §4.5.3.2)

#[test]
fn connection_lost_mid_data_never_completes_rfc5321_3_8() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            Client(b"DATA\r\n"),
            Server(
                b"250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            Client(b"almost done\r\n.\r"),
            Eof,
        ],
    );
    for run in &runs {
        assert_eq!(
            run.count(|e| matches!(e, ServerEvent::MessageComplete { .. })),
            0
        );
        assert!(run.events.contains(&ServerEvent::MessageAborted {
            reason: AbortReason::Closed(CloseReason::PeerClosed)
        }));
        assert_eq!(run.closed(), Some(&CloseReason::PeerClosed));
    }
}

#[test]
fn commands_before_eof_are_still_answered() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nNOOP\r\nQUIT\r\n"),
            Eof,
            Server(b"250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"),
        ],
    );
    assert_eq!(runs[0].closed(), Some(&CloseReason::Quit));
    assert!(runs[0].events.contains(&ServerEvent::MessageAborted {
        reason: AbortReason::Closed(CloseReason::Quit)
    }));
}

#[test]
fn eof_while_the_message_waits_for_its_reply_aborts_it_rfc5321_3_8() {
    let mut harness = Harness::new(ber_plain(), Delivery::Whole, accept_all);
    harness.send(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    harness.send(b"DATA\r\n");
    harness.policy = wait_all;
    harness.send(b"body\r\n.\r\n");
    assert_eq!(harness.session.pending_decision(), Some(Decision::Message));
    harness.eof();
    assert_eq!(
        harness.session.accept(harness.now),
        Err(AnswerError::Closed)
    );
    let n = harness.events.len();
    assert!(matches!(
        harness.events[n - 3],
        ServerEvent::MessageComplete { .. }
    ));
    assert_eq!(
        harness.events[n - 2],
        ServerEvent::MessageAborted {
            reason: AbortReason::Closed(CloseReason::PeerClosed)
        }
    );
}

#[test]
fn idle_timeout_sends_421_rfc5321_4_5_3_2_7() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\n"),
            Server(b"250 mx.example.test\r\n"),
            Wait(Duration::from_secs(299)),
            Client(b"NOOP\r\n"),
            Server(b"250 2.0.0 Ok\r\n"),
            // Input restarts the timer: 299 s later it has not fired.
            Wait(Duration::from_secs(299)),
            Server(b""),
            Wait(Duration::from_secs(1)),
            Server(b"421 4.4.2 mx.example.test Error: timeout exceeded\r\n"),
        ],
    );
    assert_eq!(runs[0].closed(), Some(&CloseReason::Timeout));
}

#[test]
fn timeout_mid_data_aborts_the_message_rfc5321_4_5_3_2_7() {
    let runs = transcript(
        ber_plain,
        accept_all,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n"),
            Client(b"DATA\r\n"),
            Client(b"partial\r\n"),
            Wait(Duration::from_secs(300)),
            Server(
                b"250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
354 End data with <CR><LF>.<CR><LF>\r\n\
421 4.4.2 mx.example.test Error: timeout exceeded\r\n",
            ),
        ],
    );
    for run in &runs {
        assert_eq!(
            run.count(|e| matches!(e, ServerEvent::MessageComplete { .. })),
            0
        );
        assert!(run.events.contains(&ServerEvent::MessageAborted {
            reason: AbortReason::Closed(CloseReason::Timeout)
        }));
    }
}

// ---------------------------------------------------------------------------
// QUIT, 421 from the application, early talkers

#[test]
fn quit_closes_and_later_input_is_dropped_rfc5321_4_1_1_10() {
    let mut harness = Harness::new(ber_plain(), Delivery::Whole, accept_all);
    harness.send(b"QUIT\r\nNOOP\r\n");
    assert_eq!(
        show(&harness.take_output()),
        format!("{}221 2.0.0 Bye\r\n", show(GREETING))
    );
    assert_eq!(harness.closed(), Some(&CloseReason::Quit));
    assert_eq!(
        harness.session.handle_input(harness.now, b"NOOP\r\n"),
        Ok(6)
    );
    let mut out = Vec::new();
    harness.session.poll_transmit(&mut out);
    assert!(out.is_empty());
    assert_eq!(
        harness.session.poll_event(),
        None,
        "Closed is reported once"
    );
}

#[test]
fn a_421_from_the_application_closes_the_session_rfc5321_3_8() {
    fn shutdown(_: &ServerEvent) -> Answer {
        Answer::Reject(secmx_core::Reply::new(
            ReplyCode::SERVICE_NOT_AVAILABLE,
            secmx_core::EnhancedCode::new(4, 3, 2),
            "mx.example.test Service shutting down",
        ))
    }
    let runs = transcript(
        ber_plain,
        shutdown,
        &[
            Server(GREETING),
            Client(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\nNOOP\r\n"),
            Server(b"250 mx.example.test\r\n421 4.3.2 mx.example.test Service shutting down\r\n"),
        ],
    );
    assert_eq!(runs[0].closed(), Some(&CloseReason::ServiceClosing));
}

#[test]
fn early_talker_is_refused_rfc5321_3_1() {
    // The embedder did not yet write the greeting when the client talked.
    let now = std::time::Instant::now();
    let mut session = ServerSession::new(ber_plain(), now).expect("valid");
    assert_eq!(
        session.handle_input(now, b"EHLO c.example\r\n"),
        Err(ServerError::EarlyTalker)
    );
    let mut out = Vec::new();
    session.poll_transmit(&mut out);
    assert_eq!(
        show(&out),
        "220 mx.example.test ESMTP\r\n554 5.5.0 Error: SMTP protocol synchronization\r\n"
    );
    assert_eq!(
        session.poll_event(),
        Some(ServerEvent::Closed(CloseReason::Failed(
            ServerError::EarlyTalker
        )))
    );

    // With a greeting delay: 554 instead of the greeting.
    let config = || {
        let mut config = ber_plain();
        config.greeting_delay = Some(Duration::from_secs(5));
        config
    };
    let runs = transcript(
        config,
        accept_all,
        &[
            Server(b""),
            Wait(Duration::from_secs(4)),
            Client(b"EHLO c.example\r\n"),
            Server(b"554 5.5.0 Error: SMTP protocol synchronization\r\n"),
        ],
    );
    assert_eq!(
        runs[0].closed(),
        Some(&CloseReason::Failed(ServerError::EarlyTalker))
    );
    // A patient client gets the greeting after the delay.
    transcript(
        config,
        accept_all,
        &[
            Server(b""),
            Wait(Duration::from_secs(5)),
            Server(GREETING),
            Client(b"NOOP\r\n"),
            Server(b"250 2.0.0 Ok\r\n"),
        ],
    );
}

// ---------------------------------------------------------------------------
// REQUIRETLS before TLS (RFC 8689)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn requiretls_is_refused_in_clear_rfc8689_2() {
    transcript(
        ber_tls,
        accept_all,
        &[
            Server(GREETING),
            Client(b"EHLO c.example\r\n"),
            Server(EHLO_STARTTLS),
            Client(b"MAIL FROM:<a@example.org> REQUIRETLS\r\n"),
            Server(b"530 5.7.10 Error: REQUIRETLS needs a TLS session\r\n"),
        ],
    );
}

// ---------------------------------------------------------------------------
// Backpressure: input waits in a bounded buffer while a decision is pending

#[test]
fn input_is_bounded_while_a_decision_waits() {
    let mut harness = Harness::new(ber_plain(), Delivery::Whole, wait_all);
    harness.send(b"HELO c.example\r\nMAIL FROM:<a@example.org>\r\n");
    assert_eq!(harness.session.pending_decision(), Some(Decision::Mail));
    let flood = b"NOOP\r\n".repeat(40_000);
    let taken = harness
        .session
        .handle_input(harness.now, &flood)
        .expect("healthy");
    assert!(taken < flood.len(), "the session stops taking input");
    assert!(taken <= MAX_INPUT_BUFFER);
    assert_eq!(
        harness.session.handle_input(harness.now, &flood[taken..]),
        Ok(0)
    );
    harness.session.accept(harness.now).expect("pending");
    // Now the buffered NOOPs are answered, within the output bound.
    harness.drain();
    let out = harness.take_output();
    assert!(out.ends_with(b"250 2.0.0 Ok\r\n"));
    let more = harness
        .session
        .handle_input(harness.now, &flood[taken..])
        .expect("healthy");
    assert!(more > 0);
}
