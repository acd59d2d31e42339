//! Prints each SecMX figure next to its anchor, measured in the same run:
//! `name value unit ratio anchor`, one line each. Every figure is the best of
//! several repetitions, and its anchor is sampled in the same repetitions.
//!
//! `cargo run --release -p secmx-benches --bin report`

use std::time::{Duration, Instant};

use secmx_benches::dns::{decode_all, record_responses, replay};
use secmx_benches::{
    best_of, command_stream, memmem_end_of_data, mib_per_s, parse_commands,
    parse_commands_smtp_proto, receive_body, stuffed_body,
};

const REPETITIONS: usize = 15;
const PER_SAMPLE: Duration = Duration::from_millis(40);

fn main() {
    println!("# name value unit ratio anchor");

    let (stream, _) = command_stream(64 * 1024);
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE,
        &mut [
            ("secmx", &mut || parse_commands(&stream)),
            ("smtp-proto", &mut || parse_commands_smtp_proto(&stream)),
        ],
    );
    let ours = mib_per_s(stream.len(), figures[0].best);
    let anchor = mib_per_s(stream.len(), figures[1].best);
    println!(
        "command_parse {ours:.0} MiB/s {:.2}x smtp-proto={anchor:.0}MiB/s",
        ours / anchor
    );

    let body = stuffed_body(1024 * 1024);
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE,
        &mut [
            ("secmx", &mut || receive_body(&body)),
            ("memmem", &mut || memmem_end_of_data(&body)),
        ],
    );
    let ours = mib_per_s(body.len(), figures[0].best);
    let anchor = mib_per_s(body.len(), figures[1].best);
    println!(
        "data_receive {ours:.0} MiB/s {:.2}x memmem={anchor:.0}MiB/s",
        ours / anchor
    );

    let responses = record_responses();
    let now = Instant::now();
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE,
        &mut [
            ("secmx", &mut || {
                usize::from(replay(&responses, now).is_some())
            }),
            ("hickory", &mut || decode_all(&responses)),
        ],
    );
    let ours = figures[0].best.as_secs_f64() * 1e6;
    let anchor = figures[1].best.as_secs_f64() * 1e6;
    println!(
        "discovery {ours:.2} us {:.2}x hickory-decode={anchor:.2}us ({} responses)",
        ours / anchor,
        responses.len()
    );
}
