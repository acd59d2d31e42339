//! SMTP TLS Reporting (RFC 8460): an aggregator that counts every session
//! outcome per policy, and the JSON aggregate report (§4).
//!
//! The engine calls [`TlsRptAggregator::record`] once per TLS session
//! attempt (or [`TlsRptAggregator::record_many`]); at the end of the
//! reporting period (usually a UTC day, §4.1) the embedder asks for one
//! [`Report`] per policy domain with [`TlsRptAggregator::report`],
//! serializes it with [`Report::to_json`], sends it to the addresses of the
//! domain's `_smtp._tls` TXT record (§3, read by `secmx-dns`), and
//! [`TlsRptAggregator::clear`]s or [`TlsRptAggregator::remove_domain`]s.
//! The aggregator is serde data, so that it can survive a restart.
//!
//! # The report (RFC 8460 §4.4)
//!
//! ```text
//! {
//!   "organization-name": string,
//!   "date-range": { "start-datetime": RFC 3339, "end-datetime": RFC 3339 },
//!   "contact-info": string,
//!   "report-id": string,
//!   "policies": [{
//!     "policy": {
//!       "policy-type": "sts" / "tlsa" / "no-policy-found",
//!       "policy-string": [string, ...],      ; omitted when empty
//!       "policy-domain": string,
//!       "mx-host": [string, ...]             ; omitted when empty
//!     },
//!     "summary": {
//!       "total-successful-session-count": number,
//!       "total-failure-session-count": number
//!     },
//!     "failure-details": [{                  ; always present, maybe []
//!       "result-type": string,               ; §4.3
//!       "sending-mta-ip": string,            ; the optional fields are
//!       "receiving-mx-hostname": string,     ; omitted when unknown
//!       "receiving-mx-helo": string,
//!       "receiving-ip": string,
//!       "failed-session-count": number,
//!       "additional-information": URI,
//!       "failure-reason-code": string
//!     }]
//!   }]
//! }
//! ```
//!
//! # Choices where the RFC leaves room
//!
//! - `mx-host` is a JSON array, as §4.4 describes it; the example report in
//!   RFC 8460 Appendix B writes a single string instead.
//! - IP addresses are written in their canonical text form (RFC 5952 for
//!   IPv6: `2001:db8:abcd:12::1`, where the RFC's example has
//!   `2001:db8:abcd:0012::1`).
//! - One failure-details entry per distinct set of detail fields, in the
//!   order first seen; policies in the order first seen.
//! - At most [`MAX_FAILURE_DETAILS`] distinct entries per policy: failures
//!   past that still count in `total-failure-session-count` but get no
//!   entry of their own, so that a hostile or broken peer cannot grow the
//!   report without bound.
//! - Dates are UTC, `YYYY-MM-DDTHH:MM:SSZ`, from Unix seconds, clamped to
//!   the year 9999 (RFC 3339 §5.6 has four-digit years).

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most distinct failure-details entries kept per policy (see the module
/// docs).
pub const MAX_FAILURE_DETAILS: usize = 1000;

/// The last second RFC 3339 can write: 9999-12-31T23:59:59Z.
const MAX_RFC3339_UNIX: u64 = 253_402_300_799;

/// Which kind of policy a session was held to (RFC 8460 §4.4,
/// `policy-type`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyType {
    /// `sts`: an MTA-STS policy (RFC 8461).
    Sts,
    /// `tlsa`: DANE TLSA records (RFC 7672).
    Tlsa,
    /// `no-policy-found`: neither.
    NoPolicyFound,
    /// Another value, kept as written.
    Other(String),
}

impl PolicyType {
    /// The value as written in the report.
    pub fn as_str(&self) -> &str {
        match self {
            PolicyType::Sts => "sts",
            PolicyType::Tlsa => "tlsa",
            PolicyType::NoPolicyFound => "no-policy-found",
            PolicyType::Other(other) => other,
        }
    }

    /// The type for a value read from a report.
    pub fn from_name(name: &str) -> Self {
        match name {
            "sts" => PolicyType::Sts,
            "tlsa" => PolicyType::Tlsa,
            "no-policy-found" => PolicyType::NoPolicyFound,
            other => PolicyType::Other(other.to_owned()),
        }
    }
}

