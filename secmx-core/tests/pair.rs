//! A `ClientSession` and a `ServerSession` back to back (see `pair_common`
//! for the harness). Every scenario runs with the bytes delivered whole, in
//! seeded random chunks and one byte at a time, and asserts the events on
//! both sides, what the server stored and the client's verdicts; the three
//! deliveries must give the same events.

mod pair_common;

use std::time::Duration;

use pair_common::*;
use rustls::{AlertDescription, CertificateError, ProtocolVersion};
use secmx_core::Reply;
use secmx_core::client::{ClientError, ClientEvent, SubmitError, TlsRequirement};
use secmx_core::proto::code::{EnhancedCode, ErrorReply, ReplyCode};
use secmx_core::proto::ehlo::{Keyword, Size};
use secmx_core::server::{
    AbortReason, CloseReason as ServerClose, ServerConfig, ServerError, ServerEvent,
};
use secmx_core::transport::{TlsInfo, TransportError};

// ---------------------------------------------------------------------------
// Helpers

/// The events of every delivery must be the same as the first one's.
struct SameEverywhere {
    client: Option<Vec<ClientEvent>>,
    server: Option<Vec<ServerEvent>>,
}

impl SameEverywhere {
    fn new() -> Self {
        Self {
            client: None,
            server: None,
        }
    }

    fn check(&mut self, p: &Pair, context: &str) {
        match &self.client {
            None => self.client = Some(p.client_events.clone()),
            Some(first) => assert_eq!(first, &p.client_events, "{context}: client events"),
        }
        match &self.server {
            None => self.server = Some(p.server_events.clone()),
            Some(first) => assert_eq!(first, &p.server_events, "{context}: server events"),
        }
    }
}

fn client_tls_info(p: &Pair) -> TlsInfo {
    p.client_events
        .iter()
        .find_map(|event| match event {
            ClientEvent::TlsEstablished(info) => Some(info.clone()),
            _ => None,
        })
        .expect("TlsEstablished on the client")
}

fn server_tls_info(p: &Pair) -> TlsInfo {
    p.server_events
        .iter()
        .find_map(|event| match event {
            ServerEvent::TlsEstablished(info) => Some(info.clone()),
            _ => None,
        })
        .expect("TlsEstablished on the server")
}

fn client_caps(p: &Pair, tls: bool) -> secmx_core::Capabilities {
    p.client_events
        .iter()
        .find_map(|event| match event {
            ClientEvent::Capabilities { tls: t, caps } if *t == tls => Some(caps.clone()),
            _ => None,
        })
        .expect("capabilities")
}

/// The tags of one accepted message on each side.
fn delivered(
    client: &mut Vec<String>,
    server: &mut Vec<String>,
    rcpts: usize,
    bdat: bool,
    empty: bool,
) {
    server.push("mail".into());
    for index in 0..rcpts {
        client.push(format!("rcpt-ok {index}"));
        server.push("rcpt".into());
    }
    client.push("accepted 250".into());
    client.push("ready".into());
    server.push(if bdat { "bdat" } else { "data" }.into());
    if !empty {
        server.push("body".into());
    }
    server.push("complete".into());
}

