//! MAIL and RCPT parameters (RFC 5321 §4.1.2) and the extensions that define
//! them: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531),
//! REQUIRETLS (RFC 8689), DSN's RET, ENVID, NOTIFY and ORCPT (RFC 3461) and
//! AUTH (RFC 4954 §5).
//!
//! ```text
//! Mail-parameters = esmtp-param *(SP esmtp-param)
//! Rcpt-parameters = esmtp-param *(SP esmtp-param)
//! esmtp-param     = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword   = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value     = 1*(%d33-60 / %d62-126)   ; RFC 6531 adds UTF8-non-ascii
//!
//! size-param      = "SIZE=" 1*20DIGIT                     ; RFC 1870 §3
//! body-param      = "BODY=" ("7BIT" / "8BITMIME" / "BINARYMIME")
//! smtputf8-param  = "SMTPUTF8"                            ; RFC 6531 §3.4
//! requiretls      = "REQUIRETLS"                          ; RFC 8689 §4
//! ret-param       = "RET=" ("FULL" / "HDRS")              ; RFC 3461 §4.3
//! envid-param     = "ENVID=" xtext                        ; RFC 3461 §4.4
//! auth-param      = "AUTH=" xtext                         ; RFC 4954 §5
//! notify-param    = "NOTIFY=" ("NEVER" / notify-list)     ; RFC 3461 §4.1
//! notify-list     = notify-elem *("," notify-elem)
//! notify-elem     = "SUCCESS" / "FAILURE" / "DELAY"
//! orcpt-param     = "ORCPT=" addr-type ";" xtext          ; RFC 3461 §4.2
//!
//! xtext           = *( xchar / hexchar )                  ; RFC 3461 §4
//! xchar           = %d33-42 / %d44-60 / %d62-126          ; not "+" or "="
//! hexchar         = "+" 2HEXDIG
//! ```
//!
//! Decisions where the RFCs leave room:
//! - Keywords and the enumerated values are case-insensitive; known keywords
//!   are written back in upper case, unknown ones as given.
//! - A known keyword given twice is an error; unknown parameters are kept in
//!   order in `unknown`, repeats included, for the layer above to judge
//!   (RFC 5321 §4.1.1.11 has it answer `555`).
//! - At most [`MAX_PARAMETERS`] parameters per command.
//! - SIZE values over `u64::MAX` (20 digits allow that) read as `u64::MAX`.
//! - ENVID must decode to printable ASCII (RFC 3461 §4.4); ORCPT and AUTH
//!   decode to any UTF-8. ORCPT's `utf-8` address type (RFC 6533) is decoded
//!   as plain xtext: its `\x{..}` escapes are left as they are.
//! - NOTIFY names each of SUCCESS, FAILURE and DELAY at most once; they are
//!   written back in that order.
//! - Runs of spaces between parameters and trailing spaces are tolerated.
//! - Values may hold UTF-8 (RFC 6531 §3.3) at this layer;
//!   [`Command::parse`](crate::proto::command::Command::parse) refuses them
//!   unless SMTPUTF8 is in force.
//!
//! Two readers share this grammar: one takes the parameters of ordinary
//! sessions (SIZE, BODY, RET, ENVID, SMTPUTF8, NOTIFY, ORCPT) by matching
//! keyword and value a word at a time and gives up on anything else; the
//! general one then reads every parameter. Where the first answers, the
//! second gives the same answer.

use core::fmt;
use core::ops::BitOr;
use std::borrow::Cow;

use crate::limits::MAX_PARAMETERS;
use crate::proto::code::ErrorReply;
use crate::proto::path::{KEYWORD, LET_DIG, has, run_end, value_run_end, word};

/// A MAIL or RCPT parameter that is not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The parameter list breaks the esmtp-param grammar.
    #[error("bad parameter syntax: {0}")]
    Syntax(&'static str),
    /// A known keyword with a value it does not take.
    #[error("bad value for {0}")]
    InvalidValue(&'static str),
    /// A known keyword that needs a value has none.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A known keyword that takes no value has one (SMTPUTF8, REQUIRETLS).
    #[error("{0} takes no value")]
    UnexpectedValue(&'static str),
    /// A known keyword given twice.
    #[error("{0} given more than once")]
    Repeated(&'static str),
    /// More than [`MAX_PARAMETERS`] parameters.
    #[error("more than {MAX_PARAMETERS} parameters")]
    TooMany,
    /// An xtext value that does not decode.
    #[error("bad xtext in {keyword}: {error}")]
    Xtext {
        /// The parameter.
        keyword: &'static str,
        /// What is wrong with it.
        error: XtextError,
    },
}

impl ParamError {
    /// The reply a server sends for this error: `501 5.5.4`.
    pub fn reply(&self) -> ErrorReply {
        ErrorReply::ARGUMENTS
    }
}

/// Why an xtext string does not decode (RFC 3461 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XtextError {
    /// A character outside `!` to `~`, or a bare `=`.
    #[error("character not allowed in xtext")]
    BadCharacter,
    /// A `+` not followed by two hexadecimal digits.
    #[error("'+' not followed by two hex digits")]
    BadHexchar,
    /// The decoded octets are not UTF-8.
    #[error("decoded xtext is not UTF-8")]
    NotUtf8,
}

/// Decodes xtext (RFC 3461 §4): `+XX` becomes the octet `XX`. Borrows when
/// there is no `+`. Lower-case hex digits are accepted too.
pub fn xtext_decode(input: &str) -> Result<Cow<'_, str>, XtextError> {
    // xchar and "+" are the esmtp-value octets.
    if value_run_end(input.as_bytes(), 0) != input.len() {
        return Err(XtextError::BadCharacter);
    }
    decode_checked_xtext(input)
}

/// [`xtext_decode`] of text whose octets are all xchar or "+".
#[inline(always)]
fn decode_checked_xtext(input: &str) -> Result<Cow<'_, str>, XtextError> {
    let bytes = input.as_bytes();
    let Some(mut plus) = word::find(bytes, 0, b'+') else {
        return Ok(Cow::Borrowed(input));
    };
    // The input is ASCII: every cut is on a character boundary. Decoded
    // octets below 0x80 are characters too; the first one above sends the
    // whole input to the general decoder, which checks UTF-8.
    let mut out = String::with_capacity(bytes.len());
    let mut rest = input;
    loop {
        let (Some(head), Some(&[hi, lo])) =
            (rest.get(..plus), rest.as_bytes().get(plus + 1..plus + 3))
        else {
            return Err(XtextError::BadHexchar);
        };
        let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
            return Err(XtextError::BadHexchar);
        };
        let octet = hi << 4 | lo;
        if octet >= 0x80 {
            return xtext_decode_octets(bytes);
        }
        out.push_str(head);
        out.push(char::from(octet));
        rest = rest.get(plus + 3..).unwrap_or_default();
        match word::find(rest.as_bytes(), 0, b'+') {
            Some(next) => plus = next,
            None => {
                out.push_str(rest);
                return Ok(Cow::Owned(out));
            }
        }
    }
}

