//! Client and server `Transport`s back to back in memory (RFC 3207 STARTTLS
//! on rustls): handshakes under TLS 1.3 and 1.2, what `tls_info` reports,
//! application data both ways, `close_notify`, certificate failures and
//! garbage input. Every scenario runs with the bytes delivered whole, in
//! random chunks and one byte at a time.

mod proptest_common;

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ProtocolVersion, RootCertStore, ServerConfig,
    SupportedProtocolVersion,
};
use secmx_core::transport::{
    MAX_SEND_BUFFER, Phase, StartTlsError, Transport, TransportError, ring_provider,
};

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
    expired: Leaf,
    wrong_name: Leaf,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "SecMX Test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let signed = |name: &str, expired: bool| {
            let key = KeyPair::generate().expect("leaf key");
            let mut params = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
            params.distinguished_name.push(DnType::CommonName, name);
            if expired {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            }
            let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
            Leaf {
                chain: vec![cert.der().clone()],
                key: key.serialize_der(),
            }
        };
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
            ca: ca.der().clone(),
            good: signed(MX, false),
            expired: signed(MX, true),
            wrong_name: signed("other.example.test", false),
            self_signed,
        }
    })
}

fn server_config(leaf: &Leaf, versions: &[&'static SupportedProtocolVersion]) -> ServerConfig {
    ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(
            leaf.chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone())),
        )
        .expect("key matches certificate")
}

fn client_config() -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(pki().ca.clone()).expect("CA certificate parses");
    ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn mx_name() -> ServerName<'static> {
    ServerName::try_from(MX).expect("valid DNS name")
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

// ---------------------------------------------------------------------------
// The pair harness

/// How bytes travel between the two transports.
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

/// One side of the pair: its transport and what came out of it.
struct End {
    t: Transport,
    plain: Vec<u8>,
    error: Option<TransportError>,
    handshake_edges: usize,
}

impl End {
    fn new() -> Self {
        Self {
            t: Transport::new(),
            plain: Vec::new(),
            error: None,
            handshake_edges: 0,
        }
    }

    /// Takes the plaintext that has arrived so far.
    fn take_plain(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.plain)
    }
}

struct Pair {
    client: End,
    server: End,
    delivery: Delivery,
    rng: u64,
    /// Total bytes that went over the wire, both ways.
    wire: usize,
}

impl Pair {
    fn new(delivery: Delivery) -> Self {
        let rng = match delivery {
            Delivery::Chunks(seed) => seed | 1,
            _ => 1,
        };
        Self {
            client: End::new(),
            server: End::new(),
            delivery,
            rng,
            wire: 0,
        }
    }

    /// A pair that has done STARTTLS: client and server in TLS mode.
    fn tls(delivery: Delivery, server: ServerConfig, client: ClientConfig) -> Self {
        let mut pair = Self::new(delivery);
        pair.server
            .t
            .start_server_tls(Arc::new(server))
            .expect("server starts TLS");
        pair.client
            .t
            .start_client_tls(Arc::new(client), mx_name())
            .expect("client starts TLS");
        pair
    }

    fn next_chunk_len(&mut self, left: usize) -> usize {
        match self.delivery {
            Delivery::Whole => left,
            Delivery::ByteByByte => 1,
            Delivery::Chunks(_) => {
                // xorshift64
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let max = 1 + (self.rng % 3000) as usize;
                max.min(left)
            }
        }
    }

