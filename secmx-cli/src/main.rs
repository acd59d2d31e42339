//! The `secmx` program: a thin std-I/O driver over the SecMX crates.
//!
//! It will run `secmx demo` (a SOR, a BER and a plain receiver on loopback,
//! with BES and SOS senders and their verdicts), `send`, `serve`, `discover`,
//! `check`, `rr` and a Postfix TLS policy service.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "secmx {}: the demo, send, serve, discover and check subcommands are not built yet",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(64)
}
