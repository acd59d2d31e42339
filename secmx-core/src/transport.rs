//! The one owner of the rustls connection: plain text before STARTTLS, TLS
//! after (RFC 3207).
//!
//! An SMTP session (client or server) owns one [`Transport`] and never calls
//! rustls itself: it hands every byte from the network to
//! [`Transport::receive`], reads back plaintext, writes its own plaintext
//! with [`Transport::send`] and collects the bytes for the network with
//! [`Transport::poll_transmit`]. Before STARTTLS the transport passes bytes
//! through unchanged; after it, the same calls carry TLS records. The SMTP
//! grammar above it sees plaintext only, in both modes.
//!
//! ## STARTTLS (RFC 3207 §4, §5)
//!
//! ```text
//! starttls-command = "STARTTLS" CRLF            ; RFC 3207 §4
//! reply            = "220" SP text CRLF          ; ready to start TLS
//!                  / "501" ... / "454" ...       ; syntax error, TLS not available
//! ```
//!
//! After the server's `220` both sides start the TLS handshake on the same
//! byte stream: the server calls [`Transport::start_server_tls`] once its
//! `220` is queued, the client calls [`Transport::start_client_tls`] once it
//! has read that `220`. Whatever either side queued in plain text before the
//! switch (the `220` itself) is transmitted ahead of the first TLS record.
//! Bytes that arrive in plain text after `STARTTLS` or after the `220` are an
//! injection attempt (CVE-2011-0411); rejecting them is the session's job,
//! since only the session knows where the command line ended. Implicit TLS
//! (RFC 8314) is the same transport started before any byte is exchanged.
//!
//! ## Phases
//!
//! ```text
//!   Transport::new()
//!         │
//!         ▼
//!   ┌──────────┐  start_client_tls / start_server_tls  ┌─────────────┐
//!   │  Plain   │ ─────────────────────────────────────►│ Handshaking │
//!   └──────────┘      (after the `220` to STARTTLS)    └──────┬──────┘
//!                                                              │ poll_handshake_complete() → true
//!                                                              ▼     tls_info() → Some
//!   ┌──────────┐   close_notify() or the peer's        ┌─────────────┐
//!   │ Closing  │◄──────────────────────────────────────│ Established │
//!   └──────────┘   close_notify in receive()           └─────────────┘
//!
//!   Handshaking / Established / Closing ── fatal TLS error ──► Failed
//!   (sticky: every later receive/send returns the same error, and the alert
//!    rustls produced still comes out of poll_transmit)
//! ```
//!
//! ## Data flow
//!
//! ```text
//!                 SMTP session (plaintext only)
//!        ▲ receive(net, &mut plain)          │ send(plain) → accepted
//!        │                                   ▼
//!   ┌────┴───────────── Transport ───────────┴────────────┐
//!   │ Plain: bytes pass through (send queues, bounded)    │
//!   │ Tls:   read_tls + process_new_packets → reader()    │
//!   │        writer() → records → write_tls               │
//!   └────▲───────────────────────────────────┬────────────┘
//!        │ bytes from the socket             ▼ poll_transmit(&mut out)
//! ```
//!
//! **Drain rule.** After [`Transport::start_client_tls`] (the ClientHello),
//! after every [`Transport::receive`] (handshake replies, alerts, tickets),
//! after every [`Transport::send`] and after [`Transport::close_notify`],
//! call [`Transport::poll_transmit`] until [`Transport::wants_transmit`] is
//! false. After every `receive`, also check
//! [`Transport::poll_handshake_complete`].
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use secmx_core::transport::{Phase, Transport, ring_provider};
//!
//! let mut transport = Transport::new();
//! // Clear text: bytes pass through both ways.
//! let mut plain = Vec::new();
//! transport.receive(b"220 mx.example.test ESMTP\r\n", &mut plain)?;
//! assert_eq!(plain, b"220 mx.example.test ESMTP\r\n");
//! assert_eq!(transport.send(b"STARTTLS\r\n")?, 10);
//! let mut wire = Vec::new();
//! transport.poll_transmit(&mut wire);
//! assert_eq!(wire, b"STARTTLS\r\n");
//!
//! // After the server's `220`: TLS on the same stream, configured with ring.
//! let config = rustls::ClientConfig::builder_with_provider(ring_provider())
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(rustls::RootCertStore::empty())
//!     .with_no_client_auth();
//! let name = rustls::pki_types::ServerName::try_from("mx.example.test")?;
//! transport.start_client_tls(Arc::new(config), name)?;
//! assert_eq!(transport.phase(), Phase::Handshaking);
//! wire.clear();
//! transport.poll_transmit(&mut wire);
//! assert_eq!(wire.first(), Some(&0x16)); // a handshake record: the ClientHello
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Why the buffered rustls API
//!
//! This module uses rustls' buffered [`rustls::Connection`] rather than the
//! unbuffered API. The buffered API already does what a STARTTLS session
//! needs: it holds plaintext written during the handshake until the keys are
//! ready, coalesces partial records across arbitrary input chunks, and queues
//! the alert after a fatal error; every one of its buffers is bounded
//! ([`MAX_SEND_BUFFER`] for what we send, rustls' own 16 KiB plaintext and
//! 64 KiB handshake limits for what we receive). The unbuffered API would
//! save one copy per record at the price of re-implementing that state
//! handling here, which SMTP's kilobytes-per-message traffic does not
//! justify.
//!
//! ## Bounds
//!
//! - [`Transport::receive`] never hands out more plaintext than it was given
//!   network bytes (TLS records only shrink when decrypted): one call appends
//!   at most its input plus the one unfinished record (16 KiB of plaintext,
//!   RFC 8446 §5.1) that rustls held from earlier calls, and it always
//!   drains rustls' received-plaintext buffer before returning.
//! - [`Transport::send`] accepts at most [`MAX_SEND_BUFFER`] bytes that have
//!   not yet left through [`Transport::poll_transmit`]; it returns how many
//!   bytes it took, and the caller keeps the rest (backpressure, never an
//!   error and never growth).
//! - An idle [`Transport`] in plain mode holds no heap memory.
//!
//! The transport keeps no timers: handshake and idle time-outs belong to the
//! session, which knows its SMTP deadlines (RFC 5321 §4.5.3.2).
//! Certificate validity is checked by the verifier in the rustls config,
//! which reads the time from the config's time provider.

