//! What `secmx policyd` answers for a domain, decided from its
//! [`Discovered`] result (and an MTA-STS policy, when one was provided).
//! Pure: no I/O, no clock.
//!
//! # TLS policy (`smtp_tls_policy_maps`, key = the next-hop domain)
//!
//! Postfix connects to the domain's MX hosts, so the answer is about them:
//! the ordinary MX hosts and the SORs named by `MX 51966` (the MX records
//! Postfix itself reads). The first row that applies wins, in the order of
//! DESIGN.md's precedence (DANE > MTA-STS > SecMX discovery):
//!
//! | found | answer | Postfix does |
//! |---|---|---|
//! | a look-up of the conventions, the MX or a TLSA record failed (SERVFAIL, time-out) | `TEMP` | defers the mail |
//! | null MX, NXDOMAIN, no route | `NOTFOUND` | its own answer (a bounce) |
//! | every MX host has a usable authenticated TLSA RRset (RFC 7672 §2.2) | `dane-only` | DANE, or defer |
//! | a fresh MTA-STS policy in mode `enforce` (RFC 8461 §4.1) | `secure match=<mx patterns>` | verified TLS to a matching host, or defer |
//! | a SOR, and every MX host is a SOR whose SECMX certificate flag is set | `secure match=<those hosts>` | verified TLS with a name check |
//! | a SOR | `encrypt` | TLS, any certificate, or defer (never clear text) |
//! | some MX hosts have usable authenticated TLSA | `dane` | DANE where published, else opportunistic |
//! | nothing | `NOTFOUND` | its own default level |
//!
//! A SOR makes the whole domain secure-only for Postfix: Postfix has no
//! notion of a message's class, and a domain that publishes a SOR asks for
//! mail over TLS. The answer cannot send Postfix to the SOR itself (it
//! only sets the TLS level on the hosts Postfix already chose); the
//! [transport](#transport-transport_maps-key--the-recipient-address)
//! answer does that.
//!
//! MTA-STS `*.example.net` patterns become Postfix's `.example.net`,
//! which also matches deeper names (Postfix has no one-label wildcard).
//!
//! # Transport (`transport_maps`, key = the recipient address)
//!
//! For a domain with SORs that have addresses:
//! `TRANSPORT:[sor1]:port1, [sor2]:port2, domain` — the SORs in merge
//! order (at most [`MAX_SOR_ROUTES`]), then the domain's MX route as the
//! last destination (Postfix 3.5 and later try a list of destinations in
//! order). For each `[sor]:port` next-hop, [`Decision::routes`] gives the
//! TLS policy for that key, which is what Postfix looks up for a
//! transport next-hop: `dane-only` with usable authenticated TLSA at that
//! host and port, `secure match=sor` with the SECMX certificate flag, else
//! `encrypt`. Otherwise `NOTFOUND`: Postfix uses its own route.

use std::fmt;

use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::{Convention, Discovered, MailRoute, Purpose};
use secmx_policy::mta_sts::MtaStsPolicy;

use crate::discover::outcome_name;

/// Most SOR targets put in one transport answer.
pub const MAX_SOR_ROUTES: usize = 5;

/// The port of MX hosts (RFC 5321 §4.5.4.2's well-known SMTP port).
const SMTP_PORT: u16 = 25;

/// A TLS security level of Postfix's `smtp_tls_policy_maps` (postconf(5),
/// TLS_README "TLS policy table").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// `dane-only`: DANE authentication or no delivery.
    DaneOnly,
    /// `dane`: DANE where TLSA records exist, else opportunistic TLS.
    Dane,
    /// `secure match=…`: TLS with a verified chain and one of these names.
    Secure {
        /// The `match=` names (Postfix syntax: `.d` for subdomains of d).
        names: Vec<String>,
    },
    /// `encrypt`: TLS with any certificate, never clear text.
    Encrypt,
}

