//! The pair harness: a `ClientSession` and a `ServerSession` (or a raw peer
//! scripted by the test in place of either) wired back to back in memory,
//! on a simulated clock.
//!
//! - Bytes cross whole, in seeded random chunks, or one byte at a time
//!   ([`Delivery`]); every piece is followed by the drain rule on the side
//!   that took it (events and transmits until both are empty).
//! - The server's `handle_input` returns how many bytes it took: the rest
//!   stays on the wire and is offered again after draining.
//! - Server decisions (MAIL, RCPT, the message) are answered by a policy
//!   closure; an accepted message is "stored" with the body the chunk events
//!   carried.
//! - The clock moves only in [`Pair::settle`]: when both sides are quiet it
//!   jumps to the earliest `poll_timeout` of the two.
//! - When a side has closed and its last bytes crossed, the other side gets
//!   the end of file (the embedder closes the socket).

#![allow(dead_code)]

use std::mem;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::SupportedProtocolVersion;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use secmx_core::Reply;
use secmx_core::client::{
    ClientConfig, ClientError, ClientEvent, ClientSession, CloseReason as ClientClose, Envelope,
    SubmitError, TlsRequirement, TlsSkipReason,
};
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::server::{
    self, AbortReason, CloseReason as ServerClose, ServerConfig, ServerError, ServerEvent,
    ServerMode, ServerSession,
};
use secmx_core::transport::ring_provider;

// ---------------------------------------------------------------------------
// Certificates (rcgen)

/// The name the server presents and the client checks.
pub(crate) const HOST: &str = "mx.example.test";

/// A certificate chain and its key.
pub(crate) struct Leaf {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

/// A test CA the client trusts, a good leaf, and the four bad ones.
pub(crate) struct Pki {
    ca: CertificateDer<'static>,
    pub(crate) good: Leaf,
    pub(crate) self_signed: Leaf,
    pub(crate) unknown_root: Leaf,
    pub(crate) expired: Leaf,
    pub(crate) wrong_name: Leaf,
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

pub(crate) fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (ca_cert, issuer) = ca("SecMX Pair Test CA");
        let (_, other) = ca("Someone Else's CA");
        let self_signed = {
            let key = KeyPair::generate().expect("leaf key");
            let params = CertificateParams::new(vec![HOST.to_owned()]).expect("leaf params");
            let cert = params.self_signed(&key).expect("self-signed certificate");
            Leaf {
                chain: vec![cert.der().clone()],
                key: key.serialize_der(),
            }
        };
        Pki {
            ca: ca_cert,
            good: signed(&issuer, HOST, false),
            unknown_root: signed(&other, HOST, false),
            expired: signed(&issuer, HOST, true),
            wrong_name: signed(&issuer, "other.example.test", false),
            self_signed,
        }
    })
}

pub(crate) const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
pub(crate) const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
pub(crate) const BOTH: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A rustls server configuration presenting `leaf` (a fresh one per pair,
/// so that no session is resumed across runs).
pub(crate) fn server_tls(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
    let config = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(BOTH)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(
            leaf.chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone())),
        )
        .expect("key matches certificate");
    Arc::new(config)
}

/// A client configuration that trusts the test CA, with these TLS
/// versions.
pub(crate) fn client_config(
    requirement: TlsRequirement,
    versions: &[&'static SupportedProtocolVersion],
) -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki().ca.clone()).expect("CA certificate parses");
    client_config_trusting(requirement, versions, roots)
}

/// A client configuration that trusts no root, for a server without a
/// certificate: no handshake ever starts, so none is checked. It makes no
/// test CA, which lets miri (unable to run ring's key generation) run it.
pub(crate) fn client_config_in_clear(requirement: TlsRequirement) -> ClientConfig {
    client_config_trusting(requirement, BOTH, rustls::RootCertStore::empty())
}