use std::io::{BufRead, Write};
use std::mem;
use std::sync::Arc;

use bytes::BufMut;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    AlertDescription, CertificateError, CipherSuite, ClientConfig, ClientConnection, Connection,
    HandshakeKind, NamedGroup, ProtocolVersion, ServerConfig, ServerConnection,
};

/// Most bytes a [`Transport`] holds on the sending side before
/// [`Transport::poll_transmit`] drains them: plain bytes in plain mode, and
/// plaintext waiting for the handshake plus encrypted records in TLS mode
/// (rustls' `set_buffer_limit`). RFC 5321 sets no bound; 64 KiB holds a
/// pipelined envelope many times over and a few TLS records of message
/// text, and keeps a peer that stops reading from growing our memory.
pub const MAX_SEND_BUFFER: usize = 64 * 1024;

/// The ring [`CryptoProvider`], for building every rustls config in SecMX.
///
/// Build configs with `ClientConfig::builder_with_provider(ring_provider())`
/// (and the same for `ServerConfig`) so that SecMX never depends on a
/// process-wide default provider that the embedding program may or may not
/// have installed.
#[must_use]
pub fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A fatal TLS failure, or one call that cannot be honoured.
///
/// [`TransportError::Tls`] and [`TransportError::Buffer`] are fatal and
/// sticky: every later [`Transport::receive`] and [`Transport::send`]
/// returns the same error, while [`Transport::poll_transmit`] still hands
/// out the alert rustls queued. [`TransportError::Closed`] only refuses the
/// one call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// rustls rejected the peer or the connection failed: a bad
    /// certificate (`InvalidCertificate(UnknownIssuer)`,
    /// `NotValidForName…`, `Expired…`), an alert from the peer
    /// (`AlertReceived`), or malformed records (`InvalidMessage`). Fatal.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// rustls refused bytes at its buffer edge. This module drains rustls
    /// after every record, so this is not expected; it is kept typed rather
    /// than a panic. Fatal, and no alert is queued.
    #[error("TLS buffer refused bytes: {0}")]
    Buffer(std::io::ErrorKind),
    /// [`Transport::send`] after [`Transport::close_notify`]: the peer would
    /// ignore anything sent after the `close_notify` alert. Not fatal.
    #[error("close_notify was sent; no more data can be sent")]
    Closed,
}