impl fmt::Display for TlsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DaneOnly => f.write_str("dane-only"),
            Self::Dane => f.write_str("dane"),
            Self::Secure { names } => write!(f, "secure match={}", names.join(":")),
            Self::Encrypt => f.write_str("encrypt"),
        }
    }
}

/// The answer to one kind of look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer<T> {
    /// An entry.
    Found(T),
    /// No entry: Postfix decides by itself.
    NotFound,
    /// A DNS look-up failed temporarily: Postfix should defer.
    Temp(String),
}

/// Everything policyd answers about one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// For the domain as the `smtp_tls_policy_maps` key.
    pub tls: Answer<TlsPolicy>,
    /// For the `transport_maps` look-up of an address in the domain.
    pub transport: Answer<String>,
    /// The SOR next-hops of [`Decision::transport`] (`[host]:port`, lower
    /// case) with the TLS policy for each.
    pub routes: Vec<(String, TlsPolicy)>,
    /// A short reason, for the log.
    pub why: String,
}

/// `host.example` from `host.example.`.
fn host_string(name: &Name) -> String {
    let mut s = name.to_ascii().to_ascii_lowercase();
    if s.len() > 1 && s.ends_with('.') {
        s.pop();
    }
    s
}

/// The first look-up whose failure makes the answer unknowable.
fn indeterminate(d: &Discovered) -> Option<String> {
    if let MailRoute::Indeterminate(_) = d.mx
        && !d
            .lookups
            .iter()
            .any(|l| l.purpose == Purpose::Mx && l.outcome.is_indeterminate())
    {
        // The implicit MX's address look-ups failed.
        return Some(format!("address of {} failed", host_string(&d.domain)));
    }
    d.lookups
        .iter()
        .find(|l| {
            l.outcome.is_indeterminate()
                && matches!(
                    l.purpose,
                    Purpose::SecmxSrv
                        | Purpose::Mx
                        | Purpose::SecmxRr
                        | Purpose::Naming
                        | Purpose::Tlsa
                )
        })
        .map(|l| {
            format!(
                "DNS look-up {} {} failed ({})",
                host_string(&l.name),
                l.record_type,
                outcome_name(&l.outcome)
            )
        })
}

/// The hosts Postfix connects to for the domain: the ordinary MX hosts
/// (or the implicit MX) and the MX 51966 SORs; `None` without a route.
fn postfix_hosts(d: &Discovered) -> Option<Vec<&Name>> {
    let MailRoute::Hosts(hosts) = &d.mx else {
        return None;
    };
    let mut out: Vec<&Name> = hosts.iter().map(|h| &h.host).collect();
    for sor in &d.sors {
        if sor.conventions.contains(Convention::Mx51966)
            && !out.iter().any(|h| host_string(h) == host_string(&sor.host))
        {
            out.push(&sor.host);
        }
    }
    Some(out)
}

fn has_usable_tlsa(d: &Discovered, host: &Name, port: u16) -> bool {
    d.tlsa(host, port)
        .is_some_and(|set| set.usable().next().is_some())
}

/// Postfix `match=` names for an MTA-STS policy's `mx` patterns.
fn sts_names(policy: &MtaStsPolicy) -> Vec<String> {
    policy
        .mx
        .iter()
        .map(|p| {
            if p.is_wildcard() {
                format!(".{}", p.domain())
            } else {
                p.domain().to_owned()
            }
        })
        .collect()
}

