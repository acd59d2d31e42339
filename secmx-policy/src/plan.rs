//! The delivery plan for one message to one recipient domain: which
//! targets to try, in what order, with what TLS requirement and
//! certificate check; what each attempt's outcome means; the verdict per
//! recipient (delivered, defer, bounce).
//!
//! Pure: no I/O, no clock. The embedder runs the attempts with
//! [`ClientSession`](secmx_core::client::ClientSession)s over its own
//! sockets and reports what happened.
//!
//! ```text
//! Plan::new(&discovered, class, inputs)
//!   │  attempts: SOR targets (merge order), then MX hosts (preference order)
//!   ▼
//! next_attempt() ─► Attempt { host, port, addresses, role, TlsRequirement,
//!   ▲                         CertCheck, TLSA, REQUIRETLS, conventions, recipients }
//!   │                  │ connect, ClientSession::new(...)
//!   │                  ▼
//!   │  report(id, AttemptOutcome) ─► Progress::Continue     keep going
//!   └──────────────────────────────  Progress::AttemptOver  quit, next attempt
//!                                    Progress::Finished     every recipient has a verdict
//! verdict(i) ─► Delivered { host, tls, level } | Defer { reason } | Bounce { status, reason }
//! ```
//!
//! # Precedence
//!
//! One order decides each attempt's TLS requirement and certificate check
//! (DESIGN.md): **DANE > MTA-STS > SecMX discovery > learned level >
//! local rules**.
//!
//! | source | applies to | requirement and check |
//! |---|---|---|
//! | DANE (RFC 7672) | a target with usable authenticated TLSA | TLS required, `dane`, whatever the class (§2.2); MTA-STS does not apply to it (RFC 8461 §2) |
//! | MTA-STS `enforce` (RFC 8461) | every target | TLS required, `verify`; a host its `mx` patterns do not name is not tried |
//! | SecMX discovery | SOR targets | TLS required (a SOR takes nothing else); `encrypt` under BES, `verify` under SOS ([`PlanConfig`]); a SECMX record's certificate flag raises `encrypt` to `verify` |
//! | learned level | MX hosts | raised to reach the floor: `tls` → required; `verified-tls` → required + `verify`; `sor-present` → MX hosts are not tried |
//! | local rules (the [`Class`]) | MX hosts | BES: opportunistic, then a clear-text retry after a failed handshake; SOS: required + `verify`; REQUIRETLS: required + `verify`, REQUIRETLS advertised after TLS |
//!
//! For example, a SOS message to `d.example`, which publishes
//! `_secmx._tcp.d.example. SRV 0 0 25 sor.d.example.` and
//! `MX 10 mx.d.example.` whose TLSA records are authenticated, gives:
//!
//! ```text
//! 1. sor.d.example:25  Sor  Required  verify  (SecMX, SOS)
//! 2. mx.d.example:25   Mx   Required  dane    (DANE beats local rules)
//! ```
//!
//! and with an MTA-STS `enforce` policy naming only `mx.d.example`, the
//! SOR is left out (MTA-STS beats SecMX discovery) while the MX host keeps
//! `dane` (DANE beats MTA-STS).
//!
//! # Example
//!
//! A secure only message to a domain with one MX host that does not offer
//! STARTTLS (the discovery runs on canned DNS answers here):
//!
//! ```
//! # use std::net::Ipv4Addr;
//! # use std::time::Instant;
//! # use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
//! # use secmx_dns::hickory_proto::rr::{rdata, Name, RData, Record, RecordType};
//! # use secmx_dns::{Config, Discovery};
//! # fn resolve(query: &[u8]) -> Vec<u8> {
//! #     let request = Message::from_vec(query).unwrap();
//! #     let question = request.queries[0].clone();
//! #     let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
//! #     let name = question.name().clone();
//! #     let data = match (name.to_ascii().as_str(), question.query_type()) {
//! #         ("d.example.", RecordType::MX) => Some(RData::MX(rdata::MX::new(
//! #             10,
//! #             Name::from_ascii("mx.d.example.").unwrap(),
//! #         ))),
//! #         ("mx.d.example.", RecordType::A) => Some(RData::A(rdata::A(Ipv4Addr::new(192, 0, 2, 1)))),
//! #         _ => None,
//! #     };
//! #     match data {
//! #         Some(data) => { reply.add_answer(Record::from_rdata(name, 300, data)); }
//! #         None => reply.metadata.response_code = ResponseCode::NXDomain,
//! #     }
//! #     reply.add_query(question);
//! #     reply.to_vec().unwrap()
//! # }
//! # let mut discovery = Discovery::new("d.example", Config::default()).unwrap();
//! # let discovered = loop {
//! #     while let Some(q) = discovery.poll_query(Instant::now()) {
//! #         let _ = discovery.handle_response(Instant::now(), &resolve(&q.bytes));
//! #     }
//! #     if let Some(result) = discovery.poll_result() { break result; }
//! # };
//! use secmx_core::client::TlsRequirement;
//! use secmx_policy::plan::{AttemptOutcome, Plan, PlanConfig, PlanInputs, Progress, Reason, Verdict};
//! use secmx_policy::{CertCheck, Class};
//!
//! let config = PlanConfig::default();
//! let now = 1_700_000_000; // unix seconds
//! let mut plan = Plan::new(&discovered, Class::SecureOnly, PlanInputs::new(&config, now));
//!
//! let attempt = plan.next_attempt().expect("the MX host");
//! assert_eq!((attempt.host.as_str(), attempt.port), ("mx.d.example", 25));
//! assert_eq!(attempt.tls, TlsRequirement::Required);
//! assert_eq!(attempt.cert_check, CertCheck::Verify);
//!
//! // ... connect to attempt.addresses, run a ClientSession with a verifier
//! // for attempt.cert_check, feed its events through
//! // AttemptOutcome::from_event; the server offers no STARTTLS:
//! let progress = plan.report(attempt.id, AttemptOutcome::StartTlsNotOffered)?;
//! assert_eq!(progress, Progress::Finished);
//! let Some(Verdict::Bounce { status, reason, .. }) = plan.verdict(0) else {
//!     panic!("a secure only message with no secure receiver bounces");
//! };
//! assert_eq!(status.to_string(), "5.7.4");
//! assert_eq!(*reason, Reason::NoSecureReceiver);
//! # Ok::<(), secmx_policy::plan::ReportError>(())
//! ```
//!
//! # Verdicts
//!
//! - A `2xx` to the data delivers every recipient accepted at RCPT. A
//!   `5xx` to RCPT bounces that recipient, a `4xx` defers it; a `5xx` to
//!   MAIL or the data bounces the recipients it concerns, a `4xx` defers
//!   them.
//! - Temporary failures (no connection, time-outs, a lost connection,
//!   `4xx` greetings, `421`, a STARTTLS `4xx`, handshake errors other than
//!   the certificate, response injection) move on to the next attempt and
//!   in the end **defer; they never bounce**.
//! - An indeterminate look-up never causes a bounce: when the SOR
//!   look-ups or the MX look-up failed temporarily and the message was not
//!   delivered, it defers (a SOR might have taken it); so does a failed
//!   TLSA or address look-up of a target.
//! - Definitive: when every attempt failed for good and one of them was a
//!   TLS failure (STARTTLS not offered, refused with `5xx`, the
//!   certificate refused by the check), the recipients bounce with
//!   `5.7.4` (RFC 3463 §3.8), or `5.7.30` for a REQUIRETLS message
//!   (RFC 8689 §5), which also bounces when a hop does not offer
//!   REQUIRETLS. With nothing to try: null MX `5.1.10` (RFC 7505 §4),
//!   NXDOMAIN `5.1.2`, no route `5.4.4`.
//! - TLS failures on an attempt whose requirement came from DANE, MTA-STS
//!   or the learned level are temporary: RFC 7672 asks to defer, RFC 8461
//!   §5 not to fail for good before the policy was fetched again, and a
//!   learned level exists to turn a downgrade into a delay
//!   ([`Reason::DowngradeRefused`]).
//!
//! # Decisions where the RFCs and DESIGN.md are silent
//!
//! - One attempt per host and port; it carries every address (IPv6
//!   first); the embedder tries them in turn and reports
//!   [`AttemptOutcome::ConnectFailed`] when none answered. A target with
//!   no address is left out ([`Note::Skipped`]), and so is a second target
//!   with the same host and port (an MX host that is also a SOR).
//! - Under MTA-STS `enforce`, SOR targets must match the policy too:
//!   MTA-STS ranks above SecMX discovery, and an unauthenticated SRV
//!   record must not open a way around the policy.
//! - A REQUIRETLS message goes only to a target whose route was
//!   DNSSEC-authenticated or that an MTA-STS policy names (RFC 8689
//!   §4.2.1), unless [`PlanConfig::requiretls_authenticated_route`] is off.
//! - A `530` to MAIL on a session without TLS counts as "this host wants
//!   TLS", not as a refusal of the message.
//! - A `4xx` to MAIL, RCPT or the data defers without trying the next host
//!   (the server did answer); a `5xx` greeting moves on to the next host.
//! - Steps that would put the message on a connection that does not meet
//!   the attempt's requirement (RCPT or data before TLS under `Required`,
//!   before REQUIRETLS was seen on a REQUIRETLS attempt) are refused with
//!   a [`ReportError`]: no sequence of reports delivers a secure-only
//!   message without TLS.

