//! What the embedder tells a [`ClientSession`](super::ClientSession) before
//! it starts.

use std::sync::Arc;

use rustls::pki_types::ServerName;

use crate::proto::path::Domain;
use crate::time::Timeouts;

/// How much the session insists on TLS (RFC 3207).
///
/// | | STARTTLS offered | not offered, refused, or a bad reply | handshake fails |
/// |---|---|---|---|
/// | `None` | not used | clear text | — |
/// | `Opportunistic` | used | clear text, [`TlsSkipped`](super::ClientEvent::TlsSkipped) | error: retry in clear on a new connection |
/// | `Required` | used | error, QUIT, nothing of the envelope sent | error |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsRequirement {
    /// Never send STARTTLS, even when it is offered.
    None,
    /// Use STARTTLS when the server offers it; go on in clear text when it
    /// is not offered, refused or answered wrongly, and say so with
    /// [`ClientEvent::TlsSkipped`](super::ClientEvent::TlsSkipped). A
    /// failed handshake cannot be undone on the same connection: it ends
    /// the session with [`ClientError::Handshake`](super::ClientError::Handshake),
    /// and the embedder retries in clear on a new connection with
    /// [`TlsRequirement::None`] if its policy allows (as Postfix's `may`
    /// level does).
    Opportunistic,
    /// STARTTLS or nothing: any way of not getting TLS ends the session
    /// before one byte of envelope or message is sent.
    Required,
}

/// The settings of one client session.
///
/// `#[non_exhaustive]`: build it with [`ClientConfig::new`], then change
/// the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The name sent with EHLO or HELO (RFC 5321 §4.1.1.1): the client's
    /// own domain in ASCII (A-labels: SMTPUTF8 is not in force yet), or an
    /// address literal.
    pub ehlo_name: Domain<'static>,
    /// Whether STARTTLS is skipped, tried or required.
    pub tls_requirement: TlsRequirement,
    /// The rustls configuration for STARTTLS. It decides what to trust
    /// (its certificate verifier is the policy's: WebPKI roots, DANE,
    /// "any certificate"); the session only reports what it decided.
    /// Unused under [`TlsRequirement::None`].
    pub tls_config: Arc<rustls::ClientConfig>,
    /// The name the server's certificate is checked against, sent as SNI
    /// when it is a DNS name: normally the MX host name.
    pub server_name: ServerName<'static>,
    /// How long to wait for each reply and for the handshake
    /// (RFC 5321 §4.5.3.2).
    pub timeouts: Timeouts,
}

impl ClientConfig {
    /// A configuration with the RFC 5321 §4.5.3.2 default timeouts.
    pub fn new(
        ehlo_name: Domain<'static>,
        tls_requirement: TlsRequirement,
        tls_config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Self {
        Self {
            ehlo_name,
            tls_requirement,
            tls_config,
            server_name,
            timeouts: Timeouts::default(),
        }
    }
}