/// Decides the answers for `d`. `sts` is a fresh MTA-STS policy for the
/// domain, if the operator provided one (policyd fetches none).
pub fn decide(d: &Discovered, sts: Option<&MtaStsPolicy>, sor_transport: &str) -> Decision {
    if let Some(why) = indeterminate(d) {
        return Decision {
            tls: Answer::Temp(why.clone()),
            transport: Answer::Temp(why.clone()),
            routes: Vec::new(),
            why,
        };
    }
    let domain = host_string(&d.domain);
    let hosts = postfix_hosts(d);

    // The SOR next-hops for the transport map.
    let mut routes: Vec<(String, TlsPolicy)> = Vec::new();
    for sor in &d.sors {
        if routes.len() >= MAX_SOR_ROUTES {
            break;
        }
        let has_address = d
            .addresses(&sor.host)
            .is_some_and(|a| !a.ipv4.is_empty() || !a.ipv6.is_empty());
        if !has_address {
            continue;
        }
        let host = host_string(&sor.host);
        let policy = if has_usable_tlsa(d, &sor.host, sor.port) {
            TlsPolicy::DaneOnly
        } else if sor.certificate_flag {
            TlsPolicy::Secure {
                names: vec![host.clone()],
            }
        } else {
            TlsPolicy::Encrypt
        };
        routes.push((format!("[{host}]:{}", sor.port), policy));
    }
    let transport = match (&d.mx, routes.is_empty()) {
        (MailRoute::NullMx | MailRoute::NxDomain, _) | (_, true) => Answer::NotFound,
        (MailRoute::Hosts(_), false) => {
            let hops: Vec<&str> = routes.iter().map(|(hop, _)| hop.as_str()).collect();
            Answer::Found(format!("{sor_transport}:{}, {domain}", hops.join(", ")))
        }
        (_, false) => {
            let hops: Vec<&str> = routes.iter().map(|(hop, _)| hop.as_str()).collect();
            Answer::Found(format!("{sor_transport}:{}", hops.join(", ")))
        }
    };

    let (tls, why) = match hosts {
        None => (Answer::NotFound, "no mail route".to_owned()),
        Some(hosts) => tls_policy(d, &hosts, sts),
    };
    Decision {
        tls,
        transport,
        routes,
        why,
    }
}

