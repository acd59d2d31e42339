//! Sending a message body: DATA with dot-stuffing (RFC 5321 §4.5.2) or one
//! BDAT chunk (RFC 3030 §2), a slice at a time.
//!
//! Either way every line end leaves as CRLF (RFC 5321 §2.3.8: a bare CR or
//! LF becomes CRLF) and a non-empty body ends with a line end, so the
//! server stores the same octets whichever way the body went. The one
//! exception is `BODY=BINARYMIME`, which BDAT carries untouched.

use bytes::Bytes;
use memchr::memchr2;

use crate::proto::data::{DotStuffer, write_bdat_command};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Most body octets transformed at once into the session's staging
/// buffer: the stuffed or normalised output of one slice is at most twice
/// this plus a few octets.
pub(crate) const BODY_SLICE: usize = 16 * 1024;

/// The size of `body` once every bare CR and bare LF is a CRLF and a
/// non-empty body ends with a line end; and whether that differs from
/// `body`.
pub(crate) fn normalized_len(body: &[u8]) -> (u64, bool) {
    // Each octet pair (p, c) with `c == LF` but `p != CR` holds a bare LF,
    // and one with `p == CR` but `c != LF` a bare CR: one comparison per
    // pair, which the compiler vectorises, rather than a search per line.
    let (before, after) = (
        body.get(..body.len().saturating_sub(1)).unwrap_or_default(),
        body.get(1..).unwrap_or_default(),
    );
    let bare = |(&p, &c): (&u8, &u8)| u8::from((p == CR) != (c == LF));
    let mut inner = 0;
    let (pairs, rest) = (before.chunks_exact(256), after.chunks_exact(256));
    let tail = pairs.remainder().iter().zip(rest.remainder());
    for (p, c) in pairs.zip(rest) {
        // Most blocks have no bare line end: one OR over the block says
        // so; only a block that has one is counted, 64 pairs at a time (at
        // most 64 per sum: a u8 lane sum cannot overflow).
        if p.iter().zip(c).map(bare).fold(0, |any, b| any | b) != 0 {
            for (p, c) in p.chunks_exact(64).zip(c.chunks_exact(64)) {
                inner += usize::from(p.iter().zip(c).map(bare).sum::<u8>());
            }
        }
    }
    inner += tail.map(|pair| usize::from(bare(pair))).sum::<usize>();
    let first_lf = usize::from(body.first() == Some(&LF));
    let last_cr = usize::from(body.last() == Some(&CR));
    let unterminated = if matches!(body.last(), None | Some(&CR) | Some(&LF)) {
        0
    } else {
        2
    };
    let extra = u64::try_from(inner + first_lf + last_cr + unterminated).unwrap_or(u64::MAX);
    (
        u64::try_from(body.len())
            .unwrap_or(u64::MAX)
            .saturating_add(extra),
        extra > 0,
    )
}

/// Turns bare CR and bare LF into CRLF, in pieces of any size (the BDAT
/// counterpart of [`DotStuffer`], without the dots).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineEnds {
    /// The output is at the start of a line.
    line_start: bool,
    /// The last input octet was a CR, already sent as CRLF: an LF right
    /// after it belongs to it.
    after_cr: bool,
}

