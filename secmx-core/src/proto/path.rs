//! Reverse and forward paths (RFC 5321 §4.1.2), with the UTF-8 forms of
//! SMTPUTF8 (RFC 6531 §3.3).
//!
//! ```text
//! Reverse-path    = Path / "<>"
//! Forward-path    = Path
//! Path            = "<" [ A-d-l ":" ] Mailbox ">"
//! A-d-l           = At-domain *( "," At-domain )   ; source route (Appendix C)
//! At-domain       = "@" Domain
//! Mailbox         = Local-part "@" ( Domain / address-literal )
//! Local-part      = Dot-string / Quoted-string
//! Dot-string      = Atom *("."  Atom)
//! Atom            = 1*atext
//! Quoted-string   = DQUOTE *QcontentSMTP DQUOTE
//! QcontentSMTP    = qtextSMTP / quoted-pairSMTP
//! quoted-pairSMTP = %d92 %d32-126
//! qtextSMTP       = %d32-33 / %d35-91 / %d93-126
//! Domain          = sub-domain *("." sub-domain)
//! sub-domain      = Let-dig [Ldh-str]
//! Let-dig         = ALPHA / DIGIT
//! Ldh-str         = *( ALPHA / DIGIT / "-" ) Let-dig
//! address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
//!                         General-address-literal ) "]"
//! IPv4-address-literal    = Snum 3("."  Snum)
//! IPv6-address-literal    = "IPv6:" IPv6-addr
//! General-address-literal = Standardized-tag ":" 1*dcontent
//! Standardized-tag        = Ldh-str
//! dcontent        = %d33-90 / %d94-126
//!
//! ; RFC 6531 §3.3, only while SMTPUTF8 is in force:
//! atext           =/ UTF8-non-ascii
//! qtextSMTP       =/ UTF8-non-ascii
//! sub-domain      =/ U-label
//! ```
//!
//! Decisions where the RFCs leave room:
//! - A source route is parsed (its domains must be well formed) and then
//!   dropped, as RFC 5321 §4.1.2 and Appendix C ask.
//! - `<Postmaster>` (any case) is its own [`ForwardPath::Postmaster`]
//!   (§4.1.1.3); `<Postmaster@domain>` is an ordinary mailbox.
//! - A U-label is any run of UTF-8 that does not start or end with `-`; no
//!   IDNA mapping or validation is done here. The 63-octet label bound is
//!   applied to ASCII labels only (a U-label's bound is on its A-label form).
//! - IPv4 literals keep RFC 5321's `Snum` (one to three digits, at most 255),
//!   so `[010.0.0.1]` is read as 10.0.0.1. Address literals are kept as
//!   [`IpAddr`] and written back in canonical form.
//! - Limits (§4.5.3.1): local part 64 octets, domain 255 octets, whole path
//!   256 octets with its angle brackets and any source route.

use core::fmt;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::limits::{MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH};
use crate::proto::code::{ErrorReply, ReplyCode};

/// Longest label of a domain name (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;

/// `501 5.1.3 Path too long` (RFC 5321 §4.5.3.1.10).
pub const PATH_TOO_LONG: ErrorReply = ErrorReply {
    code: ReplyCode::PARAMETER_SYNTAX_ERROR,
    enhanced: ErrorReply::BAD_ADDRESS.enhanced,
    text: "Path too long",
};

/// `501 5.1.3 Local part too long` (RFC 5321 §4.5.3.1.1).
pub const LOCAL_PART_TOO_LONG: ErrorReply = ErrorReply {
    code: ReplyCode::PARAMETER_SYNTAX_ERROR,
    enhanced: ErrorReply::BAD_ADDRESS.enhanced,
    text: "Local part too long",
};

/// `501 5.1.3 Domain too long` (RFC 5321 §4.5.3.1.2).
pub const DOMAIN_TOO_LONG: ErrorReply = ErrorReply {
    code: ReplyCode::PARAMETER_SYNTAX_ERROR,
    enhanced: ErrorReply::BAD_ADDRESS.enhanced,
    text: "Domain too long",
};

