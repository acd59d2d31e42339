//! Line framing (RFC 5321 §2.3.8), dot-stuffing and end of data
//! (RFC 5321 §4.5.2, §4.1.1.4) and BDAT chunks (RFC 3030 §2).

mod proptest_common;

use proptest::prelude::*;
use secmx_core::ErrorReply;
use secmx_core::limits::{MAX_COMMAND_LINE, MAX_TEXT_LINE};
use secmx_core::proto::Status;
use secmx_core::proto::data::{
    BdatChunk, BdatError, BdatPiece, BdatReceiver, BodyReport, DotStuffer, DotUnstuffer, Unstuffed,
    write_bdat, write_bdat_command,
};
use secmx_core::proto::line::{LineError, LineReader, find_line};

// ---------------------------------------------------------------------------
// Reference models: slow, obvious, byte by byte.

/// What the unstuffer must produce for `raw`: the content, the bytes
/// consumed through the end of data, and the report; `None` if `raw` holds
/// no end of data.
fn model_unstuff(
    raw: &[u8],
    max_line: usize,
    max_size: Option<u64>,
) -> Option<(Vec<u8>, usize, BodyReport)> {
    // RFC 5321 §4.1.1.4: the body starts as if after a CRLF; the first line
    // that is only "." ends it.
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(raw);
    let at = framed.windows(5).position(|w| w == b"\r\n.\r\n")?;
    let text = &raw[..at];
    let consumed = at + 3;
    let mut content = Vec::new();
    let mut long_line = false;
    let mut line_begin = 0;
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
            let mut line = &text[line_begin..i + 2];
            if line.first() == Some(&b'.') {
                line = &line[1..];
            }
            long_line |= line.len() > max_line;
            content.extend_from_slice(line);
            i += 2;
            line_begin = i;
        } else {
            i += 1;
        }
    }
    assert_eq!(
        line_begin,
        text.len(),
        "the text before the end ends in CRLF"
    );
    let bare_cr = content
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && content.get(i + 1) != Some(&b'\n'));
    let bare_lf = content
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || content[i - 1] != b'\r'));
    let size = content.len() as u64;
    let too_big = max_size.is_some_and(|max| size > max);
    if let Some(max) = max_size {
        content.truncate(max.min(size) as usize);
    }
    Some((
        content,
        consumed,
        BodyReport {
            size,
            bare_cr,
            bare_lf,
            long_line,
            too_big,
        },
    ))
}

/// CRLF-normalised body as a DotStuffer must send it (before stuffing): every
/// CRLF, bare CR and bare LF becomes CRLF, and a last line without a line end
/// gets one.
fn normalise(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One event of a LineReader, with the stream offset it consumed up to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LineEvent {
    Line(Vec<u8>, usize),
    Error(LineError, usize),
}

/// What a LineReader must report for `stream` read in full.
fn model_lines(stream: &[u8], max: usize) -> Vec<LineEvent> {
    let mut events = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        match find_line(&stream[at..], max) {
            Ok(Status::Complete(n)) => {
                events.push(LineEvent::Line(stream[at..at + n - 2].to_vec(), at + n));
                at += n;
            }
            Ok(Status::Partial) => break,
            Err(error) => {
                // The error is shown by the first CR or LF in the window, or
                // by the window's end.
                let limit = max.saturating_sub(1).min(stream.len() - at);
                let seen = match stream[at..at + limit]
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                {
                    Some(pos) => pos + 1,
                    None => limit,
                };
                at += seen;
                events.push(LineEvent::Error(error, at));
                // RFC 5321 §2.3.8: resynchronise after the next CRLF.
                match stream[at..].windows(2).position(|w| w == b"\r\n") {
                    Some(pos) => at += pos + 2,
                    None => break,
                }
            }
        }
    }
    events
}

// ---------------------------------------------------------------------------
// Drivers.

/// Feeds `raw` to `unstuffer` in pieces of the sizes in `sizes` (cycled),
/// through `next`. Returns content, consumed bytes if the end was seen, and
/// the report.
fn run_unstuffer(
    mut unstuffer: DotUnstuffer,
    raw: &[u8],
    sizes: &[usize],
) -> (Vec<u8>, Option<usize>, BodyReport) {
    let mut content = Vec::new();
    let mut offset = 0;
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    while offset < raw.len() {
        let size = sizes.next().unwrap_or(raw.len()).min(raw.len() - offset);
        let piece = &raw[offset..offset + size];
        let mut input = piece;
        while let Some(step) = unstuffer.next(&mut input) {
            match step {
                Unstuffed::Content(bytes) => {
                    assert!(!bytes.is_empty(), "next never returns empty content");
                    content.extend_from_slice(bytes);
                }
                Unstuffed::End => {
                    assert!(unstuffer.is_done());
                    return (
                        content,
                        Some(offset + piece.len() - input.len()),
                        unstuffer.report(),
                    );
                }
            }
        }
        assert!(input.is_empty(), "None means the input is used up");
        offset += size;
    }
    (content, None, unstuffer.report())
}

