//! One message to its recipients, from discovery to verdict: the driver an
//! embedder would write around [`secmx_dns::Discovery`],
//! [`secmx_policy::plan::Plan`] and [`secmx_core::client::ClientSession`].
//!
//! ```text
//! recipients, grouped by domain (first-seen order)
//!   for each domain D:
//!     Discovery(D) over dns_udp ──► Discovered (SORs by the four conventions, MX, TLSA, …)
//!     Class: --policy bes | sos, or auto: RuleSet::classify (REQUIRETLS, TLS-Required: No, rules)
//!     Plan::new(&discovered, class, PlanInputs { smtp_port, checks, recipients })
//!     while let Some(attempt) = plan.next_attempt():
//!        rustls config   verify::client_config(attempt.cert_check, host, TLSA, roots)
//!        connect         each of attempt.addresses in turn, at attempt.port
//!        session         ClientSession(attempt.tls) ─► net::run_client(envelope, body)
//!        report          every event ─► AttemptOutcome::from_event ─► plan.report
//!                        until the plan says the attempt (or the plan) is over
//!     verdict per recipient: Delivered | Defer | Bounce (RFC 3463 status)
//! ```
//!
//! # Decisions
//!
//! - **`--smtp-port N`** becomes [`PlanConfig::smtp_port`]: it replaces
//!   port 25 for the targets whose port is implied (MX hosts, MX 51966,
//!   `secmx.D`), never a port that an SRV or SECMX record names.
//!   [`Options::smtp_ports`] does the same per domain (the demo uses it
//!   to reach one receiver per domain on one loopback address).
//! - **`--verify encrypt|verify`** sets the check the planner gives
//!   required-TLS attempts from SecMX discovery and local rules
//!   ([`PlanConfig`]'s `sor_check_*` and `mx_check_secure_only`). It does
//!   not override what ranks above them (DANE, MTA-STS, a SECMX
//!   certificate flag, the learned level, REQUIRETLS): that is where it is
//!   not allowed. **`--verify dane`** is DANE or nothing, as Postfix's
//!   `dane-only`: required-TLS attempts without usable authenticated TLSA
//!   records are not made, and count as a temporary failure (the message
//!   defers rather than bounces: publishing TLSA later would fix it).
//!   Opportunistic attempts (best effort to an MX host) are not affected.
//! - The session runs to its end before its events are reported: the
//!   session itself enforces the attempt's [`TlsRequirement`] (under
//!   `Required` nothing of the envelope leaves before TLS), and the plan
//!   checks it again for every step it is told about.
//! - MTA-STS policies are not fetched (that needs HTTPS): the plan gets
//!   none. No learned levels are kept between runs.
//! - The attempt "used" for a recipient is the one that delivered it, or
//!   else the last one that tried it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secmx_core::client::{ClientConfig, ClientEvent, ClientSession, Envelope, TlsRequirement};
use secmx_core::proto::param::MailParameters;
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::rustls;
use secmx_core::time::Timeouts;
use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::{Config, Convention, Conventions, Discovered, Discovery, MailRoute};
use secmx_policy::dsn::{Dsn, DsnBuilder, DsnError};
use secmx_policy::plan::{
    AttemptEnd, AttemptId, AttemptOutcome, Cause, Note, Plan, PlanConfig, PlanInputs, PolicySource,
    Progress, Role, SkipReason, Verdict,
};
use secmx_policy::rules::{MessageFacts, RuleSet};
use secmx_policy::verify::{self, Reference, Roots, VerifyError};
use secmx_policy::{CertCheck, Class};
use serde_json::{Value, json};

use crate::discover::convention_name;
use crate::dns_udp;
use crate::net::{self, MessageResult};
use crate::spool::TlsSummary;

/// How long a TCP connection attempt to one address may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the class of the message is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Best effort sender for every recipient.
    BestEffort,
    /// Secure only sender for every recipient.
    SecureOnly,
    /// [`RuleSet::classify`] per recipient domain: REQUIRETLS, a
    /// `TLS-Required: No` header, the rules, the default.
    Auto,
}

