//! `secmx demo`: SecMX end to end in one process, on loopback, with nothing
//! to set up.
//!
//! ```text
//!   Pki (rcgen, in memory) ── CA ──► the senders' roots for `verify`
//!        └─ certificates ──► SOR secmx.sor.demo.test   127.0.0.1:P1  (530 before STARTTLS)
//!                            BER mx.ber.demo.test      127.0.0.1:P2  (STARTTLS offered)
//!                                mx.plain.demo.test    127.0.0.1:P3  (no STARTTLS)
//!   dns::Responder 127.0.0.1:P0, UDP and TCP, the demo zone, AD set
//!   deliver::deliver × 6 = {sor, ber, plain}.demo.test × {BES, SOS}
//!   ──► table, the receivers' tallies, the DSN of SOS → plain.demo.test
//! ```
//!
//! # Decisions
//!
//! - **Ports.** Only 127.0.0.1 is sure to be configured, so the three
//!   receivers share it on three free ports. The zone names the SOR's
//!   port in its SRV and SECMX records. MX hosts and the MX 51966 and
//!   naming conventions imply port 25; the demo's sender maps that port
//!   per domain to the domain's receiver (`Options::smtp_ports`, what
//!   `--smtp-port` does for one domain). So the MX 51966 and naming
//!   targets of `sor.demo.test` become the same host and port as its SRV
//!   and SECMX target, and the planner tries that SOR once; the table
//!   lists every convention that named it.
//! - **DNSSEC.** The responder sets the AD bit and the discovery trusts
//!   it (`--dns-trusted`): the demo's resolver is trusted by construction,
//!   and says so in the output; nothing is signed.
//! - **Checks.** No TLSA records (no DANE) and no SECMX certificate flag:
//!   the SOR is checked with `encrypt` under best effort and `verify`
//!   (chain to the demo CA, name match) under secure only, the planner's
//!   defaults.
//! - **Exit status.** 0 when every outcome is the expected one; otherwise
//!   the table is printed with what differs, and the exit status is 70
//!   (`EX_SOFTWARE`).
//! - The output is the same at every run except for ports, cipher suites
//!   and the dates in the DSN.

pub mod dns;
pub mod pki;
pub mod receiver;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use secmx_core::proto::path::Domain;
use secmx_core::server::ServerMode;
use secmx_core::time::Timeouts;
use secmx_dns::SecmxRdata;
use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::limits::{DEFAULT_SECMX_TYPE, SECMX_MX_PREFERENCE};
use secmx_policy::plan::{Role, Verdict};

use crate::deliver::{self, Options, Outgoing, Policy, Report};
use crate::exit::Failure;
use crate::send::table;
use dns::{Responder, Zone};
use pki::Pki;
use receiver::{Receiver, Tally};

/// `EX_SOFTWARE`: the demo ran, and an outcome was not the expected one.
pub const UNEXPECTED: u8 = 70;

/// The sender's host name (EHLO, Reporting-MTA).
pub const SENDER_HOST: &str = "sender.demo.test";
/// The sender's address.
pub const SENDER: &str = "demo@sender.demo.test";
/// The domain with a SOR published by all four conventions.
pub const SOR_DOMAIN: &str = "sor.demo.test";
/// The domain with only an ordinary MX that offers STARTTLS.
pub const BER_DOMAIN: &str = "ber.demo.test";
/// The domain with an MX that offers no TLS.
pub const PLAIN_DOMAIN: &str = "plain.demo.test";

const SOR_HOST: &str = "secmx.sor.demo.test";
const BER_HOST: &str = "mx.ber.demo.test";
const PLAIN_HOST: &str = "mx.plain.demo.test";

/// How long any one wait of the demo may take: everything is local.
const WAIT: Duration = Duration::from_secs(3);

fn fail(code: u8, what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(code, format!("demo: {what}: {e}"))
}

/// One record of the demo zone, with its zone-file text.
struct Line {
    owner: String,
    kind: &'static str,
    text: String,
}