mod build;
mod outcome;

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::OnceLock;

use secmx_core::client::{TimeoutKind, TlsRequirement};
use secmx_core::{EnhancedCode, Reply};
use secmx_dns::{Conventions, Discovered, MailRoute, TlsaSet};

pub use outcome::{AttemptOutcome, TlsDetails};

use crate::dsn::DsnRecipient;
use crate::learned::LearnedLevel;
use crate::mta_sts::{MtaStsMode, MtaStsPolicy};
use crate::types::{CertCheck, Class};
use crate::verify::CertFailure;

const fn code(class: u8, subject: u16, detail: u16) -> EnhancedCode {
    match EnhancedCode::new(class, subject, detail) {
        Some(c) => c,
        None => EnhancedCode::SECURITY,
    }
}

/// `5.0.0` other undefined status (RFC 3463 §3.1).
const PERMANENT: EnhancedCode = code(5, 0, 0);
/// `4.0.0` other undefined status, temporary.
const TRANSIENT: EnhancedCode = code(4, 0, 0);
/// `5.1.2` bad destination system address (RFC 3463 §3.2).
const BAD_DESTINATION: EnhancedCode = code(5, 1, 2);
/// `5.4.4` unable to route (RFC 3463 §3.5).
const NO_ROUTE: EnhancedCode = code(5, 4, 4);
/// `4.4.1` no answer from host (RFC 3463 §3.5).
const NO_ANSWER: EnhancedCode = code(4, 4, 1);
/// `4.4.2` bad connection (RFC 3463 §3.5).
const BAD_CONNECTION: EnhancedCode = code(4, 4, 2);
/// `4.4.3` directory server failure (RFC 3463 §3.5).
const DNS_FAILURE: EnhancedCode = code(4, 4, 3);

/// How the planner turns classes into attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanConfig {
    /// The port for targets whose port is the SMTP default by convention
    /// (MX hosts, MX 51966, `secmx.D`) rather than named by a record (SRV,
    /// SECMX). `None`: port 25. For test set-ups on another port.
    pub smtp_port: Option<u16>,
    /// The check on SOR targets for a best effort message (default
    /// `Encrypt`, the SecMX proposal's "TLS negotiation is between
    /// parties").
    pub sor_check_best_effort: CertCheck,
    /// The check on SOR targets for a secure only message (default
    /// `Verify`).
    pub sor_check_secure_only: CertCheck,
    /// The check on MX hosts for a secure only message (default `Verify`).
    pub mx_check_secure_only: CertCheck,
    /// After a failed handshake with an MX host under opportunistic TLS,
    /// try the same host again in clear (best effort only; default true,
    /// as Postfix's `may` level).
    pub cleartext_retry: bool,
    /// REQUIRETLS messages go only to targets with a DNSSEC-authenticated
    /// route or named by an MTA-STS policy (RFC 8689 §4.2.1; default
    /// true).
    pub requiretls_authenticated_route: bool,
    /// Use IPv4 addresses (default true).
    pub ipv4: bool,
    /// Use IPv6 addresses (default true); they come first.
    pub ipv6: bool,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            smtp_port: None,
            sor_check_best_effort: CertCheck::Encrypt,
            sor_check_secure_only: CertCheck::Verify,
            mx_check_secure_only: CertCheck::Verify,
            cleartext_retry: true,
            requiretls_authenticated_route: true,
            ipv4: true,
            ipv6: true,
        }
    }
}

/// What besides the discovery result decides a plan.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlanInputs<'a> {
    /// The domain's MTA-STS policy, fetched and cached by the embedder
    /// (RFC 8461 §3.3, §5.1); mode `none` is the same as no policy.
    pub mta_sts: Option<&'a MtaStsPolicy>,
    /// The learned floor of the domain
    /// ([`LearnedLevels::floor`](crate::learned::LearnedLevels::floor)).
    pub learned: Option<LearnedLevel>,
    /// The planner's settings.
    pub config: &'a PlanConfig,
    /// Now, in unix seconds (kept with the verdicts).
    pub now: u64,
    /// How many recipients of the message are in this domain (default
    /// 1); verdicts and [`Attempt::recipients`] index them in the
    /// embedder's order.
    pub recipients: usize,
}

impl<'a> PlanInputs<'a> {
    /// One recipient, no learned level.
    pub fn new(config: &'a PlanConfig, now: u64) -> Self {
        Self {
            mta_sts: None,
            learned: None,
            config,
            now,
            recipients: 1,
        }
    }

    /// With the domain's MTA-STS policy.
    #[must_use]
    pub fn mta_sts(mut self, policy: Option<&'a MtaStsPolicy>) -> Self {
        self.mta_sts = policy;
        self
    }

    /// With a learned floor.
    #[must_use]
    pub fn learned(mut self, floor: Option<LearnedLevel>) -> Self {
        self.learned = floor;
        self
    }

    /// With `n` recipients.
    #[must_use]
    pub fn recipients(mut self, n: usize) -> Self {
        self.recipients = n;
        self
    }
}

/// Names one attempt of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(usize);

impl AttemptId {
    /// Its number: attempts are numbered from 0 as they are created.
    pub fn index(self) -> usize {
        self.0
    }
}

/// What a target is to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A SecMX secure only receiver.
    Sor,
    /// An ordinary MX host (or the implicit MX): a candidate best effort
    /// receiver.
    Mx,
}

