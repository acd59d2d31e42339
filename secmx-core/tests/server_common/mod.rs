//! A driver for `ServerSession` transcripts: bytes in, bytes and events out,
//! on a simulated clock, with the input delivered whole, in random chunks or
//! byte by byte, and the drain rule applied after every piece.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use secmx_core::Reply;
use secmx_core::server::{ServerConfig, ServerError, ServerEvent, ServerSession};
use secmx_core::transport::ring_provider;

/// How bytes reach the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Whole,
    Chunks(u64),
    ByteByByte,
}

#[cfg(not(miri))]
pub(crate) const DELIVERIES: [Delivery; 4] = [
    Delivery::Whole,
    Delivery::Chunks(0x5EC_2920),
    Delivery::Chunks(0x0DD_5321),
    Delivery::ByteByByte,
];

/// Under miri, whole and one random chunking: byte by byte takes minutes
/// per transcript there, and the chunks still split lines everywhere.
#[cfg(miri)]
pub(crate) const DELIVERIES: [Delivery; 2] = [Delivery::Whole, Delivery::Chunks(0x5EC_2920)];

/// What the application answers to an event that waits for a decision.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Accept,
    Reject(Reply<'static>),
    /// Leave it pending.
    Wait,
}

pub(crate) type Policy = fn(&ServerEvent) -> Answer;

pub(crate) fn accept_all(_: &ServerEvent) -> Answer {
    Answer::Accept
}

pub(crate) fn wait_all(_: &ServerEvent) -> Answer {
    Answer::Wait
}

/// A session, its clock, what came out of it.
pub(crate) struct Harness {
    pub(crate) session: ServerSession,
    pub(crate) now: Instant,
    pub(crate) delivery: Delivery,
    rng: u64,
    /// Server output not yet taken by the test.
    out: Vec<u8>,
    /// Every event, consecutive body chunks merged.
    pub(crate) events: Vec<ServerEvent>,
    /// Errors `handle_input` returned.
    pub(crate) errors: Vec<ServerError>,
    pub(crate) policy: Policy,
}

impl Harness {
    pub(crate) fn new(config: ServerConfig, delivery: Delivery, policy: Policy) -> Self {
        let now = Instant::now();
        let session = ServerSession::new(config, now).expect("valid config");
        let rng = match delivery {
            Delivery::Chunks(seed) => seed | 1,
            _ => 1,
        };
        let mut harness = Self {
            session,
            now,
            delivery,
            rng,
            out: Vec::new(),
            events: Vec::new(),
            errors: Vec::new(),
            policy,
        };
        harness.drain();
        harness
    }

