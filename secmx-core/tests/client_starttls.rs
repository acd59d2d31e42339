//! The client session doing STARTTLS (RFC 3207) against a scripted server
//! that owns a bare rustls `Transport`: a full session with a 100 KiB
//! message, capabilities forgotten at TLS, certificate failures
//! (self-signed, unknown root, wrong name, expired — rcgen), response
//! injection and the handshake timeout. Every scenario runs with the bytes
//! delivered whole, in random chunks and (except the 100 KiB message) one
//! byte at a time.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    CertificateError, ProtocolVersion, RootCertStore, ServerConfig, SupportedProtocolVersion,
};
use secmx_core::client::{
    ClientConfig, ClientError, ClientEvent, ClientSession, CloseReason, Envelope, SubmitError,
    TimeoutKind, TlsRequirement,
};
use secmx_core::proto::data::{DotUnstuffer, Unstuffed};
use secmx_core::proto::ehlo::Keyword;
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::transport::{Transport, ring_provider};

const MX: &str = "mx.example.test";

// ---------------------------------------------------------------------------
// Certificates

struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

struct Pki {
    ca: CertificateDer<'static>,
    good: Leaf,
    self_signed: Leaf,
    unknown_root: Leaf,
    expired: Leaf,
    wrong_name: Leaf,
}

fn ca(name: &str) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.der().clone(), Issuer::new(params, key))
}

fn signed(issuer: &Issuer<'static, KeyPair>, name: &str, expired: bool) -> Leaf {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    Leaf {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
    }
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (ca_cert, issuer) = ca("SecMX Test CA");
        let (_, other) = ca("Someone Else's CA");
        let self_signed = {
            let key = KeyPair::generate().expect("leaf key");
            let params = CertificateParams::new(vec![MX.to_owned()]).expect("leaf params");
            let cert = params.self_signed(&key).expect("self-signed certificate");
            Leaf {
                chain: vec![cert.der().clone()],
                key: key.serialize_der(),
            }
        };
        Pki {
            ca: ca_cert,
            good: signed(&issuer, MX, false),
            unknown_root: signed(&other, MX, false),
            expired: signed(&issuer, MX, true),
            wrong_name: signed(&issuer, "other.example.test", false),
            self_signed,
        }
    })
}

fn server_tls(leaf: &Leaf, versions: &[&'static SupportedProtocolVersion]) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(
            leaf.chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone())),
        )
        .expect("key matches certificate");
    Arc::new(config)
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn config(requirement: TlsRequirement) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(pki().ca.clone()).expect("CA certificate parses");
    let tls = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    ClientConfig::new(
        Domain::parse(b"client.example", false)
            .expect("valid domain")
            .into_owned(),
        requirement,
        Arc::new(tls),
        ServerName::try_from(MX).expect("valid DNS name"),
    )
}