/// Which source decided an attempt's requirement and check (see the
/// [precedence](self#precedence)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicySource {
    /// Usable authenticated TLSA records (RFC 7672).
    Dane,
    /// An MTA-STS `enforce` policy (RFC 8461).
    MtaSts,
    /// SecMX discovery: the target is a SOR.
    Secmx,
    /// The learned level of the domain raised it.
    Learned,
    /// The message's class (local rules).
    Local,
}

/// One connection to make.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// Its name in [`Plan::report`].
    pub id: AttemptId,
    /// The host (lower case, no final dot): the TLS reference name and
    /// SNI.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The addresses to try in turn (IPv6 first).
    pub addresses: Vec<IpAddr>,
    /// SOR or MX host.
    pub role: Role,
    /// How much TLS is insisted on.
    pub tls: TlsRequirement,
    /// The certificate check when TLS is used.
    pub cert_check: CertCheck,
    /// The usable authenticated TLSA RRset, when the check is `dane`.
    pub tlsa: Option<TlsaSet>,
    /// Send MAIL with REQUIRETLS; the server must offer it after TLS
    /// (RFC 8689 §4.2.1).
    pub require_tls: bool,
    /// The SecMX conventions that named the target (empty for MX hosts).
    pub conventions: Conventions,
    /// What decided `tls` and `cert_check`.
    pub policy: PolicySource,
    /// This is the clear-text retry after a failed handshake.
    pub cleartext_retry: bool,
    /// Every DNS answer behind the target was DNSSEC-authenticated.
    pub authenticated: bool,
    /// The recipients to send to, as indices of the plan's recipients, in
    /// RCPT order ([`AttemptOutcome::Rcpt`] indexes this list). Filled
    /// when [`Plan::next_attempt`] hands the attempt out.
    pub recipients: Vec<usize>,
}

/// Why a target was not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// It has no address (NXDOMAIN or NODATA for A and AAAA).
    NoAddress,
    /// Its address look-ups failed temporarily.
    AddressLookupFailed,
    /// Its TLSA look-up failed temporarily: DANE cannot tell, so it is not
    /// used (RFC 7672 §2.2).
    TlsaLookupFailed,
    /// The same host and port is already in the plan.
    Duplicate,
    /// An MTA-STS `enforce` policy does not name it (RFC 8461 §4.1).
    MtaStsMismatch,
    /// It cannot reach the domain's learned level (an MX host when the
    /// domain was seen with a SOR).
    BelowLearnedLevel,
    /// A REQUIRETLS message and its route is neither DNSSEC-authenticated
    /// nor named by MTA-STS (RFC 8689 §4.2.1).
    RouteNotAuthenticated,
}

impl SkipReason {
    /// Whether the skip may not hold next time (a temporary reason).
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            Self::AddressLookupFailed
                | Self::TlsaLookupFailed
                | Self::MtaStsMismatch
                | Self::BelowLearnedLevel
        )
    }
}

/// Something the planner noticed that is not an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// A target was not tried.
    Skipped {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// SOR or MX host.
        role: Role,
        /// Why.
        reason: SkipReason,
    },
    /// Under an MTA-STS `testing` policy, a host its `mx` patterns do not
    /// name (tried anyway; for TLS-RPT).
    MtaStsTestingMismatch {
        /// The host.
        host: String,
    },
    /// A look-up of one of the four SecMX conventions failed temporarily.
    SorLookupIndeterminate,
    /// The MX look-up failed temporarily.
    MxLookupIndeterminate,
}

/// How a failed attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// It may work later.
    Temporary,
    /// Definitive: this target cannot take the message over TLS with the
    /// required check.
    NoTls,
    /// Definitive: the target did not offer REQUIRETLS after TLS.
    NoRequireTls,
    /// Definitive, not about TLS (a `5xx` greeting).
    Permanent,
}

/// The step at which an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// No connection.
    ConnectFailed,
    /// A wait ran out.
    Timeout(TimeoutKind),
    /// The connection was lost.
    ConnectionLost,
    /// The server sent `421`.
    ServiceClosing,
    /// The server broke the protocol.
    Protocol,
    /// The greeting, EHLO or HELO was refused.
    SessionRejected,
    /// STARTTLS was not offered.
    StartTlsNotOffered,
    /// STARTTLS was refused.
    StartTlsRefused,
    /// The handshake failed (see [`Failure::cert`]).
    Handshake,
    /// Response injection after STARTTLS.
    Injection,
    /// REQUIRETLS was not offered after TLS.
    RequireTlsNotAdvertised,
    /// The server wants TLS (`530` to MAIL in clear).
    TlsWanted,
    /// The attempt was given up for the next one.
    Abandoned,
}

impl Cause {
    fn is_tls(self) -> bool {
        matches!(
            self,
            Self::StartTlsNotOffered
                | Self::StartTlsRefused
                | Self::Handshake
                | Self::Injection
                | Self::TlsWanted
        )
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// Temporary or definitive.
    pub kind: FailureKind,
    /// The step.
    pub cause: Cause,
    /// The server's reply, if one decided.
    pub reply: Option<Reply<'static>>,
    /// The handshake's failure, for [`Cause::Handshake`].
    pub cert: Option<CertFailure>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptEnd {
    /// The data was accepted.
    Delivered,
    /// The server answered for every recipient (refusals at MAIL, RCPT or
    /// the data); the verdicts say how.
    Answered,
    /// It failed before the server answered for the recipients.
    Failed(Failure),
}

/// What to do after [`Plan::report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Progress {
    /// Go on with this attempt.
    Continue,
    /// This attempt is over: quit its session (if still open) and call
    /// [`Plan::next_attempt`]. Do not send the message on it.
    AttemptOver,
    /// Every recipient has a verdict: quit the session; no more attempts.
    Finished,
}

/// Why a report was refused. The plan is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// No attempt has this id.
    #[error("no attempt {0:?} in this plan")]
    UnknownAttempt(AttemptId),
    /// The attempt was not handed out by [`Plan::next_attempt`] yet.
    #[error("attempt {0:?} has not started")]
    NotStarted(AttemptId),
    /// MAIL, RCPT or data on a TLS-required attempt before
    /// [`AttemptOutcome::TlsEstablished`]: the message must not go there.
    #[error("TLS is required on this attempt and was not established")]
    TlsNotEstablished,
    /// MAIL, RCPT or data on a REQUIRETLS attempt before the server
    /// offered REQUIRETLS after TLS.
    #[error("REQUIRETLS is required on this attempt and was not offered after TLS")]
    RequireTlsNotConfirmed,
    /// An [`AttemptOutcome::Rcpt`] index beyond the attempt's recipients.
    #[error("no recipient {0} in this attempt")]
    NoSuchRecipient(usize),
}

