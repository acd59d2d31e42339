//! Error types.
//!
//! [`Error`] is for misuse of the API (a bad domain or configuration).
//! [`ResponseError`] says why a packet handed to
//! [`Discovery::handle_response`](crate::Discovery::handle_response) was not
//! used; it never ends the discovery, which keeps waiting for a usable answer.
//! [`SecmxError`] is for the `SECMX` record codec and its presentation forms.

/// Misuse of the API: the discovery cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The recipient domain is not a valid domain name.
    #[error("invalid recipient domain {domain:?}: {reason}")]
    InvalidDomain {
        /// The domain as given.
        domain: String,
        /// Why it was refused.
        reason: String,
    },
    /// The recipient domain is so long that the names derived from it
    /// (`_secmx._tcp.D`, `_smtp._tls.D`) would pass 255 octets
    /// (RFC 1035 §2.3.4).
    #[error("recipient domain too long for the names derived from it")]
    DomainTooLong,
    /// The configured SECMX record type is one hickory-proto decodes itself
    /// (or a meta type), so its RDATA would not reach the SECMX codec.
    #[error("record type {0} cannot carry SECMX records")]
    InvalidSecmxType(u16),
    /// The configuration is unusable (a zero time-out or query bound).
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Why a packet was not used as the answer to an outstanding query. The
/// discovery's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Shorter than a DNS header (RFC 1035 §4.1.1).
    #[error("message shorter than a DNS header")]
    TooShort,
    /// Longer than a DNS message can be (RFC 1035 §4.2.2).
    #[error("message longer than 65535 octets")]
    TooLong,
    /// The header's section counts cannot fit in the message, or pass
    /// [`MAX_RECORDS`](crate::limits::MAX_RECORDS).
    #[error("section counts do not fit the message")]
    BadCounts,
    /// Not exactly one question (RFC 1035 §4.1.2; every query here has one).
    #[error("response does not carry exactly one question")]
    QuestionCount,
    /// hickory-proto could not decode the message.
    #[error("malformed DNS message: {0}")]
    Malformed(String),
    /// The QR bit is clear or the opcode is not QUERY (RFC 1035 §4.1.1).
    #[error("not a response to a standard query")]
    NotAResponse,
    /// No outstanding query has this id (a late, duplicate or forged answer).
    #[error("no outstanding query with id {0}")]
    UnknownId(u16),
    /// The id matches but the question does not (RFC 5452 §9.1).
    #[error("question does not match the query with id {0}")]
    QuestionMismatch(u16),
}

/// Errors of the `SECMX` RDATA codec and its presentation forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecmxError {
    /// RDATA shorter than the 6 fixed octets and a root label.
    #[error("SECMX RDATA too short")]
    TooShort,
    /// A compression pointer in the target name (RFC 3597 §4 forbids
    /// compression in RDATA of new types).
    #[error("compression pointer at RDATA offset {0}")]
    CompressionPointer(usize),
    /// A label type other than a plain length (RFC 6891 §5 retired the
    /// extended label types).
    #[error("unsupported label type at RDATA offset {0}")]
    LabelType(usize),
    /// The target name runs past the end of the RDATA.
    #[error("target name runs past the RDATA")]
    Truncated,
    /// The target name is longer than 255 octets (RFC 1035 §2.3.4).
    #[error("target name longer than 255 octets")]
    NameTooLong,
    /// Octets follow the target name.
    #[error("{0} octets after the target name")]
    TrailingOctets(usize),
    /// A numeric field is missing, not decimal, or above 65535.
    #[error("bad {field} field {text:?}")]
    BadNumber {
        /// The field: preference, flags, port or length.
        field: &'static str,
        /// The text found.
        text: String,
    },
    /// The target is not a valid absolute domain name.
    #[error("bad target name {0:?}")]
    BadName(String),
    /// The target name has no final dot; with no zone origin to complete it,
    /// a relative name is refused.
    #[error("relative target name {0:?}")]
    RelativeName(String),
    /// A field too few or too many.
    #[error("expected {expected} fields, found {found}")]
    FieldCount {
        /// How many fields the form has.
        expected: usize,
        /// How many were found.
        found: usize,
    },
    /// The RFC 3597 `\#` form's hex is not hex or does not match its length.
    #[error("bad RFC 3597 generic RDATA: {0}")]
    BadGeneric(&'static str),
    /// The record type mnemonic is neither `SECMX` nor the configured
    /// `TYPEnnnnn`.
    #[error("record type {found:?} is not SECMX or TYPE{expected}")]
    WrongType {
        /// The configured type code.
        expected: u16,
        /// The mnemonic found.
        found: String,
    },
}
