//! The list of attempts, built once from a [`Discovered`] result.

use std::net::IpAddr;

use secmx_core::client::TlsRequirement;
use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::limits::MAX_NAME;
use secmx_dns::{Conventions, Discovered, MailRoute, MxHost, Purpose};

use super::{
    Arena, AttemptId, Note, PlanConfig, Planned, PolicySource, Recipients, Role, SkipReason, Slot,
    Span,
};
use crate::learned::LearnedLevel;
use crate::mta_sts::{MtaStsMode, MtaStsPolicy};
use crate::types::{CertCheck, Class};

/// What the attempt list is built from.
pub(super) struct Context<'a> {
    pub(super) discovered: &'a Discovered,
    pub(super) class: Class,
    pub(super) config: &'a PlanConfig,
    pub(super) learned: Option<LearnedLevel>,
    /// An MTA-STS policy in mode `enforce` or `testing`.
    pub(super) sts: Option<&'a MtaStsPolicy>,
}

/// One SOR target or MX host, before it becomes an attempt.
struct Target<'d> {
    name: &'d Name,
    /// The port discovery named (and looked TLSA up for).
    port: u16,
    role: Role,
    conventions: Conventions,
    certificate_flag: bool,
    authenticated: bool,
}

/// The MX hosts of a discovery result.
fn mx_hosts(d: &Discovered) -> &[MxHost] {
    match &d.mx {
        MailRoute::Hosts(hosts) => hosts,
        _ => &[],
    }
}

/// The SOR targets in merge order, then the MX hosts in preference order.
fn targets(d: &Discovered) -> impl Iterator<Item = Target<'_>> + Clone {
    let sors = d.sors.iter().map(|sor| Target {
        name: &sor.host,
        port: sor.port,
        role: Role::Sor,
        conventions: sor.conventions,
        certificate_flag: sor.certificate_flag,
        authenticated: sor.authenticated,
    });
    let hosts = mx_hosts(d).iter().map(|mx| Target {
        name: &mx.host,
        port: secmx_dns::limits::SMTP_PORT,
        role: Role::Mx,
        conventions: Conventions::new(),
        certificate_flag: false,
        authenticated: mx.authenticated,
    });
    sors.chain(hosts)
}

impl Target<'_> {
    /// The port is the SMTP default by convention, not by a record naming
    /// it (MX hosts, MX 51966, naming).
    fn implied_port(&self) -> bool {
        self.conventions.iter().all(|c| {
            matches!(
                c,
                secmx_dns::Convention::Mx51966 | secmx_dns::Convention::Naming
            )
        })
    }

    /// The port to connect to.
    fn connect_port(&self, config: &PlanConfig) -> u16 {
        match config.smtp_port {
            Some(p) if self.implied_port() => p,
            _ => self.port,
        }
    }
}

/// Whether two names give the same [`host_string`]: the same labels,
/// octet for octet (a final dot does not count).
fn same_host(a: &Name, b: &Name) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (x, y) = (a.iter(), b.iter());
    let n = x.len();
    // `take` stops without asking the iterators for their end.
    n == y.len() && x.take(n).eq(y.take(n))
}

/// The attempts in order, as planned slots with their owned parts in
/// `arena`, and what was left out and why.
pub(super) fn build(cx: &Context<'_>, arena: &mut Arena) -> (Vec<Slot>, Vec<Note>) {
    let d = cx.discovered;
    let all = targets(d);

    // TLSA look-ups that failed (RFC 7672 §2.2): rare, so the names are
    // only written out when there is one.
    let failed_tlsa: Vec<String> = d
        .lookups
        .iter()
        .filter(|l| l.purpose == Purpose::Tlsa && l.outcome.is_indeterminate())
        .map(|l| host_string(&l.name))
        .collect();

    let count = d.sors.len() + mx_hosts(d).len();
    let mut slots: Vec<Slot> = Vec::with_capacity(count);
    let mut notes = Vec::new();
    arena
        .hosts
        .reserve(all.clone().map(|t| t.name.len()).sum::<usize>());
    // Most hosts have an IPv4 and an IPv6 address.
    arena.addresses.reserve(2 * count);
    for (i, t) in all.clone().enumerate() {
        let port = t.connect_port(cx.config);
        // One attempt per host and port: an earlier target with both makes
        // this one a duplicate (whether or not that one was tried).
        let reason = if all
            .clone()
            .take(i)
            .any(|e| e.connect_port(cx.config) == port && same_host(e.name, t.name))
        {
            SkipReason::Duplicate
        } else {
            let start = arena.hosts.len();
            write_host(&mut arena.hosts, t.name);
            let host = Span::new(start, arena.hosts.len());
            match plan(cx, &t, (port, host), &failed_tlsa, arena, &mut notes) {
                Ok(mut planned) => {
                    planned.id = AttemptId(slots.len());
                    slots.push(Slot::planned(planned));
                    continue;
                }
                Err(reason) => {
                    arena.hosts.truncate(start);
                    reason
                }
            }
        };
        notes.push(Note::Skipped {
            host: host_string(t.name),
            port,
            role: t.role,
            reason,
        });
    }
    (slots, notes)
}

