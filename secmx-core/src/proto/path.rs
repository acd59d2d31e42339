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
//!
//! The plain forms (`<dot-string@domain>` and a quoted local part without
//! quoted pairs, in ASCII) are checked in one pass; every other path, and
//! every error, goes through the general scanner, which gives the same
//! answers.

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
        parse_domain_str(text, utf8)
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
        let end = scan_local_part(text.as_bytes(), 0, &mut Utf8::new(utf8))?;
        at_end(text, end)?;
        Ok(LocalPart {
            wire: Cow::Borrowed(text),
        })
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
        let (mailbox, end) = parse_mailbox_at(text, 0, &mut Utf8::new(utf8))?;
        at_end(text, end)?;
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
        let (path, end) = Self::parse_prefix_str(text, &mut Utf8::new(utf8))?;
        if end != text.len() {
            return Err(PathError::Syntax("text after path"));
        }
        Ok(path)
    }

    /// Parses the reverse-path at the start of `text`; returns it and the
    /// number of bytes it took.
    #[inline(always)]
    pub(crate) fn parse_prefix_str(
        text: &'a str,
        utf8: &mut Utf8,
    ) -> Result<(Self, usize), PathError> {
        let span = scan_path(text, false, utf8)?;
        let path = match span.mailbox {
            None => ReversePath::Null,
            Some(mailbox) => ReversePath::Mailbox(mailbox.build()),
        };
        Ok((path, span.end))
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
        let (path, end) = Self::parse_prefix_str(text, &mut Utf8::new(utf8))?;
        if end != text.len() {
            return Err(PathError::Syntax("text after path"));
        }
        Ok(path)
    }

    /// Parses the forward-path at the start of `text`; returns it and the
    /// number of bytes it took.
    #[inline(always)]
    pub(crate) fn parse_prefix_str(
        text: &'a str,
        utf8: &mut Utf8,
    ) -> Result<(Self, usize), PathError> {
        let span = scan_path(text, true, utf8)?;
        let path = match span.mailbox {
            None => ForwardPath::Postmaster,
            Some(mailbox) => ForwardPath::Mailbox(mailbox.build()),
        };
        Ok((path, span.end))
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
/// Where the run of octets of `class` that starts at `from` ends.
#[inline(always)]
pub(crate) fn run_end(bytes: &[u8], from: usize, class: u8) -> usize {
    let mut pos = from;
    // Eight octets at a time while eight remain: the loop over an array is
    // unrolled and needs no bounds checks.
    while let Some(chunk) = bytes.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
        match chunk.iter().position(|&b| !has(b, class)) {
            Some(i) => return pos + i,
            None => pos += 8,
        }
    }
    while let Some(&b) = bytes.get(pos)
        && has(b, class)
    {
        pos += 1;
    }
    pos
}

/// Scanning eight octets at a time: a `u64` holds eight octets (the first
/// in its low byte), and each test leaves bit 7 of an octet set where the
/// octet passes. The tests take octets below 0x80; callers clear bit 7 first
/// and treat octets that had it set apart.
pub(crate) mod word {
    /// 0x01 in every octet.
    pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
    /// Bit 7 of every octet.
    pub(crate) const HIGH: u64 = 0x8080_8080_8080_8080;

    /// The eight octets of `bytes` from `pos`, octets past the end read as
    /// 0. `None` only if `pos` is past the end.
    #[inline(always)]
    pub(crate) fn at(bytes: &[u8], pos: usize) -> Option<u64> {
        let rest = bytes.get(pos..)?;
        if let Some(chunk) = rest.first_chunk::<8>() {
            return Some(u64::from_le_bytes(*chunk));
        }
        if let Some(last) = bytes.last_chunk::<8>() {
            // The last eight octets end with `rest` (0 to 7 octets): shift
            // the ones before it out.
            let shift = 8 * (8 - rest.len()) as u32;
            return Some(u64::from_le_bytes(*last).checked_shr(shift).unwrap_or(0));
        }
        Some(padded(rest))
    }

    /// Up to eight octets, zero-padded.
    #[inline(never)]
    fn padded(rest: &[u8]) -> u64 {
        let mut buf = [0u8; 8];
        for (to, &from) in buf.iter_mut().zip(rest) {
            *to = from;
        }
        u64::from_le_bytes(buf)
    }

