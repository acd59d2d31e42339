//! EHLO capabilities (RFC 5321 §4.1.1.1 and the extension RFCs).
//!
//! ```text
//! ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
//!              / ( "250-" Domain [ SP ehlo-greet ] CRLF
//!                  *( "250-" ehlo-line CRLF )
//!                  "250" SP ehlo-line CRLF )
//! ehlo-line    = ehlo-keyword *( SP ehlo-param )
//! ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! ehlo-param   = 1*(%d33-126)
//! ```
//!
//! [`Capabilities`] is the typed set a client keeps in its session state
//! after EHLO, and the set a server announces. Typed: PIPELINING (RFC 2920),
//! SIZE (RFC 1870), STARTTLS (RFC 3207), 8BITMIME (RFC 6152),
//! ENHANCEDSTATUSCODES (RFC 2034), SMTPUTF8 (RFC 6531), CHUNKING and
//! BINARYMIME (RFC 3030), DSN (RFC 3461), REQUIRETLS (RFC 8689) and AUTH
//! (RFC 4954). Any other keyword is kept as an [`Extension`] with its
//! parameters.
//!
//! # Reading a reply leniently
//!
//! The reply itself was already checked by [`Reply::parse`]; within it, a
//! client reads what it understands and never fails on a capability line:
//!
//! - keywords are case-insensitive (RFC 5321 §2.4) and stored in upper case;
//!   runs of spaces between words are taken as one;
//! - a line whose keyword breaks the `ehlo-keyword` grammar (`PIPE_CONNECT`,
//!   say) or with a parameter outside `%d33-126` is **ignored**: it cannot be
//!   written back as it came, and nothing here would act on it;
//! - a keyword that takes no parameter (STARTTLS, PIPELINING, …) counts even
//!   when parameters follow it; they are dropped;
//! - `SIZE` with a parameter that is not one decimal number fitting in 64 bits
//!   is **kept as an unknown [`Extension`]**, and [`Capabilities::size`] says
//!   SIZE was not offered: the number cannot be honoured;
//! - `SIZE` alone and `SIZE 0` both mean "no fixed limit" (RFC 1870 §4);
//! - AUTH mechanisms are read from `AUTH mech…` and from the old
//!   `AUTH=mech…` form (still sent by servers for old Outlook clients), merged
//!   without duplicates; a name that is not a SASL mechanism name
//!   (RFC 4422 §3.1: 1 to 20 of `A-Z 0-9 - _`) is ignored;
//! - the first of two lines with the same keyword wins.
//!
//! The set is bounded by the reply's own bounds ([`MAX_REPLY_LINES`](crate::limits::MAX_REPLY_LINES) lines of
//! at most [`MAX_REPLY_LINE`] octets).

use core::fmt;

use crate::limits::{MAX_DOMAIN, MAX_REPLY_LINE};
use crate::proto::code::ReplyCode;
use crate::proto::reply::Reply;

/// Octets of text that fit on one EHLO reply line: the code, the separator
/// and CRLF take the rest (RFC 5321 §4.5.3.1.5).
const MAX_LINE_TEXT: usize = MAX_REPLY_LINE - 3 - 1 - 2;

/// Longest SASL mechanism name (RFC 4422 §3.1).
const MAX_MECHANISM_NAME: usize = 20;

/// Why a reply could not be read as capabilities, or an extension could not
/// be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EhloError {
    /// The server did not answer EHLO with `250` (RFC 5321 §4.1.1.1); the
    /// client falls back to HELO or gives up.
    #[error("EHLO was answered with {code}, not 250 (RFC 5321 §4.1.1.1)")]
    NotOk {
        /// The code the server sent.
        code: ReplyCode,
    },
    /// The keyword breaks `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT /
    /// "-")` (RFC 5321 §4.1.1.1).
    #[error("invalid EHLO keyword (RFC 5321 §4.1.1.1)")]
    InvalidKeyword,
    /// The keyword is one of the typed capabilities; set it through
    /// [`Capabilities::insert`], [`Capabilities::set_size`] or
    /// [`Capabilities::set_auth`].
    #[error("{0} is a typed capability, not an unknown extension")]
    TypedKeyword(Keyword),
    /// A parameter is empty or has an octet outside `%d33-126`
    /// (RFC 5321 §4.1.1.1).
    #[error("invalid EHLO parameter (RFC 5321 §4.1.1.1)")]
    InvalidParameter,
    /// The keyword and parameters do not fit on one reply line
    /// (RFC 5321 §4.5.3.1.5).
    #[error("EHLO line longer than a reply line allows (RFC 5321 §4.5.3.1.5)")]
    TooLong,
}