/// Decodes checked xtext whose decoded octets may be non-ASCII.
#[inline(never)]
fn xtext_decode_octets(bytes: &[u8]) -> Result<Cow<'_, str>, XtextError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'+' {
            let (Some(hi), Some(lo)) = (
                tail.first().and_then(|&h| hex_value(h)),
                tail.get(1).and_then(|&l| hex_value(l)),
            ) else {
                return Err(XtextError::BadHexchar);
            };
            out.push(hi << 4 | lo);
            rest = tail.get(2..).unwrap_or_default();
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| XtextError::NotUtf8)
}

/// Encodes `value` as xtext (RFC 3461 §4): every octet outside `!` to `~`,
/// and `+` and `=`, becomes `+XX` (upper case). Borrows when nothing needs
/// encoding.
pub fn xtext_encode(value: &str) -> Cow<'_, str> {
    if value.bytes().all(is_xchar) {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len() + 8);
    xtext_encode_into(value, &mut out);
    // Every octet written is printable ASCII.
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Appends `value` encoded as xtext (RFC 3461 §4) to `out`.
pub fn xtext_encode_into(value: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if is_xchar(b) {
            out.push(b);
        } else {
            out.push(b'+');
            // Both indexes are below 16.
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        }
    }
}

#[inline]
fn is_xchar(b: u8) -> bool {
    matches!(b, 33..=126) && b != b'+' && b != b'='
}

#[inline(always)]
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// A parameter this crate does not interpret, kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parameter<'a> {
    /// The esmtp-keyword, as given.
    pub keyword: Cow<'a, str>,
    /// The esmtp-value, as given, if there was an `=`.
    pub value: Option<Cow<'a, str>>,
}

impl Parameter<'_> {
    /// Writes `keyword` or `keyword=value`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.keyword.as_bytes());
        if let Some(value) = &self.value {
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> Parameter<'static> {
        Parameter {
            keyword: Cow::Owned(self.keyword.into_owned()),
            value: self.value.map(|value| Cow::Owned(value.into_owned())),
        }
    }
}

