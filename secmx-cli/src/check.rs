//! `secmx check DOMAIN [--dns ADDR] [--dns-trusted] [--smtp-port N]
//! [--ca FILE] [--json]`: the SecMX posture of a domain, as a sender sees
//! it — what an operator runs before (and after) publishing records.
//!
//! ```text
//! discover DOMAIN (secmx_dns::Discovery over crate::dns_udp)
//!   └─ for every target (SORs in merge order, then the ordinary MX hosts)
//!        └─ for every address:
//!             connect · greeting · EHLO · STARTTLS (RFC 3207) · handshake
//!             · EHLO again (REQUIRETLS? RFC 8689 §4) · QUIT — no MAIL, no message
//!             then the server's chain, apart from the handshake:
//!               verify   webpki roots (+ --ca) and the host name (RFC 6125)
//!               dane     the authenticated TLSA RRset, if any (RFC 7672 §3)
//! ```
//!
//! The handshake itself accepts any certificate (the `encrypt` check, which
//! still checks the handshake signature) so that it completes and the
//! chain can be judged by every check, each with its own verdict.
//!
//! A target is **healthy** when every one of its addresses takes a
//! connection, offers STARTTLS, completes the handshake, and its chain
//! passes the check the delivery planner
//! ([`secmx_policy::plan::Plan`]) uses for that target under a secure
//! only sender: `dane` where usable authenticated TLSA records exist,
//! else `verify` (a best effort sender's check, `encrypt` unless the
//! SECMX certificate flag is set, is never stricter).
//!
//! Exit status: 0 when SORs were found and every SOR target is healthy;
//! 1 when a problem was found (no SOR, or a SOR target that is not
//! healthy); 75 when a DNS look-up that decides the SOR list or the mail
//! route was indeterminate (the report is printed all the same). Problems
//! of the ordinary MX hosts are listed as warnings: they do not change the
//! exit status.
//!
//! JSON (`--json`):
//!
//! ```text
//! { "domain", "authenticated_resolver", "indeterminate", "healthy", "exit",
//!   "targets": [{ role: "sor"|"mx", host, port, conventions[], certificate_flag,
//!                 authenticated, required_check, tlsa, healthy, problems[],
//!     "addresses": [{ address, connected, error, greeting, starttls,
//!                     tls: {version, cipher}|null, requiretls,
//!                     verify: {ok, error?, result_type?}|null,
//!                     dane: {ok, error?, result_type?}|null, healthy, problems[] }] }],
//!   "mta_sts": {outcome, authenticated, id}, "tls_rpt": {outcome, authenticated, rua[]},
//!   "problems": [], "warnings": [] }
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secmx_core::client::{ClientConfig, ClientEvent, ClientSession, CloseReason, TlsRequirement};
use secmx_core::proto::path::Domain;
use secmx_core::rustls::RootCertStore;
use secmx_core::rustls::client::danger::ServerCertVerifier;
use secmx_core::rustls::pki_types::pem::PemObject;
use secmx_core::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use secmx_core::time::Timeouts;
use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::{Config, Convention, Discovered, Discovery, MailRoute, Outcome, TlsaSet};
use secmx_policy::plan::{Plan, PlanConfig, PlanInputs};
use secmx_policy::verify::{
    CertFailure, DanePolicy, DaneVerifier, EncryptVerifier, PkixVerifier, Reference, Roots,
    client_config_with,
};
use secmx_policy::{CertCheck, Class};
use serde_json::{Value, json};

