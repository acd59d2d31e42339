//! The policy engine: which messages must travel only over TLS (the local
//! rules, RFC 8689 §4–§5 for REQUIRETLS and `TLS-Required: No`), which
//! targets to try in what order with what TLS requirement, the verdict
//! per recipient, and the bounce (RFC 3464 DSN): the C face of
//! [`secmx_policy`].
//!
//! - [`secmx_rules`]: the rules from their TOML text
//!   ([`secmx_rules_new_toml`]), and [`secmx_rules_classify`], which gives
//!   a message its class: best effort (BES), secure only (SOS) or
//!   REQUIRETLS.
//! - [`secmx_plan`]: the delivery plan of one message to one recipient
//!   domain, from a `const secmx_discovered *` and the class.
//!
//! # Run loop
//!
//! ```text
//! secmx_plan_new(discovered, class, recipients, now_unix, flags, &plan)
//!   │
//!   ▼
//! secmx_plan_next_attempt(plan, &attempt) ── SECMX_RESULT_NOTHING ─► done
//!   ▲        │ connect to attempt.host's addresses (secmx_plan_attempt_address),
//!   │        │ secmx_client_new(tls, ehlo, attempt.tls_requirement, attempt.host, …)
//!   │        ▼
//!   │   for each client event: secmx_plan_report_client_event(plan, attempt.id, &ev, &progress)
//!   │   (or secmx_plan_report with a typed secmx_attempt_outcome: CONNECT_FAILED, …)
//!   │        │ CONTINUE: go on (on READY send to the attempt's recipients,
//!   │        │           secmx_plan_attempt_recipient, in that order)
//!   └─────── │ ATTEMPT_OVER: quit the session, next attempt
//!            │ FINISHED: quit the session; every recipient has a verdict
//!            ▼
//! secmx_plan_verdict(plan, i, &verdict)   DELIVERED | DEFER | BOUNCE (status, reason)
//! secmx_plan_dsn(plan, …)                 the DSN bytes for the bounced recipients
//! ```
//!
//! # Reporting outcomes
//!
//! Two ways, one meaning. [`secmx_plan_report`] takes a typed
//! [`secmx_attempt_outcome`] (kind, reply code and text, recipient index,
//! TLS details, the certificate check's verdict): it can say everything
//! the plan understands, including what no session event says (the TCP
//! connection failed). [`secmx_plan_report_client_event`] takes an event
//! polled from the attempt's `secmx_client` as it is, so a caller can hand
//! every event to the plan in the session's drain loop; events that say
//! nothing to the plan (`READY`, a `CLOSED` after QUIT) answer
//! `SECMX_RESULT_NOTHING`.
//!
//! A `CLOSED` event by an error carries a result code and a text, not the
//! Rust error: `SECMX_RESULT_STARTTLS_FAILED` is read by its text (the
//! four STARTTLS failures of `secmx-core`, whose texts a unit test pins),
//! `SECMX_RESULT_TLS_ERROR` becomes a handshake failure *not* blamed on
//! the certificate (so a temporary failure, a deferral, never a bounce).
//! A caller that knows the certificate check's verdict reports it typed.
//!
//! # Ownership
//!
//! `secmx_rules_new_toml` and `secmx_plan_new` store owned pointers freed
//! with `secmx_rules_free` and `secmx_plan_free`. The plan copies what it
//! needs from the `secmx_discovered`, which may be freed at once. Strings
//! in [`secmx_attempt`] and [`secmx_verdict`] are borrowed from the plan
//! and valid until [`secmx_plan_free`] (a verdict, once given, never
//! changes).

use std::ffi::{CString, c_char};
use std::net::IpAddr;

use secmx_core::client::{TimeoutKind, TlsRequirement};
use secmx_core::rustls::{CipherSuite, ProtocolVersion};
use secmx_core::{ClientError, EnhancedCode, Reply, ReplyCode, Verb};
use secmx_dns::Convention;
use secmx_policy::dsn::{DsnBuilder, DsnError};
use secmx_policy::plan::{
    Attempt, AttemptId, AttemptOutcome, Plan, PlanConfig, PlanInputs, PolicySource, Progress,
    Reason, ReportError, Role, Verdict,
};
use secmx_policy::rules::{self, MessageFacts, RuleSet};
use secmx_policy::verify::CertFailure;
use secmx_policy::{CertCheck, Class};

use crate::client::{
    SECMX_CAP_REQUIRETLS, secmx_client_close_reason, secmx_client_event, secmx_client_event_kind,
    secmx_tls_requirement, secmx_tls_skip_reason,
};
use crate::discovery::{
    SECMX_CONVENTION_MX_51966, SECMX_CONVENTION_NAMING, SECMX_CONVENTION_SECMX_RR,
    SECMX_CONVENTION_SRV, secmx_discovered, secmx_ip_address,
};
use crate::error::secmx_result;
use crate::ffi::{self, Handle};

/// How a message must travel; passed as a `uint32_t`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_class {
    /// Best effort sender (BES): secure only receivers first, then the MX
    /// hosts with opportunistic STARTTLS.
    BestEffort = 0,
    /// Secure only sender (SOS): only over TLS with the required
    /// certificate check; no secure receiver means a bounce with `5.7.4`.
    SecureOnly = 1,
    /// A REQUIRETLS message (RFC 8689): over verified TLS to hops that
    /// offer REQUIRETLS, or a bounce with `5.7.30`.
    RequireTls = 2,
}

/// Why a message got its class, in [`secmx_classification`].
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_class_reason {
    /// No rule matched: the configured `default`.
    Default = 0,
    /// `REQUIRETLS` on `MAIL FROM` (RFC 8689 §4).
    Requiretls = 1,
    /// A `TLS-Required: No` header field (RFC 8689 §5).
    TlsRequiredNo = 2,
    /// The `[[rule]]` at `rule_index` matched.
    Rule = 3,
    /// A reason this version of the C API does not map.
    Other = 255,
}

/// The class of a message, from [`secmx_rules_classify`].
#[repr(C)]
pub struct secmx_classification {
    /// How the message must travel.
    pub class: secmx_class,
    /// Why.
    pub reason: secmx_class_reason,
    /// `SECMX_CLASS_REASON_RULE`: the rule's place among the `[[rule]]`
    /// tables, from 0; otherwise 0.
    pub rule_index: usize,
}

/// The role of an attempt's target.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_attempt_role {
    /// A secure only receiver found by the SecMX discovery.
    Sor = 0,
    /// An ordinary MX host (or the implicit MX).
    Mx = 1,
    /// A role this version of the C API does not map.
    Other = 255,
}

/// The certificate check an attempt's TLS must pass.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_cert_check {
    /// Any certificate (the handshake signature is still checked).
    Encrypt = 0,
    /// A chain to trusted roots and a name match for `host`.
    Verify = 1,
    /// DANE (RFC 7672): the target's authenticated TLSA records decide.
    Dane = 2,
    /// A check this version of the C API does not map.
    Other = 255,
}

/// Which source decided an attempt's TLS requirement and check
/// (precedence: DANE > MTA-STS > SecMX discovery > learned level > local
/// rules).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_policy_source {
    /// DANE (RFC 7672).
    Dane = 0,
    /// MTA-STS `enforce` (RFC 8461).
    MtaSts = 1,
    /// The SecMX discovery (a SOR target).
    Secmx = 2,
    /// The learned level of the domain.
    Learned = 3,
    /// The local rules (the message's class).
    Local = 4,
    /// A source this version of the C API does not map.
    Other = 255,
}

