//! The SMTP grammar next to its anchors: command-stream parsing against
//! smtp-proto, DATA receive against a bare `memmem` scan (and smtp-proto's
//! data receiver). `cargo bench -p secmx-benches --bench grammar`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secmx_benches::{
    command_stream, memmem_end_of_data, parse_commands, parse_commands_smtp_proto, receive_body,
    receive_body_smtp_proto, stuffed_body,
};

fn commands(c: &mut Criterion) {
    let (stream, _) = command_stream(64 * 1024);
    let mut group = c.benchmark_group("command_stream");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("secmx", |b| b.iter(|| parse_commands(&stream)));
    group.bench_function("smtp-proto", |b| {
        b.iter(|| parse_commands_smtp_proto(&stream))
    });
    group.finish();
}

fn data(c: &mut Criterion) {
    let body = stuffed_body(1024 * 1024);
    let mut buf = Vec::with_capacity(body.len());
    let mut group = c.benchmark_group("data_receive");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("secmx", |b| b.iter(|| receive_body(&body)));
    group.bench_function("memmem", |b| b.iter(|| memmem_end_of_data(&body)));
    group.bench_function("smtp-proto", |b| {
        b.iter(|| receive_body_smtp_proto(&body, &mut buf))
    });
    group.finish();
}

criterion_group!(benches, commands, data);
criterion_main!(benches);