use crate::discover::{convention_name, outcome_name};
use crate::dns_udp;
use crate::exit::{self, Failure};
use crate::net;
use crate::send::table;
use crate::spool::TlsSummary;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long each reply and the handshake may take: shorter than RFC 5321
/// §4.5.3.2's minutes, as nothing is being delivered.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// The options of `secmx check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The recipient domain.
    pub domain: String,
    /// Resolver, IP or IP:PORT (no port: 53) [default: the first
    /// nameserver of /etc/resolv.conf].
    #[arg(long, value_name = "ADDR", value_parser = dns_udp::parse_resolver)]
    pub dns: Option<SocketAddr>,
    /// Believe the resolver's AD bit: it validates DNSSEC and the path to
    /// it is trusted (loopback). Needed for "authenticated" and DANE.
    #[arg(long)]
    pub dns_trusted: bool,
    /// Port for targets whose port is 25 by convention (MX hosts, MX 51966,
    /// secmx.DOMAIN), for tests [default: 25].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub smtp_port: Option<u16>,
    /// Extra trust anchors (PEM) for the verify check, beside the public
    /// (webpki) roots.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A secure only receiver found by a SecMX convention.
    Sor,
    /// An ordinary MX host (a candidate BER).
    Mx,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Sor => "sor",
            Self::Mx => "mx",
        }
    }
}

/// The verdict of one certificate check on a chain.
pub type CheckResult = Result<(), CertFailure>;

/// What one address of a target did.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The address.
    pub address: IpAddr,
    /// A TCP connection was made.
    pub connected: bool,
    /// Why the session ended early (connection, STARTTLS, handshake).
    pub error: Option<String>,
    /// The greeting line.
    pub greeting: Option<String>,
    /// STARTTLS was in the EHLO reply (`None`: no EHLO reply was seen).
    pub starttls: Option<bool>,
    /// What the handshake negotiated.
    pub tls: Option<TlsSummary>,
    /// REQUIRETLS was in the EHLO reply after TLS (RFC 8689 §4).
    pub requiretls: Option<bool>,
    /// The `verify` check on the chain, after a handshake.
    pub verify: Option<CheckResult>,
    /// The `dane` check on the chain, when the target has usable
    /// authenticated TLSA records.
    pub dane: Option<CheckResult>,
}

/// One target and what each of its addresses did.
#[derive(Debug, Clone)]
pub struct TargetReport {
    /// SOR or MX host.
    pub role: Role,
    /// The host, without the final dot.
    pub host: String,
    /// The port connected to.
    pub port: u16,
    /// The conventions that named it (SORs).
    pub conventions: Vec<&'static str>,
    /// A SECMX record set the certificate flag.
    pub certificate_flag: bool,
    /// Every DNS answer behind it was authenticated.
    pub authenticated: bool,
    /// The check the planner applies under a secure only sender.
    pub required_check: CertCheck,
    /// The target has usable authenticated TLSA records.
    pub tlsa: bool,
    /// The probes, one per address.
    pub probes: Vec<Probe>,
    /// What is wrong with it (empty: healthy).
    pub problems: Vec<String>,
}

impl TargetReport {
    /// Whether it passed.
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }

    fn label(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The posture of a domain.
#[derive(Debug, Clone)]
pub struct Report {
    /// The discovery result it is based on.
    pub discovered: Discovered,
    /// The resolver's AD bit was believed.
    pub trusted: bool,
    /// SORs first, then MX hosts.
    pub targets: Vec<TargetReport>,
    /// Problems that make the exit status 1.
    pub problems: Vec<String>,
    /// Problems of the ordinary MX hosts.
    pub warnings: Vec<String>,
}

impl Report {
    /// The exit status: 75 indeterminate, 1 a problem, 0 healthy.
    pub fn exit_code(&self) -> u8 {
        if self.discovered.is_indeterminate() {
            exit::TEMPFAIL
        } else if !self.problems.is_empty() {
            PROBLEM
        } else {
            exit::OK
        }
    }
}

/// The exit status for "a problem was found".
pub const PROBLEM: u8 = 1;

/// Runs `secmx check`; returns the exit code.
pub fn run(args: &CheckArgs) -> Result<u8, Failure> {
    let roots = match &args.ca {
        None => Roots::WebPki,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::new(
                    exit::NOINPUT,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert
                    .map_err(|e| Failure::new(exit::NOINPUT, format!("{}: {e}", path.display())))?;
                store
                    .add(cert)
                    .map_err(|e| Failure::new(exit::CONFIG, format!("{}: {e}", path.display())))?;
            }
            if store.is_empty() {
                return Err(Failure::new(
                    exit::CONFIG,
                    format!("{}: no CERTIFICATE in it", path.display()),
                ));
            }
            Roots::configured_and_webpki(store)
        }
    };
    let resolver = args.dns.unwrap_or_else(dns_udp::system_resolver);
    let mut config = Config::default();
    config.trusted_resolver = args.dns_trusted;
    config.id_seed = dns_udp::random_seed();
    let discovery = Discovery::new(&args.domain, config)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let discovered = dns_udp::run(discovery, resolver)
        .map_err(|e| Failure::new(exit::OSERR, format!("DNS via {resolver}: {e}")))?;
    let report = check(discovered, args.dns_trusted, args.smtp_port, &roots);
    if args.json {
        println!("{}", to_json(&report));
    } else {
        print!("{}", to_text(&report, resolver));
    }
    Ok(report.exit_code())
}

