//! Why a client session ended badly, and why a message or a call was
//! refused.

use rustls::CertificateError;

use crate::proto::command::Verb;
use crate::proto::ehlo::Keyword;
use crate::proto::reply::{Reply, ReplyError};
use crate::transport::{StartTlsError, TransportError};

/// Which wait ran out (RFC 5321 §4.5.3.2, plus the TLS handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The `220` greeting (§4.5.3.2.1).
    Greeting,
    /// The reply to this command: MAIL (§4.5.3.2.2), RCPT (§4.5.3.2.3),
    /// DATA's `354` (§4.5.3.2.4), or EHLO, HELO, STARTTLS, RSET, QUIT
    /// ([`Timeouts::command`](crate::time::Timeouts::command)).
    Reply(Verb),
    /// The TLS handshake after the `220` to STARTTLS.
    TlsHandshake,
    /// Message data that the network did not take in time (§4.5.3.2.5).
    DataBlock,
    /// The reply after the end of data or the last BDAT chunk
    /// (§4.5.3.2.6).
    DataTermination,
}

/// A fatal client session error. Sticky: once it happened the session
/// takes no more input, and [`ClientSession::error`](super::ClientSession::error)
/// keeps returning it. An SMTP `4xx`/`5xx` reply to a transaction is an
/// event, not one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// TLS is required and the server did not offer STARTTLS, or did not
    /// speak ESMTP at all (EHLO answered `500`/`502`): the classic
    /// stripping attack (RFC 3207 §4, §6). QUIT is sent in clear.
    #[error("TLS is required and the server does not offer STARTTLS")]
    StartTlsNotOffered,
    /// TLS is required and STARTTLS was answered `4xx`/`5xx` (for example
    /// `454 TLS not available`). QUIT is sent in clear.
    #[error("TLS is required and STARTTLS was refused: {0}")]
    StartTlsRefused(Reply<'static>),
    /// TLS is required and STARTTLS was answered with something else than
    /// one final `220` line (a `354`, a `250`, a multi-line `220`). QUIT
    /// is sent in clear.
    #[error("TLS is required and STARTTLS got a reply other than one 220 line: {0}")]
    StartTlsBadReply(Reply<'static>),
    /// Bytes followed the `220` to STARTTLS before the TLS handshake: a
    /// response injection (CVE-2021-38371). They are not read, before or
    /// after TLS; the connection is closed without QUIT.
    #[error("plaintext after the 220 to STARTTLS (response injection, CVE-2021-38371)")]
    ResponseInjection,
    /// The TLS handshake failed: the certificate was rejected by the
    /// configured verifier ([`ClientError::certificate_error`]), the
    /// server sent an alert, or the records were malformed. The alert
    /// still comes out of `poll_transmit`; nothing else is sent.
    #[error("TLS handshake failed: {0}")]
    Handshake(TransportError),
    /// rustls refused the client configuration when TLS was to start.
    #[error("cannot start TLS: {0}")]
    TlsConfig(StartTlsError),
    /// The TLS connection failed after the handshake.
    #[error("TLS failed: {0}")]
    Tls(TransportError),
    /// A reply that answers no command: sent when nothing was outstanding,
    /// before the command it would answer had left, an extra reply, or a
    /// reply of the wrong kind (a `354` to MAIL, a `250` to DATA). The
    /// session cannot know what the server means any more.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(Reply<'static>),
    /// A reply that breaks the grammar or a limit (bad code, bad
    /// separator, mismatched codes, over-long line, too many lines, bare
    /// CR or LF).
    #[error("malformed reply: {0}")]
    Reply(#[from] ReplyError),
    /// A wait ran out (RFC 5321 §4.5.3.2).
    #[error("timed out waiting for {0:?}")]
    Timeout(TimeoutKind),
    /// The connection ended (end of file, or the server's `close_notify`)
    /// while the session was not quitting. A message whose final reply
    /// had not come may or may not have been delivered (RFC 5321 §6.1).
    #[error("connection closed by the server")]
    ConnectionLost,
}

impl ClientError {
    /// The certificate problem when the handshake failed because the
    /// verifier rejected the server's certificate: `UnknownIssuer` (an
    /// unknown root or a self-signed certificate), `NotValidForName…`,
    /// `Expired…`.
    pub fn certificate_error(&self) -> Option<&CertificateError> {
        self.transport_error()
            .and_then(TransportError::certificate_error)
    }

    /// The TLS error behind [`ClientError::Handshake`] or
    /// [`ClientError::Tls`].
    pub fn transport_error(&self) -> Option<&TransportError> {
        match self {
            Self::Handshake(e) | Self::Tls(e) => Some(e),
            _ => None,
        }
    }

    /// True for the ways a server can keep TLS from starting:
    /// STARTTLS not offered, refused, badly answered, or a response
    /// injection. Under [`TlsRequirement::Required`](super::TlsRequirement::Required)
    /// these are what a downgrade attack looks like.
    pub fn is_starttls_failure(&self) -> bool {
        matches!(
            self,
            Self::StartTlsNotOffered
                | Self::StartTlsRefused(_)
                | Self::StartTlsBadReply(_)
                | Self::ResponseInjection
        )
    }
}

/// Why [`ClientSession::send_message`](super::ClientSession::send_message)
/// refused a message before sending anything. The session is unchanged and
/// can take another message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The session is not ready for a message: wait for
    /// [`ClientEvent::Ready`](super::ClientEvent::Ready).
    #[error("the session is not ready for a message")]
    NotReady,
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The envelope has no recipient.
    #[error("the envelope has no recipient")]
    NoRecipients,
    /// The message is larger than the SIZE the server announced
    /// (RFC 1870 §4).
    #[error("message of {size} octets is over the server's SIZE limit of {limit}")]
    TooBig {
        /// The message size, line ends counted as CRLF.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The message needs an extension the server did not offer:
    /// SMTPUTF8 (RFC 6531), 8BITMIME (RFC 6152), BINARYMIME and CHUNKING
    /// (RFC 3030), REQUIRETLS (RFC 8689 §4.1), DSN for RET, ENVID, NOTIFY
    /// or ORCPT (RFC 3461), AUTH for the AUTH parameter (RFC 4954 §5).
    #[error("the server does not offer {0}")]
    NotOffered(Keyword),
    /// REQUIRETLS on a session without TLS (RFC 8689 §4.1): the message
    /// must not be sent in clear, whatever the server advertises.
    #[error("REQUIRETLS needs a TLS session")]
    RequireTlsWithoutTls,
    /// A path or parameter holds non-ASCII but MAIL has no SMTPUTF8
    /// parameter (RFC 6531 §3.4).
    #[error("non-ASCII address or parameter without SMTPUTF8")]
    NonAsciiWithoutSmtpUtf8,
}

/// [`ClientSession::quit`](super::ClientSession::quit) was called while a
/// message is under way, before the session was ready, or after it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session cannot quit now: it is not ready")]
pub struct NotReady;
