//! Result codes: [`secmx_result`], returned by almost every export, and
//! [`secmx_result_text`], which renders one as text.
//!
//! The numbers are stable: a code keeps its number forever and new codes
//! take new numbers. They are grouped by area:
//!
//! | range | area |
//! |---|---|
//! | 0–99 | every call, and the SMTP sessions and TLS configurations |
//! | 100–199 | discovery (DNS) |
//! | 200–299 | the policy engine (rules, plans, DSNs) |
//!
//! A code is passed to C as a `uint32_t`-sized enum; a code passed back
//! into [`secmx_result_text`] is a plain `uint32_t`, so an unknown number
//! is rendered, never undefined behaviour.

use std::ffi::c_char;

use secmx_core::server::{AnswerError, ServerError};
use secmx_core::{ClientError, SubmitError};

use crate::ffi;

/// What a call did. `SECMX_RESULT_OK` is 0; every other value is a reason
/// the call did nothing (or, where its doc says so, did part of it).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum secmx_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// An argument is out of range, not UTF-8, too long, misaligned, or a
    /// pointer to another kind of SecMX object.
    InvalidArgument = 2,
    /// The caller's buffer is too small; the size needed was written to the
    /// length out-parameter and nothing else was written.
    BufferTooSmall = 3,
    /// Nothing to hand out now: no event, no output, no query, no timeout.
    /// Not an error.
    Nothing = 4,
    /// The session is closed and cannot take this call.
    SessionClosed = 5,
    /// The peer broke the protocol (a malformed or unexpected reply, an
    /// early talker, a command injection).
    ProtocolError = 6,
    /// TLS failed: a handshake error (an untrusted or wrong certificate),
    /// an alert, a bad record, or rustls refused to start.
    TlsError = 7,
    /// A configuration was refused: bad PEM, no certificate or key, a SOR
    /// without a certificate, a bad hostname, an unusable discovery
    /// setting.
    ConfigError = 8,
    /// A Rust panic was caught at the C boundary; the object it happened
    /// in is unusable (only its `_free` works).
    Panic = 9,
    /// The object is not in a state to take this call: the client is not
    /// ready for a message, no server decision is pending, the discovery
    /// has not finished.
    NotReady = 10,
    /// A file could not be read.
    IoError = 11,
    /// A mailbox, path or domain name does not parse (RFC 5321 §4.1.2).
    InvalidAddress = 12,
    /// TLS was required and STARTTLS was not offered, was refused or
    /// answered wrongly, or plaintext followed its `220` (RFC 3207 §4,
    /// CVE-2021-38371): nothing of the envelope was sent.
    StarttlsFailed = 13,
    /// A wait ran out (RFC 5321 §4.5.3.2).
    Timeout = 14,
    /// The peer closed the connection while the session was not quitting.
    ConnectionLost = 15,
    /// The message is larger than the server's SIZE (RFC 1870 §4).
    MessageTooBig = 16,
    /// The message needs an extension the server did not offer
    /// (SMTPUTF8, 8BITMIME, DSN, …), or has non-ASCII without SMTPUTF8.
    ExtensionNotOffered = 17,
    /// REQUIRETLS on a session without TLS (RFC 8689 §4.1).
    RequiretlsWithoutTls = 18,
    /// A DNS response answered no outstanding query (bad message, unknown
    /// id, other question): it was ignored and the query still waits.
    DnsResponseIgnored = 100,
    /// The discovery's domain is not a valid domain name, or too long for
    /// the names derived from it.
    InvalidDomain = 101,
    /// The plan has no attempt with this id, or has not handed it out
    /// yet with `secmx_plan_next_attempt`.
    UnknownAttempt = 200,
    /// The report would put the message on a connection without TLS where
    /// the attempt requires it (MAIL, RCPT or data before TLS): refused,
    /// the plan is unchanged. Quit the session.
    TlsNotEstablished = 201,
    /// The report would put a REQUIRETLS message on a session whose
    /// server did not offer REQUIRETLS after TLS (RFC 8689 §4.2.1):
    /// refused, the plan is unchanged. Quit the session.
    RequiretlsNotConfirmed = 202,
    /// A recipient index beyond the attempt's (or the plan's) recipients.
    NoSuchRecipient = 203,
    /// The original sender is null: no DSN is ever sent about a DSN
    /// (RFC 5321 §4.5.5, RFC 3461 §6.2).
    NullSender = 204,
}

impl secmx_result {
    /// Every code, in number order.
    pub const ALL: [Self; 26] = [
        Self::Ok,
        Self::NullParameter,
        Self::InvalidArgument,
        Self::BufferTooSmall,
        Self::Nothing,
        Self::SessionClosed,
        Self::ProtocolError,
        Self::TlsError,
        Self::ConfigError,
        Self::Panic,
        Self::NotReady,
        Self::IoError,
        Self::InvalidAddress,
        Self::StarttlsFailed,
        Self::Timeout,
        Self::ConnectionLost,
        Self::MessageTooBig,
        Self::ExtensionNotOffered,
        Self::RequiretlsWithoutTls,
        Self::DnsResponseIgnored,
        Self::InvalidDomain,
        Self::UnknownAttempt,
        Self::TlsNotEstablished,
        Self::RequiretlsNotConfirmed,
        Self::NoSuchRecipient,
        Self::NullSender,
    ];

