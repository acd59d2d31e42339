//! The SMTP client session (RFC 5321) with STARTTLS (RFC 3207), PIPELINING
//! (RFC 2920) and CHUNKING (RFC 3030): [`ClientSession`], sans-IO.
//!
//! The embedder opens the TCP connection, owns the socket and the clock,
//! and passes bytes and time in; the session hands back bytes to write and
//! [`ClientEvent`]s. The one rustls connection lives in
//! [`crate::transport`]; this module sees plaintext only.
//!
//! ```text
//! session  = greeting ehlo [ starttls handshake ehlo ] *transaction quit
//! greeting = "220" ...                                   ; RFC 5321 §3.1
//! ehlo     = "EHLO" SP name CRLF -> "250" capabilities   ; §4.1.1.1
//!          / "HELO" SP name CRLF -> "250"                ; after 500/502
//! starttls = "STARTTLS" CRLF -> "220" SP text CRLF       ; RFC 3207 §4
//! transaction = [ "RSET" ] "MAIL FROM:" ... 1*( "RCPT TO:" ... )
//!               ( "DATA" -> "354", body, "." CRLF  /  "BDAT" SP n SP "LAST", body )
//! quit     = "QUIT" CRLF -> "221"                        ; §4.1.1.10
//! ```
//!
//! # Run loop and drain rule
//!
//! 1. Connect, then `let mut client = ClientSession::new(config, now)`.
//! 2. **Drain**: call [`ClientSession::poll_event`] until it returns
//!    `None`, acting on each event (on [`ClientEvent::Ready`]:
//!    [`ClientSession::send_message`] or [`ClientSession::quit`]); call
//!    [`ClientSession::poll_transmit`] until it returns 0, writing what it
//!    appends to the socket. Repeat while either produced something: an
//!    event can queue bytes and vice versa.
//! 3. If [`ClientEvent::Closed`] came, close the socket once the last
//!    transmit is written: done.
//! 4. Wait for the socket or for [`ClientSession::poll_timeout`]. Bytes
//!    read → [`ClientSession::handle_input`]; end of file →
//!    [`ClientSession::handle_eof`]; the instant passed →
//!    [`ClientSession::handle_timeout`]. Go to 2.
//!
//! The drain rule: after **every** call that takes `now` (`new`,
//! `handle_input`, `handle_eof`, `handle_timeout`, `send_message`,
//! `quit`), drain events and transmits until both are empty, then read
//! `poll_timeout` again.
//!
//! # States
//!
//! ```text
//!  new ─► Greeting ─220─► EHLO ─250─┬─ STARTTLS wanted and offered ─► STARTTLS
//!          │                        │                                    │ one "220" line,
//!          │ 4xx/5xx: QUIT,         │                                    │ nothing after it
//!          │ Closed(Rejected)       │                                    ▼
//!          │                        │                               TLS handshake
//!          │                        │                                    │
//!          │                        │                                    ▼
//!          │                        │                          EHLO again ─250─► Ready
//!          │                        ├─ TLS not wanted ─────────────────────────► Ready
//!          │                        └─ not offered / refused: Required ─► QUIT, Closed(Error)
//!          │                                                  Opportunistic ─► TlsSkipped, Ready
//!          └─ EHLO 500/502 (not Required) ─► HELO ─250─► Ready
//!
//!  Ready ─send_message─► [RSET] MAIL RCPT… ─► DATA ─354─► body "." ─┐
//!                                        └─► BDAT n LAST + body ────┴─► final reply ─► Ready
//!  Ready ─quit─► QUIT ─221─► Closed(Quit)
//!  any state: 421 ─► Closed(ServiceClosing);  fatal error ─► Closed(Error)
//! ```
//!
//! # STARTTLS: what is discarded, what is an attack
//!
//! - Under [`TlsRequirement::Required`], every way for a man in the middle
//!   to keep TLS off — STARTTLS missing from EHLO, EHLO answered 500/502,
//!   STARTTLS answered `4xx`/`5xx`, or answered with anything but one
//!   final `220` line (`354`, `250`, a multi-line `220`) — ends the
//!   session with a typed [`ClientError`] and a QUIT in clear, before one
//!   byte of envelope or message is written. A failed handshake (the
//!   verifier in [`ClientConfig::tls_config`] refused the certificate:
//!   [`ClientError::certificate_error`]) ends it with the TLS alert only.
//! - Under [`TlsRequirement::Opportunistic`] the same refusals continue in
//!   clear with [`ClientEvent::TlsSkipped`]; a failed handshake ends the
//!   session ([`ClientError::Handshake`]), for the embedder to retry in
//!   clear on a new connection if its policy allows.
//! - **Response injection** (CVE-2021-38371): any byte after the `220` to
//!   STARTTLS that is not the start of a TLS record — in the same read as
//!   the `220` or later — is [`ClientError::ResponseInjection`]. Those
//!   bytes are never parsed, before or after TLS; the connection closes.
//! - At the `220`, the capabilities from before TLS are forgotten
//!   ([`ClientSession::capabilities`] is `None`); only the EHLO after the
//!   handshake counts (a PIPELINING, SIZE or REQUIRETLS seen in clear
//!   means nothing). STARTTLS is never sent twice.
//!
//! # Strict reply accounting
//!
//! Every reply must answer a command that has already left through
//! `poll_transmit`, in order. A reply that starts when nothing is
//! outstanding, before its command left, or while the body is still
//! going out, and a reply of the wrong kind (`354` to MAIL, `250` to
//! DATA), is [`ClientError::UnexpectedReply`]; a malformed one is
//! [`ClientError::Reply`]. Both close the connection without QUIT, since
//! the server is out of step. `421` is the exception: at any time it closes
//! the session as [`CloseReason::ServiceClosing`] (RFC 5321 §3.8).
//!
//! # Memory
//!
//! The reply parser holds at most one line and
//! [`MAX_REPLY_LINES`](crate::limits::MAX_REPLY_LINES) lines of text; the
//! transport at most [`MAX_SEND_BUFFER`](crate::transport::MAX_SEND_BUFFER)
//! octets; the body is the embedder's [`bytes::Bytes`] and is transformed
//! one slice (16 KiB) at a time. What grows beyond that grows with the
//! embedder's own input (recipients), never with the server's.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use secmx_core::client::{ClientConfig, ClientEvent, ClientSession, Envelope, TlsRequirement};
//! use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
//! use secmx_core::transport::ring_provider;
//!
//! let tls = rustls::ClientConfig::builder_with_provider(ring_provider())
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(rustls::RootCertStore::empty())
//!     .with_no_client_auth();
//! let config = ClientConfig::new(
//!     Domain::parse(b"client.example", false)?.into_owned(),
//!     TlsRequirement::None,
//!     Arc::new(tls),
//!     rustls::pki_types::ServerName::try_from("mx.example.net")?,
//! );
//! let now = Instant::now();
//! let mut client = ClientSession::new(config, now);
//! let mut wire = Vec::new();
//!
//! client.handle_input(now, b"220 mx.example.net ESMTP\r\n");
//! while client.poll_transmit(&mut wire) > 0 {}
//! assert_eq!(wire, b"EHLO client.example\r\n");
//! wire.clear();
//!
//! client.handle_input(now, b"250-mx.example.net\r\n250 PIPELINING\r\n");
//! let mut events = Vec::new();
//! while let Some(event) = client.poll_event() {
//!     events.push(event);
//! }
//! assert!(matches!(events.last(), Some(ClientEvent::Ready)));
//!
//! let envelope = Envelope::new(ReversePath::parse(b"<a@client.example>", false)?.into_owned())
//!     .with_recipient(ForwardPath::parse(b"<b@example.net>", false)?.into_owned());
//! client.send_message(now, envelope, &b"Subject: hi\r\n\r\nHello\r\n"[..])?;
//! while client.poll_transmit(&mut wire) > 0 {}
//! // PIPELINING: MAIL, RCPT and DATA in one group (RFC 2920 §3.1).
//! assert_eq!(wire, b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
//! wire.clear();
//!
//! client.handle_input(now, b"250 ok\r\n250 ok\r\n354 go on\r\n");
//! while client.poll_transmit(&mut wire) > 0 {}
//! assert_eq!(wire, b"Subject: hi\r\n\r\nHello\r\n.\r\n");
//! client.handle_input(now, b"250 queued as 1234\r\n");
//! let outcome = std::iter::from_fn(|| client.poll_event())
//!     .find(|e| matches!(e, ClientEvent::MessageAccepted(_)));
//! assert!(outcome.is_some());
//!
//! client.quit(now)?;
//! wire.clear();
//! while client.poll_transmit(&mut wire) > 0 {}
//! assert_eq!(wire, b"QUIT\r\n");
//! client.handle_input(now, b"221 bye\r\n");
//! assert!(client.is_closed() && client.error().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod config;
mod envelope;
mod error;
mod event;
mod session;

pub use config::{ClientConfig, TlsRequirement};
pub use envelope::{Envelope, Recipient};
pub use error::{ClientError, NotReady, SubmitError, TimeoutKind};
pub use event::{ClientEvent, CloseReason, TlsSkipReason};
pub use session::ClientSession;