/// What `--verify` asks of required-TLS attempts (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOverride {
    /// Any certificate.
    Encrypt,
    /// A chain to the roots and a name match.
    Verify,
    /// DANE only.
    Dane,
}

/// How to deliver.
#[derive(Debug, Clone)]
pub struct Options {
    /// The resolver (UDP, then TCP after truncation).
    pub resolver: SocketAddr,
    /// Believe the resolver's AD bit.
    pub dns_trusted: bool,
    /// How to classify the message.
    pub policy: Policy,
    /// The rules for [`Policy::Auto`].
    pub rules: RuleSet,
    /// The message is sent with `REQUIRETLS` on `MAIL FROM` (RFC 8689).
    pub requiretls: bool,
    /// Replaces port 25 where it is implied (see the module docs).
    pub smtp_port: Option<u16>,
    /// The same, per recipient domain (lower case, no final dot); wins
    /// over [`Options::smtp_port`].
    pub smtp_ports: HashMap<String, u16>,
    /// The roots of the `verify` check.
    pub roots: Roots,
    /// `--verify`.
    pub verify: Option<VerifyOverride>,
    /// The name sent with EHLO, and the reporting MTA of DSNs.
    pub helo: Domain<'static>,
    /// Per address.
    pub connect_timeout: Duration,
    /// The SMTP client's timeouts (RFC 5321 §4.5.3.2 by default).
    pub timeouts: Timeouts,
    /// The DNS discovery's settings ([`Config::trusted_resolver`] and the
    /// id seed are set from the fields above and the OS).
    pub dns: Config,
}

impl Options {
    /// Best effort, WebPKI roots, default timeouts.
    pub fn new(resolver: SocketAddr, helo: Domain<'static>) -> Self {
        Self {
            resolver,
            dns_trusted: false,
            policy: Policy::BestEffort,
            rules: RuleSet::default(),
            requiretls: false,
            smtp_port: None,
            smtp_ports: HashMap::new(),
            roots: Roots::WebPki,
            verify: None,
            helo,
            connect_timeout: CONNECT_TIMEOUT,
            timeouts: Timeouts::default(),
            dns: Config::default(),
        }
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The reverse-path's mailbox, without angle brackets; empty for the
    /// null reverse-path.
    pub from: String,
    /// The recipients' mailboxes, without angle brackets.
    pub to: Vec<String>,
    /// The message (RFC 5322), line ends as they are (the session sends
    /// CRLF).
    pub body: Vec<u8>,
}

/// Why nothing could be attempted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The sender is not an RFC 5321 mailbox.
    #[error("bad sender address {address:?}: {reason}")]
    Sender {
        /// As given.
        address: String,
        /// Why.
        reason: String,
    },
    /// A recipient is not an RFC 5321 mailbox with a domain name.
    #[error("bad recipient address {address:?}: {reason}")]
    Recipient {
        /// As given.
        address: String,
        /// Why.
        reason: String,
    },
    /// No socket for DNS.
    #[error("DNS via {resolver}: {error}")]
    Dns {
        /// The resolver.
        resolver: SocketAddr,
        /// The error.
        error: io::Error,
    },
}

/// One attempt as it was made.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    /// The plan's id.
    pub id: AttemptId,
    /// The host (the TLS reference name).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address connected to, if any.
    pub address: Option<SocketAddr>,
    /// SOR or MX host.
    pub role: Role,
    /// What named it: SecMX conventions for a SOR; for an MX host,
    /// `mx <preference>`.
    pub found_by: String,
    /// How much TLS was insisted on.
    pub tls_requirement: TlsRequirement,
    /// The certificate check.
    pub check: CertCheck,
    /// What decided requirement and check.
    pub policy: PolicySource,
    /// What TLS negotiated.
    pub tls: Option<TlsSummary>,
    /// How it ended, in words.
    pub outcome: String,
    /// It delivered the message.
    pub delivered: bool,
    /// The recipients it tried (indices into [`Report::recipients`]).
    pub recipients: Vec<usize>,
}