/// The plan does not retry an MX host in clear after a failed
/// opportunistic handshake (best effort only).
pub const SECMX_PLAN_NO_CLEARTEXT_RETRY: u32 = 1 << 0;
/// The plan leaves out IPv4 addresses.
pub const SECMX_PLAN_NO_IPV4: u32 = 1 << 1;
/// The plan leaves out IPv6 addresses.
pub const SECMX_PLAN_NO_IPV6: u32 = 1 << 2;

const PLAN_FLAGS: u32 = SECMX_PLAN_NO_CLEARTEXT_RETRY | SECMX_PLAN_NO_IPV4 | SECMX_PLAN_NO_IPV6;

/// One attempt of a plan, from [`secmx_plan_next_attempt`]. Its strings
/// are borrowed from the plan.
#[repr(C)]
pub struct secmx_attempt {
    /// Names the attempt in reports.
    pub id: usize,
    /// The host to connect to, and the name its certificate must match
    /// (the `server_name` of `secmx_client_new`).
    pub host: *const c_char,
    /// The port.
    pub port: u16,
    /// How many addresses (IPv6 first): try them in turn with
    /// [`secmx_plan_attempt_address`]; when none answers, report
    /// `SECMX_OUTCOME_KIND_CONNECT_FAILED`.
    pub address_count: usize,
    /// SOR or MX host.
    pub role: secmx_attempt_role,
    /// The `tls_requirement` for `secmx_client_new`.
    pub tls_requirement: secmx_tls_requirement,
    /// The certificate check the handshake must pass.
    pub cert_check: secmx_cert_check,
    /// Send with `SECMX_MAIL_REQUIRETLS`; the server must offer
    /// REQUIRETLS after TLS.
    pub require_tls: bool,
    /// SOR targets: the `SECMX_CONVENTION_*` bits that named it.
    pub conventions: u32,
    /// What decided the requirement and check.
    pub policy: secmx_policy_source,
    /// The clear-text retry of an MX host after a failed handshake.
    pub cleartext_retry: bool,
    /// The route to the target was DNSSEC-authenticated.
    pub authenticated: bool,
    /// How many of the plan's recipients go in this attempt:
    /// [`secmx_plan_attempt_recipient`] names them, in the order to send.
    pub recipient_count: usize,
}

/// What an attempt reports, in [`secmx_attempt_outcome`] (one step of the
/// session, in session order).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_outcome_kind {
    /// No TCP connection to any of the addresses: temporary.
    ConnectFailed = 0,
    /// The greeting (`reply_*`); a `4xx`/`5xx` one, or EHLO refused, ends
    /// the attempt.
    Greeting = 1,
    /// The EHLO capabilities: `tls` (sent over TLS), `requiretls`
    /// (REQUIRETLS offered).
    Capabilities = 2,
    /// STARTTLS was not offered.
    StarttlsNotOffered = 3,
    /// STARTTLS was answered with something else than `220` (`reply_*`).
    StarttlsRefused = 4,
    /// The handshake finished: `tls_version`, `tls_cipher_suite`.
    TlsEstablished = 5,
    /// The handshake failed: `cert_failure`.
    HandshakeFailed = 6,
    /// Bytes after the `220` to STARTTLS (CVE-2021-38371).
    Injection = 7,
    /// The attempt needs REQUIRETLS and the server did not offer it.
    RequiretlsNotAdvertised = 8,
    /// MAIL was refused (`reply_*`).
    MailRejected = 9,
    /// The reply to RCPT for the attempt's recipient at
    /// `recipient_index` (`reply_*`).
    Rcpt = 10,
    /// The reply after the data, or to a refused DATA/BDAT (`reply_*`).
    Data = 11,
    /// `421` (`reply_*`).
    ServiceClosing = 12,
    /// A wait ran out (`timeout`).
    Timeout = 13,
    /// The connection ended unexpectedly.
    ConnectionLost = 14,
    /// The server broke the protocol.
    ProtocolError = 15,
}

/// Why a handshake failed, in [`secmx_attempt_outcome`]. Every value but
/// `HANDSHAKE` blames the certificate, which under a required check is a
/// definitive failure of that target.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_cert_failure {
    /// The handshake failed for a reason other than the certificate.
    Handshake = 0,
    /// No reference name matches the certificate.
    HostMismatch = 1,
    /// The certificate is outside its validity period.
    Expired = 2,
    /// The chain leads to no trusted anchor.
    NotTrusted = 3,
    /// DANE: no usable TLSA record matches the chain.
    TlsaMismatch = 4,
    /// DANE: the TLSA RRset is broken.
    TlsaInvalid = 5,
    /// DANE is required but there are no authenticated TLSA records.
    DaneRequired = 6,
    /// A signature does not verify.
    BadSignature = 7,
    /// Any other certificate defect.
    Invalid = 8,
}

/// Which wait ran out, in [`secmx_attempt_outcome`] (RFC 5321
/// §4.5.3.2). Every time-out is a temporary failure; the kind is kept
/// for the record.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_timeout_kind {
    /// The `220` greeting.
    Greeting = 0,
    /// The reply to a command (recorded as the reply to EHLO).
    Command = 1,
    /// The TLS handshake.
    TlsHandshake = 2,
    /// The data, or the reply after it.
    Data = 3,
}

/// One step of an attempt, for [`secmx_plan_report`]. Filled by the
/// caller; fields that do not apply to `kind` are ignored (zero them).
#[repr(C)]
pub struct secmx_attempt_outcome {
    /// What happened.
    pub kind: secmx_outcome_kind,
    /// The reply code (200–599) for the kinds with `reply_*`.
    pub reply_code: u16,
    /// The reply's enhanced status code (`"5.7.1"`), or NULL or `""`.
    pub reply_enhanced: *const c_char,
    /// The reply's text, or NULL for none.
    pub reply_text: *const c_char,
    /// `RCPT`: the recipient's place in the attempt's recipients.
    pub recipient_index: usize,
    /// `CAPABILITIES`: sent over TLS.
    pub tls: bool,
    /// `CAPABILITIES`: REQUIRETLS offered.
    pub requiretls: bool,
    /// `TLS_ESTABLISHED`: the TLS version (0x0303, 0x0304).
    pub tls_version: u16,
    /// `TLS_ESTABLISHED`: the IANA number of the cipher suite.
    pub tls_cipher_suite: u16,
    /// `HANDSHAKE_FAILED`: why.
    pub cert_failure: secmx_cert_failure,
    /// `TIMEOUT`: which wait.
    pub timeout: secmx_timeout_kind,
}

/// [`secmx_attempt_outcome`] as read from C: the same layout, with every
/// enum a `u32` and every `bool` a `u8`, so that a value C put there that
/// is no variant is an error, not undefined behaviour.
#[repr(C)]
struct RawOutcome {
    kind: u32,
    reply_code: u16,
    reply_enhanced: *const c_char,
    reply_text: *const c_char,
    recipient_index: usize,
    tls: u8,
    requiretls: u8,
    tls_version: u16,
    tls_cipher_suite: u16,
    cert_failure: u32,
    timeout: u32,
}

const _: () = {
    assert!(size_of::<RawOutcome>() == size_of::<secmx_attempt_outcome>());
    assert!(align_of::<RawOutcome>() == align_of::<secmx_attempt_outcome>());
};

