//! TLSA records for SMTP (RFC 6698 §2.1, RFC 7672 §3).
//!
//! ```text
//! _port._tcp.host. TLSA usage selector matching data
//!   usage     2 DANE-TA, 3 DANE-EE         usable for SMTP (RFC 7672 §3.1)
//!             0 PKIX-TA, 1 PKIX-EE         unusable for SMTP (RFC 7672 §3.1.3)
//!   selector  0 full certificate, 1 SubjectPublicKeyInfo
//!   matching  0 exact, 1 SHA-256 (32 octets), 2 SHA-512 (64 octets)
//! ```
//!
//! Records are only gathered for targets whose answers were authenticated
//! (RFC 7672 §2.2), and kept as data: matching a certificate against them is
//! the policy's work. A record with an unknown usage, selector or matching
//! type, or a digest of the wrong length, is kept but not
//! [`usable`](TlsaRecord::usable) (RFC 7672 §2.2: a TLSA RRset whose records
//! are all unusable means "TLS without authentication").
//!
//! The TLSA base name is the target host as named (RFC 7672 §2.2.2 also
//! allows the CNAME-expanded name first; that is not done here).

use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::TLSA;

/// Certificate usage (RFC 6698 §2.1.1, RFC 7218 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsaUsage {
    /// 0, PKIX-TA: not usable for SMTP.
    PkixTa,
    /// 1, PKIX-EE: not usable for SMTP.
    PkixEe,
    /// 2, DANE-TA: a trust anchor for the chain.
    DaneTa,
    /// 3, DANE-EE: the server's own certificate or key.
    DaneEe,
    /// Any other value.
    Other(u8),
}

impl From<u8> for TlsaUsage {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::PkixTa,
            1 => Self::PkixEe,
            2 => Self::DaneTa,
            3 => Self::DaneEe,
            v => Self::Other(v),
        }
    }
}

impl From<TlsaUsage> for u8 {
    fn from(v: TlsaUsage) -> Self {
        match v {
            TlsaUsage::PkixTa => 0,
            TlsaUsage::PkixEe => 1,
            TlsaUsage::DaneTa => 2,
            TlsaUsage::DaneEe => 3,
            TlsaUsage::Other(v) => v,
        }
    }
}

/// Selector (RFC 6698 §2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsaSelector {
    /// 0: the full certificate (DER).
    Cert,
    /// 1: the SubjectPublicKeyInfo (DER).
    Spki,
    /// Any other value.
    Other(u8),
}

impl From<u8> for TlsaSelector {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Cert,
            1 => Self::Spki,
            v => Self::Other(v),
        }
    }
}

impl From<TlsaSelector> for u8 {
    fn from(v: TlsaSelector) -> Self {
        match v {
            TlsaSelector::Cert => 0,
            TlsaSelector::Spki => 1,
            TlsaSelector::Other(v) => v,
        }
    }
}

/// Matching type (RFC 6698 §2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsaMatching {
    /// 0: the selected content itself.
    Full,
    /// 1: its SHA-256 digest.
    Sha256,
    /// 2: its SHA-512 digest.
    Sha512,
    /// Any other value.
    Other(u8),
}

impl From<u8> for TlsaMatching {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::Full,
            1 => Self::Sha256,
            2 => Self::Sha512,
            v => Self::Other(v),
        }
    }
}

impl From<TlsaMatching> for u8 {
    fn from(v: TlsaMatching) -> Self {
        match v {
            TlsaMatching::Full => 0,
            TlsaMatching::Sha256 => 1,
            TlsaMatching::Sha512 => 2,
            TlsaMatching::Other(v) => v,
        }
    }
}

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TlsaRecord {
    /// Certificate usage.
    pub usage: TlsaUsage,
    /// Selector.
    pub selector: TlsaSelector,
    /// Matching type.
    pub matching: TlsaMatching,
    /// Certificate association data.
    pub data: Vec<u8>,
}

impl TlsaRecord {
    /// A record from its four fields.
    pub fn new(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Self {
        Self {
            usage: usage.into(),
            selector: selector.into(),
            matching: matching.into(),
            data,
        }
    }

    /// Whether an SMTP client may use this record (RFC 7672 §3.1): usage
    /// DANE-TA or DANE-EE, a known selector, a known matching type, and data
    /// of the digest's length (non-empty for exact matching).
    pub fn usable(&self) -> bool {
        let usage = matches!(self.usage, TlsaUsage::DaneTa | TlsaUsage::DaneEe);
        let selector = matches!(self.selector, TlsaSelector::Cert | TlsaSelector::Spki);
        let data = match self.matching {
            TlsaMatching::Full => !self.data.is_empty(),
            TlsaMatching::Sha256 => self.data.len() == 32,
            TlsaMatching::Sha512 => self.data.len() == 64,
            TlsaMatching::Other(_) => false,
        };
        usage && selector && data
    }

    pub(crate) fn from_hickory(tlsa: TLSA) -> Self {
        Self::new(
            tlsa.cert_usage.into(),
            tlsa.selector.into(),
            tlsa.matching.into(),
            tlsa.cert_data,
        )
    }
}

/// The authenticated TLSA RRset of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsaSet {
    /// The target host (lower case).
    pub host: Name,
    /// The target port.
    pub port: u16,
    /// Every record of the RRset (at most
    /// [`MAX_TLSA`](crate::limits::MAX_TLSA)), usable or not.
    pub records: Vec<TlsaRecord>,
}

impl TlsaSet {
    /// The records an SMTP client may use (RFC 7672 §3.1).
    pub fn usable(&self) -> impl Iterator<Item = &TlsaRecord> {
        self.records.iter().filter(|r| r.usable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7672_3_1_usable_records() {
        let cases = [
            (3, 1, 1, 32, true),
            (2, 0, 1, 32, true),
            (3, 0, 2, 64, true),
            (3, 1, 0, 91, true),
            (0, 1, 1, 32, false), // PKIX-TA
            (1, 1, 1, 32, false), // PKIX-EE
            (4, 1, 1, 32, false), // unassigned usage
            (3, 2, 1, 32, false), // unknown selector
            (3, 1, 3, 32, false), // unknown matching
            (3, 1, 1, 31, false), // short SHA-256
            (3, 1, 2, 32, false), // SHA-512 of 32 octets
            (3, 1, 0, 0, false),  // empty exact data
        ];
        for (u, s, m, len, want) in cases {
            let r = TlsaRecord::new(u, s, m, vec![0xAB; len]);
            assert_eq!(r.usable(), want, "{u} {s} {m} len {len}");
            assert_eq!(
                (
                    u8::from(r.usage),
                    u8::from(r.selector),
                    u8::from(r.matching)
                ),
                (u, s, m)
            );
        }
    }

    #[test]
    fn rfc6698_2_1_from_hickory_keeps_fields() {
        use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
        let t = TLSA::new(
            CertUsage::DaneEe,
            Selector::Spki,
            Matching::Sha256,
            vec![7; 32],
        );
        let r = TlsaRecord::from_hickory(t);
        assert_eq!(r, TlsaRecord::new(3, 1, 1, vec![7; 32]));
        assert!(r.usable());
    }
}