/// What discovery found for a domain, in short.
#[derive(Debug, Clone)]
pub struct Found {
    /// SOR targets in merge order: host, port, conventions.
    pub sors: Vec<(String, u16, Vec<&'static str>)>,
    /// Ordinary MX hosts: preference, host.
    pub mx: Vec<(u16, String)>,
    /// The route, when there are no MX hosts to list (`null-mx`,
    /// `nxdomain`, `no-route`, `indeterminate`).
    pub route: Option<&'static str>,
    /// A look-up failed temporarily.
    pub indeterminate: bool,
}

/// One recipient domain.
#[derive(Debug, Clone)]
pub struct DomainReport {
    /// The domain.
    pub domain: String,
    /// The message's class for it.
    pub class: Class,
    /// Why that class.
    pub class_reason: String,
    /// What discovery found.
    pub found: Found,
    /// The attempts, in the order made.
    pub attempts: Vec<AttemptReport>,
    /// Targets left out and other notes of the planner.
    pub notes: Vec<String>,
}

/// One recipient's outcome.
#[derive(Debug, Clone)]
pub struct RecipientReport {
    /// The mailbox.
    pub address: String,
    /// Index into [`Report::domains`].
    pub domain: usize,
    /// The verdict (`None` only if the plan ended without one, which
    /// counts as deferred).
    pub verdict: Option<Verdict>,
    /// Index into the domain's attempts of the one used (see the module
    /// docs).
    pub attempt: Option<usize>,
}

/// The outcome of a delivery.
#[derive(Debug, Clone)]
pub struct Report {
    /// Per domain.
    pub domains: Vec<DomainReport>,
    /// Per recipient, in the order given.
    pub recipients: Vec<RecipientReport>,
    /// When the delivery started (unix seconds).
    pub started: u64,
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The reverse-path for `from` (empty: `<>`).
pub fn reverse_path(from: &str) -> Result<ReversePath<'static>, DeliverError> {
    let text = format!("<{from}>");
    ReversePath::parse(text.as_bytes(), !from.is_ascii())
        .map(ReversePath::into_owned)
        .map_err(|e| DeliverError::Sender {
            address: from.to_owned(),
            reason: e.to_string(),
        })
}

/// The forward-path for `to` and its domain (lower case).
pub fn forward_path(to: &str) -> Result<(ForwardPath<'static>, String), DeliverError> {
    let bad = |reason: String| DeliverError::Recipient {
        address: to.to_owned(),
        reason,
    };
    let text = format!("<{to}>");
    let path = ForwardPath::parse(text.as_bytes(), !to.is_ascii())
        .map_err(|e| bad(e.to_string()))?
        .into_owned();
    let domain = match &path {
        ForwardPath::Mailbox(mailbox) => mailbox
            .domain
            .as_name()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
        _ => None,
    }
    .ok_or_else(|| bad("no domain name to look up".to_owned()))?;
    Ok((path, domain))
}

/// Delivers `message` to every recipient and reports the verdicts.
pub fn deliver(message: &Outgoing, options: &Options) -> Result<Report, DeliverError> {
    let started = unix_now();
    let from = reverse_path(&message.from)?;
    let mut paths = Vec::with_capacity(message.to.len());
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, to) in message.to.iter().enumerate() {
        let (path, domain) = forward_path(to)?;
        paths.push(path);
        match groups.iter_mut().find(|(d, _)| *d == domain) {
            Some((_, members)) => members.push(i),
            None => groups.push((domain, vec![i])),
        }
    }
    let mut recipients: Vec<RecipientReport> = message
        .to
        .iter()
        .map(|address| RecipientReport {
            address: address.clone(),
            domain: 0,
            verdict: None,
            attempt: None,
        })
        .collect();
    let mut domains = Vec::with_capacity(groups.len());
    for (domain, members) in groups {
        let run = DomainRun {
            domain: &domain,
            members: &members,
            from: &from,
            paths: &paths,
            message,
            options,
        };
        let (report, verdicts) = run.deliver()?;
        for (local, &global) in members.iter().enumerate() {
            if let Some(r) = recipients.get_mut(global) {
                r.domain = domains.len();
                r.verdict = verdicts.get(local).cloned().flatten();
                r.attempt = used_attempt(&report.attempts, global);
            }
        }
        domains.push(report);
    }
    Ok(Report {
        domains,
        recipients,
        started,
    })
}