    /// Octets of `y` (each below 0x80) in `lo..=hi`.
    #[inline(always)]
    pub(crate) const fn in_range(y: u64, lo: u8, hi: u8) -> u64 {
        // For an octet below 0x80, adding 0x80 - lo sets its bit 7 when it
        // is at least lo, and adding 0x7f - hi when it is above hi; neither
        // carries into the next octet.
        let at_least_lo = y.wrapping_add(ONES * (0x80 - lo as u64));
        let above_hi = y.wrapping_add(ONES * (0x7f - hi as u64));
        at_least_lo & !above_hi & HIGH
    }

    /// The index of the first octet whose bit 7 is set in `mask`, which is
    /// not 0.
    #[inline(always)]
    pub(crate) const fn first(mask: u64) -> usize {
        (mask.trailing_zeros() / 8) as usize
    }

    /// Where the first `needle` (below 0x80) at or after `from` is.
    #[inline(always)]
    pub(crate) fn find(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
        let mut pos = from;
        while pos < bytes.len() {
            let word = at(bytes, pos)?;
            let found = in_range(word & !HIGH, needle, needle) & !word;
            if found != 0 {
                let at = pos + first(found);
                return (at < bytes.len()).then_some(at);
            }
            pos += 8;
        }
        None
    }
}

/// Where the run of esmtp-value octets (`%d33-60 / %d62-126`) from `from`
/// ends.
#[inline(always)]
pub(crate) fn value_run_end(bytes: &[u8], from: usize) -> usize {
    use word::{HIGH, first, in_range};
    let mut pos = from;
    while let Some(w) = word::at(bytes, pos) {
        let y = w & !HIGH;
        let ok = in_range(y, 0x21, 0x7e) & !in_range(y, b'=', b'=') & !w;
        let stop = !ok & HIGH;
        if stop != 0 {
            // Octets past the end read as 0, which stops the run.
            return pos + first(stop);
        }
        pos += 8;
    }
    pos
}

const LDH: u8 = 2;
pub(crate) const LET_DIG: u8 = 4;
const DCONTENT: u8 = 8;
/// esmtp-value octets: `%d33-60 / %d62-126` (RFC 5321 §4.1.2).
pub(crate) const ESMTP_VALUE: u8 = 16;
/// esmtp-keyword octets after the first: `ALPHA / DIGIT / "-"`.
pub(crate) const KEYWORD: u8 = LDH;
/// qtextSMTP octets: `%d32-33 / %d35-91 / %d93-126`.
const QTEXT: u8 = 32;

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
        if c >= 33 && c <= 126 && c != b'=' {
            class |= ESMTP_VALUE;
        }
        if c >= 32 && c <= 126 && c != b'"' && c != b'\\' {
            class |= QTEXT;
        }
        table[b] = class;
        b += 1;
    }
    table
};

#[inline]
pub(crate) fn is_atext(b: u8) -> bool {
    // A u8 index into a 256-entry table.
    CLASS[usize::from(b)] & ATEXT != 0
}

#[inline(always)]
pub(crate) fn has(b: u8, class: u8) -> bool {
    // A u8 index into a 256-entry table.
    CLASS[usize::from(b)] & class != 0
}

/// Whether non-ASCII octets are allowed (SMTPUTF8 in force), and whether
/// any were met.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Utf8 {
    allowed: bool,
    /// A non-ASCII octet was taken.
    pub(crate) seen: bool,
}

impl Utf8 {
    #[inline(always)]
    pub(crate) fn new(allowed: bool) -> Self {
        Utf8 {
            allowed,
            seen: false,
        }
    }

    /// Takes a non-ASCII octet, if allowed.
    #[inline(always)]
    fn take(&mut self) -> Result<(), PathError> {
        if self.allowed {
            self.seen = true;
            Ok(())
        } else {
            Err(PathError::NonAscii)
        }
    }
}

/// `text[from..to]`; every cut is next to an ASCII delimiter, so on a char
/// boundary.
#[inline(always)]
fn slice(text: &str, from: usize, to: usize) -> Result<&str, PathError> {
    text.get(from..to)
        .ok_or(PathError::Syntax("cut inside a character"))
}

/// Scans the local part starting at `start`; returns where it ends.
#[inline(always)]
fn scan_local_part(bytes: &[u8], start: usize, utf8: &mut Utf8) -> Result<usize, PathError> {
    let end = if bytes.get(start) == Some(&b'"') {
        scan_quoted_string(bytes, start, utf8)?
    } else {
        scan_dot_string(bytes, start, utf8)?
    };
    if end - start > MAX_LOCAL_PART {
        return Err(PathError::LocalPartTooLong);
    }
    Ok(end)
}

