//! `ServerSession` with STARTTLS (RFC 3207) against a client-side
//! `Transport` on rustls trusting an rcgen CA: pre-TLS state forgotten,
//! EHLO required again, STARTTLS once, REQUIRETLS only under TLS, a SOR
//! taking mail after TLS, handshake timeouts and failures, close_notify.
//! Network bytes reach the server whole, in random chunks and byte by byte.

mod server_common;

use std::sync::Arc;
use std::time::Duration;

use rustls::ProtocolVersion;
use secmx_core::server::{
    AbortReason, CloseReason, MAX_BODY_CHUNK, ServerConfig, ServerError, ServerEvent,
};
use secmx_core::transport::Transport;
use server_common::*;

/// A client `Transport` wired to a server `Harness`.
struct Link {
    server: Harness,
    client: Transport,
    /// Plaintext the client received and the test has not taken.
    plain: Vec<u8>,
}

impl Link {
    fn new(config: ServerConfig, delivery: Delivery, policy: Policy) -> Self {
        let mut link = Self {
            server: Harness::new(config, delivery, policy),
            client: Transport::new(),
            plain: Vec::new(),
        };
        link.pump();
        link
    }

    /// Moves bytes both ways until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let from_server = self.server.take_output();
            if !from_server.is_empty() {
                self.client
                    .receive(&from_server, &mut self.plain)
                    .expect("client transport healthy");
            }
            let mut to_server = Vec::new();
            self.client.poll_transmit(&mut to_server);
            if from_server.is_empty() && to_server.is_empty() {
                return;
            }
            self.server.send(&to_server);
        }
        panic!("the link never went quiet");
    }

    /// The client sends plaintext; returns what the server answered.
    fn say(&mut self, text: &[u8]) -> String {
        let mut rest = text;
        while !rest.is_empty() {
            let taken = self.client.send(rest).expect("client can send");
            rest = &rest[taken..];
            self.pump();
        }
        self.pump();
        show(&std::mem::take(&mut self.plain))
    }

    fn start_tls(&mut self, config: Arc<rustls::ClientConfig>) {
        self.client
            .start_client_tls(config, host_name())
            .expect("client starts TLS");
        self.pump();
    }

    /// EHLO, STARTTLS, handshake.
    fn upgrade(&mut self) {
        self.plain.clear();
        let ehlo = self.say(b"EHLO client.example\r\n");
        assert_eq!(ehlo, show(EHLO_STARTTLS));
        assert_eq!(
            self.say(b"STARTTLS\r\n"),
            "220 2.0.0 Ready to start TLS\r\n"
        );
        self.start_tls(tls_client_config());
        assert!(self.server.session.is_tls());
        assert!(self.client.tls_info().is_some(), "client handshake done");
    }
}