/// A path, mailbox, local part or domain that is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The text breaks the grammar; the string says where.
    #[error("bad address syntax: {0}")]
    Syntax(&'static str),
    /// The local part is over [`MAX_LOCAL_PART`] octets (RFC 5321 §4.5.3.1.1).
    #[error("local part longer than {MAX_LOCAL_PART} octets")]
    LocalPartTooLong,
    /// The domain is over [`MAX_DOMAIN`] octets (RFC 5321 §4.5.3.1.2).
    #[error("domain longer than {MAX_DOMAIN} octets")]
    DomainTooLong,
    /// The path is over [`MAX_PATH`] octets (RFC 5321 §4.5.3.1.3).
    #[error("path longer than {MAX_PATH} octets")]
    PathTooLong,
    /// Non-ASCII text where SMTPUTF8 is not in force (RFC 6531 §3.6).
    #[error("non-ASCII address without SMTPUTF8")]
    NonAscii,
    /// Octets that are not UTF-8 (RFC 6531 §3.3 allows UTF-8 only).
    #[error("address is not UTF-8")]
    InvalidUtf8,
}

impl PathError {
    /// The reply a server sends for this error.
    pub fn reply(&self) -> ErrorReply {
        match self {
            PathError::Syntax(_) | PathError::InvalidUtf8 => ErrorReply::BAD_ADDRESS,
            PathError::LocalPartTooLong => LOCAL_PART_TOO_LONG,
            PathError::DomainTooLong => DOMAIN_TOO_LONG,
            PathError::PathTooLong => PATH_TOO_LONG,
            PathError::NonAscii => ErrorReply::NON_ASCII,
        }
    }
}

/// The domain of a mailbox, or the argument of EHLO and HELO: a name or an
/// address literal (RFC 5321 §4.1.2, §4.1.3).
///
/// The variants are public for matching. A value built by hand must follow
/// the grammar of the module docs for [`Domain::encode`] to write something
/// [`Domain::parse`] reads back as the same value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain<'a> {
    /// A domain name of LDH labels, or U-labels under SMTPUTF8, as given
    /// (case kept).
    Name(Cow<'a, str>),
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
    Ip(IpAddr),
    /// A general address literal, the `tag:content` between the brackets
    /// (RFC 5321 §4.1.3). The tag is never `IPv6`.
    General(Cow<'a, str>),
}

impl<'a> Domain<'a> {
    /// Parses a whole domain or address literal. `utf8` says whether SMTPUTF8
    /// is in force (U-labels allowed).
    pub fn parse(input: &'a [u8], utf8: bool) -> Result<Self, PathError> {
        let text = to_str(input, utf8)?;
        let mut cursor = Cursor::new(text, utf8);
        let domain = cursor.domain()?;
        cursor.finish()?;
        Ok(domain)
    }

    /// True for the bracketed forms.
    pub fn is_address_literal(&self) -> bool {
        !matches!(self, Domain::Name(_))
    }

    /// The name, for [`Domain::Name`].
    pub fn as_name(&self) -> Option<&str> {
        match self {
            Domain::Name(name) => Some(name),
            _ => None,
        }
    }

    /// Writes the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Domain::Name(name) => out.extend_from_slice(name.as_bytes()),
            Domain::Ip(_) | Domain::General(_) => {
                // Literals are short; formatting through fmt is fine here.
                out.extend_from_slice(self.to_string().as_bytes());
            }
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> Domain<'static> {
        match self {
            Domain::Name(name) => Domain::Name(Cow::Owned(name.into_owned())),
            Domain::Ip(ip) => Domain::Ip(ip),
            Domain::General(text) => Domain::General(Cow::Owned(text.into_owned())),
        }
    }
}

