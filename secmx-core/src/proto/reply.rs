//! Replies (RFC 5321 §4.2), with enhanced status codes (RFC 2034, RFC 3463).
//!
//! ```text
//! Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
//!                  Reply-code [ SP textstring ] CRLF         ; RFC 5321 §4.2
//! Reply-code     = %x32-35 %x30-35 %x30-39
//! textstring     = 1*( %d09 / %d32-126 )
//! status-code    = class "." subject "." detail SP          ; RFC 2034 §4,
//!                                                            ; at the start
//!                                                            ; of the text
//! ```
//!
//! # Parsing
//!
//! [`Reply::parse`] reads one whole reply from a contiguous buffer and borrows
//! its text; [`ReplyParser`] takes bytes in pieces of any size (one byte at a
//! time included) and hands out owned replies. Both stop at the end of one
//! reply and report how many bytes it took, so that a client can tell whether
//! anything followed it: bytes after the `220` to STARTTLS are an injection
//! attempt (CVE-2021-38371) and must not be read as plaintext replies.
//!
//! Both are strict, as a client must be with a peer it does not trust; each
//! of these is a [`ReplyError`]:
//!
//! - a code that is not three digits from 200 to 559 (RFC 5321 §4.2.1);
//! - anything but `-`, SP or CRLF right after the code;
//! - a continuation line whose code differs from the first line's
//!   (RFC 5321 §4.2.1: every line carries the same code);
//! - a line longer than [`MAX_REPLY_LINE`] octets, CRLF included
//!   (RFC 5321 §4.5.3.1.5), reported as soon as octet 511 is not the CR;
//! - more than [`MAX_REPLY_LINES`] lines, reported at the `-` of the last
//!   allowed line;
//! - a bare CR or LF (RFC 5321 §2.3.8) or a NUL anywhere.
//!
//! Errors are found in the order of the bytes: the first offending byte
//! decides, so both parsers report the same error for the same input however
//! it is cut into pieces.
//!
//! # Text
//!
//! Reply text is ASCII (RFC 5321 §4.2), or UTF-8 after SMTPUTF8 (RFC 6531).
//! Each line's text is a `Cow<str>`: valid UTF-8 is borrowed as it stands; a
//! line with invalid UTF-8 is converted lossily (each bad sequence becomes
//! U+FFFD) into an owned string. Other control characters than those rejected
//! above (ESC, for instance) are kept as they came: escape the text before
//! showing it on a terminal (the `Display` impl does).
//!
//! # Enhanced status codes
//!
//! When the first line's text starts with an enhanced status code whose class
//! is the reply code's first digit (RFC 2034 §4: "must agree with the primary
//! response code"), that code becomes [`Reply::enhanced`] and is taken off the
//! text with the spaces after it (RFC 2034 §3: "followed by one or more
//! spaces"). Later lines lose the same prefix when they carry the same code;
//! other text is left alone. A `3yz` reply never has one.
//!
//! # Encoding
//!
//! [`Reply::encode`] writes the continuation lines and the final line, with
//! the enhanced code in front of every line (RFC 2034 §4). It never writes a
//! line over [`MAX_REPLY_LINE`]: text too long for one line is wrapped at the
//! last space that fits (or at the last character that fits, when there is no
//! space), and a reply is cut after [`MAX_REPLY_LINES`] lines, the last one
//! written being the final line. CR, LF and NUL in text become spaces, so that
//! text can never end the reply early or smuggle a line in.

use core::fmt;
use std::borrow::Cow;

use memchr::memchr3;

use crate::limits::{MAX_REPLY_LINE, MAX_REPLY_LINES};
use crate::proto::Status;
use crate::proto::code::{EnhancedCode, ErrorReply, ReplyClass, ReplyCode};