fn reply(code: u16, enhanced: (u8, u16, u16), text: &'static str) -> Reply<'static> {
    Reply::new(
        ReplyCode::new(code).expect("valid code"),
        EnhancedCode::new(enhanced.0, enhanced.1, enhanced.2),
        text,
    )
}

/// Server extension settings: PIPELINING and CHUNKING on and off.
const EXTENSIONS: [(bool, bool); 4] = [(true, true), (true, false), (false, true), (false, false)];

fn with_extensions(mut config: ServerConfig, (pipelining, chunking): (bool, bool)) -> ServerConfig {
    config.extensions.pipelining = pipelining;
    config.extensions.chunking = chunking;
    config
}

// ---------------------------------------------------------------------------
// BER + Opportunistic: STARTTLS, several messages, TLS 1.3 and 1.2

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn ber_and_opportunistic_client_deliver_over_starttls_rfc3207_4() {
    let large = body_100k();
    let messages: [(&[&str], &[u8]); 3] = [
        (&["<b@example.test>"], SMALL_BODY),
        (&["<c@example.test>", "<d@example.test>"], &large),
        (&["<e@example.test>"], b""),
    ];
    for (versions, version) in [
        (TLS13, ProtocolVersion::TLSv1_3),
        (TLS12, ProtocolVersion::TLSv1_2),
    ] {
        for extensions in EXTENSIONS {
            let mut same = SameEverywhere::new();
            for delivery in DELIVERIES {
                let context = format!("{version:?} {extensions:?} {delivery:?}");
                let (pipelining, chunking) = extensions;
                let mut p = Pair::sessions(
                    client_config(TlsRequirement::Opportunistic, versions),
                    with_extensions(ber_tls(), extensions),
                    delivery,
                    accept_all(),
                );
                p.run();
                assert_eq!(
                    p.client_tags(),
                    tags(&["greeting 220", "caps clear", "tls", "caps tls", "ready"]),
                    "{context}"
                );
                assert_eq!(p.server_tags(), tags(&["ehlo", "tls", "ehlo"]), "{context}");

                // What each side saw of the handshake.
                let (client_info, server_info) = (client_tls_info(&p), server_tls_info(&p));
                assert_eq!(client_info.protocol_version, version, "{context}");
                assert_eq!(server_info.protocol_version, version, "{context}");
                assert_eq!(client_info.cipher_suite, server_info.cipher_suite);
                assert_eq!(server_info.sni.as_deref(), Some(HOST), "{context}");
                assert_eq!(client_info.peer_certificates, pki().good.chain);
                assert!(server_info.peer_certificates.is_empty());
                assert!(p.client().is_tls() && p.server().is_tls());

                // Capabilities: STARTTLS only in clear, REQUIRETLS only
                // under TLS, PIPELINING and CHUNKING as configured.
                let clear = client_caps(&p, false);
                let tls = client_caps(&p, true);
                assert!(clear.starttls() && !tls.starttls());
                assert!(!clear.requiretls() && tls.requiretls());
                assert_eq!(tls.pipelining(), pipelining);
                assert_eq!(tls.chunking(), chunking);

                for (to, body) in messages {
                    p.send(envelope(to), body.to_vec()).expect("ready");
                }
                p.quit();
                p.settle();
                p.assert_finished();

                let mut client = tags(&["greeting 220", "caps clear", "tls", "caps tls", "ready"]);
                let mut server = tags(&["ehlo", "tls", "ehlo"]);
                for (to, body) in messages {
                    delivered(
                        &mut client,
                        &mut server,
                        to.len(),
                        chunking,
                        body.is_empty(),
                    );
                }
                client.push("closed quit".into());
                server.push("closed quit".into());
                assert_eq!(p.client_tags(), client, "{context}");
                assert_eq!(p.server_tags(), server, "{context}");
                assert_eq!(p.client_error(), None);
                assert_eq!(p.server_error(), None);
                assert!(p.server_errors.is_empty());
                assert_eq!(p.elapsed(), Duration::ZERO, "no timer fired");
                match delivery {
                    Delivery::Whole => assert!(p.pieces_to_server < 100),
                    Delivery::Chunks(_) => assert!(p.pieces_to_server > p.client_wire.len() / 1500),
                    Delivery::ByteByByte => {
                        assert!(p.pieces_to_server >= p.client_wire.len());
                        assert!(p.pieces_to_client >= p.server_wire.len());
                    }
                }

                // Stored: every body as sent, line ends normalised.
                assert_eq!(p.stored.len(), messages.len(), "{context}");
                for (stored, (to, body)) in p.stored.iter().zip(messages) {
                    assert!(stored.body == normalise(body), "{context}: body differs");
                    let envelope = &stored.envelope;
                    assert!(envelope.tls && envelope.extended);
                    assert_eq!(envelope.bdat, chunking);
                    assert_eq!(envelope.helo.to_string(), "client.example");
                    assert_eq!(envelope.from, reverse("<a@client.example>"));
                    let rcpts: Vec<_> = envelope.recipients.iter().map(|r| r.to.clone()).collect();
                    let sent: Vec<_> = to.iter().map(|to| forward(to)).collect();
                    assert_eq!(rcpts, sent);
                    // SIZE (announced by default) is the normalised size.
                    assert_eq!(envelope.params.size, Some(normalise(body).len() as u64));
                }

                // Nothing of the transactions crossed in clear.
                let client_after = after_starttls(&p.client_wire);
                for word in [
                    &b"EHLO"[..],
                    b"MAIL",
                    b"RCPT",
                    b"DATA",
                    b"BDAT",
                    b"QUIT",
                    b"line 1",
                ] {
                    assert!(!contains(client_after, word), "{context}");
                }
                let ready = b"220 2.0.0 Ready to start TLS\r\n";
                let at = p
                    .server_wire
                    .windows(ready.len())
                    .position(|w| w == ready)
                    .expect("220 to STARTTLS")
                    + ready.len();
                for word in [&b"250"[..], b"354", b"221"] {
                    assert!(!contains(&p.server_wire[at..], word), "{context}");
                }
                same.check(&p, &context);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// SOR (RFC 3207 §4 and the SecMX roles)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn sor_and_required_tls_deliver_over_tls() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Required, BOTH),
            sor(),
            delivery,
            accept_all(),
        );
        p.run();
        p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
            .expect("ready");
        p.quit();
        p.settle();
        p.assert_finished();
        assert_eq!(
            p.client_tags(),
            tags(&[
                "greeting 220",
                "caps clear",
                "tls",
                "caps tls",
                "ready",
                "rcpt-ok 0",
                "accepted 250",
                "ready",
                "closed quit",
            ]),
            "{delivery:?}"
        );
        assert_eq!(
            p.server_tags(),
            tags(&[
                "ehlo",
                "tls",
                "ehlo",
                "mail",
                "rcpt",
                "bdat",
                "body",
                "complete",
                "closed quit",
            ]),
            "{delivery:?}"
        );
        assert_eq!(
            client_tls_info(&p).protocol_version,
            ProtocolVersion::TLSv1_3
        );
        assert_eq!(p.stored.len(), 1);
        assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
        assert!(p.stored[0].envelope.tls);
        same.check(&p, &format!("{delivery:?}"));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn sor_refuses_every_transaction_command_in_clear_with_530() {
    // PIPELINING and CHUNKING: MAIL and RCPT go in one group; with DATA
    // instead of BDAT the group ends with DATA; without PIPELINING only
    // MAIL goes before the client knows the answer.
    for (extensions, refused) in [
        ((true, true), &["MAIL", "RCPT"][..]),
        ((true, false), &["MAIL", "RCPT", "DATA"][..]),
        ((false, true), &["MAIL"][..]),
        ((false, false), &["MAIL"][..]),
    ] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("{extensions:?} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::None, BOTH),
                with_extensions(sor(), extensions),
                delivery,
                accept_all(),
            );
            p.run();
            p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
                .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            assert_eq!(
                p.client_tags(),
                tags(&[
                    "greeting 220",
                    "caps clear",
                    "ready",
                    "mail-rejected 530",
                    "ready",
                    "closed quit",
                ]),
                "{context}"
            );
            let mut server = tags(&["ehlo"]);
            server.extend(refused.iter().map(|verb| format!("refused {verb} 530")));
            server.push("closed quit".into());
            assert_eq!(p.server_tags(), server, "{context}");
            let must = b"530 5.7.0 Must issue a STARTTLS command first\r\n";
            assert_eq!(
                p.server_wire
                    .windows(must.len())
                    .filter(|w| w == must)
                    .count(),
                refused.len()
            );
            // No body crossed.
            assert!(!contains(&p.client_wire, b"Hello"), "{context}");
            assert!(p.stored.is_empty());
            assert!(!p.client().is_tls());
            same.check(&p, &context);
        }
    }
}

// ---------------------------------------------------------------------------
// BER without a certificate

#[test]
fn ber_without_certificate_and_required_tls_stops_before_mail() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config_in_clear(TlsRequirement::Required),
            ber_plain(),
            delivery,
            accept_all(),
        );
        p.settle();
        p.assert_finished();
        assert_eq!(p.client_error(), Some(&ClientError::StartTlsNotOffered));
        assert_eq!(
            p.client_tags(),
            tags(&["greeting 220", "caps clear", "closed error"])
        );
        // QUIT in clear, not one byte of envelope.
        assert_eq!(
            p.client_wire, b"EHLO client.example\r\nQUIT\r\n",
            "{delivery:?}"
        );
        assert_eq!(p.server_tags(), tags(&["ehlo", "closed quit"]));
        assert!(p.stored.is_empty());
        same.check(&p, &format!("{delivery:?}"));
    }
}