impl TransportError {
    /// Whether the transport is now failed for good (sticky).
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Tls(_) | Self::Buffer(_))
    }

    /// The certificate problem, when the peer's certificate was rejected
    /// locally. Match on it to tell `UnknownIssuer` from
    /// `NotValidForName`/`NotValidForNameContext` from
    /// `Expired`/`ExpiredContext`.
    #[must_use]
    pub fn certificate_error(&self) -> Option<&CertificateError> {
        match self {
            Self::Tls(rustls::Error::InvalidCertificate(e)) => Some(e),
            _ => None,
        }
    }

    /// The alert the peer sent, when the peer ended the connection with a
    /// fatal alert (for example `UnknownCA` when it did not trust our
    /// certificate).
    #[must_use]
    pub fn received_alert(&self) -> Option<AlertDescription> {
        match self {
            Self::Tls(rustls::Error::AlertReceived(alert)) => Some(*alert),
            _ => None,
        }
    }
}

/// Why [`Transport::start_client_tls`] or [`Transport::start_server_tls`]
/// did not start TLS. The transport is left as it was.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StartTlsError {
    /// TLS was already started on this transport; STARTTLS happens once
    /// per connection (RFC 3207 §4.2).
    #[error("TLS was already started on this transport")]
    AlreadyTls,
    /// rustls could not create a connection from the config (for example
    /// no cipher suite for the configured versions).
    #[error("cannot start TLS: {0}")]
    Config(rustls::Error),
}

/// Where a [`Transport`] is in its life (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Clear text, before STARTTLS.
    Plain,
    /// TLS started, handshake not finished.
    Handshaking,
    /// Handshake finished; application data flows.
    Established,
    /// `close_notify` sent or received.
    Closing,
    /// A fatal error happened; see [`TransportError::is_fatal`].
    Failed,
}

/// What a policy needs to know about a finished TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The negotiated protocol version (`TLSv1_2` or `TLSv1_3`).
    pub protocol_version: ProtocolVersion,
    /// The negotiated cipher suite.
    pub cipher_suite: CipherSuite,
    /// The key exchange group, when one was used (a resumed TLS 1.2
    /// handshake has none).
    pub key_exchange_group: Option<NamedGroup>,
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<Vec<u8>>,
    /// The peer's certificate chain as sent, end-entity first. Empty on a
    /// server whose client presented no certificate.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// On a server: the server name (SNI) the client asked for. On a
    /// client: `None`.
    pub sni: Option<String>,
    /// Whether the handshake resumed an earlier session.
    pub resumed: bool,
}

/// The byte layer under an SMTP session: plain text, then TLS after
/// STARTTLS. See the module documentation for the flow and the drain rule.
#[derive(Debug, Default)]
pub struct Transport {
    state: State,
}

#[derive(Debug)]
enum State {
    /// Clear text; `pending` holds sent bytes not yet polled (no heap when
    /// empty).
    Plain { pending: Vec<u8> },
    /// Boxed so that a plain transport stays small.
    Tls(Box<Tls>),
}

