//! Line framing: CRLF only (RFC 5321 §2.3.8, §4.1.1.4).
//!
//! ```text
//! line = *(%x00-0C / %x0E-FF / CR not-followed-by-LF) CRLF   ; as it arrives
//! CRLF = %x0D %x0A                                          ; the only line end
//! ```
//!
//! RFC 5321 §2.3.8: "Lines consist of zero or more data characters terminated
//! by the sequence ASCII character "CR" (hex value 0D) followed immediately by
//! ASCII character "LF" (hex value 0A)". A bare LF or a bare CR is never a
//! line end here, and a line that holds one is an error: servers that took a
//! bare LF as a line end are what SMTP smuggling (CVE-2023-51764/51765/51766)
//! exploits. Every line is bounded; the bound counts the CRLF
//! (RFC 5321 §4.5.3.1.4 for commands, §4.5.3.1.5 for replies).
//!
//! Two tools:
//!
//! - [`find_line`], stateless: where does the first line of a buffer end?
//! - [`LineReader`], for a session that receives bytes in pieces of any size:
//!   it returns each line borrowed from the caller's input when the whole
//!   line is there, and otherwise copies only the unfinished tail into a
//!   buffer that never grows past the limit.
//!
//! # How the reader consumes input
//!
//! [`LineReader::next`] takes `&mut &[u8]` and advances it past what it
//! consumed:
//!
//! - `Ok(Some(line))`: consumed up to and including the CRLF of `line`, and
//!   not one byte more. What follows the line (pipelined commands, or an
//!   injection after `STARTTLS`, CVE-2011-0411) is still in the input.
//! - `Ok(None)`: consumed everything; the input is empty. An unfinished line
//!   was kept (at most the limit), or bytes of a bad line were dropped.
//! - `Err(e)`: consumed the bad line up to and including the byte that showed
//!   the error (the bare LF, the bare CR, or the byte that made the line too
//!   long), and no further. The reader then drops the rest of that line, up
//!   to and including the next CRLF, on the following calls, without storing
//!   it, and reports nothing more about it.
//!
//! ```
//! use secmx_core::proto::line::LineReader;
//!
//! let mut reader = LineReader::for_commands();
//! let mut input: &[u8] = b"EHLO a.example\r\nSTARTTLS\r\nMAIL FROM:<evil>\r\n";
//! let mut lines = Vec::new();
//! while let Some(line) = reader.next(&mut input).expect("well-formed lines") {
//!     lines.push(line.as_bytes().to_vec());
//!     if line.as_bytes() == b"STARTTLS" {
//!         break;
//!     }
//! }
//! assert_eq!(lines, [b"EHLO a.example".to_vec(), b"STARTTLS".to_vec()]);
//! // The bytes after STARTTLS were not swallowed: the session sees them.
//! assert_eq!(input, b"MAIL FROM:<evil>\r\n");
//! assert_eq!(reader.buffered(), 0);
//! ```

use memchr::{memchr2, memmem};

use crate::limits::{MAX_COMMAND_LINE, MAX_REPLY_LINE};
use crate::proto::Status;
use crate::proto::code::ErrorReply;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// What is wrong with a line (RFC 5321 §2.3.8, §4.5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// An LF not preceded by CR (RFC 5321 §2.3.8).
    #[error("bare LF in line (RFC 5321 section 2.3.8)")]
    BareLf,
    /// A CR not followed by LF (RFC 5321 §2.3.8).
    #[error("bare CR in line (RFC 5321 section 2.3.8)")]
    BareCr,
    /// The line, CRLF included, is longer than the limit
    /// (RFC 5321 §4.5.3.1.4, §4.5.3.1.5).
    #[error("line too long (RFC 5321 section 4.5.3.1)")]
    TooLong,
}

impl LineError {
    /// The reply a server sends for this error: `500 5.5.2`.
    pub fn reply(&self) -> ErrorReply {
        match self {
            LineError::BareLf | LineError::BareCr => ErrorReply::BARE_LINE_END,
            LineError::TooLong => ErrorReply::LINE_TOO_LONG,
        }
    }
}

