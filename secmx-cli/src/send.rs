//! `secmx send`: one message, discovery to verdict ([`crate::deliver`]).
//!
//! ```text
//! secmx send --policy bes|sos|auto --from A --to B [--to C …]
//!            [--message FILE|-] [--dns ADDR] [--dns-trusted] [--smtp-port N]
//!            [--ca FILE] [--verify encrypt|verify|dane] [--bounce-out FILE]
//!            [--json] [--helo NAME] [--rules FILE] [--requiretls]
//! ```
//!
//! Exit status: 0 every recipient delivered; 75 (`EX_TEMPFAIL`) some
//! recipient deferred (try again later); otherwise 69 (`EX_UNAVAILABLE`)
//! some recipient bounced, and the DSN (RFC 3464) is written to
//! `--bounce-out`, or to stdout after the summary (in the JSON form, as
//! the `dsn` field); 64 usage error; 66 an input file cannot be read; 71
//! no socket.
//!
//! Without `--message` a short test message is sent (From, To, Subject,
//! Date, Message-ID and one line of text). `--rules` (a TOML rule set,
//! [`secmx_policy::rules`]) is read for `--policy auto` only;
//! `--requiretls` sends `MAIL FROM:<…> REQUIRETLS` (RFC 8689) and makes
//! the message a REQUIRETLS message, which cannot go best effort.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secmx_core::proto::path::Domain;
use secmx_policy::dsn::DsnError;
use secmx_policy::plan::Role;
use secmx_policy::rules::RuleSet;
use secmx_policy::verify::Roots;
use serde_json::json;

use crate::deliver::{self, DeliverError, Options, Outgoing, Policy, Report, VerifyOverride};
use crate::dns_udp;
use crate::exit::{self, Failure};

/// `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    /// Best effort sender: SORs first, then the MX hosts with opportunistic
    /// STARTTLS (clear text where TLS is not offered).
    Bes,
    /// Secure only sender: only over TLS; no secure receiver means a bounce
    /// with 5.7.4.
    Sos,
    /// Decide by the rules (--rules; default best effort), a REQUIRETLS
    /// parameter and a `TLS-Required: No` header.
    Auto,
}

/// `--verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyArg {
    /// Any certificate (the handshake is still checked).
    Encrypt,
    /// A chain to the roots (--ca, or the public ones) and a name match.
    Verify,
    /// DANE only: targets without usable authenticated TLSA records are
    /// not tried.
    Dane,
}

/// The options of `secmx send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// bes (best effort), sos (secure only) or auto (rules).
    #[arg(long, value_enum)]
    pub policy: PolicyArg,
    /// The sender (MAIL FROM); "" for the null reverse-path.
    #[arg(long, value_name = "ADDRESS")]
    pub from: String,
    /// A recipient (repeat for several).
    #[arg(long = "to", value_name = "ADDRESS", required = true)]
    pub to: Vec<String>,
    /// The message (RFC 5322 text), or - for stdin [default: a short test
    /// message].
    #[arg(long, value_name = "FILE|-")]
    pub message: Option<PathBuf>,
    /// Resolver, IP or IP:PORT (no port: 53) [default: the first
    /// nameserver of /etc/resolv.conf].
    #[arg(long, value_name = "ADDR", value_parser = dns_udp::parse_resolver)]
    pub dns: Option<SocketAddr>,
    /// Believe the resolver's AD bit (a validating resolver on a trusted
    /// path): needed for DANE.
    #[arg(long)]
    pub dns_trusted: bool,
    /// Use this port where port 25 is implied (MX hosts, MX 51966,
    /// secmx.DOMAIN), not where an SRV or SECMX record names one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_port: Option<u16>,
    /// CA certificates (PEM) for the verify check, instead of the public
    /// roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The certificate check where TLS is required and no stronger source
    /// (DANE, MTA-STS, a SECMX certificate flag) decides.
    #[arg(long, value_enum)]
    pub verify: Option<VerifyArg>,
    /// Write the bounce (DSN) here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub bounce_out: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The name sent with EHLO, and the reporting MTA of a bounce
    /// [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,
    /// Rules (TOML) for --policy auto.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Send with REQUIRETLS (RFC 8689): verified TLS to hops that offer
    /// REQUIRETLS, else a bounce with 5.7.30.
    #[arg(long)]
    pub requiretls: bool,
}