/// Same as `run_unstuffer` through the lower-level `unstuff`.
fn run_unstuff_raw(
    mut unstuffer: DotUnstuffer,
    raw: &[u8],
    size: usize,
) -> (Vec<u8>, Option<usize>, BodyReport) {
    let mut content = Vec::new();
    let mut offset = 0;
    for piece in raw.chunks(size.max(1)) {
        let mut at = 0;
        loop {
            let (consumed, step) = unstuffer.unstuff(&piece[at..]);
            at += consumed;
            match step {
                Unstuffed::End => return (content, Some(offset + at), unstuffer.report()),
                Unstuffed::Content(bytes) => {
                    content.extend_from_slice(bytes);
                    if at == piece.len() && bytes.is_empty() {
                        break;
                    }
                }
            }
        }
        offset += piece.len();
    }
    (content, None, unstuffer.report())
}

fn unstuff_all(raw: &[u8]) -> (Vec<u8>, Option<usize>, BodyReport) {
    run_unstuffer(DotUnstuffer::new(), raw, &[raw.len().max(1)])
}

fn read_lines(max: usize, stream: &[u8], sizes: &[usize]) -> (Vec<LineEvent>, LineReader) {
    let mut reader = LineReader::new(max);
    let mut events = Vec::new();
    let mut offset = 0;
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    while offset < stream.len() {
        let size = sizes
            .next()
            .unwrap_or(stream.len())
            .min(stream.len() - offset);
        let piece = &stream[offset..offset + size];
        let mut input = piece;
        loop {
            match reader.next(&mut input) {
                Ok(Some(line)) => {
                    assert!(line.with_crlf().ends_with(b"\r\n"));
                    assert!(line.wire_len() <= max);
                    let end = offset + piece.len() - input.len();
                    events.push(LineEvent::Line(line.as_bytes().to_vec(), end));
                }
                Ok(None) => {
                    assert!(input.is_empty());
                    break;
                }
                Err(error) => {
                    events.push(LineEvent::Error(error, offset + piece.len() - input.len()));
                }
            }
            assert!(reader.heap_bytes() <= max, "buffer bounded by the limit");
            assert!(reader.buffered() < max);
        }
        offset += size;
    }
    (events, reader)
}

fn stuff_chunks(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stuffer = DotStuffer::new();
    let mut offset = 0;
    let mut sizes = sizes.iter().copied().filter(|&s| s > 0).cycle();
    while offset < body.len() {
        let size = sizes.next().unwrap_or(body.len()).min(body.len() - offset);
        stuffer.stuff(&body[offset..offset + size], &mut out);
        offset += size;
    }
    stuffer.finish(&mut out);
    out
}

// ---------------------------------------------------------------------------
// Line framing.

// RFC 5321 §2.3.8: zero-copy when the whole line is in the input, and the
// reader consumes exactly through the CRLF of the line it returns.
#[test]
fn line_reader_borrows_and_stops_after_each_line_rfc5321_2_3_8() {
    let data: &[u8] = b"EHLO client.example\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\n";
    let mut reader = LineReader::for_commands();
    let mut input = data;
    let line = reader.next(&mut input).unwrap().unwrap();
    assert_eq!(line.as_bytes(), b"EHLO client.example");
    assert_eq!(line.with_crlf(), b"EHLO client.example\r\n");
    let range = data.as_ptr_range();
    assert!(
        range.contains(&line.with_crlf().as_ptr()),
        "borrowed from input"
    );
    assert_eq!(input, b"STARTTLS\r\nMAIL FROM:<a@b>\r\n");
    let line = reader.next(&mut input).unwrap().unwrap();
    assert_eq!(line.as_bytes(), b"STARTTLS");
    // CVE-2011-0411: the bytes after STARTTLS are visible to the session, not
    // swallowed into the reader.
    assert_eq!(input, b"MAIL FROM:<a@b>\r\n");
    assert_eq!(reader.buffered(), 0);
}

/// Lines read, and the bytes that followed STARTTLS if any.
type SessionLines = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// The loop a server session runs: `?` on errors, and a look at what
/// follows a line while the line is still borrowed.
fn session_loop(reader: &mut LineReader, mut input: &[u8]) -> Result<SessionLines, LineError> {
    let mut lines = Vec::new();
    while let Some(line) = reader.next(&mut input)? {
        lines.push(line.as_bytes().to_vec());
        if line.as_bytes().eq_ignore_ascii_case(b"STARTTLS") {
            // RFC 3207 §4 / CVE-2011-0411: bytes pipelined after STARTTLS.
            return Ok((lines, (!input.is_empty()).then(|| input.to_vec())));
        }
    }
    Ok((lines, None))
}

#[test]
fn session_loop_sees_bytes_after_starttls_rfc3207_4() {
    let mut reader = LineReader::for_commands();
    let (lines, injected) = session_loop(&mut reader, b"EHLO a\r\nSTARTTLS\r\nRSET\r\n").unwrap();
    assert_eq!(lines, [b"EHLO a".to_vec(), b"STARTTLS".to_vec()]);
    assert_eq!(injected.as_deref(), Some(&b"RSET\r\n"[..]));
    let mut reader = LineReader::for_commands();
    let (_, injected) = session_loop(&mut reader, b"STARTTLS\r\n").unwrap();
    assert_eq!(injected, None);
    let mut reader = LineReader::for_commands();
    assert_eq!(
        session_loop(&mut reader, b"NOOP\nSTARTTLS\r\n"),
        Err(LineError::BareLf)
    );
}

