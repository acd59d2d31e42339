//! Benchmarks of SecMX, each measured next to an anchor in the same run.
//!
//! Two ways in:
//! - `cargo bench -p secmx-benches` runs the criterion benches, which show
//!   SecMX and its anchors side by side per group.
//! - `cargo run --release -p secmx-benches --bin report` prints one line per
//!   figure, `name value unit ratio anchor`, where each figure is the best of
//!   several repetitions and its anchor is sampled in the same repetitions
//!   (the machines this runs on are shared and noisy).
//!
//! This crate also holds the corpora both use, so that criterion and the
//! report measure the same bytes.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dns;
pub mod session;

use std::hint::black_box;
use std::time::{Duration, Instant};

use secmx_core::proto::command::{Command, ParseContext};
use secmx_core::proto::data::{DotUnstuffer, Unstuffed};
use secmx_core::proto::line::LineReader;

/// Command lines of ordinary SMTP sessions, as a server receives them, each
/// with its CRLF: EHLO, MAIL with parameters, several RCPTs, DATA, and the
/// short commands.
pub const SESSION_COMMANDS: &[&[u8]] = &[
    b"EHLO mail.sender.example.org\r\n",
    b"MAIL FROM:<alice.smith@sender.example.org> SIZE=48213 BODY=8BITMIME\r\n",
    b"RCPT TO:<bob@receiver.example.net>\r\n",
    b"RCPT TO:<carol.jones@receiver.example.net> NOTIFY=SUCCESS,FAILURE\r\n",
    b"RCPT TO:<\"dave smith\"@receiver.example.net>\r\n",
    b"RCPT TO:<erin+orders@receiver.example.net>\r\n",
    b"DATA\r\n",
    b"MAIL FROM:<> SIZE=2048\r\n",
    b"RCPT TO:<postmaster@receiver.example.net> ORCPT=rfc822;postmaster+40receiver.example.net\r\n",
    b"BDAT 2048 LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"VRFY bob\r\n",
    b"STARTTLS\r\n",
    b"MAIL FROM:<list-bounces+bob=receiver.example.net@lists.example.com> BODY=7BIT RET=HDRS ENVID=QQ314159\r\n",
    b"RCPT TO:<frank@receiver.example.net>\r\n",
    b"QUIT\r\n",
];

/// A command stream of at least `min_len` bytes: [`SESSION_COMMANDS`]
/// repeated. Returns the stream and the number of commands in it.
pub fn command_stream(min_len: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(min_len + 256);
    let mut count = 0;
    while out.len() < min_len {
        for line in SESSION_COMMANDS {
            out.extend_from_slice(line);
            count += 1;
        }
    }
    (out, count)
}

