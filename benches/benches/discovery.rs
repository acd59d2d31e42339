//! A whole discovery of a domain that publishes every record, next to bare
//! hickory decoding of the same responses; and the planner's work for one
//! message on that result.
//! `cargo bench -p secmx-benches --bench discovery`.

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use secmx_benches::dns::{decode_all, plan_all, record_responses, replay};
use secmx_policy::Class;
use secmx_policy::plan::PlanConfig;

fn discovery(c: &mut Criterion) {
    let responses = record_responses();
    let now = Instant::now();
    let mut group = c.benchmark_group("discovery");
    group.bench_function("secmx", |b| b.iter(|| replay(&responses, now)));
    group.bench_function("hickory-decode", |b| b.iter(|| decode_all(&responses)));
    group.finish();

    let discovered = replay(&responses, now).expect("the recorded discovery ends");
    let config = PlanConfig::default();
    let mut group = c.benchmark_group("plan");
    group.bench_function("secure-only", |b| {
        b.iter(|| plan_all(&discovered, Class::SecureOnly, &config))
    });
    group.bench_function("best-effort", |b| {
        b.iter(|| plan_all(&discovered, Class::BestEffort, &config))
    });
    group.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