/// What to do after a report.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_progress {
    /// Go on with this attempt.
    Continue = 0,
    /// This attempt is over: quit its session (do not send the message on
    /// it) and call [`secmx_plan_next_attempt`].
    AttemptOver = 1,
    /// Every recipient has a verdict: quit the session.
    Finished = 2,
}

/// The outcome for one recipient, in [`secmx_verdict`].
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_verdict_kind {
    /// The server took the message.
    Delivered = 1,
    /// Not now: keep it queued and try again later.
    Defer = 2,
    /// Never: return it to the sender ([`secmx_plan_dsn`]).
    Bounce = 3,
    /// A verdict this version of the C API does not map.
    Other = 255,
}

/// Why a message was deferred or bounced, in [`secmx_verdict`].
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_verdict_reason {
    /// Delivered.
    None = 0,
    /// The receiving server's reply decided (`reply_*`).
    Reply = 1,
    /// No receiver takes it over TLS with the required check (`5.7.4`).
    NoSecureReceiver = 2,
    /// No hop takes the REQUIRETLS message (`5.7.30`).
    RequiretlsNotSupported = 3,
    /// Null MX (`5.1.10`, RFC 7505).
    NullMx = 4,
    /// The domain does not exist (`5.1.2`).
    Nxdomain = 5,
    /// No usable mail route (`5.4.4`).
    NoRoute = 6,
    /// A DNS look-up failed temporarily.
    DnsIndeterminate = 7,
    /// Delivering below the domain's learned level would be a downgrade.
    DowngradeRefused = 8,
    /// MTA-STS `enforce`: no allowed host took it.
    MtaSts = 9,
    /// DANE authentication or its TLSA look-up failed.
    Dane = 10,
    /// No server could be reached.
    Unreachable = 11,
    /// TLS failed for a temporary reason.
    TlsFailed = 12,
    /// The servers refused the session.
    SessionRejected = 13,
    /// A reason this version of the C API does not map (`reason_text`).
    Other = 255,
}

/// The verdict for one recipient, from [`secmx_plan_verdict`]. String
/// fields are never NULL and are borrowed from the plan.
#[repr(C)]
pub struct secmx_verdict {
    /// Delivered, defer or bounce.
    pub kind: secmx_verdict_kind,
    /// The status class (2, 4 or 5, RFC 3463), subject and detail.
    pub status_class: u8,
    /// The status subject.
    pub status_subject: u16,
    /// The status detail.
    pub status_detail: u16,
    /// The status as text (`"5.7.4"`).
    pub status: *const c_char,
    /// Why.
    pub reason: secmx_verdict_reason,
    /// Why, in words, or `""` when delivered.
    pub reason_text: *const c_char,
    /// The host that took, refused or deferred it, or `""`.
    pub host: *const c_char,
    /// The reply that decided, or 0.
    pub reply_code: u16,
    /// Its text, control characters escaped, or `""`.
    pub reply_text: *const c_char,
}

/// The DSN returns an original with 8-bit octets: send it with
/// `SECMX_MAIL_BODY_8BITMIME`.
pub const SECMX_DSN_8BITMIME: u32 = 1 << 0;
/// The DSN's `To:` is not ASCII: send it with `SECMX_MAIL_SMTPUTF8`.
pub const SECMX_DSN_SMTPUTF8: u32 = 1 << 1;
/// The message was a REQUIRETLS message: send the DSN with
/// `SECMX_MAIL_REQUIRETLS` (RFC 8689 §5).
pub const SECMX_DSN_REQUIRETLS: u32 = 1 << 2;

/// The local rules. Opaque; owned by the caller from
/// [`secmx_rules_new_toml`] until [`secmx_rules_free`]. Immutable: may be
/// shared by threads.
pub struct secmx_rules {
    _private: [u8; 0],
}

impl Handle for secmx_rules {
    const TAG: u64 = 0x5345_434d_5805_0001;
    type Inner = RuleSet;
}

/// The delivery plan of one message to one recipient domain. Opaque;
/// owned by the caller from [`secmx_plan_new`] until [`secmx_plan_free`].
pub struct secmx_plan {
    _private: [u8; 0],
}

impl Handle for secmx_plan {
    const TAG: u64 = 0x5345_434d_5805_0002;
    type Inner = PlanState;
}

/// The Rust value behind a [`secmx_plan`]: the plan and the C strings
/// handed out from it.
pub(crate) struct PlanState {
    plan: Plan,
    recipients: usize,
    /// Every attempt handed out, by C id.
    attempts: Vec<AttemptText>,
    /// The verdicts' strings, filled once a verdict is given.
    verdicts: Vec<Option<VerdictText>>,
}

struct AttemptText {
    id: AttemptId,
    host: CString,
    addresses: Vec<(IpAddr, CString)>,
    recipients: Vec<usize>,
}

struct VerdictText {
    status: CString,
    reason: CString,
    host: CString,
    reply: CString,
}

impl PlanState {
    fn attempt(&self, id: usize) -> Result<&AttemptText, secmx_result> {
        self.attempts
            .iter()
            .find(|a| a.id.index() == id)
            .ok_or(secmx_result::UnknownAttempt)
    }

    /// Keeps the strings of verdicts given since the last call.
    fn fill_verdicts(&mut self) {
        for (slot, verdict) in self.verdicts.iter_mut().zip(self.plan.verdicts()) {
            if let (None, Some(verdict)) = (&slot, verdict) {
                *slot = Some(verdict_text(verdict));
            }
        }
    }

    fn report(
        &mut self,
        id: usize,
        outcome: AttemptOutcome,
    ) -> Result<secmx_progress, secmx_result> {
        let id = self.attempt(id)?.id;
        let progress = self.plan.report(id, outcome).map_err(|e| match e {
            ReportError::TlsNotEstablished => secmx_result::TlsNotEstablished,
            ReportError::RequireTlsNotConfirmed => secmx_result::RequiretlsNotConfirmed,
            ReportError::NoSuchRecipient(_) => secmx_result::NoSuchRecipient,
            _ => secmx_result::UnknownAttempt,
        })?;
        self.fill_verdicts();
        Ok(match progress {
            Progress::Continue => secmx_progress::Continue,
            Progress::AttemptOver => secmx_progress::AttemptOver,
            Progress::Finished => secmx_progress::Finished,
        })
    }
}

fn verdict_text(verdict: &Verdict) -> VerdictText {
    let (status, reason, host, reply) = match verdict {
        Verdict::Delivered { host, reply, .. } => (
            reply.enhanced().unwrap_or(EnhancedCode::OK).to_string(),
            String::new(),
            host.clone(),
            reply.text().into_owned(),
        ),
        Verdict::Defer {
            status,
            reason,
            reply,
            host,
        } => (
            status.to_string(),
            reason.to_string(),
            host.clone().unwrap_or_default(),
            reply
                .as_ref()
                .map(|r| r.text().into_owned())
                .unwrap_or_default(),
        ),
        Verdict::Bounce {
            status,
            reason,
            diagnostic,
            remote_host,
        } => (
            status.to_string(),
            reason.to_string(),
            remote_host.clone().unwrap_or_default(),
            diagnostic
                .as_ref()
                .map(|r| r.text().into_owned())
                .unwrap_or_default(),
        ),
        other => (
            String::new(),
            format!("{other:?}"),
            String::new(),
            String::new(),
        ),
    };
    VerdictText {
        status: ffi::c_string(&status),
        reason: ffi::c_string(&reason),
        host: ffi::c_string(&host),
        reply: ffi::c_string(&reply),
    }
}

