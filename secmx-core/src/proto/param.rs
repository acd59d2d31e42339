//! MAIL and RCPT parameters (RFC 5321 §4.1.2).