/// A reply that does not follow the grammar of RFC 5321 §4.2 or goes over a
/// limit. A client treats any of these as a protocol error and closes the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The code is not three digits from 200 to 559 (RFC 5321 §4.2.1).
    #[error("reply code is not three digits from 200 to 559 (RFC 5321 §4.2.1)")]
    InvalidCode,
    /// The code is followed by something other than `-`, SP or CRLF
    /// (RFC 5321 §4.2).
    #[error("reply code is not followed by '-', SP or CRLF (RFC 5321 §4.2)")]
    InvalidSeparator,
    /// A continuation line has another code than the first line
    /// (RFC 5321 §4.2.1).
    #[error("reply line has code {found}, the reply started with {first} (RFC 5321 §4.2.1)")]
    MismatchedCode {
        /// The first line's code.
        first: ReplyCode,
        /// The code of the line that differs.
        found: ReplyCode,
    },
    /// A line is longer than [`MAX_REPLY_LINE`] octets, CRLF included
    /// (RFC 5321 §4.5.3.1.5).
    #[error("reply line longer than {MAX_REPLY_LINE} octets (RFC 5321 §4.5.3.1.5)")]
    LineTooLong,
    /// The reply has more than [`MAX_REPLY_LINES`] lines.
    #[error("reply longer than {MAX_REPLY_LINES} lines")]
    TooManyLines,
    /// A LF without a CR before it (RFC 5321 §2.3.8).
    #[error("bare LF in reply (RFC 5321 §2.3.8)")]
    BareLf,
    /// A CR without a LF after it (RFC 5321 §2.3.8).
    #[error("bare CR in reply (RFC 5321 §2.3.8)")]
    BareCr,
    /// A NUL octet.
    #[error("NUL octet in reply")]
    Nul,
}

/// The text lines of a reply: one line inline, more in a `Vec`. Invariant:
/// `Many` holds two lines or more, so a one-line reply never allocates for
/// its list of lines.
#[derive(Debug, Clone)]
enum Lines<'a> {
    /// Exactly one line.
    One(Cow<'a, str>),
    /// Two lines or more.
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Lines<'a> {
    fn as_slice(&self) -> &[Cow<'a, str>] {
        match self {
            Lines::One(line) => core::slice::from_ref(line),
            Lines::Many(lines) => lines,
        }
    }

    fn push(&mut self, line: Cow<'a, str>) {
        match self {
            Lines::One(first) => {
                // Room for a usual EHLO reply, the one with many lines, so
                // that it does not grow line by line.
                let mut lines = Vec::with_capacity(8);
                lines.push(core::mem::take(first));
                lines.push(line);
                *self = Lines::Many(lines);
            }
            Lines::Many(lines) => lines.push(line),
        }
    }
}

/// One SMTP reply: a code, an optional enhanced status code and one line of
/// text or more (RFC 5321 §4.2).
///
/// There is always at least one line; a reply with no text (`250\r\n`) has one
/// empty line.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    lines: Lines<'a>,
}

impl<'a> Reply<'a> {
    /// A one-line reply.
    ///
    /// An enhanced code whose class is not the reply code's first digit is
    /// dropped (RFC 2034 §4: the two must agree; a `3yz` reply has none), so
    /// that what [`Reply::encode`] writes parses back to the same reply.
    pub fn new(
        code: ReplyCode,
        enhanced: Option<EnhancedCode>,
        text: impl Into<Cow<'a, str>>,
    ) -> Self {
        Self {
            code,
            enhanced: enhanced.filter(|e| agrees(code, *e)),
            lines: Lines::One(text.into()),
        }
    }

    /// The same reply with one more line at the end.
    #[must_use]
    pub fn with_line(mut self, text: impl Into<Cow<'a, str>>) -> Self {
        self.push_line(text);
        self
    }

    /// Adds a line at the end.
    pub fn push_line(&mut self, text: impl Into<Cow<'a, str>>) {
        self.lines.push(text.into());
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code (RFC 2034), if the reply carries one.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text lines, without code, separator, enhanced code or CRLF. Never
    /// empty.
    pub fn lines(&self) -> &[Cow<'a, str>] {
        self.lines.as_slice()
    }

    /// The text of all lines joined with a single space (a one-line reply
    /// borrows its text).
    pub fn text(&self) -> Cow<'_, str> {
        match &self.lines {
            Lines::One(line) => Cow::Borrowed(line),
            Lines::Many(lines) => Cow::Owned(lines.join(" ")),
        }
    }

    /// The kind of reply, from the code's first digit.
    pub fn class(&self) -> ReplyClass {
        self.code.class()
    }

    /// True for `2yz`: the command succeeded.
    pub fn is_positive_completion(&self) -> bool {
        self.code.is_positive_completion()
    }

    /// True for `3yz`: the server waits for more (the `354` to DATA).
    pub fn is_positive_intermediate(&self) -> bool {
        self.class() == ReplyClass::PositiveIntermediate
    }