/// `host.example` from `host.example.`.
fn host_string(name: &Name) -> String {
    let mut s = name.to_ascii().to_ascii_lowercase();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

/// The name this machine gives in EHLO.
fn ehlo_name() -> Domain<'static> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|name| {
            Domain::parse(name.trim().as_bytes(), false)
                .ok()
                .map(Domain::into_owned)
        })
        .unwrap_or_else(|| {
            Domain::parse(b"localhost", false)
                .map(Domain::into_owned)
                .expect("\"localhost\" is a domain")
        })
}

/// Probes every target of `discovered` and judges them.
pub fn check(
    discovered: Discovered,
    trusted: bool,
    smtp_port: Option<u16>,
    roots: &Roots,
) -> Report {
    let d = &discovered;
    // The checks the planner would use: a secure only message.
    let mut plan_config = PlanConfig::default();
    plan_config.smtp_port = smtp_port;
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or_default();
    let plan = Plan::new(
        d,
        Class::SecureOnly,
        PlanInputs::new(&plan_config, now_unix),
    );
    let planned: Vec<(String, u16, CertCheck)> = plan
        .attempts()
        .map(|(a, _)| (a.host.clone(), a.port, a.cert_check))
        .collect();

    struct Spec<'a> {
        role: Role,
        name: &'a Name,
        /// The port discovery named (TLSA is looked up for it).
        dns_port: u16,
        implied: bool,
        conventions: Vec<&'static str>,
        certificate_flag: bool,
        authenticated: bool,
    }
    let mut specs: Vec<Spec<'_>> = d
        .sors
        .iter()
        .map(|s| Spec {
            role: Role::Sor,
            name: &s.host,
            dns_port: s.port,
            implied: s
                .conventions
                .iter()
                .all(|c| matches!(c, Convention::Mx51966 | Convention::Naming)),
            conventions: s.conventions.iter().map(convention_name).collect(),
            certificate_flag: s.certificate_flag,
            authenticated: s.authenticated,
        })
        .collect();
    if let MailRoute::Hosts(hosts) = &d.mx {
        specs.extend(hosts.iter().map(|h| Spec {
            role: Role::Mx,
            name: &h.host,
            dns_port: secmx_dns::limits::SMTP_PORT,
            implied: true,
            conventions: Vec::new(),
            certificate_flag: false,
            authenticated: h.authenticated,
        }));
    }

    let ehlo = ehlo_name();
    let mut targets: Vec<TargetReport> = Vec::new();
    for spec in specs {
        let host = host_string(spec.name);
        let port = match smtp_port {
            Some(p) if spec.implied => p,
            _ => spec.dns_port,
        };
        // An MX host that is also a SOR on the same port is probed once.
        if targets.iter().any(|t| t.host == host && t.port == port) {
            continue;
        }
        let tlsa = d
            .tlsa(spec.name, spec.dns_port)
            .filter(|set| set.usable().next().is_some());
        let required_check = planned
            .iter()
            .find(|(h, p, _)| *h == host && *p == port)
            .map(|(_, _, c)| *c)
            .unwrap_or(if tlsa.is_some() {
                CertCheck::Dane
            } else {
                CertCheck::Verify
            });
        let mut report = TargetReport {
            role: spec.role,
            host,
            port,
            conventions: spec.conventions,
            certificate_flag: spec.certificate_flag,
            authenticated: spec.authenticated,
            required_check,
            tlsa: tlsa.is_some(),
            probes: Vec::new(),
            problems: Vec::new(),
        };
        let addresses: Vec<IpAddr> = d
            .addresses(spec.name)
            .map(|a| {
                let v4 = a.ipv4.iter().map(|ip| IpAddr::V4(*ip));
                let v6 = a.ipv6.iter().map(|ip| IpAddr::V6(*ip));
                let mut all: Vec<IpAddr> = Vec::new();
                for ip in v4.chain(v6) {
                    if !all.contains(&ip) {
                        all.push(ip);
                    }
                }
                all
            })
            .unwrap_or_default();
        if addresses.is_empty() {
            let failed = d
                .addresses(spec.name)
                .is_none_or(|a| a.a.is_indeterminate() || a.aaaa.is_indeterminate());
            report.problems.push(if failed {
                "its address look-up failed".to_owned()
            } else {
                "it has no address (A or AAAA)".to_owned()
            });
        }
        for address in addresses {
            let probe = probe(
                SocketAddr::new(address, report.port),
                &report.host,
                &ehlo,
                roots,
                tlsa,
                &d.domain,
            );
            for problem in probe_problems(&probe, required_check) {
                report.problems.push(format!("{address}: {problem}"));
            }
            report.probes.push(probe);
        }
        targets.push(report);
    }

    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if d.sors.is_empty() {
        problems.push(if d.sor_indeterminate() {
            "no SOR found, but a look-up failed: the absence proves nothing".to_owned()
        } else {
            "no SOR found by any of the four SecMX conventions".to_owned()
        });
    }
    for t in &targets {
        let out = match t.role {
            Role::Sor => &mut problems,
            Role::Mx => &mut warnings,
        };
        for p in &t.problems {
            out.push(format!("{} {}: {p}", t.role.name(), t.label()));
        }
    }
    match &d.mx {
        MailRoute::Indeterminate(_) => {
            warnings.push("the MX look-up failed (temporary)".to_owned());
        }
        MailRoute::NullMx => warnings.push("the domain has a null MX".to_owned()),
        MailRoute::NxDomain => warnings.push("the domain does not exist".to_owned()),
        MailRoute::NoRoute => warnings.push("no MX and no address".to_owned()),
        _ => {}
    }
    Report {
        discovered,
        trusted,
        targets,
        problems,
        warnings,
    }
}