fn client_config_trusting(
    requirement: TlsRequirement,
    versions: &[&'static SupportedProtocolVersion],
    roots: rustls::RootCertStore,
) -> ClientConfig {
    let tls = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    ClientConfig::new(
        Domain::parse(b"client.example", false)
            .expect("valid domain")
            .into_owned(),
        requirement,
        Arc::new(tls),
        ServerName::try_from(HOST).expect("valid DNS name"),
    )
}

/// A BER without a certificate.
pub(crate) fn ber_plain() -> ServerConfig {
    ServerConfig::new(HOST, ServerMode::Ber)
}

/// A BER presenting `leaf`.
pub(crate) fn ber_with(leaf: &Leaf) -> ServerConfig {
    ber_plain().with_tls(server_tls(leaf))
}

/// A BER with the good certificate.
pub(crate) fn ber_tls() -> ServerConfig {
    ber_with(&pki().good)
}

/// A SOR with the good certificate.
pub(crate) fn sor() -> ServerConfig {
    ServerConfig::new(HOST, ServerMode::Sor).with_tls(server_tls(&pki().good))
}

// ---------------------------------------------------------------------------
// Messages

pub(crate) fn reverse(text: &str) -> ReversePath<'static> {
    ReversePath::parse(text.as_bytes(), false)
        .expect("valid reverse-path")
        .into_owned()
}

pub(crate) fn forward(text: &str) -> ForwardPath<'static> {
    ForwardPath::parse(text.as_bytes(), false)
        .expect("valid forward-path")
        .into_owned()
}

/// From `<a@client.example>` to each of `to`.
pub(crate) fn envelope(to: &[&str]) -> Envelope {
    to.iter().fold(
        Envelope::new(reverse("<a@client.example>")),
        |envelope, to| envelope.with_recipient(forward(to)),
    )
}

/// The body as the server must store it: every bare CR and bare LF a CRLF,
/// and a non-empty body ending with CRLF (RFC 5321 §2.3.8). Written apart
/// from the client's own code.
pub(crate) fn normalise(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 2);
    let mut i = 0;
    while let Some(&octet) = body.get(i) {
        match octet {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// About 100 KiB of text with dot lines, bare LFs and the SMTP smuggling
/// sequences (`LF . LF`, `CR . CR`), which must all arrive as content.
pub(crate) fn body_100k() -> Vec<u8> {
    let mut body = b"Subject: a large message\r\nFrom: a@client.example\r\n\r\n".to_vec();
    let mut n = 0u32;
    while body.len() < 100 * 1024 {
        match n % 11 {
            0 => body.extend_from_slice(b".a line that starts with a dot\r\n"),
            3 => body.extend_from_slice(b"bare LF line\n"),
            5 => body.extend_from_slice(b"smuggling?\n.\nMAIL FROM:<x@evil.example>\r\n"),
            7 => body.extend_from_slice(b"bare CR\r.\rstill content\r\n"),
            _ => {}
        }
        body.extend_from_slice(format!("line {n} of the message body, some text\r\n").as_bytes());
        n += 1;
    }
    body
}

/// A short message with every line-end oddity and no final line end.
pub(crate) const SMALL_BODY: &[u8] =
    b"Subject: one\r\n\r\nHello\n.dot line\r\n..two dots\rbare CR\r\n.\nlast line";

// ---------------------------------------------------------------------------
// The pair

/// How bytes cross the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Whole,
    /// Random sizes from this seed: mostly up to 1500 octets, one time in
    /// four up to 8.
    Chunks(u64),
    ByteByByte,
}

pub(crate) const DELIVERIES: [Delivery; 3] = [
    Delivery::Whole,
    Delivery::Chunks(0x5EC_3207_2920),
    Delivery::ByteByByte,
];

/// The application's answer to a server decision.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Accept,
    Reject(Reply<'static>),
    /// Leave the decision pending; the test answers later.
    Wait,
}

pub(crate) type Policy = Box<dyn FnMut(&ServerEvent) -> Answer>;

pub(crate) fn accept_all() -> Policy {
    Box::new(|_| Answer::Accept)
}

/// A peer that writes only what the test scripts and records what it hears.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    pub(crate) heard: Vec<u8>,
    outbox: Vec<u8>,
    pub(crate) eof: bool,
}