/// `Atom *("." Atom)`.
#[inline(always)]
fn scan_dot_string(bytes: &[u8], start: usize, utf8: &mut Utf8) -> Result<usize, PathError> {
    let mut pos = start;
    loop {
        let atom = pos;
        pos = run_end(bytes, pos, ATEXT);
        while let Some(&b) = bytes.get(pos)
            && b >= 0x80
        {
            utf8.take()?;
            pos = run_end(bytes, pos + 1, ATEXT);
        }
        if pos == atom {
            return Err(PathError::Syntax("empty atom in local part"));
        }
        if bytes.get(pos) != Some(&b'.') {
            return Ok(pos);
        }
        pos += 1;
    }
}

/// `DQUOTE *QcontentSMTP DQUOTE`.
#[inline(never)]
fn scan_quoted_string(bytes: &[u8], start: usize, utf8: &mut Utf8) -> Result<usize, PathError> {
    let mut pos = start + 1;
    loop {
        match bytes.get(pos) {
            None => return Err(PathError::Syntax("unterminated quoted-string")),
            Some(b'"') => return Ok(pos + 1),
            Some(b'\\') => {
                match bytes.get(pos + 1) {
                    Some(32..=126) => {}
                    _ => return Err(PathError::Syntax("bad quoted pair")),
                }
                pos += 2;
            }
            Some(32..=126) => pos += 1,
            Some(128..) => {
                utf8.take()?;
                pos += 1;
            }
            Some(_) => return Err(PathError::Syntax("control character in quoted-string")),
        }
    }
}

/// Scans a domain name or address literal starting at `start`; returns
/// where it ends and whether it is a literal.
#[inline(always)]
fn scan_domain(bytes: &[u8], start: usize, utf8: &mut Utf8) -> Result<(usize, bool), PathError> {
    if bytes.get(start) == Some(&b'[') {
        Ok((scan_literal(bytes, start)?, true))
    } else {
        Ok((scan_domain_name(bytes, start, utf8)?, false))
    }
}

/// `sub-domain *("." sub-domain)`, with U-labels under SMTPUTF8.
#[inline(always)]
fn scan_domain_name(bytes: &[u8], start: usize, utf8: &mut Utf8) -> Result<usize, PathError> {
    let mut pos = start;
    loop {
        // One label: a letter, digit or (under SMTPUTF8) non-ASCII octet,
        // then any of those and `-`, not ending in `-`.
        let label = pos;
        pos = run_end(bytes, pos, LDH);
        let mut ascii = true;
        while let Some(&b) = bytes.get(pos)
            && b >= 0x80
        {
            utf8.take()?;
            ascii = false;
            pos = run_end(bytes, pos + 1, LDH);
        }
        let (Some(&first), Some(&last)) = (bytes.get(label), bytes.get(pos.wrapping_sub(1))) else {
            return Err(PathError::Syntax("empty label in domain"));
        };
        if pos == label {
            return Err(PathError::Syntax("empty label in domain"));
        }
        if first == b'-' || last == b'-' {
            return Err(PathError::Syntax("label starts or ends with '-'"));
        }
        if ascii && pos - label > MAX_LABEL {
            return Err(PathError::Syntax("label longer than 63 octets"));
        }
        if bytes.get(pos) != Some(&b'.') {
            break;
        }
        pos += 1;
    }
    if pos - start > MAX_DOMAIN {
        return Err(PathError::DomainTooLong);
    }
    Ok(pos)
}

/// Finds the `]` that ends the address literal at `start`.
#[inline(never)]
fn scan_literal(bytes: &[u8], start: usize) -> Result<usize, PathError> {
    let rest = bytes.get(start..).unwrap_or_default();
    let Some(close) = memchr::memchr(b']', rest) else {
        return Err(PathError::Syntax("unterminated address literal"));
    };
    if close + 1 > MAX_DOMAIN {
        return Err(PathError::DomainTooLong);
    }
    Ok(start + close + 1)
}

/// The domain scanned from `start` to `end`.
#[inline(always)]
fn build_domain<'a>(
    text: &'a str,
    start: usize,
    end: usize,
    literal: bool,
    utf8: &mut Utf8,
) -> Result<Domain<'a>, PathError> {
    let domain = slice(text, start, end)?;
    if literal {
        parse_literal(domain, utf8)
    } else {
        Ok(Domain::Name(Cow::Borrowed(domain)))
    }
}