/// Why a session failed (RFC 8460 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResultType {
    /// `starttls-not-supported`: the receiver did not offer STARTTLS
    /// (§4.3.1).
    StarttlsNotSupported,
    /// `certificate-host-mismatch`: the certificate does not name the host
    /// (§4.3.1).
    CertificateHostMismatch,
    /// `certificate-expired` (§4.3.1).
    CertificateExpired,
    /// `certificate-not-trusted`: no chain to a trusted root (§4.3.1).
    CertificateNotTrusted,
    /// `validation-failure`: any other negotiation failure (§4.3.1).
    ValidationFailure,
    /// `tlsa-invalid`: a TLSA record could not be used (§4.3.2.1).
    TlsaInvalid,
    /// `dnssec-invalid`: DNSSEC validation failed (§4.3.2.1).
    DnssecInvalid,
    /// `dane-required`: DANE was required and not available (§4.3.2.1).
    DaneRequired,
    /// `sts-policy-fetch-error`: the MTA-STS policy could not be fetched
    /// (§4.3.2.2).
    StsPolicyFetchError,
    /// `sts-policy-invalid`: the MTA-STS policy did not parse (§4.3.2.2).
    StsPolicyInvalid,
    /// `sts-webpki-invalid`: the MTA-STS policy host's certificate did not
    /// validate (§4.3.2.2).
    StsWebpkiInvalid,
    /// Another value, kept as written.
    Other(String),
}

impl ResultType {
    /// The value as written in the report.
    pub fn as_str(&self) -> &str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
            ResultType::Other(other) => other,
        }
    }

    /// The type for a value read from a report.
    pub fn from_name(name: &str) -> Self {
        match name {
            "starttls-not-supported" => ResultType::StarttlsNotSupported,
            "certificate-host-mismatch" => ResultType::CertificateHostMismatch,
            "certificate-expired" => ResultType::CertificateExpired,
            "certificate-not-trusted" => ResultType::CertificateNotTrusted,
            "validation-failure" => ResultType::ValidationFailure,
            "tlsa-invalid" => ResultType::TlsaInvalid,
            "dnssec-invalid" => ResultType::DnssecInvalid,
            "dane-required" => ResultType::DaneRequired,
            "sts-policy-fetch-error" => ResultType::StsPolicyFetchError,
            "sts-policy-invalid" => ResultType::StsPolicyInvalid,
            "sts-webpki-invalid" => ResultType::StsWebpkiInvalid,
            other => ResultType::Other(other.to_owned()),
        }
    }
}

macro_rules! string_serde {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Ok(Self::from_name(&name))
            }
        }
    };
}

string_serde!(PolicyType);
string_serde!(ResultType);

/// The policy a session was held to (RFC 8460 §4.4, `policy`). Sessions
/// with equal `PolicyRef`s are counted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyRef {
    /// `sts`, `tlsa` or `no-policy-found`.
    pub policy_type: PolicyType,
    /// The policy as text: the MTA-STS policy lines, or the TLSA records
    /// in presentation form. Empty for `no-policy-found`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_string: Vec<String>,
    /// The domain the policy is for: the recipient domain.
    pub policy_domain: String,
    /// The MX host names or patterns the policy names (MTA-STS `mx:`
    /// values), or the MX hosts the TLSA records were for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mx_host: Vec<String>,
}

impl PolicyRef {
    /// A `no-policy-found` reference for `policy_domain`.
    pub fn no_policy_found(policy_domain: impl Into<String>) -> Self {
        Self {
            policy_type: PolicyType::NoPolicyFound,
            policy_string: Vec::new(),
            policy_domain: policy_domain.into(),
            mx_host: Vec::new(),
        }
    }

    /// An `sts` reference for an MTA-STS policy: its lines as they would be
    /// written (`version: STSv1`, `mode: …`, each `mx: …`, `max_age: …`)
    /// and its `mx` patterns.
    pub fn sts(policy_domain: impl Into<String>, policy: &crate::mta_sts::MtaStsPolicy) -> Self {
        let mx_host: Vec<String> = policy.mx.iter().map(ToString::to_string).collect();
        let mut policy_string = Vec::with_capacity(mx_host.len() + 3);
        policy_string.push("version: STSv1".to_owned());
        policy_string.push(format!("mode: {}", policy.mode));
        policy_string.extend(mx_host.iter().map(|mx| format!("mx: {mx}")));
        policy_string.push(format!("max_age: {}", policy.max_age));
        Self {
            policy_type: PolicyType::Sts,
            policy_string,
            policy_domain: policy_domain.into(),
            mx_host,
        }
    }
}

/// The details of one failed session (RFC 8460 §4.4, a `failure-details`
/// entry without its count). Sessions with equal `Failure`s share an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Failure {
    /// Why it failed (§4.3).
    pub result_type: ResultType,
    /// The sending MTA's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_mta_ip: Option<IpAddr>,
    /// The receiving MX host's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx_hostname: Option<String>,
    /// The name the receiving MX gave in its greeting or EHLO reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_mx_helo: Option<String>,
    /// The receiving MX host's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_ip: Option<IpAddr>,
    /// A URI with more information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<String>,
    /// A free-form reason code (such as a TLS library's error name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason_code: Option<String>,
}