impl fmt::Display for Domain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(name) => f.write_str(name),
            Domain::Ip(IpAddr::V4(ip)) => write!(f, "[{ip}]"),
            Domain::Ip(IpAddr::V6(ip)) => write!(f, "[IPv6:{ip}]"),
            Domain::General(text) => write!(f, "[{text}]"),
        }
    }
}

/// The local part of a mailbox, kept in its wire form (dot-string or
/// quoted-string) so that encoding is exact (RFC 5321 §4.1.2).
///
/// Equality is of the wire form: `"a"` and `a` differ, as do `A` and `a`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalPart<'a> {
    wire: Cow<'a, str>,
}

impl<'a> LocalPart<'a> {
    /// Parses a whole local part. `utf8` says whether SMTPUTF8 is in force.
    pub fn parse(input: &'a [u8], utf8: bool) -> Result<Self, PathError> {
        let text = to_str(input, utf8)?;
        let mut cursor = Cursor::new(text, utf8);
        let local = cursor.local_part()?;
        cursor.finish()?;
        Ok(local)
    }

    /// The local part whose decoded value is `value`: a dot-string when the
    /// value is one, else a quoted-string with `"` and `\` escaped.
    pub fn from_value(value: &str, utf8: bool) -> Result<LocalPart<'static>, PathError> {
        if !utf8 && !value.is_ascii() {
            return Err(PathError::NonAscii);
        }
        let dot_string = !value.is_empty()
            && value
                .split('.')
                .all(|atom| !atom.is_empty() && atom.bytes().all(|b| is_atext(b) || b >= 0x80));
        let wire = if dot_string {
            value.to_owned()
        } else {
            let mut wire = String::with_capacity(value.len() + 2);
            wire.push('"');
            for c in value.chars() {
                match c {
                    '"' | '\\' => {
                        wire.push('\\');
                        wire.push(c);
                    }
                    ' '..='~' => wire.push(c),
                    c if !c.is_ascii() => wire.push(c),
                    _ => return Err(PathError::Syntax("control character in local part")),
                }
            }
            wire.push('"');
            wire
        };
        if wire.len() > MAX_LOCAL_PART {
            return Err(PathError::LocalPartTooLong);
        }
        Ok(LocalPart {
            wire: Cow::Owned(wire),
        })
    }

    /// The wire form, quotes and backslashes included.
    pub fn as_wire(&self) -> &str {
        &self.wire
    }

    /// True for a quoted-string.
    pub fn is_quoted(&self) -> bool {
        self.wire.starts_with('"')
    }

    /// The decoded value: a dot-string as it is, a quoted-string without its
    /// quotes and with each quoted pair replaced by its character. Borrows
    /// unless there was a backslash.
    pub fn value(&self) -> Cow<'_, str> {
        let Some(inner) = self
            .wire
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        else {
            return Cow::Borrowed(&self.wire);
        };
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        let mut value = String::with_capacity(inner.len());
        let mut escaped = false;
        for c in inner.chars() {
            if escaped || c != '\\' {
                value.push(c);
                escaped = false;
            } else {
                escaped = true;
            }
        }
        Cow::Owned(value)
    }

    /// Writes the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.wire.as_bytes());
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> LocalPart<'static> {
        LocalPart {
            wire: Cow::Owned(self.wire.into_owned()),
        }
    }
}

impl fmt::Display for LocalPart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.wire)
    }
}

/// `Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox<'a> {
    /// The part before the `@`.
    pub local_part: LocalPart<'a>,
    /// The part after the `@`.
    pub domain: Domain<'a>,
}

impl<'a> Mailbox<'a> {
    /// Parses a whole mailbox, without angle brackets. `utf8` says whether
    /// SMTPUTF8 is in force.
    pub fn parse(input: &'a [u8], utf8: bool) -> Result<Self, PathError> {
        let text = to_str(input, utf8)?;
        let mut cursor = Cursor::new(text, utf8);
        let mailbox = cursor.mailbox()?;
        cursor.finish()?;
        Ok(mailbox)
    }

