//! Runs one benchmark workload a fixed number of times, for a profiler:
//!
//! `valgrind --tool=callgrind target/release/profile session 20`
//!
//! Workloads: `session` (the SecMX STARTTLS session with a 100 KiB message)
//! and `rustls` (its bare rustls anchor); `discovery` (a replayed SecMX
//! discovery) and `hickory-decode` (its bare hickory-proto anchor).

use std::time::Instant;

use secmx_benches::dns::{decode_all, record_responses, replay};
use secmx_benches::session::{Fixture, anchor_plaintext, bare_rustls, secmx_session};

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "session".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let fixture = Fixture::new(100 * 1024);
    let (up, down) = anchor_plaintext(&fixture);
    let now = Instant::now();
    let responses = record_responses();
    let mut total = 0;
    for _ in 0..count {
        total += match workload.as_str() {
            "session" => secmx_session(&fixture, now).stored,
            "rustls" => bare_rustls(&fixture, up, down),
            "discovery" => replay(&responses, now).map_or(0, |d| d.lookups.len()),
            "hickory-decode" => decode_all(&responses),
            other => {
                eprintln!("unknown workload {other}: session, rustls, discovery or hickory-decode");
                std::process::exit(2);
            }
        };
    }
    println!("{workload} x{count}: {total} bytes");
}