/// The attempt for target `t` (its host written to `arena` as
/// `host_span`), or why there is none.
fn plan(
    cx: &Context<'_>,
    t: &Target<'_>,
    (port, host_span): (u16, Span),
    failed_tlsa: &[String],
    arena: &mut Arena,
    notes: &mut Vec<Note>,
) -> Result<Planned, SkipReason> {
    let d = cx.discovered;
    let host = arena.hosts.get(host_span.range()).unwrap_or_default();
    let tlsa = d
        .tlsa(t.name, t.port)
        .filter(|set| set.usable().next().is_some());
    let sts_match = cx.sts.map(|p| p.mx_matches(host));
    let sts_enforce = cx.sts.is_some_and(MtaStsPolicy::is_enforced);
    let sts_testing = cx.sts.is_some_and(|p| p.mode == MtaStsMode::Testing);

    // RFC 8461 §4.1: under `enforce` a host the policy does not name is
    // not used, unless DANE decides for it (RFC 8461 §2).
    if sts_enforce && tlsa.is_none() && sts_match == Some(false) {
        return Err(SkipReason::MtaStsMismatch);
    }
    if sts_testing && sts_match == Some(false) {
        notes.push(Note::MtaStsTestingMismatch {
            host: host.to_owned(),
        });
    }

    // The requirement, by precedence: DANE > MTA-STS > SecMX > class.
    let (mut tls, mut check, mut policy) = if tlsa.is_some() {
        (
            TlsRequirement::Required,
            CertCheck::Dane,
            PolicySource::Dane,
        )
    } else if sts_enforce {
        (
            TlsRequirement::Required,
            CertCheck::Verify,
            PolicySource::MtaSts,
        )
    } else {
        match (t.role, cx.class) {
            (Role::Sor, Class::BestEffort) => {
                let check = if t.certificate_flag {
                    cx.config.sor_check_best_effort.max(CertCheck::Verify)
                } else {
                    cx.config.sor_check_best_effort
                };
                (TlsRequirement::Required, check, PolicySource::Secmx)
            }
            (Role::Sor, _) => {
                let check = if t.certificate_flag {
                    cx.config.sor_check_secure_only.max(CertCheck::Verify)
                } else {
                    cx.config.sor_check_secure_only
                };
                (TlsRequirement::Required, check, PolicySource::Secmx)
            }
            (Role::Mx, Class::BestEffort) => (
                TlsRequirement::Opportunistic,
                CertCheck::Encrypt,
                PolicySource::Local,
            ),
            (Role::Mx, _) => (
                TlsRequirement::Required,
                cx.config.mx_check_secure_only,
                PolicySource::Local,
            ),
        }
    };
    // A dane check is never weakened, so `max` keeps it.
    if cx.class == Class::RequireTls {
        check = check.max(CertCheck::Verify);
    }

    // The learned floor: raise what can be raised, leave out what
    // cannot reach it.
    if let Some(floor) = cx.learned
        && t.role == Role::Mx
    {
        match floor {
            LearnedLevel::SorPresent => {
                return Err(SkipReason::BelowLearnedLevel);
            }
            LearnedLevel::VerifiedTls
                if tls != TlsRequirement::Required || check == CertCheck::Encrypt =>
            {
                tls = TlsRequirement::Required;
                check = check.max(CertCheck::Verify);
                policy = PolicySource::Learned;
            }
            LearnedLevel::Tls if tls != TlsRequirement::Required => {
                tls = TlsRequirement::Required;
                policy = PolicySource::Learned;
            }
            _ => {}
        }
    }

    // RFC 8689 §4.2.1: the route to a REQUIRETLS hop is DNSSEC-
    // authenticated or named by an MTA-STS policy.
    if cx.class == Class::RequireTls
        && cx.config.requiretls_authenticated_route
        && !t.authenticated
        && sts_match != Some(true)
    {
        return Err(SkipReason::RouteNotAuthenticated);
    }

    if failed_tlsa.iter().any(|n| tlsa_owner_is(n, t.port, host)) {
        return Err(SkipReason::TlsaLookupFailed);
    }

    let addresses = addresses(d, t.name, cx.config, &mut arena.addresses)?;

    Ok(Planned {
        id: AttemptId(0),
        host: host_span,
        port,
        addresses,
        role: t.role,
        tls,
        cert_check: check,
        tlsa: tlsa.map(|set| {
            arena.tlsa.push(set.clone());
            arena.tlsa.len() - 1
        }),
        require_tls: cx.class == Class::RequireTls,
        conventions: t.conventions,
        policy,
        cleartext_retry: false,
        authenticated: t.authenticated,
        recipients: Recipients::default(),
    })
}