/// What is wrong with one probe, judged by `required`.
pub fn probe_problems(probe: &Probe, required: CertCheck) -> Vec<String> {
    let mut out = Vec::new();
    if probe.tls.is_none() {
        out.push(match (&probe.error, probe.starttls) {
            (_, Some(false)) => "STARTTLS is not offered".to_owned(),
            (Some(e), _) => e.clone(),
            (None, _) => "no TLS".to_owned(),
        });
        return out;
    }
    let failed = |what: &str, r: &Option<CheckResult>| match r {
        Some(Err(f)) => Some(format!("certificate fails the {what} check: {f}")),
        None => Some(format!("the {what} check could not run")),
        Some(Ok(())) => None,
    };
    match required {
        CertCheck::Encrypt => {}
        CertCheck::Dane => out.extend(failed("dane", &probe.dane)),
        _ => out.extend(failed("verify", &probe.verify)),
    }
    out
}

/// Connects to `addr`, runs EHLO, STARTTLS, EHLO and QUIT, and judges the
/// chain the server sent.
fn probe(
    addr: SocketAddr,
    host: &str,
    ehlo: &Domain<'static>,
    roots: &Roots,
    tlsa: Option<&TlsaSet>,
    domain: &Name,
) -> Probe {
    let mut p = Probe {
        address: addr.ip(),
        connected: false,
        error: None,
        greeting: None,
        starttls: None,
        tls: None,
        requiretls: None,
        verify: None,
        dane: None,
    };
    let server_name = match ServerName::try_from(host.to_owned()) {
        Ok(name) => name,
        Err(e) => {
            p.error = Some(format!("bad host name: {e}"));
            return p;
        }
    };
    let tls_config = match client_config_with(std::sync::Arc::new(EncryptVerifier::new())) {
        Ok(c) => c,
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    };
    let stream = match net::connect(addr, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(e) => {
            p.error = Some(format!("connection failed: {e}"));
            return p;
        }
    };
    p.connected = true;
    let mut config = ClientConfig::new(
        ehlo.clone(),
        TlsRequirement::Required,
        tls_config,
        server_name.clone(),
    );
    config.timeouts = Timeouts {
        greeting: REPLY_TIMEOUT,
        command: REPLY_TIMEOUT,
        tls_handshake: REPLY_TIMEOUT,
        ..Timeouts::default()
    };
    let session = ClientSession::new(config, Instant::now());
    let outcome = match net::run_client(stream, session, Vec::new()) {
        Ok(o) => o,
        Err(e) => {
            p.error = Some(format!("socket: {e}"));
            return p;
        }
    };
    for event in &outcome.events {
        match event {
            ClientEvent::Greeting(reply) if p.greeting.is_none() => {
                p.greeting = Some(reply.to_string().trim_end().to_owned());
            }
            ClientEvent::Capabilities { tls: false, caps } => p.starttls = Some(caps.starttls()),
            ClientEvent::Capabilities { tls: true, caps } => {
                p.requiretls = Some(caps.requiretls());
            }
            ClientEvent::Closed { reason } => {
                p.error = match reason {
                    CloseReason::Quit => None,
                    CloseReason::ServiceClosing(r) => Some(format!("server closing: {r}")),
                    CloseReason::Rejected(r) => Some(format!("session refused: {r}")),
                    CloseReason::Error(e) => Some(e.to_string()),
                    _ => Some("session ended".to_owned()),
                };
            }
            _ => {}
        }
    }
    if let Some(p_error) = &mut p.error {
        *p_error = p_error.trim_end().to_owned();
    }
    let Some(info) = outcome.tls else {
        return p;
    };
    p.tls = Some(TlsSummary::from_info(&info));
    let (verify, dane) = judge_chain(&info.peer_certificates, host, domain, roots, tlsa);
    p.verify = Some(verify);
    p.dane = dane;
    p
}