/// Builds the demo zone for the receivers' ports; returns it and its
/// lines.
fn demo_zone(sor_port: u16) -> Result<(Zone, Vec<Line>), Failure> {
    let bad = |e: dns::ZoneError| fail(crate::exit::CONFIG, "zone", e);
    let mut zone = Zone::new();
    let mut lines = Vec::new();
    let mut line = |owner: &str, kind: &'static str, text: String| {
        lines.push(Line {
            owner: format!("{owner}."),
            kind,
            text,
        });
    };
    let localhost = Ipv4Addr::LOCALHOST;
    let srv_owner = format!("_secmx._tcp.{SOR_DOMAIN}");
    zone.srv(&srv_owner, 0, 0, sor_port, SOR_HOST)
        .map_err(bad)?;
    line(&srv_owner, "SRV", format!("0 0 {sor_port} {SOR_HOST}."));
    let target = Name::from_ascii(format!("{SOR_HOST}."))
        .map_err(|e| fail(crate::exit::CONFIG, "zone", e))?;
    let secmx = SecmxRdata::new(10, false, sor_port, target);
    zone.secmx(SOR_DOMAIN, DEFAULT_SECMX_TYPE, &secmx)
        .map_err(bad)?;
    line(
        SOR_DOMAIN,
        "SECMX",
        format!(
            "{secmx}   ; TYPE{DEFAULT_SECMX_TYPE} {}",
            secmx.to_generic()
        ),
    );
    zone.mx(SOR_DOMAIN, SECMX_MX_PREFERENCE, SOR_HOST)
        .map_err(bad)?;
    line(
        SOR_DOMAIN,
        "MX",
        format!("{SECMX_MX_PREFERENCE} {SOR_HOST}."),
    );
    zone.a(SOR_HOST, localhost).map_err(bad)?;
    line(SOR_HOST, "A", localhost.to_string());
    for (domain, host) in [(BER_DOMAIN, BER_HOST), (PLAIN_DOMAIN, PLAIN_HOST)] {
        zone.mx(domain, 10, host).map_err(bad)?;
        line(domain, "MX", format!("10 {host}."));
        zone.a(host, localhost).map_err(bad)?;
        line(host, "A", localhost.to_string());
    }
    Ok((zone, lines))
}

fn demo_message(policy: &str, domain: &str) -> Vec<u8> {
    format!(
        "From: SecMX demo <{SENDER}>\r\nTo: <alice@{domain}>\r\n\
         Subject: SecMX demo, {policy} to {domain}\r\n\
         Date: {}\r\nMessage-ID: <{}.{domain}@{SENDER_HOST}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         Hello from the SecMX demo.\r\n",
        crate::time::rfc5322(std::time::SystemTime::now()),
        policy.to_ascii_lowercase(),
    )
    .into_bytes()
}

/// One row of the result.
struct Row {
    domain: &'static str,
    policy: &'static str,
    message: Vec<u8>,
    report: Report,
}

impl Row {
    fn verdict(&self) -> Option<&Verdict> {
        self.report.recipients.first()?.verdict.as_ref()
    }

    fn cells(&self) -> Vec<String> {
        let attempt = self.report.attempt_of(0);
        let target = attempt.map_or("-".into(), |a| format!("{}:{}", a.host, a.port));
        let found = match attempt {
            Some(a) if a.role == Role::Sor => format!("SOR by {}", a.found_by),
            Some(a) => format!("no SOR; {}", a.found_by),
            None => "-".into(),
        };
        let requirement = attempt.map_or("-".into(), |a| match a.tls_requirement {
            secmx_core::client::TlsRequirement::Required => {
                format!("required, {}", deliver::check_name(a.check))
            }
            other => deliver::requirement_name(other).to_owned(),
        });
        vec![
            self.domain.to_owned(),
            self.policy.to_owned(),
            target,
            found,
            requirement,
            deliver::tls_text(attempt.and_then(|a| a.tls.as_ref())),
            deliver::verdict_text(self.verdict()),
        ]
    }