/// An address literal, brackets included (RFC 5321 §4.1.3).
#[inline(never)]
fn parse_literal<'a>(literal: &'a str, utf8: &mut Utf8) -> Result<Domain<'a>, PathError> {
    let Some(inner) = literal
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return Err(PathError::Syntax("bad address literal"));
    };
    if !inner.is_ascii() {
        utf8.take()?;
        return Err(PathError::Syntax("non-ASCII in address literal"));
    }
    if let Some((tag, content)) = inner.split_once(':') {
        if tag.eq_ignore_ascii_case("IPv6") {
            return content
                .parse::<Ipv6Addr>()
                .map(|ip| Domain::Ip(IpAddr::V6(ip)))
                .map_err(|_| PathError::Syntax("bad IPv6 address literal"));
        }
        let tag_ok =
            tag.bytes().all(|b| has(b, LDH)) && tag.bytes().last().is_some_and(|b| has(b, LET_DIG));
        let content_ok = !content.is_empty() && content.bytes().all(|b| has(b, DCONTENT));
        if tag_ok && content_ok {
            Ok(Domain::General(Cow::Borrowed(inner)))
        } else {
            Err(PathError::Syntax("bad general address literal"))
        }
    } else {
        parse_ipv4(inner.as_bytes())
            .map(|ip| Domain::Ip(IpAddr::V4(ip)))
            .ok_or(PathError::Syntax("bad IPv4 address literal"))
    }
}

/// `A-d-l ":"` from the `@` at `pos`: read and forget (RFC 5321 §4.1.2,
/// Appendix C). Returns where the mailbox starts.
#[inline(never)]
fn skip_source_route(text: &str, mut pos: usize, utf8: &mut Utf8) -> Result<usize, PathError> {
    let bytes = text.as_bytes();
    loop {
        if bytes.get(pos) != Some(&b'@') {
            return Err(PathError::Syntax("source route domain must start with '@'"));
        }
        let (end, literal) = scan_domain(bytes, pos + 1, utf8)?;
        build_domain(text, pos + 1, end, literal, utf8)?;
        pos = end + 1;
        match bytes.get(end) {
            Some(b':') => return Ok(pos),
            Some(b',') => {}
            _ => return Err(PathError::Syntax("bad source route")),
        }
    }
}

/// The mailbox starting at `start`, and where it ends.
#[inline(always)]
fn parse_mailbox_at<'a>(
    text: &'a str,
    start: usize,
    utf8: &mut Utf8,
) -> Result<(Mailbox<'a>, usize), PathError> {
    let bytes = text.as_bytes();
    let local_end = scan_local_part(bytes, start, utf8)?;
    if bytes.get(local_end) != Some(&b'@') {
        return Err(PathError::Syntax("mailbox needs '@'"));
    }
    let domain_start = local_end + 1;
    let (domain_end, literal) = scan_domain(bytes, domain_start, utf8)?;
    let mailbox = Mailbox {
        local_part: LocalPart {
            wire: Cow::Borrowed(slice(text, start, local_end)?),
        },
        domain: build_domain(text, domain_start, domain_end, literal, utf8)?,
    };
    Ok((mailbox, domain_end))
}

/// Where a scanned path's mailbox lies; turned into a [`Mailbox`] without
/// further checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MailboxSpan<'a> {
    local: &'a str,
    domain: &'a str,
    literal: bool,
}

impl<'a> MailboxSpan<'a> {
    #[inline(always)]
    pub(crate) fn build(self) -> Mailbox<'a> {
        Mailbox {
            local_part: LocalPart {
                wire: Cow::Borrowed(self.local),
            },
            domain: if self.literal {
                literal_of(self.domain)
            } else {
                Domain::Name(Cow::Borrowed(self.domain))
            },
        }
    }
}

/// An address literal the scan has checked.
#[inline(always)]
fn literal_of(literal: &str) -> Domain<'_> {
    // The scan validated it; the fallback only keeps this total.
    parse_literal(literal, &mut Utf8::new(true)).unwrap_or(Domain::General(Cow::Borrowed(literal)))
}

/// A scanned path: its mailbox (none for `<>` and `<Postmaster>`) and
/// where it ends, after its `>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathSpan<'a> {
    pub(crate) mailbox: Option<MailboxSpan<'a>>,
    pub(crate) end: usize,
}