/// The capabilities that have a type here, by EHLO keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Keyword {
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `SIZE [number]` (RFC 1870).
    Size,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism…` (RFC 4954).
    Auth,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime,
    /// `CHUNKING` (RFC 3030).
    Chunking,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
}

impl Keyword {
    /// Every typed keyword, in the order [`Capabilities::to_reply`] writes
    /// them.
    pub const ALL: &'static [Keyword] = &[
        Keyword::Pipelining,
        Keyword::Size,
        Keyword::StartTls,
        Keyword::Auth,
        Keyword::EnhancedStatusCodes,
        Keyword::EightBitMime,
        Keyword::BinaryMime,
        Keyword::Chunking,
        Keyword::Dsn,
        Keyword::SmtpUtf8,
        Keyword::RequireTls,
    ];

    /// The keyword as written in the EHLO reply.
    pub const fn as_str(self) -> &'static str {
        match self {
            Keyword::Pipelining => "PIPELINING",
            Keyword::Size => "SIZE",
            Keyword::StartTls => "STARTTLS",
            Keyword::Auth => "AUTH",
            Keyword::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Keyword::EightBitMime => "8BITMIME",
            Keyword::BinaryMime => "BINARYMIME",
            Keyword::Chunking => "CHUNKING",
            Keyword::Dsn => "DSN",
            Keyword::SmtpUtf8 => "SMTPUTF8",
            Keyword::RequireTls => "REQUIRETLS",
        }
    }

    /// The typed keyword with this name, compared without regard to case
    /// (RFC 5321 §2.4).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|keyword| keyword.as_str().eq_ignore_ascii_case(name))
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `SIZE` announced (RFC 1870 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// `SIZE` alone or `SIZE 0`: the server takes the SIZE parameter but
    /// announces no fixed limit.
    NoLimit,
    /// `SIZE n`: the largest message, in octets, the server accepts. Never 0.
    Max(u64),
}

/// A SASL mechanism offered with AUTH (RFC 4954 §3, names per RFC 4422 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login).
    Login,
    /// `CRAM-MD5` (RFC 2195).
    CramMd5,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802).
    ScramSha1Plus,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-256-PLUS` (RFC 7677).
    ScramSha256Plus,
    /// `GSSAPI` (RFC 4752).
    GssApi,
    /// `EXTERNAL` (RFC 4422 Appendix A).
    External,
    /// `OAUTHBEARER` (RFC 7628).
    OAuthBearer,
    /// `XOAUTH2` (Google's, not registered).
    XOAuth2,
    /// Any other valid mechanism name, in upper case. Names listed above are
    /// never read into this arm.
    Other(Box<str>),
}

impl AuthMechanism {
    const KNOWN: [AuthMechanism; 11] = [
        AuthMechanism::Plain,
        AuthMechanism::Login,
        AuthMechanism::CramMd5,
        AuthMechanism::ScramSha1,
        AuthMechanism::ScramSha1Plus,
        AuthMechanism::ScramSha256,
        AuthMechanism::ScramSha256Plus,
        AuthMechanism::GssApi,
        AuthMechanism::External,
        AuthMechanism::OAuthBearer,
        AuthMechanism::XOAuth2,
    ];

    /// The mechanism name as written in the EHLO reply.
    pub fn as_str(&self) -> &str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
            AuthMechanism::CramMd5 => "CRAM-MD5",
            AuthMechanism::ScramSha1 => "SCRAM-SHA-1",
            AuthMechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            AuthMechanism::GssApi => "GSSAPI",
            AuthMechanism::External => "EXTERNAL",
            AuthMechanism::OAuthBearer => "OAUTHBEARER",
            AuthMechanism::XOAuth2 => "XOAUTH2",
            AuthMechanism::Other(name) => name,
        }
    }

    /// The mechanism named `name` (any case), if it is a valid SASL
    /// mechanism name: 1 to 20 of `A-Z 0-9 - _` (RFC 4422 §3.1).
    pub fn from_name(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= MAX_MECHANISM_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return None;
        }
        let known = Self::KNOWN
            .into_iter()
            .find(|mechanism| mechanism.as_str().eq_ignore_ascii_case(name));
        Some(known.unwrap_or_else(|| AuthMechanism::Other(name.to_ascii_uppercase().into())))
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A capability without a type here (`VRFY`, `ETRN`, `XCLIENT NAME ADDR`,
/// …): its keyword in upper case and its parameters as they came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    keyword: Box<str>,
    /// The parameters joined by single spaces.
    params: Box<str>,
}

