//! The message body: dot-stuffing and the end of data (RFC 5321 §4.5.2,
//! §4.1.1.4), and BDAT chunks (RFC 3030 §2).
//!
//! ```text
//! data-body  = *text-line end-of-data        ; after "354", RFC 5321 §4.1.1.4
//! text-line  = [ "." ] *octet CRLF           ; a leading "." is removed
//! end-of-data = "." CRLF                     ; a line that is only "."
//!
//! bdat-cmd   = "BDAT" SP chunk-size [ SP end-marker ] CRLF   ; RFC 3030 §2
//! chunk-size = 1*DIGIT
//! end-marker = "LAST"
//! ```
//!
//! # Receiving DATA: [`DotUnstuffer`]
//!
//! The body starts as if right after a CRLF, so the end of data is the
//! first line that is only `.`: the sequence `CRLF . CRLF`, where the first
//! CRLF may be the start of the body (a body of just `.\r\n` is empty).
//! Nothing else ends it: `LF . LF`, `CR . CR`, `CRLF . LF`, `LF . CRLF`,
//! `CR . CRLF`, `CRLF . CR`, `CRLF NUL . CRLF`, `CRLF SP . CRLF` are content.
//! Ending the data on any of them is what SMTP smuggling exploits
//! (CVE-2023-51764, CVE-2023-51765, CVE-2023-51766): a sender and a receiver
//! that disagree on where a message ends let one message carry another.
//!
//! A line that starts with `.` loses that first `.` (RFC 5321 §4.5.2). The
//! unstuffer borrows the content from the input (each removed dot splits a
//! run) and holds O(1) state: no byte is ever buffered. On the way it
//! records, without stopping the stream, what a server may want to refuse
//! once the data has ended ([`BodyReport`]): a bare CR or bare LF
//! (RFC 5321 §2.3.8; Postfix's `smtpd_forbid_bare_newline` refuses these), a
//! line longer than the limit (RFC 5321 §4.5.3.1.6, 1000 octets with the
//! CRLF, not counting the removed dot), and a size over the maximum
//! (RFC 1870). The stream goes on to the end of data either way, so the
//! session stays in step with its client and answers with the error reply.
//!
//! ```
//! use secmx_core::proto::data::{DotUnstuffer, Unstuffed};
//!
//! let mut unstuffer = DotUnstuffer::new();
//! let mut input: &[u8] = b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
//! let mut body = Vec::new();
//! while let Some(piece) = unstuffer.next(&mut input) {
//!     match piece {
//!         Unstuffed::Content(bytes) => body.extend_from_slice(bytes),
//!         Unstuffed::End => break,
//!     }
//! }
//! assert_eq!(body, b"Subject: hi\r\n\r\n.dot\r\n");
//! assert_eq!(input, b"QUIT\r\n"); // pipelined: not consumed
//! assert_eq!(unstuffer.report().error_reply(true), None);
//! ```
//!
//! # Sending DATA: [`DotStuffer`]
//!
//! Doubles a `.` at the start of each line and sends every line end as
//! CRLF: a bare CR or bare LF must not be sent (RFC 5321 §2.3.8), so each
//! becomes a CRLF. A body sent through it can hold no smuggling sequence.
//!
//! # BDAT (RFC 3030)
//!
//! A chunk is exactly the announced number of octets, with no stuffing and
//! no end marker. [`BdatReceiver`] takes a chunk from pieces of any size and
//! keeps the message total; [`write_bdat`] frames a chunk for sending.
//!
//! # Speed
//!
//! The unstuffer passes over clean input (every CR followed by LF, every LF
//! preceded by CR, no `.` after a CRLF) with a branch-free check of 64-byte
//! sub-blocks that the compiler vectorises, and measures lines only near
//! each line's deadline: one check for an LF in a small window about every
//! [`MAX_TEXT_LINE`] bytes. A sub-block that holds a dot line or a bare CR
//! or LF goes through an exact per-line path built on `memchr2`. Nothing is
//! copied. On a body of short lines it runs at about two thirds of the
//! speed of a bare `memmem` search for `CRLF . CRLF`.