/// Runs `secmx send`; returns the exit code.
pub fn run(args: &SendArgs) -> Result<u8, Failure> {
    let usage = |m: String| Failure::new(exit::USAGE, m);
    if args.rules.is_some() && args.policy != PolicyArg::Auto {
        return Err(usage("--rules is for --policy auto".into()));
    }
    if args.requiretls && args.policy == PolicyArg::Bes {
        return Err(usage(
            "--requiretls cannot go best effort (RFC 8689): use --policy sos or auto".into(),
        ));
    }
    let helo_text = args.helo.clone().unwrap_or_else(system_hostname);
    let helo = Domain::parse(helo_text.as_bytes(), false)
        .map(Domain::into_owned)
        .map_err(|e| usage(format!("--helo {helo_text:?}: {e}")))?;
    let body = match &args.message {
        Some(path) => read_message(path)?,
        None => default_message(&args.from, &args.to, &helo_text),
    };
    let roots = match &args.ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| unreadable(path, &e))?;
            Roots::from_pem(&pem)
                .map_err(|e| Failure::new(exit::CONFIG, format!("--ca {}: {e}", path.display())))?
        }
        None => Roots::WebPki,
    };
    let rules = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| unreadable(path, &e))?;
            RuleSet::from_toml(&text).map_err(|e| {
                Failure::new(exit::CONFIG, format!("--rules {}: {e}", path.display()))
            })?
        }
        None => RuleSet::default(),
    };

    let resolver = args.dns.unwrap_or_else(dns_udp::system_resolver);
    let mut options = Options::new(resolver, helo);
    options.dns_trusted = args.dns_trusted;
    options.policy = match args.policy {
        PolicyArg::Bes => Policy::BestEffort,
        PolicyArg::Sos => Policy::SecureOnly,
        PolicyArg::Auto => Policy::Auto,
    };
    options.rules = rules;
    options.requiretls = args.requiretls;
    options.smtp_port = args.smtp_port;
    options.roots = roots;
    options.verify = args.verify.map(|v| match v {
        VerifyArg::Encrypt => VerifyOverride::Encrypt,
        VerifyArg::Verify => VerifyOverride::Verify,
        VerifyArg::Dane => VerifyOverride::Dane,
    });
    let message = Outgoing {
        from: args.from.clone(),
        to: args.to.clone(),
        body,
    };
    let report = deliver::deliver(&message, &options).map_err(|e| match e {
        DeliverError::Dns { .. } => Failure::new(exit::OSERR, e.to_string()),
        _ => usage(e.to_string()),
    })?;

    let code = if report.any_deferred() {
        exit::TEMPFAIL
    } else if report.any_bounced() {
        exit::UNAVAILABLE
    } else {
        exit::OK
    };
    let token = format!("{}.{}.send", report.started, std::process::id());
    let dsn = match report.bounce(&helo_text, &args.from, &token, &message.body) {
        Some(Ok(dsn)) => Some(dsn),
        Some(Err(DsnError::NullSender)) => {
            eprintln!("secmx: the sender is null (<>): no bounce is sent for a bounce");
            None
        }
        Some(Err(e)) => return Err(Failure::new(exit::CONFIG, format!("bounce: {e}"))),
        None => None,
    };
    let mut dsn_to_stdout = None;
    if let Some(dsn) = &dsn {
        match &args.bounce_out {
            Some(path) => std::fs::write(path, &dsn.message).map_err(|e| {
                Failure::new(
                    exit::CANTCREAT,
                    format!("--bounce-out {}: {e}", path.display()),
                )
            })?,
            None => dsn_to_stdout = Some(String::from_utf8_lossy(&dsn.message).into_owned()),
        }
    }
    let mut out = io::stdout().lock();
    if args.json {
        let mut value = report.to_json();
        if let Some(map) = value.as_object_mut() {
            map.insert("exit".into(), json!(code));
            map.insert("dsn".into(), json!(dsn_to_stdout));
            map.insert(
                "bounce_out".into(),
                json!(
                    args.bounce_out
                        .as_ref()
                        .filter(|_| dsn.is_some())
                        .map(|p| p.display().to_string())
                ),
            );
        }
        let _ = writeln!(out, "{value}");
    } else {
        let _ = write!(out, "{}", summary(&report, &options));
        if let (Some(_), Some(path)) = (&dsn, &args.bounce_out) {
            let _ = writeln!(out, "\nBounce (DSN) written to {}", path.display());
        }
        if let Some(text) = &dsn_to_stdout {
            let _ = write!(out, "\nBounce (DSN) to {}:\n\n{text}", args.from);
        }
    }
    let _ = out.flush();
    Ok(code)
}