/// Copies as much of `text` as fits, cut at a character boundary, and a
/// NUL into `buf`: for an error message, which is better cut than lost.
///
/// # Safety
///
/// `buf` is NULL or points to `len` writable bytes.
unsafe fn copy_truncated(text: &str, buf: *mut c_char, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let mut n = text.len().min(len - 1);
    while !text.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: `buf` has `len > n` writable bytes (the caller's promise);
    // `text` is Rust's own memory.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
}

/// Loads the local rules from their TOML text (`len` bytes of UTF-8; the
/// format is that of `secmx_policy::rules`: `default`,
/// `honor_tls_required_no` and `[[rule]]` tables). The bytes are read
/// during the call only.
///
/// On success `*out` holds an owned pointer; free it with
/// [`secmx_rules_free`]. On failure `*out` is NULL:
/// `SECMX_RESULT_CONFIG_ERROR` for bad TOML, an unknown key or a bad
/// value, whose message (`"line L, column C: what"`) is written to
/// `error_buf` when it is not NULL, NUL-terminated and cut to
/// `error_len` bytes (256 is plenty); `SECMX_RESULT_INVALID_ARGUMENT` for
/// text that is not UTF-8.
///
/// # Safety
///
/// `text` points to `len` readable bytes; `error_buf` is NULL or points
/// to `error_len` writable bytes; `out` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_rules_new_toml(
    text: *const u8,
    len: usize,
    error_buf: *mut c_char,
    error_len: usize,
    out: *mut *mut secmx_rules,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        // SAFETY: the caller's contract for `text` and `len`.
        let text = unsafe { ffi::bytes(text, len)? };
        let text = std::str::from_utf8(text).map_err(|_| secmx_result::InvalidArgument)?;
        let rules = RuleSet::from_toml(text).map_err(|e| {
            // SAFETY: the caller's contract for `error_buf`.
            unsafe { copy_truncated(&e.to_string(), error_buf, error_len) };
            secmx_result::ConfigError
        })?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, ffi::into_raw::<secmx_rules>(rules)) }
    })
}

/// Releases rules from [`secmx_rules_new_toml`]. NULL is a no-op.
///
/// # Safety
///
/// `rules` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_rules_free(rules: *mut secmx_rules) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(rules) })
}

/// Classifies a message for one recipient domain, written to `*out`.
///
/// - `requiretls`: `REQUIRETLS` was on `MAIL FROM` (RFC 8689 §4): the
///   class is REQUIRETLS whatever the rules say.
/// - `sender_domain`: the domain of the reverse-path; NULL for the null
///   reverse-path (`MAIL FROM:<>`).
/// - `recipient_domain`: the recipient domain being planned for.
/// - `headers`: the message's header section, `headers_len` bytes (the
///   whole message works too: reading stops at the first empty line).
///
/// # Safety
///
/// `rules` is live; the domains are NULL (the sender's only) or
/// NUL-terminated; `headers` points to `headers_len` readable bytes;
/// `out` points to a writable [`secmx_classification`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_rules_classify(
    rules: *const secmx_rules,
    requiretls: bool,
    sender_domain: *const c_char,
    recipient_domain: *const c_char,
    headers: *const u8,
    headers_len: usize,
    out: *mut secmx_classification,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract for the strings and the headers.
        let (sender_domain, recipient_domain, headers) = unsafe {
            (
                if sender_domain.is_null() {
                    None
                } else {
                    Some(ffi::string(sender_domain)?)
                },
                ffi::string(recipient_domain)?,
                ffi::bytes(headers, headers_len)?,
            )
        };
        let facts = MessageFacts {
            requiretls,
            sender_domain,
            recipient_domain,
            headers,
        };
        // SAFETY: the caller's contract for `rules`.
        let decision = unsafe { ffi::with_ref(rules, |r| Ok(r.classify(&facts)))? };
        let (reason, rule_index) = match decision.reason {
            rules::Reason::Default => (secmx_class_reason::Default, 0),
            rules::Reason::RequireTls => (secmx_class_reason::Requiretls, 0),
            rules::Reason::TlsRequiredNo => (secmx_class_reason::TlsRequiredNo, 0),
            rules::Reason::Rule { index, .. } => (secmx_class_reason::Rule, index),
            _ => (secmx_class_reason::Other, 0),
        };
        let class = match decision.class {
            Class::BestEffort => secmx_class::BestEffort,
            Class::SecureOnly => secmx_class::SecureOnly,
            _ => secmx_class::RequireTls,
        };
        // SAFETY: checked writable above.
        unsafe {
            ffi::write(
                out,
                secmx_classification {
                    class,
                    reason,
                    rule_index,
                },
            )
        }
    })
}

fn class(value: u32) -> Result<Class, secmx_result> {
    Ok(match value {
        v if v == secmx_class::BestEffort as u32 => Class::BestEffort,
        v if v == secmx_class::SecureOnly as u32 => Class::SecureOnly,
        v if v == secmx_class::RequireTls as u32 => Class::RequireTls,
        _ => return Err(secmx_result::InvalidArgument),
    })
}

/// The delivery plan of a message of class `class` (a [`secmx_class`])
/// for `recipients` recipients (1 or more) of the domain `discovered`
/// found. Attempts: the SOR targets in merge order, then the MX hosts in
/// preference order, each with its TLS requirement and certificate check.
///
/// - `now_unix`: now, in unix seconds (kept with the verdicts).
/// - `flags`: `SECMX_PLAN_*` bits (0 for the defaults).
///
/// The plan copies what it needs: `discovered` may be freed afterwards.
/// On success `*out` holds an owned pointer; free it with
/// [`secmx_plan_free`]. On failure `*out` is NULL:
/// `SECMX_RESULT_INVALID_ARGUMENT` for an unknown class or flag, or no
/// recipients.
///
/// # Safety
///
/// `discovered` is live; `out` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_new(
    discovered: *const secmx_discovered,
    class: u32,
    recipients: usize,
    now_unix: u64,
    flags: u32,
    out: *mut *mut secmx_plan,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        let class = self::class(class)?;
        if recipients == 0 || flags & !PLAN_FLAGS != 0 {
            return Err(secmx_result::InvalidArgument);
        }
        let mut config = PlanConfig::default();
        config.cleartext_retry = flags & SECMX_PLAN_NO_CLEARTEXT_RETRY == 0;
        config.ipv4 = flags & SECMX_PLAN_NO_IPV4 == 0;
        config.ipv6 = flags & SECMX_PLAN_NO_IPV6 == 0;
        let inputs = PlanInputs::new(&config, now_unix).recipients(recipients);
        // SAFETY: the caller's contract for `discovered`.
        let plan =
            unsafe { ffi::with_ref(discovered, |d| Ok(Plan::new(&d.result, class, inputs)))? };
        let mut state = PlanState {
            plan,
            recipients,
            attempts: Vec::new(),
            verdicts: (0..recipients).map(|_| None).collect(),
        };
        state.fill_verdicts();
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, ffi::into_raw::<secmx_plan>(state)) }
    })
}

/// Releases a plan from [`secmx_plan_new`]; every string borrowed from it
/// dies with it. NULL is a no-op.
///
/// # Safety
///
/// `plan` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_free(plan: *mut secmx_plan) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(plan) })
}

