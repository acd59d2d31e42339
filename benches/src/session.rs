//! A whole SMTP session in memory — greeting, EHLO, STARTTLS, the TLS
//! handshake, EHLO again, one 100 KiB message, QUIT — between a SecMX
//! [`ClientSession`] and [`ServerSession`], and its anchor: bare rustls
//! connections doing the same handshake with the same certificates and
//! carrying the same number of plaintext bytes each way.
//!
//! Both sides build fresh connections every time, with resumption off: the
//! cold connection of an MTA to a peer it has not seen lately.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConnection, ServerConnection};
use secmx_core::client::{ClientConfig, ClientEvent, ClientSession, Envelope, TlsRequirement};
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::server::{ServerConfig, ServerEvent, ServerMode, ServerSession};
use secmx_core::transport::{MAX_SEND_BUFFER, ring_provider};

/// The receiving host's name (the certificate's and SNI's).
pub const HOST: &str = "mx.example.test";

/// Everything a session run needs, made once.
pub struct Fixture {
    /// The server's TLS configuration.
    pub server_tls: Arc<rustls::ServerConfig>,
    /// The client's TLS configuration (trusts the fixture's CA).
    pub client_tls: Arc<rustls::ClientConfig>,
    /// The message, with CRLF line ends.
    pub message: Bytes,
}

impl Fixture {
    /// A CA, a leaf for [`HOST`], and a `body_len` message.
    pub fn new(body_len: usize) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("leaf key");
        let leaf = CertificateParams::new(vec![HOST.to_owned()])
            .expect("leaf params")
            .signed_by(&key, &issuer)
            .expect("leaf certificate");
        let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
        let server_tls = rustls::ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(
                chain,
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("key matches certificate");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("CA parses");
        let mut client_tls = rustls::ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client_tls.resumption = Resumption::disabled();
        // A plain text message: 78-octet lines.
        let mut message = b"Subject: benchmark\r\n\r\n".to_vec();
        while message.len() < body_len {
            message.extend_from_slice(&[b'x'; 76]);
            message.extend_from_slice(b"\r\n");
        }
        Self {
            server_tls: Arc::new(server_tls),
            client_tls: Arc::new(client_tls),
            message: Bytes::from(message),
        }
    }

    fn server_name() -> ServerName<'static> {
        ServerName::try_from(HOST).expect("valid DNS name")
    }
}

/// What one session run did, so that tests can check it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SessionOutcome {
    /// Message bytes the server stored.
    pub stored: usize,
    /// The message went over TLS.
    pub tls: bool,
    /// The client saw its message accepted.
    pub accepted: bool,
    /// Network bytes the server took (clear text, TLS records).
    pub wire_bytes: usize,
}

/// A BER server session with a certificate, its greeting sent: what an
/// idle connection costs before TLS.
pub fn idle_server(fixture: &Fixture, now: Instant) -> ServerSession {
    let config = ServerConfig::new(HOST, ServerMode::Ber).with_tls(fixture.server_tls.clone());
    let mut server = ServerSession::new(config, now).expect("valid server config");
    let mut greeting = Vec::new();
    server.poll_transmit(&mut greeting);
    server
}

/// A BER server session after STARTTLS, the handshake and the second EHLO,
/// idle again (the client that got it there is dropped).
pub fn server_after_tls(fixture: &Fixture, now: Instant) -> ServerSession {
    let mut server = idle_server(fixture, now);
    let client_config = ClientConfig::new(
        Domain::parse(b"client.example", false)
            .expect("valid")
            .into_owned(),
        TlsRequirement::Required,
        fixture.client_tls.clone(),
        Fixture::server_name(),
    );
    let mut client = ClientSession::new(client_config, now);
    client.handle_input(now, format!("220 {HOST} ESMTP\r\n").as_bytes());
    let mut wire = Vec::new();
    for _ in 0..1000 {
        let mut progress = false;
        while let Some(event) = client.poll_event() {
            progress = true;
            if matches!(event, ClientEvent::Ready) {
                assert!(client.is_tls(), "the client reached TLS");
                return server;
            }
        }
        while server.poll_event().is_some() {
            progress = true;
        }
        wire.clear();
        if client.poll_transmit(&mut wire) > 0 {
            progress = true;
            let taken = server.handle_input(now, &wire).expect("server healthy");
            assert_eq!(taken, wire.len());
        }
        wire.clear();
        server.poll_transmit(&mut wire);
        if !wire.is_empty() {
            progress = true;
            client.handle_input(now, &wire);
        }
        if !progress {
            break;
        }
    }
    panic!("the client never became ready over TLS");
}