/// Why a message was deferred or bounced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The receiving server's reply decided (the verdict carries it).
    Reply,
    /// No SOR or BER could take the message over TLS with the required
    /// check (`5.7.4`).
    NoSecureReceiver,
    /// No hop could take the REQUIRETLS message over verified TLS with
    /// REQUIRETLS offered (`5.7.30`).
    RequireTlsNotSupported,
    /// The domain has a null MX (`5.1.10`).
    NullMx,
    /// The domain does not exist (`5.1.2`).
    NxDomain,
    /// The domain has no usable mail route (`5.4.4`).
    NoRoute,
    /// A DNS look-up failed temporarily, and its answer could change the
    /// outcome.
    DnsIndeterminate,
    /// The domain was seen at a better level; nothing reachable now meets
    /// it, and delivering weaker would be a downgrade.
    DowngradeRefused {
        /// The learned floor.
        learned: LearnedLevel,
    },
    /// MTA-STS `enforce`: no host the policy allows took the message over
    /// verified TLS; fetch the policy again before giving up (RFC 8461
    /// §5).
    MtaSts,
    /// DANE authentication or its TLSA look-up failed (RFC 7672).
    Dane,
    /// No server could be reached (connection refused, time-outs, lost
    /// connections).
    Unreachable,
    /// TLS failed for a temporary reason (STARTTLS `4xx`, a handshake
    /// error, response injection).
    TlsFailed,
    /// Servers refused the session (greeting, EHLO).
    SessionRejected,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reply => f.write_str("the receiving server refused it"),
            Self::NoSecureReceiver => {
                f.write_str("no receiver accepts it over TLS with the required check")
            }
            Self::RequireTlsNotSupported => {
                f.write_str("no receiver accepts it over verified TLS with REQUIRETLS")
            }
            Self::NullMx => f.write_str("the domain accepts no mail (null MX)"),
            Self::NxDomain => f.write_str("the domain does not exist"),
            Self::NoRoute => f.write_str("the domain has no reachable mail server"),
            Self::DnsIndeterminate => f.write_str("a DNS look-up failed temporarily"),
            Self::DowngradeRefused { learned } => write!(
                f,
                "downgrade refused: the domain was seen at level {learned:?}"
            ),
            Self::MtaSts => f.write_str("no host allowed by the MTA-STS policy took it"),
            Self::Dane => f.write_str("DANE authentication failed"),
            Self::Unreachable => f.write_str("no mail server could be reached"),
            Self::TlsFailed => f.write_str("TLS failed"),
            Self::SessionRejected => f.write_str("the mail servers refused the session"),
        }
    }
}

/// The outcome for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The server took the message.
    Delivered {
        /// The host that took it.
        host: String,
        /// How it was protected; `None` in clear text.
        tls: Option<TlsDetails>,
        /// The level reached, for
        /// [`LearnedLevels::observe`](crate::learned::LearnedLevels::observe).
        level: LearnedLevel,
        /// The server's reply to the data.
        reply: Reply<'static>,
    },
    /// Not now: keep it queued and try again later.
    Defer {
        /// A `4.x.x` status for a delay DSN.
        status: EnhancedCode,
        /// Why.
        reason: Reason,
        /// The reply that decided, if any.
        reply: Option<Reply<'static>>,
        /// The host that gave it, if any.
        host: Option<String>,
    },
    /// Never: return it to the sender with a DSN.
    Bounce {
        /// The `5.x.x` status.
        status: EnhancedCode,
        /// Why.
        reason: Reason,
        /// The reply that decided, if any (`Diagnostic-Code`).
        diagnostic: Option<Reply<'static>>,
        /// The host that gave it, if any (`Remote-MTA`).
        remote_host: Option<String>,
    },
}

impl Verdict {
    /// Whether the message was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    /// The DSN entry for `address`: `failed` for a bounce, `delayed` for a
    /// deferral, `None` when delivered.
    pub fn dsn_recipient(&self, address: &str) -> Option<DsnRecipient> {
        let (mut r, reason, reply, host) = match self {
            Self::Delivered { .. } => return None,
            Self::Defer {
                status,
                reason,
                reply,
                host,
            } => (DsnRecipient::delayed(address, *status), reason, reply, host),
            Self::Bounce {
                status,
                reason,
                diagnostic,
                remote_host,
            } => (
                DsnRecipient::failed(address, *status),
                reason,
                diagnostic,
                remote_host,
            ),
        };
        if let Some(h) = host {
            r = r.remote_mta(h.clone());
        }
        if let Some(reply) = reply {
            r = r.diagnostic(reply.clone());
        }
        if !matches!(reason, Reason::Reply) {
            r = r.explanation(format!("Reason: {reason}."));
        }
        Some(r)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Planned,
    Active,
    Ended,
}

/// How far an attempt got, to pick the most telling failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Connect,
    Greeted,
    Secured,
    Transaction,
}

/// A run of one of an [`Arena`]'s buffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// The hosts, addresses, TLSA RRsets and recipient lists of a plan's
/// attempts, one buffer each: a plan allocates for them once, not once
/// per attempt, and its slots stay small.
#[derive(Debug, Clone, Default)]
struct Arena {
    hosts: String,
    addresses: Vec<IpAddr>,
    tlsa: Vec<TlsaSet>,
    recipients: Vec<usize>,
}

impl Arena {
    fn host(&self, span: Span) -> &str {
        self.hosts.get(span.range()).unwrap_or_default()
    }

    /// Recipient `index` of an attempt's list.
    fn recipient(&self, list: Recipients, index: usize) -> Option<usize> {
        match list {
            Recipients::Run(span) => span.range().nth(index),
            Recipients::Listed(span) => self.recipients.get(span.range())?.get(index).copied(),
        }
    }

    /// An attempt's list of recipients.
    fn recipient_list(&self, list: Recipients) -> Vec<usize> {
        match list {
            Recipients::Run(span) => span.range().collect(),
            Recipients::Listed(span) => self
                .recipients
                .get(span.range())
                .unwrap_or_default()
                .to_vec(),
        }
    }

    /// The recipients without a verdict, in order.
    fn pending(&mut self, verdicts: &[Option<Verdict>]) -> Recipients {
        let mut pending = verdicts
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_none())
            .map(|(i, _)| i);
        let Some(first) = pending.next() else {
            return Recipients::default();
        };
        let (last, count) = pending.fold((first, 1), |(_, n), i| (i, n + 1));
        if last - first + 1 == count {
            return Recipients::Run(Span::new(first, last + 1));
        }
        let start = self.recipients.len();
        self.recipients.extend(
            verdicts
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_none())
                .map(|(i, _)| i),
        );
        Recipients::Listed(Span::new(start, self.recipients.len()))
    }

    /// The attempt `planned` stands for.
    fn attempt(&self, planned: &Planned) -> Attempt {
        Attempt {
            id: planned.id,
            host: self.host(planned.host).to_owned(),
            port: planned.port,
            addresses: self
                .addresses
                .get(planned.addresses.range())
                .unwrap_or_default()
                .to_vec(),
            role: planned.role,
            tls: planned.tls,
            cert_check: planned.cert_check,
            tlsa: planned.tlsa.and_then(|i| self.tlsa.get(i)).cloned(),
            require_tls: planned.require_tls,
            conventions: planned.conventions,
            policy: planned.policy,
            cleartext_retry: planned.cleartext_retry,
            authenticated: planned.authenticated,
            recipients: self.recipient_list(planned.recipients),
        }
    }
}

/// The recipients of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipients {
    /// The recipients numbered `start..end`: all of them, or all but a
    /// few first or last (no buffer needed).
    Run(Span),
    /// A span of [`Arena::recipients`].
    Listed(Span),
}

impl Default for Recipients {
    fn default() -> Self {
        Self::Run(Span::default())
    }
}

/// The verdicts of a plan's recipients: the usual single recipient is
/// kept in place, more in a `Vec`.
#[derive(Debug, Clone)]
enum Verdicts {
    One(Option<Verdict>),
    Many(Vec<Option<Verdict>>),
}