/// Scans the path at the start of `text`: a reverse-path (`<>` allowed) or
/// a forward-path (`<Postmaster>` allowed).
#[inline(always)]
pub(crate) fn scan_path<'a>(
    text: &'a str,
    forward: bool,
    utf8: &mut Utf8,
) -> Result<PathSpan<'a>, PathError> {
    if !forward && text.as_bytes().get(..2) == Some(b"<>") {
        return Ok(PathSpan {
            mailbox: None,
            end: 2,
        });
    }
    if let Some((local_end, domain_end)) = scan_plain_path(text.as_bytes()) {
        return Ok(PathSpan {
            mailbox: Some(MailboxSpan {
                local: slice(text, 1, local_end)?,
                domain: slice(text, local_end + 1, domain_end)?,
                literal: false,
            }),
            end: domain_end + 1,
        });
    }
    scan_any_path(text, forward, utf8)
}

/// The common path, `<dot-string@domain-name>` or `<"quoted"@domain-name>`
/// (no quoted pairs) in ASCII, checked in one pass: where its local part
/// and its domain end. `None` for anything else (`<>`, `<Postmaster>`,
/// source routes, quoted pairs, address literals, non-ASCII, errors), which
/// [`scan_any_path`] reads.
#[inline(always)]
fn scan_plain_path(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.first() != Some(&b'<') {
        return None;
    }
    let mut pos = 1;
    if bytes.get(pos) == Some(&b'"') {
        // A quoted string without quoted pairs, then "@".
        pos = run_end(bytes, pos + 1, QTEXT);
        if bytes.get(pos) != Some(&b'"') {
            return None;
        }
        pos += 1;
        if bytes.get(pos) != Some(&b'@') {
            return None;
        }
    } else {
        // Atoms of atext, one dot between them, then "@".
        loop {
            let atom = pos;
            pos = run_end(bytes, pos, ATEXT);
            if pos == atom {
                return None;
            }
            match bytes.get(pos) {
                Some(b'.') => pos += 1,
                Some(b'@') => break,
                _ => return None,
            }
        }
    }
    let local_end = pos;
    if local_end - 1 > MAX_LOCAL_PART {
        return None;
    }
    let domain_end = plain_domain_end(bytes, local_end + 1)?;
    if bytes.get(domain_end) != Some(&b'>') || domain_end + 1 > MAX_PATH {
        return None;
    }
    Some((local_end, domain_end))
}

/// A domain name in ASCII from `start`, checked in one pass: labels that
/// start and end with a letter or digit, one dot between them. Where it
/// ends, at the first octet that is none of those, if the name is well
/// formed; `None` otherwise, for [`scan_domain_name`] to read. Callers
/// accept only an ASCII octet (or the end) there: after a non-ASCII octet
/// the name may go on as a U-label.
#[inline(always)]
fn plain_domain_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        let label = pos;
        if !bytes.get(pos).is_some_and(|&b| has(b, LET_DIG)) {
            return None;
        }
        pos = run_end(bytes, pos + 1, LDH);
        if pos - label > MAX_LABEL || bytes.get(pos - 1) == Some(&b'-') {
            return None;
        }
        if bytes.get(pos) != Some(&b'.') {
            break;
        }
        pos += 1;
    }
    (pos - start <= MAX_DOMAIN).then_some(pos)
}

/// [`scan_path`] for every form of path.
#[inline(never)]
fn scan_any_path<'a>(
    text: &'a str,
    forward: bool,
    utf8: &mut Utf8,
) -> Result<PathSpan<'a>, PathError> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'<') {
        return Err(PathError::Syntax("path must start with '<'"));
    }
    if forward {
        if bytes.get(1).is_some_and(|&b| b | 0x20 == b'p')
            && bytes
                .get(1..12)
                .is_some_and(|head| head.eq_ignore_ascii_case(b"postmaster>"))
        {
            return Ok(PathSpan {
                mailbox: None,
                end: 12,
            });
        }
    } else if bytes.get(1) == Some(&b'>') {
        return Ok(PathSpan {
            mailbox: None,
            end: 2,
        });
    }
    let start = if bytes.get(1) == Some(&b'@') {
        skip_source_route(text, 1, utf8)?
    } else {
        1
    };
    let local_end = scan_local_part(bytes, start, utf8)?;
    if bytes.get(local_end) != Some(&b'@') {
        return Err(PathError::Syntax("mailbox needs '@'"));
    }
    let (domain_end, literal) = scan_domain(bytes, local_end + 1, utf8)?;
    let domain = slice(text, local_end + 1, domain_end)?;
    if literal {
        parse_literal(domain, utf8)?;
    }
    if bytes.get(domain_end) != Some(&b'>') {
        return Err(PathError::Syntax("path must end with '>'"));
    }
    if domain_end + 1 > MAX_PATH {
        return Err(PathError::PathTooLong);
    }
    Ok(PathSpan {
        mailbox: Some(MailboxSpan {
            local: slice(text, start, local_end)?,
            domain,
            literal,
        }),
        end: domain_end + 1,
    })
}