fn tls_policy(
    d: &Discovered,
    hosts: &[&Name],
    sts: Option<&MtaStsPolicy>,
) -> (Answer<TlsPolicy>, String) {
    let with_tlsa = hosts
        .iter()
        .filter(|h| has_usable_tlsa(d, h, SMTP_PORT))
        .count();
    if !hosts.is_empty() && with_tlsa == hosts.len() {
        return (
            Answer::Found(TlsPolicy::DaneOnly),
            "authenticated TLSA for every MX host".into(),
        );
    }
    if let Some(policy) = sts.filter(|p| p.is_enforced()) {
        return (
            Answer::Found(TlsPolicy::Secure {
                names: sts_names(policy),
            }),
            "MTA-STS enforce".into(),
        );
    }
    if !d.sors.is_empty() {
        let flagged = |h: &&Name| {
            d.sors
                .iter()
                .any(|s| s.certificate_flag && host_string(&s.host) == host_string(h))
        };
        if !hosts.is_empty() && hosts.iter().all(flagged) {
            return (
                Answer::Found(TlsPolicy::Secure {
                    names: hosts.iter().map(|h| host_string(h)).collect(),
                }),
                "every MX host is a SOR with the certificate flag".into(),
            );
        }
        return (
            Answer::Found(TlsPolicy::Encrypt),
            format!("{} SOR target(s)", d.sors.len()),
        );
    }
    if with_tlsa > 0 {
        return (
            Answer::Found(TlsPolicy::Dane),
            "authenticated TLSA for some MX hosts".into(),
        );
    }
    (Answer::NotFound, "no SOR, TLSA or MTA-STS policy".into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
    use secmx_dns::hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
    use secmx_dns::hickory_proto::rr::rdata::{A, MX, NULL, SRV, TLSA};
    use secmx_dns::hickory_proto::rr::{RData, Record, RecordType};
    use secmx_dns::{Config, Discovery, SecmxRdata};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    /// A canned zone: (name, type) → records; SERVFAIL for `fail`; the rest
    /// NXDOMAIN. AD on every answer when `ad`.
    #[derive(Default)]
    pub(crate) struct Zone {
        records: HashMap<(String, RecordType), Vec<RData>>,
        fail: Vec<(String, RecordType)>,
        ad: bool,
    }

    impl Zone {
        pub(crate) fn new(ad: bool) -> Self {
            Self {
                ad,
                ..Self::default()
            }
        }
        fn add(mut self, owner: &str, rtype: RecordType, data: RData) -> Self {
            self.records
                .entry((owner.to_owned(), rtype))
                .or_default()
                .push(data);
            self
        }
        pub(crate) fn mx(self, owner: &str, pref: u16, host: &str) -> Self {
            self.add(owner, RecordType::MX, RData::MX(MX::new(pref, name(host))))
        }
        pub(crate) fn a(self, owner: &str) -> Self {
            self.add(
                owner,
                RecordType::A,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            )
        }
        pub(crate) fn srv(self, owner: &str, port: u16, target: &str) -> Self {
            self.add(
                owner,
                RecordType::SRV,
                RData::SRV(SRV::new(0, 0, port, name(target))),
            )
        }
        pub(crate) fn secmx(self, owner: &str, flags: u16, port: u16, target: &str) -> Self {
            let rdata = SecmxRdata::with_raw_flags(10, flags, port, name(target)).to_bytes();
            self.add(
                owner,
                RecordType::Unknown(65482),
                RData::Unknown {
                    code: RecordType::Unknown(65482),
                    rdata: NULL::with(rdata),
                },
            )
        }
        pub(crate) fn tlsa(self, owner: &str) -> Self {
            self.add(
                owner,
                RecordType::TLSA,
                RData::TLSA(TLSA::new(
                    CertUsage::from(3),
                    Selector::Spki,
                    Matching::Sha256,
                    vec![7; 32],
                )),
            )
        }
        /// NOERROR without records (NODATA) for `owner` and `rtype`.
        pub(crate) fn nodata(mut self, owner: &str, rtype: RecordType) -> Self {
            self.records.entry((owner.to_owned(), rtype)).or_default();
            self
        }
        pub(crate) fn servfail(mut self, owner: &str, rtype: RecordType) -> Self {
            self.fail.push((owner.to_owned(), rtype));
            self
        }

        fn answer(&self, query: &[u8]) -> Vec<u8> {
            let request = Message::from_vec(query).expect("own query");
            let question = request.queries[0].clone();
            let key = (
                question.name().to_ascii().to_ascii_lowercase(),
                question.query_type(),
            );
            let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
            m.metadata.recursion_available = true;
            m.add_query(question.clone());
            if self.fail.contains(&key) {
                m.metadata.response_code = ResponseCode::ServFail;
            } else {
                m.metadata.authentic_data = self.ad;
                match self.records.get(&key) {
                    Some(data) => {
                        for rdata in data {
                            m.add_answer(Record::from_rdata(
                                question.name().clone(),
                                300,
                                rdata.clone(),
                            ));
                        }
                    }
                    None => m.metadata.response_code = ResponseCode::NXDomain,
                }
            }
            m.to_vec().expect("encodes")
        }

        /// Runs a discovery of `domain` against the zone.
        pub(crate) fn discover(&self, domain: &str) -> Discovered {
            let mut config = Config::default();
            config.trusted_resolver = true;
            let mut d = Discovery::new(domain, config).expect("domain");
            let now = Instant::now();
            for _ in 0..1000 {
                while let Some(q) = d.poll_query(now) {
                    let _ = d.handle_response(now, &self.answer(&q.bytes));
                }
                if let Some(result) = d.poll_result() {
                    return result;
                }
            }
            panic!("discovery did not finish");
        }
    }

    fn tls(decision: &Decision) -> String {
        match &decision.tls {
            Answer::Found(p) => p.to_string(),
            Answer::NotFound => "NOTFOUND".into(),
            Answer::Temp(_) => "TEMP".into(),
        }
    }

    fn transport(decision: &Decision) -> String {
        match &decision.transport {
            Answer::Found(v) => v.clone(),
            Answer::NotFound => "NOTFOUND".into(),
            Answer::Temp(_) => "TEMP".into(),
        }
    }

    /// The answer table of the module docs, row by row.
    #[test]
    fn tls_policy_and_transport_table() {
        let base = |ad| {
            Zone::new(ad)
                .mx("d.test.", 10, "mx.d.test.")
                .a("mx.d.test.")
        };
        let cases: Vec<(&str, Zone, &str, &str)> = vec![
            ("nothing published", base(false), "NOTFOUND", "NOTFOUND"),
            (
                // DESIGN.md convention 1 (SRV): a SOR; the MX host is not it.
                "SRV SOR",
                base(false)
                    .srv("_secmx._tcp.d.test.", 2525, "sor.d.test.")
                    .a("sor.d.test."),
                "encrypt",
                "smtp:[sor.d.test]:2525, d.test",
            ),
            (
                // Convention 4 with flag bit 0, but Postfix goes to mx.d.test.
                "flagged SECMX SOR beside the MX",
                base(false)
                    .secmx("d.test.", 1, 0, "sor.d.test.")
                    .a("sor.d.test."),
                "encrypt",
                "smtp:[sor.d.test]:25, d.test",
            ),
            (
                // The only MX host is the flagged SOR: its name can be checked.
                "flagged SECMX SOR that is the MX host",
                base(false).secmx("d.test.", 1, 0, "mx.d.test."),
                "secure match=mx.d.test",
                "smtp:[mx.d.test]:25, d.test",
            ),
            (
                // Convention 2: MX 51966 is one of the hosts Postfix uses.
                "MX 51966 without flag",
                base(false)
                    .mx("d.test.", 51966, "secmx.d.test.")
                    .a("secmx.d.test."),
                "encrypt",
                "smtp:[secmx.d.test]:25, d.test",
            ),
            (
                "SOR without an address",
                base(false).srv("_secmx._tcp.d.test.", 2525, "gone.d.test."),
                "encrypt",
                "NOTFOUND",
            ),
            (
                // RFC 7672 §2.2: authenticated usable TLSA on every MX host.
                "DANE on every MX host",
                base(true).tlsa("_25._tcp.mx.d.test."),
                "dane-only",
                "NOTFOUND",
            ),
            (
                // DANE beats SecMX; the SOR route has its own TLSA.
                "DANE and a SOR with TLSA",
                base(true)
                    .tlsa("_25._tcp.mx.d.test.")
                    .srv("_secmx._tcp.d.test.", 2525, "sor.d.test.")
                    .a("sor.d.test.")
                    .tlsa("_2525._tcp.sor.d.test."),
                "dane-only",
                "smtp:[sor.d.test]:2525, d.test",
            ),
            (
                "DANE on some MX hosts only",
                base(true)
                    .mx("d.test.", 20, "mx2.d.test.")
                    .a("mx2.d.test.")
                    .tlsa("_25._tcp.mx.d.test."),
                "dane",
                "NOTFOUND",
            ),
            (
                // Not authenticated: TLSA is not even looked up.
                "TLSA without DNSSEC",
                base(false).tlsa("_25._tcp.mx.d.test."),
                "NOTFOUND",
                "NOTFOUND",
            ),
            (
                "SRV look-up SERVFAIL",
                base(false).servfail("_secmx._tcp.d.test.", RecordType::SRV),
                "TEMP",
                "TEMP",
            ),
            (
                "MX look-up SERVFAIL",
                Zone::new(false).servfail("d.test.", RecordType::MX),
                "TEMP",
                "TEMP",
            ),
            (
                // RFC 7672 §2.2: a TLSA look-up that fails is a deferral.
                "TLSA look-up SERVFAIL",
                base(true).servfail("_25._tcp.mx.d.test.", RecordType::TLSA),
                "TEMP",
                "TEMP",
            ),
            (
                // RFC 7505: null MX; Postfix bounces by itself.
                "null MX with a SOR",
                Zone::new(false)
                    .mx("d.test.", 0, ".")
                    .srv("_secmx._tcp.d.test.", 2525, "sor.d.test.")
                    .a("sor.d.test."),
                "NOTFOUND",
                "NOTFOUND",
            ),
            (
                // No MX and no address: the SOR is the only way in.
                "no route but a SOR",
                Zone::new(false)
                    .nodata("d.test.", RecordType::MX)
                    .nodata("d.test.", RecordType::A)
                    .nodata("d.test.", RecordType::AAAA)
                    .srv("_secmx._tcp.d.test.", 2525, "sor.d.test.")
                    .a("sor.d.test."),
                "NOTFOUND",
                "smtp:[sor.d.test]:2525",
            ),
        ];
        for (what, zone, want_tls, want_transport) in cases {
            let d = zone.discover("d.test");
            let decision = decide(&d, None, "smtp");
            assert_eq!(tls(&decision), want_tls, "{what}: {decision:?}");
            assert_eq!(transport(&decision), want_transport, "{what}: {decision:?}");
        }
    }

    #[test]
    fn sor_routes_carry_their_own_tls_policy() {
        let zone = Zone::new(true)
            .mx("d.test.", 10, "mx.d.test.")
            .a("mx.d.test.")
            .secmx("d.test.", 1, 2526, "flag.d.test.")
            .a("flag.d.test.")
            .srv("_secmx._tcp.d.test.", 2525, "dane.d.test.")
            .a("dane.d.test.")
            .tlsa("_2525._tcp.dane.d.test.")
            .srv("_secmx._tcp.d.test.", 2527, "plain.d.test.")
            .a("plain.d.test.");
        let d = zone.discover("d.test");
        let decision = decide(&d, None, "secmx-sor");
        let routes: Vec<(String, String)> = decision
            .routes
            .iter()
            .map(|(hop, p)| (hop.clone(), p.to_string()))
            .collect();
        assert_eq!(
            routes,
            [
                (
                    "[flag.d.test]:2526".into(),
                    "secure match=flag.d.test".into()
                ),
                ("[dane.d.test]:2525".into(), "dane-only".into()),
                ("[plain.d.test]:2527".into(), "encrypt".into()),
            ]
        );
        assert_eq!(
            transport(&decision),
            "secmx-sor:[flag.d.test]:2526, [dane.d.test]:2525, [plain.d.test]:2527, d.test"
        );
        assert_eq!(tls(&decision), "encrypt");
    }

    /// RFC 8461 §4.1: an enforced policy names the hosts; DANE still wins.
    #[test]
    fn rfc8461_mta_sts_enforce_gives_secure_match() {
        let policy = MtaStsPolicy::parse(
            "version: STSv1\nmode: enforce\nmx: mx.d.test\nmx: *.backup.test\nmax_age: 86400\n",
        )
        .expect("policy");
        let testing =
            MtaStsPolicy::parse("version: STSv1\nmode: testing\nmx: mx.d.test\nmax_age: 86400\n")
                .expect("policy");
        let zone = Zone::new(false)
            .mx("d.test.", 10, "mx.d.test.")
            .a("mx.d.test.")
            .srv("_secmx._tcp.d.test.", 2525, "sor.d.test.")
            .a("sor.d.test.");
        let d = zone.discover("d.test");
        assert_eq!(
            tls(&decide(&d, Some(&policy), "smtp")),
            "secure match=mx.d.test:.backup.test"
        );
        // Testing mode enforces nothing: SecMX decides.
        assert_eq!(tls(&decide(&d, Some(&testing), "smtp")), "encrypt");
        let dane = Zone::new(true)
            .mx("d.test.", 10, "mx.d.test.")
            .a("mx.d.test.")
            .tlsa("_25._tcp.mx.d.test.")
            .discover("d.test");
        assert_eq!(tls(&decide(&dane, Some(&policy), "smtp")), "dane-only");
    }
}