impl Default for State {
    fn default() -> Self {
        Self::Plain {
            pending: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Tls {
    conn: Connection,
    /// Plain bytes queued before TLS started (the `220` to STARTTLS); they
    /// leave ahead of the first TLS record.
    plain_prefix: Vec<u8>,
    /// The sticky fatal error.
    error: Option<TransportError>,
    handshake_reported: bool,
    peer_closed: bool,
    sent_close: bool,
}

impl Transport {
    /// A transport in plain mode, holding no heap memory.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts TLS as the client, after the server's `220` to STARTTLS
    /// (RFC 3207 §4). `server_name` is the name the certificate is checked
    /// against and, for a DNS name, the SNI sent.
    ///
    /// The ClientHello is queued at once: call [`Transport::poll_transmit`].
    ///
    /// # Errors
    ///
    /// [`StartTlsError::AlreadyTls`] if TLS was started before;
    /// [`StartTlsError::Config`] if rustls rejects the config. Either way
    /// the transport is unchanged.
    pub fn start_client_tls(
        &mut self,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<(), StartTlsError> {
        if !matches!(self.state, State::Plain { .. }) {
            return Err(StartTlsError::AlreadyTls);
        }
        let conn = ClientConnection::new(config, server_name).map_err(StartTlsError::Config)?;
        self.switch_to_tls(conn.into());
        Ok(())
    }

    /// Starts TLS as the server, once its `220` to STARTTLS is queued
    /// (RFC 3207 §4). The server then waits for the ClientHello in
    /// [`Transport::receive`].
    ///
    /// # Errors
    ///
    /// [`StartTlsError::AlreadyTls`] if TLS was started before;
    /// [`StartTlsError::Config`] if rustls rejects the config. Either way
    /// the transport is unchanged.
    pub fn start_server_tls(&mut self, config: Arc<ServerConfig>) -> Result<(), StartTlsError> {
        if !matches!(self.state, State::Plain { .. }) {
            return Err(StartTlsError::AlreadyTls);
        }
        let conn = ServerConnection::new(config).map_err(StartTlsError::Config)?;
        self.switch_to_tls(conn.into());
        Ok(())
    }

    fn switch_to_tls(&mut self, mut conn: Connection) {
        conn.set_buffer_limit(Some(MAX_SEND_BUFFER));
        let plain_prefix = match &mut self.state {
            State::Plain { pending } => mem::take(pending),
            State::Tls(_) => Vec::new(),
        };
        self.state = State::Tls(Box::new(Tls {
            conn,
            plain_prefix,
            error: None,
            handshake_reported: false,
            peer_closed: false,
            sent_close: false,
        }));
    }

    /// Takes bytes from the network and appends the plaintext they carry to
    /// `plaintext`.
    ///
    /// In plain mode the bytes are the plaintext. In TLS mode the whole
    /// input is fed to rustls record by record; handshake messages are
    /// consumed (their replies wait in [`Transport::poll_transmit`]) and
    /// application data is decrypted and appended: at most `network.len()`
    /// bytes plus the rest of a record whose start came in an earlier call
    /// (16 KiB at most, RFC 8446 §5.1). Bytes after the peer's `close_notify` are
    /// discarded, as TLS requires (RFC 8446 §6.1).
    ///
    /// # Errors
    ///
    /// A fatal [`TransportError`]; plaintext authenticated before the
    /// failing record is still appended. The error is sticky, and the alert
    /// rustls produced is waiting in [`Transport::poll_transmit`].
    pub fn receive(
        &mut self,
        network: &[u8],
        plaintext: &mut impl BufMut,
    ) -> Result<(), TransportError> {
        match &mut self.state {
            State::Plain { .. } => {
                plaintext.put_slice(network);
                Ok(())
            }
            State::Tls(tls) => tls.receive(network, plaintext),
        }
    }

    /// Queues plaintext for the peer and returns how many bytes of it were
    /// taken.
    ///
    /// At most [`MAX_SEND_BUFFER`] bytes wait inside the transport; when
    /// that is reached, `send` takes fewer bytes than offered (possibly
    /// zero) and the caller keeps the rest until
    /// [`Transport::poll_transmit`] has drained the queue. In TLS mode,
    /// plaintext sent during the handshake waits (in the same bound) until
    /// the keys are ready.
    ///
    /// # Errors
    ///
    /// The sticky fatal error, or [`TransportError::Closed`] after
    /// [`Transport::close_notify`].
    #[must_use = "send may take fewer bytes than offered"]
    pub fn send(&mut self, plaintext: &[u8]) -> Result<usize, TransportError> {
        match &mut self.state {
            State::Plain { pending } => {
                let room = MAX_SEND_BUFFER.saturating_sub(pending.len());
                let taken = room.min(plaintext.len());
                let (now, _later) = plaintext.split_at(taken);
                pending.extend_from_slice(now);
                Ok(taken)
            }
            State::Tls(tls) => tls.send(plaintext),
        }
    }

    /// Appends every byte waiting for the network to `out`: plain bytes, or
    /// TLS records (handshake, application data, alerts, `close_notify`).
    ///
    /// Worth calling after every other call on the transport; see the drain
    /// rule in the module documentation. It works after a fatal error too,
    /// so that the alert reaches the peer.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        match &mut self.state {
            State::Plain { pending } => {
                out.extend_from_slice(pending);
                // Release the allocation: an idle plain transport holds no heap.
                *pending = Vec::new();
            }
            State::Tls(tls) => tls.transmit(out),
        }
    }

    /// Whether [`Transport::poll_transmit`] has bytes to hand out.
    #[must_use]
    pub fn wants_transmit(&self) -> bool {
        match &self.state {
            State::Plain { pending } => !pending.is_empty(),
            State::Tls(tls) => !tls.plain_prefix.is_empty() || tls.conn.wants_write(),
        }
    }

    /// Where the transport is in its life.
    #[must_use]
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Plain { .. } => Phase::Plain,
            State::Tls(tls) if tls.error.is_some() => Phase::Failed,
            State::Tls(tls) if tls.conn.is_handshaking() => Phase::Handshaking,
            State::Tls(tls) if tls.sent_close || tls.peer_closed => Phase::Closing,
            State::Tls(_) => Phase::Established,
        }
    }

