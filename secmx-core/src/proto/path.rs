//! Reverse and forward paths (RFC 5321 §4.1.2).