use memchr::{memchr, memchr2, memrchr};

use crate::limits::MAX_TEXT_LINE;
use crate::proto::code::ErrorReply;

const CR: u8 = b'\r';
const LF: u8 = b'\n';
const DOT: u8 = b'.';

/// Most bytes the fast path checks between two line measurements.
const BLOCK: usize = 32768;

/// Bytes checked branch-free between two early exits of the fast path.
const SUB_BLOCK: usize = 64;

/// Bytes before a line's deadline checked at once for an LF, without a
/// search for its position.
const LF_WINDOW: usize = 128;

/// How many such windows are checked before a `memrchr`.
const LF_WINDOWS: usize = 2;

/// One step of [`DotUnstuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unstuffed<'i> {
    /// Message content, in order, borrowed from the input (or a static CR,
    /// see [`DotUnstuffer::unstuff`]). May be empty from
    /// [`DotUnstuffer::unstuff`], never from [`DotUnstuffer::next`].
    Content(&'i [u8]),
    /// The end of data (`CRLF . CRLF`) was consumed. Bytes after it belong
    /// to the next command.
    End,
}

/// What a received body held that a server may refuse, and its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BodyReport {
    /// Octets of content, dots removed, not counting the end of data: the
    /// message size as RFC 1870 §4 counts it.
    pub size: u64,
    /// A CR not followed by LF (RFC 5321 §2.3.8).
    pub bare_cr: bool,
    /// An LF not preceded by CR (RFC 5321 §2.3.8).
    pub bare_lf: bool,
    /// A line longer than the limit, CRLF included, the removed dot not
    /// counted (RFC 5321 §4.5.3.1.6).
    pub long_line: bool,
    /// The size went over the maximum (RFC 1870 §6); content past the
    /// maximum was not returned.
    pub too_big: bool,
}

impl BodyReport {
    /// The reply to refuse the message with, if it must be refused:
    /// [`ErrorReply::TOO_BIG`] first, then [`ErrorReply::TEXT_LINE_TOO_LONG`],
    /// then [`ErrorReply::BARE_LINE_END`] when `forbid_bare_line_ends` (the
    /// server's policy, as Postfix's `smtpd_forbid_bare_newline`).
    pub fn error_reply(&self, forbid_bare_line_ends: bool) -> Option<ErrorReply> {
        if self.too_big {
            Some(ErrorReply::TOO_BIG)
        } else if self.long_line {
            Some(ErrorReply::TEXT_LINE_TOO_LONG)
        } else if forbid_bare_line_ends && (self.bare_cr || self.bare_lf) {
            Some(ErrorReply::BARE_LINE_END)
        } else {
            None
        }
    }
}

/// Where the unstuffer stands in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after a CRLF, or at the start of the body).
    LineStart,
    /// After a `.` at the start of a line (consumed, not content).
    Dot,
    /// After `.` CR at the start of a line (both consumed, not yet content).
    DotCr,
    /// Inside a line; `cr`: the last content byte was a CR.
    Text { cr: bool },
    /// The end of data was consumed.
    Done,
}

/// Receives a DATA body: removes the dot-stuffing and finds the end of data
/// (RFC 5321 §4.5.2, §4.1.1.4), streaming over pieces of any size, without
/// copying or buffering content. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct DotUnstuffer {
    state: State,
    /// Octets of the current line so far (dot removed, CR included).
    line_len: usize,
    max_line: usize,
    max_size: Option<u64>,
    report: BodyReport,
}

impl Default for DotUnstuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotUnstuffer {
    /// An unstuffer with the text line limit [`MAX_TEXT_LINE`] and no size
    /// limit.
    pub const fn new() -> Self {
        Self {
            state: State::LineStart,
            line_len: 0,
            max_line: MAX_TEXT_LINE,
            max_size: None,
            report: BodyReport {
                size: 0,
                bare_cr: false,
                bare_lf: false,
                long_line: false,
                too_big: false,
            },
        }
    }