/// A dot-stuffed message body of at least `min_len` bytes as it travels after
/// `DATA`: headers, then text lines of 40 to 78 octets, one line in 50
/// starting with a (stuffed) dot, CRLF line ends, and the `CRLF.CRLF`
/// terminator. Deterministic.
pub fn stuffed_body(min_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(min_len + 128);
    out.extend_from_slice(
        b"From: Alice <alice@sender.example.org>\r\nTo: Bob <bob@receiver.example.net>\r\n\
Subject: Quarterly figures [SEC=UNOFFICIAL]\r\nMessage-ID: <1234.5678@sender.example.org>\r\n\
Date: Mon, 30 Nov 2026 06:45:00 +1300\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    let words: &[&[u8]] = &[
        b"the",
        b"quarterly",
        b"report",
        b"shows",
        b"delivery",
        b"over",
        b"TLS",
        b"to",
        b"every",
        b"agency",
        b"and",
        b"citizen",
        b"mailbox",
        b"secure",
        b"only",
        b"receiver",
    ];
    let mut seed: u32 = 0x5ec0_0001;
    let mut line = 0usize;
    while out.len() < min_len {
        line += 1;
        if line.is_multiple_of(50) {
            out.extend_from_slice(b"..");
        }
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let target = 40 + (seed >> 16) as usize % 39;
        let start = out.len();
        while out.len() - start < target {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            out.extend_from_slice(words[(seed >> 16) as usize % words.len()]);
            out.push(b' ');
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// SecMX: frames `stream` into lines with the session's [`LineReader`] and
/// parses each with [`Command::parse`]. Returns the commands parsed.
pub fn parse_commands(stream: &[u8]) -> usize {
    let mut reader = LineReader::for_commands();
    let mut input = stream;
    let mut parsed = 0;
    while let Ok(Some(line)) = reader.next(&mut input) {
        if let Ok(command) = Command::parse(line.as_bytes(), ParseContext::new()) {
            black_box(&command);
            parsed += 1;
        }
    }
    parsed
}

/// The anchor: smtp-proto's `Request::parse` over the same stream (it
/// frames and parses in one step).
pub fn parse_commands_smtp_proto(stream: &[u8]) -> usize {
    let mut iter = stream.iter();
    let mut parsed = 0;
    while iter.len() > 0 {
        match smtp_proto::Request::parse(&mut iter) {
            Ok(request) => {
                black_box(&request);
                parsed += 1;
            }
            Err(_) => break,
        }
    }
    parsed
}

/// SecMX: receives a dot-stuffed body with [`DotUnstuffer`] up to its end
/// of data. Returns the content bytes.
pub fn receive_body(body: &[u8]) -> usize {
    let mut unstuffer = DotUnstuffer::new();
    let mut input = body;
    let mut content = 0;
    while let Some(item) = unstuffer.next(&mut input) {
        match item {
            Unstuffed::Content(bytes) => content += black_box(bytes).len(),
            Unstuffed::End => break,
        }
    }
    content
}

/// The anchor: one `memchr::memmem` scan of the same body for `CRLF.CRLF`.
pub fn memmem_end_of_data(body: &[u8]) -> usize {
    memchr::memmem::find(body, b"\r\n.\r\n").unwrap_or(0)
}

/// A second reference: smtp-proto's `DataReceiver`, which copies the
/// unstuffed body into a buffer.
pub fn receive_body_smtp_proto(body: &[u8], buf: &mut Vec<u8>) -> usize {
    buf.clear();
    let mut receiver = smtp_proto::request::receiver::DataReceiver::new();
    let mut iter = body.iter();
    receiver.ingest(&mut iter, buf);
    buf.len()
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Short name.
    pub name: &'static str,
    /// The best time per iteration seen in any repetition.
    pub best: Duration,
}

/// Runs each of `subjects` for at least `per_sample` per repetition, for
/// `repetitions` rounds, interleaving them inside each round so that every
/// subject sees the same machine load; returns the best time per call of
/// each. `subjects` return a value that is black-boxed.
pub fn best_of(
    repetitions: usize,
    per_sample: Duration,
    subjects: &mut [(&'static str, &mut dyn FnMut() -> usize)],
) -> Vec<Figure> {
    let mut best = vec![Duration::MAX; subjects.len()];
    for _ in 0..repetitions {
        for (slot, (_, subject)) in best.iter_mut().zip(subjects.iter_mut()) {
            let mut iterations = 0u32;
            let start = Instant::now();
            let elapsed = loop {
                black_box(subject());
                iterations += 1;
                let elapsed = start.elapsed();
                if elapsed >= per_sample {
                    break elapsed;
                }
            };
            *slot = (*slot).min(elapsed / iterations);
        }
    }
    subjects
        .iter()
        .zip(best)
        .map(|((name, _), best)| Figure { name, best })
        .collect()
}

/// Throughput in MiB/s for `bytes` handled in `per_call`.
pub fn mib_per_s(bytes: usize, per_call: Duration) -> f64 {
    bytes as f64 / per_call.as_secs_f64() / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_well_formed() {
        let (stream, count) = command_stream(10_000);
        assert!(stream.len() >= 10_000);
        assert_eq!(memchr::memmem::find_iter(&stream, b"\r\n").count(), count);
        let body = stuffed_body(100_000);
        assert!(body.len() >= 100_000);
        // Exactly one terminator, at the very end.
        assert_eq!(memchr::memmem::find_iter(&body, b"\r\n.\r\n").count(), 1);
        assert!(body.ends_with(b"\r\n.\r\n"));
        assert!(body.windows(4).any(|w| w == b"\r\n.."));
        assert!(body.split(|&b| b == b'\n').all(|l| l.len() <= 1000));
    }

    #[test]
    fn secmx_and_anchors_see_the_same_work() {
        let (stream, count) = command_stream(50_000);
        assert_eq!(parse_commands(&stream), count);
        assert_eq!(parse_commands_smtp_proto(&stream), count);
        let body = stuffed_body(200_000);
        let dots = memchr::memmem::find_iter(&body, b"\r\n..").count();
        // Content is the body less the terminator and one dot per stuffed line.
        assert_eq!(receive_body(&body), body.len() - 3 - dots);
        assert_eq!(memmem_end_of_data(&body), body.len() - 5);
        let mut buf = Vec::new();
        assert!(receive_body_smtp_proto(&body, &mut buf) >= body.len() - 5 - dots);
    }
}