fn used_attempt(attempts: &[AttemptReport], recipient: usize) -> Option<usize> {
    let tried = |a: &AttemptReport| a.recipients.contains(&recipient);
    attempts
        .iter()
        .rposition(|a| a.delivered && tried(a))
        .or_else(|| attempts.iter().rposition(tried))
}

/// The delivery to one domain.
struct DomainRun<'a> {
    domain: &'a str,
    /// Global indices of this domain's recipients.
    members: &'a [usize],
    from: &'a ReversePath<'static>,
    paths: &'a [ForwardPath<'static>],
    message: &'a Outgoing,
    options: &'a Options,
}

impl DomainRun<'_> {
    fn deliver(&self) -> Result<(DomainReport, Vec<Option<Verdict>>), DeliverError> {
        let o = self.options;
        let mut config = o.dns.clone();
        config.trusted_resolver = o.dns_trusted;
        config.id_seed = dns_udp::random_seed();
        let discovery =
            Discovery::new(self.domain, config).map_err(|e| DeliverError::Recipient {
                address: self.domain.to_owned(),
                reason: e.to_string(),
            })?;
        let discovered =
            dns_udp::run(discovery, o.resolver).map_err(|error| DeliverError::Dns {
                resolver: o.resolver,
                error,
            })?;
        let (class, class_reason) = self.classify();
        let mut plan_config = PlanConfig::default();
        plan_config.smtp_port = o.smtp_ports.get(self.domain).copied().or(o.smtp_port);
        match o.verify {
            Some(VerifyOverride::Encrypt) => set_checks(&mut plan_config, CertCheck::Encrypt),
            Some(VerifyOverride::Verify | VerifyOverride::Dane) => {
                set_checks(&mut plan_config, CertCheck::Verify);
            }
            None => {}
        }
        let inputs = PlanInputs::new(&plan_config, unix_now()).recipients(self.members.len());
        let mut plan = Plan::new(&discovered, class, inputs);
        let mut attempts = Vec::new();
        while let Some(attempt) = plan.next_attempt() {
            let report = self.attempt(&mut plan, &discovered, attempt);
            attempts.push(report);
        }
        // How each attempt ended, from the plan.
        let ends: HashMap<AttemptId, Option<AttemptEnd>> = plan
            .attempts()
            .map(|(a, end)| (a.id, end.cloned()))
            .collect();
        for report in &mut attempts {
            if let Some(end) = ends.get(&report.id) {
                let text = end_text(end.as_ref());
                report.delivered = matches!(end, Some(AttemptEnd::Delivered));
                if report.outcome.is_empty() {
                    report.outcome = text;
                } else {
                    report.outcome = format!("{text} ({})", report.outcome);
                }
            }
        }
        let notes = plan.notes().iter().map(note_text).collect();
        let verdicts = plan.verdicts().to_vec();
        Ok((
            DomainReport {
                domain: self.domain.to_owned(),
                class,
                class_reason,
                found: found(&discovered),
                attempts,
                notes,
            },
            verdicts,
        ))
    }

    fn classify(&self) -> (Class, String) {
        let o = self.options;
        match o.policy {
            Policy::BestEffort if !o.requiretls => (Class::BestEffort, "--policy bes".into()),
            Policy::SecureOnly if !o.requiretls => (Class::SecureOnly, "--policy sos".into()),
            _ => {
                let sender_domain = self
                    .from
                    .mailbox()
                    .and_then(|m| m.domain.as_name().map(str::to_owned));
                let facts = MessageFacts {
                    requiretls: o.requiretls,
                    sender_domain: sender_domain.as_deref(),
                    recipient_domain: self.domain,
                    headers: &self.message.body,
                };
                let decision = o.rules.classify(&facts);
                (decision.class, format!("rules: {}", decision.reason))
            }
        }
    }

    /// Makes one attempt and reports its steps to the plan.
    fn attempt(
        &self,
        plan: &mut Plan,
        discovered: &Discovered,
        attempt: secmx_policy::plan::Attempt,
    ) -> AttemptReport {
        let o = self.options;
        let recipients: Vec<usize> = attempt
            .recipients
            .iter()
            .filter_map(|&i| self.members.get(i).copied())
            .collect();
        let mut report = AttemptReport {
            id: attempt.id,
            host: attempt.host.clone(),
            port: attempt.port,
            address: None,
            role: attempt.role,
            found_by: found_by(discovered, &attempt),
            tls_requirement: attempt.tls,
            check: attempt.cert_check,
            policy: attempt.policy,
            tls: None,
            outcome: String::new(),
            delivered: false,
            recipients: recipients.clone(),
        };
        let tell = |plan: &mut Plan, step: AttemptOutcome| plan.report(attempt.id, step);

        if o.verify == Some(VerifyOverride::Dane)
            && attempt.tls == TlsRequirement::Required
            && attempt.tlsa.is_none()
        {
            report.outcome = "not tried: --verify dane and no usable authenticated TLSA".into();
            let _ = tell(plan, AttemptOutcome::ProtocolError);
            return report;
        }
        let tls_config = match tls_config(&attempt, &o.roots) {
            Ok(config) => config,
            Err(e) => {
                report.outcome = format!("TLS set-up: {e}");
                let _ = tell(plan, AttemptOutcome::ProtocolError);
                return report;
            }
        };
        let mut last_error = None;
        let mut stream = None;
        for ip in &attempt.addresses {
            let addr = SocketAddr::new(*ip, attempt.port);
            match net::connect(addr, o.connect_timeout) {
                Ok(s) => {
                    report.address = Some(addr);
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(format!("{addr}: {e}")),
            }
        }
        let Some(stream) = stream else {
            report.outcome = last_error.unwrap_or_else(|| "no address".into());
            let _ = tell(plan, AttemptOutcome::ConnectFailed);
            return report;
        };

        let (tls_config, server_name) = tls_config;
        let mut config = ClientConfig::new(o.helo.clone(), attempt.tls, tls_config, server_name);
        config.timeouts = o.timeouts;
        let session = ClientSession::new(config, Instant::now());
        let mut envelope = Envelope::new(self.from.clone());
        if attempt.require_tls {
            envelope = envelope.with_params(MailParameters {
                requiretls: true,
                ..MailParameters::default()
            });
        }
        for &i in &recipients {
            if let Some(path) = self.paths.get(i) {
                envelope = envelope.with_recipient(path.clone());
            }
        }
        let body = self.message.body.clone();
        let outcome = match net::run_client(stream, session, vec![(envelope, body)]) {
            Ok(outcome) => outcome,
            Err(e) => {
                report.outcome = format!("socket: {e}");
                let _ = tell(plan, AttemptOutcome::ConnectionLost);
                return report;
            }
        };
        report.tls = outcome.tls.as_ref().map(TlsSummary::from_info);
        let mut not_submitted = match outcome.results.first() {
            Some(MessageResult::NotSubmitted(e)) => Some(e.clone()),
            _ => None,
        };
        for event in &outcome.events {
            let step = if matches!(event, ClientEvent::Ready) {
                not_submitted
                    .take()
                    .and_then(|e| AttemptOutcome::from_submit_error(&e))
            } else {
                AttemptOutcome::from_event(event)
            };
            let Some(step) = step else { continue };
            match tell(plan, step) {
                Ok(Progress::Continue) => {}
                Ok(_) => break,
                Err(e) => {
                    report.outcome = format!("refused by the plan: {e}");
                    break;
                }
            }
        }
        report
    }
}