fn unreadable(path: &Path, e: &io::Error) -> Failure {
    Failure::new(
        exit::NOINPUT,
        format!("cannot read {}: {e}", path.display()),
    )
}

fn read_message(path: &Path) -> Result<Vec<u8>, Failure> {
    if path == Path::new("-") {
        let mut body = Vec::new();
        io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| unreadable(path, &e))?;
        Ok(body)
    } else {
        std::fs::read(path).map_err(|e| unreadable(path, &e))
    }
}

/// The message sent without `--message`.
pub fn default_message(from: &str, to: &[String], helo: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now();
    let from = if from.is_empty() { "<>" } else { from };
    format!(
        "From: {from}\r\nTo: {}\r\nSubject: SecMX test message\r\nDate: {}\r\n\
         Message-ID: <{}.{}@{helo}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n\
         This message was sent by secmx send.\r\n",
        to.join(", "),
        crate::time::rfc5322(now),
        deliver::unix_now(),
        std::process::id(),
    )
    .into_bytes()
}

/// The kernel's host name, or `localhost`.
fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty() && !name.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Left-aligned columns, two spaces apart, each line indented by two.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The human summary: one line per recipient, then per domain what
/// discovery found and every attempt.
pub fn summary(report: &Report, options: &Options) -> String {
    let mut out = String::new();
    let mut rows = vec![
        [
            "RECIPIENT",
            "POLICY",
            "TARGET",
            "FOUND BY",
            "TLS",
            "CHECK",
            "VERDICT",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for (i, r) in report.recipients.iter().enumerate() {
        let domain = report.domains.get(r.domain);
        let attempt = report.attempt_of(i);
        rows.push(vec![
            r.address.clone(),
            domain
                .map_or("-", |d| deliver::class_name(d.class))
                .to_owned(),
            attempt.map_or("-".into(), |a| format!("{}:{}", a.host, a.port)),
            attempt.map_or("-".into(), |a| match a.role {
                Role::Sor => format!("SOR by {}", a.found_by),
                _ => a.found_by.clone(),
            }),
            deliver::tls_text(attempt.and_then(|a| a.tls.as_ref())),
            attempt
                .map_or("-", |a| deliver::check_name(a.check))
                .to_owned(),
            deliver::verdict_text(r.verdict.as_ref()),
        ]);
    }
    out.push_str(&table(&rows));
    let _ = writeln!(
        out,
        "\nResolver {}{}",
        options.resolver,
        if options.dns_trusted {
            ", trusted for DNSSEC"
        } else {
            ", DNSSEC not trusted"
        }
    );
    for d in &report.domains {
        let _ = writeln!(
            out,
            "\n{}: {} ({})",
            d.domain,
            deliver::class_name(d.class),
            d.class_reason
        );
        let sors: Vec<String> = d
            .found
            .sors
            .iter()
            .map(|(h, p, c)| format!("{h}:{p} [{}]", c.join(",")))
            .collect();
        let _ = writeln!(
            out,
            "  SORs: {}",
            if sors.is_empty() {
                "none".to_owned()
            } else {
                sors.join("; ")
            }
        );
        let mx: Vec<String> = d.found.mx.iter().map(|(p, h)| format!("{p} {h}")).collect();
        let mx = match d.found.route {
            Some(route) => route.to_owned(),
            None if mx.is_empty() => "none (every MX is a SOR)".to_owned(),
            None => mx.join("; "),
        };
        let _ = writeln!(out, "  MX:   {mx}");
        if d.found.indeterminate {
            out.push_str("  DNS:  a look-up failed temporarily\n");
        }
        let rows: Vec<Vec<String>> = d
            .attempts
            .iter()
            .enumerate()
            .map(|(n, a)| {
                vec![
                    format!("{}.", n + 1),
                    format!("{}:{}", a.host, a.port),
                    a.address.map_or("-".into(), |s| s.to_string()),
                    match a.role {
                        Role::Sor => "sor".to_owned(),
                        _ => "mx".to_owned(),
                    },
                    format!(
                        "tls {}/{}",
                        deliver::requirement_name(a.tls_requirement),
                        deliver::check_name(a.check)
                    ),
                    deliver::tls_text(a.tls.as_ref()),
                    a.outcome.clone(),
                ]
            })
            .collect();
        if rows.is_empty() {
            out.push_str("  no attempt\n");
        } else {
            out.push_str(&table(&rows));
        }
        for note in &d.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    out
}