/// Finds the end of the first line of `buf`, whose length, CRLF included,
/// may be at most `max` (RFC 5321 §2.3.8).
///
/// - `Ok(Status::Complete(n))`: `buf[..n]` is the line, ending in CRLF.
/// - `Ok(Status::Partial)`: no CRLF yet and the line can still fit; a CR as
///   the last byte of `buf` may be the start of the CRLF.
/// - `Err(_)`: the first CR or LF of the line is bare, or the line cannot fit
///   in `max` any more (`max - 1` octets without a CRLF starting in them).
///
/// The error is the first that the bytes show, reading from the start: a
/// bare LF or CR within the first `max - 1` octets, else
/// [`LineError::TooLong`]. The answer depends only on the bytes, not on how
/// many of them have arrived. A `max` below 2 admits no line at all.
///
/// ```
/// use secmx_core::proto::{Status, line::{find_line, LineError}};
///
/// assert_eq!(find_line(b"NOOP\r\nQUIT\r\n", 512), Ok(Status::Complete(6)));
/// assert_eq!(find_line(b"NOOP\r", 512), Ok(Status::Partial));
/// assert_eq!(find_line(b"NOOP\n", 512), Err(LineError::BareLf));
/// assert_eq!(find_line(b"NOOP\r\n", 5), Err(LineError::TooLong));
/// ```
pub fn find_line(buf: &[u8], max: usize) -> Result<Status<usize>, LineError> {
    scan(buf, max).map_err(|bad| bad.error)
}

/// The first CR or LF in `window`.
#[inline(always)]
fn find_cr_or_lf(window: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use memchr::arch::x86_64::avx2::memchr::Two;
        static SEARCHER: std::sync::OnceLock<Option<Two>> = std::sync::OnceLock::new();
        if let Some(searcher) = SEARCHER.get_or_init(|| Two::new(CR, LF)) {
            return searcher.find(window);
        }
    }
    memchr2(CR, LF, window)
}

/// A bad line: the error, and how many bytes of the line showed it.
#[derive(Debug, Clone, Copy)]
struct BadLine {
    error: LineError,
    /// Bytes up to and including the one that showed the error.
    seen: usize,
}

#[inline]
fn scan(buf: &[u8], max: usize) -> Result<Status<usize>, BadLine> {
    // A CRLF that ends a line of at most `max` octets starts within the
    // first `max - 1` octets: nothing after them matters.
    let limit = max.saturating_sub(1);
    let window = buf.get(..limit).unwrap_or(buf);
    match find_cr_or_lf(window) {
        Some(at) => match (buf.get(at), buf.get(at + 1)) {
            (Some(&LF), _) => Err(BadLine {
                error: LineError::BareLf,
                seen: at + 1,
            }),
            (_, None) => Ok(Status::Partial),
            (_, Some(&LF)) => Ok(Status::Complete(at + 2)),
            (_, Some(_)) => Err(BadLine {
                error: LineError::BareCr,
                seen: at + 1,
            }),
        },
        None if window.len() == limit => Err(BadLine {
            error: LineError::TooLong,
            seen: limit,
        }),
        None => Ok(Status::Partial),
    }
}

/// One line from a [`LineReader`], borrowed from the caller's input or from
/// the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Line<'a> {
    /// The line with its CRLF.
    raw: &'a [u8],
}

impl<'a> Line<'a> {
    #[inline]
    fn new(raw: &'a [u8]) -> Self {
        Self { raw }
    }

    /// The line without its CRLF.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
            .strip_suffix(b"\r\n")
            .expect("a Line is only built from bytes that end in CRLF")
    }

    /// The line with its CRLF, as it arrived.
    #[inline]
    pub fn with_crlf(&self) -> &'a [u8] {
        self.raw
    }

    /// The number of bytes the line took on the wire, CRLF included.
    #[inline]
    pub fn wire_len(&self) -> usize {
        self.raw.len()
    }
}

/// What the reader is doing between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading lines; the buffer holds the start of an unfinished line, or
    /// nothing.
    Reading,
    /// The buffer holds the line returned by the last call; it is dropped at
    /// the next call.
    Returned,
    /// Dropping the rest of a bad line up to and including its CRLF. `cr`:
    /// the last byte dropped was a CR.
    Discarding { cr: bool },
}

/// Splits bytes that arrive in pieces of any size into CRLF lines of bounded
/// length (RFC 5321 §2.3.8), without copying a line that arrives whole.
///
/// Memory: an idle reader holds no heap at all; an unfinished line is held in
/// a buffer that never grows past the limit (for commands,
/// [`MAX_COMMAND_LINE`] = 512 octets). A bad line (bare CR or LF, or too
/// long) is reported once and the rest of it is dropped as it arrives, so a
/// line of a mebibyte without a CRLF costs nothing. See the
/// [module docs](self) for exactly which bytes each call consumes.
#[derive(Debug, Clone)]
pub struct LineReader {
    max: usize,
    buf: Vec<u8>,
    mode: Mode,
}

impl LineReader {
    /// A reader for lines of at most `max` octets, CRLF included.
    /// A `max` below 2 admits no line.
    pub const fn new(max: usize) -> Self {
        Self {
            max,
            buf: Vec::new(),
            mode: Mode::Reading,
        }
    }

    /// A reader for command lines, [`MAX_COMMAND_LINE`]
    /// (RFC 5321 §4.5.3.1.4).
    pub const fn for_commands() -> Self {
        Self::new(MAX_COMMAND_LINE)
    }