fn attempt_struct(attempt: &Attempt, text: &AttemptText) -> secmx_attempt {
    let conventions = [
        (Convention::SecmxRr, SECMX_CONVENTION_SECMX_RR),
        (Convention::Srv, SECMX_CONVENTION_SRV),
        (Convention::Mx51966, SECMX_CONVENTION_MX_51966),
        (Convention::Naming, SECMX_CONVENTION_NAMING),
    ]
    .into_iter()
    .filter(|(c, _)| attempt.conventions.contains(*c))
    .fold(0, |bits, (_, bit)| bits | bit);
    secmx_attempt {
        id: attempt.id.index(),
        host: text.host.as_ptr(),
        port: attempt.port,
        address_count: text.addresses.len(),
        role: match attempt.role {
            Role::Sor => secmx_attempt_role::Sor,
            Role::Mx => secmx_attempt_role::Mx,
            _ => secmx_attempt_role::Other,
        },
        tls_requirement: match attempt.tls {
            TlsRequirement::None => secmx_tls_requirement::None,
            TlsRequirement::Opportunistic => secmx_tls_requirement::Opportunistic,
            _ => secmx_tls_requirement::Required,
        },
        cert_check: match attempt.cert_check {
            CertCheck::Encrypt => secmx_cert_check::Encrypt,
            CertCheck::Verify => secmx_cert_check::Verify,
            CertCheck::Dane => secmx_cert_check::Dane,
            _ => secmx_cert_check::Other,
        },
        require_tls: attempt.require_tls,
        conventions,
        policy: match attempt.policy {
            PolicySource::Dane => secmx_policy_source::Dane,
            PolicySource::MtaSts => secmx_policy_source::MtaSts,
            PolicySource::Secmx => secmx_policy_source::Secmx,
            PolicySource::Learned => secmx_policy_source::Learned,
            PolicySource::Local => secmx_policy_source::Local,
            _ => secmx_policy_source::Other,
        },
        cleartext_retry: attempt.cleartext_retry,
        authenticated: attempt.authenticated,
        recipient_count: text.recipients.len(),
    }
}

/// The next attempt to make, written to `*out`: call it at the start and
/// after `SECMX_PROGRESS_ATTEMPT_OVER` (an attempt still under way is
/// given up, a temporary failure). `SECMX_RESULT_NOTHING` when the plan
/// is finished or has nothing more to try (the verdicts are then all
/// given). The strings are borrowed from the plan.
///
/// # Safety
///
/// `plan` is live; `out` points to a writable [`secmx_attempt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_next_attempt(
    plan: *mut secmx_plan,
    out: *mut secmx_attempt,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract for `plan`.
        let attempt = unsafe {
            ffi::with_mut(plan, |p| {
                let next = p.plan.next_attempt();
                p.fill_verdicts();
                let attempt = next.ok_or(secmx_result::Nothing)?;
                let text = AttemptText {
                    id: attempt.id,
                    host: ffi::c_string(&attempt.host),
                    addresses: attempt
                        .addresses
                        .iter()
                        .map(|a| (*a, ffi::c_string(&a.to_string())))
                        .collect(),
                    recipients: attempt.recipients.clone(),
                };
                let value = attempt_struct(&attempt, &text);
                p.attempts.push(text);
                Ok(value)
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, attempt) }
    })
}

/// The address at `index` of the attempt `attempt_id` (IPv6 first),
/// written to `*out`; its text is borrowed from the plan.
/// `SECMX_RESULT_UNKNOWN_ATTEMPT` for an attempt not handed out,
/// `SECMX_RESULT_INVALID_ARGUMENT` for an index past the end.
///
/// # Safety
///
/// `plan` is live; `out` points to a writable [`secmx_ip_address`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_attempt_address(
    plan: *const secmx_plan,
    attempt_id: usize,
    index: usize,
    out: *mut secmx_ip_address,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract for `plan`.
        let address = unsafe {
            ffi::with_ref(plan, |p| {
                let (address, text) = p
                    .attempt(attempt_id)?
                    .addresses
                    .get(index)
                    .ok_or(secmx_result::InvalidArgument)?;
                let mut octets = [0; 16];
                let family = match address {
                    IpAddr::V4(v4) => {
                        octets[..4].copy_from_slice(&v4.octets());
                        4
                    }
                    IpAddr::V6(v6) => {
                        octets = v6.octets();
                        6
                    }
                };
                Ok(secmx_ip_address {
                    family,
                    octets,
                    text: text.as_ptr(),
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, address) }
    })
}

/// The plan's recipient (an index into the caller's recipients of this
/// domain, from 0) at place `index` of the attempt `attempt_id`, written
/// to `*out`. Send to the attempt's recipients in this order: the
/// `recipient_index` of RCPT events and outcomes is the place.
/// `SECMX_RESULT_UNKNOWN_ATTEMPT`, or `SECMX_RESULT_NO_SUCH_RECIPIENT`
/// for an index past the end.
///
/// # Safety
///
/// `plan` is live; `out` points to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_attempt_recipient(
    plan: *const secmx_plan,
    attempt_id: usize,
    index: usize,
    out: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract for `plan`.
        let recipient = unsafe {
            ffi::with_ref(plan, |p| {
                p.attempt(attempt_id)?
                    .recipients
                    .get(index)
                    .copied()
                    .ok_or(secmx_result::NoSuchRecipient)
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, recipient) }
    })
}

/// A reply from its three C fields.
///
/// # Safety
///
/// The strings are NULL or NUL-terminated.
unsafe fn reply(
    code: u16,
    enhanced: *const c_char,
    text: *const c_char,
) -> Result<Reply<'static>, secmx_result> {
    let code = ReplyCode::new(code).ok_or(secmx_result::InvalidArgument)?;
    let enhanced = if enhanced.is_null() {
        None
    } else {
        // SAFETY: the caller's contract.
        let enhanced = unsafe { ffi::string(enhanced)? };
        if enhanced.is_empty() {
            None
        } else {
            match EnhancedCode::parse_prefix(enhanced.as_bytes()) {
                Some((code, n)) if n == enhanced.len() => Some(code),
                _ => return Err(secmx_result::InvalidArgument),
            }
        }
    };
    let text = if text.is_null() {
        ""
    } else {
        // SAFETY: the caller's contract.
        unsafe { ffi::string(text)? }
    };
    Ok(Reply::new(code, enhanced, text.to_owned()))
}

fn cert_failure(value: u32) -> Result<CertFailure, secmx_result> {
    use secmx_cert_failure as C;
    Ok(match value {
        v if v == C::Handshake as u32 => CertFailure::Handshake,
        v if v == C::HostMismatch as u32 => CertFailure::HostMismatch,
        v if v == C::Expired as u32 => CertFailure::Expired,
        v if v == C::NotTrusted as u32 => CertFailure::NotTrusted,
        v if v == C::TlsaMismatch as u32 => CertFailure::TlsaMismatch,
        v if v == C::TlsaInvalid as u32 => CertFailure::TlsaInvalid,
        v if v == C::DaneRequired as u32 => CertFailure::DaneRequired,
        v if v == C::BadSignature as u32 => CertFailure::BadSignature,
        v if v == C::Invalid as u32 => CertFailure::Invalid,
        _ => return Err(secmx_result::InvalidArgument),
    })
}

