//! SMTP commands (RFC 5321 §4.1), with BDAT (RFC 3030), STARTTLS (RFC 3207)
//! and AUTH (RFC 4954).
//!
//! ```text
//! ehlo      = "EHLO" SP ( Domain / address-literal ) CRLF
//! helo      = "HELO" SP Domain CRLF
//! mail      = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//! rcpt      = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
//!             Forward-path ) [SP Rcpt-parameters] CRLF
//! data      = "DATA" CRLF
//! bdat      = "BDAT" SP chunk-size [ SP end-marker ] CRLF  ; RFC 3030 §2
//! chunk-size = 1*DIGIT
//! end-marker = "LAST"
//! rset      = "RSET" CRLF
//! vrfy      = "VRFY" SP String CRLF
//! expn      = "EXPN" SP String CRLF
//! help      = "HELP" [ SP String ] CRLF
//! noop      = "NOOP" [ SP String ] CRLF
//! quit      = "QUIT" CRLF
//! starttls  = "STARTTLS" CRLF                             ; RFC 3207 §4
//! auth      = "AUTH" SP sasl-mech [SP initial-response] CRLF ; RFC 4954 §4
//! sasl-mech = 1*20mech-char                               ; RFC 4422 §3.1
//! mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE
//! initial-response = base64 / "="
//! ```
//!
//! [`Command::parse`] takes one line without its CRLF (framing is
//! [`crate::proto::line`]'s job) and borrows from it: ordinary commands
//! allocate nothing (a MAIL or RCPT parameter list allocates only for
//! unknown parameters, or for xtext with `+XX` escapes).
//!
//! How it stays fast: the verb is matched as one folded 32-bit word. The
//! commands without text arguments (DATA, RSET, QUIT, STARTTLS, BDAT) are
//! read as octets; the others are checked for UTF-8 once, the check starting
//! at an aligned address in the verb so that `str::from_utf8` takes whole
//! words. The plain forms of path (`<dot-string@domain>`, a quoted local
//! part without quoted pairs) are checked in one pass that finds where the
//! local part and the domain end; the common parameters (SIZE, BODY, RET,
//! ENVID, SMTPUTF8, NOTIFY, ORCPT) are matched a keyword-and-`=` word and a
//! value word at a time. Anything else falls back to the general scanners,
//! which give the same answers, errors included. Class runs are tested
//! eight octets at a time, and the borrowed values are built once at the
//! end.
//!
//! Decisions where the RFCs leave room:
//! - Verbs, `FROM:`, `TO:`, `LAST`, SASL mechanism names and the
//!   `Postmaster` of `<Postmaster>` are case-insensitive.
//! - `MAIL FROM:` and `RCPT TO:` may be followed by one space before the `<`
//!   (as most MTAs accept); anything else between the colon and the path is
//!   an error. Runs of spaces between parameters, and trailing spaces after
//!   any command, are tolerated; the encoder writes neither.
//! - HELO, like EHLO, accepts an address literal, as real clients send one.
//!   Both take ASCII only: SMTPUTF8 is not yet in force at EHLO.
//! - The string of VRFY, EXPN, NOOP and HELP is kept as given with spaces
//!   around it trimmed; control characters are an error. A NOOP or HELP
//!   string that is empty after trimming is `None`.
//! - Non-ASCII in MAIL needs the SMTPUTF8 parameter on the same line; in
//!   RCPT it needs [`ParseContext::smtputf8`]. Either way the error is
//!   `553 5.6.7` (RFC 6531 §3.6).
//! - An AUTH initial response is checked for base64 characters only; `=`
//!   (an empty response) is kept as given. Decoding is the session's job.

use core::fmt;
use std::borrow::Cow;

use crate::proto::code::{EnhancedCode, ErrorReply, ReplyCode};
use crate::proto::param::{self, MailParameters, ParamError, RcptParameters};
use crate::proto::path::{self, Domain, ForwardPath, PathError, ReversePath, Utf8};

/// `501 5.5.4 Syntax error (no parameters allowed)`: STARTTLS with a
/// parameter (RFC 3207 §4).
pub const STARTTLS_NO_PARAMETERS: ErrorReply = ErrorReply {
    code: ReplyCode::PARAMETER_SYNTAX_ERROR,
    enhanced: EnhancedCode::INVALID_ARGUMENTS,
    text: "Syntax error (no parameters allowed)",
};

/// What the parser needs to know of the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseContext {
    /// The transaction's MAIL carried SMTPUTF8, so RCPT may hold UTF-8
    /// (RFC 6531 §3.4). MAIL itself looks at its own parameters.
    pub smtputf8: bool,
}