pub(crate) enum ClientEnd {
    Session(Box<ClientSession>),
    Raw(Raw),
}

pub(crate) enum ServerEnd {
    Session(Box<ServerSession>),
    Raw(Raw),
}

/// A message the policy accepted: what the application stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub(crate) envelope: server::Envelope,
    pub(crate) body: Vec<u8>,
}

/// When the link from the client goes dead (the client hangs): checked
/// before every piece the server is offered, with the server's events and
/// every byte it wrote so far.
pub(crate) type Cut = Box<dyn Fn(&[ServerEvent], &[u8]) -> bool>;

pub(crate) struct Pair {
    pub(crate) client: ClientEnd,
    pub(crate) server: ServerEnd,
    pub(crate) now: Instant,
    pub(crate) start: Instant,
    pub(crate) delivery: Delivery,
    rng: u64,
    policy: Policy,
    /// Bytes on the wire, not yet taken by the other side.
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    pub(crate) client_events: Vec<ClientEvent>,
    /// Server events, consecutive body chunks merged into one.
    pub(crate) server_events: Vec<ServerEvent>,
    /// What `ServerSession::handle_input` returned as errors.
    pub(crate) server_errors: Vec<ServerError>,
    pub(crate) stored: Vec<Stored>,
    /// The body of the message the server is receiving.
    body: Vec<u8>,
    /// Every byte each side wrote.
    pub(crate) client_wire: Vec<u8>,
    pub(crate) server_wire: Vec<u8>,
    cut: Option<Cut>,
    pub(crate) client_link_dead: bool,
    /// Bytes the dead link swallowed.
    pub(crate) lost: usize,
    server_got_eof: bool,
    client_got_eof: bool,
    /// How many pieces each side was handed.
    pub(crate) pieces_to_server: usize,
    pub(crate) pieces_to_client: usize,
}

impl Pair {
    pub(crate) fn new(
        client: ClientEnd,
        server: ServerEnd,
        start: Instant,
        delivery: Delivery,
        policy: Policy,
    ) -> Self {
        Self {
            client,
            server,
            now: start,
            start,
            delivery,
            rng: match delivery {
                Delivery::Chunks(seed) => seed | 1,
                _ => 1,
            },
            policy,
            c2s: Vec::new(),
            s2c: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_errors: Vec::new(),
            stored: Vec::new(),
            body: Vec::new(),
            client_wire: Vec::new(),
            server_wire: Vec::new(),
            cut: None,
            client_link_dead: false,
            lost: 0,
            server_got_eof: false,
            client_got_eof: false,
            pieces_to_server: 0,
            pieces_to_client: 0,
        }
    }

    /// A `ClientSession` against a `ServerSession`, both started now.
    pub(crate) fn sessions(
        client: ClientConfig,
        server: ServerConfig,
        delivery: Delivery,
        policy: Policy,
    ) -> Self {
        let now = Instant::now();
        let client = ClientEnd::Session(Box::new(ClientSession::new(client, now)));
        let server = ServerEnd::Session(Box::new(
            ServerSession::new(server, now).expect("valid server config"),
        ));
        Self::new(client, server, now, delivery, policy)
    }

    pub(crate) fn client(&mut self) -> &mut ClientSession {
        match &mut self.client {
            ClientEnd::Session(client) => client,
            ClientEnd::Raw(_) => panic!("the client is raw"),
        }
    }

    pub(crate) fn server(&mut self) -> &mut ServerSession {
        match &mut self.server {
            ServerEnd::Session(server) => server,
            ServerEnd::Raw(_) => panic!("the server is raw"),
        }
    }

    pub(crate) fn raw_client(&mut self) -> &mut Raw {
        match &mut self.client {
            ClientEnd::Raw(raw) => raw,
            ClientEnd::Session(_) => panic!("the client is a session"),
        }
    }

    pub(crate) fn raw_server(&mut self) -> &mut Raw {
        match &mut self.server {
            ServerEnd::Raw(raw) => raw,
            ServerEnd::Session(_) => panic!("the server is a session"),
        }
    }