/// The body type of the BODY parameter (RFC 6152 §2, RFC 3030 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `7BIT`.
    SevenBit,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BINARYMIME` (RFC 3030), sent with BDAT only.
    BinaryMime,
}

impl Body {
    /// The keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        }
    }
}

/// What a DSN returns of the message, RET (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: the whole message.
    Full,
    /// `HDRS`: the headers only.
    Hdrs,
}

impl Ret {
    /// The keyword value.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }
}

/// When to send a DSN, NOTIFY (RFC 3461 §4.1): `NEVER`, or any non-empty set
/// of SUCCESS, FAILURE and DELAY. Combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Notify(u8);

impl Notify {
    /// `NEVER`: no DSN at all. The empty set.
    pub const NEVER: Notify = Notify(0);
    /// `SUCCESS`.
    pub const SUCCESS: Notify = Notify(1);
    /// `FAILURE`.
    pub const FAILURE: Notify = Notify(2);
    /// `DELAY`.
    pub const DELAY: Notify = Notify(4);

    /// True for `NEVER`.
    pub const fn is_never(self) -> bool {
        self.0 == 0
    }

    /// True if SUCCESS is asked for.
    pub const fn success(self) -> bool {
        self.0 & Self::SUCCESS.0 != 0
    }

    /// True if FAILURE is asked for.
    pub const fn failure(self) -> bool {
        self.0 & Self::FAILURE.0 != 0
    }

    /// True if DELAY is asked for.
    pub const fn delay(self) -> bool {
        self.0 & Self::DELAY.0 != 0
    }

    /// Parses the value of NOTIFY.
    #[inline]
    fn parse(value: Value<'_>) -> Result<Notify, ParamError> {
        use word::{HIGH, first, in_range};
        const BAD: ParamError = ParamError::InvalidValue("NOTIFY");
        let bytes = value.text.as_bytes();
        let mut notify = Notify::NEVER;
        let mut pos = value.start;
        loop {
            // The element ends at the next comma or at the end of the value.
            // No element is longer than seven octets, so eight tell them all
            // apart: a longer one reads as eight and matches nothing.
            let word = word::at(bytes, pos).ok_or(BAD)?;
            let commas = in_range(word & !HIGH, b',', b',') & !word;
            let left = value.end.saturating_sub(pos);
            let len = if commas == 0 { 8 } else { first(commas) }.min(left);
            let bit = match u128::from(fold_word_prefix(word, len)) {
                SUCCESS => Notify::SUCCESS,
                FAILURE => Notify::FAILURE,
                DELAY => Notify::DELAY,
                // NEVER only alone.
                NEVER if value.len() == len => return Ok(Notify::NEVER),
                _ => return Err(BAD),
            };
            if notify.0 & bit.0 != 0 {
                return Err(BAD);
            }
            notify = notify | bit;
            if len == left {
                return Ok(notify);
            }
            pos += len + 1;
        }
    }
}

impl BitOr for Notify {
    type Output = Notify;

    fn bitor(self, rhs: Notify) -> Notify {
        Notify(self.0 | rhs.0)
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            return f.write_str("NEVER");
        }
        let mut first = true;
        for (on, name) in [
            (self.success(), "SUCCESS"),
            (self.failure(), "FAILURE"),
            (self.delay(), "DELAY"),
        ] {
            if on {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// The original recipient, ORCPT (RFC 3461 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Orcpt<'a> {
    /// The address type, as given (`rfc822`, `utf-8`, ...).
    pub addr_type: Cow<'a, str>,
    /// The address, xtext-decoded.
    pub address: Cow<'a, str>,
}

impl Orcpt<'_> {
    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> Orcpt<'static> {
        Orcpt {
            addr_type: Cow::Owned(self.addr_type.into_owned()),
            address: Cow::Owned(self.address.into_owned()),
        }
    }
}

/// The parameters of `MAIL FROM:` (RFC 5321 §4.1.1.2).
///
/// `unknown` must not hold a keyword that has a field here, or encoding
/// would not read back as the same value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MailParameters<'a> {
    /// SIZE, the declared message size in octets (RFC 1870).
    pub size: Option<u64>,
    /// BODY (RFC 6152, RFC 3030).
    pub body: Option<Body>,
    /// SMTPUTF8 was given (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// REQUIRETLS was given (RFC 8689 §4).
    pub requiretls: bool,
    /// RET (RFC 3461 §4.3).
    pub ret: Option<Ret>,
    /// ENVID, xtext-decoded (RFC 3461 §4.4).
    pub envid: Option<Cow<'a, str>>,
    /// AUTH, xtext-decoded: a mailbox or `<>` (RFC 4954 §5).
    pub auth: Option<Cow<'a, str>>,
    /// Every other parameter, in order.
    pub unknown: Vec<Parameter<'a>>,
}

impl<'a> MailParameters<'a> {
    /// Parses a space-separated parameter list (the text after the
    /// reverse-path and its space).
    pub fn parse(input: &'a [u8]) -> Result<Self, ParamError> {
        let text =
            core::str::from_utf8(input).map_err(|_| ParamError::Syntax("parameters not UTF-8"))?;
        Self::parse_str(text)
    }

    pub(crate) fn parse_str(text: &'a str) -> Result<Self, ParamError> {
        let mut params = MailParameters::default();
        params.parse_into(text)?;
        Ok(params)
    }

    /// Reads the parameters in `text` into `self`, which holds none yet;
    /// returns whether any value held non-ASCII (allowed under SMTPUTF8
    /// only, RFC 6531 §3.3).
    #[inline(always)]
    pub(crate) fn parse_into(&mut self, text: &'a str) -> Result<bool, ParamError> {
        debug_assert!(self.is_empty(), "parameters are read into an empty set");
        if self.parse_common(text) {
            return Ok(false);
        }
        self.parse_any(text)
    }

    /// [`Self::parse_into`] for every form of parameter.
    #[inline(never)]
    fn parse_any(&mut self, text: &'a str) -> Result<bool, ParamError> {
        *self = MailParameters::default();
        for_each_param(text, |key, param| self.add(key, param))
    }

    /// Reads `text` if it holds only the common parameters, in ASCII and
    /// each once: SIZE, BODY=7BIT or 8BITMIME, RET, ENVID without hexchars,
    /// SMTPUTF8. Returns false, with `self` partly filled, on anything else;
    /// the general reader then decides, and gives the same answer wherever
    /// this one gives one.
    #[inline(always)]
    fn parse_common(&mut self, text: &'a str) -> bool {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut count = 0;
        loop {
            while bytes.get(pos) == Some(&b' ') {
                pos += 1;
            }
            if pos >= bytes.len() {
                return true;
            }
            count += 1;
            let Some(word) = word::at(bytes, pos) else {
                return false;
            };
            if count > MAX_PARAMETERS {
                return false;
            }
            if SIZE_IS.matches(word) {
                let Some((size, end)) = short_number(bytes, pos + SIZE_IS.len) else {
                    return false;
                };
                if !param_ends(bytes, end) || self.size.is_some() {
                    return false;
                }
                self.size = Some(size);
                pos = end;
            } else if BODY_IS.matches(word) {
                let start = pos + BODY_IS.len;
                let value = word::at(bytes, start).unwrap_or_default();
                let (body, end) = if SEVENBIT_IS.matches(value) {
                    (Body::SevenBit, start + SEVENBIT_IS.len)
                } else if EIGHTBITMIME_IS.matches(value) {
                    (Body::EightBitMime, start + EIGHTBITMIME_IS.len)
                } else {
                    return false;
                };
                if !param_ends(bytes, end) || self.body.is_some() {
                    return false;
                }
                self.body = Some(body);
                pos = end;
            } else if RET_IS.matches(word) {
                let start = pos + RET_IS.len;
                let value = word::at(bytes, start).unwrap_or_default();
                let ret = if FULL_IS.matches(value) {
                    Ret::Full
                } else if HDRS_IS.matches(value) {
                    Ret::Hdrs
                } else {
                    return false;
                };
                let end = start + FULL_IS.len;
                if !param_ends(bytes, end) || self.ret.is_some() {
                    return false;
                }
                self.ret = Some(ret);
                pos = end;
            } else if ENVID_IS.matches(word) {
                let start = pos + ENVID_IS.len;
                let end = xchar_run_end(bytes, start);
                if end == start || !param_ends(bytes, end) || self.envid.is_some() {
                    return false;
                }
                let Some(envid) = text.get(start..end) else {
                    return false;
                };
                self.envid = Some(Cow::Borrowed(envid));
                pos = end;
            } else if SMTPUTF8_IS.matches(word) && param_ends(bytes, pos + SMTPUTF8_IS.len) {
                if self.smtputf8 {
                    return false;
                }
                self.smtputf8 = true;
                pos += SMTPUTF8_IS.len;
            } else {
                return false;
            }
        }
    }

    #[inline(always)]
    fn add(&mut self, key: u128, param: RawParam<'a>) -> Result<(), ParamError> {
        match key {
            SIZE => {
                let size = parse_size(param.value("SIZE")?.as_bytes())?;
                set_once(&mut self.size, size, "SIZE")
            }
            BODY => {
                let body = match param.value("BODY")?.fold() {
                    EIGHTBITMIME => Body::EightBitMime,
                    SEVENBIT => Body::SevenBit,
                    BINARYMIME => Body::BinaryMime,
                    _ => return Err(ParamError::InvalidValue("BODY")),
                };
                set_once(&mut self.body, body, "BODY")
            }
            SMTPUTF8 => set_flag(&mut self.smtputf8, param.value.is_some(), "SMTPUTF8"),
            REQUIRETLS => set_flag(&mut self.requiretls, param.value.is_some(), "REQUIRETLS"),
            AUTH => {
                let auth = decode(param.value("AUTH")?.as_str()?, "AUTH")?;
                set_once(&mut self.auth, auth, "AUTH")
            }
            RET => {
                let ret = match param.value("RET")?.fold() {
                    FULL => Ret::Full,
                    HDRS => Ret::Hdrs,
                    _ => return Err(ParamError::InvalidValue("RET")),
                };
                set_once(&mut self.ret, ret, "RET")
            }
            ENVID => {
                let envid = decode(param.value("ENVID")?.as_str()?, "ENVID")?;
                // Undecoded xtext is printable already.
                if let Cow::Owned(decoded) = &envid
                    && !decoded.bytes().all(|b| matches!(b, 32..=126))
                {
                    return Err(ParamError::InvalidValue("ENVID"));
                }
                set_once(&mut self.envid, envid, "ENVID")
            }
            _ => {
                self.unknown.push(param.unknown()?);
                Ok(())
            }
        }
    }

    /// True when no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == MailParameters::default()
    }

    /// Writes each parameter preceded by a space: known ones first, in the
    /// order of the fields, then `unknown` in order. Writes nothing when
    /// empty.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(size) = self.size {
            out.extend_from_slice(b" SIZE=");
            write_u64(size, out);
        }
        if let Some(body) = self.body {
            out.extend_from_slice(b" BODY=");
            out.extend_from_slice(body.as_str().as_bytes());
        }
        if self.smtputf8 {
            out.extend_from_slice(b" SMTPUTF8");
        }
        if self.requiretls {
            out.extend_from_slice(b" REQUIRETLS");
        }
        if let Some(ret) = self.ret {
            out.extend_from_slice(b" RET=");
            out.extend_from_slice(ret.as_str().as_bytes());
        }
        if let Some(envid) = &self.envid {
            out.extend_from_slice(b" ENVID=");
            xtext_encode_into(envid, out);
        }
        if let Some(auth) = &self.auth {
            out.extend_from_slice(b" AUTH=");
            xtext_encode_into(auth, out);
        }
        for param in &self.unknown {
            out.push(b' ');
            param.encode(out);
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> MailParameters<'static> {
        MailParameters {
            size: self.size,
            body: self.body,
            smtputf8: self.smtputf8,
            requiretls: self.requiretls,
            ret: self.ret,
            envid: self.envid.map(|v| Cow::Owned(v.into_owned())),
            auth: self.auth.map(|v| Cow::Owned(v.into_owned())),
            unknown: self
                .unknown
                .into_iter()
                .map(Parameter::into_owned)
                .collect(),
        }
    }
}

/// The parameters of `RCPT TO:` (RFC 5321 §4.1.1.3).
///
/// `unknown` must not hold a keyword that has a field here, or encoding
/// would not read back as the same value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RcptParameters<'a> {
    /// NOTIFY (RFC 3461 §4.1).
    pub notify: Option<Notify>,
    /// ORCPT (RFC 3461 §4.2).
    pub orcpt: Option<Orcpt<'a>>,
    /// Every other parameter, in order.
    pub unknown: Vec<Parameter<'a>>,
}

impl<'a> RcptParameters<'a> {
    /// Parses a space-separated parameter list (the text after the
    /// forward-path and its space).
    pub fn parse(input: &'a [u8]) -> Result<Self, ParamError> {
        let text =
            core::str::from_utf8(input).map_err(|_| ParamError::Syntax("parameters not UTF-8"))?;
        Self::parse_str(text)
    }

    pub(crate) fn parse_str(text: &'a str) -> Result<Self, ParamError> {
        let mut params = RcptParameters::default();
        params.parse_into(text)?;
        Ok(params)
    }

    /// Reads the parameters in `text` into `self`, which holds none yet;
    /// returns whether any value held non-ASCII (allowed under SMTPUTF8
    /// only, RFC 6531 §3.3).
    #[inline(always)]
    pub(crate) fn parse_into(&mut self, text: &'a str) -> Result<bool, ParamError> {
        debug_assert!(self.is_empty(), "parameters are read into an empty set");
        if self.parse_common(text) {
            return Ok(false);
        }
        self.parse_any(text)
    }

    /// [`Self::parse_into`] for every form of parameter.
    #[inline(never)]
    fn parse_any(&mut self, text: &'a str) -> Result<bool, ParamError> {
        *self = RcptParameters::default();
        for_each_param(text, |key, param| self.add(key, param))
    }

    /// Reads `text` if it holds only NOTIFY and ORCPT, in ASCII and each
    /// once. Returns false, with `self` partly filled, on anything else; the
    /// general reader then decides, and gives the same answer wherever this
    /// one gives one.
    #[inline(always)]
    fn parse_common(&mut self, text: &'a str) -> bool {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut count = 0;
        loop {
            while bytes.get(pos) == Some(&b' ') {
                pos += 1;
            }
            if pos >= bytes.len() {
                return true;
            }
            count += 1;
            let Some(word) = word::at(bytes, pos) else {
                return false;
            };
            if count > MAX_PARAMETERS {
                return false;
            }
            if NOTIFY_IS.matches(word) {
                let Some((notify, end)) = notify_list(bytes, pos + NOTIFY_IS.len) else {
                    return false;
                };
                if self.notify.is_some() {
                    return false;
                }
                self.notify = Some(notify);
                pos = end;
            } else if ORCPT_IS.matches(word) {
                let start = pos + ORCPT_IS.len;
                let end = value_run_end(bytes, start);
                if end == start || !param_ends(bytes, end) || self.orcpt.is_some() {
                    return false;
                }
                // The value is esmtp-value octets, so xtext without bad
                // characters; other errors are left to the general reader.
                let Some(Ok(orcpt)) = text
                    .get(start..end)
                    .map(|value| parse_orcpt(value, decode_checked_xtext))
                else {
                    return false;
                };
                self.orcpt = Some(orcpt);
                pos = end;
            } else {
                return false;
            }
        }
    }

    #[inline(always)]
    fn add(&mut self, key: u128, param: RawParam<'a>) -> Result<(), ParamError> {
        match key {
            NOTIFY => {
                let notify = Notify::parse(param.value("NOTIFY")?)?;
                set_once(&mut self.notify, notify, "NOTIFY")
            }
            ORCPT => {
                let orcpt = parse_orcpt(param.value("ORCPT")?.as_str()?, xtext_decode)?;
                set_once(&mut self.orcpt, orcpt, "ORCPT")
            }
            _ => {
                self.unknown.push(param.unknown()?);
                Ok(())
            }
        }
    }

    /// True when no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.notify.is_none() && self.orcpt.is_none() && self.unknown.is_empty()
    }

    /// Writes each parameter preceded by a space: NOTIFY, ORCPT, then
    /// `unknown` in order. Writes nothing when empty.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(notify) = self.notify {
            out.extend_from_slice(b" NOTIFY=");
            out.extend_from_slice(notify.to_string().as_bytes());
        }
        if let Some(orcpt) = &self.orcpt {
            out.extend_from_slice(b" ORCPT=");
            out.extend_from_slice(orcpt.addr_type.as_bytes());
            out.push(b';');
            xtext_encode_into(&orcpt.address, out);
        }
        for param in &self.unknown {
            out.push(b' ');
            param.encode(out);
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> RcptParameters<'static> {
        RcptParameters {
            notify: self.notify,
            orcpt: self.orcpt.map(Orcpt::into_owned),
            unknown: self
                .unknown
                .into_iter()
                .map(Parameter::into_owned)
                .collect(),
        }
    }
}

/// One esmtp-param of a parameter text, as positions in it.
#[derive(Debug, Clone, Copy)]
struct RawParam<'a> {
    text: &'a str,
    keyword: (usize, usize),
    value: Option<(usize, usize)>,
}

impl<'a> RawParam<'a> {
    /// The value, which `keyword` needs.
    #[inline(always)]
    fn value(&self, keyword: &'static str) -> Result<Value<'a>, ParamError> {
        match self.value {
            Some((start, end)) => Ok(Value {
                text: self.text,
                start,
                end,
            }),
            None => Err(ParamError::MissingValue(keyword)),
        }
    }

    /// The parameter as given.
    #[inline(always)]
    fn unknown(self) -> Result<Parameter<'a>, ParamError> {
        let (start, end) = self.keyword;
        let value = match self.value {
            Some((start, end)) => Some(Cow::Borrowed(cut(self.text, start, end)?)),
            None => None,
        };
        Ok(Parameter {
            keyword: Cow::Borrowed(cut(self.text, start, end)?),
            value,
        })
    }
}

/// An esmtp-value: `text[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Value<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

impl<'a> Value<'a> {
    #[inline(always)]
    fn len(self) -> usize {
        self.end - self.start
    }

    #[inline(always)]
    fn as_bytes(self) -> &'a [u8] {
        self.text
            .as_bytes()
            .get(self.start..self.end)
            .unwrap_or_default()
    }

    #[inline(always)]
    fn as_str(self) -> Result<&'a str, ParamError> {
        cut(self.text, self.start, self.end)
    }

    /// [`fold`] of the value.
    #[inline(always)]
    fn fold(self) -> u128 {
        fold_at(self.text.as_bytes(), self.start, self.len())
    }
}