    fn next_len(&mut self, left: usize) -> usize {
        match self.delivery {
            Delivery::Whole => left,
            Delivery::ByteByByte => 1,
            Delivery::Chunks(_) => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let max = 1 + (self.rng % 64) as usize;
                max.min(left)
            }
        }
    }

    fn record(&mut self, event: ServerEvent) {
        if let ServerEvent::BodyChunk(bytes) = &event {
            assert!(!bytes.is_empty(), "no empty body chunks");
            assert!(bytes.len() <= secmx_core::server::MAX_BODY_CHUNK);
            if let Some(ServerEvent::BodyChunk(previous)) = self.events.last_mut() {
                let mut joined = previous.to_vec();
                joined.extend_from_slice(bytes);
                *previous = Bytes::from(joined);
                return;
            }
        }
        if let Some(ServerEvent::Closed(_)) = self.events.last() {
            panic!("an event after Closed: {event:?}");
        }
        self.events.push(event);
    }

    /// The drain rule: events and transmits until both are empty.
    pub(crate) fn drain(&mut self) {
        for _ in 0..1_000_000 {
            let event = self.session.poll_event();
            if let Some(event) = &event {
                let waits = matches!(
                    event,
                    ServerEvent::MailFrom { .. }
                        | ServerEvent::RcptTo { .. }
                        | ServerEvent::MessageComplete { .. }
                );
                if waits {
                    match (self.policy)(event) {
                        Answer::Accept => self.session.accept(self.now).expect("pending"),
                        Answer::Reject(reply) => {
                            self.session.reject(self.now, reply).expect("pending");
                        }
                        Answer::Wait => {}
                    }
                }
            }
            let before = self.out.len();
            self.session.poll_transmit(&mut self.out);
            match event {
                Some(event) => self.record(event),
                None if self.out.len() == before => return,
                None => {}
            }
        }
        panic!("the session never went quiet");
    }

    /// Delivers `bytes` as the delivery mode cuts them, draining after each
    /// piece; keeps offering what the session did not take.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.next_len(rest.len());
            let (piece, tail) = rest.split_at(n);
            rest = tail;
            self.offer(piece);
        }
    }

    /// Offers one piece until the session took all of it.
    pub(crate) fn offer(&mut self, piece: &[u8]) {
        if self.session.error().is_some() {
            // Sticky: recorded once, when it happened.
            let again = self.session.handle_input(self.now, piece);
            assert_eq!(again.err().as_ref(), self.session.error());
            return;
        }
        let mut piece = piece;
        let mut stalls = 0;
        while !piece.is_empty() {
            match self.session.handle_input(self.now, piece) {
                Ok(taken) => {
                    piece = &piece[taken..];
                    if taken == 0 {
                        stalls += 1;
                        assert!(stalls < 3, "the session takes nothing: a decision waits");
                    }
                }
                Err(error) => {
                    self.errors.push(error);
                    piece = &[];
                }
            }
            self.drain();
        }
    }

    /// Offers bytes without draining in between (an embedder that reads
    /// twice before writing).
    pub(crate) fn offer_without_drain(&mut self, pieces: &[&[u8]]) {
        for piece in pieces {
            match self.session.handle_input(self.now, piece) {
                Ok(taken) => assert_eq!(taken, piece.len()),
                Err(error) => self.errors.push(error),
            }
        }
        self.drain();
    }

    pub(crate) fn eof(&mut self) {
        self.session.handle_eof(self.now);
        self.drain();
    }

    /// Moves the clock and fires the timer if it is due.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.session.poll_timeout().is_some_and(|at| at <= self.now) {
            self.session.handle_timeout(self.now);
        }
        self.drain();
    }

    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The body of every message, in order, from the merged chunks.
    pub(crate) fn bodies(&self) -> Vec<Vec<u8>> {
        self.events
            .iter()
            .filter_map(|event| match event {
                ServerEvent::BodyChunk(bytes) => Some(bytes.to_vec()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn count(&self, matches: impl Fn(&ServerEvent) -> bool) -> usize {
        self.events.iter().filter(|event| matches(event)).count()
    }

    pub(crate) fn refused_codes(&self) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|event| match event {
                ServerEvent::Refused { reply, .. } => Some(reply.code().get()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn closed(&self) -> Option<&secmx_core::server::CloseReason> {
        self.events.iter().find_map(|event| match event {
            ServerEvent::Closed(reason) => Some(reason),
            _ => None,
        })
    }
}

/// One step of a transcript.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    /// The client sends these bytes.
    Client(&'a [u8]),
    /// Exactly these bytes came out of the server since the last check.
    Server(&'a [u8]),
    /// The client closes the connection.
    Eof,
    /// Time passes.
    Wait(Duration),
}

pub(crate) fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a transcript with every delivery mode; checks the output at every
/// `Server` step and that every mode gives the same events. Returns the
/// harnesses for more checks.
pub(crate) fn transcript(
    config: impl Fn() -> ServerConfig,
    policy: Policy,
    steps: &[Step<'_>],
) -> Vec<Harness> {
    let mut runs: Vec<Harness> = Vec::new();
    for delivery in DELIVERIES {
        let mut harness = Harness::new(config(), delivery, policy);
        for (index, step) in steps.iter().enumerate() {
            match *step {
                Step::Client(bytes) => harness.send(bytes),
                Step::Server(expected) => {
                    let got = harness.take_output();
                    assert_eq!(show(&got), show(expected), "step {index} with {delivery:?}");
                }
                Step::Eof => harness.eof(),
                Step::Wait(by) => harness.advance(by),
            }
        }
        let rest = harness.take_output();
        assert!(
            rest.is_empty(),
            "unchecked output with {delivery:?}: {}",
            show(&rest)
        );
        if let Some(first) = runs.first() {
            assert_eq!(
                first.events, harness.events,
                "events differ between {:?} and {delivery:?}",
                first.delivery
            );
            assert_eq!(first.errors, harness.errors);
        }
        runs.push(harness);
    }
    runs
}

// ---------------------------------------------------------------------------
// Certificates (rcgen): a CA and a leaf for the test hostname.

pub(crate) const HOST: &str = "mx.example.test";

struct Pki {
    ca: CertificateDer<'static>,
    leaf: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "SecMX Server Test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec![HOST.to_owned()]).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, HOST);
        let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
        Pki {
            ca: ca.der().clone(),
            leaf: vec![cert.der().clone()],
            key: key.serialize_der(),
        }
    })
}

/// The server side: the leaf certificate for `HOST`.
pub(crate) fn tls_server_config() -> Arc<rustls::ServerConfig> {
    let pki = pki();
    let config = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(
            pki.leaf.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
        )
        .expect("key matches certificate");
    Arc::new(config)
}

/// The client side: trusts the test CA.
pub(crate) fn tls_client_config() -> Arc<rustls::ClientConfig> {
    tls_client_config_for(rustls::DEFAULT_VERSIONS)
}

/// The client side, limited to some protocol versions.
pub(crate) fn tls_client_config_for(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki().ca.clone()).expect("CA certificate parses");
    let config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

pub(crate) fn host_name() -> ServerName<'static> {
    ServerName::try_from(HOST).expect("valid DNS name")
}

/// A BER without a certificate.
pub(crate) fn ber_plain() -> ServerConfig {
    ServerConfig::new(HOST, secmx_core::server::ServerMode::Ber)
}

/// A BER with a certificate.
pub(crate) fn ber_tls() -> ServerConfig {
    ber_plain().with_tls(tls_server_config())
}

/// A SOR (with its certificate).
pub(crate) fn sor() -> ServerConfig {
    ServerConfig::new(HOST, secmx_core::server::ServerMode::Sor).with_tls(tls_server_config())
}

pub(crate) const GREETING: &[u8] = b"220 mx.example.test ESMTP\r\n";

/// The EHLO reply of a BER without a certificate, default extensions.
pub(crate) const EHLO_PLAIN: &[u8] =
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n250 SMTPUTF8\r\n";

/// The EHLO reply before TLS when a certificate is configured.
pub(crate) const EHLO_STARTTLS: &[u8] =
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n\
250 SMTPUTF8\r\n";

/// The EHLO reply under TLS: no STARTTLS, REQUIRETLS (RFC 8689 §2).
pub(crate) const EHLO_TLS: &[u8] =
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-DSN\r\n250-SMTPUTF8\r\n\
250 REQUIRETLS\r\n";

pub(crate) const MAIL_OK: &[u8] = b"250 2.1.0 Ok\r\n";
pub(crate) const RCPT_OK: &[u8] = b"250 2.1.5 Ok\r\n";
pub(crate) const GO_AHEAD: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";
pub(crate) const QUEUED: &[u8] = b"250 2.0.0 Ok: queued\r\n";
pub(crate) const BYE: &[u8] = b"221 2.0.0 Bye\r\n";
pub(crate) const MUST_STARTTLS: &[u8] = b"530 5.7.0 Must issue a STARTTLS command first\r\n";