    /// Sets the longest line, CRLF included, before
    /// [`BodyReport::long_line`] is set (RFC 5321 §4.5.3.1.6: at least
    /// [`MAX_TEXT_LINE`]).
    pub const fn with_max_line(mut self, max_line: usize) -> Self {
        self.max_line = max_line;
        self
    }

    /// Sets the largest message size in octets (RFC 1870), or none.
    pub const fn with_max_size(mut self, max_size: Option<u64>) -> Self {
        self.max_size = max_size;
        self
    }

    /// What the body held so far; final once [`Self::is_done`].
    pub fn report(&self) -> BodyReport {
        self.report
    }

    /// True once the end of data was consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next piece of the body from `input` and advances `input`
    /// past what was consumed. `None` means `input` is used up (it is then
    /// empty), or the end of data was reached earlier. After
    /// [`Unstuffed::End`], `input` starts right after the end of data.
    pub fn next<'i>(&mut self, input: &mut &'i [u8]) -> Option<Unstuffed<'i>> {
        loop {
            if self.state == State::Done {
                return None;
            }
            let (consumed, piece) = self.unstuff(input);
            *input = input.get(consumed..).unwrap_or_default();
            match piece {
                Unstuffed::End => return Some(Unstuffed::End),
                Unstuffed::Content(bytes) if !bytes.is_empty() => {
                    return Some(Unstuffed::Content(bytes));
                }
                Unstuffed::Content(_) if input.is_empty() => return None,
                Unstuffed::Content(_) => {}
            }
        }
    }

    /// Reads from the start of `input` and returns how many bytes were
    /// consumed and what they gave: content (possibly empty) or the end.
    ///
    /// The content is a slice of `input`, except for one case: a line that
    /// starts with `.` CR and goes on with anything but LF gives a CR that
    /// may have arrived in an earlier piece; it is returned as a static
    /// `"\r"` with nothing consumed. Every call with non-empty input either
    /// consumes bytes, returns content, or changes state, so a loop over it
    /// ends. After the end of data it returns `(0, End)`.
    pub fn unstuff<'i>(&mut self, input: &'i [u8]) -> (usize, Unstuffed<'i>) {
        let mut at = 0;
        let cr = loop {
            match self.state {
                State::Done => return (0, Unstuffed::End),
                State::Text { cr } => break cr,
                State::LineStart => match input.get(at) {
                    None => return (at, Unstuffed::Content(&[])),
                    Some(&DOT) => {
                        at += 1;
                        self.state = State::Dot;
                    }
                    Some(_) => break false,
                },
                State::Dot => match input.get(at) {
                    None => return (at, Unstuffed::Content(&[])),
                    Some(&CR) => {
                        at += 1;
                        self.state = State::DotCr;
                    }
                    // The dot is removed; what follows is content, even a
                    // second dot.
                    Some(_) => break false,
                },
                State::DotCr => match input.get(at) {
                    None => return (at, Unstuffed::Content(&[])),
                    Some(&LF) => {
                        self.state = State::Done;
                        return (at + 1, Unstuffed::End);
                    }
                    Some(_) => {
                        // `.` CR X: the CR is content, and bare.
                        self.state = State::Text { cr: false };
                        self.report.bare_cr = true;
                        self.line_len = self.line_len.saturating_add(1);
                        return (at, Unstuffed::Content(self.emit(b"\r")));
                    }
                },
            }
        };
        self.text(input, at, cr)
    }

    /// Scans content from `start` (inside a line; `cr`: the byte before was
    /// a CR) up to a line that starts with `.`, or the end of `input`.
    fn text<'i>(&mut self, input: &'i [u8], start: usize, mut cr: bool) -> (usize, Unstuffed<'i>) {
        let mut at = start;
        // The fast path is not tried again before this position: the block
        // it refused is done on the exact path.
        let mut exact_until = start;
        loop {
            if cr {
                let Some(&byte) = input.get(at) else { break };
                cr = false;
                if byte == LF {
                    at += 1;
                    self.end_line();
                    match input.get(at) {
                        None => {
                            self.state = State::LineStart;
                            return (at, self.content(input, start, at));
                        }
                        Some(&DOT) => {
                            self.state = State::Dot;
                            return (at + 1, self.content(input, start, at));
                        }
                        Some(_) => {}
                    }
                } else {
                    self.report.bare_cr = true;
                }
            }
            // Here the byte before `at`, if any, is not a pending CR, and
            // `at` is not the start of a line that begins with a dot.
            if at >= exact_until && input.get(at).is_some_and(|&b| b != LF) {
                let (reached, refused) = self.fast(input, at);
                if let Some(block_end) = refused {
                    exact_until = block_end;
                }
                if reached > at {
                    at = reached;
                    cr = input.get(at - 1) == Some(&CR);
                    if cr {
                        continue;
                    }
                }
            }
            let rest = input.get(at..).unwrap_or_default();
            match memchr2(CR, LF, rest) {
                None => {
                    self.line_len = self.line_len.saturating_add(rest.len());
                    at = input.len();
                    break;
                }
                Some(offset) => {
                    self.line_len = self.line_len.saturating_add(offset + 1);
                    if rest.get(offset) == Some(&LF) {
                        self.report.bare_lf = true;
                    } else {
                        cr = true;
                    }
                    at += offset + 1;
                }
            }
        }
        self.state = State::Text { cr };
        (at, self.content(input, start, at))
    }

    /// The branch-free path: from `at`, passes over the input while it is
    /// clean (every CR followed by LF, every LF preceded by CR, no `.` right
    /// after a CRLF), measuring lines. Returns where it stopped and, if it
    /// stopped at a sub-block that is not clean, where that sub-block ends.
    ///
    /// Needs: the byte before `at` is not a pending CR, `input[at]` is not
    /// LF, and `at` does not start a line that begins with a dot. See
    /// [`clean_prefix`] for why the checks chain from there.
    fn fast(&mut self, input: &[u8], at: usize) -> (usize, Option<usize>) {
        let mut open = OpenLine {
            start: at,
            before: self.line_len,
        };
        let stop = input.len().saturating_sub(2);
        let mut k = at;
        let refused = loop {
            let end = stop.min(k.saturating_add(BLOCK));
            if end <= k {
                break None;
            }
            let clean = clean_prefix(input.get(k..end + 2).unwrap_or_default());
            k += clean;
            if clean > 0 && !self.report.long_line {
                self.measure(input, &mut open, k);
            }
            if k < end {
                break Some(end.min(k + SUB_BLOCK));
            }
        };
        if !self.report.long_line {
            self.line_len = open.len_at(input, k);
        }
        (k, refused)
    }

    /// Checks every line whose length is decided by the clean stretch that
    /// ends at `to`, and moves `open` on.
    ///
    /// A line starting at or after `open.start` whose LF comes before the
    /// deadline `open.start + budget` fits. If some LF lies in one of the
    /// last [`LF_WINDOWS`] windows of [`LF_WINDOW`] bytes before the
    /// deadline, every line ending before it fits and the line open at the
    /// deadline starts after that window's start: a cheap check that needs
    /// no position. Otherwise `memchr` finds the LF of the line at
    /// `open.start`, which then starts the next line exactly; if there is
    /// none before the deadline, the line is too long.
    fn measure(&mut self, input: &[u8], open: &mut OpenLine, to: usize) {
        loop {
            let budget = self.max_line.saturating_sub(open.before);
            let deadline = open.start.saturating_add(budget);
            if deadline > to {
                return;
            }
            if let Some(start) = lf_near(input, open.start, deadline) {
                *open = OpenLine { start, before: 0 };
                continue;
            }
            // No LF near the deadline: the line open there is long. Find
            // where the line at `open.start` ends; going forward finds it
            // soon when `open.start` is a near bound from a window.
            match input.get(open.start..deadline).and_then(|w| memchr(LF, w)) {
                Some(offset) => {
                    *open = OpenLine {
                        start: open.start + offset + 1,
                        before: 0,
                    };
                }
                None => {
                    self.report.long_line = true;
                    return;
                }
            }
        }
    }

    /// A CRLF ended a line: checks its length.
    fn end_line(&mut self) {
        let len = self.line_len.saturating_add(1);
        if len > self.max_line {
            self.report.long_line = true;
        }
        self.line_len = 0;
    }

    fn content<'i>(&mut self, input: &'i [u8], from: usize, to: usize) -> Unstuffed<'i> {
        Unstuffed::Content(self.emit(input.get(from..to).unwrap_or_default()))
    }

    /// Counts content against the size limit; drops what is past it.
    fn emit<'i>(&mut self, bytes: &'i [u8]) -> &'i [u8] {
        let before = self.report.size;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.report.size = before.saturating_add(len);
        match self.max_size {
            Some(max) if self.report.size > max => {
                self.report.too_big = true;
                let room = usize::try_from(max.saturating_sub(before)).unwrap_or(usize::MAX);
                bytes.get(..room).unwrap_or(bytes)
            }
            _ => bytes,
        }
    }
}

