//! What a client session reports to the embedder.

use crate::proto::ehlo::Capabilities;
use crate::proto::reply::Reply;
use crate::transport::TlsInfo;

use super::error::ClientError;

/// Why STARTTLS was not used under
/// [`TlsRequirement::Opportunistic`](super::TlsRequirement::Opportunistic).
/// Under `Required` the same cases are [`ClientError`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsSkipReason {
    /// The EHLO reply did not list STARTTLS.
    NotOffered,
    /// EHLO was answered `500`/`502` (no ESMTP): the session went on with
    /// HELO, which has no STARTTLS.
    EhloNotSupported(Reply<'static>),
    /// STARTTLS was answered `4xx`/`5xx`.
    Refused(Reply<'static>),
    /// STARTTLS was answered with something else than one final `220`
    /// line.
    BadReply(Reply<'static>),
}

/// Why the session ended. Always the last event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`ClientSession::quit`](super::ClientSession::quit) was answered
    /// (or the connection ended while waiting for the `221`).
    Quit,
    /// The server sent `421` (at any time): it is closing the connection
    /// (RFC 5321 §3.8). Nothing more is sent.
    ServiceClosing(Reply<'static>),
    /// The server refused the session: a `4xx`/`5xx` greeting
    /// (RFC 5321 §3.1), or EHLO, HELO or RSET refused. The session sent
    /// QUIT and stopped.
    Rejected(Reply<'static>),
    /// A fatal error; also in
    /// [`ClientSession::error`](super::ClientSession::error).
    Error(ClientError),
}

/// Something the embedder may act on; see
/// [`ClientSession::poll_event`](super::ClientSession::poll_event).
///
/// A message submitted with
/// [`ClientSession::send_message`](super::ClientSession::send_message)
/// gets its recipient events (unless MAIL was rejected) and then exactly
/// one of [`ClientEvent::MailRejected`],
/// [`ClientEvent::NoRecipientsAccepted`], [`ClientEvent::MessageAccepted`]
/// and [`ClientEvent::MessageRejected`] — or the session closes first, and
/// the message was not delivered (or, after the body was sent, maybe was:
/// RFC 5321 §6.1).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server's greeting (RFC 5321 §4.2), whatever its code.
    Greeting(Reply<'static>),
    /// The server's EHLO capabilities: `tls: false` before STARTTLS,
    /// `tls: true` from the EHLO after the handshake, which replaces the
    /// earlier set entirely.
    Capabilities {
        /// Whether they were sent over TLS.
        tls: bool,
        /// What the server offered.
        caps: Capabilities,
    },
    /// The TLS handshake finished: version, cipher suite, the server's
    /// certificate chain.
    TlsEstablished(TlsInfo),
    /// TLS was wanted opportunistically and the session goes on in clear.
    TlsSkipped {
        /// Why.
        reason: TlsSkipReason,
    },
    /// The session can take a message
    /// ([`ClientSession::send_message`](super::ClientSession::send_message))
    /// or quit.
    Ready,
    /// MAIL was refused: the message was not sent. No recipient events
    /// follow for it.
    MailRejected(Reply<'static>),
    /// The recipient at `index` in the envelope was accepted.
    RcptAccepted {
        /// Its place in [`Envelope::recipients`](super::Envelope::recipients).
        index: usize,
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// The recipient at `index` in the envelope was refused.
    RcptRejected {
        /// Its place in [`Envelope::recipients`](super::Envelope::recipients).
        index: usize,
        /// The server's reply.
        reply: Reply<'static>,
    },
    /// Every recipient was refused: no byte of the body was sent.
    NoRecipientsAccepted,
    /// The server took responsibility for the message for every accepted
    /// recipient (RFC 5321 §4.1.1.4).
    MessageAccepted(Reply<'static>),
    /// DATA, the end of data or BDAT was refused: the message was not
    /// delivered to any recipient.
    MessageRejected(Reply<'static>),
    /// The session is over; nothing more will be sent after the bytes
    /// still waiting in `poll_transmit` (QUIT, `close_notify`, an alert).
    Closed {
        /// Why.
        reason: CloseReason,
    },
}