// RFC 5321 §2.3.8: a line split across pieces comes from the reader's
// buffer, and the bytes after it stay in the input.
#[test]
fn line_reader_joins_pieces_rfc5321_2_3_8() {
    let mut reader = LineReader::for_commands();
    let mut input: &[u8] = b"NOOP\r";
    assert_eq!(reader.next(&mut input), Ok(None));
    assert_eq!(reader.buffered(), 5);
    let second: &[u8] = b"\nQUIT\r\n";
    let mut input = second;
    let line = reader.next(&mut input).unwrap().unwrap();
    assert_eq!(line.as_bytes(), b"NOOP");
    assert!(!second.as_ptr_range().contains(&line.with_crlf().as_ptr()));
    assert_eq!(input, b"QUIT\r\n", "only the LF was consumed");
    let line = reader.next(&mut input).unwrap().unwrap();
    assert_eq!(line.as_bytes(), b"QUIT");
    assert_eq!(reader.next(&mut input), Ok(None));
    assert_eq!(reader.heap_bytes(), 0, "idle reader holds no heap");
}

// RFC 5321 §2.3.8: bare LF and bare CR are errors, reported once; the rest of
// the line is dropped through the next CRLF.
#[test]
fn line_reader_bare_line_ends_resynchronise_rfc5321_2_3_8() {
    let cases: &[(&[u8], LineError, &[u8])] = &[
        // SMTP smuggling in commands: a bare LF is never a line end.
        (
            b"RSET\nMAIL FROM:<x>\r\nNOOP\r\n",
            LineError::BareLf,
            b"NOOP",
        ),
        (
            b"RSET\rMAIL FROM:<x>\r\nNOOP\r\n",
            LineError::BareCr,
            b"NOOP",
        ),
        // The whole CRLF line is dropped, whatever it holds after the error.
        (b"RSET\r\rX\r\nNOOP\r\n", LineError::BareCr, b"NOOP"),
        (b"A\nB\rC\nD\r\nNOOP\r\n", LineError::BareLf, b"NOOP"),
        (b"RSET\r\r\nNOOP\r\n", LineError::BareCr, b"NOOP"),
    ];
    for (data, error, next_line) in cases {
        let mut reader = LineReader::for_commands();
        let mut input = *data;
        assert_eq!(reader.next(&mut input), Err(*error), "{data:?}");
        assert!(reader.is_discarding());
        let line = reader.next(&mut input).unwrap().unwrap();
        assert_eq!(line.as_bytes(), *next_line, "{data:?}");
        assert!(!reader.is_discarding());
    }
    // The byte after a bare CR is not consumed with the error.
    let mut reader = LineReader::for_commands();
    let mut input: &[u8] = b"AB\rC\r\n";
    assert_eq!(reader.next(&mut input), Err(LineError::BareCr));
    assert_eq!(input, b"C\r\n");
    // A bare CR at the end of one piece and a non-LF in the next.
    let mut reader = LineReader::for_commands();
    let mut input: &[u8] = b"AB\r";
    assert_eq!(reader.next(&mut input), Ok(None));
    let mut input: &[u8] = b"\rX\r\nOK\r\n";
    assert_eq!(reader.next(&mut input), Err(LineError::BareCr));
    assert_eq!(input, b"\rX\r\nOK\r\n", "nothing of this piece showed it");
    let line = reader.next(&mut input).unwrap().unwrap();
    assert_eq!(line.as_bytes(), b"OK");
    assert_eq!(LineError::BareLf.reply(), ErrorReply::BARE_LINE_END);
}

// RFC 5321 §4.5.3.1.4: 512 octets with the CRLF is the longest command line.
#[test]
fn line_reader_command_limit_rfc5321_4_5_3_1_4() {
    for (len, fits) in [(510, true), (511, false), (512, false)] {
        let mut data = vec![b'a'; len];
        data.extend_from_slice(b"\r\nNOOP\r\n");
        for size in [1, 7, 511, 512, data.len()] {
            let (events, _) = read_lines(MAX_COMMAND_LINE, &data, &[size]);
            let expected = if fits {
                vec![
                    LineEvent::Line(vec![b'a'; len], len + 2),
                    LineEvent::Line(b"NOOP".to_vec(), len + 8),
                ]
            } else {
                vec![
                    LineEvent::Error(LineError::TooLong, 511),
                    LineEvent::Line(b"NOOP".to_vec(), len + 8),
                ]
            };
            assert_eq!(events, expected, "len {len} pieces of {size}");
        }
    }
    assert_eq!(LineError::TooLong.reply(), ErrorReply::LINE_TOO_LONG);
}

// RFC 5321 §4.5.3.1.4: a mebibyte without a CRLF costs no memory (under
// miri 8 KiB, still sixteen times the limit).
#[test]
fn line_reader_memory_bounded_for_huge_line() {
    let mut data = vec![b'x'; if cfg!(miri) { 1 << 13 } else { 1 << 20 }];
    data.extend_from_slice(b"\r\nQUIT\r\n");
    for size in [1, 100, 4096, 65536, data.len()] {
        let mut reader = LineReader::for_commands();
        let mut errors = 0;
        let mut lines = Vec::new();
        for piece in data.chunks(size) {
            let mut input = piece;
            loop {
                match reader.next(&mut input) {
                    Ok(Some(line)) => lines.push(line.as_bytes().to_vec()),
                    Ok(None) => break,
                    Err(e) => {
                        assert_eq!(e, LineError::TooLong);
                        errors += 1;
                    }
                }
                assert!(reader.heap_bytes() <= MAX_COMMAND_LINE);
            }
        }
        assert_eq!(errors, 1, "reported once");
        assert_eq!(lines, [b"QUIT".to_vec()]);
        assert_eq!(reader.heap_bytes(), 0);
    }
}