fn timeout_kind(value: u32) -> Result<TimeoutKind, secmx_result> {
    use secmx_timeout_kind as T;
    Ok(match value {
        v if v == T::Greeting as u32 => TimeoutKind::Greeting,
        v if v == T::Command as u32 => TimeoutKind::Reply(Verb::Ehlo),
        v if v == T::TlsHandshake as u32 => TimeoutKind::TlsHandshake,
        v if v == T::Data as u32 => TimeoutKind::DataTermination,
        _ => return Err(secmx_result::InvalidArgument),
    })
}

/// The Rust outcome of a C one.
///
/// # Safety
///
/// The strings of `raw` are NULL or NUL-terminated.
unsafe fn outcome(raw: &RawOutcome) -> Result<AttemptOutcome, secmx_result> {
    use secmx_outcome_kind as K;
    // SAFETY: the caller's contract for the strings.
    let reply = || unsafe { reply(raw.reply_code, raw.reply_enhanced, raw.reply_text) };
    Ok(match raw.kind {
        k if k == K::ConnectFailed as u32 => AttemptOutcome::ConnectFailed,
        k if k == K::Greeting as u32 => AttemptOutcome::Greeting(reply()?),
        k if k == K::Capabilities as u32 => AttemptOutcome::Capabilities {
            tls: raw.tls != 0,
            requiretls: raw.requiretls != 0,
        },
        k if k == K::StarttlsNotOffered as u32 => AttemptOutcome::StartTlsNotOffered,
        k if k == K::StarttlsRefused as u32 => AttemptOutcome::StartTlsRefused(reply()?),
        k if k == K::TlsEstablished as u32 => AttemptOutcome::TlsEstablished {
            protocol: ProtocolVersion::from(raw.tls_version),
            cipher_suite: CipherSuite::from(raw.tls_cipher_suite),
        },
        k if k == K::HandshakeFailed as u32 => {
            AttemptOutcome::HandshakeFailed(cert_failure(raw.cert_failure)?)
        }
        k if k == K::Injection as u32 => AttemptOutcome::Injection,
        k if k == K::RequiretlsNotAdvertised as u32 => AttemptOutcome::RequireTlsNotAdvertised,
        k if k == K::MailRejected as u32 => AttemptOutcome::MailRejected(reply()?),
        k if k == K::Rcpt as u32 => AttemptOutcome::Rcpt {
            index: raw.recipient_index,
            reply: reply()?,
        },
        k if k == K::Data as u32 => AttemptOutcome::Data(reply()?),
        k if k == K::ServiceClosing as u32 => AttemptOutcome::ServiceClosing(reply()?),
        k if k == K::Timeout as u32 => AttemptOutcome::Timeout(timeout_kind(raw.timeout)?),
        k if k == K::ConnectionLost as u32 => AttemptOutcome::ConnectionLost,
        k if k == K::ProtocolError as u32 => AttemptOutcome::ProtocolError,
        _ => return Err(secmx_result::InvalidArgument),
    })
}

/// Reports one step of the attempt `attempt_id` (see
/// [`secmx_attempt_outcome`]); what to do next is written to
/// `*out_progress`. Steps for an attempt that already ended are ignored
/// (the progress still says where the plan stands).
///
/// Refused, the plan unchanged: `SECMX_RESULT_UNKNOWN_ATTEMPT` (not
/// handed out), `SECMX_RESULT_TLS_NOT_ESTABLISHED` and
/// `SECMX_RESULT_REQUIRETLS_NOT_CONFIRMED` (the message must not go on
/// this session: quit it), `SECMX_RESULT_NO_SUCH_RECIPIENT`,
/// `SECMX_RESULT_INVALID_ARGUMENT` (an unknown kind, failure or time-out
/// number, a reply code outside 200–599, a malformed enhanced code).
///
/// # Safety
///
/// `plan` is live; `outcome` points to a readable
/// [`secmx_attempt_outcome`] whose strings are NULL or NUL-terminated;
/// `out_progress` points to a writable [`secmx_progress`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_report(
    plan: *mut secmx_plan,
    attempt_id: usize,
    outcome: *const secmx_attempt_outcome,
    out_progress: *mut secmx_progress,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_progress)?;
        if outcome.is_null() {
            return Err(secmx_result::NullParameter);
        }
        let raw = outcome.cast::<RawOutcome>();
        if !raw.is_aligned() {
            return Err(secmx_result::InvalidArgument);
        }
        // SAFETY: non-NULL and aligned; the caller promised a readable
        // `secmx_attempt_outcome`, which has `RawOutcome`'s layout (checked
        // at compile time) with integer fields in place of enums and bools.
        let raw = unsafe { raw.read() };
        // SAFETY: the caller's contract for the strings.
        let outcome = unsafe { self::outcome(&raw)? };
        // SAFETY: the caller's contract for `plan`.
        let progress = unsafe { ffi::with_mut(plan, |p| p.report(attempt_id, outcome))? };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out_progress, progress) }
    })
}

/// [`secmx_client_event`] as read from C, enums and bools as integers
/// (see [`RawOutcome`]).
#[repr(C)]
struct RawClientEvent {
    kind: u32,
    reply_code: u16,
    reply_enhanced: *const c_char,
    reply_text: *const c_char,
    recipient_index: usize,
    tls: u8,
    capabilities: u32,
    size_limit: u64,
    tls_version: u16,
    tls_cipher_suite: u16,
    tls_cipher_suite_name: *const c_char,
    skip_reason: u32,
    close_reason: u32,
    error: u32,
    error_text: *const c_char,
    owned: *mut ffi::secmx_event_storage,
}

const _: () = {
    assert!(size_of::<RawClientEvent>() == size_of::<secmx_client_event>());
    assert!(align_of::<RawClientEvent>() == align_of::<secmx_client_event>());
};

/// The step a fatal client error stands for, from its result code and
/// text: the STARTTLS failures are told apart by their texts (pinned by
/// a unit test against `secmx-core`); a TLS error is a handshake failure
/// not blamed on the certificate (temporary: never a bounce).
fn closed_by_error(code: u32, text: &str) -> AttemptOutcome {
    let starttls = |e: &ClientError| text.starts_with(&error_prefix(e));
    if code == secmx_result::StarttlsFailed as u32 {
        if starttls(&ClientError::StartTlsNotOffered) {
            AttemptOutcome::StartTlsNotOffered
        } else if starttls(&ClientError::ResponseInjection) {
            AttemptOutcome::Injection
        } else {
            // Refused or a bad reply: the reply is not in the event; a
            // `4xx`-like answer keeps it temporary.
            AttemptOutcome::ProtocolError
        }
    } else if code == secmx_result::TlsError as u32 {
        AttemptOutcome::HandshakeFailed(CertFailure::Handshake)
    } else if code == secmx_result::Timeout as u32 {
        AttemptOutcome::Timeout(TimeoutKind::Greeting)
    } else if code == secmx_result::ConnectionLost as u32 {
        AttemptOutcome::ConnectionLost
    } else {
        AttemptOutcome::ProtocolError
    }
}

/// The text of `error` up to its first `:` (the fixed part).
fn error_prefix(error: &ClientError) -> String {
    let text = error.to_string();
    match text.split_once(':') {
        Some((head, _)) => head.to_owned(),
        None => text,
    }
}

