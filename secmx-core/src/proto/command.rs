//! SMTP commands (RFC 5321 §4.1).