/// Requires `end` to be the end of `text`.
#[inline(always)]
fn at_end(text: &str, end: usize) -> Result<(), PathError> {
    if end == text.len() {
        Ok(())
    } else {
        Err(PathError::Syntax("unexpected character"))
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
    let mut utf8 = Utf8::new(utf8);
    let (end, literal) = scan_domain(text.as_bytes(), 0, &mut utf8)?;
    at_end(text, end)?;
    build_domain(text, 0, end, literal, &mut utf8)
}

/// Checks that `text` is one domain or address literal; returns whether it
/// is a literal. [`domain_of`] then builds it.
#[inline(always)]
pub(crate) fn scan_whole_domain(text: &str, utf8: bool) -> Result<bool, PathError> {
    if plain_domain_end(text.as_bytes(), 0) == Some(text.len()) {
        return Ok(false);
    }
    scan_any_whole_domain(text, utf8)
}

/// [`scan_whole_domain`] for every form of domain.
#[inline(never)]
fn scan_any_whole_domain(text: &str, utf8: bool) -> Result<bool, PathError> {
    let mut utf8 = Utf8::new(utf8);
    let (end, literal) = scan_domain(text.as_bytes(), 0, &mut utf8)?;
    at_end(text, end)?;
    if literal {
        parse_literal(text, &mut utf8)?;
    }
    Ok(literal)
}

/// The domain of a `text` that [`scan_whole_domain`] accepted.
#[inline(always)]
pub(crate) fn domain_of(text: &str, literal: bool) -> Domain<'_> {
    if literal {
        literal_of(text)
    } else {
        Domain::Name(Cow::Borrowed(text))
    }
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

    /// Every slice of a buffer with each kind of octet, at every offset.
    fn slices() -> Vec<Vec<u8>> {
        let octets = b"aZ09-.=+ \x00\x1f\x7f\x80\xc3\xff!~<>@,;";
        let mut out = Vec::new();
        for len in 0..24 {
            for shift in 0..octets.len() {
                out.push(
                    (0..len)
                        .map(|i| octets[(i * 7 + shift) % octets.len()])
                        .collect(),
                );
                // Long runs of one octet, ending in each other one.
                let mut run = vec![octets[shift]; len];
                run.push(octets[(shift + len) % octets.len()]);
                out.push(run);
            }
        }
        out
    }

    #[test]
    fn word_scans_match_octet_scans() {
        // Under miri every ninth slice (odd, so both kinds of slice come up):
        // all of them take many minutes there.
        let stride = if cfg!(miri) { 9 } else { 1 };
        for bytes in slices().into_iter().step_by(stride) {
            for from in 0..=bytes.len() + 1 {
                assert_eq!(
                    value_run_end(&bytes, from),
                    run_end(&bytes, from, ESMTP_VALUE),
                    "{bytes:?} from {from}"
                );
                for needle in [b'+', b',', b'.', 0] {
                    let want = bytes
                        .get(from..)
                        .and_then(|rest| rest.iter().position(|&b| b == needle))
                        .map(|i| from + i);
                    assert_eq!(word::find(&bytes, from, needle), want, "{bytes:?} {needle}");
                }
                let mut padded = bytes.get(from..).unwrap_or_default().to_vec();
                padded.resize(8, 0);
                padded.truncate(8);
                let want = (from <= bytes.len())
                    .then(|| u64::from_le_bytes(padded.try_into().expect("eight octets")));
                assert_eq!(word::at(&bytes, from), want, "{bytes:?} from {from}");
            }
        }
    }

    /// The one-pass scan of plain paths agrees with the general scan
    /// wherever it answers (RFC 5321 §4.1.2, §4.5.3.1).
    #[test]
    fn plain_path_scan_agrees_with_general_scan_rfc5321_4_1_2() {
        let long_label = "a".repeat(63);
        let too_long_label = "a".repeat(64);
        let long_local = "b".repeat(64);
        let too_long_local = "b".repeat(65);
        let mut paths: Vec<String> = [
            "<a@b>",
            "<a.b@c.d>",
            "<a..b@c>",
            "<.a@b>",
            "<a.@b>",
            "<a@b.>",
            "<a@.b>",
            "<a@b..c>",
            "<a@-b>",
            "<a@b->",
            "<a@b-c.d-e>",
            "<a@b>x",
            "<a@b",
            "<@a:b@c>",
            "<\"a\"@b>",
            "<a@[1.2.3.4]>",
            "<>",
            "<postmaster>",
            "<Postmaster@x>",
            "<a+b=c/d@x9.y>",
            "<a b@c>",
            "<a@b c>",
            "<a@b\u{e9}>",
            "<\u{e9}@b>",
            r#"<"a b"@c>"#,
            r#"<""@c>"#,
            r#"<"a\"b"@c>"#,
            r#"<"a"b@c>"#,
            r#"<"a@b>"#,
            "<\"a\u{e9}\"@b>",
            "<\"a\tb\"@c>",
            r#"<"@"@c.d>"#,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        paths.push(format!("<a@{long_label}.b>"));
        paths.push(format!("<a@{too_long_label}.b>"));
        paths.push(format!("<{long_local}@b>"));
        paths.push(format!("<{too_long_local}@b>"));
        paths.push(format!("<a@{}>", [long_label.as_str(); 4].join(".")));
        paths.push(format!(
            "<{long_local}@{}>",
            [long_label.as_str(); 3].join(".")
        ));
        for path in &paths {
            for forward in [false, true] {
                let general = scan_any_path(path, forward, &mut Utf8::new(true));
                match scan_plain_path(path.as_bytes()) {
                    Some((local_end, domain_end)) => {
                        let span = general.expect("the general scan accepts it");
                        let mailbox = span.mailbox.expect("a mailbox");
                        assert_eq!(mailbox.local, &path[1..local_end], "{path}");
                        assert_eq!(mailbox.domain, &path[local_end + 1..domain_end], "{path}");
                        assert!(!mailbox.literal);
                        assert_eq!(span.end, domain_end + 1, "{path}");
                    }
                    None => {
                        // Left to the general scan; either answer is its own.
                        let again = scan_path(path, forward, &mut Utf8::new(true));
                        assert_eq!(format!("{again:?}"), format!("{general:?}"), "{path}");
                    }
                }
            }
        }
    }

    /// The one-pass check of plain domains agrees with the general scan
    /// (RFC 5321 §4.1.2, RFC 1035 §2.3.4).
    #[test]
    fn plain_domain_check_agrees_with_general_scan_rfc5321_4_1_2() {
        let label = "a".repeat(63);
        let domains = [
            "a".to_owned(),
            "mail.sender.example.org".to_owned(),
            "a-b.c".to_owned(),
            "-a.b".to_owned(),
            "a-.b".to_owned(),
            "a..b".to_owned(),
            ".a".to_owned(),
            "a.".to_owned(),
            "a b".to_owned(),
            "a\u{e9}.b".to_owned(),
            "[192.0.2.1]".to_owned(),
            format!("{label}.b"),
            format!("{label}a.b"),
            [label.as_str(); 4].join("."),
            [label.as_str(); 5].join("."),
        ];
        for domain in &domains {
            for utf8 in [false, true] {
                assert_eq!(
                    scan_whole_domain(domain, utf8),
                    scan_any_whole_domain(domain, utf8),
                    "{domain}"
                );
            }
        }
    }

    #[test]
    fn word_in_range_matches_octets() {
        for (lo, hi) in [
            (0x21, 0x7e),
            (b'=', b'='),
            (b'a', b'z'),
            (b'-', b'.'),
            (0, 0x7f),
        ] {
            for b in 0..0x80u8 {
                let y = u64::from(b) << 24 | 0x7f00_0000_0000_0000;
                let want = (lo..=hi).contains(&b);
                assert_eq!(
                    word::in_range(y, lo, hi) & 0x8000_0000 != 0,
                    want,
                    "{b} in {lo}..={hi}"
                );
            }
        }
    }
}