/// The step a C client event stands for; `None` for events that say
/// nothing to the plan.
///
/// # Safety
///
/// The strings of `ev` are NULL or NUL-terminated.
unsafe fn event_outcome(ev: &RawClientEvent) -> Result<Option<AttemptOutcome>, secmx_result> {
    use secmx_client_close_reason as C;
    use secmx_client_event_kind as E;
    use secmx_tls_skip_reason as S;
    // SAFETY: the caller's contract for the strings.
    let reply = || unsafe { reply(ev.reply_code, ev.reply_enhanced, ev.reply_text) };
    Ok(Some(match ev.kind {
        k if k == E::Greeting as u32 => AttemptOutcome::Greeting(reply()?),
        k if k == E::Capabilities as u32 => AttemptOutcome::Capabilities {
            tls: ev.tls != 0,
            requiretls: ev.capabilities & SECMX_CAP_REQUIRETLS != 0,
        },
        k if k == E::TlsEstablished as u32 => AttemptOutcome::TlsEstablished {
            protocol: ProtocolVersion::from(ev.tls_version),
            cipher_suite: CipherSuite::from(ev.tls_cipher_suite),
        },
        k if k == E::TlsSkipped as u32 => match ev.skip_reason {
            r if r == S::Refused as u32 || r == S::BadReply as u32 => {
                AttemptOutcome::StartTlsRefused(reply()?)
            }
            _ => AttemptOutcome::StartTlsNotOffered,
        },
        k if k == E::MailRejected as u32 => AttemptOutcome::MailRejected(reply()?),
        k if k == E::RcptAccepted as u32 || k == E::RcptRejected as u32 => AttemptOutcome::Rcpt {
            index: ev.recipient_index,
            reply: reply()?,
        },
        k if k == E::MessageAccepted as u32 || k == E::MessageRejected as u32 => {
            AttemptOutcome::Data(reply()?)
        }
        k if k == E::Closed as u32 => match ev.close_reason {
            r if r == C::Quit as u32 => return Ok(None),
            r if r == C::ServiceClosing as u32 => AttemptOutcome::ServiceClosing(reply()?),
            r if r == C::Rejected as u32 => AttemptOutcome::Greeting(reply()?),
            r if r == C::Error as u32 => {
                let text = if ev.error_text.is_null() {
                    ""
                } else {
                    // SAFETY: the caller's contract.
                    unsafe { ffi::string(ev.error_text)? }
                };
                closed_by_error(ev.error, text)
            }
            _ => AttemptOutcome::ConnectionLost,
        },
        k if k == E::None as u32 => return Err(secmx_result::InvalidArgument),
        _ => return Ok(None),
    }))
}

/// Reports an event polled from the attempt's `secmx_client` (before its
/// [`secmx_client_event_free`](crate::client::secmx_client_event_free)),
/// as [`secmx_plan_report`] does with a typed outcome.
/// `SECMX_RESULT_NOTHING` (and `*out_progress` = `CONTINUE`) for events
/// that say nothing to the plan: `READY`, `NO_RECIPIENTS_ACCEPTED`, a
/// `CLOSED` after QUIT. A `CLOSED` by a TLS error counts as a handshake
/// failure not blamed on the certificate (a deferral; see the module
/// docs). `SECMX_RESULT_INVALID_ARGUMENT` for an empty (`NONE`) event.
///
/// # Safety
///
/// `plan` is live; `event` points to an event filled by
/// `secmx_client_poll_event` and not freed; `out_progress` points to a
/// writable [`secmx_progress`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_report_client_event(
    plan: *mut secmx_plan,
    attempt_id: usize,
    event: *const secmx_client_event,
    out_progress: *mut secmx_progress,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_progress)?;
        if event.is_null() {
            return Err(secmx_result::NullParameter);
        }
        let raw = event.cast::<RawClientEvent>();
        if !raw.is_aligned() {
            return Err(secmx_result::InvalidArgument);
        }
        // SAFETY: non-NULL and aligned; the caller promised a readable
        // event, which has `RawClientEvent`'s layout (checked at compile
        // time) with integers in place of enums and bools.
        let raw = unsafe { raw.read() };
        // SAFETY: the event's strings are the event's own, NUL-terminated.
        let outcome = unsafe { event_outcome(&raw)? };
        // SAFETY: the caller's contract for `plan`.
        let (progress, result) = unsafe {
            ffi::with_mut(plan, |p| match outcome {
                Some(outcome) => Ok((p.report(attempt_id, outcome)?, secmx_result::Ok)),
                None => {
                    p.attempt(attempt_id)?;
                    Ok((secmx_progress::Continue, secmx_result::Nothing))
                }
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out_progress, progress)? };
        match result {
            secmx_result::Ok => Ok(()),
            other => Err(other),
        }
    })
}

/// Whether every recipient has a verdict. `false` for an invalid pointer.
///
/// # Safety
///
/// `plan` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_is_finished(plan: *const secmx_plan) -> bool {
    ffi::boundary(|| {
        // SAFETY: the caller's contract for `plan`.
        unsafe { ffi::with_ref(plan, |p| Ok(p.plan.is_finished())) }.unwrap_or(false)
    })
}

/// The verdict for recipient `index` (the caller's order, from 0),
/// written to `*out`; its strings are borrowed from the plan.
/// `SECMX_RESULT_NOT_READY` when it has none yet,
/// `SECMX_RESULT_NO_SUCH_RECIPIENT` for an index past the end.
///
/// # Safety
///
/// `plan` is live; `out` points to a writable [`secmx_verdict`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_verdict(
    plan: *const secmx_plan,
    index: usize,
    out: *mut secmx_verdict,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract for `plan`.
        let verdict = unsafe {
            ffi::with_ref(plan, |p| {
                if index >= p.recipients {
                    return Err(secmx_result::NoSuchRecipient);
                }
                let (verdict, text) = p
                    .plan
                    .verdict(index)
                    .zip(p.verdicts.get(index).and_then(Option::as_ref))
                    .ok_or(secmx_result::NotReady)?;
                Ok(verdict_struct(verdict, text))
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, verdict) }
    })
}

fn verdict_reason(reason: &Reason) -> secmx_verdict_reason {
    use secmx_verdict_reason as R;
    match reason {
        Reason::Reply => R::Reply,
        Reason::NoSecureReceiver => R::NoSecureReceiver,
        Reason::RequireTlsNotSupported => R::RequiretlsNotSupported,
        Reason::NullMx => R::NullMx,
        Reason::NxDomain => R::Nxdomain,
        Reason::NoRoute => R::NoRoute,
        Reason::DnsIndeterminate => R::DnsIndeterminate,
        Reason::DowngradeRefused { .. } => R::DowngradeRefused,
        Reason::MtaSts => R::MtaSts,
        Reason::Dane => R::Dane,
        Reason::Unreachable => R::Unreachable,
        Reason::TlsFailed => R::TlsFailed,
        Reason::SessionRejected => R::SessionRejected,
        _ => R::Other,
    }
}