impl LineEnds {
    pub(crate) const fn new() -> Self {
        Self {
            line_start: true,
            after_cr: false,
        }
    }

    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        if self.after_cr && rest.first() == Some(&LF) {
            rest = rest.get(1..).unwrap_or_default();
        }
        if input.is_empty() {
            return;
        }
        self.after_cr = false;
        while let Some(i) = memchr2(CR, LF, rest) {
            out.extend_from_slice(rest.get(..i).unwrap_or_default());
            out.extend_from_slice(b"\r\n");
            let was_cr = rest.get(i) == Some(&CR);
            rest = rest.get(i + 1..).unwrap_or_default();
            self.line_start = true;
            if was_cr {
                match rest.first() {
                    Some(&LF) => rest = rest.get(1..).unwrap_or_default(),
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        if !rest.is_empty() {
            out.extend_from_slice(rest);
            self.line_start = false;
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.line_start {
            out.extend_from_slice(b"\r\n");
        }
        *self = Self::new();
    }
}

#[derive(Debug)]
enum Framing {
    /// After `354`: stuffed, ended with `.` CRLF.
    Data(DotStuffer),
    /// After `BDAT n LAST`: line ends normalised.
    BdatNormalize(LineEnds),
    /// After `BDAT n LAST`: the body as it stands (already normalised, or
    /// BINARYMIME).
    BdatRaw,
}

/// The next thing to hand to the transport.
pub(crate) enum Piece<'a> {
    /// These body octets, unchanged; report what was taken with
    /// [`BodySender::consume_raw`].
    Raw(&'a [u8]),
    /// Transformed octets were appended to the staging buffer.
    Staged,
    /// The body (with its terminator) is all out.
    Done,
}

/// A body being sent, slice by slice, as the transport takes it.
#[derive(Debug)]
pub(crate) struct BodySender {
    body: Bytes,
    pos: usize,
    framing: Framing,
    done: bool,
}

impl BodySender {
    /// The body after a `354`.
    pub(crate) fn data(body: Bytes) -> Self {
        Self {
            body,
            pos: 0,
            framing: Framing::Data(DotStuffer::new()),
            done: false,
        }
    }

    /// The body as one `BDAT size LAST` chunk; the command goes to `out`.
    /// `binary`: BODY=BINARYMIME, sent untouched. `normalized`: what
    /// [`normalized_len`] gave for this body, if it was already counted.
    pub(crate) fn bdat(
        body: Bytes,
        binary: bool,
        normalized: Option<(u64, bool)>,
        out: &mut Vec<u8>,
    ) -> Self {
        let (size, changed) = if binary {
            (u64::try_from(body.len()).unwrap_or(u64::MAX), false)
        } else {
            normalized.unwrap_or_else(|| normalized_len(&body))
        };
        write_bdat_command(size, true, out);
        let framing = if changed {
            Framing::BdatNormalize(LineEnds::new())
        } else {
            Framing::BdatRaw
        };
        Self {
            body,
            pos: 0,
            framing,
            done: false,
        }
    }

    /// The next piece; `staging` receives transformed octets.
    pub(crate) fn next(&mut self, staging: &mut Vec<u8>) -> Piece<'_> {
        if self.done {
            return Piece::Done;
        }
        let rest = self.body.get(self.pos..).unwrap_or_default();
        let slice = rest.get(..BODY_SLICE.min(rest.len())).unwrap_or_default();
        match &mut self.framing {
            Framing::BdatRaw => {
                if rest.is_empty() {
                    self.done = true;
                    Piece::Done
                } else {
                    Piece::Raw(rest)
                }
            }
            Framing::Data(stuffer) => {
                if slice.is_empty() {
                    stuffer.finish(staging);
                    self.done = true;
                } else {
                    stuffer.stuff(slice, staging);
                    self.pos += slice.len();
                }
                Piece::Staged
            }
            Framing::BdatNormalize(ends) => {
                if slice.is_empty() {
                    ends.finish(staging);
                    self.done = true;
                } else {
                    ends.push(slice, staging);
                    self.pos += slice.len();
                }
                Piece::Staged
            }
        }
    }

    /// `taken` octets of the last [`Piece::Raw`] went out.
    pub(crate) fn consume_raw(&mut self, taken: usize) {
        self.pos = self.pos.saturating_add(taken).min(self.body.len());
    }
}

#[cfg(test)]
#[path = "../../tests/proptest_common/mod.rs"]
mod proptest_common;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn normalize(body: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut ends = LineEnds::new();
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in cuts {
            let cut = cut.min(body.len());
            if cut > at {
                ends.push(&body[at..cut], &mut out);
                at = cut;
            }
        }
        ends.push(&body[at..], &mut out);
        ends.finish(&mut out);
        out
    }

    fn drain(mut sender: BodySender) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut staging = Vec::new();
            match sender.next(&mut staging) {
                Piece::Raw(raw) => {
                    let raw = raw.to_vec();
                    out.extend_from_slice(&raw);
                    sender.consume_raw(raw.len());
                }
                Piece::Staged => out.extend_from_slice(&staging),
                Piece::Done => return out,
            }
        }
    }

    #[test]
    fn bare_line_ends_become_crlf_rfc5321_2_3_8() {
        let table: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a", b"a\r\n"),
            (b"a\r\n", b"a\r\n"),
            (b"a\nb", b"a\r\nb\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n"),
            (b"\r\r\n\n", b"\r\n\r\n\r\n"),
            (b".x\r\n", b".x\r\n"),
        ];
        for (input, want) in table {
            assert_eq!(normalize(input, &[]), *want, "{input:?}");
            let (len, changed) = normalized_len(input);
            assert_eq!(len, want.len() as u64, "{input:?}");
            assert_eq!(changed, input != want, "{input:?}");
        }
    }

    #[test]
    fn bdat_frames_one_last_chunk_rfc3030_2() {
        let mut out = Vec::new();
        let sender = BodySender::bdat(Bytes::from_static(b"Hi\r\n"), false, None, &mut out);
        assert_eq!(out, b"BDAT 4 LAST\r\n");
        assert_eq!(drain(sender), b"Hi\r\n");

        let mut out = Vec::new();
        let sender = BodySender::bdat(Bytes::from_static(b"Hi\n.x"), false, None, &mut out);
        assert_eq!(out, b"BDAT 8 LAST\r\n");
        assert_eq!(drain(sender), b"Hi\r\n.x\r\n");

        let mut out = Vec::new();
        let sender = BodySender::bdat(Bytes::from_static(b"\0\n\r"), true, None, &mut out);
        assert_eq!(out, b"BDAT 3 LAST\r\n");
        assert_eq!(drain(sender), b"\0\n\r");
    }

    #[test]
    fn data_is_stuffed_and_terminated_rfc5321_4_5_2() {
        let sender = BodySender::data(Bytes::from_static(b".a\nb"));
        assert_eq!(drain(sender), b"..a\r\nb\r\n.\r\n");
        let sender = BodySender::data(Bytes::new());
        assert_eq!(drain(sender), b".\r\n");
    }

    proptest! {
        #![proptest_config(proptest_common::config(256))]
        #[test]
        fn normalising_in_pieces_matches_the_count(
            body in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), any::<u8>()], 0..700),
            mut cuts in proptest::collection::vec(0usize..700, 0..6),
        ) {
            cuts.sort_unstable();
            let whole = normalize(&body, &[]);
            prop_assert_eq!(&normalize(&body, &cuts), &whole);
            prop_assert_eq!(normalized_len(&body).0, whole.len() as u64);
            // No bare CR or LF is left.
            for (i, &b) in whole.iter().enumerate() {
                if b == CR { prop_assert_eq!(whole.get(i + 1), Some(&LF)); }
                if b == LF { prop_assert!(i > 0 && whole[i - 1] == CR); }
            }
            // BDAT output is exactly as long as its announced size.
            let mut cmd = Vec::new();
            let sender = BodySender::bdat(Bytes::from(body.clone()), false, None, &mut cmd);
            let sent = drain(sender);
            prop_assert_eq!(cmd, format!("BDAT {} LAST\r\n", sent.len()).into_bytes());
            prop_assert_eq!(sent, whole);
        }

        // Mostly CRLF line ends, now and then a bare one or LF CR: the
        // count and the "changed" flag match the normaliser either way.
        #[test]
        fn crlf_bodies_count_like_the_normaliser(
            lines in proptest::collection::vec(
                ("[a-z. ]{0,12}", prop_oneof![
                    8 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r"[..]),
                    1 => Just(&b"\n\r"[..]), 1 => Just(&b""[..]),
                ]),
                0..40,
            ),
        ) {
            let mut body = Vec::new();
            for (text, end) in &lines {
                body.extend_from_slice(text.as_bytes());
                body.extend_from_slice(end);
            }
            let whole = normalize(&body, &[]);
            prop_assert_eq!(normalized_len(&body), (whole.len() as u64, whole != body));
        }
    }
}
