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

use std::hint::black_box;
use std::time::{Duration, Instant};

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
}