impl ParseContext {
    /// A context with nothing in force.
    pub const fn new() -> Self {
        ParseContext { smtputf8: false }
    }

    /// The same context with SMTPUTF8 in force or not.
    pub const fn with_smtputf8(mut self, on: bool) -> Self {
        self.smtputf8 = on;
        self
    }
}

/// A command line that is not a well-formed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The verb is not one this crate knows.
    #[error("command unrecognized")]
    Unrecognized,
    /// The arguments break the command's grammar.
    #[error("bad {verb} arguments: {reason}")]
    Arguments {
        /// The command.
        verb: Verb,
        /// What is wrong.
        reason: &'static str,
    },
    /// STARTTLS with a parameter (RFC 3207 §4).
    #[error("STARTTLS takes no parameters")]
    StartTlsParameters,
    /// The domain of EHLO or HELO.
    #[error("bad {verb} domain: {source}")]
    Domain {
        /// EHLO or HELO.
        verb: Verb,
        /// What is wrong with it.
        source: PathError,
    },
    /// The path of MAIL or RCPT.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A parameter of MAIL or RCPT.
    #[error(transparent)]
    Parameter(#[from] ParamError),
    /// Octets that are not UTF-8 in the arguments of a command other than
    /// MAIL or RCPT.
    #[error("{verb} arguments are not UTF-8")]
    InvalidUtf8 {
        /// The command.
        verb: Verb,
    },
}

impl CommandError {
    /// The reply a server sends for this error: `500 5.5.2` for an unknown
    /// verb, `501 5.5.4` for bad arguments, `501 5.1.3` for a bad address,
    /// `553 5.6.7` for UTF-8 without SMTPUTF8.
    pub fn reply(&self) -> ErrorReply {
        match self {
            CommandError::Unrecognized => ErrorReply::SYNTAX,
            CommandError::Arguments { .. }
            | CommandError::Domain { .. }
            | CommandError::InvalidUtf8 { .. } => ErrorReply::ARGUMENTS,
            CommandError::StartTlsParameters => STARTTLS_NO_PARAMETERS,
            CommandError::Path(error) => error.reply(),
            CommandError::Parameter(error) => error.reply(),
        }
    }
}

/// Which command, without its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `EHLO`.
    Ehlo,
    /// `HELO`.
    Helo,
    /// `MAIL`.
    Mail,
    /// `RCPT`.
    Rcpt,
    /// `DATA`.
    Data,
    /// `BDAT` (RFC 3030).
    Bdat,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY`.
    Vrfy,
    /// `EXPN`.
    Expn,
    /// `HELP`.
    Help,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH` (RFC 4954).
    Auth,
}