    fn deliver(&mut self, to_server: bool, bytes: &[u8]) {
        self.wire += bytes.len();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.next_chunk_len(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let end = if to_server {
                &mut self.server
            } else {
                &mut self.client
            };
            if end.error.is_some() {
                return;
            }
            if let Err(e) = end.t.receive(chunk, &mut end.plain) {
                assert!(e.is_fatal(), "receive only fails fatally: {e:?}");
                end.error = Some(e);
            }
            if end.t.poll_handshake_complete() {
                end.handshake_edges += 1;
            }
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn run(&mut self) {
        for _ in 0..10_000 {
            let mut to_server = Vec::new();
            self.client.t.poll_transmit(&mut to_server);
            let mut to_client = Vec::new();
            self.server.t.poll_transmit(&mut to_client);
            assert!(!self.client.t.wants_transmit() && !self.server.t.wants_transmit());
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            self.deliver(true, &to_server);
            self.deliver(false, &to_client);
        }
        panic!("the pair never went quiet");
    }

    /// Sends all of `data` from one side, running the pair whenever the
    /// transport pushes back (MAX_SEND_BUFFER).
    fn send_all(&mut self, from_client: bool, data: &[u8]) {
        let mut rest = data;
        while !rest.is_empty() {
            let end = if from_client {
                &mut self.client
            } else {
                &mut self.server
            };
            let taken = end.t.send(rest).expect("send on a healthy transport");
            assert!(taken <= MAX_SEND_BUFFER);
            rest = rest.split_at(taken).1;
            self.run();
        }
    }

    fn assert_healthy(&self) {
        assert_eq!(self.client.error, None, "client error");
        assert_eq!(self.server.error, None, "server error");
    }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

// ---------------------------------------------------------------------------
// Handshakes and what tls_info reports

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn tls13_handshake_reports_version_suite_chain_and_sni() {
    for delivery in DELIVERIES {
        let pki = pki();
        let mut pair = Pair::tls(delivery, server_config(&pki.good, BOTH), client_config());
        assert_eq!(pair.client.t.phase(), Phase::Handshaking);
        assert!(pair.client.t.tls_info().is_none());
        pair.run();
        pair.assert_healthy();
        assert_eq!(pair.client.handshake_edges, 1, "{delivery:?}");
        assert_eq!(pair.server.handshake_edges, 1, "{delivery:?}");
        assert!(!pair.client.t.poll_handshake_complete(), "edge fires once");
        assert_eq!(pair.client.t.phase(), Phase::Established);
        assert_eq!(pair.server.t.phase(), Phase::Established);
        assert!(!pair.client.t.is_handshaking());

        let client = pair.client.t.tls_info().expect("client info");
        let server = pair.server.t.tls_info().expect("server info");
        assert_eq!(client.protocol_version, ProtocolVersion::TLSv1_3);
        assert_eq!(server.protocol_version, ProtocolVersion::TLSv1_3);
        assert_eq!(client.cipher_suite, server.cipher_suite);
        let tls13_suites: Vec<_> = ring_provider()
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS13)
            .map(|s| s.suite())
            .collect();
        assert!(tls13_suites.contains(&client.cipher_suite));
        assert!(client.key_exchange_group.is_some());
        assert_eq!(client.key_exchange_group, server.key_exchange_group);
        assert_eq!(client.peer_certificates, pki.good.chain);
        assert!(server.peer_certificates.is_empty(), "no client certificate");
        assert_eq!(server.sni.as_deref(), Some(MX));
        assert_eq!(client.sni, None);
        assert_eq!(client.alpn, None);
        assert!(!client.resumed && !server.resumed);
        // Handshake plaintext never leaks into the application stream.
        assert!(pair.client.plain.is_empty() && pair.server.plain.is_empty());
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn tls12_handshake_when_the_server_offers_only_tls12() {
    for delivery in DELIVERIES {
        let pki = pki();
        let mut pair = Pair::tls(delivery, server_config(&pki.good, TLS12), client_config());
        pair.run();
        pair.assert_healthy();
        assert_eq!(pair.client.handshake_edges, 1);
        assert_eq!(pair.server.handshake_edges, 1);
        let client = pair.client.t.tls_info().expect("client info");
        let server = pair.server.t.tls_info().expect("server info");
        assert_eq!(client.protocol_version, ProtocolVersion::TLSv1_2);
        assert_eq!(server.protocol_version, ProtocolVersion::TLSv1_2);
        assert_eq!(client.cipher_suite, server.cipher_suite);
        let tls12_suites: Vec<_> = ring_provider()
            .cipher_suites
            .iter()
            .filter(|s| s.version() == &rustls::version::TLS12)
            .map(|s| s.suite())
            .collect();
        assert!(tls12_suites.contains(&client.cipher_suite));
        assert_eq!(client.peer_certificates, pki.good.chain);
        assert_eq!(server.sni.as_deref(), Some(MX));

        pair.send_all(true, b"EHLO client.example\r\n");
        pair.send_all(false, b"250 mx.example.test\r\n");
        pair.assert_healthy();
        assert_eq!(pair.server.take_plain(), b"EHLO client.example\r\n");
        assert_eq!(pair.client.take_plain(), b"250 mx.example.test\r\n");
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn alpn_is_reported_when_both_sides_agree() {
    let mut server = server_config(&pki().good, TLS13);
    server.alpn_protocols = vec![b"smtp".to_vec()];
    let mut client = client_config();
    client.alpn_protocols = vec![b"smtp".to_vec()];
    let mut pair = Pair::tls(Delivery::Whole, server, client);
    pair.run();
    pair.assert_healthy();
    let info = pair.client.t.tls_info().expect("client info");
    assert_eq!(info.alpn.as_deref(), Some(&b"smtp"[..]));
    let info = pair.server.t.tls_info().expect("server info");
    assert_eq!(info.alpn.as_deref(), Some(&b"smtp"[..]));
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn a_second_connection_resumes_the_session() {
    let server = Arc::new(server_config(&pki().good, TLS13));
    let client = Arc::new(client_config());
    for round in 0..2 {
        let mut pair = Pair::new(Delivery::Whole);
        pair.server
            .t
            .start_server_tls(server.clone())
            .expect("server starts TLS");
        pair.client
            .t
            .start_client_tls(client.clone(), mx_name())
            .expect("client starts TLS");
        pair.run();
        pair.assert_healthy();
        let info = pair.client.t.tls_info().expect("client info");
        assert_eq!(info.resumed, round == 1, "round {round}");
        assert_eq!(
            pair.server.t.tls_info().expect("server info").resumed,
            round == 1
        );
        // The chain is known on a resumed handshake too.
        assert_eq!(info.peer_certificates, pki().good.chain);
    }
}

// ---------------------------------------------------------------------------
// STARTTLS: plain text, then TLS on the same stream (RFC 3207 §4)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn starttls_switches_from_plain_to_tls_on_the_same_stream() {
    for delivery in DELIVERIES {
        let mut pair = Pair::new(delivery);
        assert_eq!(pair.client.t.phase(), Phase::Plain);
        pair.send_all(false, b"220 mx.example.test ESMTP\r\n");
        pair.send_all(true, b"STARTTLS\r\n");
        assert_eq!(pair.server.take_plain(), b"STARTTLS\r\n");

        // The server queues its 220 and starts TLS before that 220 is sent:
        // the 220 still leaves first, in clear (RFC 3207 §4).
        assert_eq!(pair.server.t.send(b"220 2.0.0 Ready\r\n"), Ok(17));
        pair.server
            .t
            .start_server_tls(Arc::new(server_config(&pki().good, BOTH)))
            .expect("server starts TLS");
        pair.run();
        assert_eq!(
            pair.client.take_plain(),
            b"220 mx.example.test ESMTP\r\n220 2.0.0 Ready\r\n"
        );
        assert_eq!(pair.server.t.phase(), Phase::Handshaking);

        pair.client
            .t
            .start_client_tls(Arc::new(client_config()), mx_name())
            .expect("client starts TLS");
        // Written during the handshake, delivered once keys are ready.
        assert_eq!(pair.client.t.send(b"EHLO client.example\r\n"), Ok(21));
        pair.run();
        pair.assert_healthy();
        assert_eq!(pair.client.handshake_edges, 1);
        assert_eq!(pair.server.handshake_edges, 1);
        assert_eq!(pair.server.take_plain(), b"EHLO client.example\r\n");
        assert!(pair.client.t.is_tls() && pair.server.t.is_tls());
    }
}

// ---------------------------------------------------------------------------
// Application data

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn application_bytes_flow_both_ways_unchanged() {
    for delivery in DELIVERIES {
        let mut pair = Pair::tls(delivery, server_config(&pki().good, BOTH), client_config());
        pair.run();
        pair.assert_healthy();

        pair.send_all(true, b"MAIL FROM:<a@example.org>\r\n");
        assert_eq!(pair.server.take_plain(), b"MAIL FROM:<a@example.org>\r\n");
        pair.send_all(false, b"250 2.1.0 Ok\r\n");
        assert_eq!(pair.client.take_plain(), b"250 2.1.0 Ok\r\n");

        let up = pattern(100 * 1024, 7);
        let down = pattern(100 * 1024, 99);
        pair.send_all(true, &up);
        pair.send_all(false, &down);
        pair.assert_healthy();
        assert_eq!(pair.server.take_plain(), up, "{delivery:?}");
        assert_eq!(pair.client.take_plain(), down, "{delivery:?}");
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn send_pushes_back_at_the_buffer_limit() {
    let mut pair = Pair::tls(
        Delivery::Whole,
        server_config(&pki().good, TLS13),
        client_config(),
    );
    pair.run();
    let data = pattern(3 * MAX_SEND_BUFFER, 1);
    let first = pair.client.t.send(&data).expect("send");
    assert!(first > 0 && first <= MAX_SEND_BUFFER, "took {first}");
    assert_eq!(
        pair.client.t.send(&data[first..]),
        Ok(0),
        "full until drained"
    );
    let mut wire = Vec::new();
    pair.client.t.poll_transmit(&mut wire);
    // Records add a little per 16 KiB; never anywhere near a second buffer.
    assert!(wire.len() < first + 1024, "{} on the wire", wire.len());
    let second = pair.client.t.send(&data[first..]).expect("send");
    assert!(second > 0, "room again after poll_transmit");
    pair.deliver(true, &wire);
    pair.run();
    pair.send_all(true, &data[first + second..]);
    pair.assert_healthy();
    assert_eq!(pair.server.take_plain(), data);
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn plaintext_out_never_exceeds_network_in() {
    // Bounded memory: plaintext out never exceeds network bytes in.
    let mut pair = Pair::tls(
        Delivery::Whole,
        server_config(&pki().good, TLS13),
        client_config(),
    );
    pair.run();
    pair.send_all(false, &pattern(40_000, 3));
    pair.client.take_plain();
    assert_eq!(pair.server.t.send(&pattern(40_000, 5)), Ok(40_000));
    let mut wire = Vec::new();
    pair.server.t.poll_transmit(&mut wire);
    let mut total = Vec::new();
    let mut fed = 0;
    for chunk in wire.chunks(777) {
        let before = total.len();
        pair.client
            .t
            .receive(chunk, &mut total)
            .expect("valid records");
        fed += chunk.len();
        // Cumulative: never more out than in. Per call: the chunk plus the
        // one unfinished record rustls held from earlier calls.
        assert!(total.len() <= fed);
        assert!(total.len() - before <= chunk.len() + 16 * 1024);
    }
    assert_eq!(total, pattern(40_000, 5));
}

// ---------------------------------------------------------------------------
// close_notify (RFC 8446 §6.1)

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn close_notify_is_seen_by_the_peer() {
    for delivery in DELIVERIES {
        let mut pair = Pair::tls(delivery, server_config(&pki().good, BOTH), client_config());
        pair.run();
        pair.send_all(true, b"QUIT\r\n");
        pair.client.t.close_notify();
        assert_eq!(pair.client.t.phase(), Phase::Closing);
        assert_eq!(pair.client.t.send(b"more"), Err(TransportError::Closed));
        pair.run();
        pair.assert_healthy();
        assert!(pair.server.t.received_close_notify());
        assert_eq!(pair.server.t.phase(), Phase::Closing);
        assert_eq!(pair.server.take_plain(), b"QUIT\r\n");

        // Half-closed: the server can still answer, then close too.
        pair.send_all(false, b"221 2.0.0 Bye\r\n");
        pair.server.t.close_notify();
        pair.server.t.close_notify(); // the second call does nothing
        pair.run();
        pair.assert_healthy();
        assert_eq!(pair.client.take_plain(), b"221 2.0.0 Bye\r\n");
        assert!(pair.client.t.received_close_notify());
        // Info stays readable for the policy after closing.
        assert!(pair.client.t.tls_info().is_some());

        // Anything after close_notify is discarded (RFC 8446 §6.1).
        let mut plain = Vec::new();
        pair.client
            .t
            .receive(b"\x17\x03\x03\x00\x03abc", &mut plain)
            .expect("ignored after close_notify");
        assert!(plain.is_empty());
    }
}

// ---------------------------------------------------------------------------
// Certificate failures: distinguishable on the client, an alert on the server

fn assert_certificate_failure(
    leaf: &Leaf,
    is_expected: fn(&CertificateError) -> bool,
    alert: AlertDescription,
) {
    for delivery in DELIVERIES {
        let mut pair = Pair::tls(delivery, server_config(leaf, BOTH), client_config());
        // Queued before the handshake: must never reach the server.
        assert_eq!(pair.client.t.send(b"MAIL FROM:<secret>\r\n"), Ok(20));
        pair.run();
        let client_error = pair.client.error.clone().expect("client fails");
        let cert_error = client_error
            .certificate_error()
            .expect("a certificate error");
        assert!(is_expected(cert_error), "{delivery:?}: {cert_error:?}");
        assert_eq!(pair.client.t.phase(), Phase::Failed);
        assert_eq!(pair.client.t.error(), Some(&client_error));
        assert_eq!(pair.client.t.send(b"x"), Err(client_error));

        let server_error = pair.server.error.clone().expect("server fails");
        assert_eq!(server_error.received_alert(), Some(alert), "{delivery:?}");
        assert_eq!(pair.server.t.phase(), Phase::Failed);

        assert!(
            pair.server.plain.is_empty(),
            "no byte in clear or otherwise"
        );
        assert!(pair.client.t.tls_info().is_none());
        assert_eq!(pair.client.handshake_edges, 0);
        assert_eq!(pair.server.handshake_edges, 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn self_signed_server_certificate_is_an_unknown_issuer() {
    assert_certificate_failure(
        &pki().self_signed,
        |e| matches!(e, CertificateError::UnknownIssuer),
        AlertDescription::UnknownCA,
    );
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn certificate_for_another_name_is_not_valid_for_name() {
    assert_certificate_failure(
        &pki().wrong_name,
        |e| {
            matches!(
                e,
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        },
        AlertDescription::BadCertificate,
    );
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn expired_certificate_is_expired() {
    assert_certificate_failure(
        &pki().expired,
        |e| {
            matches!(
                e,
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        },
        AlertDescription::CertificateExpired,
    );
}

// ---------------------------------------------------------------------------
// Garbage in TLS mode

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn clear_text_after_starttls_is_a_typed_error_and_an_alert() {
    // A client that keeps talking SMTP in clear after the server's 220.
    for delivery in DELIVERIES {
        let mut pair = Pair::tls(delivery, server_config(&pki().good, BOTH), client_config());
        pair.deliver(true, b"EHLO client.example\r\n");
        let error = pair.server.error.clone().expect("server fails");
        assert_eq!(
            error,
            TransportError::Tls(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        );
        assert!(pair.server.plain.is_empty());
        let mut alert = Vec::new();
        pair.server.t.poll_transmit(&mut alert);
        assert_eq!(alert.first(), Some(&0x15), "an alert record");
        assert_eq!(alert.get(5), Some(&2), "fatal");
        // The alert reaches the (handshaking) client as an error too.
        pair.deliver(false, &alert);
        let client_error = pair.client.error.clone().expect("client fails");
        assert_eq!(
            client_error.received_alert(),
            Some(AlertDescription::DecodeError)
        );
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn corrupt_record_on_an_established_connection_fails_both_sides() {
    for delivery in DELIVERIES {
        let mut pair = Pair::tls(delivery, server_config(&pki().good, BOTH), client_config());
        pair.run();
        pair.assert_healthy();
        // A well-framed application-data record that does not decrypt.
        pair.deliver(
            false,
            b"\x17\x03\x03\x00\x20abcdefghijklmnopqrstuvwxyz012345",
        );
        let error = pair.client.error.clone().expect("client fails");
        assert_eq!(error, TransportError::Tls(rustls::Error::DecryptError));
        let mut plain = Vec::new();
        assert_eq!(pair.client.t.receive(b"x", &mut plain), Err(error));
        pair.run();
        let server_error = pair.server.error.clone().expect("server fails");
        assert_eq!(
            server_error.received_alert(),
            Some(AlertDescription::BadRecordMac)
        );
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn plaintext_before_a_bad_record_is_still_delivered() {
    let mut pair = Pair::tls(
        Delivery::Whole,
        server_config(&pki().good, TLS13),
        client_config(),
    );
    pair.run();
    assert_eq!(pair.server.t.send(b"250 ok\r\n"), Ok(8));
    let mut wire = Vec::new();
    pair.server.t.poll_transmit(&mut wire);
    wire.extend_from_slice(b"\x17\x03\x03\x00\x05junk!");
    let mut plain = Vec::new();
    let error = pair
        .client
        .t
        .receive(&wire, &mut plain)
        .expect_err("bad record");
    assert!(error.is_fatal());
    assert_eq!(plain, b"250 ok\r\n");
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn start_tls_twice_is_refused() {
    let mut pair = Pair::tls(
        Delivery::Whole,
        server_config(&pki().good, TLS13),
        client_config(),
    );
    pair.run();
    assert_eq!(
        pair.client
            .t
            .start_client_tls(Arc::new(client_config()), mx_name()),
        Err(StartTlsError::AlreadyTls)
    );
    assert_eq!(pair.client.t.phase(), Phase::Established);
}

// ---------------------------------------------------------------------------
// Property: any chunking of the wire delivers the same bytes

proptest! {
    #![proptest_config(proptest_common::config(16))]

    #[test]
    #[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
    fn any_chunking_delivers_data_unchanged(seed in any::<u64>(), len in 0usize..30_000, tls12 in any::<bool>()) {
        let versions = if tls12 { TLS12 } else { TLS13 };
        let mut pair = Pair::tls(Delivery::Chunks(seed), server_config(&pki().good, versions), client_config());
        pair.run();
        let up = pattern(len, 11);
        let down = pattern(len / 2, 13);
        pair.send_all(true, &up);
        pair.send_all(false, &down);
        prop_assert_eq!(&pair.client.error, &None);
        prop_assert_eq!(&pair.server.error, &None);
        prop_assert_eq!(pair.server.take_plain(), up);
        prop_assert_eq!(pair.client.take_plain(), down);
        prop_assert!(pair.wire >= len + len / 2);
    }
}
