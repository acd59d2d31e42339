//! The replies the server session sends by itself (RFC 5321 §4.2, enhanced
//! codes from RFC 3463 and the RFC 5248 registry). Texts follow Postfix's,
//! which clients and their operators know.

use crate::proto::code::{EnhancedCode, ErrorReply, ReplyCode};

const fn code(value: u16) -> ReplyCode {
    match ReplyCode::new(value) {
        Some(code) => code,
        None => panic!("not a reply code"),
    }
}

const fn enhanced(class: u8, subject: u16, detail: u16) -> EnhancedCode {
    match EnhancedCode::new(class, subject, detail) {
        Some(code) => code,
        None => panic!("not an enhanced status code"),
    }
}

const fn reply(value: u16, class: u8, subject: u16, detail: u16, text: &'static str) -> ErrorReply {
    ErrorReply {
        code: code(value),
        enhanced: enhanced(class, subject, detail),
        text,
    }
}

/// `250 2.1.0 Ok`: MAIL accepted (RFC 3463 §3.2: X.1.0 sender address).
pub(crate) const MAIL_OK: ErrorReply = reply(250, 2, 1, 0, "Ok");
/// `250 2.1.5 Ok`: RCPT accepted (X.1.5 destination address valid).
pub(crate) const RCPT_OK: ErrorReply = reply(250, 2, 1, 5, "Ok");
/// `250 2.0.0 Ok: queued`: the application stored the message.
pub(crate) const QUEUED: ErrorReply = reply(250, 2, 0, 0, "Ok: queued");
/// `250 2.0.0 Ok`: RSET, NOOP.
pub(crate) const OK: ErrorReply = reply(250, 2, 0, 0, "Ok");
/// `221 2.0.0 Bye`: QUIT (RFC 5321 §4.1.1.10).
pub(crate) const BYE: ErrorReply = reply(221, 2, 0, 0, "Bye");
/// `220 2.0.0 Ready to start TLS` (RFC 3207 §4).
pub(crate) const READY_FOR_TLS: ErrorReply = reply(220, 2, 0, 0, "Ready to start TLS");
/// `252 2.0.0`: VRFY answered without disclosing anything (RFC 5321 §3.5.3).
pub(crate) const CANNOT_VRFY: ErrorReply = reply(
    252,
    2,
    0,
    0,
    "Cannot VRFY user, but will accept message and attempt delivery",
);
/// `214 2.0.0`: HELP (RFC 5321 §4.1.1.8).
pub(crate) const HELP: ErrorReply = reply(
    214,
    2,
    0,
    0,
    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS",
);

/// `354`: send the body (RFC 5321 §4.1.1.4); a `3yz` reply carries no
/// enhanced code (RFC 2034 §4).
pub(crate) const START_DATA: &str = "End data with <CR><LF>.<CR><LF>";

/// `503 5.5.1`: MAIL before HELO/EHLO (RFC 5321 §4.1.4).
pub(crate) const NEED_HELO: ErrorReply = reply(503, 5, 5, 1, "Error: send HELO/EHLO first");
/// `503 5.5.1`: MAIL inside a transaction (RFC 5321 §4.1.1.2).
pub(crate) const NESTED_MAIL: ErrorReply = reply(503, 5, 5, 1, "Error: nested MAIL command");
/// `503 5.5.1`: RCPT, DATA or BDAT without MAIL (RFC 5321 §4.1.4).
pub(crate) const NEED_MAIL: ErrorReply = reply(503, 5, 5, 1, "Error: need MAIL command");
/// `503 5.5.1`: DATA or BDAT before any RCPT (RFC 5321 §4.1.4).
pub(crate) const NEED_RCPT: ErrorReply = reply(503, 5, 5, 1, "Error: need RCPT command");
/// `554 5.5.1`: DATA or BDAT after every RCPT was refused (RFC 2920 §3.1,
/// RFC 5321 §3.3).
pub(crate) const NO_VALID_RECIPIENTS: ErrorReply =
    reply(554, 5, 5, 1, "Error: no valid recipients");