/// One SecMX session, client `Required` against a BER with a certificate,
/// delivering the fixture's message.
pub fn secmx_session(fixture: &Fixture, now: Instant) -> SessionOutcome {
    let server_config =
        ServerConfig::new(HOST, ServerMode::Ber).with_tls(fixture.server_tls.clone());
    let mut server = ServerSession::new(server_config, now).expect("valid server config");
    let client_config = ClientConfig::new(
        Domain::parse(b"client.example", false)
            .expect("valid")
            .into_owned(),
        TlsRequirement::Required,
        fixture.client_tls.clone(),
        Fixture::server_name(),
    );
    let mut client = ClientSession::new(client_config, now);
    let mut outcome = SessionOutcome::default();
    // The two directions' socket buffers, sized as the anchor's: what the
    // client writes waits in `to_server[offered..]` until the server takes it.
    let mut to_server = Vec::with_capacity(MAX_SEND_BUFFER + 4 * 1024);
    let mut offered = 0;
    let mut to_client = Vec::with_capacity(4 * 1024);
    let mut sent = false;
    for _ in 0..100_000 {
        let mut progress = false;
        while let Some(event) = client.poll_event() {
            progress = true;
            match event {
                ClientEvent::Ready if !sent => {
                    sent = true;
                    let envelope = Envelope::new(
                        ReversePath::parse(b"<alice@client.example>", false)
                            .expect("valid")
                            .into_owned(),
                    )
                    .with_recipient(
                        ForwardPath::parse(b"<bob@example.test>", false)
                            .expect("valid")
                            .into_owned(),
                    );
                    client
                        .send_message(now, envelope, fixture.message.clone())
                        .expect("the server offers what the message needs");
                }
                ClientEvent::Ready => client.quit(now).expect("ready"),
                ClientEvent::MessageAccepted(_) => outcome.accepted = true,
                ClientEvent::TlsEstablished(_) => outcome.tls = true,
                ClientEvent::Closed { .. } => return outcome,
                _ => {}
            }
        }
        while let Some(event) = server.poll_event() {
            progress = true;
            match event {
                ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. } => {
                    server.accept(now).expect("decision pending");
                }
                ServerEvent::BodyChunk(chunk) => outcome.stored += chunk.len(),
                ServerEvent::MessageComplete { .. } => {
                    server.accept(now).expect("decision pending");
                }
                _ => {}
            }
        }
        // Like a socket whose send buffer is full, the client's output
        // waits until the server has taken what is in flight.
        if offered == to_server.len() {
            to_server.clear();
            offered = 0;
            if client.poll_transmit(&mut to_server) > 0 {
                progress = true;
            }
        }
        server.poll_transmit(&mut to_client);
        if !to_client.is_empty() {
            progress = true;
            client.handle_input(now, &to_client);
            to_client.clear();
        }
        if let Some(waiting) = to_server.get(offered..).filter(|w| !w.is_empty()) {
            let taken = server.handle_input(now, waiting).expect("server healthy");
            if taken > 0 {
                progress = true;
                outcome.wire_bytes += taken;
            }
            offered += taken;
        }
        if !progress {
            break;
        }
    }
    outcome
}