    /// True for `2yz` and `3yz`.
    pub fn is_positive(&self) -> bool {
        matches!(
            self.class(),
            ReplyClass::PositiveCompletion | ReplyClass::PositiveIntermediate
        )
    }

    /// True for `4yz`: a temporary failure.
    pub fn is_transient(&self) -> bool {
        self.code.is_transient()
    }

    /// True for `5yz`: a permanent failure.
    pub fn is_permanent(&self) -> bool {
        self.code.is_permanent()
    }

    /// True for `4yz` and `5yz`.
    pub fn is_negative(&self) -> bool {
        self.is_transient() || self.is_permanent()
    }

    /// The same reply owning its text.
    pub fn into_owned(self) -> Reply<'static> {
        let lines = match self.lines {
            Lines::One(line) => Lines::One(Cow::Owned(line.into_owned())),
            Lines::Many(lines) => Lines::Many(
                lines
                    .into_iter()
                    .map(|line| Cow::Owned(line.into_owned()))
                    .collect(),
            ),
        };
        Reply {
            code: self.code,
            enhanced: self.enhanced,
            lines,
        }
    }

    /// Parses one whole reply at the start of `buf`, borrowing its text.
    ///
    /// Returns the reply and the number of bytes it took (everything up to
    /// and including the CRLF of its final line); bytes after it are left
    /// alone. [`Status::Partial`] means the final line has not arrived yet:
    /// call again with more bytes (from the same start). A one-line reply in
    /// valid UTF-8 is parsed without allocating.
    pub fn parse(buf: &'a [u8]) -> Result<Status<(Reply<'a>, usize)>, ReplyError> {
        let mut scanner = Scanner::default();
        let mut reply: Option<Reply<'a>> = None;
        let mut line_start = 0;
        let mut pos = 0;
        loop {
            let rest = buf.get(pos..).unwrap_or_default();
            let (used, line_ended) = scanner.scan(rest)?;
            pos += used;
            if !line_ended {
                return Ok(Status::Partial);
            }
            let line = buf.get(line_start..pos).unwrap_or_default();
            let code = scanner.line_code();
            match reply.as_mut() {
                None => {
                    let (enhanced, text) = first_line_text(code, line_text(line));
                    reply = Some(Reply {
                        code,
                        enhanced,
                        lines: Lines::One(String::from_utf8_lossy(text)),
                    });
                }
                Some(reply) => {
                    let text = next_line_text(reply.enhanced, line_text(line));
                    reply.lines.push(String::from_utf8_lossy(text));
                }
            }
            if scanner.last {
                // A line just ended, so `reply` holds at least that line.
                return Ok(reply.map_or(Status::Partial, |reply| Status::Complete((reply, pos))));
            }
            scanner.next_line();
            line_start = pos;
        }
    }

    /// Writes the reply in wire form: `code-text` continuation lines, then
    /// the final `code SP text` line, each ending in CRLF and each carrying
    /// the enhanced code (RFC 2034 §4).
    ///
    /// No line is longer than [`MAX_REPLY_LINE`] octets: long text is wrapped
    /// onto more lines, at the last space that fits (that space is not
    /// written) or at a character boundary when there is none. At most
    /// [`MAX_REPLY_LINES`] lines are written; text beyond them is dropped.
    /// CR, LF and NUL in text are written as spaces. A line with no text and
    /// no enhanced code is written as the bare code (`250\r\n`, `250-\r\n`).
    ///
    /// [`Reply::parse`] reads back an equal reply when no line had to be
    /// wrapped or cut, no text holds CR, LF or NUL, no line starts with a
    /// space after an enhanced code (the parser takes all of those spaces
    /// off), and, without an enhanced code, the first line does not itself
    /// start with one of the reply's class.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let enhanced = self.enhanced.map(EnhancedCode::to_text);
        let enhanced = enhanced
            .as_ref()
            .map(|(text, len)| text.get(..*len).unwrap_or_default());
        let prefix_len = enhanced.map_or(0, |e| e.len() + 1);
        // Octets left for text: the code, the separator, the enhanced code
        // and its space, and CRLF take the rest.
        let budget = MAX_REPLY_LINE - 3 - 1 - 2 - prefix_len;
        let total = self
            .lines()
            .iter()
            .map(|line| Wrap::new(line, budget).count())
            .sum::<usize>()
            .min(MAX_REPLY_LINES);
        let digits = self.code.to_digits();
        let segments = self
            .lines()
            .iter()
            .flat_map(|line| Wrap::new(line, budget))
            .take(total);
        for (index, segment) in segments.enumerate() {
            let last = index + 1 == total;
            out.extend_from_slice(&digits);
            if let Some(enhanced) = enhanced {
                out.push(if last { b' ' } else { b'-' });
                out.extend_from_slice(enhanced);
                if !segment.is_empty() {
                    out.push(b' ');
                }
            } else if !segment.is_empty() {
                out.push(if last { b' ' } else { b'-' });
            } else if !last {
                out.push(b'-');
            }
            out.extend(segment.bytes().map(|b| match b {
                b'\r' | b'\n' | 0 => b' ',
                other => other,
            }));
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply in wire form, as [`Reply::encode`] writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl PartialEq for Reply<'_> {
    fn eq(&self, other: &Reply<'_>) -> bool {
        self.code == other.code && self.enhanced == other.enhanced && self.lines() == other.lines()
    }
}