/// `text[from..to]`; parameters are cut next to ASCII delimiters, so on
/// character boundaries.
#[inline(always)]
fn cut(text: &str, from: usize, to: usize) -> Result<&str, ParamError> {
    text.get(from..to)
        .ok_or(ParamError::Syntax("cut inside a character"))
}

fn decode<'a>(value: &'a str, keyword: &'static str) -> Result<Cow<'a, str>, ParamError> {
    xtext_decode(value).map_err(|error| ParamError::Xtext { keyword, error })
}

/// The value of ORCPT, `addr-type ";" xtext` (RFC 3461 §4.2), its xtext
/// decoded with `decode`.
#[inline(always)]
fn parse_orcpt<'a>(
    value: &'a str,
    decode: impl FnOnce(&'a str) -> Result<Cow<'a, str>, XtextError>,
) -> Result<Orcpt<'a>, ParamError> {
    const BAD: ParamError = ParamError::InvalidValue("ORCPT");
    let semicolon = value.bytes().position(|b| b == b';').ok_or(BAD)?;
    let (Some(addr_type), Some(address)) = (value.get(..semicolon), value.get(semicolon + 1..))
    else {
        return Err(BAD);
    };
    if addr_type.is_empty()
        || !addr_type.bytes().all(crate::proto::path::is_atext)
        || address.is_empty()
    {
        return Err(BAD);
    }
    let address = decode(address).map_err(|error| ParamError::Xtext {
        keyword: "ORCPT",
        error,
    })?;
    Ok(Orcpt {
        addr_type: Cow::Borrowed(addr_type),
        address,
    })
}