    /// What differs from the expected outcome, if anything.
    fn unexpected(&self) -> Option<String> {
        let attempt = self.report.attempt_of(0);
        let role = attempt.map(|a| a.role);
        let tls = attempt.and_then(|a| a.tls.as_ref()).is_some();
        let ok = match (self.domain, self.policy, self.verdict()) {
            (SOR_DOMAIN, _, Some(Verdict::Delivered { .. })) => role == Some(Role::Sor) && tls,
            (BER_DOMAIN, _, Some(Verdict::Delivered { .. })) => role == Some(Role::Mx) && tls,
            (PLAIN_DOMAIN, "BES", Some(Verdict::Delivered { .. })) => !tls,
            (PLAIN_DOMAIN, "SOS", Some(Verdict::Bounce { status, .. })) => {
                status.to_string() == "5.7.4"
            }
            _ => false,
        };
        (!ok).then(|| {
            format!(
                "{} {}: {}",
                self.policy,
                self.domain,
                deliver::verdict_text(self.verdict())
            )
        })
    }
}

fn tally_text(t: &Tally) -> String {
    let tls = t.messages.iter().filter(|m| m.is_some()).count();
    let clear = t.messages.len() - tls;
    format!(
        "{} connection(s), {} MAIL command(s) taken, {} refused before STARTTLS, \
         {} message(s) over TLS, {} in clear",
        t.connections, t.mail_commands, t.refused_mail, tls, clear
    )
}