#[test]
fn ber_without_certificate_and_opportunistic_tls_delivers_in_clear() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config_in_clear(TlsRequirement::Opportunistic),
            ber_plain(),
            delivery,
            accept_all(),
        );
        p.run();
        p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
            .expect("ready");
        p.quit();
        p.settle();
        p.assert_finished();
        assert_eq!(
            p.client_tags(),
            tags(&[
                "greeting 220",
                "caps clear",
                "skipped not-offered",
                "ready",
                "rcpt-ok 0",
                "accepted 250",
                "ready",
                "closed quit",
            ]),
            "{delivery:?}"
        );
        assert_eq!(
            p.server_tags(),
            tags(&[
                "ehlo",
                "mail",
                "rcpt",
                "bdat",
                "body",
                "complete",
                "closed quit"
            ])
        );
        assert!(!contains(&p.client_wire, b"STARTTLS"));
        assert_eq!(p.stored.len(), 1);
        assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
        assert!(!p.stored[0].envelope.tls);
        same.check(&p, &format!("{delivery:?}"));
    }
}

// ---------------------------------------------------------------------------
// Certificate failures (rcgen), end to end

type CertCase = (
    &'static str,
    fn() -> &'static Leaf,
    fn(&CertificateError) -> bool,
    AlertDescription,
);

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn certificate_failures_end_the_session_on_both_sides() {
    let cases: [CertCase; 4] = [
        (
            "self-signed",
            || &pki().self_signed,
            |e| matches!(e, CertificateError::UnknownIssuer),
            AlertDescription::UnknownCA,
        ),
        (
            "unknown root",
            || &pki().unknown_root,
            |e| matches!(e, CertificateError::UnknownIssuer),
            AlertDescription::UnknownCA,
        ),
        (
            "wrong name",
            || &pki().wrong_name,
            |e| {
                matches!(
                    e,
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            },
            AlertDescription::BadCertificate,
        ),
        (
            "expired",
            || &pki().expired,
            |e| {
                matches!(
                    e,
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            },
            AlertDescription::CertificateExpired,
        ),
    ];
    for (name, leaf, is_expected, alert) in cases {
        for requirement in [TlsRequirement::Required, TlsRequirement::Opportunistic] {
            for versions in [TLS13, TLS12] {
                let mut same = SameEverywhere::new();
                for delivery in DELIVERIES {
                    let context = format!("{name} {requirement:?} {delivery:?}");
                    let mut p = Pair::sessions(
                        client_config(requirement, versions),
                        ber_with(leaf()),
                        delivery,
                        accept_all(),
                    );
                    p.settle();
                    p.assert_finished();
                    let error = p.client_error().expect("the handshake fails").clone();
                    assert!(
                        matches!(error, ClientError::Handshake(_)),
                        "{context}: {error:?}"
                    );
                    let cert = error.certificate_error().expect("a certificate error");
                    assert!(is_expected(cert), "{context}: {cert:?}");
                    assert_eq!(
                        p.client_tags(),
                        tags(&["greeting 220", "caps clear", "closed error"]),
                        "{context}"
                    );
                    // The server read the client's alert and closed.
                    let server_error = p.server_error().expect("the server failed").clone();
                    let ServerError::Tls(tls) = &server_error else {
                        panic!("{context}: {server_error:?}");
                    };
                    assert_eq!(tls.received_alert(), Some(alert), "{context}");
                    assert_eq!(p.server_errors, std::slice::from_ref(&server_error));
                    assert_eq!(
                        p.server_tags(),
                        tags(&["ehlo", "closed failed"]),
                        "{context}"
                    );
                    assert_eq!(p.server_close(), Some(&ServerClose::Failed(server_error)));
                    assert!(p.stored.is_empty());
                    // Nothing but TLS after STARTTLS, and no command.
                    let after = after_starttls(&p.client_wire);
                    assert_eq!(after.first(), Some(&0x16), "{context}");
                    for word in [&b"EHLO"[..], b"MAIL", b"QUIT"] {
                        assert!(!contains(after, word), "{context}");
                    }
                    same.check(&p, &context);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// REQUIRETLS (RFC 8689)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn requiretls_is_offered_after_tls_and_carried_rfc8689_4() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Opportunistic, BOTH),
            ber_tls(),
            delivery,
            accept_all(),
        );
        p.run();
        assert!(!client_caps(&p, false).has(Keyword::RequireTls));
        assert!(client_caps(&p, true).has(Keyword::RequireTls));
        let mut env = envelope(&["<b@example.test>"]);
        env.params.requiretls = true;
        p.send(env, SMALL_BODY).expect("ready");
        p.quit();
        p.settle();
        p.assert_finished();
        let mail = p
            .server_events
            .iter()
            .find_map(|event| match event {
                ServerEvent::MailFrom { params, .. } => Some(params.clone()),
                _ => None,
            })
            .expect("MAIL reached the server");
        assert!(mail.requiretls, "{delivery:?}");
        assert_eq!(p.stored.len(), 1);
        assert!(p.stored[0].envelope.params.requiretls);
        assert!(p.stored[0].envelope.tls);
        assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
        same.check(&p, &format!("{delivery:?}"));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn requiretls_is_never_sent_in_clear_rfc8689_4_1() {
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config(TlsRequirement::None, BOTH),
            ber_tls(),
            delivery,
            accept_all(),
        );
        p.run();
        let mut env = envelope(&["<b@example.test>"]);
        env.params.requiretls = true;
        assert_eq!(
            p.send(env, SMALL_BODY),
            Err(SubmitError::RequireTlsWithoutTls)
        );
        p.quit();
        p.settle();
        p.assert_finished();
        assert_eq!(p.server_tags(), tags(&["ehlo", "closed quit"]));
        assert_eq!(p.client_wire, b"EHLO client.example\r\nQUIT\r\n");
    }
}

// ---------------------------------------------------------------------------
// Recipients refused (RFC 5321 §3.3, RFC 2920 §3.1)

fn refuse_bad_recipients() -> Policy {
    Box::new(|event| match event {
        ServerEvent::RcptTo { to, .. } if to.to_string().contains("bad") => {
            Answer::Reject(reply(550, (5, 1, 1), "no such user"))
        }
        _ => Answer::Accept,
    })
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn one_refused_recipient_of_two_the_message_goes_to_the_other() {
    for extensions in EXTENSIONS {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("{extensions:?} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), extensions),
                delivery,
                refuse_bad_recipients(),
            );
            p.run();
            p.send(
                envelope(&["<good@example.test>", "<bad@example.test>"]),
                SMALL_BODY,
            )
            .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            let bdat = if extensions.1 { "bdat" } else { "data" };
            assert_eq!(
                p.client_tags(),
                tags(&[
                    "greeting 220",
                    "caps clear",
                    "tls",
                    "caps tls",
                    "ready",
                    "rcpt-ok 0",
                    "rcpt-rejected 1 550",
                    "accepted 250",
                    "ready",
                    "closed quit",
                ]),
                "{context}"
            );
            assert_eq!(
                p.server_tags(),
                tags(&[
                    "ehlo",
                    "tls",
                    "ehlo",
                    "mail",
                    "rcpt",
                    "rcpt",
                    bdat,
                    "body",
                    "complete",
                    "closed quit",
                ]),
                "{context}"
            );
            assert_eq!(p.stored.len(), 1);
            let rcpts: Vec<_> = p.stored[0]
                .envelope
                .recipients
                .iter()
                .map(|r| r.to.clone())
                .collect();
            assert_eq!(rcpts, [forward("<good@example.test>")]);
            assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
            same.check(&p, &context);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn every_recipient_refused_no_body_crosses_then_the_next_message_goes() {
    for extensions in EXTENSIONS {
        let (pipelining, chunking) = extensions;
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("{extensions:?} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), extensions),
                delivery,
                refuse_bad_recipients(),
            );
            p.run();
            p.send(
                envelope(&["<bad1@example.test>", "<bad2@example.test>"]),
                SMALL_BODY,
            )
            .expect("ready");
            let mut client = tags(&[
                "greeting 220",
                "caps clear",
                "tls",
                "caps tls",
                "ready",
                "rcpt-rejected 0 550",
                "rcpt-rejected 1 550",
                "no-rcpts",
                "ready",
            ]);
            let mut server = tags(&["ehlo", "tls", "ehlo", "mail", "rcpt", "rcpt"]);
            if pipelining && !chunking {
                // DATA was in the group: 554, no valid recipients
                // (RFC 2920 §3.1).
                server.push("refused DATA 554".into());
            }
            assert_eq!(p.client_tags(), client, "{context}");
            assert_eq!(p.server_tags(), server, "{context}");
            assert_eq!(
                p.count_server(|e| matches!(
                    e,
                    ServerEvent::BodyChunk(_) | ServerEvent::DataStart { .. }
                )),
                0,
                "{context}: no body"
            );

            // The next message resets the open transaction first.
            p.send(envelope(&["<good@example.test>"]), &b"second\r\n"[..])
                .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            client.extend(tags(&["rcpt-ok 0", "accepted 250", "ready", "closed quit"]));
            server.push("aborted reset".into());
            delivered(&mut Vec::new(), &mut server, 1, chunking, false);
            server.push("closed quit".into());
            assert_eq!(p.client_tags(), client, "{context}");
            assert_eq!(p.server_tags(), server, "{context}");
            assert_eq!(p.stored.len(), 1);
            assert_eq!(p.stored[0].body, b"second\r\n");
            same.check(&p, &context);
        }
    }
}

// ---------------------------------------------------------------------------
// SIZE (RFC 1870)

fn small_server(announce: bool, chunking: bool) -> ServerConfig {
    let mut config = with_extensions(ber_tls(), (true, chunking));
    config.max_message_size = Some(1000);
    config.extensions.size = announce;
    config
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn size_announced_the_client_refuses_to_submit_rfc1870_4() {
    let body = vec![b'x'; 4000];
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Opportunistic, BOTH),
            small_server(true, true),
            delivery,
            accept_all(),
        );
        p.run();
        assert_eq!(client_caps(&p, true).size(), Some(Size::Max(1000)));
        assert_eq!(
            p.send(envelope(&["<b@example.test>"]), body.clone()),
            Err(SubmitError::TooBig {
                size: 4002,
                limit: 1000
            })
        );
        // Still ready: a message that fits goes.
        p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
            .expect("ready");
        p.quit();
        p.settle();
        p.assert_finished();
        assert_eq!(
            p.server_tags(),
            tags(&[
                "ehlo",
                "tls",
                "ehlo",
                "mail",
                "rcpt",
                "bdat",
                "body",
                "complete",
                "closed quit",
            ]),
            "{delivery:?}"
        );
        assert_eq!(p.stored.len(), 1);
        assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn size_not_announced_the_server_refuses_with_552_rfc1870_6() {
    let body = vec![b'x'; 4000];
    for chunking in [true, false] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                small_server(false, chunking),
                delivery,
                accept_all(),
            );
            p.run();
            assert_eq!(client_caps(&p, true).size(), None);
            p.send(envelope(&["<b@example.test>"]), body.clone())
                .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            assert_eq!(
                p.client_tags(),
                tags(&[
                    "greeting 220",
                    "caps clear",
                    "tls",
                    "caps tls",
                    "ready",
                    "rcpt-ok 0",
                    "rejected 552",
                    "ready",
                    "closed quit",
                ]),
                "{context}"
            );
            let tags_seen = p.server_tags();
            assert_eq!(
                tags_seen.iter().filter(|t| *t == "complete").count(),
                0,
                "{context}"
            );
            assert!(
                tags_seen.contains(&"aborted refused 552".to_owned()),
                "{context}: {tags_seen:?}"
            );
            let refused = if chunking {
                "refused BDAT 552"
            } else {
                "refused DATA 552"
            };
            assert!(
                tags_seen.contains(&refused.to_owned()),
                "{context}: {tags_seen:?}"
            );
            assert!(p.server_events.iter().any(|e| matches!(
                e,
                ServerEvent::MessageAborted {
                    reason: AbortReason::BodyRefused(ErrorReply::TOO_BIG)
                }
            )));
            assert!(p.stored.is_empty(), "{context}");
            same.check(&p, &context);
        }
    }
}

// ---------------------------------------------------------------------------
// Timeouts (RFC 5321 §4.5.3.2.7, §3.8)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_client_that_stops_mid_data_gets_421_and_no_message() {
    let body = body_100k();
    for chunking in [true, false] {
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), (true, chunking)),
                delivery,
                accept_all(),
            );
            p.run();
            // The link from the client dies once some body has arrived.
            p.cut_client_link_when(Box::new(|events, _| {
                events
                    .iter()
                    .any(|e| matches!(e, ServerEvent::BodyChunk(_)))
            }));
            p.send(envelope(&["<b@example.test>"]), body.clone())
                .expect("ready");
            assert!(p.client_link_dead && p.lost > 0, "{context}");
            p.settle();
            p.assert_finished();
            // The server's idle timer (5 minutes) fires before the client's
            // wait for the final reply (10 minutes).
            assert_eq!(p.elapsed(), Duration::from_secs(300), "{context}");
            let bdat = if chunking { "bdat" } else { "data" };
            assert_eq!(
                p.server_tags(),
                tags(&[
                    "ehlo",
                    "tls",
                    "ehlo",
                    "mail",
                    "rcpt",
                    bdat,
                    "body",
                    "aborted closed",
                    "closed timeout",
                ]),
                "{context}"
            );
            assert!(p.server_events.iter().any(|e| *e
                == ServerEvent::MessageAborted {
                    reason: AbortReason::Closed(ServerClose::Timeout)
                }));
            assert!(p.stored.is_empty());
            // The 421 reached the client, which reports the service closing
            // with the message undelivered.
            assert_eq!(
                p.client_tags(),
                tags(&[
                    "greeting 220",
                    "caps clear",
                    "tls",
                    "caps tls",
                    "ready",
                    "rcpt-ok 0",
                    "closed 421",
                ]),
                "{context}"
            );
            let Some(ClientEvent::Closed {
                reason: secmx_core::client::CloseReason::ServiceClosing(reply),
            }) = p.client_events.last()
            else {
                panic!("{context}");
            };
            assert_eq!(reply.enhanced(), EnhancedCode::new(4, 4, 2));
            // How much body arrived depends on where the pieces fell; it
            // is a prefix of what was sent, and less than all of it.
            let received: Vec<u8> = p
                .server_events
                .iter()
                .filter_map(|e| match e {
                    ServerEvent::BodyChunk(bytes) => Some(bytes.to_vec()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .concat();
            let sent = normalise(&body);
            assert!(
                !received.is_empty() && received.len() < sent.len(),
                "{context}"
            );
            assert!(sent.starts_with(&received), "{context}");
        }
    }
}

// ---------------------------------------------------------------------------
// Injection through the same harness

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn command_injection_by_a_raw_client_is_never_executed_cve_2011_0411() {
    let injected = b"MAIL FROM:<x@evil.example>\r\nRCPT TO:<y@example.test>\r\n";
    for delivery in DELIVERIES {
        let context = format!("{delivery:?}");
        let now = std::time::Instant::now();
        let server = secmx_core::server::ServerSession::new(ber_tls(), now).expect("valid");
        let mut p = Pair::new(
            ClientEnd::Raw(Raw::default()),
            ServerEnd::Session(Box::new(server)),
            now,
            delivery,
            accept_all(),
        );
        p.run();
        assert_eq!(p.raw_client().heard, b"220 mx.example.test ESMTP\r\n");
        p.raw_client_says(b"EHLO evil.example\r\n");
        assert!(contains(&p.raw_client().heard, b"250-STARTTLS\r\n"));
        let mut attack = b"STARTTLS\r\n".to_vec();
        attack.extend_from_slice(injected);
        p.raw_client_says(&attack);
        p.settle();

        // Never executed, whatever the segmentation.
        assert_eq!(
            p.count_server(|e| matches!(
                e,
                ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. }
            )),
            0,
            "{context}"
        );
        assert!(p.server().is_closed() && !p.server().is_tls());
        let injection = p.server_events.iter().find_map(|e| match e {
            ServerEvent::Injection { sample, len } => Some((sample.clone(), *len)),
            _ => None,
        });
        match delivery {
            // Read with the STARTTLS line: the typed injection, a 554
            // instead of the 220.
            Delivery::Whole => {
                assert_eq!(
                    injection,
                    Some((bytes::Bytes::from_static(injected), injected.len()))
                );
                assert_eq!(p.server_error(), Some(&ServerError::CommandInjection));
                assert_eq!(
                    p.server_tags(),
                    tags(&["ehlo", "injection", "closed failed"])
                );
                assert!(
                    p.raw_client()
                        .heard
                        .ends_with(b"554 5.5.0 Error: command injection after STARTTLS\r\n")
                );
                assert!(!contains(&p.raw_client().heard, b"220 2.0.0"));
            }
            // Read after the 220 left: the stream is TLS by then, and the
            // plaintext fails the handshake.
            Delivery::ByteByByte => {
                assert_eq!(injection, None);
                let error = p.server_error().expect("failed").clone();
                assert!(
                    matches!(error, ServerError::Tls(TransportError::Tls(_))),
                    "{error:?}"
                );
                assert_eq!(p.server_tags(), tags(&["ehlo", "closed failed"]));
                assert!(contains(
                    &p.raw_client().heard,
                    b"220 2.0.0 Ready to start TLS\r\n"
                ));
            }
            // Either, as the pieces fall; an injection sample is what had
            // arrived with the STARTTLS line.
            Delivery::Chunks(_) => match injection {
                Some((sample, len)) => {
                    assert!(len > 0 && len <= injected.len());
                    assert_eq!(&sample[..], &injected[..len]);
                    assert_eq!(p.server_error(), Some(&ServerError::CommandInjection));
                }
                None => assert!(matches!(p.server_error(), Some(ServerError::Tls(_)))),
            },
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn response_injection_by_a_raw_server_is_never_read_cve_2021_38371() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let context = format!("{delivery:?}");
        let now = std::time::Instant::now();
        let client = secmx_core::client::ClientSession::new(
            client_config(TlsRequirement::Required, BOTH),
            now,
        );
        let mut p = Pair::new(
            ClientEnd::Session(Box::new(client)),
            ServerEnd::Raw(Raw::default()),
            now,
            delivery,
            accept_all(),
        );
        p.raw_server_says(b"220 mx.example.test ESMTP\r\n");
        assert_eq!(p.raw_server().heard, b"EHLO client.example\r\n");
        p.raw_server_says(b"250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        assert_eq!(p.raw_server().heard, b"EHLO client.example\r\nSTARTTLS\r\n");
        // A man in the middle appends replies to the 220, in clear.
        p.raw_server_says(
            b"220 2.0.0 Ready to start TLS\r\n250-mx.example.test\r\n250 PIPELINING\r\n",
        );
        p.settle();
        assert_eq!(
            p.client_error(),
            Some(&ClientError::ResponseInjection),
            "{context}"
        );
        assert!(!p.client().is_tls());
        assert!(p.client().capabilities().is_none());
        assert_eq!(
            p.client_tags(),
            tags(&["greeting 220", "caps clear", "closed error"]),
            "{context}"
        );
        // After STARTTLS the client sent nothing or the start of a
        // handshake, never a command.
        let after = after_starttls(&p.client_wire).to_vec();
        assert!(
            after.is_empty() || after.first() == Some(&0x16),
            "{context}"
        );
        for word in [&b"EHLO"[..], b"MAIL", b"QUIT"] {
            assert!(!contains(&after, word), "{context}");
        }
        same.check(&p, &context);
    }
}

// ---------------------------------------------------------------------------
// More transactions: limits, refusals by the application, timers

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn more_than_100_recipients_the_rest_get_452_rfc5321_4_5_3_1_10() {
    let to: Vec<String> = (0..150).map(|i| format!("<r{i}@example.test>")).collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    for extensions in EXTENSIONS {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("{extensions:?} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Required, BOTH),
                with_extensions(ber_tls(), extensions),
                delivery,
                accept_all(),
            );
            p.run();
            p.send(envelope(&to), SMALL_BODY).expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            let mut client = tags(&["greeting 220", "caps clear", "tls", "caps tls", "ready"]);
            client.extend((0..100).map(|i| format!("rcpt-ok {i}")));
            client.extend((100..150).map(|i| format!("rcpt-rejected {i} 452")));
            client.extend(tags(&["accepted 250", "ready", "closed quit"]));
            assert_eq!(p.client_tags(), client, "{context}");
            let refused = p.count_server(
                |e| matches!(e, ServerEvent::Refused { reply, .. } if reply.code().get() == 452),
            );
            assert_eq!(refused, 50, "{context}");
            assert_eq!(p.stored.len(), 1);
            assert_eq!(p.stored[0].envelope.recipients.len(), 100);
            assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
            same.check(&p, &context);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_pipelined_group_larger_than_the_input_buffer_rfc2920_3_1() {
    // 2000 RCPTs (about 50 KiB of commands, 30 KiB of replies): the server
    // takes part of the group, the rest waits on the wire.
    let to: Vec<String> = (0..2000)
        .map(|i| format!("<rcpt{i}@example.test>"))
        .collect();
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    for chunking in [true, false] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut config = with_extensions(ber_tls(), (true, chunking));
            config.max_recipients = 2000;
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Required, BOTH),
                config,
                delivery,
                accept_all(),
            );
            p.run();
            p.send(envelope(&to), SMALL_BODY).expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            let accepted = p
                .client_events
                .iter()
                .filter(|e| matches!(e, ClientEvent::RcptAccepted { .. }))
                .count();
            assert_eq!(accepted, 2000, "{context}");
            assert!(
                p.client_tags()
                    .ends_with(&tags(&["accepted 250", "ready", "closed quit"])),
                "{context}"
            );
            assert_eq!(p.stored.len(), 1);
            assert_eq!(p.stored[0].envelope.recipients.len(), 2000);
            same.check(&p, &context);
        }
    }
}