/// Sets a field given at most once.
#[inline(always)]
fn set_once<T>(slot: &mut Option<T>, value: T, keyword: &'static str) -> Result<(), ParamError> {
    if slot.is_some() {
        Err(ParamError::Repeated(keyword))
    } else {
        *slot = Some(value);
        Ok(())
    }
}

/// Sets a flag that takes no value and is given at most once.
#[inline(always)]
fn set_flag(slot: &mut bool, has_value: bool, keyword: &'static str) -> Result<(), ParamError> {
    if has_value {
        Err(ParamError::UnexpectedValue(keyword))
    } else if *slot {
        Err(ParamError::Repeated(keyword))
    } else {
        *slot = true;
        Ok(())
    }
}

/// A word of at most 16 octets folded to lower case, as a number, to match
/// known keywords and values (all letters, digits and `-`) in one compare.
/// Folding with `| 0x20` is exact on letters, digits and `-`, and no other
/// printable octet folds onto one of them; longer words fold to
/// `u128::MAX`, which matches nothing.
const fn fold(word: &[u8]) -> u128 {
    if word.len() > 16 {
        return u128::MAX;
    }
    let mut folded = 0u128;
    let mut i = 0;
    while i < word.len() {
        // `i < word.len()`; only ever run on constants, at compile time.
        folded |= ((word[i] | 0x20) as u128) << (8 * i);
        i += 1;
    }
    folded
}