// ---------------------------------------------------------------------------
// End of data and transparency (RFC 5321 §4.1.1.4, §4.5.2).

// CVE-2023-51764/51765/51766: only CRLF "." CRLF ends the data; each of these
// is content.
#[test]
fn smuggling_variants_are_content_rfc5321_4_1_1_4() {
    let cases: &[(&[u8], &[u8], bool, bool)] = &[
        // (variant, unstuffed, bare CR, bare LF)
        (b"\n.\n", b"\n.\n", false, true),
        (b"\r.\r", b"\r.\r", true, false),
        (b"\r\n.\n", b"\r\n\n", false, true),
        (b"\n.\r\n", b"\n.\r\n", false, true),
        (b"\r.\r\n", b"\r.\r\n", true, false),
        (b"\r\n.\r", b"\r\n\r", true, false),
        (b"\r\n\0.\r\n", b"\r\n\0.\r\n", false, false),
        (b"\r\n .\r\n", b"\r\n .\r\n", false, false),
        (b"\r\n.\r\r\n", b"\r\n\r\r\n", true, false),
        (b"\r\n.\n\r\n", b"\r\n\n\r\n", false, true),
        (b"\n\r\n.\n", b"\n\r\n\n", false, true),
        (b"\r\r\n.\r", b"\r\r\n\r", true, false),
    ];
    for (variant, unstuffed, bare_cr, bare_lf) in cases {
        let mut raw = b"Subject: x\r\n\r\nA".to_vec();
        raw.extend_from_slice(variant);
        raw.extend_from_slice(b"MAIL FROM:<evil@example>\r\n.\r\nQUIT\r\n");
        let mut expected = b"Subject: x\r\n\r\nA".to_vec();
        expected.extend_from_slice(unstuffed);
        expected.extend_from_slice(b"MAIL FROM:<evil@example>\r\n");
        for size in [1, 2, 3, 5, raw.len()] {
            let (content, consumed, report) = run_unstuffer(DotUnstuffer::new(), &raw, &[size]);
            assert_eq!(content, expected, "{variant:?} pieces of {size}");
            assert_eq!(consumed, Some(raw.len() - 6), "{variant:?}");
            assert_eq!(report.bare_cr, *bare_cr, "{variant:?}");
            assert_eq!(report.bare_lf, *bare_lf, "{variant:?}");
            assert_eq!(
                report.error_reply(true).is_some(),
                *bare_cr || *bare_lf,
                "{variant:?}"
            );
        }
    }
}

// RFC 5321 §4.1.1.4: the body starts as if after a CRLF.
#[test]
fn end_of_data_at_start_of_body_rfc5321_4_1_1_4() {
    assert_eq!(
        unstuff_all(b".\r\n"),
        (Vec::new(), Some(3), BodyReport::default())
    );
    let (content, consumed, _) = unstuff_all(b"\r\n.\r\n");
    assert_eq!((content.as_slice(), consumed), (&b"\r\n"[..], Some(5)));
    let (content, consumed, _) = unstuff_all(b".\r\nNOOP\r\n");
    assert_eq!((content.as_slice(), consumed), (&b""[..], Some(3)));
    // Not the end: a first line of ".x", "..", ". ".
    assert_eq!(unstuff_all(b".x\r\n.\r\n").0, b"x\r\n");
    assert_eq!(unstuff_all(b"..\r\n.\r\n").0, b".\r\n");
    assert_eq!(unstuff_all(b". \r\n.\r\n").0, b" \r\n");
    // No end yet.
    assert_eq!(unstuff_all(b".\r").1, None);
    assert_eq!(unstuff_all(b"abc\r\n.").1, None);
    assert_eq!(unstuff_all(b"abc\r\n.\r").1, None);
}

// RFC 5321 §4.5.2: a leading dot is removed; ".." becomes ".".
#[test]
fn dot_unstuffing_rfc5321_4_5_2() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"..\r\n.\r\n", b".\r\n"),
        (b"...\r\n.\r\n", b"..\r\n"),
        (b"a\r\n..b\r\n.\r\n", b"a\r\n.b\r\n"),
        (b"a\r\n..\r\n..\r\n.\r\n", b"a\r\n.\r\n.\r\n"),
        (b"a.\r\n.b.\r\n.\r\n", b"a.\r\nb.\r\n"),
        (b"\r\n\r\n..\r\n.\r\n", b"\r\n\r\n.\r\n"),
    ];
    for (raw, expected) in cases {
        for size in 1..=raw.len() {
            let (content, consumed, report) = run_unstuffer(DotUnstuffer::new(), raw, &[size]);
            assert_eq!(content, *expected, "{raw:?} pieces of {size}");
            assert_eq!(consumed, Some(raw.len()));
            assert_eq!(report.size, expected.len() as u64);
        }
    }
}