impl Verdicts {
    fn new(recipients: usize) -> Self {
        if recipients == 1 {
            Self::One(None)
        } else {
            Self::Many(vec![None; recipients])
        }
    }
}

impl std::ops::Deref for Verdicts {
    type Target = [Option<Verdict>];

    fn deref(&self) -> &Self::Target {
        match self {
            Self::One(v) => std::slice::from_ref(v),
            Self::Many(v) => v,
        }
    }
}

impl std::ops::DerefMut for Verdicts {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::One(v) => std::slice::from_mut(v),
            Self::Many(v) => v,
        }
    }
}

/// An [`Attempt`] as the plan keeps it: its host, addresses and
/// recipients are spans of the plan's [`Arena`].
#[derive(Debug, Clone)]
struct Planned {
    id: AttemptId,
    host: Span,
    port: u16,
    addresses: Span,
    role: Role,
    tls: TlsRequirement,
    cert_check: CertCheck,
    /// An index of [`Arena::tlsa`].
    tlsa: Option<usize>,
    require_tls: bool,
    conventions: Conventions,
    policy: PolicySource,
    cleartext_retry: bool,
    authenticated: bool,
    recipients: Recipients,
}

#[derive(Debug, Clone)]
struct Slot {
    attempt: Planned,
    state: SlotState,
    stage: Stage,
    tls: Option<TlsDetails>,
    requiretls: bool,
    accepted: Vec<usize>,
    end: Option<AttemptEnd>,
}

impl Slot {
    /// A slot for an attempt not handed out yet.
    fn planned(attempt: Planned) -> Self {
        Self {
            attempt,
            state: SlotState::Planned,
            stage: Stage::Connect,
            tls: None,
            requiretls: false,
            accepted: Vec::new(),
            end: None,
        }
    }
}

enum Step {
    Continue,
    End(AttemptEnd),
}

/// The delivery plan of one message to one recipient domain.
#[derive(Debug, Clone)]
pub struct Plan {
    class: Class,
    learned: Option<LearnedLevel>,
    created: u64,
    cleartext_retry: bool,
    route: Route,
    sor_indeterminate: bool,
    slots: Vec<Slot>,
    /// The owned parts of the slots' attempts.
    arena: Arena,
    /// The slots' attempts as [`Plan::attempts`] shows them: made when
    /// first asked for, and again after a slot changed.
    shown: OnceLock<Vec<Attempt>>,
    /// How many slots the plan was built with (later ones are clear-text
    /// retries).
    built: usize,
    /// The next built slot to hand out.
    next_built: usize,
    /// Retries to hand out before it; the last one first.
    retries: Vec<usize>,
    active: Option<usize>,
    notes: Vec<Note>,
    verdicts: Verdicts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Hosts,
    NullMx,
    NxDomain,
    Unroutable,
    Indeterminate,
}

impl Plan {
    /// The plan for a message of `class` to the domain of `discovered`.
    pub fn new(discovered: &Discovered, class: Class, inputs: PlanInputs<'_>) -> Self {
        let cx = build::Context {
            discovered,
            class,
            config: inputs.config,
            learned: inputs.learned,
            sts: inputs.mta_sts.filter(|p| p.mode != MtaStsMode::None),
        };
        let mut arena = Arena::default();
        let (slots, mut notes) = build::build(&cx, &mut arena);
        let sor_indeterminate = discovered.sor_indeterminate();
        if sor_indeterminate {
            notes.push(Note::SorLookupIndeterminate);
        }
        let route = match &discovered.mx {
            MailRoute::Hosts(_) => Route::Hosts,
            MailRoute::NullMx => Route::NullMx,
            MailRoute::NxDomain => Route::NxDomain,
            MailRoute::Indeterminate(_) => {
                notes.push(Note::MxLookupIndeterminate);
                Route::Indeterminate
            }
            _ => Route::Unroutable,
        };
        let mut plan = Self {
            class,
            learned: inputs.learned,
            created: inputs.now,
            cleartext_retry: inputs.config.cleartext_retry,
            route,
            sor_indeterminate,
            built: slots.len(),
            next_built: 0,
            retries: Vec::new(),
            slots,
            arena,
            shown: OnceLock::new(),
            active: None,
            notes,
            verdicts: Verdicts::new(inputs.recipients),
        };
        plan.settle();
        plan
    }

    /// The message's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// When the plan was made (unix seconds, from [`PlanInputs::now`]).
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The next attempt to make, or `None` when the plan is finished.
    /// Call it at the start and after [`Progress::AttemptOver`]; an
    /// attempt still under way is given up (a temporary failure).
    #[must_use]
    pub fn next_attempt(&mut self) -> Option<Attempt> {
        if let Some(i) = self.active.take() {
            self.end_slot(
                i,
                AttemptEnd::Failed(Failure {
                    kind: FailureKind::Temporary,
                    cause: Cause::Abandoned,
                    reply: None,
                    cert: None,
                }),
            );
        }
        if self.is_finished() {
            return None;
        }
        let i = self.pop_queue()?;
        let slot = self.slots.get_mut(i)?;
        slot.attempt.recipients = self.arena.pending(&self.verdicts);
        self.shown.take();
        slot.state = SlotState::Active;
        self.active = Some(i);
        Some(self.arena.attempt(&slot.attempt))
    }

    /// Reports a step of attempt `id`. Steps for an attempt that already
    /// ended are ignored.
    pub fn report(
        &mut self,
        id: AttemptId,
        outcome: AttemptOutcome,
    ) -> Result<Progress, ReportError> {
        let i = id.0;
        let slot = self.slots.get(i).ok_or(ReportError::UnknownAttempt(id))?;
        match slot.state {
            SlotState::Planned => return Err(ReportError::NotStarted(id)),
            SlotState::Ended => return Ok(self.progress()),
            SlotState::Active => {}
        }
        match self.apply(i, outcome)? {
            Step::Continue => Ok(Progress::Continue),
            Step::End(end) => {
                if self.active == Some(i) {
                    self.active = None;
                }
                self.end_slot(i, end);
                Ok(self.progress())
            }
        }
    }

    /// The verdict for recipient `index`, once there is one.
    pub fn verdict(&self, index: usize) -> Option<&Verdict> {
        self.verdicts.get(index).and_then(Option::as_ref)
    }

    /// Every recipient's verdict so far, in order.
    pub fn verdicts(&self) -> &[Option<Verdict>] {
        &self.verdicts
    }

    /// Whether every recipient has a verdict.
    pub fn is_finished(&self) -> bool {
        self.verdicts.iter().all(Option::is_some)
    }

    /// Every attempt made or planned, in creation order, with how it
    /// ended.
    pub fn attempts(&self) -> impl Iterator<Item = (&Attempt, Option<&AttemptEnd>)> {
        let shown = self.shown.get_or_init(|| {
            self.slots
                .iter()
                .map(|s| self.arena.attempt(&s.attempt))
                .collect()
        });
        shown
            .iter()
            .zip(&self.slots)
            .map(|(a, s)| (a, s.end.as_ref()))
    }