/// The `verify` and (with TLSA) `dane` verdicts on a chain, leaf first.
pub fn judge_chain(
    chain: &[CertificateDer<'static>],
    host: &str,
    domain: &Name,
    roots: &Roots,
    tlsa: Option<&TlsaSet>,
) -> (CheckResult, Option<CheckResult>) {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return (Err(CertFailure::Invalid), None);
    };
    let now = UnixTime::now();
    let Ok(reference) = Reference::parse(host) else {
        return (Err(CertFailure::HostMismatch), None);
    };
    let verify = match PkixVerifier::new(reference.clone(), roots) {
        Ok(v) => v
            .verify_server_cert(leaf, intermediates, reference.host(), &[], now)
            .map(|_| ())
            .map_err(|e| CertFailure::from(&e)),
        Err(_) => Err(CertFailure::NotTrusted),
    };
    let dane = tlsa.and_then(DanePolicy::from_tlsa).map(|policy| {
        // RFC 7672 §3.2.2: DANE-TA names are the host and the next-hop
        // domain.
        let reference = reference
            .clone()
            .with_parsed(&host_string(domain))
            .unwrap_or_else(|_| reference.clone());
        DaneVerifier::new(policy, reference.clone())
            .verify_server_cert(leaf, intermediates, reference.host(), &[], now)
            .map(|_| ())
            .map_err(|e| CertFailure::from(&e))
    });
    (verify, dane)
}