impl Eq for Reply<'_> {}

impl From<ErrorReply> for Reply<'static> {
    fn from(error: ErrorReply) -> Self {
        Reply::new(error.code, Some(error.enhanced), error.text)
    }
}

/// `code enhanced text`, lines joined with a space; control characters are
/// escaped, so that a hostile server cannot write to a terminal through a log.
impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = self.enhanced {
            write!(f, " {enhanced}")?;
        }
        for (index, line) in self.lines().iter().enumerate() {
            if index > 0 || !line.is_empty() {
                f.write_str(" ")?;
            }
            for c in line.chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

/// True when the enhanced code's class is the reply code's first digit
/// (RFC 2034 §4).
fn agrees(code: ReplyCode, enhanced: EnhancedCode) -> bool {
    u16::from(enhanced.class()) == code.get() / 100
}

/// The text of a complete line (code, separator and CRLF taken off).
fn line_text(line: &[u8]) -> &[u8] {
    // `250\r\n` has no text: 4..3 is out of range and gives the empty text.
    line.get(4..line.len().saturating_sub(2))
        .unwrap_or_default()
}

/// Splits the enhanced code off the first line's text (RFC 2034 §4).
fn first_line_text(code: ReplyCode, text: &[u8]) -> (Option<EnhancedCode>, &[u8]) {
    match EnhancedCode::parse_prefix(text) {
        Some((enhanced, len)) if agrees(code, enhanced) => (Some(enhanced), after_code(text, len)),
        _ => (None, text),
    }
}

/// Takes the first line's enhanced code off a later line that carries it.
fn next_line_text(enhanced: Option<EnhancedCode>, text: &[u8]) -> &[u8] {
    match (enhanced, EnhancedCode::parse_prefix(text)) {
        (Some(first), Some((found, len))) if first == found => after_code(text, len),
        _ => text,
    }
}

/// The text after an enhanced code of `len` octets and the spaces after it.
fn after_code(text: &[u8], len: usize) -> &[u8] {
    let rest = text.get(len..).unwrap_or_default();
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    rest.get(spaces..).unwrap_or_default()
}

/// Cuts one line of text into pieces of at most `budget` octets.
struct Wrap<'t> {
    rest: &'t str,
    budget: usize,
    done: bool,
}

impl<'t> Wrap<'t> {
    fn new(text: &'t str, budget: usize) -> Self {
        Self {
            rest: text,
            budget,
            done: false,
        }
    }
}

impl<'t> Iterator for Wrap<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        if self.done {
            return None;
        }
        if self.rest.len() <= self.budget {
            self.done = true;
            return Some(self.rest);
        }
        // The longest prefix that fits and ends on a character boundary
        // (the budget is far above 4, so it is never empty).
        let mut fit = self.budget;
        while !self.rest.is_char_boundary(fit) {
            fit -= 1;
        }
        let head = self.rest.get(..fit).unwrap_or_default();
        // Prefer to break at the last space that fits, dropping that space.
        let (piece, rest_start) = match head.rfind(' ') {
            Some(space) if space > 0 => (head.get(..space).unwrap_or_default(), space + 1),
            _ => (head, fit),
        };
        self.rest = self.rest.get(rest_start..).unwrap_or_default();
        Some(piece)
    }
}