fn reject_messages(code: u16, enhanced: (u8, u16, u16)) -> Policy {
    let mut seen = 0;
    Box::new(move |event| match event {
        // The first message is refused, the second taken.
        ServerEvent::MessageComplete { .. } => {
            seen += 1;
            if seen == 1 {
                Answer::Reject(reply(code, enhanced, "refused by policy"))
            } else {
                Answer::Accept
            }
        }
        _ => Answer::Accept,
    })
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn the_application_refuses_a_message_then_takes_the_next() {
    for (code, enhanced) in [(554, (5, 7, 1)), (451, (4, 3, 0))] {
        for extensions in EXTENSIONS {
            let mut same = SameEverywhere::new();
            for delivery in DELIVERIES {
                let context = format!("{code} {extensions:?} {delivery:?}");
                let mut p = Pair::sessions(
                    client_config(TlsRequirement::Opportunistic, BOTH),
                    with_extensions(ber_tls(), extensions),
                    delivery,
                    reject_messages(code, enhanced),
                );
                p.run();
                p.send(envelope(&["<b@example.test>"]), &b"first\r\n"[..])
                    .expect("ready");
                p.send(envelope(&["<c@example.test>"]), &b"second\r\n"[..])
                    .expect("ready");
                p.quit();
                p.settle();
                p.assert_finished();
                assert_eq!(
                    p.client_tags(),
                    tags(&[
                        "greeting 220",
                        "caps clear",
                        "tls",
                        "caps tls",
                        "ready",
                        "rcpt-ok 0",
                        &format!("rejected {code}"),
                        "ready",
                        "rcpt-ok 0",
                        "accepted 250",
                        "ready",
                        "closed quit",
                    ]),
                    "{context}"
                );
                let bdat = if extensions.1 { "bdat" } else { "data" };
                assert_eq!(
                    p.server_tags(),
                    tags(&[
                        "ehlo",
                        "tls",
                        "ehlo",
                        "mail",
                        "rcpt",
                        bdat,
                        "body",
                        "complete",
                        "mail",
                        "rcpt",
                        bdat,
                        "body",
                        "complete",
                        "closed quit",
                    ]),
                    "{context}"
                );
                assert_eq!(p.stored.len(), 1);
                assert_eq!(p.stored[0].body, b"second\r\n");
                same.check(&p, &context);
            }
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn mail_refused_by_the_application_the_pipelined_rest_gets_503() {
    let mut first = true;
    for extensions in EXTENSIONS {
        let (pipelining, chunking) = extensions;
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("{extensions:?} {delivery:?}");
            let policy: Policy = Box::new(move |event| match event {
                ServerEvent::MailFrom { from, .. } if from.to_string().contains("spam") => {
                    Answer::Reject(reply(550, (5, 7, 1), "sender refused"))
                }
                _ => Answer::Accept,
            });
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), extensions),
                delivery,
                policy,
            );
            p.run();
            let spam = envelope(&["<b@example.test>"]);
            let spam = secmx_core::client::Envelope {
                reverse_path: reverse("<spam@client.example>"),
                ..spam
            };
            p.send(spam, SMALL_BODY).expect("ready");
            p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
                .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            assert_eq!(
                p.client_tags(),
                tags(&[
                    "greeting 220",
                    "caps clear",
                    "tls",
                    "caps tls",
                    "ready",
                    "mail-rejected 550",
                    "ready",
                    "rcpt-ok 0",
                    "accepted 250",
                    "ready",
                    "closed quit",
                ]),
                "{context}"
            );
            let mut server = tags(&["ehlo", "tls", "ehlo", "mail"]);
            if pipelining {
                server.push("refused RCPT 503".into());
                if !chunking {
                    server.push("refused DATA 503".into());
                }
            }
            delivered(&mut Vec::new(), &mut server, 1, chunking, false);
            server.push("closed quit".into());
            assert_eq!(p.server_tags(), server, "{context}");
            assert_eq!(p.stored.len(), 1);
            assert_eq!(p.stored[0].envelope.from, reverse("<a@client.example>"));
            same.check(&p, &context);
            first = false;
        }
    }
    assert!(!first);
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_421_from_the_application_closes_both_sides_rfc5321_3_8() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let policy: Policy = Box::new(|event| match event {
            ServerEvent::RcptTo { .. } => Answer::Reject(reply(421, (4, 3, 2), "shutting down")),
            _ => Answer::Accept,
        });
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Opportunistic, BOTH),
            ber_tls(),
            delivery,
            policy,
        );
        p.run();
        p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
            .expect("ready");
        p.settle();
        p.assert_finished();
        assert_eq!(
            p.client_tags(),
            tags(&[
                "greeting 220",
                "caps clear",
                "tls",
                "caps tls",
                "ready",
                "closed 421"
            ]),
            "{delivery:?}"
        );
        assert_eq!(
            p.server_tags(),
            tags(&[
                "ehlo",
                "tls",
                "ehlo",
                "mail",
                "rcpt",
                "aborted closed",
                "closed ServiceClosing"
            ]),
            "{delivery:?}"
        );
        assert!(p.stored.is_empty());
        same.check(&p, &format!("{delivery:?}"));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn an_idle_client_gets_421_after_the_server_timeout_rfc5321_4_5_3_2_7() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Opportunistic, BOTH),
            ber_tls(),
            delivery,
            accept_all(),
        );
        p.run();
        p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
            .expect("ready");
        // The client never quits.
        p.settle();
        p.assert_finished();
        assert_eq!(p.elapsed(), Duration::from_secs(300));
        assert_eq!(
            p.client_tags(),
            tags(&[
                "greeting 220",
                "caps clear",
                "tls",
                "caps tls",
                "ready",
                "rcpt-ok 0",
                "accepted 250",
                "ready",
                "closed 421",
            ]),
            "{delivery:?}"
        );
        assert_eq!(
            p.server_tags(),
            tags(&[
                "ehlo",
                "tls",
                "ehlo",
                "mail",
                "rcpt",
                "bdat",
                "body",
                "complete",
                "closed timeout",
            ])
        );
        assert_eq!(p.stored.len(), 1);
        same.check(&p, &format!("{delivery:?}"));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_greeting_delay_is_waited_for() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let mut config = ber_tls();
        config.greeting_delay = Some(Duration::from_secs(5));
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Required, BOTH),
            config,
            delivery,
            accept_all(),
        );
        p.run();
        assert!(p.client_events.is_empty() && p.client_wire.is_empty());
        // One jump: the delayed greeting goes out; the client carries on.
        let at = p.next_timeout().expect("the greeting timer");
        assert_eq!(at - p.now, Duration::from_secs(5));
        p.now = at;
        p.server().handle_timeout(at);
        p.run();
        assert_eq!(
            p.client_tags(),
            tags(&["greeting 220", "caps clear", "tls", "caps tls", "ready"])
        );
        p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
            .expect("ready");
        p.quit();
        p.settle();
        p.assert_finished();
        assert_eq!(p.stored.len(), 1);
        same.check(&p, &format!("{delivery:?}"));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_text_line_over_1000_octets_is_refused_rfc5321_4_5_3_1_6() {
    let mut body = b"Subject: long\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'x', 1200));
    body.extend_from_slice(b"\r\n");
    for chunking in [false, true] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), (true, chunking)),
                delivery,
                accept_all(),
            );
            p.run();
            p.send(envelope(&["<b@example.test>"]), body.clone())
                .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            let client = p.client_tags();
            let server = p.server_tags();
            // DATA: the server refuses the long line after the end of data;
            // BDAT carries octets, not lines (RFC 3030 §2).
            if chunking {
                assert!(
                    client.contains(&"accepted 250".to_owned()),
                    "{context}: {client:?}"
                );
                assert_eq!(p.stored.len(), 1);
                assert_eq!(p.stored[0].body, body);
            } else {
                assert!(
                    client.contains(&"rejected 500".to_owned()),
                    "{context}: {client:?}"
                );
                assert!(
                    server.contains(&"refused DATA 500".to_owned()),
                    "{context}: {server:?}"
                );
                assert!(p.stored.is_empty());
            }
            same.check(&p, &context);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_message_of_exactly_the_size_limit_goes_rfc1870_4() {
    for announce in [true, false] {
        for chunking in [true, false] {
            for delivery in DELIVERIES {
                let context = format!("announce {announce} chunking {chunking} {delivery:?}");
                let mut config = with_extensions(ber_tls(), (true, chunking));
                config.max_message_size = Some(1000);
                config.extensions.size = announce;
                let mut p = Pair::sessions(
                    client_config(TlsRequirement::Opportunistic, BOTH),
                    config,
                    delivery,
                    accept_all(),
                );
                p.run();
                // 998 octets and a bare LF: 1000 once normalised.
                let mut body = vec![b'.'; 998];
                body.push(b'\n');
                assert_eq!(normalise(&body).len(), 1000);
                p.send(envelope(&["<b@example.test>"]), body.clone())
                    .expect("fits");
                if announce {
                    // One more octet and the client refuses it.
                    body.insert(0, b'x');
                    assert_eq!(
                        p.send(envelope(&["<b@example.test>"]), body),
                        Err(SubmitError::TooBig {
                            size: 1001,
                            limit: 1000
                        })
                    );
                }
                p.quit();
                p.settle();
                p.assert_finished();
                assert_eq!(p.stored.len(), 1, "{context}: {:?}", p.client_tags());
                let mut expected = vec![b'.'; 998];
                expected.extend_from_slice(b"\r\n");
                assert_eq!(p.stored[0].body, expected, "{context}");
            }
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn smtputf8_8bitmime_and_dsn_parameters_cross_unchanged() {
    use secmx_core::proto::param::{Body, Notify, Orcpt, RcptParameters, Ret};
    use secmx_core::proto::path::ForwardPath;
    let body = "Subject: caf\u{e9}\r\n\r\nna\u{ef}ve r\u{e9}sum\u{e9}\r\n"
        .as_bytes()
        .to_vec();
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let context = format!("{delivery:?}");
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Required, BOTH),
            ber_tls(),
            delivery,
            accept_all(),
        );
        p.run();
        let to = ForwardPath::parse("<j\u{f6}rg@b\u{fc}cher.example>".as_bytes(), true)
            .expect("valid UTF-8 path")
            .into_owned();
        let recipient =
            secmx_core::client::Recipient::new(to.clone()).with_params(RcptParameters {
                notify: Some(Notify::SUCCESS | Notify::FAILURE),
                orcpt: Some(Orcpt {
                    addr_type: "rfc822".into(),
                    address: "joerg@example.test".into(),
                }),
                ..RcptParameters::default()
            });
        let mut env = secmx_core::client::Envelope::new(reverse("<a@client.example>"))
            .with_recipient(recipient);
        env.params.smtputf8 = true;
        env.params.body = Some(Body::EightBitMime);
        env.params.ret = Some(Ret::Hdrs);
        env.params.envid = Some("QQ314159 +x".into());
        p.send(env.clone(), body.clone()).expect("ready");
        p.quit();
        p.settle();
        p.assert_finished();
        assert_eq!(p.stored.len(), 1, "{context}: {:?}", p.server_tags());
        let stored = &p.stored[0];
        assert_eq!(stored.body, body);
        let mut sent = env.params.clone();
        sent.size = Some(body.len() as u64);
        assert_eq!(stored.envelope.params, sent, "{context}");
        assert_eq!(stored.envelope.recipients.len(), 1);
        assert_eq!(stored.envelope.recipients[0].to, to);
        assert_eq!(
            stored.envelope.recipients[0].params,
            env.recipients[0].params
        );
        same.check(&p, &context);
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_handshake_that_never_finishes_times_out_on_both_sides() {
    let mut same = SameEverywhere::new();
    for delivery in DELIVERIES {
        let context = format!("{delivery:?}");
        let mut p = Pair::sessions(
            client_config(TlsRequirement::Required, BOTH),
            ber_tls(),
            delivery,
            accept_all(),
        );
        // The ClientHello never arrives.
        p.cut_client_link_when(Box::new(|_, wire| {
            contains(wire, b"220 2.0.0 Ready to start TLS\r\n")
        }));
        p.settle();
        p.assert_finished();
        // RFC 3207 names no handshake timeout; both sides use one minute.
        assert_eq!(p.elapsed(), Duration::from_secs(60), "{context}");
        assert_eq!(
            p.client_error(),
            Some(&ClientError::Timeout(
                secmx_core::client::TimeoutKind::TlsHandshake
            ))
        );
        assert_eq!(
            p.client_tags(),
            tags(&["greeting 220", "caps clear", "closed error"])
        );
        assert_eq!(p.server_tags(), tags(&["ehlo", "closed timeout"]));
        // Nothing in clear after the 220: no 421 into a TLS stream.
        assert!(p.server_wire.ends_with(b"220 2.0.0 Ready to start TLS\r\n"));
        same.check(&p, &context);
    }
}

fn store_slowly() -> Policy {
    Box::new(|event| match event {
        ServerEvent::MessageComplete { .. } => Answer::Wait,
        _ => Answer::Accept,
    })
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn the_final_reply_waits_for_the_application_rfc5321_6_1() {
    for chunking in [true, false] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), (true, chunking)),
                delivery,
                store_slowly(),
            );
            p.run();
            p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
                .expect("ready");
            // The server does not time the application.
            assert_eq!(
                p.server().pending_decision(),
                Some(secmx_core::server::Decision::Message)
            );
            assert_eq!(p.server().poll_timeout(), None);
            assert!(!p.client_tags().contains(&"accepted 250".to_owned()));
            // Stored after nine minutes: in time.
            p.now += Duration::from_secs(540);
            let now = p.now;
            p.server().accept(now).expect("pending");
            p.run();
            p.quit();
            p.settle();
            p.assert_finished();
            assert!(
                p.client_tags().ends_with(&tags(&[
                    "rcpt-ok 0",
                    "accepted 250",
                    "ready",
                    "closed quit"
                ])),
                "{context}"
            );
            assert_eq!(p.stored.len(), 1);
            same.check(&p, &context);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_final_reply_too_late_the_client_gives_up_and_the_message_is_not_acknowledged() {
    for chunking in [true, false] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                with_extensions(ber_tls(), (true, chunking)),
                delivery,
                store_slowly(),
            );
            p.run();
            p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
                .expect("ready");
            p.settle();
            p.assert_finished();
            // At least the 10 minutes of RFC 5321 §4.5.3.2.6.
            assert!(p.elapsed() >= Duration::from_secs(600), "{context}");
            assert_eq!(
                p.client_error(),
                Some(&ClientError::Timeout(
                    secmx_core::client::TimeoutKind::DataTermination
                ))
            );
            // The client's close_notify ends the session while the decision
            // waits: the transaction is aborted, and the late answer fails.
            assert!(
                p.server_tags()
                    .ends_with(&tags(&["complete", "aborted closed", "closed peer"])),
                "{context}: {:?}",
                p.server_tags()
            );
            let now = p.now;
            assert_eq!(
                p.server().accept(now),
                Err(secmx_core::server::AnswerError::Closed)
            );
            same.check(&p, &context);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn after_a_552_the_next_message_goes_rfc3030_2() {
    for chunking in [true, false] {
        let mut same = SameEverywhere::new();
        for delivery in DELIVERIES {
            let context = format!("chunking {chunking} {delivery:?}");
            let mut p = Pair::sessions(
                client_config(TlsRequirement::Opportunistic, BOTH),
                small_server(false, chunking),
                delivery,
                accept_all(),
            );
            p.run();
            p.send(envelope(&["<b@example.test>"]), vec![b'x'; 4000])
                .expect("ready");
            p.send(envelope(&["<c@example.test>"]), SMALL_BODY)
                .expect("ready");
            p.quit();
            p.settle();
            p.assert_finished();
            assert!(
                p.client_tags().ends_with(&tags(&[
                    "rcpt-ok 0",
                    "rejected 552",
                    "ready",
                    "rcpt-ok 0",
                    "accepted 250",
                    "ready",
                    "closed quit",
                ])),
                "{context}: {:?}",
                p.client_tags()
            );
            assert_eq!(p.stored.len(), 1);
            assert_eq!(p.stored[0].body, normalise(SMALL_BODY));
            same.check(&p, &context);
        }
    }
}

// ---------------------------------------------------------------------------
// Failing: the client's wait for the final reply runs from the first
// call after the body left, not from when it left.

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn the_wait_for_the_final_reply_is_the_data_termination_timeout_rfc5321_4_5_3_2_6() {
    for data_termination in [Duration::from_secs(600), Duration::from_secs(30)] {
        for chunking in [true, false] {
            for delivery in DELIVERIES {
                let context = format!("{data_termination:?} chunking {chunking} {delivery:?}");
                let mut config = client_config(TlsRequirement::Opportunistic, BOTH);
                config.timeouts.data_termination = data_termination;
                let mut p = Pair::sessions(
                    config,
                    with_extensions(ber_tls(), (true, chunking)),
                    delivery,
                    store_slowly(),
                );
                p.run();
                p.send(envelope(&["<b@example.test>"]), SMALL_BODY)
                    .expect("ready");
                // The body and its end went out at `now`, during the drain
                // after send_message; the server is storing the message.
                assert_eq!(p.server().poll_timeout(), None);
                assert_eq!(
                    p.next_timeout(),
                    Some(p.now + data_termination),
                    "{context}: the client's next deadline"
                );
                p.settle();
                assert_eq!(p.elapsed(), data_termination, "{context}");
                assert_eq!(
                    p.client_error(),
                    Some(&ClientError::Timeout(
                        secmx_core::client::TimeoutKind::DataTermination
                    ))
                );
            }
        }
    }
}