impl Verb {
    /// The verb in upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Ehlo => "EHLO",
            Verb::Helo => "HELO",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SASL mechanism name (RFC 4422 §3.1; registry of IANA "SASL
/// Mechanisms").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthMechanism<'a> {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login).
    Login,
    /// `CRAM-MD5` (RFC 2195).
    CramMd5,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `EXTERNAL` (RFC 4422 Appendix A).
    External,
    /// `XOAUTH2`.
    XOAuth2,
    /// `OAUTHBEARER` (RFC 7628).
    OAuthBearer,
    /// Any other name, as given. Never one of the names above.
    Other(Cow<'a, str>),
}

impl<'a> AuthMechanism<'a> {
    /// Reads a mechanism name, case-insensitively: 1 to 20 letters, digits,
    /// `-` or `_`.
    pub fn parse(name: &'a str) -> Option<Self> {
        if name.is_empty()
            || name.len() > 20
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        const KNOWN: [(&str, AuthMechanism<'static>); 8] = [
            ("PLAIN", AuthMechanism::Plain),
            ("LOGIN", AuthMechanism::Login),
            ("CRAM-MD5", AuthMechanism::CramMd5),
            ("SCRAM-SHA-1", AuthMechanism::ScramSha1),
            ("SCRAM-SHA-256", AuthMechanism::ScramSha256),
            ("EXTERNAL", AuthMechanism::External),
            ("XOAUTH2", AuthMechanism::XOAuth2),
            ("OAUTHBEARER", AuthMechanism::OAuthBearer),
        ];
        for (known, mechanism) in KNOWN {
            if name.eq_ignore_ascii_case(known) {
                return Some(mechanism);
            }
        }
        Some(AuthMechanism::Other(Cow::Borrowed(name)))
    }

    /// The name: upper case for the known ones, as given for others.
    pub fn as_str(&self) -> &str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
            AuthMechanism::CramMd5 => "CRAM-MD5",
            AuthMechanism::ScramSha1 => "SCRAM-SHA-1",
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::External => "EXTERNAL",
            AuthMechanism::XOAuth2 => "XOAUTH2",
            AuthMechanism::OAuthBearer => "OAUTHBEARER",
            AuthMechanism::Other(name) => name,
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> AuthMechanism<'static> {
        match self {
            AuthMechanism::Plain => AuthMechanism::Plain,
            AuthMechanism::Login => AuthMechanism::Login,
            AuthMechanism::CramMd5 => AuthMechanism::CramMd5,
            AuthMechanism::ScramSha1 => AuthMechanism::ScramSha1,
            AuthMechanism::ScramSha256 => AuthMechanism::ScramSha256,
            AuthMechanism::External => AuthMechanism::External,
            AuthMechanism::XOAuth2 => AuthMechanism::XOAuth2,
            AuthMechanism::OAuthBearer => AuthMechanism::OAuthBearer,
            AuthMechanism::Other(name) => AuthMechanism::Other(Cow::Owned(name.into_owned())),
        }
    }
}

impl fmt::Display for AuthMechanism<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SMTP command (RFC 5321 §4.1.1 and extensions).
///
/// Text fields built by hand must follow the grammar in the module docs
/// (strings non-empty, without control characters or spaces at their ends)
/// for [`Command::encode`] to write what [`Command::parse`] reads back as the
/// same value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command<'a> {
    /// `EHLO domain` or `EHLO [address-literal]`.
    Ehlo(Domain<'a>),
    /// `HELO domain`.
    Helo(Domain<'a>),
    /// `MAIL FROM:<reverse-path> [parameters]`.
    Mail {
        /// The reverse-path.
        from: ReversePath<'a>,
        /// The parameters.
        params: MailParameters<'a>,
    },
    /// `RCPT TO:<forward-path> [parameters]`.
    Rcpt {
        /// The forward-path.
        to: ForwardPath<'a>,
        /// The parameters.
        params: RcptParameters<'a>,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030 §2).
    Bdat {
        /// The chunk size in octets.
        size: u64,
        /// This is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop(Option<Cow<'a, str>>),
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(Cow<'a, str>),
    /// `EXPN string`.
    Expn(Cow<'a, str>),
    /// `HELP [string]`.
    Help(Option<Cow<'a, str>>),
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// The SASL mechanism.
        mechanism: AuthMechanism<'a>,
        /// The base64 initial response as given; `=` is an empty one.
        initial_response: Option<Cow<'a, str>>,
    },
}

const fn tag(name: &[u8; 4]) -> u32 {
    // Lower case, as the parser folds the input.
    u32::from_le_bytes([
        name[0] | 0x20,
        name[1] | 0x20,
        name[2] | 0x20,
        name[3] | 0x20,
    ])
}

const EHLO: u32 = tag(b"EHLO");
const HELO: u32 = tag(b"HELO");
const MAIL: u32 = tag(b"MAIL");
const RCPT: u32 = tag(b"RCPT");
const DATA: u32 = tag(b"DATA");
const BDAT: u32 = tag(b"BDAT");
const RSET: u32 = tag(b"RSET");
const NOOP: u32 = tag(b"NOOP");
const QUIT: u32 = tag(b"QUIT");
const VRFY: u32 = tag(b"VRFY");
const EXPN: u32 = tag(b"EXPN");
const HELP: u32 = tag(b"HELP");
const STAR: u32 = tag(b"STAR");
const AUTH: u32 = tag(b"AUTH");

/// Reads the verb; returns it and its length. The octets after it are none
/// or start with a space; the verb's own octets are ASCII letters.
#[inline]
fn split_verb(line: &[u8]) -> Result<(Verb, usize), CommandError> {
    let Some(head) = line.first_chunk::<4>() else {
        return Err(CommandError::Unrecognized);
    };
    // `| 0x20` folds letters to lower case; all verbs are letters, and no
    // other octet folds onto a lower-case letter.
    let word = u32::from_le_bytes(head.map(|b| b | 0x20));
    let (verb, len) = match word {
        MAIL => (Verb::Mail, 4),
        RCPT => (Verb::Rcpt, 4),
        EHLO => (Verb::Ehlo, 4),
        DATA => (Verb::Data, 4),
        QUIT => (Verb::Quit, 4),
        BDAT => (Verb::Bdat, 4),
        RSET => (Verb::Rset, 4),
        NOOP => (Verb::Noop, 4),
        HELO => (Verb::Helo, 4),
        STAR if line
            .get(4..8)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(b"TTLS")) =>
        {
            (Verb::StartTls, 8)
        }
        AUTH => (Verb::Auth, 4),
        VRFY => (Verb::Vrfy, 4),
        EXPN => (Verb::Expn, 4),
        HELP => (Verb::Help, 4),
        _ => return Err(CommandError::Unrecognized),
    };
    match line.get(len) {
        None | Some(b' ') => Ok((verb, len)),
        Some(_) => Err(CommandError::Unrecognized),
    }
}

/// `line[from..]` as text, where `line[..from]` is ASCII (the verb).
#[inline(always)]
fn text_after(line: &[u8], from: usize) -> Option<&str> {
    // `str::from_utf8` checks ASCII a pair of words at a time from an
    // eight-aligned address, and octet by octet before it. Starting at an
    // aligned address inside the verb gives the same answer (the verb is
    // ASCII) without the octet-by-octet start. `align_offset` may give up
    // (usize::MAX); then the check starts at `from`.
    // Short arguments are checked as they are.
    let rest = line.get(from..)?;
    if rest.len() >= 16 {
        let skew = line.as_ptr().align_offset(8);
        if skew <= from
            && let Some(aligned) = line.get(skew..)
        {
            return core::str::from_utf8(aligned).ok()?.get(from - skew..);
        }
    }
    core::str::from_utf8(rest).ok()
}

/// Strips `prefix` (ASCII) from `text`, letters case-insensitively.
#[inline(always)]
fn strip_prefix_ci<'t, const N: usize>(text: &'t str, prefix: &[u8; N]) -> Option<&'t str> {
    let head = text.as_bytes().first_chunk::<N>()?;
    let same = head.iter().zip(prefix).all(|(&b, &p)| {
        if p.is_ascii_alphabetic() {
            b | 0x20 == p | 0x20
        } else {
            b == p
        }
    });
    if same { text.get(N..) } else { None }
}

impl<'a> Command<'a> {
    /// Parses one command line, without its CRLF.
    pub fn parse(line: &'a [u8], ctx: ParseContext) -> Result<Self, CommandError> {
        // Only the verb is read here; each family of commands has its own
        // function, called last, so that this one needs no stack frame.
        let (verb, len) = split_verb(line)?;
        match verb {
            Verb::Mail => parse_mail_line(line, len),
            Verb::Rcpt => parse_rcpt_line(line, len, ctx),
            Verb::Data | Verb::Rset | Verb::Quit | Verb::StartTls => {
                parse_ascii_only(verb, line.get(len..).unwrap_or_default())
            }
            Verb::Bdat => parse_bdat_line(line.get(len..).unwrap_or_default()),
            Verb::Ehlo
            | Verb::Helo
            | Verb::Auth
            | Verb::Noop
            | Verb::Help
            | Verb::Vrfy
            | Verb::Expn => parse_text_line(verb, line, len),
        }
    }

    /// Which command this is.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Ehlo(_) => Verb::Ehlo,
            Command::Helo(_) => Verb::Helo,
            Command::Mail { .. } => Verb::Mail,
            Command::Rcpt { .. } => Verb::Rcpt,
            Command::Data => Verb::Data,
            Command::Bdat { .. } => Verb::Bdat,
            Command::Rset => Verb::Rset,
            Command::Noop(_) => Verb::Noop,
            Command::Quit => Verb::Quit,
            Command::Vrfy(_) => Verb::Vrfy,
            Command::Expn(_) => Verb::Expn,
            Command::Help(_) => Verb::Help,
            Command::StartTls => Verb::StartTls,
            Command::Auth { .. } => Verb::Auth,
        }
    }

    /// Writes the command in canonical form (upper-case verb, single
    /// spaces), CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.verb().as_str().as_bytes());
        match self {
            Command::Ehlo(domain) | Command::Helo(domain) => {
                out.push(b' ');
                domain.encode(out);
            }
            Command::Mail { from, params } => {
                out.extend_from_slice(b" FROM:");
                from.encode(out);
                params.encode(out);
            }
            Command::Rcpt { to, params } => {
                out.extend_from_slice(b" TO:");
                to.encode(out);
                params.encode(out);
            }
            Command::Bdat { size, last } => {
                out.push(b' ');
                param::write_u64(*size, out);
                if *last {
                    out.extend_from_slice(b" LAST");
                }
            }
            Command::Noop(Some(string))
            | Command::Help(Some(string))
            | Command::Vrfy(string)
            | Command::Expn(string) => {
                out.push(b' ');
                out.extend_from_slice(string.as_bytes());
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                out.push(b' ');
                out.extend_from_slice(mechanism.as_str().as_bytes());
                if let Some(response) = initial_response {
                    out.push(b' ');
                    out.extend_from_slice(response.as_bytes());
                }
            }
            Command::Data
            | Command::Rset
            | Command::Quit
            | Command::StartTls
            | Command::Noop(None)
            | Command::Help(None) => {}
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> Command<'static> {
        let owned = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        match self {
            Command::Ehlo(domain) => Command::Ehlo(domain.into_owned()),
            Command::Helo(domain) => Command::Helo(domain.into_owned()),
            Command::Mail { from, params } => Command::Mail {
                from: from.into_owned(),
                params: params.into_owned(),
            },
            Command::Rcpt { to, params } => Command::Rcpt {
                to: to.into_owned(),
                params: params.into_owned(),
            },
            Command::Data => Command::Data,
            Command::Bdat { size, last } => Command::Bdat { size, last },
            Command::Rset => Command::Rset,
            Command::Noop(string) => Command::Noop(string.map(owned)),
            Command::Quit => Command::Quit,
            Command::Vrfy(string) => Command::Vrfy(owned(string)),
            Command::Expn(string) => Command::Expn(owned(string)),
            Command::Help(string) => Command::Help(string.map(owned)),
            Command::StartTls => Command::StartTls,
            Command::Auth {
                mechanism,
                initial_response,
            } => Command::Auth {
                mechanism: mechanism.into_owned(),
                initial_response: initial_response.map(owned),
            },
        }
    }
}

/// The error for a line whose arguments are not UTF-8.
#[cold]
#[inline(never)]
fn utf8_error(verb: Verb, ctx: ParseContext) -> CommandError {
    match verb {
        Verb::Rcpt if !ctx.smtputf8 => PathError::NonAscii.into(),
        Verb::Mail | Verb::Rcpt => PathError::InvalidUtf8.into(),
        _ => CommandError::InvalidUtf8 { verb },
    }
}

/// A MAIL line whose verb takes `line[..len]`.
#[inline(never)]
fn parse_mail_line(line: &[u8], len: usize) -> Result<Command<'_>, CommandError> {
    match text_after(line, len) {
        Some(text) => parse_mail(text),
        None => Err(utf8_error(Verb::Mail, ParseContext::new())),
    }
}

/// An RCPT line whose verb takes `line[..len]`.
#[inline(never)]
fn parse_rcpt_line(
    line: &[u8],
    len: usize,
    ctx: ParseContext,
) -> Result<Command<'_>, CommandError> {
    match text_after(line, len) {
        Some(text) => parse_rcpt(text, ctx),
        None => Err(utf8_error(Verb::Rcpt, ctx)),
    }
}