/// The byte-level checks of the reply grammar, shared by [`Reply::parse`]
/// and [`ReplyParser`] so that both find the same error at the same byte.
#[derive(Debug, Clone, Default)]
struct Scanner {
    /// The first line's code, once its three digits have been read.
    first: Option<ReplyCode>,
    /// The current line's code, once its three digits have been read.
    code: Option<ReplyCode>,
    /// Lines completed before the current one.
    lines: usize,
    /// Octets of the current line seen so far.
    at: usize,
    /// The digits of the current line's code read so far.
    digits: u16,
    /// The current line's separator makes it the final line.
    last: bool,
    /// The last octet seen was a CR.
    cr: bool,
}

impl Scanner {
    /// Reads as much of `input` as belongs to the current line. Returns the
    /// octets taken and whether the line ended (its CRLF was taken).
    fn scan(&mut self, input: &[u8]) -> Result<(usize, bool), ReplyError> {
        let mut i = 0;
        while let Some(&byte) = input.get(i) {
            if self.cr {
                if byte != b'\n' {
                    return Err(ReplyError::BareCr);
                }
                self.cr = false;
                self.at += 1;
                return Ok((i + 1, true));
            }
            match self.at {
                0..=2 => {
                    match byte {
                        0 => return Err(ReplyError::Nul),
                        b'\n' => return Err(ReplyError::BareLf),
                        b'0'..=b'9' => {}
                        _ => return Err(ReplyError::InvalidCode),
                    }
                    self.digits = self.digits * 10 + u16::from(byte - b'0');
                    self.at += 1;
                    i += 1;
                    if self.at == 3 {
                        let code = ReplyCode::new(self.digits).ok_or(ReplyError::InvalidCode)?;
                        match self.first {
                            None => self.first = Some(code),
                            Some(first) if first != code => {
                                return Err(ReplyError::MismatchedCode { first, found: code });
                            }
                            Some(_) => {}
                        }
                        self.code = Some(code);
                    }
                }
                3 => {
                    match byte {
                        b' ' => self.last = true,
                        b'-' => {
                            if self.lines + 1 >= MAX_REPLY_LINES {
                                return Err(ReplyError::TooManyLines);
                            }
                        }
                        b'\r' => {
                            self.last = true;
                            self.cr = true;
                        }
                        0 => return Err(ReplyError::Nul),
                        b'\n' => return Err(ReplyError::BareLf),
                        _ => return Err(ReplyError::InvalidSeparator),
                    }
                    self.at += 1;
                    i += 1;
                }
                at => {
                    // Octets `at..=MAX_REPLY_LINE - 2` may still come before
                    // the CR; the LF then takes the last allowed octet.
                    let room = (MAX_REPLY_LINE - 1).saturating_sub(at);
                    let end = input.len().min(i + room);
                    let window = input.get(i..end).unwrap_or_default();
                    match memchr3(b'\r', b'\n', 0, window) {
                        Some(found) => {
                            self.at += found + 1;
                            i += found + 1;
                            match window.get(found) {
                                Some(b'\r') => self.cr = true,
                                Some(b'\n') => return Err(ReplyError::BareLf),
                                _ => return Err(ReplyError::Nul),
                            }
                        }
                        None => {
                            self.at += window.len();
                            i = end;
                            if self.at >= MAX_REPLY_LINE - 1 {
                                return Err(ReplyError::LineTooLong);
                            }
                        }
                    }
                }
            }
        }
        Ok((i, false))
    }

    /// The code of the line just completed.
    fn line_code(&self) -> ReplyCode {
        // A line only ends after its code was read and checked; the fallback
        // is never taken.
        self.code.unwrap_or(ReplyCode::OK)
    }

    /// Gets ready for the next line of the same reply.
    fn next_line(&mut self) {
        self.lines += 1;
        self.at = 0;
        self.digits = 0;
        self.code = None;
        self.last = false;
        self.cr = false;
    }
}