// RFC 5321 §4.1.1.4: the end of data is found wherever the pieces split it,
// and the bytes after it are left in the input.
#[test]
fn end_of_data_in_every_split_position_rfc5321_4_1_1_4() {
    let raw: &[u8] = b"Hello\r\n..dot\r\n.\r\nQUIT\r\n";
    let expected: &[u8] = b"Hello\r\n.dot\r\n";
    let end = raw.len() - 6;
    for first in 0..=raw.len() {
        for second in first..=raw.len() {
            let mut unstuffer = DotUnstuffer::new();
            let mut content = Vec::new();
            let mut consumed = None;
            let mut offset = 0;
            for piece in [&raw[..first], &raw[first..second], &raw[second..]] {
                let mut input = piece;
                while let Some(step) = unstuffer.next(&mut input) {
                    match step {
                        Unstuffed::Content(bytes) => content.extend_from_slice(bytes),
                        Unstuffed::End => consumed = Some(offset + piece.len() - input.len()),
                    }
                }
                if consumed.is_some() {
                    break;
                }
                offset += piece.len();
            }
            assert_eq!(content, expected, "split at {first}, {second}");
            assert_eq!(consumed, Some(end), "split at {first}, {second}");
        }
    }
}

// RFC 5321 §4.5.3.1.6: 1000 octets with the CRLF, the leading dot of a
// stuffed line not counted.
#[test]
fn text_line_limit_rfc5321_4_5_3_1_6() {
    for (len, stuffed, long) in [
        (998, false, false),
        (999, false, true),
        (1000, false, true),
        (998, true, false),
        (999, true, true),
    ] {
        let mut raw = Vec::new();
        // Clean lines around it, so the block checks run over it too.
        for _ in 0..40 {
            raw.extend_from_slice(&[b'x'; 77]);
            raw.extend_from_slice(b"\r\n");
        }
        if stuffed {
            raw.push(b'.');
        }
        raw.extend(std::iter::repeat_n(b'a', len));
        raw.extend_from_slice(b"\r\n");
        for _ in 0..40 {
            raw.extend_from_slice(&[b'y'; 50]);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b".\r\n");
        for size in [1, 13, 64, 999, 1000, 1001, raw.len()] {
            let (_, consumed, report) = run_unstuffer(DotUnstuffer::new(), &raw, &[size]);
            assert_eq!(consumed, Some(raw.len()));
            assert_eq!(
                report.long_line, long,
                "len {len} stuffed {stuffed} pieces {size}"
            );
            let reply = report.error_reply(false);
            assert_eq!(reply, long.then_some(ErrorReply::TEXT_LINE_TOO_LONG));
        }
    }
    assert_eq!(MAX_TEXT_LINE, 1000);
}

// RFC 5321 §2.3.8: bare CR and bare LF are reported, the stream goes on.
#[test]
fn bare_line_ends_reported_rfc5321_2_3_8() {
    let cases: &[(&[u8], bool, bool)] = &[
        (b"a\r\nb\r\n.\r\n", false, false),
        (b"a\nb\r\n.\r\n", false, true),
        (b"a\rb\r\n.\r\n", true, false),
        (b"\n\r\n.\r\n", false, true),
        (b"a\r\r\n.\r\n", true, false),
        (b"a\r\n\nb\r\n.\r\n", false, true),
    ];
    for (raw, bare_cr, bare_lf) in cases {
        for size in 1..=raw.len() {
            let (_, consumed, report) = run_unstuffer(DotUnstuffer::new(), raw, &[size]);
            assert_eq!(consumed, Some(raw.len()), "{raw:?}");
            assert_eq!(
                (report.bare_cr, report.bare_lf),
                (*bare_cr, *bare_lf),
                "{raw:?}"
            );
            let policy = report.error_reply(true);
            assert_eq!(
                policy,
                (*bare_cr || *bare_lf).then_some(ErrorReply::BARE_LINE_END)
            );
            assert_eq!(report.error_reply(false), None);
        }
    }
}

// RFC 1870 §4, §6: the size counts content without the stuffing dots and the
// end of data; past the maximum, content is dropped and the stream goes on.
#[test]
fn size_limit_rfc1870() {
    let raw: &[u8] = b"0123456789\r\n..abc\r\n.\r\nQUIT\r\n";
    // Content: "0123456789\r\n.abc\r\n" = 18 octets.
    for (max, too_big, kept) in [
        (None, false, 18),
        (Some(18), false, 18),
        (Some(17), true, 17),
        (Some(5), true, 5),
        (Some(0), true, 0),
    ] {
        for size in [1, 4, raw.len()] {
            let unstuffer = DotUnstuffer::new().with_max_size(max);
            let (content, consumed, report) = run_unstuffer(unstuffer, raw, &[size]);
            assert_eq!(consumed, Some(raw.len() - 6), "the stream reaches the end");
            assert_eq!(report.size, 18);
            assert_eq!(report.too_big, too_big);
            assert_eq!(content, &b"0123456789\r\n.abc\r\n"[..kept]);
            if too_big {
                assert_eq!(report.error_reply(true), Some(ErrorReply::TOO_BIG));
            }
        }
    }
}