/// EHLO, HELO, AUTH, NOOP, HELP, VRFY and EXPN, whose verb takes
/// `line[..len]`.
#[inline(never)]
fn parse_text_line(verb: Verb, line: &[u8], len: usize) -> Result<Command<'_>, CommandError> {
    let Some(text) = text_after(line, len) else {
        return Err(utf8_error(verb, ParseContext::new()));
    };
    let args = |reason| CommandError::Arguments { verb, reason };
    match verb {
        Verb::Ehlo | Verb::Helo => {
            // A second argument fails as a bad domain.
            let arg = arguments(text).ok_or(args("needs one domain"))?;
            let literal = match path::scan_whole_domain(arg, false) {
                Ok(literal) => literal,
                Err(source) => return Err(CommandError::Domain { verb, source }),
            };
            let domain = path::domain_of(arg, literal);
            Ok(if verb == Verb::Ehlo {
                Command::Ehlo(domain)
            } else {
                Command::Helo(domain)
            })
        }
        Verb::Auth => {
            let arg = arguments(text).ok_or(args("needs a mechanism"))?;
            let (name, response) = match arg.split_once(' ') {
                Some((name, response)) => (name, Some(response)),
                None => (arg, None),
            };
            let mechanism = AuthMechanism::parse(name).ok_or(args("bad mechanism"))?;
            if let Some(response) = response
                && (response.is_empty()
                    || !response
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
            {
                return Err(args("bad initial response"));
            }
            Ok(Command::Auth {
                mechanism,
                initial_response: response.map(Cow::Borrowed),
            })
        }
        _ => {
            // NOOP, HELP, VRFY and EXPN.
            let string = free_text(text).map_err(args)?;
            Ok(match (verb, string) {
                (Verb::Noop, string) => Command::Noop(string.map(Cow::Borrowed)),
                (Verb::Help, string) => Command::Help(string.map(Cow::Borrowed)),
                (Verb::Vrfy, Some(string)) => Command::Vrfy(Cow::Borrowed(string)),
                (Verb::Expn, Some(string)) => Command::Expn(Cow::Borrowed(string)),
                _ => return Err(args("needs a string")),
            })
        }
    }
}