    /// The code with this number, if there is one.
    pub fn from_u32(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| *c as u32 == code)
    }

    /// The code's description, as [`secmx_result_text`] renders it.
    pub fn text(self) -> &'static str {
        match self {
            Self::Ok => "success",
            Self::NullParameter => "a required pointer argument was NULL",
            Self::InvalidArgument => "invalid argument",
            Self::BufferTooSmall => "buffer too small",
            Self::Nothing => "nothing to hand out now",
            Self::SessionClosed => "the session is closed",
            Self::ProtocolError => "the peer broke the SMTP protocol",
            Self::TlsError => "TLS failed",
            Self::ConfigError => "invalid configuration",
            Self::Panic => "a panic was caught at the C boundary",
            Self::NotReady => "not ready for this call",
            Self::IoError => "a file could not be read",
            Self::InvalidAddress => "invalid mailbox, path or domain",
            Self::StarttlsFailed => "TLS was required and STARTTLS failed",
            Self::Timeout => "timed out",
            Self::ConnectionLost => "the connection was lost",
            Self::MessageTooBig => "the message is over the server's SIZE limit",
            Self::ExtensionNotOffered => "the message needs an extension the server does not offer",
            Self::RequiretlsWithoutTls => "REQUIRETLS needs a TLS session",
            Self::DnsResponseIgnored => "the DNS response answers no outstanding query",
            Self::InvalidDomain => "invalid domain name",
            Self::UnknownAttempt => "no such attempt in this plan",
            Self::TlsNotEstablished => "TLS is required on this attempt and was not established",
            Self::RequiretlsNotConfirmed => {
                "REQUIRETLS is required on this attempt and was not offered after TLS"
            }
            Self::NoSuchRecipient => "no such recipient",
            Self::NullSender => "the original sender is null: no DSN is sent for it",
        }
    }
}

/// Renders `code` as text: `"secmx: "` and the code's description, or
/// `"secmx: unknown result code N"` for a number that is no code (still
/// `SECMX_RESULT_OK`).
///
/// Writes the text and a NUL to `buf` (`len` bytes) and the text's length
/// without the NUL to `*out_len`. When the buffer is too small, writes
/// nothing to it, puts the size needed (NUL included) in `*out_len` and
/// returns `SECMX_RESULT_BUFFER_TOO_SMALL`; 128 bytes always suffice.
///
/// # Safety
///
/// `buf` points to `len` writable bytes; `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_result_text(
    code: u32,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        let text = match secmx_result::from_u32(code) {
            Some(code) => format!("secmx: {}", code.text()),
            None => format!("secmx: unknown result code {code}"),
        };
        // SAFETY: the caller's contract, passed on.
        unsafe { ffi::copy_text(&text, buf, len, out_len) }
    })
}

/// The code for a fatal client error.
pub(crate) fn client_error(error: &ClientError) -> secmx_result {
    match error {
        ClientError::StartTlsNotOffered
        | ClientError::StartTlsRefused(_)
        | ClientError::StartTlsBadReply(_)
        | ClientError::ResponseInjection => secmx_result::StarttlsFailed,
        ClientError::Handshake(_) | ClientError::TlsConfig(_) | ClientError::Tls(_) => {
            secmx_result::TlsError
        }
        ClientError::Timeout(_) => secmx_result::Timeout,
        ClientError::ConnectionLost => secmx_result::ConnectionLost,
        ClientError::UnexpectedReply(_) | ClientError::Reply(_) => secmx_result::ProtocolError,
        _ => secmx_result::ProtocolError,
    }
}

/// The code for a message the client refused before sending anything.
pub(crate) fn submit_error(error: &SubmitError) -> secmx_result {
    match error {
        SubmitError::NotReady => secmx_result::NotReady,
        SubmitError::Closed => secmx_result::SessionClosed,
        SubmitError::NoRecipients => secmx_result::InvalidArgument,
        SubmitError::TooBig { .. } => secmx_result::MessageTooBig,
        SubmitError::NotOffered(_) | SubmitError::NonAsciiWithoutSmtpUtf8 => {
            secmx_result::ExtensionNotOffered
        }
        SubmitError::RequireTlsWithoutTls => secmx_result::RequiretlsWithoutTls,
        _ => secmx_result::InvalidArgument,
    }
}

/// The code for a fatal server error.
pub(crate) fn server_error(error: &ServerError) -> secmx_result {
    match error {
        ServerError::Tls(_) | ServerError::StartTls(_) => secmx_result::TlsError,
        ServerError::EarlyTalker
        | ServerError::PipelinedAfterData
        | ServerError::CommandInjection => secmx_result::ProtocolError,
        _ => secmx_result::ProtocolError,
    }
}

/// The code for an answer the server could not honour.
pub(crate) fn answer_error(error: &AnswerError) -> secmx_result {
    match error {
        AnswerError::NothingPending => secmx_result::NotReady,
        AnswerError::WrongClass(_) => secmx_result::InvalidArgument,
        AnswerError::Closed => secmx_result::SessionClosed,
        _ => secmx_result::InvalidArgument,
    }
}
