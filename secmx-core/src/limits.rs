//! Named size limits, each with the RFC section that sets it.
//!
//! Every buffer in SecMX is bounded by one of these. Going over a limit is a
//! typed error that carries the reply a server should send, never growth
//! without bound.

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;

/// Longest reply line, CRLF included (RFC 5321 §4.5.3.1.5).
pub const MAX_REPLY_LINE: usize = 512;

/// Longest line of message text, CRLF included (RFC 5321 §4.5.3.1.6).
pub const MAX_TEXT_LINE: usize = 1000;

/// Longest local part of a mailbox (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// Longest domain name (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;

/// Longest reverse-path or forward-path, angle brackets included
/// (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Fewest recipients a server must be able to buffer per message
/// (RFC 5321 §4.5.3.1.8). SecMX servers accept this many, then answer
/// `452 4.5.3`.
pub const MIN_RECIPIENTS: usize = 100;

/// Most lines SecMX accepts in one multi-line reply. RFC 5321 sets no bound;
/// this one keeps a hostile server from streaming continuation lines forever
/// (an EHLO reply with every registered extension has about 30 lines).
pub const MAX_REPLY_LINES: usize = 128;

/// Most MAIL or RCPT parameters accepted on one command. RFC 5321 §4.1.2
/// sets no bound; a 512-octet line cannot carry many more than this anyway.
pub const MAX_PARAMETERS: usize = 32;
