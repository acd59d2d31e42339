//! Replies (RFC 5321 §4.2).