fn set_checks(config: &mut PlanConfig, check: CertCheck) {
    config.sor_check_best_effort = check;
    config.sor_check_secure_only = check;
    config.mx_check_secure_only = check;
}

type TlsSetup = (
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
);

/// The rustls configuration of an attempt: its check, against its host
/// name and TLSA records.
fn tls_config(
    attempt: &secmx_policy::plan::Attempt,
    roots: &Roots,
) -> Result<TlsSetup, VerifyError> {
    let reference = Reference::parse(&attempt.host)?;
    let tlsa = attempt.tlsa.as_ref().map(|set| set.records.as_slice());
    let config = verify::client_config(attempt.cert_check, &reference, tlsa, roots)?;
    Ok((config, reference.server_name()))
}

/// `host.example` from a name.
pub fn host_text(name: &Name) -> String {
    let mut s = name.to_ascii().to_ascii_lowercase();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

const CONVENTION_ORDER: [Convention; 4] = [
    Convention::SecmxRr,
    Convention::Srv,
    Convention::Mx51966,
    Convention::Naming,
];

fn convention_names(conventions: Conventions) -> Vec<&'static str> {
    CONVENTION_ORDER
        .iter()
        .filter(|c| conventions.contains(**c))
        .map(|c| convention_name(*c))
        .collect()
}