/// DATA, RSET, QUIT and STARTTLS, whose arguments are nothing (or
/// spaces), read from the octets after the verb without a UTF-8 check (a
/// line that is not UTF-8 fails either way, with the UTF-8 error first).
#[inline(always)]
fn parse_ascii_only(verb: Verb, rest: &[u8]) -> Result<Command<'static>, CommandError> {
    if !rest.iter().all(|&b| b == b' ') {
        return Err(no_arguments_error(verb, rest));
    }
    Ok(match verb {
        Verb::Data => Command::Data,
        Verb::Rset => Command::Rset,
        Verb::Quit => Command::Quit,
        _ => Command::StartTls,
    })
}

/// The error for arguments after DATA, RSET, QUIT or STARTTLS.
#[cold]
#[inline(never)]
fn no_arguments_error(verb: Verb, rest: &[u8]) -> CommandError {
    let error = if verb == Verb::StartTls {
        CommandError::StartTlsParameters
    } else {
        CommandError::Arguments {
            verb,
            reason: "takes no arguments",
        }
    };
    ascii_only_error(verb, rest, error)
}

/// BDAT, `rest` starting after the verb: ASCII, read without a UTF-8 check
/// (a line that is not UTF-8 fails either way, with the UTF-8 error first).
#[inline(never)]
fn parse_bdat_line(rest: &[u8]) -> Result<Command<'static>, CommandError> {
    let verb = Verb::Bdat;
    match parse_bdat(rest) {
        Ok((size, last)) => Ok(Command::Bdat { size, last }),
        Err(reason) => Err(ascii_only_error(
            verb,
            rest,
            CommandError::Arguments { verb, reason },
        )),
    }
}