    /// What the planner noticed: targets left out and why, MTA-STS
    /// `testing` mismatches, indeterminate look-ups.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    fn progress(&self) -> Progress {
        if self.is_finished() {
            Progress::Finished
        } else {
            Progress::AttemptOver
        }
    }

    /// The next slot to hand out: a pending retry, else the next built
    /// slot.
    fn pop_queue(&mut self) -> Option<usize> {
        if let Some(i) = self.retries.pop() {
            return Some(i);
        }
        let i = self.next_built;
        if i < self.built {
            self.next_built += 1;
            Some(i)
        } else {
            None
        }
    }

    fn queue_is_empty(&self) -> bool {
        self.retries.is_empty() && self.next_built >= self.built
    }

    fn end_slot(&mut self, i: usize, end: AttemptEnd) {
        if let Some(slot) = self.slots.get_mut(i) {
            slot.state = SlotState::Ended;
            slot.end = Some(end);
        }
        self.settle();
    }

    /// Gives the pending recipients their final verdict when nothing is
    /// left to try.
    fn settle(&mut self) {
        if self.is_finished() || self.active.is_some() || !self.queue_is_empty() {
            return;
        }
        let verdict = self.final_verdict();
        for v in self.verdicts.iter_mut().filter(|v| v.is_none()) {
            *v = Some(verdict.clone());
        }
    }

    fn apply(&mut self, i: usize, outcome: AttemptOutcome) -> Result<Step, ReportError> {
        let class = self.class;
        let cleartext_retry = self.cleartext_retry && class == Class::BestEffort;
        let slot = self
            .slots
            .get_mut(i)
            .ok_or(ReportError::UnknownAttempt(AttemptId(i)))?;
        let required = slot.attempt.tls == TlsRequirement::Required;
        // A definitive TLS failure is temporary when DANE, MTA-STS or the
        // learned level asked for TLS (see the module docs).
        let no_tls = match slot.attempt.policy {
            PolicySource::Dane | PolicySource::MtaSts | PolicySource::Learned => {
                FailureKind::Temporary
            }
            _ => FailureKind::NoTls,
        };
        let fail = |kind, cause, reply: Option<Reply<'static>>| {
            Ok(Step::End(AttemptEnd::Failed(Failure {
                kind,
                cause,
                reply,
                cert: None,
            })))
        };
        match outcome {
            AttemptOutcome::ConnectFailed => {
                fail(FailureKind::Temporary, Cause::ConnectFailed, None)
            }
            AttemptOutcome::Greeting(r) => {
                if r.is_positive_completion() {
                    slot.stage = slot.stage.max(Stage::Greeted);
                    Ok(Step::Continue)
                } else if r.code().get() == 421 {
                    fail(FailureKind::Temporary, Cause::ServiceClosing, Some(r))
                } else if r.is_permanent() {
                    fail(FailureKind::Permanent, Cause::SessionRejected, Some(r))
                } else {
                    fail(FailureKind::Temporary, Cause::SessionRejected, Some(r))
                }
            }
            AttemptOutcome::Capabilities { tls, requiretls } => {
                slot.stage = slot.stage.max(Stage::Greeted);
                // Only the EHLO after the handshake counts (RFC 3207 §4.2,
                // RFC 8689 §2).
                if tls && slot.tls.is_some() {
                    slot.requiretls = requiretls;
                    if let Some(t) = &mut slot.tls {
                        t.requiretls = requiretls;
                    }
                    if slot.attempt.require_tls && !requiretls {
                        return fail(
                            FailureKind::NoRequireTls,
                            Cause::RequireTlsNotAdvertised,
                            None,
                        );
                    }
                }
                Ok(Step::Continue)
            }
            AttemptOutcome::StartTlsNotOffered => {
                if required {
                    fail(no_tls, Cause::StartTlsNotOffered, None)
                } else {
                    Ok(Step::Continue)
                }
            }
            AttemptOutcome::StartTlsRefused(r) => {
                if !required {
                    Ok(Step::Continue)
                } else if r.is_permanent() {
                    fail(no_tls, Cause::StartTlsRefused, Some(r))
                } else {
                    fail(FailureKind::Temporary, Cause::StartTlsRefused, Some(r))
                }
            }
            AttemptOutcome::TlsEstablished {
                protocol,
                cipher_suite,
            } => {
                slot.stage = slot.stage.max(Stage::Secured);
                slot.requiretls = false;
                slot.tls = Some(TlsDetails {
                    protocol,
                    cipher_suite,
                    cert_check: slot.attempt.cert_check,
                    requiretls: false,
                });
                Ok(Step::Continue)
            }
            AttemptOutcome::HandshakeFailed(cert) => {
                let kind = if required && cert.is_certificate() {
                    no_tls
                } else {
                    FailureKind::Temporary
                };
                if slot.attempt.tls == TlsRequirement::Opportunistic
                    && cleartext_retry
                    && slot.attempt.role == Role::Mx
                {
                    let mut retry = slot.attempt.clone();
                    retry.id = AttemptId(self.slots.len());
                    retry.tls = TlsRequirement::None;
                    retry.cleartext_retry = true;
                    retry.recipients = Recipients::default();
                    self.slots.push(Slot::planned(retry));
                    self.shown.take();
                    self.retries.push(self.slots.len() - 1);
                }
                Ok(Step::End(AttemptEnd::Failed(Failure {
                    kind,
                    cause: Cause::Handshake,
                    reply: None,
                    cert: Some(cert),
                })))
            }
            AttemptOutcome::Injection => fail(FailureKind::Temporary, Cause::Injection, None),
            AttemptOutcome::RequireTlsNotAdvertised => {
                if slot.attempt.require_tls {
                    fail(
                        FailureKind::NoRequireTls,
                        Cause::RequireTlsNotAdvertised,
                        None,
                    )
                } else {
                    Ok(Step::Continue)
                }
            }
            AttemptOutcome::MailRejected(r) => {
                check_secure(slot)?;
                if r.code().get() == 530 && slot.tls.is_none() {
                    return fail(FailureKind::NoTls, Cause::TlsWanted, Some(r));
                }
                if r.is_positive() {
                    return Ok(Step::Continue);
                }
                let host = self.arena.host(slot.attempt.host).to_owned();
                let targets = self.arena.recipient_list(slot.attempt.recipients);
                for rcpt in targets {
                    self.answer(rcpt, &r, &host);
                }
                Ok(Step::End(AttemptEnd::Answered))
            }
            AttemptOutcome::Rcpt { index, reply } => {
                check_secure(slot)?;
                let rcpt = self
                    .arena
                    .recipient(slot.attempt.recipients, index)
                    .ok_or(ReportError::NoSuchRecipient(index))?;
                slot.stage = Stage::Transaction;
                if reply.is_positive_completion() {
                    if !slot.accepted.contains(&rcpt) {
                        slot.accepted.push(rcpt);
                    }
                    return Ok(Step::Continue);
                }
                let host = self.arena.host(slot.attempt.host).to_owned();
                let targets = self.arena.recipient_list(slot.attempt.recipients);
                let accepted = slot.accepted.clone();
                self.answer(rcpt, &reply, &host);
                let open = targets
                    .iter()
                    .any(|r| accepted.contains(r) || self.verdict(*r).is_none());
                Ok(if open {
                    Step::Continue
                } else {
                    Step::End(AttemptEnd::Answered)
                })
            }
            AttemptOutcome::Data(reply) => {
                check_secure(slot)?;
                let accepted = std::mem::take(&mut slot.accepted);
                let host = self.arena.host(slot.attempt.host).to_owned();
                if accepted.is_empty() {
                    return Ok(Step::End(AttemptEnd::Answered));
                }
                if reply.is_positive_completion() {
                    let level = level_of(&slot.attempt, slot.tls.as_ref());
                    let tls = slot.tls;
                    for rcpt in accepted {
                        if let Some(v @ None) = self.verdicts.get_mut(rcpt) {
                            *v = Some(Verdict::Delivered {
                                host: host.clone(),
                                tls,
                                level,
                                reply: reply.clone(),
                            });
                        }
                    }
                    Ok(Step::End(AttemptEnd::Delivered))
                } else {
                    for rcpt in accepted {
                        self.answer(rcpt, &reply, &host);
                    }
                    Ok(Step::End(AttemptEnd::Answered))
                }
            }
            AttemptOutcome::ServiceClosing(r) => {
                fail(FailureKind::Temporary, Cause::ServiceClosing, Some(r))
            }
            AttemptOutcome::Timeout(k) => fail(FailureKind::Temporary, Cause::Timeout(k), None),
            AttemptOutcome::ConnectionLost => {
                fail(FailureKind::Temporary, Cause::ConnectionLost, None)
            }
            AttemptOutcome::ProtocolError => fail(FailureKind::Temporary, Cause::Protocol, None),
        }
    }

    /// A server's `4xx`/`5xx` for one recipient: defer or bounce it.
    fn answer(&mut self, rcpt: usize, reply: &Reply<'static>, host: &str) {
        let Some(v @ None) = self.verdicts.get_mut(rcpt) else {
            return;
        };
        *v = Some(if reply.is_permanent() {
            Verdict::Bounce {
                status: reply
                    .enhanced()
                    .filter(|e| e.class() == 5)
                    .unwrap_or(PERMANENT),
                reason: Reason::Reply,
                diagnostic: Some(reply.clone()),
                remote_host: Some(host.to_owned()),
            }
        } else {
            Verdict::Defer {
                status: reply
                    .enhanced()
                    .filter(|e| e.class() == 4)
                    .unwrap_or(TRANSIENT),
                reason: Reason::Reply,
                reply: Some(reply.clone()),
                host: Some(host.to_owned()),
            }
        });
    }

    /// The verdict for recipients still pending when every attempt was
    /// made.
    fn final_verdict(&self) -> Verdict {
        // The failed attempts in order, and the temporary failures among
        // them (iterators, walked again where needed).
        let failures = || {
            self.slots.iter().filter_map(|s| match &s.end {
                Some(AttemptEnd::Failed(f)) => Some((s, f)),
                _ => None,
            })
        };
        let temporary = || {
            failures()
                .filter(|(_, f)| f.kind == FailureKind::Temporary && f.cause != Cause::Abandoned)
        };
        let skipped = |reason: SkipReason| {
            self.notes
                .iter()
                .any(|n| matches!(n, Note::Skipped { reason: r, .. } if *r == reason))
        };
        let defer =
            |status, reason, reply: Option<Reply<'static>>, host: Option<String>| Verdict::Defer {
                status,
                reason,
                reply,
                host,
            };

        // An indeterminate look-up never causes a bounce.
        if self.sor_indeterminate || self.route == Route::Indeterminate {
            return defer(DNS_FAILURE, Reason::DnsIndeterminate, None, None);
        }
        let abandoned = failures().any(|(_, f)| f.cause == Cause::Abandoned);
        let temp_skip = self
            .notes
            .iter()
            .any(|n| matches!(n, Note::Skipped { reason, .. } if reason.is_temporary()));
        if temporary().next().is_some() || temp_skip || abandoned {
            let tls_by = |p: PolicySource| {
                temporary().any(|(s, f)| s.attempt.policy == p && f.cause.is_tls())
            };
            if let Some(learned) = self.learned
                && (skipped(SkipReason::BelowLearnedLevel) || tls_by(PolicySource::Learned))
            {
                return defer(
                    EnhancedCode::SECURITY_TEMPORARY,
                    Reason::DowngradeRefused { learned },
                    None,
                    None,
                );
            }
            if skipped(SkipReason::MtaStsMismatch) || tls_by(PolicySource::MtaSts) {
                return defer(EnhancedCode::SECURITY_TEMPORARY, Reason::MtaSts, None, None);
            }
            if skipped(SkipReason::TlsaLookupFailed) || tls_by(PolicySource::Dane) {
                return defer(EnhancedCode::SECURITY_TEMPORARY, Reason::Dane, None, None);
            }
            // The failure of the attempt that got furthest says most.
            let Some((slot, f)) = temporary().max_by_key(|(s, _)| s.stage) else {
                let reason = if skipped(SkipReason::AddressLookupFailed) {
                    Reason::DnsIndeterminate
                } else {
                    Reason::Unreachable
                };
                let status = if reason == Reason::DnsIndeterminate {
                    DNS_FAILURE
                } else {
                    NO_ANSWER
                };
                return defer(status, reason, None, None);
            };
            let host = Some(self.arena.host(slot.attempt.host).to_owned());
            let reply_status = |fallback| {
                f.reply
                    .as_ref()
                    .and_then(Reply::enhanced)
                    .filter(|e| e.class() == 4)
                    .unwrap_or(fallback)
            };
            let (status, reason) = match f.cause {
                Cause::ConnectFailed | Cause::Timeout(_) | Cause::Protocol | Cause::Abandoned => {
                    (NO_ANSWER, Reason::Unreachable)
                }
                Cause::ConnectionLost => (BAD_CONNECTION, Reason::Unreachable),
                Cause::ServiceClosing | Cause::SessionRejected => {
                    (reply_status(TRANSIENT), Reason::SessionRejected)
                }
                _ => (
                    reply_status(EnhancedCode::SECURITY_TEMPORARY),
                    Reason::TlsFailed,
                ),
            };
            return defer(status, reason, f.reply.clone(), host);
        }

        // Every attempt failed for good.
        let tls_failure = failures()
            .rev()
            .find(|(_, f)| matches!(f.kind, FailureKind::NoTls | FailureKind::NoRequireTls));
        let requiretls_refused = self.class == Class::RequireTls
            && (skipped(SkipReason::RouteNotAuthenticated) || tls_failure.is_some());
        if requiretls_refused {
            let (reply, host) = tls_failure
                .map(|(s, f)| {
                    let host = self.arena.host(s.attempt.host).to_owned();
                    (f.reply.clone(), Some(host))
                })
                .unwrap_or((None, None));
            return Verdict::Bounce {
                status: EnhancedCode::REQUIRETLS_NEEDED,
                reason: Reason::RequireTlsNotSupported,
                diagnostic: reply,
                remote_host: host,
            };
        }
        if let Some((s, f)) = tls_failure {
            return Verdict::Bounce {
                status: EnhancedCode::SECURITY_NOT_SUPPORTED,
                reason: Reason::NoSecureReceiver,
                diagnostic: f.reply.clone(),
                remote_host: Some(self.arena.host(s.attempt.host).to_owned()),
            };
        }
        if let Some((s, f)) = failures()
            .rev()
            .find(|(_, f)| f.kind == FailureKind::Permanent)
        {
            return Verdict::Bounce {
                status: f
                    .reply
                    .as_ref()
                    .and_then(Reply::enhanced)
                    .filter(|e| e.class() == 5)
                    .unwrap_or(PERMANENT),
                reason: Reason::SessionRejected,
                diagnostic: f.reply.clone(),
                remote_host: Some(self.arena.host(s.attempt.host).to_owned()),
            };
        }
        let (status, reason) = match self.route {
            Route::NullMx => (EnhancedCode::NULL_MX, Reason::NullMx),
            Route::NxDomain => (BAD_DESTINATION, Reason::NxDomain),
            _ => (NO_ROUTE, Reason::NoRoute),
        };
        Verdict::Bounce {
            status,
            reason,
            diagnostic: None,
            remote_host: None,
        }
    }
}