fn tls_info(harness: &Harness) -> Option<&secmx_core::TlsInfo> {
    harness.events.iter().find_map(|event| match event {
        ServerEvent::TlsEstablished(info) => Some(info),
        _ => None,
    })
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn pre_tls_state_is_forgotten_and_ehlo_is_required_again_rfc3207_4_2() {
    for delivery in DELIVERIES {
        let mut link = Link::new(ber_tls(), delivery, accept_all);
        assert_eq!(show(&std::mem::take(&mut link.plain)), show(GREETING));
        assert_eq!(link.say(b"EHLO client.example\r\n"), show(EHLO_STARTTLS));
        // A transaction opened in clear...
        assert_eq!(link.say(b"MAIL FROM:<a@example.org>\r\n"), show(MAIL_OK));
        assert_eq!(
            link.say(b"STARTTLS\r\n"),
            "220 2.0.0 Ready to start TLS\r\n"
        );
        // ...is gone at the 220, with the HELO name.
        assert!(link.server.events.contains(&ServerEvent::MessageAborted {
            reason: AbortReason::Reset
        }));
        assert_eq!(link.server.session.helo_name(), None);
        link.start_tls(tls_client_config());

        let info = tls_info(&link.server).expect("TlsEstablished").clone();
        assert_eq!(info.protocol_version, ProtocolVersion::TLSv1_3);
        assert_eq!(info.sni.as_deref(), Some(HOST));
        assert!(info.peer_certificates.is_empty(), "no client certificate");

        // RFC 3207 §4.2: EHLO again before anything else.
        assert_eq!(
            link.say(b"MAIL FROM:<a@example.org>\r\n"),
            "503 5.5.1 Error: send HELO/EHLO first\r\n"
        );
        assert_eq!(
            link.say(b"RCPT TO:<b@example.test>\r\n"),
            "503 5.5.1 Error: need MAIL command\r\n"
        );
        // No STARTTLS any more, REQUIRETLS now (RFC 8689 §2).
        assert_eq!(link.say(b"EHLO client.example\r\n"), show(EHLO_TLS));
        assert_eq!(
            link.say(b"STARTTLS\r\n"),
            "503 5.5.1 Error: TLS already active\r\n"
        );
        assert_eq!(
            link.say(
                b"MAIL FROM:<a@example.org> REQUIRETLS\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
            ),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        );
        assert_eq!(link.say(b"secret\r\n.\r\n"), show(QUEUED));
        assert_eq!(link.say(b"QUIT\r\n"), show(BYE));
        // The goodbye: close_notify after the 221.
        assert!(link.client.received_close_notify(), "{delivery:?}");

        let envelope = link
            .server
            .events
            .iter()
            .find_map(|event| match event {
                ServerEvent::MessageComplete { envelope, .. } => Some(envelope),
                _ => None,
            })
            .expect("message");
        assert!(envelope.tls && envelope.params.requiretls);
        assert_eq!(link.server.bodies(), [b"secret\r\n".to_vec()]);
        assert_eq!(link.server.closed(), Some(&CloseReason::Quit));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn sor_takes_mail_only_after_tls_rfc3207_4() {
    for delivery in DELIVERIES {
        let mut link = Link::new(sor(), delivery, accept_all);
        link.plain.clear();
        assert_eq!(link.say(b"EHLO c.example\r\n"), show(EHLO_STARTTLS));
        assert_eq!(
            link.say(b"MAIL FROM:<a@example.org>\r\n"),
            show(MUST_STARTTLS)
        );
        assert_eq!(
            link.say(b"STARTTLS\r\n"),
            "220 2.0.0 Ready to start TLS\r\n"
        );
        link.start_tls(tls_client_config());
        assert_eq!(link.say(b"EHLO c.example\r\n"), show(EHLO_TLS));
        assert_eq!(
            link.say(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        );
        assert_eq!(link.say(b"over TLS\r\n.\r\n"), show(QUEUED));
        assert_eq!(link.server.bodies(), [b"over TLS\r\n".to_vec()]);
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn tls12_handshake_is_reported_rfc3207_4() {
    let tls12 = tls_client_config_for(&[&rustls::version::TLS12]);
    let mut link = Link::new(ber_tls(), Delivery::Whole, accept_all);
    link.plain.clear();
    assert_eq!(
        link.say(b"STARTTLS\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    link.start_tls(tls12);
    let info = tls_info(&link.server).expect("TlsEstablished");
    assert_eq!(info.protocol_version, ProtocolVersion::TLSv1_2);
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn handshake_timeout_closes_without_a_reply_rfc3207_4() {
    let mut link = Link::new(ber_tls(), Delivery::Whole, accept_all);
    link.plain.clear();
    assert_eq!(
        link.say(b"STARTTLS\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    // The handshake timer (1 minute), not the idle timer (5 minutes).
    link.server.advance(Duration::from_secs(59));
    assert!(!link.server.session.is_closed());
    link.server.advance(Duration::from_secs(1));
    assert_eq!(link.server.closed(), Some(&CloseReason::Timeout));
    assert!(
        link.server.take_output().is_empty(),
        "nothing in clear after the 220"
    );
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn plaintext_during_the_handshake_fails_with_an_alert_rfc3207_4() {
    let mut harness = Harness::new(ber_tls(), Delivery::Whole, accept_all);
    harness.send(b"STARTTLS\r\n");
    harness.take_output();
    harness.send(b"EHLO c.example\r\n");
    let out = harness.take_output();
    // A fatal TLS alert record (content type 21, level 2).
    assert_eq!(out.first(), Some(&0x15));
    assert_eq!(out.get(5), Some(&0x02));
    assert!(matches!(
        harness.closed(),
        Some(CloseReason::Failed(ServerError::Tls(_)))
    ));
    assert_eq!(harness.count(|e| matches!(e, ServerEvent::Helo { .. })), 0);
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn close_notify_mid_data_aborts_the_message_rfc5321_3_8() {
    for delivery in DELIVERIES {
        let mut link = Link::new(ber_tls(), delivery, accept_all);
        link.upgrade();
        link.say(b"EHLO c.example\r\n");
        link.say(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
        link.say(b"half a message\r\n");
        link.client.close_notify();
        link.pump();
        assert_eq!(
            link.server
                .count(|e| matches!(e, ServerEvent::MessageComplete { .. })),
            0
        );
        assert!(link.server.events.contains(&ServerEvent::MessageAborted {
            reason: AbortReason::Closed(CloseReason::PeerClosed)
        }));
        assert_eq!(link.server.closed(), Some(&CloseReason::PeerClosed));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn large_message_over_tls_streams_in_bounded_chunks() {
    let mut body = Vec::new();
    let mut n = 0u32;
    while body.len() < 100 * 1024 {
        body.extend_from_slice(format!("line {n} of the message, with some text\r\n").as_bytes());
        if n.is_multiple_of(97) {
            body.extend_from_slice(b".starts with a dot\r\n");
        }
        n += 1;
    }
    let mut stuffed = Vec::new();
    secmx_core::DotStuffer::stuff_all(&body, &mut stuffed);
    for delivery in [Delivery::Whole, Delivery::Chunks(7), Delivery::ByteByByte] {
        let mut link = Link::new(ber_tls(), delivery, accept_all);
        link.upgrade();
        link.say(b"EHLO c.example\r\n");
        link.say(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
        assert_eq!(link.say(&stuffed), show(QUEUED), "{delivery:?}");
        assert_eq!(link.server.bodies(), [body.clone()]);
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn body_chunks_are_bounded() {
    // Events as they come, unmerged.
    let mut link = Link::new(ber_tls(), Delivery::Whole, wait_all);
    link.upgrade();
    link.server.policy = accept_all;
    link.say(b"EHLO c.example\r\n");
    link.say(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
    let body = vec![b'x'; 70]
        .into_iter()
        .chain(*b"\r\n")
        .cycle()
        .take(3000 * 72)
        .collect::<Vec<u8>>();
    let mut wire = body.clone();
    wire.extend_from_slice(b".\r\n");
    let mut rest: &[u8] = &wire;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let taken = link.client.send(rest).expect("send");
        rest = &rest[taken..];
        link.client.poll_transmit(&mut records);
    }
    let session = &mut link.server.session;
    let mut offered: &[u8] = &records;
    let mut got = Vec::new();
    let mut out = Vec::new();
    let mut partial_takes = 0;
    while !offered.is_empty() {
        let taken = session
            .handle_input(link.server.now, offered)
            .expect("healthy");
        if taken < offered.len() {
            partial_takes += 1;
        }
        offered = &offered[taken..];
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::BodyChunk(bytes) => {
                    assert!(bytes.len() <= MAX_BODY_CHUNK);
                    got.extend_from_slice(&bytes);
                }
                ServerEvent::MessageComplete { .. } => {
                    session.accept(link.server.now).expect("pending")
                }
                _ => {}
            }
            session.poll_transmit(&mut out);
        }
        session.poll_transmit(&mut out);
    }
    assert_eq!(got, body);
    assert!(
        partial_takes > 0,
        "backpressure: input beyond the buffer waits"
    );
    let mut replies = Vec::new();
    link.client
        .receive(&out, &mut replies)
        .expect("client healthy");
    assert_eq!(show(&replies), show(QUEUED));
}
