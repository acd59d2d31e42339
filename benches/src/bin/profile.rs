//! Runs one benchmark workload a fixed number of times, for a profiler:
//!
//! `valgrind --tool=callgrind target/release/profile session 20`
//!
//! Workloads: `session` (the SecMX STARTTLS session with a 100 KiB message),
//! `rustls` (its bare rustls anchor), `commands` (SecMX framing and parsing
//! a 64 KiB command stream) and `smtp-proto` (smtp-proto's `Request::parse`
//! over the same stream), `commands:I` and `smtp-proto:I` (the same over a
//! stream of only the I-th line of `SESSION_COMMANDS`), `discovery` (a
//! replayed SecMX discovery) and `hickory-decode` (its bare hickory-proto
//! anchor). Subtract a run with a small count to remove the setup cost.

use std::time::Instant;

use secmx_benches::dns::{decode_all, record_responses, replay};
use secmx_benches::session::{Fixture, anchor_plaintext, bare_rustls, secmx_session};
use secmx_benches::{SESSION_COMMANDS, command_stream, parse_commands, parse_commands_smtp_proto};

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "session".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let (name, line) = match workload.split_once(':') {
        Some((name, index)) => (name, index.parse::<usize>().ok()),
        None => (workload.as_str(), None),
    };
    let total = match name {
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
            let (stream, commands) = match line.and_then(|i| SESSION_COMMANDS.get(i)) {
                Some(line) => (line.repeat(64 * 1024 / line.len()), 64 * 1024 / line.len()),
                None => command_stream(64 * 1024),
            };
            let parse = if name == "commands" {
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
        "discovery" | "hickory-decode" => {
            let responses = record_responses();
            let now = Instant::now();
            let mut total = 0;
            for _ in 0..count {
                total += if name == "discovery" {
                    replay(&responses, now).map_or(0, |d| d.lookups.len())
                } else {
                    decode_all(&responses)
                };
            }
            total
        }
        other => {
            eprintln!(
                "unknown workload {other}: session, rustls, commands, smtp-proto, discovery or hickory-decode"
            );
            std::process::exit(2);
        }
    };
    println!("{workload} x{count}: {total}");
}