/// The error for arguments of an ASCII-only command that break the grammar:
/// the UTF-8 error if they are not UTF-8, else `error`.
#[cold]
#[inline(never)]
fn ascii_only_error(verb: Verb, rest: &[u8], error: CommandError) -> CommandError {
    if core::str::from_utf8(rest).is_err() {
        CommandError::InvalidUtf8 { verb }
    } else {
        error
    }
}

/// `BDAT chunk-size [LAST]` (RFC 3030 §2), `rest` starting after `BDAT`:
/// the size and whether it is the last chunk, or what is wrong.
#[inline(always)]
fn parse_bdat(rest: &[u8]) -> Result<(u64, bool), &'static str> {
    let arg = arguments_bytes(rest).ok_or("needs a chunk size")?;
    let (size, marker) = match arg.iter().position(|&b| b == b' ') {
        Some(space) => (
            arg.get(..space).unwrap_or_default(),
            Some(arg.get(space + 1..).unwrap_or_default()),
        ),
        None => (arg, None),
    };
    let size = parse_chunk_size(size).ok_or("bad chunk size")?;
    let last = match marker {
        None => false,
        Some(marker) if marker.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return Err("expected LAST"),
    };
    Ok((size, last))
}

/// `MAIL FROM:<path> [params]`, `text` starting after `MAIL`.
#[inline]
fn parse_mail(text: &str) -> Result<Command<'_>, CommandError> {
    let rest = strip_prefix_ci(text, b" FROM:").ok_or(CommandError::Arguments {
        verb: Verb::Mail,
        reason: "expected FROM:",
    })?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    // UTF-8 is allowed if SMTPUTF8 is on this very line (RFC 6531 §3.4),
    // which is known only once the parameters are read.
    let mut utf8 = Utf8::new(true);
    let span = path::scan_path(rest, false, &mut utf8)?;
    let mut params = MailParameters::default();
    let tail = after_path(rest, span.end, Verb::Mail)?;
    let non_ascii = !tail.is_empty() && params.parse_into(tail)?;
    if (utf8.seen || non_ascii) && !params.smtputf8 {
        return Err(PathError::NonAscii.into());
    }
    let from = match span.mailbox {
        None => ReversePath::Null,
        Some(mailbox) => ReversePath::Mailbox(mailbox.build()),
    };
    Ok(Command::Mail { from, params })
}