impl Extension {
    /// An extension line. The keyword must follow `ehlo-keyword` and not be
    /// a typed one; each parameter must be `1*(%d33-126)`; the whole line
    /// must fit on one reply line (RFC 5321 §4.1.1.1, §4.5.3.1.5).
    pub fn new<'p>(
        keyword: &str,
        params: impl IntoIterator<Item = &'p str>,
    ) -> Result<Self, EhloError> {
        if !valid_keyword(keyword) {
            return Err(EhloError::InvalidKeyword);
        }
        if let Some(typed) = Keyword::from_name(keyword) {
            return Err(EhloError::TypedKeyword(typed));
        }
        let mut joined = String::new();
        for param in params {
            if !valid_param(param) {
                return Err(EhloError::InvalidParameter);
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(param);
        }
        let line_len = keyword.len()
            + if joined.is_empty() {
                0
            } else {
                1 + joined.len()
            };
        if line_len > MAX_LINE_TEXT {
            return Err(EhloError::TooLong);
        }
        Ok(Self::unchecked(keyword, joined))
    }

    /// An extension whose parts were already checked.
    fn unchecked(keyword: &str, params: String) -> Self {
        Self {
            keyword: keyword.to_ascii_uppercase().into(),
            params: params.into(),
        }
    }

    /// The keyword, in upper case.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.params.split(' ').filter(|param| !param.is_empty())
    }

    /// The line as written in the EHLO reply.
    fn line(&self) -> String {
        if self.params.is_empty() {
            self.keyword.to_string()
        } else {
            format!("{} {}", self.keyword, self.params)
        }
    }
}

/// The capabilities a server announced in its reply to EHLO, or will announce
/// (RFC 5321 §4.1.1.1).
///
/// ```
/// use secmx_core::proto::Status;
/// use secmx_core::proto::ehlo::{Capabilities, Size};
/// use secmx_core::proto::reply::Reply;
///
/// let wire = b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
///              250-STARTTLS\r\n250 8BITMIME\r\n";
/// let Status::Complete((reply, _)) = Reply::parse(wire).unwrap() else {
///     panic!("whole reply");
/// };
/// let caps = Capabilities::from_reply(&reply).unwrap();
/// assert_eq!(caps.domain(), "mx.example.net");
/// assert!(caps.starttls() && caps.pipelining() && caps.eight_bit_mime());
/// assert_eq!(caps.size(), Some(Size::Max(10_240_000)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    domain: Box<str>,
    /// One bit per [`Keyword`].
    flags: u16,
    /// The SIZE limit; 0 when there is none or SIZE is not offered.
    size: u64,
    /// The AUTH mechanisms; empty when AUTH is not offered.
    auth: Vec<AuthMechanism>,
    /// The other extensions, in the order they came, one per keyword.
    other: Vec<Extension>,
}

impl Capabilities {
    /// An empty set for a server that names itself `domain`.
    ///
    /// The domain is not checked beyond its length: give a domain or an
    /// address literal (RFC 5321 §4.1.1.1). One longer than [`MAX_DOMAIN`]
    /// octets (RFC 5321 §4.5.3.1.2) is cut to that length. One with a space
    /// in it, or shaped like an enhanced status code (`2.0.0`, which no
    /// domain is), would not read back from [`Capabilities::to_reply`].
    pub fn new(domain: impl Into<String>) -> Self {
        let mut domain = domain.into();
        truncate(&mut domain, MAX_DOMAIN);
        Self {
            domain: domain.into_boxed_str(),
            ..Self::default()
        }
    }

    /// Reads the capabilities from a reply to EHLO, leniently (see the
    /// [module docs](self)). Fails only when the code is not `250`.
    pub fn from_reply(reply: &Reply<'_>) -> Result<Self, EhloError> {
        if reply.code() != ReplyCode::OK {
            return Err(EhloError::NotOk { code: reply.code() });
        }
        let mut lines = reply.lines().iter();
        let domain = lines
            .next()
            .and_then(|first| first.split(' ').find(|word| !word.is_empty()))
            .unwrap_or_default();
        let mut capabilities = Self::new(domain);
        for line in lines {
            capabilities.read_line(line);
        }
        Ok(capabilities)
    }