/// The length of the clean start of the block `window[..len - 2]`, checked
/// with two bytes of lookahead: a multiple of [`SUB_BLOCK`], or the whole
/// block.
///
/// A stretch `[k, e)` is clean if every CR at `i` in it has an LF at `i + 1`
/// and no `.` at `i + 2`, and every LF at `i + 1` has a CR at `i`. That covers
/// every LF in `(k, e]` and every line start in `[k + 2, e + 2)`; the next
/// stretch starts at `e`, so the checks chain. Sub-blocks are checked
/// branch-free, so that the compiler vectorises them, with one early exit
/// each.
#[inline]
fn clean_prefix(window: &[u8]) -> usize {
    let len = window.len().saturating_sub(2);
    let mut k = 0;
    while let Some(sub) = window
        .get(k..k + SUB_BLOCK + 2)
        .and_then(|w| <&[u8; SUB_BLOCK + 2]>::try_from(w).ok())
    {
        if !is_clean(sub) {
            return k;
        }
        k += SUB_BLOCK;
    }
    match window.get(k..) {
        Some(tail) if tail.len() > 2 && !is_clean(tail) => k,
        _ => len,
    }
}

/// True if `window` (a stretch and two bytes of lookahead) is clean: see
/// [`clean_prefix`].
#[inline]
fn is_clean(window: &[u8]) -> bool {
    let n = window.len().saturating_sub(2);
    let (Some(first), Some(second), Some(third)) =
        (window.get(..n), window.get(1..n + 1), window.get(2..n + 2))
    else {
        return true;
    };
    let mut bad = false;
    for ((&a, &b), &c) in first.iter().zip(second).zip(third) {
        let cr = a == CR;
        bad |= (cr != (b == LF)) | (cr & (c == DOT));
    }
    !bad
}