/// How a target was found: for a SOR every convention that named its host
/// (at any port); for an MX host its preference.
fn found_by(discovered: &Discovered, attempt: &secmx_policy::plan::Attempt) -> String {
    match attempt.role {
        Role::Sor => {
            let mut all = attempt.conventions;
            for sor in &discovered.sors {
                if host_text(&sor.host) == attempt.host {
                    for c in sor.conventions.iter() {
                        all.insert(c);
                    }
                }
            }
            convention_names(all).join(",")
        }
        _ => match &discovered.mx {
            MailRoute::Hosts(hosts) => hosts
                .iter()
                .find(|h| host_text(&h.host) == attempt.host)
                .map(|h| {
                    if h.implicit {
                        "implicit MX".to_owned()
                    } else {
                        format!("MX {}", h.preference)
                    }
                })
                .unwrap_or_else(|| "MX".to_owned()),
            _ => "mx".to_owned(),
        },
    }
}

fn found(discovered: &Discovered) -> Found {
    let sors = discovered
        .sors
        .iter()
        .map(|t| (host_text(&t.host), t.port, convention_names(t.conventions)))
        .collect();
    let (mx, route) = match &discovered.mx {
        MailRoute::Hosts(hosts) => (
            hosts
                .iter()
                .map(|h| (h.preference, host_text(&h.host)))
                .collect(),
            None,
        ),
        MailRoute::NullMx => (Vec::new(), Some("null-mx")),
        MailRoute::NxDomain => (Vec::new(), Some("nxdomain")),
        MailRoute::Indeterminate(_) => (Vec::new(), Some("indeterminate")),
        _ => (Vec::new(), Some("no-route")),
    };
    Found {
        sors,
        mx,
        route,
        indeterminate: discovered.is_indeterminate(),
    }
}

/// A planner's note in words.
fn note_text(note: &Note) -> String {
    match note {
        Note::Skipped {
            host, port, reason, ..
        } => {
            let why = match reason {
                SkipReason::NoAddress => "it has no address",
                SkipReason::AddressLookupFailed => "its address look-up failed",
                SkipReason::TlsaLookupFailed => "its TLSA look-up failed",
                SkipReason::Duplicate => "the same host and port is tried already",
                SkipReason::MtaStsMismatch => "the MTA-STS policy does not name it",
                SkipReason::BelowLearnedLevel => "below the domain's learned level",
                SkipReason::RouteNotAuthenticated => {
                    "REQUIRETLS needs a DNSSEC-authenticated route"
                }
                _ => "left out",
            };
            format!("{host}:{port} not tried: {why}")
        }
        Note::MtaStsTestingMismatch { host } => {
            format!("{host}: not named by the MTA-STS policy (testing)")
        }
        Note::SorLookupIndeterminate => "a SecMX look-up failed temporarily".to_owned(),
        Note::MxLookupIndeterminate => "the MX look-up failed temporarily".to_owned(),
        other => format!("{other:?}"),
    }
}

fn cause_text(cause: Cause) -> &'static str {
    match cause {
        Cause::ConnectFailed => "no connection",
        Cause::Timeout(_) => "timed out",
        Cause::ConnectionLost => "connection lost",
        Cause::ServiceClosing => "server closing (421)",
        Cause::Protocol => "protocol or local error",
        Cause::SessionRejected => "session refused",
        Cause::StartTlsNotOffered => "STARTTLS not offered",
        Cause::StartTlsRefused => "STARTTLS refused",
        Cause::Handshake => "TLS handshake failed",
        Cause::Injection => "response injection after STARTTLS",
        Cause::RequireTlsNotAdvertised => "REQUIRETLS not offered",
        Cause::TlsWanted => "server wants TLS (530)",
        Cause::Abandoned => "given up",
        _ => "failed",
    }
}