    /// Reads one `ehlo-line`.
    fn read_line(&mut self, line: &str) {
        let mut words = line.split(' ').filter(|word| !word.is_empty());
        let Some(keyword) = words.next() else {
            return;
        };
        let params = words;
        if !params.clone().all(valid_param) {
            return;
        }
        // The pre-RFC 4954 form, `AUTH=LOGIN PLAIN`.
        if let Some((head, first)) = keyword.split_once('=') {
            if head.eq_ignore_ascii_case("AUTH") {
                self.flags |= Keyword::Auth.bit();
                self.add_mechanisms(core::iter::once(first).chain(params));
            }
            return;
        }
        if !valid_keyword(keyword) {
            return;
        }
        match Keyword::from_name(keyword) {
            Some(Keyword::Size) => match parse_size(params.clone()) {
                Some(limit) => {
                    if !self.has(Keyword::Size) {
                        self.set_size(Some(limit));
                    }
                }
                None => {
                    let joined = params.collect::<Vec<_>>().join(" ");
                    self.push_other(Extension::unchecked(keyword, joined));
                }
            },
            Some(Keyword::Auth) => {
                self.flags |= Keyword::Auth.bit();
                self.add_mechanisms(params);
            }
            Some(typed) => self.insert(typed),
            None => {
                let joined = params.collect::<Vec<_>>().join(" ");
                self.push_other(Extension::unchecked(keyword, joined));
            }
        }
    }