/// True if `window` holds an LF. Branch-free so that it vectorises.
#[inline]
fn has_lf(window: &[u8; LF_WINDOW]) -> bool {
    window.iter().fold(false, |found, &b| found | (b == LF))
}

/// Looks for an LF in the last few [`LF_WINDOW`]s of `[start, deadline)`
/// without finding its position. If the nearest window with an LF begins
/// at `w`, the line open at `deadline` starts after `w`: returns `w + 1`.
#[inline]
fn lf_near(input: &[u8], start: usize, deadline: usize) -> Option<usize> {
    let mut end = deadline;
    for _ in 0..LF_WINDOWS {
        let from = end.checked_sub(LF_WINDOW).filter(|&from| from >= start)?;
        let window = input
            .get(from..end)
            .and_then(|w| <&[u8; LF_WINDOW]>::try_from(w).ok())?;
        if has_lf(window) {
            return Some(from + 1);
        }
        end = from;
    }
    None
}

/// The line open during the fast path: it starts at `start` or later, and
/// `before` bytes of it came before `start` (only while `start` is the
/// position the fast path began at).
///
/// Invariant: the line open at the current position starts at or after
/// `start`, and every byte from `start` on was checked clean, so each LF
/// there ends a CRLF.
#[derive(Debug, Clone, Copy)]
struct OpenLine {
    start: usize,
    before: usize,
}