fn check_name(check: CertCheck) -> &'static str {
    match check {
        CertCheck::Encrypt => "encrypt",
        CertCheck::Verify => "verify",
        CertCheck::Dane => "dane",
        _ => "other",
    }
}

fn result_json(r: &Option<CheckResult>) -> Value {
    match r {
        None => Value::Null,
        Some(Ok(())) => json!({"ok": true}),
        Some(Err(f)) => json!({"ok": false, "error": f.text(), "result_type": f.result_type()}),
    }
}

fn found_json(outcome: &Outcome, authenticated: bool, extra: (&str, Value)) -> Value {
    let mut v = json!({"outcome": outcome_name(outcome), "authenticated": authenticated});
    if let Some(map) = v.as_object_mut() {
        map.insert(extra.0.to_owned(), extra.1);
    }
    v
}

/// The JSON view of a report.
pub fn to_json(report: &Report) -> Value {
    let d = &report.discovered;
    let targets: Vec<Value> = report
        .targets
        .iter()
        .map(|t| {
            let addresses: Vec<Value> = t
                .probes
                .iter()
                .map(|p| {
                    let problems = probe_problems(p, t.required_check);
                    json!({
                        "address": p.address.to_string(),
                        "connected": p.connected,
                        "error": p.error,
                        "greeting": p.greeting,
                        "starttls": p.starttls,
                        "tls": p.tls.as_ref().map(|s| json!({"version": s.version, "cipher": s.cipher})),
                        "requiretls": p.requiretls,
                        "verify": result_json(&p.verify),
                        "dane": result_json(&p.dane),
                        "healthy": problems.is_empty(),
                        "problems": problems,
                    })
                })
                .collect();
            json!({
                "role": t.role.name(),
                "host": t.host,
                "port": t.port,
                "conventions": t.conventions,
                "certificate_flag": t.certificate_flag,
                "authenticated": t.authenticated,
                "required_check": check_name(t.required_check),
                "tlsa": t.tlsa,
                "healthy": t.healthy(),
                "problems": t.problems,
                "addresses": addresses,
            })
        })
        .collect();
    let rua: Option<Vec<String>> = d.tls_rpt.record.as_ref().map(|r| {
        r.rua
            .iter()
            .map(|u| match u {
                secmx_dns::RuaUri::Mailto(a) => format!("mailto:{a}"),
                secmx_dns::RuaUri::Https(u) | secmx_dns::RuaUri::Other(u) => u.clone(),
                _ => String::new(),
            })
            .collect()
    });
    json!({
        "domain": d.domain.to_ascii(),
        "authenticated_resolver": report.trusted,
        "indeterminate": d.is_indeterminate(),
        "healthy": report.exit_code() == exit::OK,
        "exit": report.exit_code(),
        "targets": targets,
        "mta_sts": found_json(&d.mta_sts.outcome, d.mta_sts.authenticated,
            ("id", json!(d.mta_sts.record.as_ref().map(|r| r.id.clone())))),
        "tls_rpt": found_json(&d.tls_rpt.outcome, d.tls_rpt.authenticated, ("rua", json!(rua))),
        "problems": report.problems,
        "warnings": report.warnings,
    })
}

fn verdict_cell(r: &Option<CheckResult>) -> String {
    match r {
        None => "-".to_owned(),
        Some(Ok(())) => "ok".to_owned(),
        Some(Err(f)) => f.result_type().to_owned(),
    }
}

