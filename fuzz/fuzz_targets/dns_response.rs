//! DNS responses from a hostile network: a whole discovery fed, for each
//! query it asks, a response that carries the query's id and question (so the
//! fuzzer reaches the answer parsing) followed by fuzzer-chosen flags, counts
//! and records; and the same bytes raw. It must end, never panic, and give a
//! result.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secmx_dns::{Config, Discovery};

/// The length of the question section of a query we encoded.
fn question_len(query: &[u8]) -> Option<usize> {
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1 + len;
        if len == 0 {
            return Some(at + 4 - 12);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let mut config = Config::default();
    config.trusted_resolver = flags & 1 == 1;
    let Ok(mut discovery) = Discovery::new("example.test", config) else {
        return;
    };
    let start = Instant::now();
    let mut now = start;
    let mut pieces = data.split(|&b| b == 0xA5).peekable();
    let mut rounds = 0;
    while !discovery.is_finished() && rounds < 400 {
        rounds += 1;
        let mut answered = false;
        while let Some(query) = discovery.poll_query(now) {
            let Some(piece) = pieces.next() else { break };
            let Some(qlen) = question_len(&query.bytes) else { continue };
            let mut response = Vec::with_capacity(12 + qlen + piece.len());
            response.extend_from_slice(&query.id.to_be_bytes());
            // Flags and counts from the fuzzer (QR forced on), the question copied.
            let mut header = [0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
            for (slot, byte) in header.iter_mut().zip(piece) {
                *slot = *byte;
            }
            header[0] |= 0x80;
            response.extend_from_slice(&header);
            response.extend_from_slice(&query.bytes[12..12 + qlen]);
            response.extend_from_slice(piece.get(10..).unwrap_or(&[]));
            let _ = discovery.handle_response(now, &response);
            let _ = discovery.handle_response(now, piece);
            answered = true;
        }
        if !answered {
            now += Duration::from_secs(6);
            discovery.handle_timeout(now);
        }
    }
    assert!(discovery.is_finished(), "discovery did not end");
    assert!(discovery.result().is_some());
});