/// An incremental reply parser for a client that receives bytes in pieces of
/// any size, down to one byte at a time.
///
/// It keeps the current line (at most [`MAX_REPLY_LINE`] octets) and the text
/// of the lines before it (at most [`MAX_REPLY_LINES`] lines), so its memory
/// is bounded whatever the server sends. [`ReplyParser::feed`] stops at the
/// end of each reply and says how many bytes of the input it took; the rest
/// of the input is the caller's to look at (and, after the `220` to STARTTLS,
/// to reject: CVE-2021-38371).
///
/// ```
/// use secmx_core::proto::Status;
/// use secmx_core::proto::reply::ReplyParser;
///
/// let mut parser = ReplyParser::new();
/// assert!(parser.feed(b"250-mx.example ").unwrap().is_partial());
/// let input = b"Hello\r\n250 PIPELINING\r\n220 smuggled\r\n";
/// let Status::Complete((reply, used)) = parser.feed(input).unwrap() else {
///     panic!("the reply is complete");
/// };
/// assert_eq!(reply.lines(), ["mx.example Hello", "PIPELINING"]);
/// assert_eq!(&input[used..], b"220 smuggled\r\n");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReplyParser {
    scanner: Scanner,
    /// The current line's octets.
    line: Vec<u8>,
    /// The lines completed so far.
    reply: Option<Reply<'static>>,
    /// The error that stopped the parser; it is returned again.
    error: Option<ReplyError>,
}

impl ReplyParser {
    /// A parser waiting for the first byte of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads bytes up to the end of one reply.
    ///
    /// - `Complete((reply, used))`: the reply ended after `used` bytes of
    ///   `input`; the rest of `input` was not looked at. The parser is ready
    ///   for the next reply.
    /// - `Partial`: all of `input` was taken and the reply is not complete.
    /// - `Err`: the reply breaks the grammar or a limit. The error is sticky:
    ///   every later call returns it again.
    pub fn feed(&mut self, input: &[u8]) -> Result<Status<(Reply<'static>, usize)>, ReplyError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let result = self.feed_inner(input);
        if let Err(error) = &result {
            self.error = Some(error.clone());
        }
        result
    }

    fn feed_inner(&mut self, input: &[u8]) -> Result<Status<(Reply<'static>, usize)>, ReplyError> {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(Status::Partial);
            }
            let (used, line_ended) = self.scanner.scan(rest)?;
            self.line
                .extend_from_slice(rest.get(..used).unwrap_or_default());
            pos += used;
            if !line_ended {
                return Ok(Status::Partial);
            }
            let code = self.scanner.line_code();
            let text = line_text(&self.line);
            match self.reply.as_mut() {
                None => {
                    let (enhanced, text) = first_line_text(code, text);
                    let text = String::from_utf8_lossy(text).into_owned();
                    self.reply = Some(Reply {
                        code,
                        enhanced,
                        lines: Lines::One(Cow::Owned(text)),
                    });
                }
                Some(reply) => {
                    let text = next_line_text(reply.enhanced, text);
                    let text = String::from_utf8_lossy(text).into_owned();
                    reply.lines.push(Cow::Owned(text));
                }
            }
            self.line.clear();
            if self.scanner.last {
                self.scanner = Scanner::default();
                if let Some(reply) = self.reply.take() {
                    return Ok(Status::Complete((reply, pos)));
                }
            } else {
                self.scanner.next_line();
            }
        }
    }

    /// True when no part of a reply is held: the last call ended exactly at
    /// the end of a reply (or nothing was fed yet). A client checks this,
    /// together with the count [`ReplyParser::feed`] returns, before it
    /// starts TLS.
    pub fn is_idle(&self) -> bool {
        self.error.is_none() && self.reply.is_none() && self.line.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_char_boundaries() {
        let pieces: Vec<&str> = Wrap::new("aaaa bbbb cc", 6).collect();
        assert_eq!(pieces, ["aaaa", "bbbb", "cc"]);
        let pieces: Vec<&str> = Wrap::new("ééé", 5).collect();
        assert_eq!(pieces, ["éé", "é"]);
        let pieces: Vec<&str> = Wrap::new("", 5).collect();
        assert_eq!(pieces, [""]);
    }

    #[test]
    fn one_line_reply_borrows_rfc5321_4_2() {
        let Status::Complete((reply, used)) = Reply::parse(b"250 2.1.0 Ok\r\n").unwrap() else {
            panic!("complete reply");
        };
        assert_eq!(used, 14);
        assert!(matches!(reply.lines, Lines::One(Cow::Borrowed("Ok"))));
        assert!(matches!(reply.text(), Cow::Borrowed("Ok")));
    }
}