/// [`fold`] at run time.
#[inline(always)]
fn fold_word(word: &[u8]) -> u128 {
    if word.len() <= 8 {
        let mut buf = [0u8; 8];
        for (to, &from) in buf.iter_mut().zip(word) {
            *to = from | 0x20;
        }
        u128::from(u64::from_le_bytes(buf))
    } else if word.len() <= 16 {
        let mut buf = [0u8; 16];
        for (to, &from) in buf.iter_mut().zip(word) {
            *to = from | 0x20;
        }
        u128::from_le_bytes(buf)
    } else {
        u128::MAX
    }
}

/// [`fold`] of the first `len` octets of `word`, `len` at most 8.
#[inline(always)]
fn fold_word_prefix(word: u64, len: usize) -> u64 {
    let mask = 1u64
        .checked_shl(8 * len as u32)
        .map_or(u64::MAX, |bit| bit - 1);
    (word | 0x2020_2020_2020_2020) & mask
}

/// [`fold`] of `bytes[start..start + len]`, reading whole words.
#[inline(always)]
fn fold_at(bytes: &[u8], start: usize, len: usize) -> u128 {
    if len <= 8 {
        if let Some(low) = word::at(bytes, start) {
            return u128::from(fold_word_prefix(low, len));
        }
    } else if len <= 16
        && let (Some(low), Some(high)) = (word::at(bytes, start), word::at(bytes, start + 8))
    {
        return u128::from(fold_word_prefix(high, len - 8)) << 64
            | u128::from(fold_word_prefix(low, 8));
    }
    fold_word(bytes.get(start..start + len).unwrap_or_default())
}

const SIZE: u128 = fold(b"SIZE");
const BODY: u128 = fold(b"BODY");
const SMTPUTF8: u128 = fold(b"SMTPUTF8");
const REQUIRETLS: u128 = fold(b"REQUIRETLS");
const AUTH: u128 = fold(b"AUTH");
const RET: u128 = fold(b"RET");
const ENVID: u128 = fold(b"ENVID");
const NOTIFY: u128 = fold(b"NOTIFY");
const ORCPT: u128 = fold(b"ORCPT");
const SEVENBIT: u128 = fold(b"7BIT");
const EIGHTBITMIME: u128 = fold(b"8BITMIME");
const BINARYMIME: u128 = fold(b"BINARYMIME");
const FULL: u128 = fold(b"FULL");
const HDRS: u128 = fold(b"HDRS");
const NEVER: u128 = fold(b"NEVER");
const SUCCESS: u128 = fold(b"SUCCESS");
const FAILURE: u128 = fold(b"FAILURE");
const DELAY: u128 = fold(b"DELAY");

/// Octets to match at the start of a word, letters in either case and
/// other octets exactly (see [`word`]).
#[derive(Debug, Clone, Copy)]
struct Pattern {
    /// 0x20 at the letters.
    fold: u64,
    /// 0xff at the octets of the pattern.
    mask: u64,
    /// The pattern, letters in lower case.
    value: u64,
    /// Its length, 1 to 8.
    len: usize,
}

impl Pattern {
    /// Only ever run on constants, at compile time.
    const fn new(text: &[u8]) -> Pattern {
        let mut pattern = Pattern {
            fold: 0,
            mask: 0,
            value: 0,
            len: text.len(),
        };
        let mut i = 0;
        while i < text.len() && i < 8 {
            let b = text[i];
            let letter = b.is_ascii_alphabetic();
            if letter {
                pattern.fold |= 0x20 << (8 * i);
            }
            pattern.mask |= 0xff << (8 * i);
            pattern.value |= ((if letter { b | 0x20 } else { b }) as u64) << (8 * i);
            i += 1;
        }
        pattern
    }

    /// Whether `word` starts with the pattern.
    #[inline(always)]
    const fn matches(self, word: u64) -> bool {
        (word | self.fold) & self.mask == self.value
    }
}

const SIZE_IS: Pattern = Pattern::new(b"SIZE=");
const BODY_IS: Pattern = Pattern::new(b"BODY=");
const RET_IS: Pattern = Pattern::new(b"RET=");
const ENVID_IS: Pattern = Pattern::new(b"ENVID=");
const SMTPUTF8_IS: Pattern = Pattern::new(b"SMTPUTF8");
const NOTIFY_IS: Pattern = Pattern::new(b"NOTIFY=");
const ORCPT_IS: Pattern = Pattern::new(b"ORCPT=");
const SEVENBIT_IS: Pattern = Pattern::new(b"7BIT");
const EIGHTBITMIME_IS: Pattern = Pattern::new(b"8BITMIME");
const FULL_IS: Pattern = Pattern::new(b"FULL");
const HDRS_IS: Pattern = Pattern::new(b"HDRS");
const SUCCESS_IS: Pattern = Pattern::new(b"SUCCESS");
const FAILURE_IS: Pattern = Pattern::new(b"FAILURE");
const DELAY_IS: Pattern = Pattern::new(b"DELAY");
const NEVER_IS: Pattern = Pattern::new(b"NEVER");

/// Whether a parameter ends at `pos`: at a space or at the end.
#[inline(always)]
fn param_ends(bytes: &[u8], pos: usize) -> bool {
    matches!(bytes.get(pos), None | Some(b' ')) && pos <= bytes.len()
}

