//! Runs one benchmark workload a fixed number of times, for a profiler:
//!
//! `valgrind --tool=callgrind target/release/profile session 20`
//!
//! Workloads: `session` (the SecMX STARTTLS session with a 100 KiB message),
//! `rustls` (its bare rustls anchor), `commands` (SecMX framing and parsing
//! a 64 KiB command stream) and `smtp-proto` (smtp-proto's `Request::parse`
//! over the same stream). Subtract a run with a small count to remove the
//! setup cost.

use std::time::Instant;

use secmx_benches::session::{Fixture, anchor_plaintext, bare_rustls, secmx_session};
use secmx_benches::{command_stream, parse_commands, parse_commands_smtp_proto};

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "session".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let total = match workload.as_str() {
        "session" | "rustls" => {
            let fixture = Fixture::new(100 * 1024);
            let (up, down) = anchor_plaintext(&fixture);
            let now = Instant::now();
            let mut total = 0;
            for _ in 0..count {
                total += if workload == "session" {
                    secmx_session(&fixture, now).stored
                } else {
                    bare_rustls(&fixture, up, down)
                };
            }
            total
        }
        "commands" | "smtp-proto" => {
            let (stream, commands) = command_stream(64 * 1024);
            let parse = if workload == "commands" {
                parse_commands
            } else {
                parse_commands_smtp_proto
            };
            let mut total = 0;
            for _ in 0..count {
                let parsed = parse(&stream);
                assert_eq!(parsed, commands, "every command parses");
                total += parsed;
            }
            total
        }
        other => {
            eprintln!("unknown workload {other}: session, rustls, commands or smtp-proto");
            std::process::exit(2);
        }
    };
    println!("{workload} x{count}: {total}");
}