    /// Whether TLS was started on this transport (in any phase since).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Tls(_))
    }

    /// Whether the TLS handshake is under way: TLS started, not finished,
    /// not failed.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.phase() == Phase::Handshaking
    }

    /// Returns `true` exactly once: the first call after the TLS handshake
    /// finished. Worth calling after every [`Transport::receive`]; at that
    /// edge a session forgets its pre-TLS state (RFC 3207 §4.2) and reads
    /// [`Transport::tls_info`].
    #[must_use]
    pub fn poll_handshake_complete(&mut self) -> bool {
        match &mut self.state {
            State::Tls(tls) if !tls.handshake_reported && !tls.conn.is_handshaking() => {
                tls.handshake_reported = true;
                true
            }
            _ => false,
        }
    }

    /// Queues a `close_notify` alert (RFC 8446 §6.1): we send no more
    /// application data. Call [`Transport::poll_transmit`] afterwards. Does
    /// nothing in plain mode, after a fatal error or the second time.
    pub fn close_notify(&mut self) {
        if let State::Tls(tls) = &mut self.state
            && !tls.sent_close
            && tls.error.is_none()
        {
            tls.conn.send_close_notify();
            tls.sent_close = true;
        }
    }

    /// Whether the peer sent `close_notify`: it sends no more data, and
    /// everything it sent before arrived intact.
    #[must_use]
    pub fn received_close_notify(&self) -> bool {
        matches!(&self.state, State::Tls(tls) if tls.peer_closed)
    }

    /// The sticky fatal error, if the transport failed.
    #[must_use]
    pub fn error(&self) -> Option<&TransportError> {
        match &self.state {
            State::Tls(tls) => tls.error.as_ref(),
            State::Plain { .. } => None,
        }
    }

    /// What the finished handshake negotiated; `None` in plain mode and
    /// until the handshake finishes. Stays available after `close_notify`
    /// or a later error.
    #[must_use]
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let State::Tls(tls) = &self.state else {
            return None;
        };
        let conn = &tls.conn;
        if conn.is_handshaking() {
            return None;
        }
        let sni = match conn {
            Connection::Server(server) => server.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        };
        Some(TlsInfo {
            protocol_version: conn.protocol_version()?,
            cipher_suite: conn.negotiated_cipher_suite()?.suite(),
            key_exchange_group: conn.negotiated_key_exchange_group().map(|g| g.name()),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: conn
                .peer_certificates()
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            sni,
            resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
        })
    }
}

impl Tls {
    fn fail(&mut self, error: TransportError) -> Result<(), TransportError> {
        self.error = Some(error.clone());
        Err(error)
    }