/// Runs the demo and prints what happened; returns the exit code.
pub fn run() -> Result<u8, Failure> {
    use crate::exit::{CONFIG, OSERR};
    let pki = Pki::new().map_err(|e| fail(CONFIG, "CA", e))?;
    let tls = |name: &str| {
        pki.server_config(&[name])
            .map_err(|e| fail(CONFIG, name, e))
    };
    let mut sor = Receiver::start(SOR_HOST, ServerMode::Sor, Some(tls(SOR_HOST)?))
        .map_err(|e| fail(OSERR, "SOR", e))?;
    let mut ber = Receiver::start(BER_HOST, ServerMode::Ber, Some(tls(BER_HOST)?))
        .map_err(|e| fail(OSERR, "BER", e))?;
    let mut plain = Receiver::start(PLAIN_HOST, ServerMode::Ber, None)
        .map_err(|e| fail(OSERR, "receiver without TLS", e))?;
    let (zone, zone_lines) = demo_zone(sor.addr.port())?;
    let resolver = Responder::start(zone, true).map_err(|e| fail(OSERR, "DNS", e))?;

    let helo = Domain::parse(SENDER_HOST.as_bytes(), false)
        .map(Domain::into_owned)
        .map_err(|e| fail(CONFIG, "sender name", e))?;
    let mut options = Options::new(resolver.addr(), helo);
    options.dns_trusted = true;
    options.roots = pki.roots().map_err(|e| fail(CONFIG, "roots", e))?;
    options.dns.query_timeout = WAIT;
    options.connect_timeout = WAIT;
    options.timeouts = short_timeouts();
    for (domain, receiver) in [
        (SOR_DOMAIN, &sor),
        (BER_DOMAIN, &ber),
        (PLAIN_DOMAIN, &plain),
    ] {
        options
            .smtp_ports
            .insert(domain.to_owned(), receiver.addr.port());
    }

    let mut rows = Vec::new();
    for domain in [SOR_DOMAIN, BER_DOMAIN, PLAIN_DOMAIN] {
        for (policy, label) in [(Policy::BestEffort, "BES"), (Policy::SecureOnly, "SOS")] {
            options.policy = policy;
            let message = demo_message(label, domain);
            let outgoing = Outgoing {
                from: SENDER.to_owned(),
                to: vec![format!("alice@{domain}")],
                body: message.clone(),
            };
            let report =
                deliver::deliver(&outgoing, &options).map_err(|e| fail(OSERR, "delivery", e))?;
            rows.push(Row {
                domain,
                policy: label,
                message,
                report,
            });
        }
    }
    drop(resolver);
    sor.stop();
    ber.stop();
    plain.stop();

    let mut out = String::new();
    out.push_str(
        "SecMX demo: everything below ran in this process on 127.0.0.1, with nothing to set up.\n\n",
    );
    let mut setup = vec![
        vec![
            "CA".into(),
            "SecMX demo CA".into(),
            "-".into(),
            "made in memory (rcgen); the sender trusts it for the verify check".into(),
        ],
        vec![
            "DNS".into(),
            "demo zone".into(),
            options.resolver.to_string(),
            "UDP and TCP; answers carry the AD bit: this resolver is trusted by construction"
                .into(),
        ],
    ];
    for (role, r, what) in [
        (
            "SOR",
            &sor,
            "secure only receiver: 530 to MAIL before STARTTLS",
        ),
        ("BER", &ber, "best effort receiver: offers STARTTLS"),
        ("no TLS", &plain, "offers no STARTTLS"),
    ] {
        setup.push(vec![
            role.into(),
            r.hostname.clone(),
            r.addr.to_string(),
            what.into(),
        ]);
    }
    out.push_str(&table(&setup));
    out.push_str(
        "\nThe demo zone. MX hosts, MX 51966 and secmx.<domain> imply port 25, which the\n\
         sender maps to each domain's receiver (as --smtp-port does); SRV and SECMX name a port:\n\n",
    );
    let zone_rows: Vec<Vec<String>> = zone_lines
        .into_iter()
        .map(|l| vec![l.owner, "IN".into(), l.kind.into(), l.text])
        .collect();
    out.push_str(&table(&zone_rows));
    let _ = writeln!(
        out,
        "\nSix messages from {SENDER}, one per domain and policy:\n"
    );
    let mut result = vec![
        [
            "DOMAIN",
            "POLICY",
            "TARGET",
            "HOW IT WAS FOUND",
            "TLS REQUIRED",
            "TLS",
            "VERDICT",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    result.extend(rows.iter().map(Row::cells));
    out.push_str(&table(&result));
    out.push_str("\nWhat the receivers saw:\n");
    let (sor_t, ber_t, plain_t) = (sor.tally(), ber.tally(), plain.tally());
    out.push_str(&table(&[
        vec!["SOR".into(), tally_text(&sor_t)],
        vec!["BER".into(), tally_text(&ber_t)],
        vec!["no TLS".into(), tally_text(&plain_t)],
    ]));
    out.push_str(
        "  (the secure only message to plain.demo.test never reached MAIL: EHLO, no STARTTLS, QUIT)\n",
    );

    let mut problems: Vec<String> = rows.iter().filter_map(Row::unexpected).collect();
    let tls_only = |t: &Tally| t.messages.iter().all(Option::is_some);
    if sor_t.messages.len() != 2
        || !tls_only(&sor_t)
        || ber_t.messages.len() != 2
        || !tls_only(&ber_t)
    {
        problems.push("the SOR and the BER should each hold two messages, over TLS".into());
    }
    if plain_t.messages.len() != 1 || plain_t.mail_commands != 1 {
        problems.push(
            "the receiver without TLS should have seen exactly one MAIL, the best effort one"
                .into(),
        );
    }

    let bounced = rows
        .iter()
        .find(|r| r.domain == PLAIN_DOMAIN && r.policy == "SOS");
    if let Some(row) = bounced {
        match row
            .report
            .bounce(SENDER_HOST, SENDER, "demo.sos.plain", &row.message)
        {
            Some(Ok(dsn)) => {
                let _ = write!(
                    out,
                    "\nThe bounce for the secure only message to {PLAIN_DOMAIN}, which could not go \
                     securely\n(an RFC 3464 DSN to <{}>):\n\n{}",
                    dsn.rcpt_to,
                    String::from_utf8_lossy(&dsn.message)
                );
            }
            Some(Err(e)) => problems.push(format!("the bounce could not be built: {e}")),
            None => problems.push(format!("no bounce for SOS to {PLAIN_DOMAIN}")),
        }
    }
    if !problems.is_empty() {
        out.push_str("\nUNEXPECTED:\n");
        for p in &problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    print!("{out}");
    Ok(if problems.is_empty() {
        crate::exit::OK
    } else {
        UNEXPECTED
    })
}

/// Every SMTP wait of the demo's client: a few seconds, as everything is
/// on loopback.
fn short_timeouts() -> Timeouts {
    Timeouts {
        greeting: WAIT,
        command: WAIT,
        mail: WAIT,
        rcpt: WAIT,
        data_initiation: WAIT,
        data_block: WAIT,
        data_termination: WAIT,
        tls_handshake: WAIT,
        ..Timeouts::default()
    }
}