    /// Writes `local@domain`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.local_part.encode(out);
        out.push(b'@');
        self.domain.encode(out);
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> Mailbox<'static> {
        Mailbox {
            local_part: self.local_part.into_owned(),
            domain: self.domain.into_owned(),
        }
    }
}

impl fmt::Display for Mailbox<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

/// The argument of `MAIL FROM:` (RFC 5321 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath<'a> {
    /// `<>`: the null reverse-path of bounces (RFC 5321 §4.5.5).
    Null,
    /// `<mailbox>`.
    Mailbox(Mailbox<'a>),
}

impl<'a> ReversePath<'a> {
    /// Parses a whole reverse-path, angle brackets included. `utf8` says
    /// whether SMTPUTF8 is in force.
    pub fn parse(input: &'a [u8], utf8: bool) -> Result<Self, PathError> {
        let text = to_str(input, utf8)?;
        let (path, end) = Self::parse_prefix_str(text, utf8)?;
        if end != text.len() {
            return Err(PathError::Syntax("text after path"));
        }
        Ok(path)
    }

    /// Parses the reverse-path at the start of `text`; returns it and the
    /// number of bytes it took.
    pub(crate) fn parse_prefix_str(text: &'a str, utf8: bool) -> Result<(Self, usize), PathError> {
        let mut cursor = Cursor::new(text, utf8);
        cursor.expect(b'<', "path must start with '<'")?;
        let path = if cursor.eat(b'>') {
            ReversePath::Null
        } else {
            let mailbox = cursor.path_rest()?;
            ReversePath::Mailbox(mailbox)
        };
        cursor.check_path_len()?;
        Ok((path, cursor.pos))
    }

    /// The mailbox, unless the path is null.
    pub fn mailbox(&self) -> Option<&Mailbox<'a>> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(mailbox) => Some(mailbox),
        }
    }

    /// Writes `<>` or `<mailbox>`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'<');
        if let ReversePath::Mailbox(mailbox) = self {
            mailbox.encode(out);
        }
        out.push(b'>');
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> ReversePath<'static> {
        match self {
            ReversePath::Null => ReversePath::Null,
            ReversePath::Mailbox(mailbox) => ReversePath::Mailbox(mailbox.into_owned()),
        }
    }
}

impl fmt::Display for ReversePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

/// The argument of `RCPT TO:` (RFC 5321 §4.1.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath<'a> {
    /// `<Postmaster>` without a domain, in any case: the local postmaster,
    /// which every server must accept (RFC 5321 §4.5.1).
    Postmaster,
    /// `<mailbox>`.
    Mailbox(Mailbox<'a>),
}

impl<'a> ForwardPath<'a> {
    /// Parses a whole forward-path, angle brackets included. `utf8` says
    /// whether SMTPUTF8 is in force.
    pub fn parse(input: &'a [u8], utf8: bool) -> Result<Self, PathError> {
        let text = to_str(input, utf8)?;
        let (path, end) = Self::parse_prefix_str(text, utf8)?;
        if end != text.len() {
            return Err(PathError::Syntax("text after path"));
        }
        Ok(path)
    }

    /// Parses the forward-path at the start of `text`; returns it and the
    /// number of bytes it took.
    pub(crate) fn parse_prefix_str(text: &'a str, utf8: bool) -> Result<(Self, usize), PathError> {
        let mut cursor = Cursor::new(text, utf8);
        cursor.expect(b'<', "path must start with '<'")?;
        let rest = cursor.bytes.get(cursor.pos..).unwrap_or_default();
        if rest
            .get(..11)
            .is_some_and(|head| head.eq_ignore_ascii_case(b"postmaster>"))
        {
            return Ok((ForwardPath::Postmaster, cursor.pos + 11));
        }
        let mailbox = cursor.path_rest()?;
        cursor.check_path_len()?;
        Ok((ForwardPath::Mailbox(mailbox), cursor.pos))
    }