/// `RCPT TO:<path> [params]`, `text` starting after `RCPT`.
#[inline]
fn parse_rcpt(text: &str, ctx: ParseContext) -> Result<Command<'_>, CommandError> {
    let rest = strip_prefix_ci(text, b" TO:").ok_or(CommandError::Arguments {
        verb: Verb::Rcpt,
        reason: "expected TO:",
    })?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let span = path::scan_path(rest, true, &mut Utf8::new(ctx.smtputf8))?;
    let mut params = RcptParameters::default();
    let tail = after_path(rest, span.end, Verb::Rcpt)?;
    if !tail.is_empty() && params.parse_into(tail)? && !ctx.smtputf8 {
        return Err(PathError::NonAscii.into());
    }
    let to = match span.mailbox {
        None => ForwardPath::Postmaster,
        Some(mailbox) => ForwardPath::Mailbox(mailbox.build()),
    };
    Ok(Command::Rcpt { to, params })
}

/// The parameter text after a path that ended at `end`: empty, or after a
/// space.
#[inline]
fn after_path(rest: &str, end: usize, verb: Verb) -> Result<&str, CommandError> {
    let tail = rest.get(end..).unwrap_or_default();
    if tail.is_empty() {
        Ok(tail)
    } else {
        tail.strip_prefix(' ').ok_or(CommandError::Arguments {
            verb,
            reason: "expected a space after the path",
        })
    }
}

/// The text after the verb's space, trailing spaces removed; `None` if
/// there is none, or if it starts with a second space.
#[inline(always)]
fn arguments(text: &str) -> Option<&str> {
    let bytes = arguments_bytes(text.as_bytes())?;
    text.get(1..1 + bytes.len())
}

/// [`arguments`] of octets.
#[inline(always)]
fn arguments_bytes(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.first() != Some(&b' ') {
        return None;
    }
    let mut end = bytes.len();
    while end > 1 && bytes.get(end - 1) == Some(&b' ') {
        end -= 1;
    }
    if end <= 1 || bytes.get(1) == Some(&b' ') {
        return None;
    }
    bytes.get(1..end)
}

/// The string of NOOP, HELP, VRFY and EXPN: trimmed, free of controls.
#[inline(always)]
fn free_text(text: &str) -> Result<Option<&str>, &'static str> {
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |last| last + 1);
    let string = text.get(start..end).unwrap_or_default();
    if string.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("control character");
    }
    Ok(if string.is_empty() {
        None
    } else {
        Some(string)
    })
}