/// `host.example` from `host.example.` (names are lower case already):
/// [`Name::to_ascii`] without the final dot.
pub(super) fn host_string(name: &Name) -> String {
    let mut s = String::with_capacity(name.len());
    write_host(&mut s, name);
    s
}

/// Appends [`host_string`] of `name` to `out`.
fn write_host(out: &mut String, name: &Name) {
    if let Some(text) = plain_host(name, &mut [0; MAX_NAME]) {
        out.push_str(text);
        return;
    }
    let s = name.to_ascii();
    let s = match s.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => s.as_str(),
    };
    out.push_str(s);
}

/// The host of a name whose labels hold only letters, digits, `-` (not
/// first) and `_`, which hickory writes as they are, spelled out in
/// `buf`; `None` for other names (and the root).
fn plain_host<'b>(name: &Name, buf: &'b mut [u8; MAX_NAME]) -> Option<&'b str> {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let mut len = 0;
    let labels = name.iter();
    let n = labels.len();
    // `take` stops without asking the iterator for its end.
    for label in labels.take(n) {
        if label.first().is_none_or(|b| *b == b'-') || !label.iter().all(plain) {
            return None;
        }
        if len > 0 {
            *buf.get_mut(len)? = b'.';
            len += 1;
        }
        buf.get_mut(len..len + label.len())?.copy_from_slice(label);
        len += label.len();
    }
    if len == 0 {
        return None;
    }
    std::str::from_utf8(buf.get(..len)?).ok()
}

/// Whether `owner` is `_port._tcp.host`.
fn tlsa_owner_is(owner: &str, port: u16, host: &str) -> bool {
    let Some(rest) = owner.strip_prefix('_') else {
        return false;
    };
    let Some((p, rest)) = rest.split_once('.') else {
        return false;
    };
    p.parse::<u16>().ok() == Some(port)
        && rest
            .strip_prefix("_tcp.")
            .is_some_and(|h| h.eq_ignore_ascii_case(host))
}

/// The addresses of `name` to try, IPv6 first (RFC 6724 prefers it),
/// appended to `out`; why there are none otherwise.
fn addresses(
    d: &Discovered,
    name: &Name,
    config: &PlanConfig,
    out: &mut Vec<IpAddr>,
) -> Result<Span, SkipReason> {
    let Some(h) = d.addresses(name) else {
        // never looked up (the query limit was reached): unknown
        return Err(SkipReason::AddressLookupFailed);
    };
    let start = out.len();
    if config.ipv6 {
        out.extend(h.ipv6.iter().map(|a| IpAddr::V6(*a)));
    }
    if config.ipv4 {
        out.extend(h.ipv4.iter().map(|a| IpAddr::V4(*a)));
    }
    if out.len() > start {
        return Ok(Span::new(start, out.len()));
    }
    let failed =
        (config.ipv4 && h.a.is_indeterminate()) || (config.ipv6 && h.aaaa.is_indeterminate());
    Err(if failed {
        SkipReason::AddressLookupFailed
    } else {
        SkipReason::NoAddress
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `host_string` writes plain labels itself and leaves the rest to
    /// hickory: either way the text is `Name::to_ascii` without the final
    /// dot (RFC 1035 §5.1 presentation form).
    #[test]
    fn rfc1035_5_1_host_string_is_to_ascii_without_final_dot() {
        let labels: [&[&[u8]]; 9] = [
            &[b"mx", b"example", b"test"],
            &[b"mx-1", b"example", b"test"],
            &[b"_25", b"_tcp", b"mx", b"example"],
            &[b"-mx", b"example"],
            &[b"*", b"example"],
            &[b"a.b", b"example"],
            &[b"Mx", b"EXAMPLE"],
            &[b"m x", b"example"],
            &[&[0xc3, 0xa9], b"example"],
        ];
        for l in labels {
            for fqdn in [true, false] {
                let mut name = Name::from_labels(l.iter().copied()).expect("valid labels");
                name.set_fqdn(fqdn);
                let mut expected = name.to_ascii();
                if expected.len() > 1 && expected.ends_with('.') {
                    expected.pop();
                }
                assert_eq!(host_string(&name), expected, "{name:?}");
            }
        }
        assert_eq!(host_string(&Name::root()), ".");
    }

    /// One attempt per host and port: names are the same host when their
    /// labels are equal octet for octet, whether or not they end in a dot.
    #[test]
    fn same_host_compares_labels() {
        let n = |s: &str| Name::from_ascii(s).expect("valid name");
        assert!(same_host(&n("mx.example."), &n("mx.example.")));
        assert!(same_host(&n("mx.example."), &n("mx.example")));
        assert!(!same_host(&n("mx.example."), &n("mx.exampla.")));
        assert!(!same_host(&n("mx.example."), &n("mxe.xample.")));
        assert!(!same_host(&n("mx.example."), &n("m.example.")));
    }
}