fn verdict_struct(verdict: &Verdict, text: &VerdictText) -> secmx_verdict {
    let (kind, status, reason, reply) = match verdict {
        Verdict::Delivered { reply, .. } => (
            secmx_verdict_kind::Delivered,
            reply.enhanced().unwrap_or(EnhancedCode::OK),
            secmx_verdict_reason::None,
            Some(reply),
        ),
        Verdict::Defer {
            status,
            reason,
            reply,
            ..
        } => (
            secmx_verdict_kind::Defer,
            *status,
            verdict_reason(reason),
            reply.as_ref(),
        ),
        Verdict::Bounce {
            status,
            reason,
            diagnostic,
            ..
        } => (
            secmx_verdict_kind::Bounce,
            *status,
            verdict_reason(reason),
            diagnostic.as_ref(),
        ),
        _ => (
            secmx_verdict_kind::Other,
            EnhancedCode::SECURITY_TEMPORARY,
            secmx_verdict_reason::Other,
            None,
        ),
    };
    secmx_verdict {
        kind,
        status_class: status.class(),
        status_subject: status.subject(),
        status_detail: status.detail(),
        status: text.status.as_ptr(),
        reason,
        reason_text: text.reason.as_ptr(),
        host: text.host.as_ptr(),
        reply_code: reply.map_or(0, |r| r.code().get()),
        reply_text: text.reply.as_ptr(),
    }
}

/// The DSN (RFC 3464) for the recipients of this plan that bounced, and
/// with `include_delayed` also those deferred (`Action: delayed`), copied
/// whole into `buf` (CRLF line ends, not dot-stuffed; send it with the
/// null reverse-path `MAIL FROM:<>` to `sender`), its length in
/// `*out_len`; `*out_flags` (may be NULL) gets the `SECMX_DSN_*` bits.
///
/// - `reporting_mta`: this MTA's host name.
/// - `sender`: the original reverse-path, without angle brackets (`""`
///   for the null one, which gets `SECMX_RESULT_NULL_SENDER`: no DSN
///   about a DSN).
/// - `token`: unique per DSN (the queue id and a counter): the
///   Message-ID is `<token@reporting_mta>`.
/// - `recipients`: the addresses of the plan's recipients, in the plan's
///   order, `recipients_len` of them (as many as the plan has).
/// - `original`: the message as queued, `original_len` bytes; a DSN for a
///   REQUIRETLS message returns only its header (RFC 8689 §5).
/// - `now_unix`: the `Date`, in unix seconds.
///
/// `SECMX_RESULT_NOTHING` when no recipient is to be reported (delivered
/// or without a verdict); `SECMX_RESULT_BUFFER_TOO_SMALL` with the size
/// needed in `*out_len` (the same arguments give the same bytes);
/// `SECMX_RESULT_INVALID_ARGUMENT` for a count that is not the plan's or a
/// field that cannot be written into a header (CR, LF, `<`, `>` in an
/// address, a host name that is not a DNS name).
///
/// # Safety
///
/// `plan` is live; the strings are NUL-terminated; `recipients` points to
/// `recipients_len` such strings; `original` to `original_len` readable
/// bytes; `buf` to `len` writable bytes; `out_len` to a writable
/// `size_t`; `out_flags` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_plan_dsn(
    plan: *const secmx_plan,
    reporting_mta: *const c_char,
    sender: *const c_char,
    token: *const c_char,
    recipients: *const *const c_char,
    recipients_len: usize,
    include_delayed: bool,
    original: *const u8,
    original_len: usize,
    now_unix: u64,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
    out_flags: *mut u32,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_len)?;
        if !out_flags.is_null() {
            ffi::check_out(out_flags)?;
        }
        // SAFETY: the caller's contract for the strings and buffers.
        let (reporting_mta, sender, token, addresses, original) = unsafe {
            (
                ffi::string(reporting_mta)?,
                ffi::string(sender)?,
                ffi::string(token)?,
                ffi::pointers(recipients, recipients_len)?
                    .iter()
                    .map(|a| ffi::string(*a))
                    .collect::<Result<Vec<_>, _>>()?,
                ffi::bytes(original, original_len)?,
            )
        };
        // SAFETY: the caller's contract for `plan`.
        let dsn = unsafe {
            ffi::with_ref(plan, |p| {
                if addresses.len() != p.recipients {
                    return Err(secmx_result::InvalidArgument);
                }
                let entries: Vec<_> = addresses
                    .iter()
                    .enumerate()
                    .filter_map(|(i, address)| {
                        let verdict = p.plan.verdict(i)?;
                        match verdict {
                            Verdict::Bounce { .. } => verdict.dsn_recipient(address),
                            Verdict::Defer { .. } if include_delayed => {
                                verdict.dsn_recipient(address)
                            }
                            _ => None,
                        }
                    })
                    .collect();
                if entries.is_empty() {
                    return Err(secmx_result::Nothing);
                }
                DsnBuilder::new(reporting_mta, sender, token, now_unix)
                    .require_tls(p.plan.class() == Class::RequireTls)
                    .recipients(entries)
                    .build(original)
                    .map_err(|e| match e {
                        DsnError::NullSender => secmx_result::NullSender,
                        _ => secmx_result::InvalidArgument,
                    })
            })
        };
        let dsn = match dsn {
            Err(secmx_result::Nothing) => {
                // SAFETY: checked writable above.
                unsafe { ffi::write(out_len, 0)? };
                return Err(secmx_result::Nothing);
            }
            other => other?,
        };
        // SAFETY: the caller's contract for `buf`; `out_len` checked above.
        unsafe { ffi::copy_whole(&dsn.message, buf, len, out_len)? };
        if !out_flags.is_null() {
            let flags = [
                (dsn.eight_bit, SECMX_DSN_8BITMIME),
                (dsn.smtputf8, SECMX_DSN_SMTPUTF8),
                (dsn.require_tls, SECMX_DSN_REQUIRETLS),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .fold(0, |bits, (_, bit)| bits | bit);
            // SAFETY: checked writable above.
            unsafe { ffi::write(out_flags, flags)? };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The STARTTLS failures of a `CLOSED` event are told apart by their
    /// texts; this pins those texts to `secmx-core`'s (RFC 3207 §4: a
    /// server without STARTTLS under a required level is definitive, an
    /// injection is not).
    #[test]
    fn closed_event_texts_map_to_outcomes() {
        let code = secmx_result::StarttlsFailed as u32;
        let reply = Reply::new(
            ReplyCode::new(454).expect("a reply code"),
            None,
            "TLS not available",
        );
        let table = [
            (
                ClientError::StartTlsNotOffered,
                AttemptOutcome::StartTlsNotOffered,
            ),
            (ClientError::ResponseInjection, AttemptOutcome::Injection),
            (
                ClientError::StartTlsRefused(reply.clone()),
                AttemptOutcome::ProtocolError,
            ),
            (
                ClientError::StartTlsBadReply(reply),
                AttemptOutcome::ProtocolError,
            ),
        ];
        for (error, want) in table {
            assert_eq!(closed_by_error(code, &error.to_string()), want, "{error}");
        }
        assert_eq!(
            closed_by_error(secmx_result::TlsError as u32, "TLS handshake failed: x"),
            AttemptOutcome::HandshakeFailed(CertFailure::Handshake)
        );
    }

    #[test]
    fn error_messages_are_cut_at_a_character_boundary() {
        let mut buf = [0x7f as c_char; 5];
        // SAFETY: `buf` has 5 writable bytes.
        unsafe { copy_truncated("abé…", buf.as_mut_ptr(), buf.len()) };
        // "ab" + "é" (2 bytes) fit in 4; the NUL ends it.
        assert_eq!(buf.map(|b| b as u8), [b'a', b'b', 0xc3, 0xa9, 0]);
        let mut small = [0x7f as c_char; 3];
        // SAFETY: `small` has 3 writable bytes.
        unsafe { copy_truncated("abé", small.as_mut_ptr(), small.len()) };
        assert_eq!(small.map(|b| b as u8), [b'a', b'b', 0]);
    }
}