    /// The mailbox, unless the path is `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox<'a>> {
        match self {
            ForwardPath::Postmaster => None,
            ForwardPath::Mailbox(mailbox) => Some(mailbox),
        }
    }

    /// Writes `<Postmaster>` or `<mailbox>`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ForwardPath::Postmaster => out.extend_from_slice(b"<Postmaster>"),
            ForwardPath::Mailbox(mailbox) => {
                out.push(b'<');
                mailbox.encode(out);
                out.push(b'>');
            }
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> ForwardPath<'static> {
        match self {
            ForwardPath::Postmaster => ForwardPath::Postmaster,
            ForwardPath::Mailbox(mailbox) => ForwardPath::Mailbox(mailbox.into_owned()),
        }
    }
}

impl fmt::Display for ForwardPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

/// Checks the octets are UTF-8, telling "non-ASCII" apart from "not UTF-8"
/// by whether SMTPUTF8 is in force.
fn to_str(input: &[u8], utf8: bool) -> Result<&str, PathError> {
    core::str::from_utf8(input).map_err(|_| {
        if utf8 {
            PathError::InvalidUtf8
        } else {
            PathError::NonAscii
        }
    })
}

/// Character classes, one bit each, indexed by octet.
const ATEXT: u8 = 1;
const LDH: u8 = 2;
const LET_DIG: u8 = 4;
const DCONTENT: u8 = 8;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 128 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_alphanumeric() {
            class |= ATEXT | LDH | LET_DIG;
        }
        if c == b'-' {
            class |= LDH;
        }
        // atext = ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~" (RFC 5322 §3.2.3)
        if matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        ) {
            class |= ATEXT;
        }
        if (c >= 33 && c <= 90) || (c >= 94 && c <= 126) {
            class |= DCONTENT;
        }
        table[b] = class;
        b += 1;
    }
    table
};

#[inline]
pub(crate) fn is_atext(b: u8) -> bool {
    CLASS[usize::from(b)] & ATEXT != 0
}