    fn receive(
        &mut self,
        mut network: &[u8],
        plaintext: &mut impl BufMut,
    ) -> Result<(), TransportError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        // `read_tls` takes at most one read's worth (4 KiB, more while a
        // large handshake message is being joined), so loop over the whole
        // input. It is never called with an empty slice: rustls reads a
        // zero-length read as TCP EOF.
        while !network.is_empty() && !self.peer_closed {
            let read = match self.conn.read_tls(&mut network) {
                Ok(read) => read,
                Err(e) => return self.fail(TransportError::Buffer(e.kind())),
            };
            if read == 0 {
                // Only after close_notify: rustls reads nothing more.
                break;
            }
            let processed = self.conn.process_new_packets();
            self.drain_plaintext(plaintext);
            match processed {
                Ok(state) => self.peer_closed |= state.peer_has_closed(),
                Err(e) => return self.fail(TransportError::Tls(e)),
            }
        }
        Ok(())
    }

    fn drain_plaintext(&mut self, plaintext: &mut impl BufMut) {
        let mut reader = self.conn.reader();
        // `fill_buf` ends with `WouldBlock` (no more for now) or `Ok(&[])`
        // (after close_notify); both mean: done.
        while let Ok(chunk) = reader.fill_buf() {
            if chunk.is_empty() {
                break;
            }
            plaintext.put_slice(chunk);
            let taken = chunk.len();
            reader.consume(taken);
        }
    }

    fn send(&mut self, plaintext: &[u8]) -> Result<usize, TransportError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.sent_close {
            return Err(TransportError::Closed);
        }
        match self.conn.writer().write(plaintext) {
            Ok(taken) => Ok(taken),
            Err(e) => {
                let error = TransportError::Buffer(e.kind());
                self.error = Some(error.clone());
                Err(error)
            }
        }
    }

    fn transmit(&mut self, out: &mut Vec<u8>) {
        if !self.plain_prefix.is_empty() {
            out.extend_from_slice(&self.plain_prefix);
            self.plain_prefix = Vec::new();
        }
        while self.conn.wants_write() {
            // Writing into a Vec cannot fail; stop on the impossible anyway
            // rather than spin.
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_config() -> Arc<ClientConfig> {
        let config = ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Arc::new(config)
    }

    fn server_config() -> Arc<ServerConfig> {
        let key = rcgen::KeyPair::generate().expect("P-256 key generation");
        let params =
            rcgen::CertificateParams::new(vec!["mx.example.test".to_owned()]).expect("valid name");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .expect("matching key");
        Arc::new(config)
    }

    fn name() -> ServerName<'static> {
        ServerName::try_from("mx.example.test").expect("valid DNS name")
    }

    #[test]
    fn plain_mode_passes_bytes_through_and_idles_without_heap() {
        // RFC 3207 §4: before STARTTLS the session speaks clear text.
        let mut t = Transport::new();
        assert_eq!(t.phase(), Phase::Plain);
        let mut plain = Vec::new();
        t.receive(b"220 mx.example.test ESMTP\r\n", &mut plain)
            .expect("plain receive cannot fail");
        assert_eq!(plain, b"220 mx.example.test ESMTP\r\n");
        assert_eq!(t.send(b"EHLO client\r\n"), Ok(13));
        assert!(t.wants_transmit());
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        assert_eq!(out, b"EHLO client\r\n");
        assert!(!t.wants_transmit());
        let State::Plain { pending } = &t.state else {
            panic!("still plain");
        };
        assert_eq!(pending.capacity(), 0, "idle plain transport holds no heap");
        assert!(t.tls_info().is_none());
        assert!(!t.poll_handshake_complete());
        assert!(!t.received_close_notify());
        t.close_notify();
        assert!(
            !t.wants_transmit(),
            "close_notify does nothing in plain mode"
        );
    }

    #[test]
    fn plain_send_applies_backpressure_at_the_limit() {
        let mut t = Transport::new();
        let big = vec![b'x'; MAX_SEND_BUFFER + 10];
        assert_eq!(t.send(&big), Ok(MAX_SEND_BUFFER));
        assert_eq!(t.send(b"more"), Ok(0));
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        assert_eq!(out.len(), MAX_SEND_BUFFER);
        assert_eq!(t.send(b"more"), Ok(4));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // miri: the ClientHello key share runs ring's assembly
    fn client_queues_plain_prefix_then_client_hello() {
        // RFC 3207 §4: bytes queued before the switch leave first.
        let mut t = Transport::new();
        assert_eq!(t.send(b"QUIT-not-really\r\n"), Ok(17));
        t.start_client_tls(client_config(), name())
            .expect("TLS starts");
        assert_eq!(t.phase(), Phase::Handshaking);
        assert!(t.is_handshaking());
        assert!(t.is_tls());
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        let (prefix, record) = out.split_at(17);
        assert_eq!(prefix, b"QUIT-not-really\r\n");
        // A TLS handshake record (content type 22) carrying a ClientHello (1).
        assert_eq!(record.first(), Some(&0x16));
        assert_eq!(record.get(5), Some(&0x01));
        assert!(!t.wants_transmit());
    }

    #[test]
    #[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
    fn starting_tls_twice_is_refused() {
        // RFC 3207 §4.2: one TLS negotiation per connection.
        let mut t = Transport::new();
        t.start_server_tls(server_config()).expect("TLS starts");
        assert_eq!(
            t.start_server_tls(server_config()),
            Err(StartTlsError::AlreadyTls)
        );
        assert_eq!(
            t.start_client_tls(client_config(), name()),
            Err(StartTlsError::AlreadyTls)
        );
        assert_eq!(t.phase(), Phase::Handshaking);
    }

    #[test]
    fn bad_config_leaves_the_transport_plain() {
        // A maximum fragment size below the 32 bytes rustls allows.
        let mut config = ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        config.max_fragment_size = Some(1);
        let mut t = Transport::new();
        assert_eq!(t.send(b"220 go\r\n"), Ok(8));
        assert_eq!(
            t.start_client_tls(Arc::new(config), name()),
            Err(StartTlsError::Config(rustls::Error::BadMaxFragmentSize))
        );
        assert_eq!(t.phase(), Phase::Plain);
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        assert_eq!(out, b"220 go\r\n", "queued plain bytes survive");
    }

    #[test]
    #[cfg_attr(miri, ignore)] // miri: rcgen's key generation runs ring's assembly
    fn garbage_while_handshaking_fails_sticky_with_an_alert() {
        // RFC 3207 §4: after the 220 the stream is TLS; clear text is not.
        let mut t = Transport::new();
        t.start_server_tls(server_config()).expect("TLS starts");
        let mut plain = Vec::new();
        let err = t
            .receive(b"EHLO client.example\r\n", &mut plain)
            .expect_err("clear text is not a TLS record");
        assert!(matches!(
            err,
            TransportError::Tls(rustls::Error::InvalidMessage(_))
        ));
        assert!(err.is_fatal());
        assert!(plain.is_empty());
        assert_eq!(t.phase(), Phase::Failed);
        assert_eq!(t.error(), Some(&err));
        // Sticky for both directions.
        assert_eq!(t.receive(b"more", &mut plain), Err(err.clone()));
        assert_eq!(t.send(b"data"), Err(err));
        // The goodbye still comes out: a fatal alert record (21, level 2).
        let mut out = Vec::new();
        t.poll_transmit(&mut out);
        assert_eq!(out.first(), Some(&0x15));
        assert_eq!(out.get(5), Some(&0x02));
        assert!(!t.poll_handshake_complete());
    }

    #[test]
    fn error_helpers_classify() {
        let cert = TransportError::Tls(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            cert.certificate_error(),
            Some(&CertificateError::UnknownIssuer)
        );
        assert_eq!(cert.received_alert(), None);
        let alert = TransportError::Tls(rustls::Error::AlertReceived(AlertDescription::UnknownCA));
        assert_eq!(alert.received_alert(), Some(AlertDescription::UnknownCA));
        assert_eq!(alert.certificate_error(), None);
        assert!(!TransportError::Closed.is_fatal());
        assert!(TransportError::Buffer(std::io::ErrorKind::Other).is_fatal());
    }

    #[test]
    fn ring_provider_has_suites_and_groups() {
        let provider = ring_provider();
        assert!(!provider.cipher_suites.is_empty());
        assert!(!provider.kx_groups.is_empty());
    }
}