fn pump(client: &mut ClientConnection, server: &mut ServerConnection, wire: &mut Vec<u8>) {
    loop {
        let mut moved = false;
        while client.wants_write() {
            wire.clear();
            client.write_tls(wire).expect("write to a Vec");
            let mut slice = &wire[..];
            while !slice.is_empty() {
                server.read_tls(&mut slice).expect("read from a slice");
                server.process_new_packets().expect("valid records");
            }
            moved = true;
        }
        while server.wants_write() {
            wire.clear();
            server.write_tls(wire).expect("write to a Vec");
            let mut slice = &wire[..];
            while !slice.is_empty() {
                client.read_tls(&mut slice).expect("read from a slice");
                client.process_new_packets().expect("valid records");
            }
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn drain(reader: &mut rustls::Reader<'_>, sink: &mut [u8]) -> usize {
    let mut total = 0;
    loop {
        match reader.read(sink) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

/// The plaintext the session carries inside TLS, for the anchor: the
/// message plus the commands after the handshake (EHLO, MAIL, RCPT, BDAT,
/// QUIT, about 130 octets) one way; the EHLO reply and four short replies
/// (about 300 octets) the other. The clear text before STARTTLS (about 250
/// octets) is not counted: the anchor's load is, if anything, a little
/// heavier than the session's.
pub fn anchor_plaintext(fixture: &Fixture) -> (usize, usize) {
    (fixture.message.len() + 130, 300)
}

/// The anchor: a rustls client and server connection doing the same
/// handshake, then carrying `client_bytes` from client to server in 16 KiB
/// writes and `server_bytes` back.
pub fn bare_rustls(fixture: &Fixture, client_bytes: usize, server_bytes: usize) -> usize {
    let mut client = ClientConnection::new(fixture.client_tls.clone(), Fixture::server_name())
        .expect("client connection");
    let mut server = ServerConnection::new(fixture.server_tls.clone()).expect("server connection");
    let mut wire = Vec::with_capacity(20 * 1024);
    let mut sink = vec![0u8; 16 * 1024];
    pump(&mut client, &mut server, &mut wire);
    let payload = &fixture.message[..];
    let mut left = client_bytes;
    let mut received = 0;
    while left > 0 {
        let n = left.min(16 * 1024).min(payload.len());
        client.writer().write_all(&payload[..n]).expect("buffered");
        left -= n;
        pump(&mut client, &mut server, &mut wire);
        received += drain(&mut server.reader(), &mut sink);
    }
    server
        .writer()
        .write_all(&payload[..server_bytes.min(payload.len())])
        .expect("buffered");
    client.send_close_notify();
    server.send_close_notify();
    pump(&mut client, &mut server, &mut wire);
    received + drain(&mut client.reader(), &mut sink)
}

/// A plain (pre-TLS) BER server session that is sent `len` octets of one
/// command line with no CRLF, in 16 KiB reads, as a flooding client would;
/// returns how many octets it took. The session must refuse the line and
/// stay within its input bound however long the line is.
pub fn line_flood(fixture: &Fixture, now: Instant, len: usize) -> usize {
    // A static read buffer, so that the heap counted is the session's.
    static READ: [u8; 16 * 1024] = [b'a'; 16 * 1024];
    let mut server = idle_server(fixture, now);
    let read = &READ[..];
    let mut replies = Vec::new();
    let mut taken = 0;
    while taken < len {
        let piece = read
            .get(..(len - taken).min(read.len()))
            .unwrap_or_default();
        let Ok(n) = server.handle_input(now, piece) else {
            break;
        };
        while server.poll_event().is_some() {}
        replies.clear();
        server.poll_transmit(&mut replies);
        if n == 0 || server.is_closed() {
            break;
        }
        taken += n;
    }
    taken
}

/// Runs `per_thread` whole SecMX sessions on each of `threads` threads at
/// once; returns how many delivered their message.
pub fn parallel_sessions(fixture: &Fixture, threads: usize, per_thread: usize) -> usize {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    (0..per_thread)
                        .filter(|_| secmx_session(fixture, Instant::now()).accepted)
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a session thread panicked"))
            .sum()
    })
}

/// The anchor of [`parallel_sessions`]: bare rustls connections carrying
/// the same bytes; returns how many carried them all.
pub fn parallel_bare_rustls(fixture: &Fixture, threads: usize, per_thread: usize) -> usize {
    let (up, down) = anchor_plaintext(fixture);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    (0..per_thread)
                        .filter(|_| bare_rustls(fixture, up, down) == up + down)
                        .count()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("an anchor thread panicked"))
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_delivers_over_tls_and_the_anchor_carries_as_much() {
        let fixture = Fixture::new(100 * 1024);
        let outcome = secmx_session(&fixture, Instant::now());
        assert!(outcome.tls && outcome.accepted);
        assert_eq!(outcome.stored, fixture.message.len());
        assert!(outcome.wire_bytes > fixture.message.len());
        let (up, down) = anchor_plaintext(&fixture);
        assert!(server_after_tls(&fixture, Instant::now()).is_tls());
        assert!(!idle_server(&fixture, Instant::now()).is_tls());
        assert_eq!(bare_rustls(&fixture, up, down), up + down);
    }

    #[test]
    fn a_flooded_session_takes_the_whole_line_and_stays_open() {
        let fixture = Fixture::new(1024);
        // RFC 5321 §4.5.3.1.4: the over-long line is refused, not buffered;
        // the session keeps reading so the client's next command is seen.
        assert_eq!(line_flood(&fixture, Instant::now(), 256 * 1024), 256 * 1024);
    }

    #[test]
    fn parallel_runs_count_every_delivery() {
        let fixture = Fixture::new(4 * 1024);
        assert_eq!(parallel_sessions(&fixture, 2, 2), 4);
        assert_eq!(parallel_bare_rustls(&fixture, 2, 2), 4);
    }
}
