//! A whole discovery of a domain that publishes every record, next to bare
//! hickory decoding of the same responses.
//! `cargo bench -p secmx-benches --bench discovery`.

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use secmx_benches::dns::{decode_all, record_responses, replay};

fn discovery(c: &mut Criterion) {
    let responses = record_responses();
    let now = Instant::now();
    let mut group = c.benchmark_group("discovery");
    group.bench_function("secmx", |b| b.iter(|| replay(&responses, now)));
    group.bench_function("hickory-decode", |b| b.iter(|| decode_all(&responses)));
    group.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