/// One to nineteen digits from `start`: their value and where they end.
#[inline(always)]
fn short_number(bytes: &[u8], start: usize) -> Option<(u64, usize)> {
    let mut pos = start;
    let mut n = 0u64;
    while let Some(&b) = bytes.get(pos) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        if pos - start == 19 {
            // A twentieth digit.
            return None;
        }
        n = n * 10 + u64::from(digit);
        pos += 1;
    }
    (pos > start).then_some((n, pos))
}

/// Where the run of xchar octets (`%d33-42 / %d44-60 / %d62-126`, RFC 3461
/// §4) from `from` ends.
#[inline(always)]
fn xchar_run_end(bytes: &[u8], from: usize) -> usize {
    use word::{HIGH, first, in_range};
    let mut pos = from;
    while let Some(w) = word::at(bytes, pos) {
        let y = w & !HIGH;
        let ok = in_range(y, 0x21, 0x7e) & !in_range(y, b'=', b'=') & !in_range(y, b'+', b'+') & !w;
        let stop = !ok & HIGH;
        if stop != 0 {
            return pos + first(stop);
        }
        pos += 8;
    }
    pos
}

/// A NOTIFY value from `start` made of SUCCESS, FAILURE and DELAY (each
/// once) or NEVER alone, in ASCII, ending the parameter: the set and where
/// it ends. `None` for anything else.
#[inline(always)]
fn notify_list(bytes: &[u8], start: usize) -> Option<(Notify, usize)> {
    let mut notify = Notify::NEVER;
    let mut pos = start;
    loop {
        let word = word::at(bytes, pos)?;
        let (bit, len) = if SUCCESS_IS.matches(word) {
            (Notify::SUCCESS, SUCCESS_IS.len)
        } else if FAILURE_IS.matches(word) {
            (Notify::FAILURE, FAILURE_IS.len)
        } else if DELAY_IS.matches(word) {
            (Notify::DELAY, DELAY_IS.len)
        } else if NEVER_IS.matches(word) && pos == start && param_ends(bytes, pos + NEVER_IS.len) {
            return Some((Notify::NEVER, pos + NEVER_IS.len));
        } else {
            return None;
        };
        if notify.0 & bit.0 != 0 {
            return None;
        }
        notify = notify | bit;
        pos += len;
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            None | Some(b' ') => return Some((notify, pos)),
            Some(_) => return None,
        }
    }
}

/// `1*20DIGIT` (RFC 1870 §3), saturating at `u64::MAX`.
#[inline(always)]
fn parse_size(value: &[u8]) -> Result<u64, ParamError> {
    if value.is_empty() || value.len() > 20 {
        return Err(ParamError::InvalidValue("SIZE"));
    }
    if value.len() < 20 {
        // Nineteen digits stay below u64::MAX.
        let mut size = 0u64;
        for &b in value {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err(ParamError::InvalidValue("SIZE"));
            }
            size = size * 10 + u64::from(digit);
        }
        return Ok(size);
    }
    let mut size = 0u64;
    for &b in value {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(ParamError::InvalidValue("SIZE"));
        }
        size = size.saturating_mul(10).saturating_add(u64::from(digit));
    }
    Ok(size)
}

/// Writes `n` in decimal.
pub(crate) fn write_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(slot) = digits.get_mut(at) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

/// Where the esmtp-keyword at `start` (a letter or digit) ends, and its
/// [`fold`].
#[inline(always)]
fn keyword_end(bytes: &[u8], start: usize) -> (usize, u128) {
    use word::{HIGH, ONES, first, in_range};
    if let Some(w) = word::at(bytes, start) {
        let y = w & !HIGH;
        let letter = in_range(y | (ONES * 0x20), b'a', b'z');
        let digit = in_range(y, b'0', b'9');
        let hyphen = in_range(y, b'-', b'-');
        let stop = !((letter | digit | hyphen) & !w) & HIGH;
        if stop != 0 {
            // Octets past the end read as 0, which ends the keyword.
            let len = first(stop);
            return (start + len, u128::from(fold_word_prefix(w, len)));
        }
    }
    let end = run_end(bytes, start + 1, KEYWORD);
    (end, fold_at(bytes, start, end - start))
}