    /// Adds the valid mechanism names not already listed.
    fn add_mechanisms<'n>(&mut self, names: impl Iterator<Item = &'n str>) {
        for mechanism in names.filter_map(AuthMechanism::from_name) {
            if !self.auth.contains(&mechanism) {
                self.auth.push(mechanism);
            }
        }
    }

    /// Keeps an extension unless one with the same keyword is there.
    fn push_other(&mut self, extension: Extension) {
        if self.extension(extension.keyword()).is_none() {
            self.other.push(extension);
        }
    }

    /// The server's name for itself: the first word of the reply's first
    /// line, at most [`MAX_DOMAIN`] octets.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// True when the typed capability was offered.
    pub fn has(&self, keyword: Keyword) -> bool {
        self.flags & keyword.bit() != 0
    }

    /// True when the capability named `keyword` (any case) was offered,
    /// typed or not.
    pub fn supports(&self, keyword: &str) -> bool {
        match Keyword::from_name(keyword) {
            Some(typed) => self.has(typed),
            None => self.extension(keyword).is_some(),
        }
    }

    /// `PIPELINING` (RFC 2920).
    pub fn pipelining(&self) -> bool {
        self.has(Keyword::Pipelining)
    }

    /// `STARTTLS` (RFC 3207).
    pub fn starttls(&self) -> bool {
        self.has(Keyword::StartTls)
    }

    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub fn enhanced_status_codes(&self) -> bool {
        self.has(Keyword::EnhancedStatusCodes)
    }

    /// `8BITMIME` (RFC 6152).
    pub fn eight_bit_mime(&self) -> bool {
        self.has(Keyword::EightBitMime)
    }

    /// `BINARYMIME` (RFC 3030).
    pub fn binary_mime(&self) -> bool {
        self.has(Keyword::BinaryMime)
    }

    /// `CHUNKING` (RFC 3030).
    pub fn chunking(&self) -> bool {
        self.has(Keyword::Chunking)
    }

    /// `DSN` (RFC 3461).
    pub fn dsn(&self) -> bool {
        self.has(Keyword::Dsn)
    }

    /// `SMTPUTF8` (RFC 6531).
    pub fn smtputf8(&self) -> bool {
        self.has(Keyword::SmtpUtf8)
    }

    /// `REQUIRETLS` (RFC 8689).
    pub fn requiretls(&self) -> bool {
        self.has(Keyword::RequireTls)
    }

    /// What `SIZE` announced (RFC 1870), or `None` when it was not offered.
    pub fn size(&self) -> Option<Size> {
        if !self.has(Keyword::Size) {
            None
        } else if self.size == 0 {
            Some(Size::NoLimit)
        } else {
            Some(Size::Max(self.size))
        }
    }

    /// The fixed message size limit, if SIZE announced one (RFC 1870 §4).
    pub fn max_size(&self) -> Option<u64> {
        match self.size() {
            Some(Size::Max(limit)) => Some(limit),
            _ => None,
        }
    }

    /// The AUTH mechanisms (RFC 4954), or `None` when AUTH was not offered.
    pub fn auth(&self) -> Option<&[AuthMechanism]> {
        self.has(Keyword::Auth).then_some(self.auth.as_slice())
    }

    /// The capabilities without a type here, in the order they came.
    pub fn extensions(&self) -> &[Extension] {
        &self.other
    }

    /// The untyped extension named `keyword` (any case).
    pub fn extension(&self, keyword: &str) -> Option<&Extension> {
        self.other
            .iter()
            .find(|extension| extension.keyword.eq_ignore_ascii_case(keyword))
    }

    /// Offers a typed capability. `SIZE` is offered with no limit and `AUTH`
    /// with the mechanisms already set (none at first); see
    /// [`Capabilities::set_size`] and [`Capabilities::set_auth`].
    pub fn insert(&mut self, keyword: Keyword) {
        self.flags |= keyword.bit();
    }

    /// The same set with `keyword` offered.
    #[must_use]
    pub fn with(mut self, keyword: Keyword) -> Self {
        self.insert(keyword);
        self
    }

    /// Withdraws a typed capability (with its SIZE limit or AUTH mechanisms).
    pub fn remove(&mut self, keyword: Keyword) {
        self.flags &= !keyword.bit();
        match keyword {
            Keyword::Size => self.size = 0,
            Keyword::Auth => self.auth.clear(),
            _ => {}
        }
    }

    /// Offers SIZE with a fixed limit in octets; `None` or `Some(0)` offers it
    /// with no limit (RFC 1870 §4).
    pub fn set_size(&mut self, limit: Option<u64>) {
        self.flags |= Keyword::Size.bit();
        self.size = limit.unwrap_or(0);
    }

    /// Offers AUTH with these mechanisms, in order, without duplicates
    /// (RFC 4954 §3).
    pub fn set_auth(&mut self, mechanisms: impl IntoIterator<Item = AuthMechanism>) {
        self.flags |= Keyword::Auth.bit();
        self.auth.clear();
        for mechanism in mechanisms {
            if !self.auth.contains(&mechanism) {
                self.auth.push(mechanism);
            }
        }
    }

    /// Offers an untyped extension, replacing one with the same keyword.
    pub fn insert_extension(&mut self, extension: Extension) {
        match self
            .other
            .iter_mut()
            .find(|other| other.keyword == extension.keyword)
        {
            Some(other) => *other = extension,
            None => self.other.push(extension),
        }
    }

    /// The server's `250` reply to EHLO announcing this set: the domain and
    /// `greeting` on the first line, then the typed capabilities in the order
    /// of [`Keyword::ALL`], then the other extensions in order.
    ///
    /// The greeting is shortened to fit on the first line, and left out when
    /// the domain is empty (it would read back as the domain). A long AUTH list
    /// is spread over several `AUTH` lines, which read back as one list. The
    /// reply parses back to an equal set, as long as it fits in
    /// [`MAX_REPLY_LINES`](crate::limits::MAX_REPLY_LINES) lines (a set read from a reply always does; a set
    /// built with more extensions loses the last ones) and the domain has no
    /// space in it.
    pub fn to_reply(&self, greeting: &str) -> Reply<'static> {
        let mut first = String::from(&*self.domain);
        // With no domain, a greeting would read back as the domain.
        if !greeting.is_empty() && !first.is_empty() {
            first.push(' ');
            first.push_str(greeting);
        }
        truncate(&mut first, MAX_LINE_TEXT);
        let mut reply = Reply::new(ReplyCode::OK, None, first);
        for &keyword in Keyword::ALL {
            if !self.has(keyword) {
                continue;
            }
            match keyword {
                Keyword::Size if self.size != 0 => {
                    reply.push_line(format!("SIZE {}", self.size));
                }
                Keyword::Auth if !self.auth.is_empty() => {
                    let mut line = String::from("AUTH");
                    for mechanism in &self.auth {
                        if line.len() + 1 + mechanism.as_str().len() > MAX_LINE_TEXT {
                            reply.push_line(core::mem::replace(&mut line, String::from("AUTH")));
                        }
                        line.push(' ');
                        line.push_str(mechanism.as_str());
                    }
                    reply.push_line(line);
                }
                _ => reply.push_line(keyword.as_str()),
            }
        }
        for extension in &self.other {
            reply.push_line(extension.line());
        }
        reply
    }
}

/// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`.
fn valid_keyword(keyword: &str) -> bool {
    keyword
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && keyword
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `ehlo-param = 1*(%d33-126)`.
fn valid_param(param: &str) -> bool {
    !param.is_empty() && param.bytes().all(|b| (33..=126).contains(&b))
}

/// The SIZE parameter: none, or one decimal number (RFC 1870 §4:
/// `size-param = [1*DIGIT]`). `None` when malformed.
fn parse_size<'p>(mut params: impl Iterator<Item = &'p str>) -> Option<u64> {
    let Some(number) = params.next() else {
        return Some(0);
    };
    if params.next().is_some() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// Shortens `text` to at most `max` octets, on a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