#[inline]
fn has(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

/// A position in a UTF-8 text being parsed.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    utf8: bool,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, utf8: bool) -> Self {
        Cursor {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            utf8,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, reason: &'static str) -> Result<(), PathError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(PathError::Syntax(reason))
        }
    }

    fn finish(&self) -> Result<(), PathError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(PathError::Syntax("unexpected character"))
        }
    }

    #[inline]
    fn slice(&self, from: usize, to: usize) -> Result<&'a str, PathError> {
        // Every cut is next to an ASCII delimiter, so on a char boundary.
        self.text
            .get(from..to)
            .ok_or(PathError::Syntax("cut inside a character"))
    }

    /// A non-ASCII octet where UTF-8 is allowed under SMTPUTF8 only.
    #[inline]
    fn non_ascii(&self) -> Result<(), PathError> {
        if self.utf8 {
            Ok(())
        } else {
            Err(PathError::NonAscii)
        }
    }

    /// The cursor starts at the `<` of a path, so its position is the path's
    /// length so far.
    fn check_path_len(&self) -> Result<(), PathError> {
        if self.pos > MAX_PATH {
            Err(PathError::PathTooLong)
        } else {
            Ok(())
        }
    }

    /// After `<` of a non-null path: `[ A-d-l ":" ] Mailbox ">"`.
    fn path_rest(&mut self) -> Result<Mailbox<'a>, PathError> {
        if self.peek() == Some(b'@') {
            // A source route: read and forget (RFC 5321 §4.1.2, Appendix C).
            loop {
                self.expect(b'@', "source route domain must start with '@'")?;
                self.domain()?;
                if self.eat(b':') {
                    break;
                }
                self.expect(b',', "bad source route")?;
            }
        }
        let mailbox = self.mailbox()?;
        self.expect(b'>', "path must end with '>'")?;
        Ok(mailbox)
    }

    fn mailbox(&mut self) -> Result<Mailbox<'a>, PathError> {
        let local_part = self.local_part()?;
        self.expect(b'@', "mailbox needs '@'")?;
        let domain = self.domain()?;
        Ok(Mailbox { local_part, domain })
    }

    fn local_part(&mut self) -> Result<LocalPart<'a>, PathError> {
        let start = self.pos;
        if self.eat(b'"') {
            loop {
                match self.peek() {
                    None => return Err(PathError::Syntax("unterminated quoted-string")),
                    Some(b'"') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b'\\') => {
                        match self.bytes.get(self.pos + 1) {
                            Some(32..=126) => {}
                            _ => return Err(PathError::Syntax("bad quoted pair")),
                        }
                        self.pos += 2;
                    }
                    Some(32..=126) => self.pos += 1,
                    Some(128..) => {
                        self.non_ascii()?;
                        self.pos += 1;
                    }
                    Some(_) => return Err(PathError::Syntax("control character in quoted-string")),
                }
            }
        } else {
            loop {
                let atom = self.pos;
                while let Some(b) = self.peek() {
                    if is_atext(b) {
                        self.pos += 1;
                    } else if b >= 0x80 {
                        self.non_ascii()?;
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                if self.pos == atom {
                    return Err(PathError::Syntax("empty atom in local part"));
                }
                if !self.eat(b'.') {
                    break;
                }
            }
        }
        if self.pos - start > MAX_LOCAL_PART {
            return Err(PathError::LocalPartTooLong);
        }
        Ok(LocalPart {
            wire: Cow::Borrowed(self.slice(start, self.pos)?),
        })
    }

    fn domain(&mut self) -> Result<Domain<'a>, PathError> {
        if self.peek() == Some(b'[') {
            return self.address_literal();
        }
        let start = self.pos;
        loop {
            let label = self.pos;
            let mut ascii = true;
            while let Some(b) = self.peek() {
                if has(b, LDH) {
                    self.pos += 1;
                } else if b >= 0x80 {
                    self.non_ascii()?;
                    ascii = false;
                    self.pos += 1;
                } else {
                    break;
                }
            }
            let Some(label_bytes) = self.bytes.get(label..self.pos) else {
                return Err(PathError::Syntax("bad label"));
            };
            match (label_bytes.first(), label_bytes.last()) {
                (Some(b'-'), _) | (_, Some(b'-')) => {
                    return Err(PathError::Syntax("label starts or ends with '-'"));
                }
                (None, _) => return Err(PathError::Syntax("empty label in domain")),
                _ => {}
            }
            if ascii && label_bytes.len() > MAX_LABEL {
                return Err(PathError::Syntax("label longer than 63 octets"));
            }
            if !self.eat(b'.') {
                break;
            }
        }
        if self.pos - start > MAX_DOMAIN {
            return Err(PathError::DomainTooLong);
        }
        Ok(Domain::Name(Cow::Borrowed(self.slice(start, self.pos)?)))
    }

    fn address_literal(&mut self) -> Result<Domain<'a>, PathError> {
        let open = self.pos;
        let inner_start = open + 1;
        let rest = self.bytes.get(inner_start..).unwrap_or_default();
        let Some(len) = memchr::memchr(b']', rest) else {
            return Err(PathError::Syntax("unterminated address literal"));
        };
        let close = inner_start + len;
        if close + 1 - open > MAX_DOMAIN {
            return Err(PathError::DomainTooLong);
        }
        let inner = self.slice(inner_start, close)?;
        self.pos = close + 1;
        if let Some((tag, content)) = inner.split_once(':') {
            if tag.eq_ignore_ascii_case("IPv6") {
                return content
                    .parse::<Ipv6Addr>()
                    .map(|ip| Domain::Ip(IpAddr::V6(ip)))
                    .map_err(|_| PathError::Syntax("bad IPv6 address literal"));
            }
            let tag_ok = tag.bytes().all(|b| has(b, LDH))
                && tag.bytes().last().is_some_and(|b| has(b, LET_DIG));
            let content_ok = !content.is_empty() && content.bytes().all(|b| has(b, DCONTENT));
            if tag_ok && content_ok {
                Ok(Domain::General(Cow::Borrowed(inner)))
            } else if inner.is_ascii() {
                Err(PathError::Syntax("bad general address literal"))
            } else {
                self.non_ascii()?;
                Err(PathError::Syntax("non-ASCII in address literal"))
            }
        } else {
            parse_ipv4(inner.as_bytes())
                .map(|ip| Domain::Ip(IpAddr::V4(ip)))
                .ok_or(PathError::Syntax("bad IPv4 address literal"))
        }
    }
}

