//! What a [`ServerSession`](super::ServerSession) tells the application,
//! and the errors it reports.

use bytes::Bytes;

use crate::proto::code::ErrorReply;
use crate::proto::command::Verb;
use crate::proto::data::BodyReport;
use crate::proto::param::{MailParameters, RcptParameters};
use crate::proto::path::{Domain, ForwardPath, ReversePath};
use crate::proto::reply::Reply;
use crate::transport::{StartTlsError, TlsInfo, TransportError};

/// Something the application must know or decide, from
/// [`ServerSession::poll_event`](super::ServerSession::poll_event).
///
/// Three events wait for an answer ([`Decision`]): [`ServerEvent::MailFrom`],
/// [`ServerEvent::RcptTo`] and [`ServerEvent::MessageComplete`]. Until the
/// application calls [`accept`](super::ServerSession::accept) or
/// [`reject`](super::ServerSession::reject), the session reads no further
/// command (later pipelined commands wait in its bounded input buffer), so
/// replies always leave in the order of the commands (RFC 2920 §3.1).
///
/// Every accepted [`ServerEvent::MailFrom`] is followed by exactly one
/// [`ServerEvent::MessageComplete`] or [`ServerEvent::MessageAborted`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The client said `EHLO` (`extended`) or `HELO`. Any transaction in
    /// progress was aborted first (RFC 5321 §4.1.4).
    Helo {
        /// The name or address literal the client gave.
        name: Domain<'static>,
        /// `EHLO` rather than `HELO`.
        extended: bool,
    },
    /// The TLS handshake after STARTTLS finished. Everything learned before
    /// it (the HELO name, the envelope) is forgotten: the client must say
    /// EHLO again (RFC 3207 §4.2).
    TlsEstablished(TlsInfo),
    /// `MAIL FROM:`, checked against the session's rules (HELO first, no
    /// transaction open, parameters announced, SIZE within the limit,
    /// REQUIRETLS only under TLS). **Decision**: `accept` (`250 2.1.0`) or
    /// `reject(reply)`.
    MailFrom {
        /// The reverse-path.
        from: ReversePath<'static>,
        /// The parameters.
        params: MailParameters<'static>,
    },
    /// `RCPT TO:`, within the recipient limit. **Decision**: `accept`
    /// (`250 2.1.5`) or `reject(reply)`.
    RcptTo {
        /// The forward-path.
        to: ForwardPath<'static>,
        /// The parameters.
        params: RcptParameters<'static>,
    },
    /// The message body starts: `354` was queued after DATA, or the first
    /// BDAT chunk arrived. [`ServerEvent::BodyChunk`]s follow.
    DataStart {
        /// The body comes in BDAT chunks (RFC 3030) rather than after DATA.
        bdat: bool,
    },
    /// Message content, in order, dot-stuffing removed (DATA) or as sent
    /// (BDAT). Chunks are at most [`MAX_BODY_CHUNK`](super::MAX_BODY_CHUNK)
    /// octets. The session holds at most one pending chunk: it reads no
    /// further body until this event was polled, and then takes no more
    /// network input than its input buffer holds (backpressure: see
    /// [`ServerSession::handle_input`](super::ServerSession::handle_input)).
    ///
    /// A chunk usually shares the session's input buffer rather than being
    /// copied out of it: while the application holds a chunk, that buffer
    /// stays allocated and the session reads into a fresh one. Write the
    /// chunk out (or copy it) and drop it to keep a session's memory at one
    /// buffer.
    BodyChunk(Bytes),
    /// The end of data (`CRLF . CRLF`, or `BDAT … LAST`) arrived and the
    /// body passed the session's own checks (size, line length).
    /// **Decision**: store the message, and only once it is safely stored
    /// (on disk, fsync'ed) `accept` (`250 2.0.0`), or `reject(reply)`.
    /// RFC 5321 §6.1: a `250` takes responsibility for the message.
    MessageComplete {
        /// Who sent the message, to whom, and how.
        envelope: Envelope,
        /// Its size and what it held (bare CR or LF, long lines).
        report: BodyReport,
    },
    /// The transaction opened by the last accepted MAIL ended without a
    /// message: forget what you kept for it. Never followed by
    /// [`ServerEvent::MessageComplete`] for that transaction; a connection
    /// lost mid-DATA always ends this way (RFC 5321 §3.8).
    MessageAborted {
        /// Why.
        reason: AbortReason,
    },
    /// The session refused a command by itself, with this reply (a syntax
    /// error, a bad sequence, the SOR's `530`, too many recipients, …).
    /// For logs and policy; nothing to answer.
    Refused {
        /// The command, when its verb was recognised.
        verb: Option<Verb>,
        /// The reply that was sent.
        reply: Reply<'static>,
    },
    /// Plaintext arrived after the STARTTLS command and before TLS started:
    /// a command-injection attempt (CVE-2011-0411). None of it was
    /// executed; the session closes ([`ServerError::CommandInjection`]).
    Injection {
        /// The first octets that were injected (at most
        /// [`MAX_INJECTION_SAMPLE`](super::MAX_INJECTION_SAMPLE)).
        sample: Bytes,
        /// How many octets had arrived in all.
        len: usize,
    },
    /// The session is over. Always the last event. Drain
    /// [`ServerSession::poll_transmit`](super::ServerSession::poll_transmit)
    /// (the `221`, the `421`, the TLS `close_notify` or alert), then close
    /// the socket.
    Closed(CloseReason),
}