    /// The link from the client dies once `cut` holds over the server's
    /// events and output so far.
    pub(crate) fn cut_client_link_when(&mut self, cut: Cut) {
        self.cut = Some(cut);
    }

    fn next_len(&mut self, left: usize) -> usize {
        match self.delivery {
            Delivery::Whole => left,
            Delivery::ByteByByte => 1,
            Delivery::Chunks(_) => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let max = if self.rng & 3 == 0 { 8 } else { 1500 };
                (1 + (self.rng >> 2) as usize % max).min(left)
            }
        }
    }

    // -----------------------------------------------------------------
    // Draining

    /// The client's drain rule: events and transmits until both are empty.
    fn drain_client(&mut self) -> bool {
        let mut moved = false;
        match &mut self.client {
            ClientEnd::Session(client) => loop {
                let mut any = false;
                while let Some(event) = client.poll_event() {
                    if let Some(ClientEvent::Closed { .. }) = self.client_events.last() {
                        panic!("a client event after Closed: {event:?}");
                    }
                    self.client_events.push(event);
                    any = true;
                }
                let mut out = Vec::new();
                while client.poll_transmit(&mut out) > 0 {}
                if !out.is_empty() {
                    self.client_wire.extend_from_slice(&out);
                    self.c2s.extend_from_slice(&out);
                    any = true;
                }
                if !any {
                    break;
                }
                moved = true;
            },
            ClientEnd::Raw(raw) => {
                if !raw.outbox.is_empty() {
                    let out = mem::take(&mut raw.outbox);
                    self.client_wire.extend_from_slice(&out);
                    self.c2s.extend_from_slice(&out);
                    moved = true;
                }
            }
        }
        moved
    }

    /// The server's drain rule, answering decisions by the policy.
    fn drain_server(&mut self) -> bool {
        let mut moved = false;
        match &mut self.server {
            ServerEnd::Session(server) => {
                for _ in 0..1_000_000 {
                    let event = server.poll_event();
                    if let Some(event) = &event {
                        if let Some(ServerEvent::Closed(_)) = self.server_events.last() {
                            panic!("a server event after Closed: {event:?}");
                        }
                        match event {
                            ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. } => {
                                match (self.policy)(event) {
                                    Answer::Accept => server.accept(self.now).expect("pending"),
                                    Answer::Reject(reply) => {
                                        server.reject(self.now, reply).expect("pending");
                                    }
                                    Answer::Wait => {}
                                }
                            }
                            ServerEvent::MessageComplete { envelope, .. } => {
                                let body = mem::take(&mut self.body);
                                match (self.policy)(event) {
                                    Answer::Accept => {
                                        // Stored first, then acknowledged.
                                        self.stored.push(Stored {
                                            envelope: envelope.clone(),
                                            body,
                                        });
                                        server.accept(self.now).expect("pending");
                                    }
                                    Answer::Reject(reply) => {
                                        server.reject(self.now, reply).expect("pending");
                                    }
                                    Answer::Wait => {
                                        // The application stores the
                                        // message while the session waits.
                                        self.stored.push(Stored {
                                            envelope: envelope.clone(),
                                            body,
                                        });
                                    }
                                }
                            }
                            ServerEvent::DataStart { .. } | ServerEvent::MessageAborted { .. } => {
                                self.body.clear();
                            }
                            ServerEvent::BodyChunk(bytes) => {
                                assert!(!bytes.is_empty(), "no empty body chunk");
                                assert!(bytes.len() <= server::MAX_BODY_CHUNK);
                                self.body.extend_from_slice(bytes);
                            }
                            _ => {}
                        }
                    }
                    let mut out = Vec::new();
                    server.poll_transmit(&mut out);
                    let sent = !out.is_empty();
                    self.server_wire.extend_from_slice(&out);
                    self.s2c.extend_from_slice(&out);
                    match event {
                        Some(ServerEvent::BodyChunk(bytes)) => {
                            if let Some(ServerEvent::BodyChunk(previous)) =
                                self.server_events.last_mut()
                            {
                                let mut joined = previous.to_vec();
                                joined.extend_from_slice(&bytes);
                                *previous = joined.into();
                            } else {
                                self.server_events.push(ServerEvent::BodyChunk(bytes));
                            }
                        }
                        Some(event) => self.server_events.push(event),
                        None if !sent => return moved,
                        None => {}
                    }
                    moved = true;
                }
                panic!("the server never went quiet");
            }
            ServerEnd::Raw(raw) => {
                if !raw.outbox.is_empty() {
                    let out = mem::take(&mut raw.outbox);
                    self.server_wire.extend_from_slice(&out);
                    self.s2c.extend_from_slice(&out);
                    moved = true;
                }
            }
        }
        moved
    }

    // -----------------------------------------------------------------
    // Delivering

    /// Offers the bytes on the wire to the server, piece by piece, draining
    /// after each; what it does not take stays on the wire.
    fn deliver_to_server(&mut self) -> bool {
        if self.c2s.is_empty() {
            return false;
        }
        let wire = mem::take(&mut self.c2s);
        let mut at = 0;
        let mut stalls = 0;
        while at < wire.len() {
            if !self.client_link_dead
                && self
                    .cut
                    .as_ref()
                    .is_some_and(|cut| cut(&self.server_events, &self.server_wire))
            {
                self.client_link_dead = true;
            }
            let server_gone = match &self.server {
                ServerEnd::Session(server) => server.error().is_some(),
                ServerEnd::Raw(_) => false,
            };
            if self.client_link_dead || server_gone {
                // The bytes go nowhere: a dead link, or a socket the
                // failed server closed.
                self.lost += wire.len() - at;
                return true;
            }
            let n = self.next_len(wire.len() - at);
            let piece = &wire[at..at + n];
            self.pieces_to_server += 1;
            let taken = match &mut self.server {
                ServerEnd::Raw(raw) => {
                    raw.heard.extend_from_slice(piece);
                    n
                }
                ServerEnd::Session(server) => match server.handle_input(self.now, piece) {
                    Ok(taken) => taken,
                    Err(error) => {
                        self.server_errors.push(error);
                        n
                    }
                },
            };
            at += taken;
            self.drain_server();
            if taken == 0 {
                stalls += 1;
                if stalls > 2 {
                    // A decision waits: the bytes stay on the wire.
                    let mut rest = wire[at..].to_vec();
                    rest.extend_from_slice(&self.c2s);
                    self.c2s = rest;
                    return true;
                }
            } else {
                stalls = 0;
            }
        }
        true
    }

    /// Gives the bytes on the wire to the client, piece by piece, draining
    /// after each.
    fn deliver_to_client(&mut self) -> bool {
        if self.s2c.is_empty() {
            return false;
        }
        let wire = mem::take(&mut self.s2c);
        let mut at = 0;
        while at < wire.len() {
            let n = self.next_len(wire.len() - at);
            let piece = &wire[at..at + n];
            self.pieces_to_client += 1;
            match &mut self.client {
                ClientEnd::Raw(raw) => raw.heard.extend_from_slice(piece),
                ClientEnd::Session(client) => client.handle_input(self.now, piece),
            }
            at += n;
            self.drain_client();
        }
        true
    }

    /// A side that closed and whose last bytes crossed closes its socket:
    /// the other side reads the end of file.
    fn deliver_eofs(&mut self) -> bool {
        let client_closed = match &self.client {
            ClientEnd::Session(client) => client.is_closed(),
            ClientEnd::Raw(raw) => raw.eof,
        };
        let server_closed = match &self.server {
            ServerEnd::Session(server) => server.is_closed(),
            ServerEnd::Raw(raw) => raw.eof,
        };
        let mut moved = false;
        if client_closed && self.c2s.is_empty() && !self.server_got_eof && !self.client_link_dead {
            self.server_got_eof = true;
            match &mut self.server {
                ServerEnd::Session(server) => server.handle_eof(self.now),
                ServerEnd::Raw(raw) => raw.eof = true,
            }
            self.drain_server();
            moved = true;
        }
        if server_closed && self.s2c.is_empty() && !self.client_got_eof {
            self.client_got_eof = true;
            match &mut self.client {
                ClientEnd::Session(client) => client.handle_eof(self.now),
                ClientEnd::Raw(raw) => raw.eof = true,
            }
            self.drain_client();
            moved = true;
        }
        moved
    }

    /// Moves bytes both ways until both sides are quiet. The clock does
    /// not move.
    pub(crate) fn run(&mut self) {
        for _ in 0..100_000 {
            let mut moved = self.drain_client();
            moved |= self.drain_server();
            moved |= self.deliver_to_server();
            moved |= self.deliver_to_client();
            if !moved {
                moved = self.deliver_eofs();
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// The earliest instant either side wants `handle_timeout`.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let client = match &self.client {
            ClientEnd::Session(client) => client.poll_timeout(),
            ClientEnd::Raw(_) => None,
        };
        let server = match &self.server {
            ServerEnd::Session(server) => server.poll_timeout(),
            ServerEnd::Raw(_) => None,
        };
        match (client, server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs; whenever both sides are quiet, jumps the clock to the earliest
    /// timeout and fires it; stops when no timer is left.
    pub(crate) fn settle(&mut self) {
        self.run();
        for _ in 0..1000 {
            let Some(at) = self.next_timeout() else {
                return;
            };
            self.now = self.now.max(at);
            if let ClientEnd::Session(client) = &mut self.client {
                client.handle_timeout(self.now);
            }
            if let ServerEnd::Session(server) = &mut self.server {
                server.handle_timeout(self.now);
            }
            self.run();
        }
        panic!("timers keep firing");
    }

    /// How long the clock ran.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    // -----------------------------------------------------------------
    // Acting

    /// The client submits a message; then the pair runs until quiet.
    pub(crate) fn send(
        &mut self,
        envelope: Envelope,
        body: impl Into<bytes::Bytes>,
    ) -> Result<(), SubmitError> {
        let now = self.now;
        self.client().send_message(now, envelope, body)?;
        self.run();
        Ok(())
    }

    /// The client quits; then the pair runs until both sides closed.
    pub(crate) fn quit(&mut self) {
        let now = self.now;
        self.client().quit(now).expect("the client is ready");
        self.run();
    }

    /// The raw peer writes `bytes`; then the pair runs until quiet.
    pub(crate) fn raw_client_says(&mut self, bytes: &[u8]) {
        self.raw_client().outbox.extend_from_slice(bytes);
        self.run();
    }

    pub(crate) fn raw_server_says(&mut self, bytes: &[u8]) {
        self.raw_server().outbox.extend_from_slice(bytes);
        self.run();
    }

    // -----------------------------------------------------------------
    // Reading the outcome

    /// The client's events, as short tags.
    pub(crate) fn client_tags(&self) -> Vec<String> {
        self.client_events.iter().map(client_tag).collect()
    }

    /// The server's events, as short tags (body chunks merged).
    pub(crate) fn server_tags(&self) -> Vec<String> {
        self.server_events.iter().map(server_tag).collect()
    }

    pub(crate) fn client_error(&self) -> Option<&ClientError> {
        match &self.client {
            ClientEnd::Session(client) => client.error(),
            ClientEnd::Raw(_) => None,
        }
    }

    pub(crate) fn server_error(&self) -> Option<&ServerError> {
        match &self.server {
            ServerEnd::Session(server) => server.error(),
            ServerEnd::Raw(_) => None,
        }
    }

    pub(crate) fn server_close(&self) -> Option<&ServerClose> {
        self.server_events.iter().find_map(|event| match event {
            ServerEvent::Closed(reason) => Some(reason),
            _ => None,
        })
    }

    pub(crate) fn count_server(&self, matches: impl Fn(&ServerEvent) -> bool) -> usize {
        self.server_events.iter().filter(|e| matches(e)).count()
    }

    /// Both sides are closed and nothing is left on the wire.
    pub(crate) fn assert_finished(&self) {
        let client_closed = match &self.client {
            ClientEnd::Session(client) => client.is_closed(),
            ClientEnd::Raw(_) => true,
        };
        let server_closed = match &self.server {
            ServerEnd::Session(server) => server.is_closed(),
            ServerEnd::Raw(_) => true,
        };
        assert!(client_closed, "the client is still open");
        assert!(server_closed, "the server is still open");
        assert!(self.c2s.is_empty() || self.client_link_dead);
        assert!(self.s2c.is_empty());
        assert_eq!(self.next_timeout(), None, "no timer after the end");
    }
}

pub(crate) fn client_tag(event: &ClientEvent) -> String {
    match event {
        ClientEvent::Greeting(reply) => format!("greeting {}", reply.code().get()),
        ClientEvent::Capabilities { tls: true, .. } => "caps tls".into(),
        ClientEvent::Capabilities { tls: false, .. } => "caps clear".into(),
        ClientEvent::TlsEstablished(_) => "tls".into(),
        ClientEvent::TlsSkipped { reason } => match reason {
            TlsSkipReason::NotOffered => "skipped not-offered".into(),
            other => format!("skipped {other:?}"),
        },
        ClientEvent::Ready => "ready".into(),
        ClientEvent::MailRejected(reply) => format!("mail-rejected {}", reply.code().get()),
        ClientEvent::RcptAccepted { index, .. } => format!("rcpt-ok {index}"),
        ClientEvent::RcptRejected { index, reply } => {
            format!("rcpt-rejected {index} {}", reply.code().get())
        }
        ClientEvent::NoRecipientsAccepted => "no-rcpts".into(),
        ClientEvent::MessageAccepted(reply) => format!("accepted {}", reply.code().get()),
        ClientEvent::MessageRejected(reply) => format!("rejected {}", reply.code().get()),
        ClientEvent::Closed { reason } => match reason {
            ClientClose::Quit => "closed quit".into(),
            ClientClose::ServiceClosing(reply) => format!("closed {}", reply.code().get()),
            ClientClose::Rejected(reply) => format!("closed rejected {}", reply.code().get()),
            ClientClose::Error(_) => "closed error".into(),
            other => format!("closed {other:?}"),
        },
        other => format!("{other:?}"),
    }
}

pub(crate) fn server_tag(event: &ServerEvent) -> String {
    match event {
        ServerEvent::Helo { extended: true, .. } => "ehlo".into(),
        ServerEvent::Helo {
            extended: false, ..
        } => "helo".into(),
        ServerEvent::TlsEstablished(_) => "tls".into(),
        ServerEvent::MailFrom { .. } => "mail".into(),
        ServerEvent::RcptTo { .. } => "rcpt".into(),
        ServerEvent::DataStart { bdat: false } => "data".into(),
        ServerEvent::DataStart { bdat: true } => "bdat".into(),
        ServerEvent::BodyChunk(_) => "body".into(),
        ServerEvent::MessageComplete { .. } => "complete".into(),
        ServerEvent::MessageAborted { reason } => match reason {
            AbortReason::Reset => "aborted reset".into(),
            AbortReason::BodyRefused(reply) => format!("aborted refused {}", reply.code.get()),
            AbortReason::Closed(_) => "aborted closed".into(),
            other => format!("aborted {other:?}"),
        },
        ServerEvent::Refused { verb, reply } => {
            let verb = verb.map_or("?", |verb| verb.as_str());
            format!("refused {verb} {}", reply.code().get())
        }
        ServerEvent::Injection { .. } => "injection".into(),
        ServerEvent::Closed(reason) => match reason {
            ServerClose::Quit => "closed quit".into(),
            ServerClose::PeerClosed => "closed peer".into(),
            ServerClose::Timeout => "closed timeout".into(),
            ServerClose::Failed(_) => "closed failed".into(),
            other => format!("closed {other:?}"),
        },
        other => format!("{other:?}"),
    }
}

/// `expected` as owned strings, for comparing with tags.
pub(crate) fn tags(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the client wrote after its `STARTTLS` line.
pub(crate) fn after_starttls(wire: &[u8]) -> &[u8] {
    let end = wire
        .windows(10)
        .position(|w| w == b"STARTTLS\r\n")
        .expect("STARTTLS was sent")
        + 10;
    &wire[end..]
}
