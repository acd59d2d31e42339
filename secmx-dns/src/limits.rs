//! Named limits, each with the RFC section that sets it or the reason for it.
//!
//! DNS answers are untrusted input. Every count, length and chain that a
//! response can make grow is bounded by one of these; going over a bound is a
//! typed error or an ignored record, never growth without bound.

use std::time::Duration;

/// Longest domain name in octets, length octets included (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;

/// Longest label in octets (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// Shortest DNS message: the header alone (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;

/// Longest DNS message: the two-octet length prefix of DNS over TCP
/// (RFC 1035 §4.2.2).
pub const MAX_MESSAGE: usize = 65_535;

/// UDP payload size advertised in EDNS0 (RFC 6891 §6.2.5); 1232 octets is
/// the value of the 2020 DNS flag day, which avoids IP fragmentation.
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// Most compression pointers followed in one name. A name has at most 127
/// labels (RFC 1035 §2.3.4) and a compressor needs at most one pointer per
/// label; RFC 1035 §4.1.4 sets no bound, and a chain of pointers to
/// pointers would make each name cost up to 8192 hops.
pub const MAX_POINTER_HOPS: usize = 128;

/// Most resource records accepted in one response, all sections together.
/// RFC 1035 sets no bound below 65535 per section; real answers for the
/// look-ups made here (an RRset with its RRSIGs, an SOA and NSEC proofs)
/// hold a few dozen.
pub const MAX_RECORDS: usize = 512;

/// Longest CNAME chain followed inside one answer (RFC 1034 §3.6.2 allows
/// chains; resolvers bound them, unbound at 8 as well).
pub const MAX_CNAME_CHAIN: usize = 8;

/// Most MX records kept from one answer (RFC 5321 §5.1 sets no bound).
pub const MAX_MX: usize = 32;

/// Most SRV records kept from one answer (RFC 2782 sets no bound).
pub const MAX_SRV: usize = 32;

/// Most SECMX records kept from one answer.
pub const MAX_SECMX: usize = 32;

/// Most addresses kept per host and per family.
pub const MAX_ADDRESSES: usize = 32;

/// Most TLSA records kept per `_port._tcp.host` (RFC 7672 sets no bound).
pub const MAX_TLSA: usize = 32;

/// Most TXT records kept per name; MTA-STS (RFC 8461 §3.1) and TLS-RPT
/// (RFC 8460 §3) use exactly one.
pub const MAX_TXT: usize = 16;

/// Most SOR targets in the merged list.
pub const MAX_SOR_TARGETS: usize = 32;

/// Default time to wait for the answer to one query before sending it again.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Default number of times one question is sent over UDP before it counts as
/// timed out (RFC 1536 warns against endless retransmission).
pub const DEFAULT_UDP_ATTEMPTS: u8 = 2;

/// Default bound on the number of queries one discovery sends, retries and
/// TCP repeats included: 7 initial look-ups, then A, AAAA and TLSA for the
/// targets.
pub const DEFAULT_MAX_QUERIES: usize = 96;

/// The SECMX record type: 65482 (0xFFCA), in the private-use range
/// 65280–65534 of RFC 6895 §3.1.
pub const DEFAULT_SECMX_TYPE: u16 = 65482;

/// The MX preference that names a SOR: 51966 (0xCAFE).
pub const SECMX_MX_PREFERENCE: u16 = 51966;

/// The port a SOR listens on when a convention names none: the SMTP port
/// (IANA service `smtp`, RFC 5321).
pub const SMTP_PORT: u16 = 25;