#[test]
fn unstuffer_after_end_returns_nothing() {
    let mut unstuffer = DotUnstuffer::new();
    let mut input: &[u8] = b"a\r\n.\r\nb\r\n.\r\n";
    assert_eq!(
        unstuffer.next(&mut input),
        Some(Unstuffed::Content(b"a\r\n"))
    );
    assert_eq!(unstuffer.next(&mut input), Some(Unstuffed::End));
    assert_eq!(unstuffer.next(&mut input), None);
    assert_eq!(input, b"b\r\n.\r\n");
    assert_eq!(unstuffer.unstuff(input), (0, Unstuffed::End));
    assert!(size_of::<DotUnstuffer>() <= 64, "O(1) state");
}

// Long clean bodies go through the block checks: same answers as the model.
#[test]
fn large_bodies_match_model() {
    let mut raw = Vec::new();
    let mut seed = 12345u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        seed >> 8
    };
    // Under miri 40 lines (about 6 KB, long ones among them): five thousand
    // take hours there.
    for line in 0..if cfg!(miri) { 40 } else { 5000 } {
        let len = match next() % 20 {
            0 => 990 + (next() % 20) as usize,
            1 => (next() % 2000) as usize,
            _ => (next() % 120) as usize,
        };
        if line % 97 == 0 {
            raw.push(b'.');
        }
        raw.extend((0..len).map(|i| b"abcdefgh ."[(i + line) % 10]));
        if line % 1777 == 0 {
            raw.push(b'\n');
        }
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b".\r\nQUIT\r\n");
    for max_line in [MAX_TEXT_LINE, 300, 2000, 5000] {
        let expected = model_unstuff(&raw, max_line, None).unwrap();
        for sizes in [&[raw.len()][..], &[16384], &[1000, 1, 3, 7000], &[1]] {
            let unstuffer = DotUnstuffer::new().with_max_line(max_line);
            let (content, consumed, report) = run_unstuffer(unstuffer, &raw, sizes);
            assert_eq!(content, expected.0, "max_line {max_line} sizes {sizes:?}");
            assert_eq!(consumed, Some(expected.1));
            assert_eq!(report, expected.2, "max_line {max_line} sizes {sizes:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Sending (RFC 5321 §4.5.2, §2.3.8).

#[test]
fn dot_stuffing_table_rfc5321_4_5_2() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"", b".\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".a\r\n.\r\n", b"..a\r\n..\r\n.\r\n"),
        (b"\r\n.\r\n", b"\r\n..\r\n.\r\n"),
        // RFC 5321 §2.3.8: bare CR and LF are sent as CRLF.
        (b"a\nb", b"a\r\nb\r\n.\r\n"),
        (b"a\rb", b"a\r\nb\r\n.\r\n"),
        (b"a\r\r\n", b"a\r\n\r\n.\r\n"),
        (b"a\n\r", b"a\r\n\r\n.\r\n"),
        (b"\n.\n", b"\r\n..\r\n.\r\n"),
        (b"\r.\r", b"\r\n..\r\n.\r\n"),
        (b"x\r\n\0.\r\n", b"x\r\n\0.\r\n.\r\n"),
    ];
    for (body, expected) in cases {
        for size in 1..=body.len().max(1) {
            assert_eq!(
                stuff_chunks(body, &[size]),
                *expected,
                "{body:?} pieces {size}"
            );
        }
    }
    let mut out = Vec::new();
    DotStuffer::stuff_all(b".x", &mut out);
    assert_eq!(out, b"..x\r\n.\r\n");
}

// ---------------------------------------------------------------------------
// BDAT (RFC 3030 §2).

#[test]
fn bdat_chunk_takes_exactly_its_size_rfc3030_2() {
    let data: &[u8] = b"Subject: x\r\n\r\n.\r\nbody\nBDAT";
    let mut chunk = BdatChunk::new(22, false);
    let mut taken = Vec::new();
    for (i, piece) in data.chunks(5).enumerate() {
        let mut input = piece;
        let bytes = chunk.take(&mut input);
        assert!(piece.as_ptr_range().contains(&bytes.as_ptr()) || bytes.is_empty());
        taken.extend_from_slice(bytes);
        if i == 4 {
            // The chunk ends in this piece: the rest is the next command.
            assert!(chunk.is_complete());
            assert_eq!(input, b"BDA");
        }
    }
    assert_eq!(taken, &data[..22], "no unstuffing, no end marker");
    assert!(chunk.is_complete() && !chunk.is_last());
}

#[test]
fn bdat_receiver_rfc3030_2() {
    let mut receiver = BdatReceiver::new(Some(10));
    assert_eq!(receiver.start(6, false), Ok(()));
    assert_eq!(receiver.start(1, false), Err(BdatError::ChunkInProgress));
    let mut input: &[u8] = b"abc";
    assert_eq!(receiver.next(&mut input), Some(BdatPiece::Content(b"abc")));
    assert_eq!(receiver.next(&mut input), None);
    let mut input: &[u8] = b"defBDAT";
    assert_eq!(receiver.next(&mut input), Some(BdatPiece::Content(b"def")));
    assert_eq!(
        receiver.next(&mut input),
        Some(BdatPiece::ChunkEnd { last: false })
    );
    assert_eq!(input, b"BDAT");
    assert_eq!(receiver.next(&mut input), None);
    // RFC 1870 §6: over the maximum as soon as the size is announced; the
    // chunk is still read, its excess dropped.
    assert_eq!(receiver.start(6, true), Ok(()));
    assert!(receiver.too_big());
    assert_eq!(receiver.error_reply(), Some(ErrorReply::TOO_BIG));
    let mut input: &[u8] = b"ghijklQUIT\r\n";
    assert_eq!(receiver.next(&mut input), Some(BdatPiece::Content(b"ghij")));
    assert_eq!(
        receiver.next(&mut input),
        Some(BdatPiece::ChunkEnd { last: true })
    );
    assert_eq!(input, b"QUIT\r\n");
    assert_eq!(receiver.received(), 12);
    assert!(receiver.is_ended());
    assert_eq!(receiver.start(1, true), Err(BdatError::AfterLast));
    // BDAT 0 LAST ends at once, with no input.
    let mut receiver = BdatReceiver::new(None);
    receiver.start(0, true).unwrap();
    let mut input: &[u8] = b"";
    assert_eq!(
        receiver.next(&mut input),
        Some(BdatPiece::ChunkEnd { last: true })
    );
    assert_eq!(receiver.error_reply(), None);
}

#[test]
fn bdat_framing_rfc3030_2() {
    let mut out = Vec::new();
    write_bdat(b"ab\r\n.\r\n", false, &mut out);
    write_bdat(b"", true, &mut out);
    assert_eq!(out, b"BDAT 7\r\nab\r\n.\r\nBDAT 0 LAST\r\n");
    let mut out = Vec::new();
    write_bdat_command(1_048_576, true, &mut out);
    assert_eq!(out, b"BDAT 1048576 LAST\r\n");
}

// ---------------------------------------------------------------------------
// Properties.

/// Bytes rich in the characters that matter here.
fn smtp_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => Just(b'\r'),
            4 => Just(b'\n'),
            4 => Just(b'.'),
            4 => Just(b'a'),
            1 => Just(b' '),
            1 => Just(0u8),
            1 => any::<u8>(),
        ],
        0..max_len,
    )
}

