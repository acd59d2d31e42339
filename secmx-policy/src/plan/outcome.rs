//! What an attempt reports back to the plan, and how the client session's
//! events, errors and refusals map onto it.

use secmx_core::client::{
    ClientError, ClientEvent, CloseReason, SubmitError, TimeoutKind, TlsSkipReason,
};
use secmx_core::rustls::{CipherSuite, ProtocolVersion};
use secmx_core::{EnhancedCode, Keyword, Reply, ReplyCode};

use crate::types::CertCheck;
use crate::verify::CertFailure;

/// One step of an attempt, reported with [`Plan::report`](super::Plan::report).
///
/// Steps come in session order: `Greeting`, `Capabilities`, then the
/// STARTTLS steps (`StartTlsNotOffered` / `StartTlsRefused` /
/// `TlsEstablished` / `HandshakeFailed` / `Injection`), `Capabilities`
/// again after TLS, then `MailRejected` or one `Rcpt` per recipient and
/// `Data`. Any step may be replaced by `ConnectFailed`, `Timeout`,
/// `ConnectionLost`, `ServiceClosing` or `ProtocolError`.
/// [`AttemptOutcome::from_event`] and [`AttemptOutcome::from_error`] make
/// them from a [`ClientSession`](secmx_core::client::ClientSession)'s
/// events.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// No TCP connection to any of the attempt's addresses (refused,
    /// unreachable, timed out): temporary.
    ConnectFailed,
    /// The server's greeting (RFC 5321 §4.2); a `4xx`/`5xx` one (or an
    /// EHLO/HELO refused) ends the attempt.
    Greeting(Reply<'static>),
    /// The EHLO capabilities: `tls` says whether they came after the
    /// handshake; `requiretls` whether they offered REQUIRETLS
    /// (RFC 8689 §2: only meaningful after TLS).
    Capabilities {
        /// Sent over TLS.
        tls: bool,
        /// REQUIRETLS offered.
        requiretls: bool,
    },
    /// STARTTLS was not offered (or EHLO was refused, so no extension
    /// is): the end of a TLS-required attempt, clear text for an
    /// opportunistic one.
    StartTlsNotOffered,
    /// STARTTLS was answered with something else than `220`: `4xx`, `5xx`
    /// or a malformed answer.
    StartTlsRefused(Reply<'static>),
    /// The TLS handshake finished.
    TlsEstablished {
        /// The protocol version.
        protocol: ProtocolVersion,
        /// The cipher suite.
        cipher_suite: CipherSuite,
    },
    /// The TLS handshake failed, for this reason (the certificate check's
    /// verdict, or [`CertFailure::Handshake`]).
    HandshakeFailed(CertFailure),
    /// Bytes after the `220` to STARTTLS (response injection,
    /// CVE-2021-38371): the connection was dropped.
    Injection,
    /// The attempt needs REQUIRETLS and the server did not offer it after
    /// TLS (RFC 8689 §4.2.1).
    RequireTlsNotAdvertised,
    /// MAIL was refused.
    MailRejected(Reply<'static>),
    /// The reply to the RCPT of the recipient at `index` in
    /// [`Attempt::recipients`](super::Attempt::recipients).
    Rcpt {
        /// The place in the attempt's recipient list.
        index: usize,
        /// The reply.
        reply: Reply<'static>,
    },
    /// The reply after the message data (or to DATA / BDAT when it was
    /// refused).
    Data(Reply<'static>),
    /// `421` at any time: the server is closing (RFC 5321 §3.8).
    ServiceClosing(Reply<'static>),
    /// A wait ran out (RFC 5321 §4.5.3.2).
    Timeout(TimeoutKind),
    /// The connection ended unexpectedly (or the TLS layer failed after
    /// the handshake).
    ConnectionLost,
    /// The server broke the protocol (malformed or unexpected reply), or
    /// the local TLS set-up failed: temporary.
    ProtocolError,
}

impl AttemptOutcome {
    /// The step a client session event stands for; `None` for events
    /// that say nothing to the plan (`Ready`, `NoRecipientsAccepted`, a
    /// `Closed` after QUIT).
    pub fn from_event(event: &ClientEvent) -> Option<Self> {
        Some(match event {
            ClientEvent::Greeting(r) => Self::Greeting(r.clone()),
            ClientEvent::Capabilities { tls, caps } => Self::Capabilities {
                tls: *tls,
                requiretls: caps.requiretls(),
            },
            ClientEvent::TlsEstablished(info) => Self::TlsEstablished {
                protocol: info.protocol_version,
                cipher_suite: info.cipher_suite,
            },
            ClientEvent::TlsSkipped { reason } => match reason {
                TlsSkipReason::NotOffered | TlsSkipReason::EhloNotSupported(_) => {
                    Self::StartTlsNotOffered
                }
                TlsSkipReason::Refused(r) | TlsSkipReason::BadReply(r) => {
                    Self::StartTlsRefused(r.clone())
                }
                _ => Self::StartTlsNotOffered,
            },
            ClientEvent::MailRejected(r) => Self::MailRejected(r.clone()),
            ClientEvent::RcptAccepted { index, reply }
            | ClientEvent::RcptRejected { index, reply } => Self::Rcpt {
                index: *index,
                reply: reply.clone(),
            },
            ClientEvent::MessageAccepted(r) | ClientEvent::MessageRejected(r) => {
                Self::Data(r.clone())
            }
            ClientEvent::Closed { reason } => match reason {
                CloseReason::Quit => return None,
                CloseReason::ServiceClosing(r) => Self::ServiceClosing(r.clone()),
                CloseReason::Rejected(r) => Self::Greeting(r.clone()),
                CloseReason::Error(e) => Self::from_error(e),
                _ => Self::ConnectionLost,
            },
            _ => return None,
        })
    }

    /// The step a fatal client session error stands for.
    pub fn from_error(error: &ClientError) -> Self {
        match error {
            ClientError::StartTlsNotOffered => Self::StartTlsNotOffered,
            ClientError::StartTlsRefused(r) | ClientError::StartTlsBadReply(r) => {
                Self::StartTlsRefused(r.clone())
            }
            ClientError::ResponseInjection => Self::Injection,
            ClientError::Handshake(secmx_core::TransportError::Tls(e)) => {
                Self::HandshakeFailed(CertFailure::from(e))
            }
            ClientError::Handshake(_) => Self::HandshakeFailed(CertFailure::Handshake),
            ClientError::Timeout(kind) => Self::Timeout(*kind),
            ClientError::ConnectionLost | ClientError::Tls(_) => Self::ConnectionLost,
            _ => Self::ProtocolError,
        }
    }

    /// The step a refused [`send_message`](secmx_core::client::ClientSession::send_message)
    /// stands for: REQUIRETLS not offered; or a refusal that no server of
    /// the same kind would undo, as the `5xx` reply a server would have
    /// given (SIZE over the limit: `552 5.3.4`, RFC 1870 §6; SMTPUTF8
    /// missing: `553 5.6.7`, RFC 6531 §3.5; another extension missing:
    /// `555 5.5.4`). `None` for misuse of the call (not ready, closed, no
    /// recipients).
    pub fn from_submit_error(error: &SubmitError) -> Option<Self> {
        let reply = |code: u16, enhanced: Option<EnhancedCode>, text: String| {
            ReplyCode::new(code).map(|c| Reply::new(c, enhanced, text))
        };
        match error {
            SubmitError::NotOffered(Keyword::RequireTls) | SubmitError::RequireTlsWithoutTls => {
                Some(Self::RequireTlsNotAdvertised)
            }
            SubmitError::TooBig { size, limit } => reply(
                552,
                Some(EnhancedCode::MESSAGE_TOO_BIG),
                format!("message of {size} octets is over the server's SIZE of {limit}"),
            )
            .map(Self::MailRejected),
            SubmitError::NotOffered(Keyword::SmtpUtf8) | SubmitError::NonAsciiWithoutSmtpUtf8 => {
                reply(
                    553,
                    Some(EnhancedCode::NON_ASCII_NOT_PERMITTED),
                    "the server does not offer SMTPUTF8".to_owned(),
                )
                .map(Self::MailRejected)
            }
            SubmitError::NotOffered(k) => reply(
                555,
                Some(EnhancedCode::INVALID_ARGUMENTS),
                format!("the server does not offer {}", k.as_str()),
            )
            .map(Self::MailRejected),
            _ => None,
        }
    }
}

/// How a delivery was protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsDetails {
    /// The protocol version.
    pub protocol: ProtocolVersion,
    /// The cipher suite.
    pub cipher_suite: CipherSuite,
    /// The certificate check the handshake passed.
    pub cert_check: CertCheck,
    /// The server offered REQUIRETLS after TLS.
    pub requiretls: bool,
}
