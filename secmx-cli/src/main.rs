//! The `secmx` program: a thin std-I/O driver over the SecMX crates.
//!
//! Subcommands: `demo` (SecMX end to end on loopback), `send` (one message,
//! discovery to verdict), `serve` (a BER or SOR writing to a spool),
//! `discover` (the SecMX discovery of a domain), `check` (a domain's TLS
//! posture), `policyd` (a Postfix socketmap TLS policy and transport
//! service) and `rr` (the zone-file lines that publish a SOR). Exit codes
//! are those of `sysexits.h` ([`secmx_cli::exit`]): 0 done or delivered, 64
//! a bad command line, 69 bounced, 75 deferred or DNS indeterminate.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secmx_cli::check::CheckArgs;
use secmx_cli::discover::DiscoverArgs;
use secmx_cli::exit::{self, Failure};
use secmx_cli::policyd::PolicydArgs;
use secmx_cli::rr::RrArgs;
use secmx_cli::send::SendArgs;
use secmx_cli::serve::ServeArgs;

/// SecMX: mail between mail servers over TLS, found through DNS.
#[derive(Debug, Parser)]
#[command(name = "secmx", version, about, propagate_version = true)]
#[command(
    after_help = "Exit status: 0 success, 64 usage error, 66 input file unreadable, \
    71 system error, 73 spool not writable, 75 temporary failure, 78 configuration error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive mail as a BER or SOR and store each message in a spool
    /// directory (one JSON line per transaction on stdout).
    Serve(ServeArgs),
    /// Show what SecMX discovery finds for a domain: SORs by all four
    /// conventions, MX hosts, TLSA, MTA-STS, TLS-RPT.
    Discover(DiscoverArgs),
    /// Print the zone-file lines (SECMX in native and RFC 3597 form, SRV,
    /// MX 51966) that publish a SOR for a domain.
    Rr(RrArgs),
    /// Send one message: discovery, the delivery plan, the attempts, a
    /// verdict per recipient (exit 0 delivered, 75 deferred, 69 bounced,
    /// with the DSN).
    Send(SendArgs),
    /// Run SecMX end to end in this process on loopback: a DNS zone, a
    /// SOR, a BER and a receiver without TLS, mail to each under best
    /// effort and secure only policy, the verdicts and the bounce (exit 0,
    /// or 70 when an outcome is not the expected one).
    Demo,
    /// Connect to every SOR and MX host of a domain, do STARTTLS, and
    /// report the posture (TLS, certificate, DANE, REQUIRETLS, MTA-STS);
    /// exit 0 healthy, 1 a problem, 75 DNS indeterminate.
    Check(CheckArgs),
    /// Serve Postfix socketmap look-ups: smtp_tls_policy_maps ("postfix")
    /// and transport_maps ("transport") answered from SecMX discovery.
    Policyd(PolicydArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; every
            // other parse error is a usage error: 64, not clap's 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Serve(args) => secmx_cli::serve::run(args).map(|()| exit::OK),
        Command::Discover(args) => secmx_cli::discover::run(&args),
        Command::Rr(args) => secmx_cli::rr::zone_lines(&args).map(|text| {
            print!("{text}");
            exit::OK
        }),
        Command::Send(args) => secmx_cli::send::run(&args),
        Command::Demo => secmx_cli::demo::run(),
        Command::Check(args) => secmx_cli::check::run(&args),
        Command::Policyd(args) => secmx_cli::policyd::run(args),
    };
    let _ = std::io::stdout().flush();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, message }) => {
            eprintln!("secmx: {message}");
            ExitCode::from(code)
        }
    }
}