impl OpenLine {
    /// The length so far of the line open at `end`. If no LF lies in
    /// `[start, end)`, the line starts exactly at `start`: starting later
    /// would need an LF there.
    fn len_at(&self, input: &[u8], end: usize) -> usize {
        let stretch = input.get(self.start..end).unwrap_or_default();
        match memrchr(LF, stretch) {
            Some(offset) => stretch.len() - offset - 1,
            None => self.before.saturating_add(stretch.len()),
        }
    }
}

/// Sends a DATA body: doubles a `.` at the start of each line, turns a bare
/// CR or bare LF into CRLF (RFC 5321 §4.5.2, §2.3.8), and ends the data
/// (RFC 5321 §4.1.1.4).
///
/// ```
/// use secmx_core::proto::data::DotStuffer;
///
/// let mut out = Vec::new();
/// let mut stuffer = DotStuffer::new();
/// stuffer.stuff(b".hidden\nline\r", &mut out);
/// stuffer.stuff(b"\nlast", &mut out);
/// stuffer.finish(&mut out);
/// assert_eq!(out, b"..hidden\r\nline\r\nlast\r\n.\r\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotStuffer {
    /// The output is at the start of a line.
    line_start: bool,
    /// The last input byte was a CR, already sent as CRLF: an LF right
    /// after it is that CRLF's LF.
    after_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotStuffer {
    /// A stuffer at the start of a body.
    pub const fn new() -> Self {
        Self {
            line_start: true,
            after_cr: false,
        }
    }

    /// Appends `body` to `out`, stuffed. Pieces of any size give the same
    /// output as the whole.
    pub fn stuff(&mut self, body: &[u8], out: &mut Vec<u8>) {
        out.reserve(body.len() + body.len() / 64 + 2);
        let mut at = 0;
        // No block check before this position: the block it refused is
        // done line by line.
        let mut exact_until = 0;
        while at < body.len() {
            if self.after_cr {
                self.after_cr = false;
                if body.get(at) == Some(&LF) {
                    at += 1;
                    continue;
                }
            }
            if self.line_start {
                if body.get(at) == Some(&DOT) {
                    out.push(DOT);
                }
                self.line_start = false;
            }
            let rest = body.get(at..).unwrap_or_default();
            // Pass over the clean start whole: no bare CR or LF, no `.`
            // after a CRLF (see `clean_prefix`; `rest[0]` is not LF).
            if at >= exact_until && rest.len() > 2 && rest.first() != Some(&LF) {
                let run = clean_prefix(rest);
                if run < rest.len() - 2 {
                    exact_until = at + run + SUB_BLOCK;
                }
                // Stop right after the CR of a CRLF; the LF is then skipped
                // as that CRLF's own.
                if run > 0 {
                    out.extend_from_slice(rest.get(..run).unwrap_or_default());
                    at += run;
                    if rest.get(run - 1) == Some(&CR) {
                        out.push(LF);
                        self.after_cr = true;
                        self.line_start = true;
                    }
                    continue;
                }
            }
            match memchr2(CR, LF, rest) {
                None => {
                    out.extend_from_slice(rest);
                    at = body.len();
                }
                Some(offset) => {
                    out.extend_from_slice(rest.get(..offset).unwrap_or_default());
                    out.extend_from_slice(b"\r\n");
                    self.after_cr = rest.get(offset) == Some(&CR);
                    self.line_start = true;
                    at += offset + 1;
                }
            }
        }
    }

    /// Ends the body: a CRLF if the body did not end with a line end, then
    /// `.` CRLF (RFC 5321 §4.1.1.4). The stuffer is then ready for a new
    /// body.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        *self = Self::new();
    }

    /// Stuffs a whole body and ends it.
    pub fn stuff_all(body: &[u8], out: &mut Vec<u8>) {
        let mut stuffer = Self::new();
        stuffer.stuff(body, out);
        stuffer.finish(out);
    }
}