/// `Snum 3("." Snum)`, `Snum = 1*3DIGIT` of value 0 to 255 (RFC 5321 §4.1.3).
fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 {
            return None;
        }
        let mut value = 0u16;
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(b - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Parses a domain or address literal that makes up the whole of `text` (the
/// argument of EHLO and HELO).
pub(crate) fn parse_domain_str(text: &str, utf8: bool) -> Result<Domain<'_>, PathError> {
    let mut cursor = Cursor::new(text, utf8);
    let domain = cursor.domain()?;
    cursor.finish()?;
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Domain<'_> {
        Domain::Name(Cow::Borrowed(s))
    }

    #[test]
    fn reverse_path_forms_rfc5321_4_1_2() {
        assert_eq!(ReversePath::parse(b"<>", false), Ok(ReversePath::Null));
        let path = ReversePath::parse(b"<user@example.com>", false).unwrap();
        let mailbox = path.mailbox().unwrap();
        assert_eq!(mailbox.local_part.as_wire(), "user");
        assert_eq!(mailbox.domain, name("example.com"));
        assert_eq!(path.to_string(), "<user@example.com>");
    }

    #[test]
    fn source_route_is_dropped_rfc5321_appendix_c() {
        let path = ReversePath::parse(b"<@a.example,@b.example:user@c.example>", false).unwrap();
        assert_eq!(path.to_string(), "<user@c.example>");
        assert!(ReversePath::parse(b"<@a.example user@c.example>", false).is_err());
        assert!(ReversePath::parse(b"<@:user@c.example>", false).is_err());
    }

    #[test]
    fn quoted_local_part_rfc5321_4_1_2() {
        let local = LocalPart::parse(br#""a \"b\" \\ c""#, false).unwrap();
        assert!(local.is_quoted());
        assert_eq!(local.value(), r#"a "b" \ c"#);
        assert_eq!(local.as_wire(), r#""a \"b\" \\ c""#);
        let plain = LocalPart::parse(br#""a b""#, false).unwrap();
        assert!(matches!(plain.value(), Cow::Borrowed("a b")));
        assert_eq!(
            LocalPart::from_value(r#"a "b""#, false).unwrap().as_wire(),
            r#""a \"b\"""#
        );
        assert_eq!(
            LocalPart::from_value("first.last", false)
                .unwrap()
                .as_wire(),
            "first.last"
        );
    }

    #[test]
    fn ipv4_snum_rfc5321_4_1_3() {
        assert_eq!(parse_ipv4(b"192.0.2.1"), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(parse_ipv4(b"010.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(parse_ipv4(b"256.0.0.1"), None);
        assert_eq!(parse_ipv4(b"1.2.3"), None);
        assert_eq!(parse_ipv4(b"1.2.3.4.5"), None);
        assert_eq!(parse_ipv4(b"1.2..4"), None);
        assert_eq!(parse_ipv4(b"0001.2.3.4"), None);
    }
}
