//! A message body from a hostile client: line framing and the dot-unstuffer
//! fed in the chunks the input's first byte chooses, checked against the same
//! bytes fed whole. Content never runs past the first CRLF.CRLF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmx_core::proto::data::{DotUnstuffer, Unstuffed};
use secmx_core::proto::line::LineReader;

fn unstuff(data: &[u8], chunk: usize) -> (Vec<u8>, Option<usize>) {
    let mut unstuffer = DotUnstuffer::new();
    let mut content = Vec::new();
    let mut offset = 0;
    for piece in data.chunks(chunk) {
        let mut input = piece;
        while let Some(item) = unstuffer.next(&mut input) {
            match item {
                Unstuffed::Content(bytes) => content.extend_from_slice(bytes),
                Unstuffed::End => return (content, Some(offset + piece.len() - input.len())),
            }
        }
        offset += piece.len();
    }
    (content, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 31) + 1;

    let whole = unstuff(data, data.len().max(1));
    let pieces = unstuff(data, chunk);
    assert_eq!(whole, pieces);
    // The body ends exactly at the first CRLF.CRLF (or at a leading ".CRLF").
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(data);
    let first_end = memchr_find(&framed, b"\r\n.\r\n").map(|at| at + 5 - 2);
    assert_eq!(whole.1, first_end);

    let mut reader = LineReader::for_commands();
    for mut piece in data.chunks(chunk) {
        loop {
            match reader.next(&mut piece) {
                Ok(Some(line)) => assert!(line.wire_len() <= 512),
                Ok(None) => break,
                Err(_) => {}
            }
        }
        assert!(reader.buffered() <= 512);
    }
});

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