impl Failure {
    /// A failure with only its result type; fill the rest with struct
    /// update syntax (`Failure { receiving_ip: Some(ip), ..Failure::new(t) }`).
    pub fn new(result_type: ResultType) -> Self {
        Self {
            result_type,
            sending_mta_ip: None,
            receiving_mx_hostname: None,
            receiving_mx_helo: None,
            receiving_ip: None,
            additional_information: None,
            failure_reason_code: None,
        }
    }
}

/// How one session ended, as TLS-RPT counts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionResult {
    /// TLS was negotiated and the policy held.
    Success,
    /// It did not.
    Failure(Failure),
}

/// A failure-details entry (RFC 8460 §4.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureDetail {
    /// The details.
    #[serde(flatten)]
    pub failure: Failure,
    /// How many sessions failed so.
    pub failed_session_count: u64,
}

/// The session counts of one policy (RFC 8460 §4.4, `summary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Summary {
    /// Sessions that succeeded.
    pub total_successful_session_count: u64,
    /// Sessions that failed.
    pub total_failure_session_count: u64,
}

/// One policy's part of a report (RFC 8460 §4.4, a `policies` entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyReport {
    /// The policy.
    pub policy: PolicyRef,
    /// The counts.
    pub summary: Summary,
    /// The failures, one entry per distinct set of details.
    #[serde(default)]
    pub failure_details: Vec<FailureDetail>,
}

/// The period a report covers (RFC 8460 §4.4, `date-range`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DateRange {
    /// The first second covered, RFC 3339.
    pub start_datetime: String,
    /// The last second covered, RFC 3339.
    pub end_datetime: String,
}

impl DateRange {
    /// The range from `start` to `end`, in Unix seconds (UTC). For a day
    /// report, `end` is the day's last second (`start + 86399`), as in the
    /// RFC's example.
    pub fn from_unix(start: u64, end: u64) -> Self {
        Self {
            start_datetime: rfc3339_utc(start),
            end_datetime: rfc3339_utc(end),
        }
    }
}

/// An aggregate report for one policy domain (RFC 8460 §4.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    /// Who sends the report.
    pub organization_name: String,
    /// The period covered.
    pub date_range: DateRange,
    /// An address or URI to contact the sender about the report.
    pub contact_info: String,
    /// A unique identifier of this report.
    pub report_id: String,
    /// The policies and their counts.
    pub policies: Vec<PolicyReport>,
}

impl Report {
    /// The report as compact JSON (RFC 8460 §4.4; media type
    /// `application/tlsrpt+json`, §6.4).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .expect("a Report is strings, numbers, arrays and string-keyed objects only")
    }
}

/// Counts sessions per policy over a reporting period (RFC 8460 §4).
///
/// Memory grows with the distinct policies seen in the period, and with the
/// distinct failure details per policy up to [`MAX_FAILURE_DETAILS`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsRptAggregator {
    policies: Vec<PolicyReport>,
}

impl TlsRptAggregator {
    /// An empty aggregator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one session held to `policy` that ended in `result`.
    pub fn record(&mut self, policy: &PolicyRef, result: &SessionResult) {
        self.record_many(policy, result, 1);
    }

