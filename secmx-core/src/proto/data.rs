//! The message body: dot-stuffing and end of data (RFC 5321 §4.5.2), BDAT chunks (RFC 3030).
