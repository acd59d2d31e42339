//! The vocabulary every part of the engine shares.

use serde::{Deserialize, Serialize};

/// How a message must travel (the SecMX proposal's sender roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Class {
    /// Best effort sender (BES): secure only receivers first, then the
    /// ordinary MX hosts with opportunistic STARTTLS.
    BestEffort,
    /// Secure only sender (SOS): only over TLS with the required certificate
    /// check; no secure receiver means a bounce with `5.7.4`.
    SecureOnly,
    /// A REQUIRETLS message (RFC 8689): secure only, over verified TLS, to
    /// hops that advertise REQUIRETLS; otherwise a bounce with `5.7.30`.
    RequireTls,
}

impl Class {
    /// True for the classes that never send a byte of the message in clear.
    pub const fn requires_tls(self) -> bool {
        matches!(self, Class::SecureOnly | Class::RequireTls)
    }
}

/// The certificate check for an attempt whose TLS is required.
///
/// Precedence when several sources name one (DESIGN.md): DANE > MTA-STS >
/// SecMX discovery > learned level > local rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CertCheck {
    /// Any certificate: the TLS negotiation is between the parties (the
    /// SecMX proposal). The handshake signature is still checked.
    Encrypt,
    /// A chain to the public (webpki-roots) or configured roots and a name
    /// match for the target host: the default for a secure only sender.
    Verify,
    /// DANE (RFC 7672): the target's authenticated TLSA records decide.
    Dane,
}