/// Mostly well-formed bodies with long clean stretches, so that the block
/// checks run, and rare dots, bare line ends and long lines.
fn clean_body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (
            prop_oneof![8 => 0usize..100, 2 => 100usize..400, 1 => 900usize..1100],
            0u8..40,
        ),
        0..60,
    )
    .prop_map(|lines| {
        let mut body = Vec::new();
        for (i, (len, special)) in lines.into_iter().enumerate() {
            match special {
                0 => body.push(b'.'),
                1 => body.extend_from_slice(b".."),
                _ => {}
            }
            body.extend((0..len).map(|j| b"lorem ipsum."[(i + j) % 12]));
            match special {
                2 => body.push(b'\n'),
                3 => body.push(b'\r'),
                4 => body.extend_from_slice(b"\r\n.\n"),
                _ => {}
            }
            body.extend_from_slice(b"\r\n");
        }
        body
    })
}

fn piece_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        Just(vec![usize::MAX]),
        prop::collection::vec(1usize..200, 1..8),
    ]
}

proptest! {
    #![proptest_config(proptest_common::config(512))]

    // RFC 5321 §4.1.1.4: the end is exactly the first CRLF "." CRLF (the
    // body starting as if after CRLF), never earlier, whatever the pieces;
    // content and report match the byte-by-byte model.
    #[test]
    fn unstuffer_matches_model(
        raw in smtp_bytes(300),
        sizes in piece_sizes(),
        max_line in prop_oneof![Just(MAX_TEXT_LINE), 1usize..40],
        max_size in prop::option::of(0u64..200),
    ) {
        let mut stream = raw.clone();
        stream.extend_from_slice(b"\r\n.\r\ntrailing");
        let expected = model_unstuff(&stream, max_line, max_size).expect("has an end");
        let unstuffer = DotUnstuffer::new().with_max_line(max_line).with_max_size(max_size);
        let got = run_unstuffer(unstuffer.clone(), &stream, &sizes);
        prop_assert_eq!(&got.0, &expected.0);
        prop_assert_eq!(got.1, Some(expected.1));
        prop_assert_eq!(got.2, expected.2);
        let raw_api = run_unstuff_raw(unstuffer, &stream, sizes[0]);
        prop_assert_eq!(raw_api, got);
    }

    // Same over long, mostly clean bodies (the block-check path).
    #[test]
    fn unstuffer_matches_model_on_clean_bodies(
        body in clean_body(),
        sizes in piece_sizes(),
        max_line in prop_oneof![Just(MAX_TEXT_LINE), 50usize..1200],
    ) {
        let mut stream = body;
        stream.extend_from_slice(b".\r\nQUIT\r\n");
        let expected = model_unstuff(&stream, max_line, None).expect("has an end");
        let got = run_unstuffer(DotUnstuffer::new().with_max_line(max_line), &stream, &sizes);
        prop_assert_eq!(&got.0, &expected.0);
        prop_assert_eq!(got.1, Some(expected.1));
        prop_assert_eq!(got.2, expected.2);
    }

    // Without an end of data, the unstuffer never reports one.
    #[test]
    fn unstuffer_never_ends_early(raw in smtp_bytes(300), sizes in piece_sizes()) {
        let mut framed = b"\r\n".to_vec();
        framed.extend_from_slice(&raw);
        prop_assume!(!framed.windows(5).any(|w| w == b"\r\n.\r\n"));
        let (_, consumed, _) = run_unstuffer(DotUnstuffer::new(), &raw, &sizes);
        prop_assert_eq!(consumed, None);
    }

    // RFC 5321 §4.5.2: stuffing then unstuffing gives the CRLF-normalised
    // body back, whatever the pieces on either side; a stuffed body holds no
    // bare CR or LF and no early end.
    #[test]
    fn stuff_then_unstuff_is_identity(
        body in prop_oneof![smtp_bytes(400), clean_body()],
        stuff_sizes in piece_sizes(),
        unstuff_sizes in piece_sizes(),
    ) {
        let stuffed = stuff_chunks(&body, &stuff_sizes);
        prop_assert_eq!(&stuffed, &stuff_chunks(&body, &[usize::MAX]));
        let unlimited = DotUnstuffer::new().with_max_line(usize::MAX);
        let (content, consumed, report) = run_unstuffer(unlimited, &stuffed, &unstuff_sizes);
        prop_assert_eq!(content, normalise(&body));
        prop_assert_eq!(consumed, Some(stuffed.len()));
        prop_assert!(!report.bare_cr && !report.bare_lf);
    }

    // A body already in CRLF form comes back unchanged.
    #[test]
    fn stuff_then_unstuff_crlf_body(body in clean_body(), sizes in piece_sizes()) {
        let mut crlf_only = Vec::new();
        for line in body.split(|&b| b == b'\n') {
            let line: Vec<u8> = line.iter().copied().filter(|&b| b != b'\r').collect();
            crlf_only.extend_from_slice(&line);
            crlf_only.extend_from_slice(b"\r\n");
        }
        let stuffed = stuff_chunks(&crlf_only, &sizes);
        let (content, consumed, _) = run_unstuffer(DotUnstuffer::new(), &stuffed, &sizes);
        prop_assert_eq!(content, crlf_only);
        prop_assert_eq!(consumed, Some(stuffed.len()));
    }

    // RFC 5321 §2.3.8: the reader gives the same lines, errors and consumed
    // offsets whatever the pieces, as the model of the whole stream.
    #[test]
    fn line_reader_independent_of_pieces(
        stream in smtp_bytes(400),
        sizes in piece_sizes(),
        max in prop_oneof![2usize..20, Just(MAX_COMMAND_LINE)],
    ) {
        let expected = model_lines(&stream, max);
        let (events, reader) = read_lines(max, &stream, &sizes);
        prop_assert_eq!(events, expected);
        prop_assert!(reader.heap_bytes() <= max);
    }

    // Lines of well-formed commands come back as sent, each borrowed when it
    // arrives whole.
    #[test]
    fn line_reader_round_trip(
        lines in prop::collection::vec(prop::collection::vec(0x20u8..0x7f, 0..510), 0..20),
        sizes in piece_sizes(),
    ) {
        let mut stream = Vec::new();
        for line in &lines {
            stream.extend_from_slice(line);
            stream.extend_from_slice(b"\r\n");
        }
        let (events, reader) = read_lines(MAX_COMMAND_LINE, &stream, &sizes);
        let got: Vec<Vec<u8>> = events
            .into_iter()
            .map(|e| match e {
                LineEvent::Line(bytes, _) => bytes,
                LineEvent::Error(e, _) => panic!("{e}"),
            })
            .collect();
        prop_assert_eq!(got, lines);
        prop_assert_eq!(reader.buffered(), 0);
    }

    // Memory stays bounded for a huge line, under any pieces.
    #[test]
    fn line_reader_memory_bounded(len in 0usize..20_000, sizes in piece_sizes()) {
        let mut stream = vec![b'z'; len];
        stream.extend_from_slice(b"\r\nQUIT\r\n");
        let (events, reader) = read_lines(MAX_COMMAND_LINE, &stream, &sizes);
        prop_assert_eq!(events.last(), Some(&LineEvent::Line(b"QUIT".to_vec(), len + 8)));
        prop_assert_eq!(reader.heap_bytes(), 0);
    }

    // RFC 3030 §2: a chunk takes exactly its size from any pieces.
    #[test]
    fn bdat_chunk_any_pieces(data in smtp_bytes(300), size in 0usize..300, sizes in piece_sizes()) {
        let size = size.min(data.len());
        let mut receiver = BdatReceiver::new(None);
        receiver.start(size as u64, true).unwrap();
        let mut taken = Vec::new();
        let mut rest = Vec::new();
        let mut ended = false;
        let mut offset = 0;
        let mut sizes = sizes.iter().copied().cycle();
        loop {
            let n = sizes.next().unwrap_or(1).min(data.len() - offset);
            let mut input = &data[offset..offset + n];
            while let Some(piece) = receiver.next(&mut input) {
                match piece {
                    BdatPiece::Content(bytes) => taken.extend_from_slice(bytes),
                    BdatPiece::ChunkEnd { last } => {
                        prop_assert!(last);
                        ended = true;
                    }
                }
            }
            if ended {
                rest.extend_from_slice(input);
            }
            offset += n;
            if offset >= data.len() {
                break;
            }
            if ended {
                rest.extend_from_slice(&data[offset..]);
                break;
            }
        }
        prop_assert!(ended);
        prop_assert_eq!(&taken[..], &data[..size]);
        prop_assert_eq!(&rest[..], &data[size..]);
    }
}
