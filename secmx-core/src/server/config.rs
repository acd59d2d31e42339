//! What a [`ServerSession`](super::ServerSession) is told at construction:
//! its name, its mode (BER or SOR), its certificate, its limits and the
//! extensions it announces.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::{MAX_DOMAIN, MAX_TEXT_LINE, MIN_RECIPIENTS};
use crate::time::Timeouts;

/// Fixed message size limit announced by default with `SIZE`
/// (RFC 1870 §4): 10 240 000 octets, as Postfix's `message_size_limit`.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 10_240_000;

/// Permanent (`5yz`) refusals the session sends on one connection before it
/// answers `421 4.7.0` and closes (Postfix's `smtpd_hard_error_limit`).
/// RFC 5321 sets no bound; without one a client could keep a session busy
/// forever with bad commands.
pub const DEFAULT_MAX_ERRORS: usize = 20;

/// How the server treats clients that do not use TLS (the SecMX roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerMode {
    /// Best effort receiver: offers STARTTLS when it has a certificate, and
    /// takes mail in clear text too. Without a certificate STARTTLS is not
    /// announced and is answered `454 4.7.0`.
    Ber,
    /// Secure only receiver: offers STARTTLS and, before TLS, answers MAIL,
    /// RCPT, DATA, BDAT, VRFY, EXPN and AUTH with
    /// `530 5.7.0 Must issue a STARTTLS command first` (RFC 3207 §4).
    /// A SOR needs a certificate.
    Sor,
}

/// Which service extensions the EHLO reply announces (and so which MAIL and
/// RCPT parameters the session takes). STARTTLS is announced whenever TLS
/// is possible and not yet in force; it has no switch here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Extensions {
    /// `PIPELINING` (RFC 2920). The session answers pipelined commands in
    /// order whether or not it is announced.
    pub pipelining: bool,
    /// `SIZE` (RFC 1870), with [`ServerConfig::max_message_size`].
    pub size: bool,
    /// `8BITMIME` (RFC 6152): `BODY=8BITMIME`.
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034). When off, replies carry no
    /// enhanced status code.
    pub enhanced_status_codes: bool,
    /// `CHUNKING` (RFC 3030): BDAT.
    pub chunking: bool,
    /// `DSN` (RFC 3461): RET, ENVID, NOTIFY and ORCPT.
    pub dsn: bool,
    /// `REQUIRETLS` (RFC 8689), announced only under TLS.
    pub requiretls: bool,
}

impl Default for Extensions {
    /// Every extension on.
    fn default() -> Self {
        Self {
            pipelining: true,
            size: true,
            eight_bit_mime: true,
            smtputf8: true,
            enhanced_status_codes: true,
            chunking: true,
            dsn: true,
            requiretls: true,
        }
    }
}

/// Why a [`ServerConfig`] cannot run a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`ServerMode::Sor`] without a certificate: a secure only receiver
    /// that cannot do TLS would refuse every message.
    #[error("a SOR needs a TLS certificate (ServerConfig::tls)")]
    SorWithoutCertificate,
    /// The hostname is empty, longer than 255 octets (RFC 5321 §4.5.3.1.2)
    /// or holds a space or a control character: it goes into the greeting
    /// and the EHLO reply.
    #[error("bad hostname for the greeting: {0:?}")]
    Hostname(String),
    /// `max_recipients` below 100 (RFC 5321 §4.5.3.1.8).
    #[error("max_recipients must be at least {MIN_RECIPIENTS} (RFC 5321 §4.5.3.1.8)")]
    TooFewRecipients,
    /// `max_text_line` below 1000 (RFC 5321 §4.5.3.1.6).
    #[error("max_text_line must be at least {MAX_TEXT_LINE} (RFC 5321 §4.5.3.1.6)")]
    TextLineTooShort,
    /// `max_errors` of zero.
    #[error("max_errors must be at least 1")]
    NoErrorsAllowed,
}