/// Refuses a transaction step on a connection that does not meet the
/// attempt's requirement.
fn check_secure(slot: &Slot) -> Result<(), ReportError> {
    if slot.attempt.tls == TlsRequirement::Required && slot.tls.is_none() {
        return Err(ReportError::TlsNotEstablished);
    }
    if slot.attempt.require_tls && !slot.requiretls {
        return Err(ReportError::RequireTlsNotConfirmed);
    }
    Ok(())
}

/// The learned level a delivery on `attempt` reached.
fn level_of(attempt: &Planned, tls: Option<&TlsDetails>) -> LearnedLevel {
    match tls {
        None => LearnedLevel::None,
        Some(_) if attempt.role == Role::Sor => LearnedLevel::SorPresent,
        Some(t) if t.cert_check >= CertCheck::Verify => LearnedLevel::VerifiedTls,
        Some(_) => LearnedLevel::Tls,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use secmx_dns::hickory_proto::rr::{Name, RData, Record, RecordType, rdata};
    use secmx_dns::{Config, Discovery};

    use super::*;

    /// `d.example` with two MX hosts, each with one IPv4 address.
    fn discovered() -> Discovered {
        let answer = |query: &[u8]| {
            let request = Message::from_vec(query).expect("own query decodes");
            let question = request.queries[0].clone();
            let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
            let owner = question.name().clone();
            let host = |s: &str| Name::from_ascii(s).expect("valid name");
            let data = match (owner.to_ascii().as_str(), question.query_type()) {
                ("d.example.", RecordType::MX) => vec![
                    RData::MX(rdata::MX::new(10, host("mx1.d.example."))),
                    RData::MX(rdata::MX::new(20, host("mx2.d.example."))),
                ],
                ("mx1.d.example.", RecordType::A) => {
                    vec![RData::A(rdata::A(Ipv4Addr::new(192, 0, 2, 1)))]
                }
                ("mx2.d.example.", RecordType::A) => {
                    vec![RData::A(rdata::A(Ipv4Addr::new(192, 0, 2, 2)))]
                }
                _ => Vec::new(),
            };
            if data.is_empty() {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            for d in data {
                reply.add_answer(Record::from_rdata(owner.clone(), 300, d));
            }
            reply.add_query(question);
            reply.to_vec().expect("reply encodes")
        };
        let now = Instant::now();
        let mut discovery = Discovery::new("d.example", Config::default()).expect("valid domain");
        loop {
            while let Some(q) = discovery.poll_query(now) {
                discovery
                    .handle_response(now, &answer(&q.bytes))
                    .expect("answers match their queries");
            }
            if let Some(result) = discovery.poll_result() {
                return result;
            }
        }
    }

    /// The attempts the plan shows follow it: an attempt handed out shows
    /// its recipients, and a clear-text retry (DESIGN.md, best effort)
    /// shows up after the failed handshake that made it.
    #[test]
    fn attempts_show_what_was_handed_out() {
        let d = discovered();
        let config = PlanConfig::default();
        let inputs = PlanInputs::new(&config, 0).recipients(2);
        let mut plan = Plan::new(&d, Class::BestEffort, inputs);
        let hosts: Vec<(String, Vec<usize>)> = plan
            .attempts()
            .map(|(a, _)| (a.host.clone(), a.recipients.clone()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("mx1.d.example".to_owned(), Vec::new()),
                ("mx2.d.example".to_owned(), Vec::new())
            ]
        );

        let first = plan.next_attempt().expect("mx1");
        assert_eq!(first.recipients, [0, 1]);
        assert_eq!(first.addresses, [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))]);
        let shown = plan.attempts().next().map(|(a, _)| a.clone());
        assert_eq!(shown.as_ref(), Some(&first));

        let progress = plan
            .report(
                first.id,
                AttemptOutcome::HandshakeFailed(CertFailure::Handshake),
            )
            .expect("reported");
        assert_eq!(progress, Progress::AttemptOver);
        let retry = plan.next_attempt().expect("clear-text retry of mx1");
        assert!(retry.cleartext_retry);
        assert_eq!(retry.tls, TlsRequirement::None);
        assert_eq!(
            (retry.host.as_str(), retry.id.index()),
            ("mx1.d.example", 2)
        );
        assert_eq!(retry.recipients, [0, 1]);
        let shown: Vec<Attempt> = plan.attempts().map(|(a, _)| a.clone()).collect();
        assert_eq!(shown.len(), 3);
        assert_eq!(shown.get(2), Some(&retry));
        assert!(matches!(
            plan.attempts().next().and_then(|(_, end)| end),
            Some(AttemptEnd::Failed(Failure {
                cause: Cause::Handshake,
                ..
            }))
        ));
    }

    fn reply(code: u16) -> Reply<'static> {
        Reply::new(
            secmx_core::ReplyCode::new(code).expect("valid code"),
            None,
            "text",
        )
    }

    /// RFC 5321 §3.3: a recipient refused at RCPT is not sent to again; the
    /// next attempt lists the others, in order, whether or not they are
    /// numbered without a gap.
    #[test]
    fn rfc5321_3_3_next_attempt_lists_the_pending_recipients() {
        let d = discovered();
        let config = PlanConfig::default();
        for (refused, rest) in [(1, vec![0, 2]), (0, vec![1, 2]), (2, vec![0, 1])] {
            let inputs = PlanInputs::new(&config, 0).recipients(3);
            let mut plan = Plan::new(&d, Class::BestEffort, inputs);
            let first = plan.next_attempt().expect("mx1");
            assert_eq!(first.recipients, [0, 1, 2]);
            for outcome in [
                AttemptOutcome::Greeting(reply(220)),
                AttemptOutcome::Rcpt {
                    index: refused,
                    reply: reply(550),
                },
            ] {
                assert_eq!(plan.report(first.id, outcome), Ok(Progress::Continue));
            }
            assert_eq!(
                plan.report(first.id, AttemptOutcome::ConnectionLost),
                Ok(Progress::AttemptOver)
            );
            let second = plan.next_attempt().expect("mx2");
            assert_eq!(second.host, "mx2.d.example");
            assert_eq!(second.recipients, rest);
            let shown = plan.attempts().nth(1).map(|(a, _)| a.recipients.clone());
            assert_eq!(shown, Some(rest.clone()));
            let index = rest.len() - 1;
            assert_eq!(
                plan.report(
                    second.id,
                    AttemptOutcome::Rcpt {
                        index,
                        reply: reply(550)
                    }
                ),
                Ok(Progress::Continue)
            );
            assert!(plan.verdict(rest[index]).is_some_and(|v| !v.is_delivered()));
            assert_eq!(
                plan.report(
                    second.id,
                    AttemptOutcome::Rcpt {
                        index: rest.len(),
                        reply: reply(250)
                    }
                ),
                Err(ReportError::NoSuchRecipient(rest.len()))
            );
        }
    }
}