/// `503 5.5.1`: DATA in a transaction whose body began with BDAT
/// (RFC 3030 §2).
pub(crate) const DATA_AFTER_BDAT: ErrorReply = reply(
    503,
    5,
    5,
    1,
    "Error: DATA after BDAT in the same transaction",
);
/// `503 5.5.1`: RCPT once the body began with BDAT (RFC 3030 §2).
pub(crate) const RCPT_AFTER_BDAT: ErrorReply = reply(503, 5, 5, 1, "Error: RCPT after BDAT");
/// `503 5.5.1`: any other command out of sequence (RFC 5321 §4.1.4).
pub(crate) const BAD_SEQUENCE: ErrorReply = reply(503, 5, 5, 1, "Error: bad sequence of commands");
/// `452 4.5.3`: recipient limit reached (RFC 5321 §4.5.3.1.10).
pub(crate) const TOO_MANY_RECIPIENTS: ErrorReply =
    reply(452, 4, 5, 3, "Error: too many recipients");
/// `555 5.5.4`: a MAIL or RCPT parameter not announced (RFC 5321
/// §4.1.1.11).
pub(crate) const PARAMETER_NOT_ANNOUNCED: ErrorReply =
    reply(555, 5, 5, 4, "Error: parameter not supported");
/// `530 5.7.10`: REQUIRETLS before TLS. RFC 8689 §2 announces REQUIRETLS
/// only under TLS; the reply tells the client what is missing: `530` is
/// RFC 3207's "must issue STARTTLS first", X.7.10 "encryption needed"
/// (RFC 5248 registry).
pub(crate) const REQUIRETLS_NEEDS_TLS: ErrorReply =
    reply(530, 5, 7, 10, "Error: REQUIRETLS needs a TLS session");
/// `502 5.5.1`: a command this server does not implement (EXPN, AUTH,
/// BDAT without CHUNKING).
pub(crate) const NOT_IMPLEMENTED: ErrorReply =
    reply(502, 5, 5, 1, "Error: command not implemented");
/// `454 4.7.0`: STARTTLS without a certificate (RFC 3207 §4).
pub(crate) const TLS_NOT_AVAILABLE: ErrorReply =
    reply(454, 4, 7, 0, "TLS not available due to local problem");
/// `503 5.5.1`: a second STARTTLS (RFC 3207 §4.2).
pub(crate) const TLS_ALREADY_ACTIVE: ErrorReply = reply(503, 5, 5, 1, "Error: TLS already active");
/// `554 5.5.0`: plaintext pipelined after STARTTLS (CVE-2011-0411).
pub(crate) const INJECTION: ErrorReply =
    reply(554, 5, 5, 0, "Error: command injection after STARTTLS");
/// `554 5.5.0`: message text sent before the `354` (RFC 2920 §3.1).
pub(crate) const PIPELINING_AFTER_DATA: ErrorReply = reply(
    554,
    5,
    5,
    0,
    "Error: improper use of SMTP command pipelining",
);
/// `554 5.5.0`: a client that talks before the greeting (RFC 5321 §3.1).
pub(crate) const EARLY_TALKER: ErrorReply =
    reply(554, 5, 5, 0, "Error: SMTP protocol synchronization");

/// `421 4.4.2 <host> Error: timeout exceeded` (RFC 5321 §4.5.3.2).
pub(crate) const TIMEOUT_TEXT: &str = "Error: timeout exceeded";
pub(crate) const TIMEOUT_CODE: EnhancedCode = enhanced(4, 4, 2);
/// `421 4.7.0 <host> Error: too many errors`.
pub(crate) const TOO_MANY_ERRORS_TEXT: &str = "Error: too many errors";
pub(crate) const TOO_MANY_ERRORS_CODE: EnhancedCode = enhanced(4, 7, 0);