fn flag(b: Option<bool>) -> String {
    match b {
        Some(true) => "yes".to_owned(),
        Some(false) => "no".to_owned(),
        None => "-".to_owned(),
    }
}

/// The human view of a report.
pub fn to_text(report: &Report, resolver: SocketAddr) -> String {
    let d = &report.discovered;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} (resolver {resolver}{})\n",
        d.domain.to_ascii(),
        if report.trusted {
            ", trusted for DNSSEC"
        } else {
            ", DNSSEC not trusted"
        }
    );
    let mut rows = vec![
        [
            "ROLE",
            "TARGET",
            "FOUND BY",
            "DNSSEC",
            "ADDRESS",
            "STARTTLS",
            "TLS",
            "VERIFY",
            "DANE",
            "REQUIRETLS",
            "CHECK",
            "RESULT",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for t in &report.targets {
        let found_by = if t.conventions.is_empty() {
            "mx".to_owned()
        } else {
            t.conventions.join(",")
        };
        let dnssec = if t.authenticated { "yes" } else { "-" }.to_owned();
        if t.probes.is_empty() {
            rows.push(vec![
                t.role.name().to_owned(),
                t.label(),
                found_by,
                dnssec,
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
                check_name(t.required_check).to_owned(),
                t.problems.join("; "),
            ]);
            continue;
        }
        for p in &t.probes {
            let problems = probe_problems(p, t.required_check);
            rows.push(vec![
                t.role.name().to_owned(),
                t.label(),
                found_by.clone(),
                dnssec.clone(),
                p.address.to_string(),
                flag(p.starttls),
                p.tls
                    .as_ref()
                    .map_or("-".to_owned(), |s| format!("{} {}", s.version, s.cipher)),
                verdict_cell(&p.verify),
                verdict_cell(&p.dane),
                flag(p.requiretls),
                check_name(t.required_check).to_owned(),
                if problems.is_empty() {
                    "ok".to_owned()
                } else {
                    problems.join("; ")
                },
            ]);
        }
    }
    if report.targets.is_empty() {
        out.push_str("No targets: no SOR and no MX host with an address.\n");
    } else {
        out.push_str(&table(&rows));
    }
    out.push('\n');
    let auth = |a: bool| if a { " (DNSSEC)" } else { "" };
    match &d.mta_sts.record {
        Some(r) => {
            let _ = writeln!(
                out,
                "MTA-STS:  id={}{}",
                r.id,
                auth(d.mta_sts.authenticated)
            );
        }
        None => {
            let _ = writeln!(out, "MTA-STS:  none ({})", outcome_name(&d.mta_sts.outcome));
        }
    }
    match &d.tls_rpt.record {
        Some(r) => {
            let rua: Vec<String> = r
                .rua
                .iter()
                .map(|u| match u {
                    secmx_dns::RuaUri::Mailto(a) => format!("mailto:{a}"),
                    secmx_dns::RuaUri::Https(u) | secmx_dns::RuaUri::Other(u) => u.clone(),
                    _ => String::new(),
                })
                .collect();
            let _ = writeln!(
                out,
                "TLS-RPT:  {}{}",
                rua.join(", "),
                auth(d.tls_rpt.authenticated)
            );
        }
        None => {
            let _ = writeln!(out, "TLS-RPT:  none ({})", outcome_name(&d.tls_rpt.outcome));
        }
    }
    if !report.problems.is_empty() {
        out.push_str("\nProblems:\n");
        for p in &report.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\nWarnings (ordinary MX hosts; they do not change the result):\n");
        for w in &report.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    let _ = writeln!(
        out,
        "\nResult: {}",
        match report.exit_code() {
            exit::OK =>
                "healthy: every SOR takes TLS with a certificate that passes its check".to_owned(),
            exit::TEMPFAIL => "indeterminate: a DNS look-up failed; try again later".to_owned(),
            _ => format!("{} problem(s)", report.problems.len()),
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            address: IpAddr::from([127, 0, 0, 1]),
            connected: true,
            error: None,
            greeting: Some("220 mx ESMTP".into()),
            starttls: Some(true),
            tls: Some(TlsSummary {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_256_GCM_SHA384".into(),
            }),
            requiretls: Some(false),
            verify: Some(Ok(())),
            dane: None,
        }
    }

    /// RFC 3207 and the planner's checks (DESIGN.md "Certificate checks").
    #[test]
    fn probe_problems_by_required_check() {
        let ok = probe();
        assert!(probe_problems(&ok, CertCheck::Verify).is_empty());
        assert!(probe_problems(&ok, CertCheck::Encrypt).is_empty());
        assert_eq!(
            probe_problems(&ok, CertCheck::Dane),
            ["the dane check could not run"]
        );

        let mut untrusted = probe();
        untrusted.verify = Some(Err(CertFailure::NotTrusted));
        assert!(probe_problems(&untrusted, CertCheck::Encrypt).is_empty());
        assert_eq!(
            probe_problems(&untrusted, CertCheck::Verify),
            [
                "certificate fails the verify check: server certificate is not issued by a trusted authority"
            ]
        );
        untrusted.dane = Some(Ok(()));
        assert!(probe_problems(&untrusted, CertCheck::Dane).is_empty());

        let mut clear = probe();
        clear.tls = None;
        clear.starttls = Some(false);
        clear.error = Some("TLS is required and the server does not offer STARTTLS".into());
        assert_eq!(
            probe_problems(&clear, CertCheck::Encrypt),
            ["STARTTLS is not offered"]
        );

        let mut refused = probe();
        refused.connected = false;
        refused.tls = None;
        refused.starttls = None;
        refused.error = Some("connection failed: refused".into());
        assert_eq!(
            probe_problems(&refused, CertCheck::Verify),
            ["connection failed: refused"]
        );
    }

    /// RFC 6125 / RFC 7672 §3.1.1: a self-signed chain against roots,
    /// names and a DANE-EE record.
    #[test]
    fn judge_chain_verify_and_dane() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["mx.d.test".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let der = cert.der().clone();
        let domain = Name::from_ascii("d.test.").expect("name");
        let mut store = RootCertStore::empty();
        store.add(der.clone()).expect("root");
        let own = Roots::configured(store).expect("roots");
        let chain = vec![der.clone()];

        let (v, dane) = judge_chain(&chain, "mx.d.test", &domain, &own, None);
        assert_eq!(v, Ok(()));
        assert_eq!(dane, None);
        let (v, _) = judge_chain(&chain, "other.d.test", &domain, &own, None);
        assert_eq!(v, Err(CertFailure::HostMismatch));
        let (v, _) = judge_chain(&chain, "mx.d.test", &domain, &Roots::WebPki, None);
        assert_eq!(v, Err(CertFailure::NotTrusted));
        let (v, _) = judge_chain(&[], "mx.d.test", &domain, &own, None);
        assert_eq!(v, Err(CertFailure::Invalid));

        // DANE-EE 3 0 0: the certificate itself; names do not matter.
        let zone = crate::policyd::decide::tests::Zone::new(true)
            .mx("d.test.", 10, "mx.d.test.")
            .a("mx.d.test.")
            .tlsa("_25._tcp.mx.d.test.");
        let d = zone.discover("d.test");
        let set = d.tlsa.first().expect("TLSA set");
        // The canned record (3 1 1 0707…) matches nothing.
        let (_, dane) = judge_chain(&chain, "mx.d.test", &domain, &Roots::WebPki, Some(set));
        assert_eq!(dane, Some(Err(CertFailure::TlsaMismatch)));
        let mut exact = set.clone();
        exact.records = vec![secmx_dns::TlsaRecord::new(3, 0, 0, der.to_vec())];
        let (_, dane) = judge_chain(&chain, "x.test", &domain, &Roots::WebPki, Some(&exact));
        assert_eq!(dane, Some(Ok(())));
    }
}