/// `1*DIGIT` that fits in a u64 (RFC 3030 §2).
fn parse_chunk_size(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verb_folding_rfc5321_2_4() {
        for line in [&b"QUIT"[..], b"quit", b"QuIt", b"QUIT  "] {
            assert_eq!(
                Command::parse(line, ParseContext::new()),
                Ok(Command::Quit),
                "{line:?}"
            );
        }
        assert_eq!(
            Command::parse(b"StartTLS", ParseContext::new()),
            Ok(Command::StartTls)
        );
        // A byte that folds to a letter under `| 0x20` only if it was one.
        assert_eq!(
            Command::parse(b"QUI\x14", ParseContext::new()),
            Err(CommandError::Unrecognized)
        );
    }

    #[test]
    fn ascii_only_commands_report_utf8_first_rfc6531_3_3() {
        let ctx = ParseContext::new();
        for (line, verb) in [
            (&b"DATA \xff"[..], Verb::Data),
            (b"QUIT x\xc3", Verb::Quit),
            (b"STARTTLS \xe9", Verb::StartTls),
            (b"BDAT 12 \xff", Verb::Bdat),
            (b"BDAT \xc3 LAST", Verb::Bdat),
        ] {
            assert_eq!(
                Command::parse(line, ctx),
                Err(CommandError::InvalidUtf8 { verb }),
                "{line:?}"
            );
        }
        // Valid UTF-8 that breaks the grammar is a grammar error.
        assert_eq!(
            Command::parse("BDAT \u{e9}".as_bytes(), ctx),
            Err(CommandError::Arguments {
                verb: Verb::Bdat,
                reason: "bad chunk size"
            })
        );
        assert_eq!(
            Command::parse("STARTTLS \u{e9}".as_bytes(), ctx),
            Err(CommandError::StartTlsParameters)
        );
        assert_eq!(
            Command::parse(b"BDAT 12 last  ", ctx),
            Ok(Command::Bdat {
                size: 12,
                last: true
            })
        );
    }

    #[test]
    fn arguments_checked_at_every_alignment_rfc6531_3_3() {
        // The UTF-8 check may start inside the verb or after the words
        // before a path; the answer must not depend on where the line lies
        // in memory.
        let lines: [(&[u8], Result<Verb, CommandError>); 6] = [
            (
                b"VRFY some-rather-long-user.name@example.org",
                Ok(Verb::Vrfy),
            ),
            (
                b"VRFY some-rather-long-user.name@example.or\xff",
                Err(CommandError::InvalidUtf8 { verb: Verb::Vrfy }),
            ),
            (
                b"MAIL FROM:<user.name@example.org> SIZE=1 ENVID=e1",
                Ok(Verb::Mail),
            ),
            (
                b"MAIL FROM:<user.name@example.org> SIZE=1 X=\xc3",
                Err(PathError::InvalidUtf8.into()),
            ),
            (
                b"RCPT TO:<user.name@example.org> NOTIFY=NEVER",
                Ok(Verb::Rcpt),
            ),
            (
                b"RCPT TO:<user.name@example.org> X=\xff",
                Err(PathError::NonAscii.into()),
            ),
        ];
        for (line, want) in lines {
            let mut buf = vec![b'x'; line.len() + 16];
            for skew in 0..16 {
                buf[skew..skew + line.len()].copy_from_slice(line);
                let parsed = Command::parse(&buf[skew..skew + line.len()], ParseContext::new());
                assert_eq!(parsed.map(|c| c.verb()), want, "{skew}");
            }
        }
    }

    /// Each family of commands reports arguments that are not UTF-8 the
    /// same way, whatever function reads it (RFC 6531 §3.3, §3.6).
    #[test]
    fn non_utf8_arguments_per_verb_rfc6531_3_6() {
        let plain = ParseContext::new();
        let utf8 = ParseContext::new().with_smtputf8(true);
        let cases: [(&[u8], ParseContext, CommandError); 9] = [
            (
                b"MAIL FROM:<a@b.example> \xff",
                plain,
                PathError::InvalidUtf8.into(),
            ),
            (
                b"mail FROM:<\xc3@b.example>",
                utf8,
                PathError::InvalidUtf8.into(),
            ),
            (
                b"RCPT TO:<\xff@b.example>",
                plain,
                PathError::NonAscii.into(),
            ),
            (
                b"RcPt TO:<\xff@b.example>",
                utf8,
                PathError::InvalidUtf8.into(),
            ),
            (
                b"EHLO \xff.example",
                plain,
                CommandError::InvalidUtf8 { verb: Verb::Ehlo },
            ),
            (
                b"helo \xff",
                utf8,
                CommandError::InvalidUtf8 { verb: Verb::Helo },
            ),
            (
                b"VRFY b\xffb",
                plain,
                CommandError::InvalidUtf8 { verb: Verb::Vrfy },
            ),
            (
                b"AUTH PLAIN \xff",
                plain,
                CommandError::InvalidUtf8 { verb: Verb::Auth },
            ),
            (
                b"bdat 1 \xff",
                plain,
                CommandError::InvalidUtf8 { verb: Verb::Bdat },
            ),
        ];
        for (line, ctx, want) in cases {
            assert_eq!(Command::parse(line, ctx), Err(want), "{line:?}");
        }
    }

    /// Verbs in any case reach their own parser (RFC 5321 §2.4).
    #[test]
    fn every_verb_in_mixed_case_rfc5321_2_4() {
        let ctx = ParseContext::new();
        for (line, verb) in [
            (&b"eHlO a.example"[..], Verb::Ehlo),
            (b"HeLo a.example", Verb::Helo),
            (b"mAiL FROM:<>", Verb::Mail),
            (b"rCpT TO:<Postmaster>", Verb::Rcpt),
            (b"dAtA", Verb::Data),
            (b"BdAt 0 LAST", Verb::Bdat),
            (b"rSeT", Verb::Rset),
            (b"nOoP", Verb::Noop),
            (b"qUiT", Verb::Quit),
            (b"vRfY bob", Verb::Vrfy),
            (b"eXpN list", Verb::Expn),
            (b"hElP", Verb::Help),
            (b"sTaRtTlS", Verb::StartTls),
            (b"aUtH plain", Verb::Auth),
        ] {
            assert_eq!(
                Command::parse(line, ctx).map(|c| c.verb()),
                Ok(verb),
                "{line:?}"
            );
        }
        // Non-ASCII octets never fold onto a verb.
        for line in [&b"\xcdAIL FROM:<>"[..], b"DAT\xc1", b"STARTTL\xd3"] {
            assert_eq!(
                Command::parse(line, ctx),
                Err(CommandError::Unrecognized),
                "{line:?}"
            );
        }
    }

    #[test]
    fn chunk_size_overflow_rfc3030_2() {
        assert_eq!(parse_chunk_size(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_chunk_size(b"18446744073709551616"), None);
        assert_eq!(parse_chunk_size(b"12a"), None);
    }
}
