//! # secmx-core
//!
//! SMTP (RFC 5321) for SecMX, sans-IO: the grammar of commands, replies,
//! EHLO capabilities, paths, parameters and the message body, and the
//! client and server session state machines with STARTTLS (RFC 3207) on
//! rustls.
//!
//! **What it does.** A [`ClientSession`] (the sending MTA) and a
//! [`ServerSession`] (the receiving MTA) turn bytes from the network into
//! events, and the embedder's decisions into bytes for the network:
//! greeting, EHLO, STARTTLS and the TLS handshake, MAIL, RCPT, DATA or
//! BDAT, QUIT, with timeouts and every buffer bounded.
//!
//! **What it does not.** No I/O: it opens no socket and reads and writes
//! none; the embedder moves the bytes. No clock: every call that can change
//! state takes `now: Instant`, and `poll_timeout()` says when to call
//! `handle_timeout(now)`. No threads, no async runtime, no global state.
//! It does not look up MX records (`secmx-dns`), choose what to trust or
//! whether to bounce (`secmx-policy`, and the rustls configuration the
//! embedder passes in), or store messages (the embedder answers
//! [`ServerEvent::MessageComplete`] once it has).
//!
//! # Data flow
//!
//! ```text
//!  network bytes ──► Transport ──► plaintext ──► proto::line (CRLF framing, bounded)
//!  (socket, read    (plain, or       │             ├─► proto::command ──► Command<'a>  ─┐ server
//!   by the          rustls after     │             ├─► proto::reply   ──► Reply<'a>    ─┤ client
//!   embedder)       STARTTLS: the    │             └─► proto::data    ──► body chunks  ─┤
//!                   only rustls      │                                                  ▼
//!                   caller)          │                                  ClientSession / ServerSession
//!                                    │                                                  │
//!                                    │                                                  ▼
//!                                    │                           poll_event() ──► ClientEvent / ServerEvent
//!                                    │                                                  │
//!                                    │        the application answers: send_message, quit,
//!                                    │        accept, reject  ◄─────────────────────────┘
//!                                    │                                                  │
//!  network bytes ◄── Transport ◄── plaintext ◄── commands, replies, stuffed body ◄──────┘
//!  (poll_transmit,  (records after
//!   written by the   STARTTLS)
//!   embedder)
//! ```
//!
//! # The run loop and the drain rule
//!
//! Both sessions run the same way; the details are in the [`client`] and
//! [`server`] module docs.
//!
//! 1. Per connection, create the session: [`ClientSession::new`] once the
//!    TCP connection is open, [`ServerSession::new`] once it is accepted.
//! 2. **Drain.** Call `poll_event()` until it returns `None`, acting on
//!    each event: on [`ClientEvent::Ready`] call
//!    [`ClientSession::send_message`] or [`ClientSession::quit`]; on
//!    [`ServerEvent::MailFrom`], [`ServerEvent::RcptTo`] and
//!    [`ServerEvent::MessageComplete`] call [`ServerSession::accept`] or
//!    [`ServerSession::reject`] (for a message: only once it is stored).
//!    Call `poll_transmit(&mut out)` until it adds nothing, and write `out`
//!    to the socket. Repeat while either produced something: an event can
//!    queue bytes and bytes can free events.
//! 3. If `Closed` came out of `poll_event`, write the last transmit (QUIT,
//!    `221`, `421`, the TLS `close_notify` or alert) and close the socket:
//!    done.
//! 4. Wait for the socket or for `poll_timeout()`. Bytes read:
//!    `handle_input(now, &bytes)`. End of file: `handle_eof(now)`. The
//!    instant came: `handle_timeout(now)`. Go to 2.
//!
//! The drain rule: after **every** call that takes `now`, drain events and
//! transmits until both are empty, then read `poll_timeout()` again.
//!
//! One difference: [`ServerSession::handle_input`] returns how many bytes
//! it took. It stops taking input while its bounded buffer is full (an
//! event unpolled, a decision unanswered, replies unsent). Keep the rest,
//! drain, and offer it again; if it takes nothing, it waits for your
//! answer to [`ServerSession::pending_decision`]: stop reading the socket
//! until you give it. [`ClientSession::handle_input`] always takes
//! everything. The server also relies on the order of step 2: a reply the
//! client must see before it talks again (the greeting, the `354`, the
//! `220` to STARTTLS) must have left `poll_transmit` before more input is
//! offered, or that input is treated as an attack.
//!
//! # STARTTLS, in short
//!
//! - **What is discarded at the switch.** The server forgets the HELO name
//!   and any open transaction when it sends the `220` (a
//!   [`ServerEvent::MessageAborted`] if one was open); after
//!   [`ServerEvent::TlsEstablished`] the client must say EHLO again, MAIL
//!   first gets `503`, STARTTLS is no longer offered and a second one is
//!   refused, and REQUIRETLS is now offered. The client forgets the
//!   capabilities it saw in clear when it reads the `220`
//!   ([`ClientSession::capabilities`] is `None` until the EHLO after the
//!   handshake): a PIPELINING, SIZE or REQUIRETLS seen in clear means
//!   nothing. It never sends STARTTLS twice.
//! - **Command injection (CVE-2011-0411).** Plaintext a client sent after
//!   its STARTTLS line, read before the server's `220` left, is never
//!   executed: the server raises [`ServerEvent::Injection`] and closes
//!   with [`server::ServerError::CommandInjection`]. Plaintext that arrives
//!   after the `220` left is fed to TLS and fails the handshake.
//! - **Response injection (CVE-2021-38371).** Any byte after the server's
//!   `220` that is not the start of a TLS record, in the same read or
//!   later, is [`ClientError::ResponseInjection`]: never parsed, before or
//!   after TLS, and the connection closes.
//! - **Stripping.** A man in the middle can delete STARTTLS from the EHLO
//!   reply or answer it `454`, `502`, `354` or a multi-line `220`. Under
//!   [`TlsRequirement::Required`] the client then stops with a typed
//!   [`ClientError`] (`StartTlsNotOffered`, `StartTlsRefused`,
//!   `StartTlsBadReply`) and a QUIT, before one byte of envelope or
//!   message; under [`TlsRequirement::Opportunistic`] it goes on in clear
//!   and says so ([`ClientEvent::TlsSkipped`]). A [`ServerMode::Sor`]
//!   answers MAIL, RCPT, DATA and BDAT in clear with
//!   `530 5.7.0 Must issue a STARTTLS command first`.
//! - Certificates are the rustls configuration's business: the client
//!   reports a rejected one as [`ClientError::Handshake`]
//!   ([`ClientError::certificate_error`] tells an unknown issuer from a
//!   wrong name or an expired certificate), after which only the TLS
//!   alert is sent.
//!
//! # Example: a client and a server back to back, through STARTTLS
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
//! use secmx_core::transport::ring_provider;
//! use secmx_core::{
//!     ClientConfig, ClientEvent, ClientSession, Domain, Envelope, ForwardPath, ReversePath,
//!     ServerConfig, ServerEvent, ServerMode, ServerSession, TlsRequirement,
//! };
//!
//! // The receiver's certificate (rcgen), which the sender trusts.
//! let cert = rcgen::generate_simple_self_signed(vec!["mx.example.net".to_owned()])?;
//! let key = PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
//! let server_tls = rustls::ServerConfig::builder_with_provider(ring_provider())
//!     .with_safe_default_protocol_versions()?
//!     .with_no_client_auth()
//!     .with_single_cert(vec![cert.cert.der().clone()], PrivateKeyDer::Pkcs8(key))?;
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert.cert.der().clone())?;
//! let client_tls = rustls::ClientConfig::builder_with_provider(ring_provider())
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//!
//! // A secure only receiver, and a sender that requires TLS.
//! let now = Instant::now();
//! let server_config =
//!     ServerConfig::new("mx.example.net", ServerMode::Sor).with_tls(Arc::new(server_tls));
//! let mut server = ServerSession::new(server_config, now)?;
//! let mut client = ClientSession::new(
//!     ClientConfig::new(
//!         Domain::parse(b"client.example", false)?.into_owned(),
//!         TlsRequirement::Required,
//!         Arc::new(client_tls),
//!         ServerName::try_from("mx.example.net")?,
//!     ),
//!     now,
//! );
//!
//! let message = &b"Subject: hello\r\n\r\nSent over STARTTLS.\r\n"[..];
//! let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
//! let (mut body, mut stored) = (Vec::new(), None);
//! let mut submitted = false;
//! for _round in 0..100 {
//!     // The client: drain events and transmits.
//!     while let Some(event) = client.poll_event() {
//!         match event {
//!             ClientEvent::Ready if !submitted => {
//!                 let envelope = Envelope::new(
//!                     ReversePath::parse(b"<a@client.example>", false)?.into_owned(),
//!                 )
//!                 .with_recipient(ForwardPath::parse(b"<b@example.net>", false)?.into_owned());
//!                 client.send_message(now, envelope, message)?;
//!                 submitted = true;
//!             }
//!             ClientEvent::Ready => client.quit(now)?,
//!             ClientEvent::MessageAccepted(reply) => assert_eq!(reply.code().get(), 250),
//!             _ => {}
//!         }
//!     }
//!     while client.poll_transmit(&mut to_server) > 0 {}
//!
//!     // The server: answer the decisions, drain events and transmits.
//!     while let Some(event) = server.poll_event() {
//!         match event {
//!             ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. } => server.accept(now)?,
//!             ServerEvent::BodyChunk(chunk) => body.extend_from_slice(&chunk),
//!             ServerEvent::MessageComplete { envelope, .. } => {
//!                 assert!(envelope.tls);
//!                 stored = Some(std::mem::take(&mut body)); // store it, then say 250
//!                 server.accept(now)?;
//!             }
//!             _ => {}
//!         }
//!     }
//!     server.poll_transmit(&mut to_client);
//!
//!     if client.is_closed() && server.is_closed() {
//!         break;
//!     }
//!     // The network. The server may take less than offered: keep the rest.
//!     let taken = server.handle_input(now, &to_server)?;
//!     to_server.drain(..taken);
//!     client.handle_input(now, &to_client);
//!     to_client.clear();
//! }
//! assert_eq!(stored.as_deref(), Some(message));
//! assert!(client.is_tls() && client.error().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - SMTP sessions (RFC 5321), client and server, with STARTTLS
//!   (RFC 3207) on rustls with the ring provider, TLS 1.2 and 1.3; what
//!   TLS negotiated (version, cipher suite, peer chain, SNI) in
//!   [`TlsInfo`].
//! - Server roles: [`ServerMode::Ber`] (best effort receiver) and
//!   [`ServerMode::Sor`] (secure only receiver); client
//!   [`TlsRequirement`]s `None`, `Opportunistic`, `Required`.
//! - PIPELINING (RFC 2920), CHUNKING/BDAT (RFC 3030), SIZE (RFC 1870),
//!   8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN parameters
//!   (RFC 3461), ENHANCEDSTATUSCODES (RFC 2034), REQUIRETLS (RFC 8689:
//!   offered by the server under TLS only, never sent by the client in
//!   clear).
//! - Timeouts per RFC 5321 §4.5.3.2 and for the TLS handshake,
//!   configurable ([`Timeouts`]).
//! - The grammar on its own, borrowing its input, incomplete input as
//!   [`Status::Partial`]: [`proto`].
//!
//! # Limits
//!
//! Every buffer is bounded by a named constant: the grammar's in
//! [`limits`] (command line 512, reply line 512, text line 1000, reply
//! lines, parameters; at least 100 recipients, then `452 4.5.3`), the
//! transport's [`transport::MAX_SEND_BUFFER`], the server's
//! [`server::MAX_INPUT_BUFFER`]. Going over one is a typed error that
//! carries the reply a server should send ([`ErrorReply`]), or the RFC's
//! reply, never growth without bound and never a panic.
//!
//! Not provided: AUTH (the server does not offer it; the client sends the
//! MAIL AUTH parameter only where offered, and no SASL exchange),
//! BINARYMIME on the server, implicit TLS sessions (RFC 8314), DNS and
//! delivery policy (other SecMX crates).
//!
//! # Re-exports
//!
//! The session types are at the root. [`Envelope`] and [`Recipient`] at the
//! root are the client's (what to send); the server's (what was received)
//! are [`server::Envelope`] and [`server::Recipient`]. Each session's
//! `CloseReason` stays in its module ([`client::CloseReason`],
//! [`server::CloseReason`]), as the names collide. [`rustls`] and
//! [`bytes`] are re-exported because their types are in the API.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod limits;
pub mod proto;
pub mod server;
pub mod time;
pub mod transport;

pub use bytes;
pub use rustls;

pub use client::{
    ClientConfig, ClientError, ClientEvent, ClientSession, Envelope, Recipient, SubmitError,
    TimeoutKind, TlsRequirement, TlsSkipReason,
};
pub use proto::Status;
pub use proto::code::{EnhancedCode, ErrorReply, ReplyClass, ReplyCode};
pub use proto::command::{Command, CommandError, ParseContext, Verb};
pub use proto::data::{BdatReceiver, BodyReport, DotStuffer, DotUnstuffer, Unstuffed};
pub use proto::ehlo::{Capabilities, EhloError, Keyword, Size};
pub use proto::line::{LineError, LineReader};
pub use proto::param::{Body, MailParameters, Notify, Orcpt, RcptParameters, Ret};
pub use proto::path::{Domain, ForwardPath, LocalPart, Mailbox, PathError, ReversePath};
pub use proto::reply::{Reply, ReplyError, ReplyParser};
pub use server::{ServerConfig, ServerError, ServerEvent, ServerMode, ServerSession};
pub use time::{Deadline, Timeouts};
pub use transport::{Phase, StartTlsError, TlsInfo, Transport, TransportError};