fn end_text(end: Option<&AttemptEnd>) -> String {
    match end {
        None => "not finished".to_owned(),
        Some(AttemptEnd::Delivered) => "delivered".to_owned(),
        Some(AttemptEnd::Answered) => "answered".to_owned(),
        Some(AttemptEnd::Failed(f)) => {
            let mut text = cause_text(f.cause).to_owned();
            if let Some(cert) = f.cert {
                text.push_str(&format!(": {cert:?}"));
            }
            if let Some(reply) = &f.reply {
                text.push_str(&format!(": {}", reply.to_string().trim_end()));
            }
            text
        }
        Some(_) => "ended".to_owned(),
    }
}

/// `bes`, `sos` or `requiretls`.
pub fn class_name(class: Class) -> &'static str {
    match class {
        Class::BestEffort => "bes",
        Class::SecureOnly => "sos",
        Class::RequireTls => "requiretls",
        _ => "other",
    }
}

/// The name of a check.
pub fn check_name(check: CertCheck) -> &'static str {
    match check {
        CertCheck::Encrypt => "encrypt",
        CertCheck::Verify => "verify",
        CertCheck::Dane => "dane",
        _ => "other",
    }
}

/// The name of a TLS requirement.
pub fn requirement_name(tls: TlsRequirement) -> &'static str {
    match tls {
        TlsRequirement::None => "none",
        TlsRequirement::Opportunistic => "opportunistic",
        TlsRequirement::Required => "required",
    }
}

/// The verdict's kind: `delivered`, `deferred` or `bounced`.
pub fn verdict_kind(verdict: Option<&Verdict>) -> &'static str {
    match verdict {
        Some(Verdict::Delivered { .. }) => "delivered",
        Some(Verdict::Bounce { .. }) => "bounced",
        _ => "deferred",
    }
}

/// The verdict in words: `delivered`, `deferred 4.4.1 (why)`, `bounced
/// 5.7.4 (why)`.
pub fn verdict_text(verdict: Option<&Verdict>) -> String {
    match verdict {
        Some(Verdict::Delivered { .. }) => "delivered".to_owned(),
        Some(Verdict::Defer { status, reason, .. }) => format!("deferred {status} ({reason})"),
        Some(Verdict::Bounce { status, reason, .. }) => format!("bounced {status} ({reason})"),
        Some(_) => "unknown".to_owned(),
        None => "deferred (no verdict)".to_owned(),
    }
}

/// `TLSv1.3 TLS13_AES_256_GCM_SHA384`, or `none`.
pub fn tls_text(tls: Option<&TlsSummary>) -> String {
    match tls {
        Some(t) => format!("{} {}", t.version, t.cipher),
        None => "none".to_owned(),
    }
}

impl Report {
    /// The attempt used for recipient `index`.
    pub fn attempt_of(&self, index: usize) -> Option<&AttemptReport> {
        let r = self.recipients.get(index)?;
        self.domains.get(r.domain)?.attempts.get(r.attempt?)
    }

    /// Whether any recipient bounced.
    pub fn any_bounced(&self) -> bool {
        self.recipients
            .iter()
            .any(|r| matches!(r.verdict, Some(Verdict::Bounce { .. })))
    }

    /// Whether any recipient deferred.
    pub fn any_deferred(&self) -> bool {
        self.recipients.iter().any(|r| {
            !matches!(
                r.verdict,
                Some(Verdict::Delivered { .. } | Verdict::Bounce { .. })
            )
        })
    }