/// The answer a [`ServerEvent`] is waiting for, from
/// [`ServerSession::pending_decision`](super::ServerSession::pending_decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// [`ServerEvent::MailFrom`].
    Mail,
    /// [`ServerEvent::RcptTo`].
    Rcpt,
    /// [`ServerEvent::MessageComplete`].
    Message,
}

/// One accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The forward-path.
    pub to: ForwardPath<'static>,
    /// The parameters.
    pub params: RcptParameters<'static>,
}

/// The envelope of a received message: what the application needs to store
/// it (RFC 5321 §2.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The HELO or EHLO name in force.
    pub helo: Domain<'static>,
    /// The client said EHLO (not HELO).
    pub extended: bool,
    /// The transaction ran under TLS.
    pub tls: bool,
    /// The reverse-path of MAIL.
    pub from: ReversePath<'static>,
    /// The parameters of MAIL (SIZE, BODY, SMTPUTF8, REQUIRETLS, DSN…).
    pub params: MailParameters<'static>,
    /// The accepted recipients, in order; never empty.
    pub recipients: Vec<Recipient>,
    /// The body came in BDAT chunks (RFC 3030).
    pub bdat: bool,
}

/// Why a transaction ended without a message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AbortReason {
    /// RSET, HELO/EHLO or STARTTLS reset the transaction (RFC 5321 §4.1.1.5,
    /// §4.1.4; RFC 3207 §4.2).
    Reset,
    /// The session refused the body with this reply after the end of data
    /// (or of the BDAT chunk): too big (`552 5.3.4`), a line too long or a
    /// bare line end (`500 5.5.2`).
    BodyRefused(ErrorReply),
    /// The session closed mid-transaction: QUIT, the connection was lost
    /// (RFC 5321 §3.8), a timeout, an error.
    Closed(CloseReason),
}

/// Why the session ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client said QUIT and got `221`.
    Quit,
    /// The client closed the connection ([`handle_eof`] or a TLS
    /// `close_notify`).
    ///
    /// [`handle_eof`]: super::ServerSession::handle_eof
    PeerClosed,
    /// No command or data within the timeout (`421 4.4.2` was sent), or the
    /// TLS handshake did not finish in time (nothing could be sent).
    Timeout,
    /// Too many refused commands ([`ServerConfig::max_errors`](super::ServerConfig::max_errors));
    /// `421 4.7.0` was sent.
    TooManyErrors,
    /// The application answered with a `421`: the session closes after it
    /// (RFC 5321 §3.8).
    ServiceClosing,
    /// A fatal error; also returned by every later
    /// [`handle_input`](super::ServerSession::handle_input).
    Failed(ServerError),
}

/// A fatal session error. Sticky: once it happened every
/// [`handle_input`](super::ServerSession::handle_input) returns it, while
/// [`poll_transmit`](super::ServerSession::poll_transmit) still hands out
/// the goodbye (a `554`, or the TLS alert).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The client sent bytes before the greeting left (an "early talker",
    /// RFC 5321 §3.1: the client waits for the `220`). Answered `554 5.5.0`.
    #[error("client talked before the greeting (RFC 5321 section 3.1)")]
    EarlyTalker,
    /// The client sent bytes after DATA before the `354` left: message text
    /// pipelined behind DATA (RFC 2920 §3.1: DATA ends a group). They never
    /// become content; answered `554 5.5.0`.
    #[error("bytes pipelined after DATA before the 354 (RFC 2920 section 3.1)")]
    PipelinedAfterData,
    /// Plaintext after the STARTTLS command (CVE-2011-0411); see
    /// [`ServerEvent::Injection`].
    #[error("plaintext after STARTTLS: command injection (CVE-2011-0411)")]
    CommandInjection,
    /// The TLS layer failed: a bad handshake, an alert, a bad record.
    #[error(transparent)]
    Tls(#[from] TransportError),
    /// TLS could not start after the `220` was queued (rustls refused the
    /// configuration).
    #[error(transparent)]
    StartTls(StartTlsError),
}

/// A call to [`accept`](super::ServerSession::accept),
/// [`accept_with`](super::ServerSession::accept_with) or
/// [`reject`](super::ServerSession::reject) that the session cannot honour.
/// Misuse of the API, apart from the session's own errors: the session is
/// unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No event is waiting for an answer.
    #[error("no decision is pending")]
    NothingPending,
    /// `accept_with` needs a `2yz` reply; `reject` a `4yz` or `5yz`.
    #[error("reply code {0} does not fit this answer")]
    WrongClass(u16),
    /// The session closed before the answer: nothing can be sent. A message
    /// answered this way was never acknowledged to the client (do not keep
    /// it: the client will send it again).
    #[error("the session is closed")]
    Closed,
}