    /// A reader for reply lines, [`MAX_REPLY_LINE`] (RFC 5321 §4.5.3.1.5).
    pub const fn for_replies() -> Self {
        Self::new(MAX_REPLY_LINE)
    }

    /// The longest line accepted, CRLF included.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Bytes of an unfinished line held from earlier calls (0 right after a
    /// line was returned).
    pub fn buffered(&self) -> usize {
        match self.mode {
            Mode::Reading => self.buf.len(),
            Mode::Returned | Mode::Discarding { .. } => 0,
        }
    }

    /// True while the reader drops the rest of a bad line.
    pub fn is_discarding(&self) -> bool {
        matches!(self.mode, Mode::Discarding { .. })
    }

    /// Heap bytes the reader holds now: never more than [`Self::max`], and 0
    /// when it holds no unfinished line.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Takes the next line from `input` and advances `input` past the bytes
    /// consumed (see the [module docs](self)).
    ///
    /// The line borrows from `input` when it arrived whole in this call, or
    /// from the reader when it was completed from earlier pieces. After
    /// `Err`, call again with the same `input`: the reader drops the rest of
    /// the bad line and goes on with the next one.
    #[inline]
    pub fn next<'a, 'i: 'a>(
        &'a mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Line<'a>>, LineError> {
        // The common case: nothing held, and a whole line in the input.
        if self.mode == Mode::Reading && self.buf.is_empty() {
            return match scan(input, self.max) {
                Ok(Status::Complete(n)) => {
                    let (line, rest) = input.split_at(n);
                    *input = rest;
                    Ok(Some(Line::new(line)))
                }
                Ok(Status::Partial) => self.start_line(input, None),
                Err(bad) => self.start_line(input, Some(bad)),
            };
        }
        self.next_held(input)
    }

    /// [`Self::next`] with nothing held, when `input` has no whole line
    /// (`bad` is `None`) or starts with a bad one.
    #[inline(never)]
    fn start_line<'a>(
        &'a mut self,
        input: &mut &[u8],
        bad: Option<BadLine>,
    ) -> Result<Option<Line<'a>>, LineError> {
        match bad {
            None => {
                self.keep(input);
                *input = &[];
                Ok(None)
            }
            Some(bad) => Err(self.fail(input, bad)),
        }
    }

    /// [`Self::next`] when the reader holds an unfinished line, the line it
    /// returned last, or a bad line to drop.
    #[inline(never)]
    fn next_held<'a, 'i: 'a>(
        &'a mut self,
        input: &mut &'i [u8],
    ) -> Result<Option<Line<'a>>, LineError> {
        if self.mode == Mode::Returned {
            self.buf = Vec::new();
            self.mode = Mode::Reading;
        }
        if let Mode::Discarding { cr } = self.mode {
            match end_of_discard(input, cr) {
                Some(skip) => {
                    *input = input.get(skip..).unwrap_or_default();
                    self.mode = Mode::Reading;
                }
                None => {
                    self.mode = Mode::Discarding {
                        cr: input.last() == Some(&CR),
                    };
                    *input = &[];
                    return Ok(None);
                }
            }
        }
        let Some(&first) = input.first() else {
            return Ok(None);
        };
        if self.buf.is_empty() {
            return match scan(input, self.max) {
                Ok(Status::Complete(n)) => {
                    let (line, rest) = input.split_at(n);
                    *input = rest;
                    Ok(Some(Line::new(line)))
                }
                Ok(Status::Partial) => {
                    self.keep(input);
                    *input = &[];
                    Ok(None)
                }
                Err(bad) => Err(self.fail(input, bad)),
            };
        }
        // The buffer holds the start of a line with no CR or LF in it, except
        // perhaps a CR as its last byte.
        let status = if self.buf.last() == Some(&CR) {
            if first == LF {
                Ok(Status::Complete(1))
            } else {
                Err(BadLine {
                    error: LineError::BareCr,
                    seen: 0,
                })
            }
        } else {
            scan(input, self.max.saturating_sub(self.buf.len()))
        };
        match status {
            Ok(Status::Complete(n)) => {
                let (tail, rest) = input.split_at(n);
                self.keep(tail);
                *input = rest;
                self.mode = Mode::Returned;
                Ok(Some(Line::new(&self.buf)))
            }
            Ok(Status::Partial) => {
                self.keep(input);
                *input = &[];
                Ok(None)
            }
            Err(bad) => Err(self.fail(input, bad)),
        }
    }

    /// Drops the bad line's bytes seen so far and starts discarding.
    fn fail(&mut self, input: &mut &[u8], bad: BadLine) -> LineError {
        *input = input.get(bad.seen..).unwrap_or_default();
        self.buf = Vec::new();
        // The last byte consumed is never a CR that an LF may follow: a bare
        // CR is known to be followed by something else, and the other errors
        // end on a byte that is not a CR. So the discarding starts fresh.
        self.mode = Mode::Discarding { cr: false };
        bad.error
    }

    /// Appends to the unfinished line; never grows the buffer past `max`.
    fn keep(&mut self, bytes: &[u8]) {
        let needed = self.buf.len() + bytes.len();
        debug_assert!(needed <= self.max, "scan bounds every kept line");
        if needed > self.buf.capacity() {
            let target = needed
                .max(self.buf.capacity().saturating_mul(2))
                .max(64)
                .min(self.max.max(needed));
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }
}

