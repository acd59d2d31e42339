//! Line framing: CRLF only (RFC 5321 §2.3.8).