/// The configuration of a server session, shared (in an [`Arc`]) by every
/// session of a listener.
///
/// ```
/// use secmx_core::server::{ServerConfig, ServerMode};
///
/// let mut config = ServerConfig::new("mx.example.net", ServerMode::Ber);
/// config.max_message_size = Some(50 * 1024 * 1024);
/// config.max_recipients = 500;
/// assert!(config.validate().is_ok());
/// // A SOR without a certificate is refused.
/// let sor = ServerConfig::new("mx.example.net", ServerMode::Sor);
/// assert!(sor.validate().is_err());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The name in the greeting, the EHLO reply and the `421` replies.
    pub hostname: String,
    /// BER or SOR.
    pub mode: ServerMode,
    /// The certificate and TLS policy for STARTTLS (build it with
    /// [`ring_provider`](crate::transport::ring_provider)). `None`: no
    /// STARTTLS (BER only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The largest message in octets (RFC 1870), announced with `SIZE`;
    /// `None` for no fixed limit.
    pub max_message_size: Option<u64>,
    /// Accepted recipients per message before `452 4.5.3`; at least 100
    /// (RFC 5321 §4.5.3.1.8).
    pub max_recipients: usize,
    /// Permanent refusals per connection before `421` (see
    /// [`DEFAULT_MAX_ERRORS`]).
    pub max_errors: usize,
    /// Longest line of message text, CRLF included, before the message is
    /// refused with `500 5.5.2` (RFC 5321 §4.5.3.1.6: at least 1000).
    pub max_text_line: usize,
    /// Refuse a DATA body that holds a bare CR or LF with `500 5.5.2`
    /// (RFC 5321 §2.3.8; Postfix's `smtpd_forbid_bare_newline`). Off by
    /// default: the end of data is found on `CRLF . CRLF` only, whatever
    /// the body holds, so bare line ends cannot smuggle a message.
    pub forbid_bare_line_ends: bool,
    /// Timeouts: `server` for commands and data, `tls_handshake` after the
    /// `220` to STARTTLS (RFC 5321 §4.5.3.2.7).
    pub timeouts: Timeouts,
    /// Hold the greeting back this long (a "greet pause"); a client that
    /// talks before it gets `554` and is dropped. `None`: greet at once.
    pub greeting_delay: Option<Duration>,
    /// The extensions announced.
    pub extensions: Extensions,
}

impl ServerConfig {
    /// A configuration with the defaults: no certificate, SIZE
    /// [`DEFAULT_MAX_MESSAGE_SIZE`], 100 recipients, every extension,
    /// RFC 5321 timeouts, no greeting delay.
    pub fn new(hostname: impl Into<String>, mode: ServerMode) -> Self {
        Self {
            hostname: hostname.into(),
            mode,
            tls: None,
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            max_recipients: MIN_RECIPIENTS,
            max_errors: DEFAULT_MAX_ERRORS,
            max_text_line: MAX_TEXT_LINE,
            forbid_bare_line_ends: false,
            timeouts: Timeouts::default(),
            greeting_delay: None,
            extensions: Extensions::default(),
        }
    }

    /// The same configuration with a certificate for STARTTLS.
    #[must_use]
    pub fn with_tls(mut self, tls: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Checks that a session can run with this configuration.
    ///
    /// # Errors
    ///
    /// The first problem found, see [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = self.hostname.as_str();
        if name.is_empty()
            || name.len() > MAX_DOMAIN
            || name.bytes().any(|b| b <= b' ' || b == 0x7f)
        {
            return Err(ConfigError::Hostname(self.hostname.clone()));
        }
        if self.mode == ServerMode::Sor && self.tls.is_none() {
            return Err(ConfigError::SorWithoutCertificate);
        }
        if self.max_recipients < MIN_RECIPIENTS {
            return Err(ConfigError::TooFewRecipients);
        }
        if self.max_text_line < MAX_TEXT_LINE {
            return Err(ConfigError::TextLineTooShort);
        }
        if self.max_errors == 0 {
            return Err(ConfigError::NoErrorsAllowed);
        }
        Ok(())
    }
}