fn envelope() -> Envelope {
    Envelope::new(
        ReversePath::parse(b"<a@client.example>", false)
            .expect("valid path")
            .into_owned(),
    )
    .with_recipient(
        ForwardPath::parse(b"<b@example.test>", false)
            .expect("valid path")
            .into_owned(),
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// The pair: the client session and a server transport driven by the test

#[derive(Debug, Clone, Copy)]
enum Delivery {
    Whole,
    Chunks(u64),
    ByteByByte,
}

const DELIVERIES: [Delivery; 3] = [
    Delivery::Whole,
    Delivery::Chunks(0x5EC_3207),
    Delivery::ByteByByte,
];

struct Pair {
    client: ClientSession,
    server: Transport,
    /// Plaintext the server received and has not looked at.
    heard: Vec<u8>,
    server_error: Option<secmx_core::TransportError>,
    events: Vec<ClientEvent>,
    /// Every byte the client sent.
    client_wire: Vec<u8>,
    now: Instant,
    delivery: Delivery,
    rng: u64,
}

impl Pair {
    fn new(config: ClientConfig, delivery: Delivery) -> Self {
        let now = Instant::now();
        Self {
            client: ClientSession::new(config, now),
            server: Transport::new(),
            heard: Vec::new(),
            server_error: None,
            events: Vec::new(),
            client_wire: Vec::new(),
            now,
            delivery,
            rng: match delivery {
                Delivery::Chunks(seed) => seed | 1,
                _ => 1,
            },
        }
    }

    fn chunk_len(&mut self, left: usize) -> usize {
        match self.delivery {
            Delivery::Whole => left,
            Delivery::ByteByByte => 1,
            Delivery::Chunks(_) => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (1 + (self.rng % 3000) as usize).min(left)
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            self.events.push(event);
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn pump(&mut self) {
        for _ in 0..100_000 {
            self.drain_events();
            let mut to_server = Vec::new();
            while self.client.poll_transmit(&mut to_server) > 0 {}
            self.client_wire.extend_from_slice(&to_server);
            let mut rest = &to_server[..];
            while !rest.is_empty() && self.server_error.is_none() {
                let n = self.chunk_len(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                if let Err(e) = self.server.receive(chunk, &mut self.heard) {
                    self.server_error = Some(e);
                }
                let _ = self.server.poll_handshake_complete();
            }
            let mut to_client = Vec::new();
            self.server.poll_transmit(&mut to_client);
            let mut rest = &to_client[..];
            while !rest.is_empty() {
                let n = self.chunk_len(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                self.client.handle_input(self.now, chunk);
                self.drain_events();
                let mut more = Vec::new();
                while self.client.poll_transmit(&mut more) > 0 {}
                self.client_wire.extend_from_slice(&more);
                if let Err(e) = self.server.receive(&more, &mut self.heard) {
                    self.server_error = Some(e);
                }
                let _ = self.server.poll_handshake_complete();
            }
            if to_server.is_empty() && to_client.is_empty() {
                self.drain_events();
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// The server sends `text` (plaintext, encrypted once TLS is up).
    fn say(&mut self, text: &[u8]) {
        let mut rest = text;
        while !rest.is_empty() {
            let taken = self.server.send(rest).expect("server transport healthy");
            rest = &rest[taken..];
            self.pump();
        }
        self.pump();
    }

    /// What the server received since the last call.
    fn heard(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.heard)
    }

    /// Greeting, EHLO with STARTTLS, `220`, handshake, EHLO again with
    /// `after_tls` as the reply.
    fn starttls(&mut self, leaf: &Leaf, versions: &[&'static SupportedProtocolVersion]) {
        self.say(b"220 mx.example.test ESMTP\r\n");
        assert_eq!(self.heard(), b"EHLO client.example\r\n");
        self.say(b"250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        assert_eq!(self.heard(), b"STARTTLS\r\n");
        let _ = self.server.send(b"220 2.0.0 Ready to start TLS\r\n");
        self.server
            .start_server_tls(server_tls(leaf, versions))
            .expect("server starts TLS");
        self.pump();
    }

    fn tags(&mut self) -> Vec<String> {
        self.events
            .drain(..)
            .map(|e| match e {
                ClientEvent::Greeting(_) => "greeting".into(),
                ClientEvent::Capabilities { tls, .. } => format!("caps tls={tls}"),
                ClientEvent::TlsEstablished(_) => "tls".into(),
                ClientEvent::TlsSkipped { .. } => "skipped".into(),
                ClientEvent::Ready => "ready".into(),
                ClientEvent::RcptAccepted { .. } => "rcpt-ok".into(),
                ClientEvent::MessageAccepted(_) => "accepted".into(),
                ClientEvent::Closed { reason } => match reason {
                    CloseReason::Quit => "closed quit".into(),
                    _ => "closed".into(),
                },
                other => format!("{other:?}"),
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// A whole session over TLS

fn body_100k() -> Vec<u8> {
    let mut body = b"Subject: a large message\r\n\r\n".to_vec();
    let mut n = 0u32;
    while body.len() < 100 * 1024 {
        if n.is_multiple_of(7) {
            body.extend_from_slice(b".starts with a dot\r\n");
        }
        body.extend_from_slice(format!("line {n} of the message body, some text\r\n").as_bytes());
        n += 1;
    }
    body
}

fn unstuff(wire: &[u8]) -> (Vec<u8>, usize) {
    let mut unstuffer = DotUnstuffer::new();
    let mut input = wire;
    let mut body = Vec::new();
    while let Some(piece) = unstuffer.next(&mut input) {
        match piece {
            Unstuffed::Content(bytes) => body.extend_from_slice(bytes),
            Unstuffed::End => return (body, wire.len() - input.len()),
        }
    }
    panic!("no end of data");
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_whole_session_over_starttls_rfc3207_4() {
    let body = body_100k();
    for (delivery, versions, version) in [
        (Delivery::Whole, TLS13, ProtocolVersion::TLSv1_3),
        (Delivery::Chunks(7), TLS13, ProtocolVersion::TLSv1_3),
        (Delivery::Chunks(0x2920), TLS12, ProtocolVersion::TLSv1_2),
    ] {
        let mut p = Pair::new(config(TlsRequirement::Required), delivery);
        p.starttls(&pki().good, versions);
        assert_eq!(p.heard(), b"EHLO client.example\r\n", "{delivery:?}");
        let info = p.client.tls_info().expect("handshake done");
        assert_eq!(info.protocol_version, version);
        assert_eq!(info.peer_certificates, pki().good.chain);
        assert!(p.client.is_tls());
        p.say(b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        assert_eq!(
            p.tags(),
            [
                "greeting",
                "caps tls=false",
                "tls",
                "caps tls=true",
                "ready"
            ]
        );

        p.client
            .send_message(p.now, envelope(), body.clone())
            .expect("ready");
        p.pump();
        assert_eq!(
            p.heard(),
            b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
        );
        p.say(b"250 ok\r\n250 ok\r\n354 go ahead\r\n");
        let data = p.heard();
        let (received, used) = unstuff(&data);
        assert_eq!(used, data.len());
        assert!(received == body, "the body arrives unchanged");
        p.say(b"250 2.0.0 queued\r\n");
        assert_eq!(p.tags(), ["rcpt-ok", "accepted", "ready"]);

        p.client.quit(p.now).expect("ready");
        p.pump();
        assert_eq!(p.heard(), b"QUIT\r\n");
        p.say(b"221 2.0.0 bye\r\n");
        assert_eq!(p.tags(), ["closed quit"]);
        assert!(p.server.received_close_notify(), "close_notify after 221");
        assert_eq!(p.server_error, None);
        // Nothing after STARTTLS went in clear.
        let clear_end = p
            .client_wire
            .windows(10)
            .position(|w| w == b"STARTTLS\r\n")
            .expect("STARTTLS sent")
            + 10;
        let after = &p.client_wire[clear_end..];
        for word in [
            &b"EHLO"[..],
            b"MAIL",
            b"RCPT",
            b"DATA",
            b"QUIT",
            b"starts with",
        ] {
            assert!(!contains(after, word));
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn capabilities_from_before_tls_are_forgotten_rfc3207_4_2() {
    for delivery in DELIVERIES {
        let mut p = Pair::new(config(TlsRequirement::Required), delivery);
        p.say(b"220 mx.example.test ESMTP\r\n");
        p.heard();
        // In clear: everything, including a tiny SIZE and REQUIRETLS.
        p.say(
            b"250-mx.example.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n\
              250-SIZE 10\r\n250-REQUIRETLS\r\n250 STARTTLS\r\n",
        );
        assert_eq!(p.heard(), b"STARTTLS\r\n");
        let _ = p.server.send(b"220 go ahead\r\n");
        p.server
            .start_server_tls(server_tls(&pki().good, TLS13))
            .expect("server starts TLS");
        p.pump();
        assert_eq!(p.heard(), b"EHLO client.example\r\n");
        // Over TLS: nothing, and STARTTLS again, which is not taken up.
        p.say(b"250-mx.example.test\r\n250 STARTTLS\r\n");
        assert!(p.client.is_ready(), "{delivery:?}");
        assert_eq!(p.heard(), b"", "STARTTLS is never sent twice");
        let caps = p.client.capabilities().expect("post-TLS caps");
        assert!(!caps.pipelining() && !caps.chunking() && caps.size().is_none());

        // REQUIRETLS was only seen in clear.
        let mut env = envelope();
        env.params.requiretls = true;
        assert_eq!(
            p.client.send_message(p.now, env, &b"x\r\n"[..]),
            Err(SubmitError::NotOffered(Keyword::RequireTls))
        );
        // No pipelining, no BDAT, no SIZE limit.
        p.client
            .send_message(p.now, envelope(), vec![b'x'; 100])
            .expect("ready");
        p.pump();
        assert_eq!(p.heard(), b"MAIL FROM:<a@client.example>\r\n");
        p.say(b"250 ok\r\n");
        assert_eq!(p.heard(), b"RCPT TO:<b@example.test>\r\n");
        p.say(b"250 ok\r\n");
        assert_eq!(p.heard(), b"DATA\r\n");
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn requiretls_goes_out_when_offered_over_tls_rfc8689_4() {
    let mut p = Pair::new(config(TlsRequirement::Required), Delivery::Whole);
    p.starttls(&pki().good, TLS13);
    p.heard();
    p.say(b"250-mx.example.test\r\n250-PIPELINING\r\n250 REQUIRETLS\r\n");
    let mut env = envelope();
    env.params.requiretls = true;
    p.client
        .send_message(p.now, env, &b"x\r\n"[..])
        .expect("ready");
    p.pump();
    assert_eq!(
        p.heard(),
        b"MAIL FROM:<a@client.example> REQUIRETLS\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
    );
}

// ---------------------------------------------------------------------------
// Certificate failures

/// A certificate the server presents and the error the verifier must give.
type CertCase = (&'static str, &'static Leaf, fn(&CertificateError) -> bool);

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn certificate_failures_stop_the_session_before_the_envelope() {
    let cases: [CertCase; 4] = [
        ("self-signed", &pki().self_signed, |e| {
            matches!(e, CertificateError::UnknownIssuer)
        }),
        ("unknown root", &pki().unknown_root, |e| {
            matches!(e, CertificateError::UnknownIssuer)
        }),
        ("wrong name", &pki().wrong_name, |e| {
            matches!(
                e,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        }),
        ("expired", &pki().expired, |e| {
            matches!(
                e,
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        }),
    ];
    for delivery in DELIVERIES {
        for requirement in [TlsRequirement::Required, TlsRequirement::Opportunistic] {
            for (name, leaf, is_expected) in &cases {
                let mut p = Pair::new(config(requirement), delivery);
                p.starttls(leaf, TLS13);
                let error = p.client.error().expect("handshake fails").clone();
                assert!(
                    matches!(error, ClientError::Handshake(_)),
                    "{name}: {error:?}"
                );
                let cert = error.certificate_error().expect("certificate error");
                assert!(is_expected(cert), "{name}: {cert:?}");
                assert!(p.client.is_closed());
                assert!(!p.client.is_tls());
                // Nothing reached the server after STARTTLS, and the
                // client sent no plaintext command after it.
                assert_eq!(p.heard(), b"", "{name}");
                let after = p
                    .client_wire
                    .windows(10)
                    .position(|w| w == b"STARTTLS\r\n")
                    .expect("STARTTLS sent")
                    + 10;
                for word in [&b"EHLO"[..], b"MAIL", b"QUIT"] {
                    assert!(!contains(&p.client_wire[after..], word), "{name}");
                }
                // The server saw the client's alert.
                assert!(p.server_error.is_some(), "{name}");
                let tags = p.tags();
                assert_eq!(tags.last().map(String::as_str), Some("closed"));
                assert!(!tags.contains(&"ready".to_owned()));
                assert_eq!(
                    p.client.send_message(p.now, envelope(), &b"x"[..]),
                    Err(SubmitError::Closed)
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Response injection against a real TLS server

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
fn response_injection_before_the_handshake_cve_2021_38371() {
    for delivery in DELIVERIES {
        let mut p = Pair::new(config(TlsRequirement::Required), delivery);
        p.say(b"220 mx.example.test ESMTP\r\n");
        p.say(b"250-mx.example.test\r\n250 STARTTLS\r\n");
        p.heard();
        // A man in the middle appends a reply to the 220, in clear.
        let _ = p
            .server
            .send(b"220 2.0.0 Ready\r\n250-mx.example.test\r\n250 PIPELINING\r\n");
        p.server
            .start_server_tls(server_tls(&pki().good, TLS13))
            .expect("server starts TLS");
        p.pump();
        assert_eq!(
            p.client.error(),
            Some(&ClientError::ResponseInjection),
            "{delivery:?}"
        );
        assert!(!p.client.is_tls());
        assert!(p.client.capabilities().is_none());
        assert!(p.tags().iter().all(|t| t != "ready" && t != "tls"));
        assert_eq!(p.heard(), b"");
    }
}

// ---------------------------------------------------------------------------
// Timeouts and errors under TLS

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_handshake_that_never_ends_times_out() {
    let mut p = Pair::new(config(TlsRequirement::Required), Delivery::Whole);
    p.say(b"220 mx.example.test ESMTP\r\n");
    p.say(b"250-mx.example.test\r\n250 STARTTLS\r\n");
    // The server says 220 but never answers the ClientHello.
    p.say(b"220 go ahead\r\n");
    let at = p.client.poll_timeout().expect("handshake timer");
    assert_eq!(at - p.now, Duration::from_secs(60));
    p.now = at;
    p.client.handle_timeout(p.now);
    assert_eq!(
        p.client.error(),
        Some(&ClientError::Timeout(TimeoutKind::TlsHandshake))
    );
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn an_unsolicited_reply_over_tls_closes_with_close_notify_and_no_quit() {
    for delivery in DELIVERIES {
        let mut p = Pair::new(config(TlsRequirement::Required), delivery);
        p.starttls(&pki().good, TLS13);
        p.say(b"250 mx.example.test\r\n");
        assert!(p.client.is_ready());
        p.heard();
        p.say(b"250 surprise\r\n");
        assert!(matches!(
            p.client.error(),
            Some(ClientError::UnexpectedReply(_))
        ));
        assert_eq!(p.heard(), b"", "no QUIT to a server out of step");
        assert!(p.server.received_close_notify());
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn end_of_tls_from_the_server_loses_the_connection() {
    let mut p = Pair::new(config(TlsRequirement::Required), Delivery::Whole);
    p.starttls(&pki().good, TLS13);
    p.say(b"250 mx.example.test\r\n");
    p.server.close_notify();
    p.pump();
    assert_eq!(p.client.error(), Some(&ClientError::ConnectionLost));
}
