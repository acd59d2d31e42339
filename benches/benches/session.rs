//! A whole in-memory SMTP session through STARTTLS with a 100 KiB message,
//! next to bare rustls doing the same handshake and carrying as many bytes.
//! `cargo bench -p secmx-benches --bench session`.

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use secmx_benches::session::{Fixture, anchor_plaintext, bare_rustls, secmx_session};

fn session(c: &mut Criterion) {
    let fixture = Fixture::new(100 * 1024);
    let (up, down) = anchor_plaintext(&fixture);
    let now = Instant::now();
    let mut group = c.benchmark_group("session_100k");
    group.bench_function("secmx", |b| b.iter(|| secmx_session(&fixture, now)));
    group.bench_function("bare-rustls", |b| {
        b.iter(|| bare_rustls(&fixture, up, down))
    });
    group.finish();
}

criterion_group!(benches, session);
criterion_main!(benches);