/// Splits `text` into esmtp-params and hands each to `f` with its folded
/// keyword; returns whether a value held non-ASCII.
#[inline(always)]
fn for_each_param<'a>(
    text: &'a str,
    mut f: impl FnMut(u128, RawParam<'a>) -> Result<(), ParamError>,
) -> Result<bool, ParamError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut count = 0;
    let mut non_ascii = false;
    loop {
        while bytes.get(pos) == Some(&b' ') {
            pos += 1;
        }
        let Some(&first) = bytes.get(pos) else {
            return Ok(non_ascii);
        };
        count += 1;
        if count > MAX_PARAMETERS {
            return Err(ParamError::TooMany);
        }
        if !has(first, LET_DIG) {
            return Err(ParamError::Syntax(
                "keyword must start with a letter or digit",
            ));
        }
        let start = pos;
        let key;
        (pos, key) = keyword_end(bytes, pos);
        let keyword = (start, pos);
        let value = match bytes.get(pos) {
            None | Some(b' ') => None,
            Some(b'=') => {
                pos += 1;
                let start = pos;
                loop {
                    pos = value_run_end(bytes, pos);
                    match bytes.get(pos) {
                        None | Some(b' ') => break,
                        Some(b'=') => return Err(ParamError::Syntax("'=' in parameter value")),
                        Some(128..=255) => {
                            non_ascii = true;
                            pos += 1;
                        }
                        Some(_) => {
                            return Err(ParamError::Syntax("control character in parameter"));
                        }
                    }
                }
                if pos == start {
                    return Err(ParamError::Syntax("empty parameter value"));
                }
                Some((start, pos))
            }
            Some(_) => return Err(ParamError::Syntax("bad character in keyword")),
        };
        f(
            key,
            RawParam {
                text,
                keyword,
                value,
            },
        )?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext_round_trip_rfc3461_4() {
        assert_eq!(xtext_decode("a+2Bb+3Dc"), Ok(Cow::Borrowed("a+b=c")));
        assert!(matches!(xtext_decode("plain"), Ok(Cow::Borrowed("plain"))));
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_decode("+C3+A9"), Ok(Cow::Borrowed("é")));
        assert_eq!(xtext_encode("é"), "+C3+A9");
        assert_eq!(xtext_decode("a+2"), Err(XtextError::BadHexchar));
        assert_eq!(xtext_decode("a+zz"), Err(XtextError::BadHexchar));
        assert_eq!(xtext_decode("a=b"), Err(XtextError::BadCharacter));
        assert_eq!(xtext_decode("a b"), Err(XtextError::BadCharacter));
        assert_eq!(xtext_decode("+FF"), Err(XtextError::NotUtf8));
    }

    #[test]
    fn write_u64_digits() {
        for n in [0, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn mail_size_does_not_allocate_rfc1870() {
        let params = MailParameters::parse(b"SIZE=123").unwrap();
        assert_eq!(params.size, Some(123));
        assert_eq!(params.unknown.capacity(), 0);
    }

    #[test]
    fn xtext_errors_in_order_rfc3461_4() {
        // A bad character anywhere is reported first.
        assert_eq!(xtext_decode("+zz a"), Err(XtextError::BadCharacter));
        // Then the first bad hexchar, before any UTF-8 check.
        assert_eq!(xtext_decode("+FF+z"), Err(XtextError::BadHexchar));
        assert_eq!(xtext_decode("+41+z"), Err(XtextError::BadHexchar));
        assert_eq!(xtext_decode("a+41+FF"), Err(XtextError::NotUtf8));
        assert_eq!(xtext_decode("abcdefgh+4"), Err(XtextError::BadHexchar));
        assert_eq!(
            xtext_decode("0123456789+41abcdefgh+2b+c3+a9z"),
            Ok(Cow::Owned("0123456789Aabcdefgh+\u{e9}z".to_owned()))
        );
        assert_eq!(xtext_decode("+41"), Ok(Cow::Owned("A".to_owned())));
    }

    /// The reader of common parameters agrees with the general reader
    /// wherever it answers (RFC 5321 §4.1.2, RFC 1870, RFC 3461, RFC 6152).
    #[test]
    fn common_parameters_agree_with_the_general_reader() {
        let texts = [
            "SIZE=1",
            "SIZE=1234567890123456789",
            "SIZE=12345678901234567890",
            "SIZE=",
            "SIZE=12a",
            "SIZE=1 SIZE=2",
            "size=7  body=8bitmime",
            "BODY=7BIT",
            "BODY=7BITS",
            "BODY=8BITMIMEX",
            "BODY=BINARYMIME",
            "BODY=\u{17}BIT",
            "RET=FULL RET=HDRS",
            "RET=hdrs",
            "RET=FUL",
            "ENVID=QQ314159",
            "ENVID=a+2Bb",
            "ENVID=a=b",
            "ENVID=",
            "ENVID=\u{e9}",
            "SMTPUTF8",
            "SMTPUTF8=x",
            "SMTPUTF8 SMTPUTF8",
            "SMTPUTF8X",
            "AUTH=<>",
            "X-FOO=1 SIZE=1",
            "NOTIFY=SUCCESS,FAILURE",
            "NOTIFY=never",
            "NOTIFY=NEVER,DELAY",
            "NOTIFY=DELAY,NEVER",
            "NOTIFY=DELAY,DELAY",
            "NOTIFY=DELAY,",
            "NOTIFY=SUCCESSES",
            "NOTIFY=DELAY NOTIFY=DELAY",
            "ORCPT=rfc822;a+40b",
            "ORCPT=rfc822;a+4",
            "ORCPT=rfc822;",
            "ORCPT=;a",
            "ORCPT=rfc822;a ORCPT=rfc822;b",
            "ORCPT=rfc822;a=b",
            "NOTIFY=FAILURE ORCPT=rfc822;x+2By   ",
        ];
        for text in texts {
            let mut common = MailParameters::default();
            if common.parse_common(text) {
                let mut general = MailParameters::default();
                let read = for_each_param(text, |key, param| general.add(key, param));
                assert_eq!(read, Ok(false), "{text}");
                assert_eq!(common, general, "{text}");
            }
            let mut common = RcptParameters::default();
            if common.parse_common(text) {
                let mut general = RcptParameters::default();
                let read = for_each_param(text, |key, param| general.add(key, param));
                assert_eq!(read, Ok(false), "{text}");
                assert_eq!(common, general, "{text}");
            }
        }
        // The common reader takes the parameters of ordinary sessions.
        assert!(MailParameters::default().parse_common("SIZE=48213 BODY=8BITMIME"));
        assert!(MailParameters::default().parse_common("BODY=7BIT RET=HDRS ENVID=QQ314159"));
        assert!(RcptParameters::default().parse_common("NOTIFY=SUCCESS,FAILURE"));
        assert!(RcptParameters::default().parse_common("ORCPT=rfc822;postmaster+40example.net"));
    }

    #[test]
    fn notify_elements_rfc3461_4_1() {
        let notify = |value: &str| {
            RcptParameters::parse(format!("NOTIFY={value} X=1").as_bytes()).map(|p| p.notify)
        };
        assert_eq!(notify("DELAY"), Ok(Some(Notify::DELAY)));
        assert_eq!(
            notify("SUCCESS,DELAY"),
            Ok(Some(Notify::SUCCESS | Notify::DELAY))
        );
        for bad in [
            "SUCCESSX",
            "SUCCESSES,DELAY",
            "DELAY,FAILURES",
            "NEVERS",
            "NEVER,",
            ",",
        ] {
            assert_eq!(
                notify(bad),
                Err(ParamError::InvalidValue("NOTIFY")),
                "{bad}"
            );
        }
        // At the very end of a short text.
        assert_eq!(
            RcptParameters::parse(b"NOTIFY=DELAY").map(|p| p.notify),
            Ok(Some(Notify::DELAY))
        );
    }
}