    /// The DSN (RFC 3464) for the recipients that bounced, from
    /// `reporting_mta` to the sender, returning `original`; `None` when
    /// none bounced.
    pub fn bounce(
        &self,
        reporting_mta: &str,
        sender: &str,
        token: &str,
        original: &[u8],
    ) -> Option<Result<Dsn, DsnError>> {
        let now = unix_now();
        let requiretls = self.domains.iter().any(|d| d.class == Class::RequireTls);
        let failed: Vec<_> = self
            .recipients
            .iter()
            .filter(|r| matches!(r.verdict, Some(Verdict::Bounce { .. })))
            .filter_map(|r| {
                r.verdict
                    .as_ref()?
                    .dsn_recipient(&r.address)
                    .map(|d| d.last_attempt(now))
            })
            .collect();
        if failed.is_empty() {
            return None;
        }
        Some(
            DsnBuilder::new(reporting_mta, sender, token, now)
                .arrival_date(self.started)
                .require_tls(requiretls)
                .recipients(failed)
                .build(original),
        )
    }

    /// The JSON view.
    pub fn to_json(&self) -> Value {
        let attempt_json = |a: &AttemptReport| {
            json!({
                "host": a.host,
                "port": a.port,
                "address": a.address.map(|s| s.to_string()),
                "role": match a.role { Role::Sor => "sor", _ => "mx" },
                "found_by": a.found_by,
                "tls_requirement": requirement_name(a.tls_requirement),
                "check": check_name(a.check),
                "policy": format!("{:?}", a.policy).to_ascii_lowercase(),
                "tls": a.tls.as_ref().map(|t| json!({"version": t.version, "cipher": t.cipher})),
                "outcome": a.outcome,
                "delivered": a.delivered,
            })
        };
        let recipients: Vec<Value> = self
            .recipients
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let domain = self.domains.get(r.domain);
                let (status, reason) = match &r.verdict {
                    Some(Verdict::Defer { status, reason, .. })
                    | Some(Verdict::Bounce { status, reason, .. }) => {
                        (Some(status.to_string()), Some(reason.to_string()))
                    }
                    _ => (None, None),
                };
                json!({
                    "address": r.address,
                    "domain": domain.map(|d| d.domain.clone()),
                    "class": domain.map(|d| class_name(d.class)),
                    "verdict": verdict_kind(r.verdict.as_ref()),
                    "status": status,
                    "reason": reason,
                    "target": self.attempt_of(i).map(attempt_json),
                })
            })
            .collect();
        let domains: Vec<Value> = self
            .domains
            .iter()
            .map(|d| {
                json!({
                    "domain": d.domain,
                    "class": class_name(d.class),
                    "class_reason": d.class_reason,
                    "sors": d.found.sors.iter().map(|(h, p, c)| json!({
                        "host": h, "port": p, "conventions": c,
                    })).collect::<Vec<_>>(),
                    "mx": d.found.mx.iter().map(|(p, h)| json!({
                        "preference": p, "host": h,
                    })).collect::<Vec<_>>(),
                    "route": d.found.route,
                    "dns_indeterminate": d.found.indeterminate,
                    "attempts": d.attempts.iter().map(attempt_json).collect::<Vec<_>>(),
                    "notes": d.notes,
                })
            })
            .collect();
        json!({"recipients": recipients, "domains": domains})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5321 §4.1.2: Mailbox = Local-part "@" ( Domain / address-literal );
    /// only a domain name can be looked up.
    #[test]
    fn rfc5321_4_1_2_recipient_domains() {
        let cases = [
            ("bob@example.test", Some("example.test")),
            ("Bob@Example.TEST", Some("example.test")),
            ("\"b o b\"@example.test", Some("example.test")),
            ("bob@[192.0.2.1]", None),
            ("bob", None),
            ("bob@", None),
            ("<bob@example.test>", None),
            ("bob@exa mple.test", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = forward_path(text).ok().map(|(_, d)| d);
            assert_eq!(got.as_deref(), want, "{text:?}");
        }
    }

    /// RFC 5321 §4.5.5: the null reverse-path is `<>`.
    #[test]
    fn rfc5321_4_5_5_sender_paths() {
        assert!(reverse_path("").is_ok_and(|p| p.mailbox().is_none()));
        assert!(reverse_path("alice@example.test").is_ok_and(|p| p.mailbox().is_some()));
        assert!(reverse_path("alice").is_err());
        assert!(reverse_path("a b@example.test").is_err());
    }
}