/// Where a discarded line ends: the number of bytes up to and including its
/// CRLF, or `None` if `input` holds no CRLF. `cr`: the byte before `input`
/// was a CR.
fn end_of_discard(input: &[u8], cr: bool) -> Option<usize> {
    if cr && input.first() == Some(&LF) {
        return Some(1);
    }
    memmem::find(input, b"\r\n").map(|at| at + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CR/LF search finds what `memchr2` finds, in windows short and
    /// long enough for each vector width (RFC 5321 §2.3.8).
    #[test]
    fn cr_or_lf_search_matches_memchr2_rfc5321_2_3_8() {
        // Under miri every seventh position: the full sweep takes minutes.
        let stride = if cfg!(miri) { 7 } else { 1 };
        for len in 0..100 {
            for at in (0..=len).step_by(stride) {
                for end in [CR, LF] {
                    let mut window = vec![b'a'; len];
                    if let Some(b) = window.get_mut(at) {
                        *b = end;
                    }
                    for start in 0..3.min(len + 1) {
                        let window = &window[start..];
                        assert_eq!(find_cr_or_lf(window), memchr2(CR, LF, window), "{len} {at}");
                    }
                }
            }
        }
    }

    // RFC 5321 §2.3.8: CRLF is the only line end.
    #[test]
    fn find_line_table_rfc5321_2_3_8() {
        use LineError::*;
        type Case = (&'static [u8], usize, Result<Status<usize>, LineError>);
        let cases: &[Case] = &[
            (b"", 512, Ok(Status::Partial)),
            (b"\r\n", 512, Ok(Status::Complete(2))),
            (b"NOOP\r\nQUIT\r\n", 512, Ok(Status::Complete(6))),
            (b"NOOP", 512, Ok(Status::Partial)),
            (b"NOOP\r", 512, Ok(Status::Partial)),
            (b"NOOP\n", 512, Err(BareLf)),
            (b"\n", 512, Err(BareLf)),
            (b"NOOP\rX\r\n", 512, Err(BareCr)),
            (b"NOOP\r\r\n", 512, Err(BareCr)),
            (b"NO\nOP\r\n", 512, Err(BareLf)),
            // RFC 5321 §4.5.3.1.4: the limit counts the CRLF.
            (b"abc\r\n", 5, Ok(Status::Complete(5))),
            (b"abcd\r\n", 5, Err(TooLong)),
            (b"abc\r", 5, Ok(Status::Partial)),
            (b"abc", 5, Ok(Status::Partial)),
            (b"abcd", 5, Err(TooLong)),
            // A bare LF past the limit does not matter: the length does.
            (b"abcd\n", 5, Err(TooLong)),
            (b"ab\ncd", 5, Err(BareLf)),
            (b"", 1, Err(TooLong)),
        ];
        for (input, max, expected) in cases {
            assert_eq!(
                find_line(input, *max),
                *expected,
                "{:?} max {max}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn error_replies_are_500_5_5_2() {
        for e in [LineError::BareLf, LineError::BareCr, LineError::TooLong] {
            assert_eq!(e.reply().code.get(), 500);
            assert_eq!(e.reply().enhanced.to_string(), "5.5.2");
        }
        assert_eq!(LineError::TooLong.reply(), ErrorReply::LINE_TOO_LONG);
        assert_eq!(LineError::BareCr.reply(), ErrorReply::BARE_LINE_END);
    }

    #[test]
    fn idle_reader_holds_no_heap() {
        let mut reader = LineReader::for_commands();
        assert_eq!(reader.heap_bytes(), 0);
        let mut input: &[u8] = b"NO";
        assert_eq!(reader.next(&mut input), Ok(None));
        assert!(reader.heap_bytes() > 0 && reader.heap_bytes() <= 512);
        let mut input: &[u8] = b"OP\r\n";
        let line = reader.next(&mut input).ok().flatten().map(|l| l.as_bytes());
        assert_eq!(line, Some(&b"NOOP"[..]));
        let mut input: &[u8] = b"";
        assert_eq!(reader.next(&mut input), Ok(None));
        assert_eq!(reader.heap_bytes(), 0);
        assert!(size_of::<LineReader>() <= 64);
    }
}