/// One BDAT chunk (RFC 3030 §2): exactly `size` octets follow the command,
/// with no stuffing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BdatChunk {
    remaining: u64,
    last: bool,
}

impl BdatChunk {
    /// A chunk of `size` octets; `last` for `BDAT size LAST`.
    pub const fn new(size: u64, last: bool) -> Self {
        Self {
            remaining: size,
            last,
        }
    }

    /// Takes up to the rest of the chunk from `input`, advancing it, and
    /// returns those bytes (borrowed). Bytes after the chunk stay in
    /// `input`.
    pub fn take<'i>(&mut self, input: &mut &'i [u8]) -> &'i [u8] {
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        let (bytes, rest) = input.split_at(n);
        *input = rest;
        self.remaining -= u64::try_from(n).unwrap_or(u64::MAX).min(self.remaining);
        bytes
    }

    /// Octets of the chunk still to come.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// True once every octet of the chunk was taken.
    pub fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    /// True for the chunk that ends the message (`LAST`).
    pub fn is_last(&self) -> bool {
        self.last
    }
}

/// A step of [`BdatReceiver::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BdatPiece<'i> {
    /// Chunk content, borrowed from the input (never empty).
    Content(&'i [u8]),
    /// The chunk is complete; `last`: it was the `LAST` chunk, the message
    /// is whole.
    ChunkEnd {
        /// The chunk carried `LAST`.
        last: bool,
    },
}

/// Misuse of [`BdatReceiver`] by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum BdatError {
    /// A chunk was started while the previous one still had octets to come.
    #[error("a BDAT chunk is still being received")]
    ChunkInProgress,
    /// A chunk was started after the `LAST` chunk (RFC 3030 §2: a new
    /// transaction is needed).
    #[error("BDAT after the LAST chunk")]
    AfterLast,
}

/// Receives the chunks of one message sent with BDAT (RFC 3030 §2) and keeps
/// the message total against an optional maximum size (RFC 1870).
///
/// ```
/// use secmx_core::proto::data::{BdatPiece, BdatReceiver};
///
/// let mut receiver = BdatReceiver::new(None);
/// receiver.start(5, true).expect("first chunk");
/// let mut input: &[u8] = b"Hi\r\n\nQUIT\r\n";
/// assert_eq!(receiver.next(&mut input), Some(BdatPiece::Content(b"Hi\r\n\n")));
/// assert_eq!(receiver.next(&mut input), Some(BdatPiece::ChunkEnd { last: true }));
/// assert_eq!(input, b"QUIT\r\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BdatReceiver {
    chunk: Option<BdatChunk>,
    max_size: Option<u64>,
    /// Octets announced so far, current chunk included.
    announced: u64,
    /// Octets received so far.
    received: u64,
    ended: bool,
}

impl BdatReceiver {
    /// A receiver for one message, with an optional maximum size.
    pub const fn new(max_size: Option<u64>) -> Self {
        Self {
            chunk: None,
            max_size,
            announced: 0,
            received: 0,
            ended: false,
        }
    }