    /// Counts `sessions` sessions held to `policy` that all ended in
    /// `result`. Counts saturate at `u64::MAX`.
    pub fn record_many(&mut self, policy: &PolicyRef, result: &SessionResult, sessions: u64) {
        if sessions == 0 {
            return;
        }
        let at = match self.policies.iter().position(|p| p.policy == *policy) {
            Some(at) => at,
            None => {
                self.policies.push(PolicyReport {
                    policy: policy.clone(),
                    summary: Summary::default(),
                    failure_details: Vec::new(),
                });
                self.policies.len() - 1
            }
        };
        let Some(entry) = self.policies.get_mut(at) else {
            return;
        };
        match result {
            SessionResult::Success => {
                let total = &mut entry.summary.total_successful_session_count;
                *total = total.saturating_add(sessions);
            }
            SessionResult::Failure(failure) => {
                let total = &mut entry.summary.total_failure_session_count;
                *total = total.saturating_add(sessions);
                let details = &mut entry.failure_details;
                if let Some(detail) = details.iter_mut().find(|d| d.failure == *failure) {
                    detail.failed_session_count =
                        detail.failed_session_count.saturating_add(sessions);
                } else if details.len() < MAX_FAILURE_DETAILS {
                    details.push(FailureDetail {
                        failure: failure.clone(),
                        failed_session_count: sessions,
                    });
                }
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policy domains with counts, each once, in the order first seen.
    pub fn policy_domains(&self) -> Vec<&str> {
        let mut domains: Vec<&str> = Vec::new();
        for p in &self.policies {
            let domain = p.policy.policy_domain.as_str();
            if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                domains.push(domain);
            }
        }
        domains
    }

    /// The report for `policy_domain` (compared without regard to ASCII
    /// case), or `None` when nothing was recorded for it.
    pub fn report(
        &self,
        policy_domain: &str,
        organization_name: &str,
        contact_info: &str,
        report_id: &str,
        date_range: DateRange,
    ) -> Option<Report> {
        let policies: Vec<PolicyReport> = self
            .policies
            .iter()
            .filter(|p| p.policy.policy_domain.eq_ignore_ascii_case(policy_domain))
            .cloned()
            .collect();
        if policies.is_empty() {
            return None;
        }
        Some(Report {
            organization_name: organization_name.to_owned(),
            date_range,
            contact_info: contact_info.to_owned(),
            report_id: report_id.to_owned(),
            policies,
        })
    }

    /// Forgets the counts for `policy_domain` (once its report was sent).
    pub fn remove_domain(&mut self, policy_domain: &str) {
        self.policies
            .retain(|p| !p.policy.policy_domain.eq_ignore_ascii_case(policy_domain));
    }

    /// Forgets every count (at the start of a new period).
    pub fn clear(&mut self) {
        self.policies.clear();
    }
}

/// Formats Unix seconds as an RFC 3339 UTC date-time,
/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 §5.6), clamped to
/// 9999-12-31T23:59:59Z.
pub fn rfc3339_utc(unix: u64) -> String {
    let unix = unix.min(MAX_RFC3339_UNIX);
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01, computed over
/// 400-year eras of 146097 days (each era starts on a 1 March).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that the leap day ends a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Counts the TLS sessions of a finished (or partly run) delivery plan into
/// `aggregator` (RFC 8460 §4): each attempt that required TLS and got as far
/// as STARTTLS is one session, held to the policy that required it — `tlsa`
/// for DANE, `sts` for an MTA-STS policy (pass the policy the plan was made
/// with), `no-policy-found` for SecMX discovery and local rules.
///
/// A session that delivered or was answered over required TLS is a success;
/// one that failed at STARTTLS or in the handshake is a failure with the
/// §4.3 result type (`starttls-not-supported`, or the certificate reason
/// from [`CertFailure`](crate::verify::CertFailure)). Attempts that never
/// reached STARTTLS (no connection, a refused greeting) and opportunistic
/// attempts are not TLS sessions a policy governed, and are not counted.
pub fn record_plan(
    aggregator: &mut TlsRptAggregator,
    plan: &crate::plan::Plan,
    policy_domain: &str,
    mta_sts: Option<&crate::mta_sts::MtaStsPolicy>,
) {
    use crate::plan::{AttemptEnd, Cause, PolicySource};
    use secmx_core::client::TlsRequirement;

    for (attempt, end) in plan.attempts() {
        let Some(end) = end else { continue };
        if attempt.tls != TlsRequirement::Required {
            continue;
        }
        let result = match end {
            AttemptEnd::Delivered | AttemptEnd::Answered => SessionResult::Success,
            AttemptEnd::Failed(failure) => {
                let result_type = match failure.cause {
                    Cause::StartTlsNotOffered | Cause::StartTlsRefused => {
                        ResultType::StarttlsNotSupported
                    }
                    Cause::Handshake => match &failure.cert {
                        Some(cert) => ResultType::from_name(cert.result_type()),
                        None => ResultType::ValidationFailure,
                    },
                    _ => continue,
                };
                let mut detail = Failure::new(result_type);
                detail.receiving_mx_hostname = Some(attempt.host.clone());
                detail.receiving_ip = attempt.addresses.first().copied();
                SessionResult::Failure(detail)
            }
        };
        let policy = match (attempt.policy, mta_sts) {
            (PolicySource::Dane, _) => tlsa_policy(policy_domain, attempt),
            (PolicySource::MtaSts, Some(sts)) => PolicyRef::sts(policy_domain, sts),
            _ => PolicyRef::no_policy_found(policy_domain),
        };
        aggregator.record(&policy, &result);
    }
}

/// A `tlsa` reference: the attempt's TLSA records in presentation form.
fn tlsa_policy(policy_domain: &str, attempt: &crate::plan::Attempt) -> PolicyRef {
    let policy_string = attempt
        .tlsa
        .iter()
        .flat_map(|set| set.records.iter())
        .map(|r| {
            let mut text = format!(
                "{} {} {} ",
                u8::from(r.usage),
                u8::from(r.selector),
                u8::from(r.matching)
            );
            for byte in &r.data {
                text.push_str(&format!("{byte:02x}"));
            }
            text
        })
        .collect();
    PolicyRef {
        policy_type: PolicyType::Tlsa,
        policy_string,
        policy_domain: policy_domain.to_owned(),
        mx_host: vec![attempt.host.clone()],
    }
}