    /// Starts a chunk after `BDAT size [LAST]`. The size counts at once:
    /// [`Self::too_big`] tells right away whether the message goes over the
    /// maximum (the chunk must still be read, RFC 3030 §2).
    pub fn start(&mut self, size: u64, last: bool) -> Result<(), BdatError> {
        if self.ended {
            return Err(BdatError::AfterLast);
        }
        if self.chunk.is_some() {
            return Err(BdatError::ChunkInProgress);
        }
        self.announced = self.announced.saturating_add(size);
        self.chunk = Some(BdatChunk::new(size, last));
        Ok(())
    }

    /// Takes the next piece of the current chunk from `input`, advancing it.
    /// Returns [`BdatPiece::ChunkEnd`] once (even for a chunk of size 0),
    /// then `None` until the next [`Self::start`]; `None` also when `input`
    /// is used up. Content past the maximum size is consumed but not
    /// returned.
    pub fn next<'i>(&mut self, input: &mut &'i [u8]) -> Option<BdatPiece<'i>> {
        loop {
            let chunk = self.chunk.as_mut()?;
            if chunk.is_complete() {
                let last = chunk.is_last();
                self.chunk = None;
                self.ended = last;
                return Some(BdatPiece::ChunkEnd { last });
            }
            if input.is_empty() {
                return None;
            }
            let bytes = chunk.take(input);
            let before = self.received;
            self.received = before.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
            let kept = match self.max_size {
                Some(max) => {
                    let room = usize::try_from(max.saturating_sub(before)).unwrap_or(usize::MAX);
                    bytes.get(..room).unwrap_or(bytes)
                }
                None => bytes,
            };
            if !kept.is_empty() {
                return Some(BdatPiece::Content(kept));
            }
        }
    }

    /// The chunk being received, if any.
    pub fn chunk(&self) -> Option<&BdatChunk> {
        self.chunk.as_ref()
    }

    /// True once the `LAST` chunk was received whole.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Octets received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// True if the announced chunks go over the maximum size (RFC 1870 §6).
    pub fn too_big(&self) -> bool {
        self.max_size.is_some_and(|max| self.announced > max)
    }

    /// [`ErrorReply::TOO_BIG`] if the message is over the maximum size.
    pub fn error_reply(&self) -> Option<ErrorReply> {
        self.too_big().then_some(ErrorReply::TOO_BIG)
    }
}

/// Appends `BDAT size[ LAST]` CRLF (RFC 3030 §2) to `out`, for a chunk whose
/// octets are sent separately.
pub fn write_bdat_command(size: u64, last: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"BDAT ");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = size;
    loop {
        at -= 1;
        // `rest % 10` is below 10: the cast cannot truncate.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
    if last {
        out.extend_from_slice(b" LAST");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole BDAT chunk to `out`: `BDAT n[ LAST]` CRLF and the `n`
/// octets of `chunk`, unchanged (RFC 3030 §2).
///
/// ```
/// let mut out = Vec::new();
/// secmx_core::proto::data::write_bdat(b"Hi\r\n", true, &mut out);
/// assert_eq!(out, b"BDAT 4 LAST\r\nHi\r\n");
/// ```
pub fn write_bdat(chunk: &[u8], last: bool, out: &mut Vec<u8>) {
    write_bdat_command(u64::try_from(chunk.len()).unwrap_or(u64::MAX), last, out);
    out.extend_from_slice(chunk);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_block_check() {
        assert!(is_clean(b"abc\r\ndef\r\nxy"));
        assert!(!is_clean(b"abc\ndef\r\nxy"));
        assert!(!is_clean(b"abc\rdef\r\nxy"));
        assert!(!is_clean(b"abc\r\n.ef\r\nxy"));
        // The lookahead is checked only as the partner of the block's bytes.
        assert!(is_clean(b"abc\r\n"));
        assert!(!is_clean(b"abc\r\n."));
    }

    #[test]
    fn bdat_command_digits_rfc3030_2() {
        let mut out = Vec::new();
        write_bdat_command(0, true, &mut out);
        write_bdat_command(u64::MAX, false, &mut out);
        assert_eq!(out, b"BDAT 0 LAST\r\nBDAT 18446744073709551615\r\n");
    }
}
