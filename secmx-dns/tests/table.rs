//! Table tests of whole discoveries against canned DNS responses built with
//! hickory-proto, driven through the public API on a simulated clock.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NULL, SRV, TLSA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use proptest::prelude::*;
use secmx_dns::{
    Config, Convention, Discovered, Discovery, Handled, Indeterminate, MailRoute, Outcome, Purpose,
    Query, ResponseError, RuaUri, SecmxRdata, Transport,
};

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("test name")
}

// ---- records -------------------------------------------------------------

fn rec(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 300, data)
}
fn mx(owner: &str, preference: u16, host: &str) -> Record {
    rec(owner, RData::MX(MX::new(preference, name(host))))
}
fn srv(owner: &str, priority: u16, weight: u16, port: u16, target: &str) -> Record {
    rec(
        owner,
        RData::SRV(SRV::new(priority, weight, port, name(target))),
    )
}
fn a(owner: &str, last: u8) -> Record {
    rec(owner, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
}
fn aaaa(owner: &str, last: u16) -> Record {
    rec(
        owner,
        RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))),
    )
}
fn cname(owner: &str, target: &str) -> Record {
    rec(owner, RData::CNAME(CNAME(name(target))))
}
fn secmx_raw(owner: &str, code: u16, rdata: Vec<u8>) -> Record {
    rec(
        owner,
        RData::Unknown {
            code: RecordType::Unknown(code),
            rdata: NULL::with(rdata),
        },
    )
}
fn secmx(owner: &str, preference: u16, flags: u16, port: u16, target: &str) -> Record {
    let rdata = SecmxRdata::with_raw_flags(preference, flags, port, name(target)).to_bytes();
    secmx_raw(owner, 65482, rdata)
}
fn tlsa(owner: &str, usage: u8, data: Vec<u8>) -> Record {
    rec(
        owner,
        RData::TLSA(TLSA::new(
            CertUsage::from(usage),
            Selector::Spki,
            Matching::Sha256,
            data,
        )),
    )
}
fn txt(owner: &str, strings: &[&str]) -> Record {
    rec(
        owner,
        RData::TXT(TXT::new(strings.iter().map(|s| s.to_string()).collect())),
    )
}

// ---- a fake resolver ---------------------------------------------------------

#[derive(Clone)]
enum Reply {
    /// NOERROR with these answer records (none: NODATA).
    Records(Vec<Record>),
    /// An RCODE and no records.
    Rcode(ResponseCode),
    /// No answer at all.
    Drop,
    /// TC over UDP, the records over TCP.
    TruncateUdp(Vec<Record>),
}

struct Resolver {
    /// (lower-case name, type) → reply; anything else is NXDOMAIN.
    zone: HashMap<(String, RecordType), Reply>,
    /// AD bit on every NOERROR / NXDOMAIN answer, except for these names.
    ad: bool,
    not_ad: Vec<(String, RecordType)>,
    /// Every query seen.
    seen: Vec<(String, RecordType, Transport)>,
}

impl Resolver {
    fn new(ad: bool) -> Self {
        Self {
            zone: HashMap::new(),
            ad,
            not_ad: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn with(mut self, owner: &str, rtype: RecordType, reply: Reply) -> Self {
        self.zone.insert((owner.to_ascii_lowercase(), rtype), reply);
        self
    }

    fn records(self, owner: &str, rtype: RecordType, records: Vec<Record>) -> Self {
        self.with(owner, rtype, Reply::Records(records))
    }

    fn answer(&mut self, query: &Query) -> Option<Vec<u8>> {
        let request = Message::from_vec(&query.bytes).expect("own query decodes");
        let question = request.queries[0].clone();
        let key = (
            question.name().to_ascii().to_ascii_lowercase(),
            question.query_type(),
        );
        self.seen.push((key.0.clone(), key.1, query.transport));
        let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.add_query(question);
        let ad = self.ad && !self.not_ad.contains(&key);
        match self.zone.get(&key).cloned() {
            None => {
                m.metadata.response_code = ResponseCode::NXDomain;
                m.metadata.authentic_data = ad;
            }
            Some(Reply::Records(records)) => {
                m.add_answers(records);
                m.metadata.authentic_data = ad;
            }
            Some(Reply::Rcode(rcode)) => m.metadata.response_code = rcode,
            Some(Reply::Drop) => return None,
            Some(Reply::TruncateUdp(records)) => {
                if query.transport == Transport::Udp {
                    m.metadata.truncation = true;
                } else {
                    m.add_answers(records);
                    m.metadata.authentic_data = ad;
                }
            }
        }
        Some(m.to_vec().expect("encodes"))
    }
}

/// Runs a discovery to the end against `resolver` on a simulated clock.
fn run(domain: &str, config: Config, resolver: &mut Resolver) -> Discovered {
    let mut d = Discovery::new(domain, config).expect("valid domain");
    let mut now = Instant::now();
    for _ in 0..10_000 {
        let mut sent = Vec::new();
        while let Some(q) = d.poll_query(now) {
            sent.push(q);
        }
        for q in &sent {
            if let Some(bytes) = resolver.answer(q) {
                d.handle_response(now, &bytes).expect("answer accepted");
            }
        }
        if sent.is_empty() {
            if d.is_finished() {
                return d.poll_result().expect("finished");
            }
            now = d.poll_timeout().expect("waiting for something");
            d.handle_timeout(now);
        }
    }
    panic!("discovery did not finish");
}

fn trusted() -> Config {
    let mut c = Config::default();
    c.trusted_resolver = true;
    c
}

fn sors(d: &Discovered) -> Vec<(String, u16, Vec<Convention>)> {
    d.sors
        .iter()
        .map(|t| (t.host.to_ascii(), t.port, t.conventions.iter().collect()))
        .collect()
}

fn outcome(d: &Discovered, owner: &str, rtype: RecordType) -> Outcome {
    d.lookups
        .iter()
        .find(|l| l.record_type == rtype && l.name == name(owner))
        .unwrap_or_else(|| panic!("no look-up of {owner} {rtype}"))
        .outcome
        .clone()
}

const D: &str = "d.test.";
const SRV_NAME: &str = "_secmx._tcp.d.test.";
const SECMX: RecordType = RecordType::Unknown(65482);

fn mx_hosts(d: &Discovered) -> Vec<(u16, String, bool)> {
    match &d.mx {
        MailRoute::Hosts(h) => h
            .iter()
            .map(|m| (m.preference, m.host.to_ascii(), m.implicit))
            .collect(),
        other => panic!("expected hosts, got {other:?}"),
    }
}

// ---- every convention alone -------------------------------------------------

#[test]
fn design_srv_convention_alone() {
    let mut r = Resolver::new(false)
        .records(
            SRV_NAME,
            RecordType::SRV,
            vec![srv(SRV_NAME, 0, 0, 10025, "sor.d.test.")],
        )
        .records(D, RecordType::MX, vec![])
        .records(D, RecordType::A, vec![a(D, 1)])
        .records("sor.d.test.", RecordType::A, vec![a("sor.d.test.", 9)]);
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("sor.d.test.".into(), 10025, vec![Convention::Srv])]
    );
    let host = d.addresses(&name("sor.d.test.")).expect("addresses");
    assert_eq!(host.ipv4, [Ipv4Addr::new(192, 0, 2, 9)]);
    assert_eq!(host.a, Outcome::Answer);
    assert_eq!(host.aaaa, Outcome::NxDomain);
    // RFC 5321 §5.1: no MX, the domain itself
    assert_eq!(mx_hosts(&d), [(0, "d.test.".into(), true)]);
    assert!(!d.is_indeterminate());
}

#[test]
fn design_mx_51966_convention_alone() {
    let mut r = Resolver::new(false)
        .records(
            D,
            RecordType::MX,
            vec![mx(D, 10, "mail.d.test."), mx(D, 51966, "sor.d.test.")],
        )
        .records("mail.d.test.", RecordType::A, vec![a("mail.d.test.", 1)])
        .records(
            "sor.d.test.",
            RecordType::AAAA,
            vec![aaaa("sor.d.test.", 2)],
        );
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("sor.d.test.".into(), 25, vec![Convention::Mx51966])]
    );
    assert_eq!(mx_hosts(&d), [(10, "mail.d.test.".into(), false)]);
    assert_eq!(
        d.addresses(&name("sor.d.test.")).expect("addresses").ipv6,
        [Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)]
    );
}

#[test]
fn design_naming_convention_alone() {
    // by the address of secmx.D
    let mut r = Resolver::new(false)
        .records(D, RecordType::MX, vec![mx(D, 10, "mail.d.test.")])
        .records("secmx.d.test.", RecordType::A, vec![a("secmx.d.test.", 5)])
        .records("secmx.d.test.", RecordType::AAAA, vec![]);
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("secmx.d.test.".into(), 25, vec![Convention::Naming])]
    );
    // by an MX target named secmx.D
    let mut r = Resolver::new(false).records(
        D,
        RecordType::MX,
        vec![mx(D, 10, "mail.d.test."), mx(D, 20, "SECMX.d.test.")],
    );
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("secmx.d.test.".into(), 25, vec![Convention::Naming])]
    );
    assert_eq!(
        mx_hosts(&d),
        [
            (10, "mail.d.test.".into(), false),
            (20, "secmx.d.test.".into(), false)
        ]
    );
}

#[test]
fn design_secmx_rr_convention_alone() {
    let mut r = Resolver::new(false)
        .records(D, SECMX, vec![secmx(D, 10, 1, 0, "Sor.d.test.")])
        .records("sor.d.test.", RecordType::A, vec![a("sor.d.test.", 3)]);
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("sor.d.test.".into(), 25, vec![Convention::SecmxRr])]
    );
    assert!(d.sors[0].certificate_flag);
    assert_eq!(d.mx, MailRoute::NxDomain);
}

#[test]
fn design_secmx_type_is_configurable() {
    let mut r = Resolver::new(false)
        .records(
            D,
            RecordType::Unknown(65400),
            vec![secmx_raw(
                D,
                65400,
                SecmxRdata::new(1, false, 2525, name("s.d.test.")).to_bytes(),
            )],
        )
        // a record of the default type is not looked at
        .records(D, SECMX, vec![secmx(D, 1, 0, 0, "other.d.test.")]);
    let mut config = Config::default();
    config.secmx_type = 65400;
    let d = run("d.test", config, &mut r);
    assert_eq!(
        sors(&d),
        [("s.d.test.".into(), 2525, vec![Convention::SecmxRr])]
    );
    assert!(r.seen.iter().all(|(_, t, _)| *t != SECMX));
}

// ---- combinations and conflicts -----------------------------------------------

/// The zone of the real-server test: all four conventions, TLSA, MTA-STS and
/// TLS-RPT.
fn full_zone(ad: bool) -> Resolver {
    let h = "secmx.d.test.";
    Resolver::new(ad)
        .records(
            D,
            RecordType::MX,
            vec![mx(D, 10, "mail.d.test."), mx(D, 51966, h)],
        )
        .records("mail.d.test.", RecordType::A, vec![a("mail.d.test.", 1)])
        .records("mail.d.test.", RecordType::AAAA, vec![])
        .records(h, RecordType::A, vec![a(h, 2)])
        .records(h, RecordType::AAAA, vec![aaaa(h, 2)])
        .records(
            SRV_NAME,
            RecordType::SRV,
            vec![srv(SRV_NAME, 0, 0, 10025, h)],
        )
        .records(D, SECMX, vec![secmx(D, 10, 1, 25, h)])
        .records(
            "_25._tcp.secmx.d.test.",
            RecordType::TLSA,
            vec![tlsa("_25._tcp.secmx.d.test.", 3, vec![7; 32])],
        )
        .records(
            "_10025._tcp.secmx.d.test.",
            RecordType::TLSA,
            vec![tlsa("_10025._tcp.secmx.d.test.", 3, vec![8; 32])],
        )
        .records("_25._tcp.mail.d.test.", RecordType::TLSA, vec![])
        .records(
            "_mta-sts.d.test.",
            RecordType::TXT,
            vec![txt(
                "_mta-sts.d.test.",
                &["v=STSv1; ", "id=20240101T000000;"],
            )],
        )
        .records(
            "_smtp._tls.d.test.",
            RecordType::TXT,
            vec![txt(
                "_smtp._tls.d.test.",
                &["v=TLSRPTv1; rua=mailto:tlsrpt@d.test"],
            )],
        )
}

#[test]
fn design_all_four_conventions_merge_in_order() {
    let mut r = full_zone(true);
    let d = run("d.test", trusted(), &mut r);
    use Convention::*;
    assert_eq!(
        sors(&d),
        [
            ("secmx.d.test.".into(), 25, vec![SecmxRr, Mx51966, Naming]),
            ("secmx.d.test.".into(), 10025, vec![Srv]),
        ]
    );
    assert!(d.sors.iter().all(|t| t.authenticated));
    assert!(d.sors[0].certificate_flag);
    assert_eq!(mx_hosts(&d), [(10, "mail.d.test.".into(), false)]);
    let MailRoute::Hosts(h) = &d.mx else {
        unreachable!()
    };
    assert!(h[0].authenticated);
    // TLSA for both SOR ports; the MX host's RRset is empty
    let t25 = d.tlsa(&name("secmx.d.test."), 25).expect("TLSA 25");
    assert_eq!(t25.records[0].data, vec![7; 32]);
    assert!(t25.records[0].usable());
    assert_eq!(
        d.tlsa(&name("secmx.d.test."), 10025)
            .expect("TLSA 10025")
            .records[0]
            .data,
        vec![8; 32]
    );
    assert!(d.tlsa(&name("mail.d.test."), 25).is_none());
    assert_eq!(
        outcome(&d, "_25._tcp.mail.d.test.", RecordType::TLSA),
        Outcome::NoData
    );
    // TXT records
    assert_eq!(
        d.mta_sts.record.as_ref().expect("STS").id,
        "20240101T000000"
    );
    assert!(d.mta_sts.authenticated);
    assert_eq!(
        d.tls_rpt.record.as_ref().expect("TLS-RPT").rua,
        [RuaUri::Mailto("tlsrpt@d.test".into())]
    );
    assert!(!d.is_indeterminate());
    // each question asked once
    let mut asked: Vec<_> = r.seen.iter().map(|(n, t, _)| (n.clone(), *t)).collect();
    let total = asked.len();
    asked.sort_by(|x, y| (x.0.as_str(), u16::from(x.1)).cmp(&(y.0.as_str(), u16::from(y.1))));
    asked.dedup();
    assert_eq!(asked.len(), total);
}

#[test]
fn design_srv_dot_target_names_no_sor_but_others_count() {
    let mut r = Resolver::new(false)
        .records(SRV_NAME, RecordType::SRV, vec![srv(SRV_NAME, 0, 0, 0, ".")])
        .records("secmx.d.test.", RecordType::A, vec![a("secmx.d.test.", 1)]);
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("secmx.d.test.".into(), 25, vec![Convention::Naming])]
    );
    // "." never gets an address look-up
    assert!(r.seen.iter().all(|(n, _, _)| n != "."));
}

#[test]
fn design_conflicting_ports_and_preferences() {
    let mut r = Resolver::new(false)
        .records(
            D,
            SECMX,
            vec![
                secmx(D, 20, 0, 0, "b.d.test."),
                secmx(D, 10, 0, 2525, "a.d.test."),
                // bad RDATA (compression pointer) is skipped, not fatal
                secmx_raw(D, 65482, vec![0, 1, 0, 0, 0, 0, 0xC0, 0x0C]),
                // the 5-octet placeholder is not a SECMX record either
                secmx_raw(D, 65482, vec![0x01, 0x27, 0x29, 0x00, 0x01]),
            ],
        )
        .records(
            SRV_NAME,
            RecordType::SRV,
            vec![
                srv(SRV_NAME, 5, 0, 25, "a.d.test."),   // same host, other port
                srv(SRV_NAME, 1, 10, 25, "b.d.test."),  // duplicate of SECMX b:25
                srv(SRV_NAME, 1, 90, 465, "c.d.test."), // heavier first
            ],
        )
        .records(
            D,
            RecordType::MX,
            vec![mx(D, 51966, "A.d.test."), mx(D, 51966, "c.d.test.")],
        );
    let d = run("d.test", Config::default(), &mut r);
    use Convention::*;
    assert_eq!(
        sors(&d),
        [
            ("a.d.test.".into(), 2525, vec![SecmxRr]),
            ("b.d.test.".into(), 25, vec![SecmxRr, Srv]),
            ("c.d.test.".into(), 465, vec![Srv]),
            ("a.d.test.".into(), 25, vec![Srv, Mx51966]),
            ("c.d.test.".into(), 25, vec![Mx51966]),
        ]
    );
    // only MX 51966 records: no ordinary MX, and no implicit MX either
    assert_eq!(mx_hosts(&d), []);
}

// ---- the ordinary MX list ----------------------------------------------------

#[test]
fn rfc5321_5_1_mx_order_and_implicit_mx() {
    let mut r = Resolver::new(false).records(
        D,
        RecordType::MX,
        vec![
            mx(D, 30, "c.d.test."),
            mx(D, 10, "a.d.test."),
            mx(D, 20, "b.d.test."),
        ],
    );
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        mx_hosts(&d),
        [
            (10, "a.d.test.".into(), false),
            (20, "b.d.test.".into(), false),
            (30, "c.d.test.".into(), false)
        ]
    );
    assert!(d.sors.is_empty());
    // every MX host got A and AAAA look-ups
    for h in ["a.d.test.", "b.d.test.", "c.d.test."] {
        assert!(d.addresses(&name(h)).is_some(), "{h}");
    }
    // no MX and no address: no route
    let mut r = Resolver::new(false)
        .records(D, RecordType::MX, vec![])
        .records(D, RecordType::A, vec![])
        .records(D, RecordType::AAAA, vec![]);
    assert_eq!(
        run("d.test", Config::default(), &mut r).mx,
        MailRoute::NoRoute
    );
    // no MX, implicit MX through AAAA only
    let mut r = Resolver::new(false)
        .records(D, RecordType::MX, vec![])
        .records(D, RecordType::AAAA, vec![aaaa(D, 1)]);
    assert_eq!(
        mx_hosts(&run("d.test", Config::default(), &mut r)),
        [(0, "d.test.".into(), true)]
    );
    // no MX, the domain's A look-up fails: indeterminate, not "no route"
    let mut r = Resolver::new(false)
        .records(D, RecordType::MX, vec![])
        .with(D, RecordType::A, Reply::Rcode(ResponseCode::ServFail))
        .records(D, RecordType::AAAA, vec![]);
    assert_eq!(
        run("d.test", Config::default(), &mut r).mx,
        MailRoute::Indeterminate(Indeterminate::ServFail)
    );
}

#[test]
fn rfc7505_null_mx() {
    let mut r = Resolver::new(false).records(D, RecordType::MX, vec![mx(D, 0, ".")]);
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(d.mx, MailRoute::NullMx);
    // no implicit MX look-up for a null MX
    assert!(d.addresses(&name(D)).is_none());
}

// ---- outcome classes -----------------------------------------------------------

#[test]
fn rfc2308_every_outcome_class_is_kept_apart() {
    let mut r = Resolver::new(false)
        .records(SRV_NAME, RecordType::SRV, vec![]) // NODATA
        .with(D, SECMX, Reply::Rcode(ResponseCode::Refused))
        .with(D, RecordType::MX, Reply::Rcode(ResponseCode::ServFail))
        .with("secmx.d.test.", RecordType::A, Reply::Drop)
        .with(
            "secmx.d.test.",
            RecordType::AAAA,
            Reply::Rcode(ResponseCode::NotImp),
        )
        .with(
            "_mta-sts.d.test.",
            RecordType::TXT,
            Reply::Rcode(ResponseCode::FormErr),
        );
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(outcome(&d, SRV_NAME, RecordType::SRV), Outcome::NoData);
    assert_eq!(
        outcome(&d, D, SECMX),
        Outcome::Indeterminate(Indeterminate::Refused)
    );
    assert_eq!(
        outcome(&d, D, RecordType::MX),
        Outcome::Indeterminate(Indeterminate::ServFail)
    );
    assert_eq!(
        outcome(&d, "secmx.d.test.", RecordType::A),
        Outcome::Indeterminate(Indeterminate::Timeout)
    );
    assert_eq!(
        outcome(&d, "secmx.d.test.", RecordType::AAAA),
        Outcome::Indeterminate(Indeterminate::Rcode(4))
    );
    assert_eq!(
        outcome(&d, "_smtp._tls.d.test.", RecordType::TXT),
        Outcome::NxDomain
    );
    assert_eq!(
        d.mta_sts.outcome,
        Outcome::Indeterminate(Indeterminate::Rcode(1))
    );
    assert_eq!(d.mx, MailRoute::Indeterminate(Indeterminate::ServFail));
    assert!(d.sor_indeterminate());
    assert!(d.is_indeterminate());
    // the dropped question was sent twice over UDP (default attempts)
    let tries = r
        .seen
        .iter()
        .filter(|(n, t, _)| n == "secmx.d.test." && *t == RecordType::A)
        .count();
    assert_eq!(tries, 2);
}

#[test]
fn design_nxdomain_everywhere_is_a_determinate_none() {
    let mut r = Resolver::new(false);
    let d = run("d.test", Config::default(), &mut r);
    assert!(d.sors.is_empty());
    assert_eq!(d.mx, MailRoute::NxDomain);
    assert!(!d.is_indeterminate());
    assert_eq!(d.mta_sts.record, None);
    assert_eq!(d.mta_sts.outcome, Outcome::NxDomain);
}

#[test]
fn design_servfail_on_one_convention_makes_sors_indeterminate() {
    for (owner, rtype) in [
        (SRV_NAME, RecordType::SRV),
        (D, SECMX),
        ("secmx.d.test.", RecordType::A),
        ("secmx.d.test.", RecordType::AAAA),
    ] {
        let mut r = Resolver::new(false)
            .records(D, RecordType::MX, vec![mx(D, 10, "mail.d.test.")])
            .with(owner, rtype, Reply::Rcode(ResponseCode::ServFail));
        let d = run("d.test", Config::default(), &mut r);
        assert!(d.sor_indeterminate(), "{owner} {rtype}");
        assert!(d.is_indeterminate());
        assert!(matches!(d.mx, MailRoute::Hosts(_)));
    }
}

// ---- CNAMEs ------------------------------------------------------------------------

#[test]
fn rfc1034_3_6_2_cname_chains_are_followed_and_loops_caught() {
    let mut r = Resolver::new(false)
        .records(
            "secmx.d.test.",
            RecordType::A,
            vec![
                cname("secmx.d.test.", "x.d.test."),
                cname("x.d.test.", "y.d.test."),
                a("y.d.test.", 7),
            ],
        )
        .records(
            SRV_NAME,
            RecordType::SRV,
            vec![
                cname(SRV_NAME, "loop.d.test."),
                cname("loop.d.test.", SRV_NAME),
            ],
        );
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("secmx.d.test.".into(), 25, vec![Convention::Naming])]
    );
    assert_eq!(
        d.addresses(&name("secmx.d.test.")).expect("addresses").ipv4,
        [Ipv4Addr::new(192, 0, 2, 7)]
    );
    assert_eq!(
        outcome(&d, SRV_NAME, RecordType::SRV),
        Outcome::Indeterminate(Indeterminate::CnameLoop)
    );
    assert!(d.sor_indeterminate());
}

// ---- truncation, mismatches, hostile packets ---------------------------------------

#[test]
fn rfc7766_truncated_udp_answer_is_asked_again_over_tcp() {
    let mut r = Resolver::new(false).with(
        SRV_NAME,
        RecordType::SRV,
        Reply::TruncateUdp(vec![srv(SRV_NAME, 0, 0, 25, "big.d.test.")]),
    );
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(
        sors(&d),
        [("big.d.test.".into(), 25, vec![Convention::Srv])]
    );
    let srv_queries: Vec<Transport> = r
        .seen
        .iter()
        .filter(|(n, t, _)| n == SRV_NAME && *t == RecordType::SRV)
        .map(|(_, _, tr)| *tr)
        .collect();
    assert_eq!(srv_queries, [Transport::Udp, Transport::Tcp]);
}

#[test]
fn rfc7766_handle_response_reports_retry_over_tcp() {
    let mut d = Discovery::new("d.test", Config::default()).expect("domain");
    let now = Instant::now();
    let q = d.poll_query(now).expect("first query");
    let mut r = Resolver::new(false).with(SRV_NAME, RecordType::SRV, Reply::TruncateUdp(vec![]));
    let bytes = r.answer(&q).expect("reply");
    assert_eq!(d.handle_response(now, &bytes), Ok(Handled::RetryOverTcp));
    let again = d.poll_query(now).expect("TCP repeat comes first");
    assert_eq!(again.transport, Transport::Tcp);
    assert_eq!(again.name, q.name);
    assert_ne!(again.id, q.id);
    // a late UDP copy with the old id is now unknown
    assert_eq!(
        d.handle_response(now, &bytes),
        Err(ResponseError::UnknownId(q.id))
    );
    // TC over TCP is taken as the answer it carries
    let mut tc = Message::from_vec(&r.answer(&again).expect("reply")).expect("decodes");
    tc.metadata.truncation = true;
    assert_eq!(
        d.handle_response(now, &tc.to_vec().expect("encodes")),
        Ok(Handled::Answer)
    );
}

#[test]
fn rfc5452_mismatched_id_or_question_is_ignored() {
    let mut d = Discovery::new("d.test", Config::default()).expect("domain");
    let now = Instant::now();
    let q = d.poll_query(now).expect("query");
    let good = Resolver::new(false)
        .records(
            SRV_NAME,
            RecordType::SRV,
            vec![srv(SRV_NAME, 0, 0, 25, "s.d.test.")],
        )
        .answer(&q)
        .expect("reply");
    // wrong id
    let mut wrong_id = good.clone();
    wrong_id[0] ^= 0xFF;
    let bad_id = u16::from_be_bytes([wrong_id[0], wrong_id[1]]);
    assert_eq!(
        d.handle_response(now, &wrong_id),
        Err(ResponseError::UnknownId(bad_id))
    );
    // right id, other question
    let mut m = Message::from_vec(&good).expect("decodes");
    m.queries[0].set_name(name("_secmx._tcp.evil.test."));
    assert_eq!(
        d.handle_response(now, &m.to_vec().expect("encodes")),
        Err(ResponseError::QuestionMismatch(q.id))
    );
    let mut m = Message::from_vec(&good).expect("decodes");
    m.queries[0].set_query_type(RecordType::TXT);
    assert_eq!(
        d.handle_response(now, &m.to_vec().expect("encodes")),
        Err(ResponseError::QuestionMismatch(q.id))
    );
    // a query, not a response
    let mut m = Message::from_vec(&good).expect("decodes");
    m.metadata.message_type = MessageType::Query;
    assert_eq!(
        d.handle_response(now, &m.to_vec().expect("encodes")),
        Err(ResponseError::NotAResponse)
    );
    // garbage
    assert_eq!(
        d.handle_response(now, &[1, 2, 3]),
        Err(ResponseError::TooShort)
    );
    // the real answer still counts
    assert_eq!(d.handle_response(now, &good), Ok(Handled::Answer));
    // and a duplicate of it is then unknown
    assert_eq!(
        d.handle_response(now, &good),
        Err(ResponseError::UnknownId(q.id))
    );
}

#[test]
fn rfc1035_4_1_4_compression_loops_in_answers_are_ignored_not_fatal() {
    let mut d = Discovery::new("d.test", Config::default()).expect("domain");
    let now = Instant::now();
    let q = d.poll_query(now).expect("query");
    let good = Resolver::new(false)
        .records(SRV_NAME, RecordType::SRV, vec![])
        .answer(&q)
        .expect("reply");
    // header and question only: NODATA, no records in any section
    assert_eq!(&good[6..12], &[0, 0, 0, 0, 0, 0]);
    let question_end = good.len();
    for pattern in [
        &b"\xC0\x00"[..],
        b"\xC0\x01",
        b"\x01\x41\xC0\x00",
        b"\xC0\x02\xC0\x00",
    ] {
        // an answer whose owner loops into itself
        let mut m = good[..question_end].to_vec();
        m[7] = 1; // ANCOUNT 1
        let at = m.len();
        let mut owner = pattern.to_vec();
        // relocate the pointers to where the owner starts
        let mut i = 0;
        while i + 1 < owner.len() {
            if owner[i] & 0xC0 == 0xC0 {
                let target = usize::from(owner[i + 1]) + at;
                owner[i] = 0xC0 | (target >> 8) as u8;
                owner[i + 1] = target as u8;
                i += 2;
            } else {
                i += 1 + usize::from(owner[i]);
            }
        }
        m.extend_from_slice(&owner);
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        assert!(
            matches!(d.handle_response(now, &m), Err(ResponseError::Malformed(_))),
            "{pattern:02x?}"
        );
    }
    assert_eq!(d.handle_response(now, &good), Ok(Handled::Answer));
}

// ---- DNSSEC ------------------------------------------------------------------------

#[test]
fn rfc6698_4_1_ad_from_untrusted_resolver_counts_for_nothing() {
    let mut r = full_zone(true);
    let d = run("d.test", Config::default(), &mut r);
    assert_eq!(d.sors.len(), 2);
    assert!(d.sors.iter().all(|t| !t.authenticated));
    assert!(d.lookups.iter().all(|l| !l.authenticated));
    assert!(d.tlsa.is_empty());
    // no TLSA query was even sent
    assert!(r.seen.iter().all(|(_, t, _)| *t != RecordType::TLSA));
}

#[test]
fn rfc7672_2_2_one_insecure_answer_makes_the_target_insecure() {
    // the AAAA answer of the SOR host lacks AD
    let mut r = full_zone(true);
    r.not_ad.push(("secmx.d.test.".into(), RecordType::AAAA));
    let d = run("d.test", trusted(), &mut r);
    assert!(d.sors.iter().all(|t| !t.authenticated));
    assert!(d.tlsa(&name("secmx.d.test."), 25).is_none());
    assert!(d.tlsa(&name("secmx.d.test."), 10025).is_none());
    // the SRV answer alone lacks AD: only the SRV target is insecure
    let mut r = full_zone(true);
    r.not_ad.push((SRV_NAME.into(), RecordType::SRV));
    let d = run("d.test", trusted(), &mut r);
    let auth: Vec<(u16, bool)> = d.sors.iter().map(|t| (t.port, t.authenticated)).collect();
    assert_eq!(auth, [(25, true), (10025, false)]);
    assert!(d.tlsa(&name("secmx.d.test."), 25).is_some());
    assert!(d.tlsa(&name("secmx.d.test."), 10025).is_none());
    assert!(
        !r.seen
            .iter()
            .any(|(n, _, _)| n == "_10025._tcp.secmx.d.test."),
        "no TLSA look-up behind an insecure SRV answer"
    );
}

#[test]
fn rfc7672_3_1_tlsa_records_kept_with_usability() {
    let mut r = full_zone(true).records(
        "_25._tcp.mail.d.test.",
        RecordType::TLSA,
        vec![
            tlsa("_25._tcp.mail.d.test.", 1, vec![1; 32]),
            tlsa("_25._tcp.mail.d.test.", 2, vec![2; 32]),
        ],
    );
    r.zone.insert(
        ("mail.d.test.".into(), RecordType::AAAA),
        Reply::Records(vec![]),
    );
    let d = run("d.test", trusted(), &mut r);
    let set = d.tlsa(&name("mail.d.test."), 25).expect("MX host TLSA");
    assert_eq!(set.records.len(), 2);
    let usable: Vec<u8> = set.usable().map(|r| u8::from(r.usage)).collect();
    assert_eq!(usable, [2]);
}

// ---- bounds ------------------------------------------------------------------------

#[test]
fn design_query_bound_ends_in_query_limit() {
    let mut r = full_zone(false);
    let mut config = Config::default();
    config.max_queries = 3;
    let d = run("d.test", config, &mut r);
    assert_eq!(r.seen.len(), 3);
    assert_eq!(
        outcome(&d, "secmx.d.test.", RecordType::A),
        Outcome::Indeterminate(Indeterminate::QueryLimit)
    );
    assert!(d.is_indeterminate());
}

#[test]
fn design_time_outs_follow_the_configured_deadline() {
    let mut config = Config::default();
    config.query_timeout = Duration::from_millis(1500);
    config.udp_attempts = 3;
    let mut d = Discovery::new("d.test", config).expect("domain");
    let start = Instant::now();
    let mut n = 0;
    while d.poll_query(start).is_some() {
        n += 1;
    }
    assert_eq!(n, 7);
    assert_eq!(d.poll_timeout(), Some(start + Duration::from_millis(1500)));
    d.handle_timeout(start + Duration::from_millis(1499));
    assert!(d.poll_query(start).is_none(), "nothing expired yet");
    let mut now = start;
    for _ in 0..3 {
        now = d.poll_timeout().expect("deadline");
        d.handle_timeout(now);
        while d.poll_query(now).is_some() {}
    }
    assert!(d.is_finished());
    assert_eq!(d.queries_sent(), 21);
    assert_eq!(now, start + Duration::from_millis(4500));
    let result = d.poll_result().expect("result");
    assert!(
        result
            .lookups
            .iter()
            .all(|l| l.outcome == Outcome::Indeterminate(Indeterminate::Timeout))
    );
    assert_eq!(result.lookups[0].purpose, Purpose::SecmxSrv);
    assert!(d.poll_result().is_none(), "the result is handed out once");
    assert!(d.result().is_some());
}

#[test]
fn design_bad_domains_and_configs_are_refused() {
    assert!(Discovery::new("", Config::default()).is_err());
    assert!(Discovery::new(".", Config::default()).is_err());
    assert!(Discovery::new("a..b", Config::default()).is_err());
    let long = format!("{}.test", vec!["a".repeat(60); 4].join("."));
    assert_eq!(
        Discovery::new(&long, Config::default()).err(),
        Some(secmx_dns::Error::DomainTooLong)
    );
    let mut c = Config::default();
    c.secmx_type = 15; // MX: hickory decodes it itself
    assert_eq!(
        Discovery::new("d.test", c).err(),
        Some(secmx_dns::Error::InvalidSecmxType(15))
    );
    let d = Discovery::new("Example.TEST.", Config::default()).expect("domain");
    assert_eq!(d.domain(), &name("example.test."));
}

// ---- properties --------------------------------------------------------------------

proptest! {
    #[test]
    fn handle_response_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut d = Discovery::new("d.test", Config::default()).expect("domain");
        let now = Instant::now();
        while d.poll_query(now).is_some() {}
        let _ = d.handle_response(now, &bytes);
    }

    #[test]
    fn handle_response_never_panics_on_mutated_answers(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        which in 0usize..7,
    ) {
        let mut d = Discovery::new("d.test", trusted()).expect("domain");
        let now = Instant::now();
        let mut queries = Vec::new();
        while let Some(q) = d.poll_query(now) {
            queries.push(q);
        }
        let mut r = full_zone(true);
        let mut bytes = r.answer(&queries[which % queries.len()]).expect("reply");
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = d.handle_response(now, &bytes);
        while d.poll_query(now).is_some() {}
        d.handle_timeout(now + Duration::from_secs(60));
        while d.poll_query(now).is_some() {}
    }
}

/// An answer to `query` whose first record (type 65000, owner the root)
/// carries `hops` compression pointers each pointing at the one before,
/// followed by `tail` (records whose names point at the chain's end, which
/// is at the returned offset).
fn pointer_chain_answer(query: &Query, hops: usize, answers: u16) -> (Vec<u8>, usize) {
    let mut m = query.bytes[..query.bytes.len() - 11].to_vec(); // without OPT
    m[2] = 0x81; // QR, RD
    m[3] = 0x80; // RA
    m[6..8].copy_from_slice(&answers.to_be_bytes());
    m[10..12].copy_from_slice(&[0, 0]);
    m.extend_from_slice(&[0, 0xFD, 0xE8, 0, 1, 0, 0, 0, 60, 0, 0]);
    let rdlength_at = m.len() - 2;
    let rdata = m.len();
    m.push(0);
    let mut last = rdata;
    for _ in 0..hops {
        let here = m.len();
        m.push(0xC0 | (last >> 8) as u8);
        m.push(last as u8);
        last = here;
    }
    let rdlength = (m.len() - rdata) as u16;
    m[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
    (m, last)
}

#[test]
fn rfc1035_4_1_4_pointer_chains_are_bounded_so_cost_stays_linear() {
    let mut d = Discovery::new("d.test", Config::default()).expect("domain");
    let now = Instant::now();
    let srv_query = d.poll_query(now).expect("SRV query");
    let mx_query = d.poll_query(now).expect("MX query");
    assert_eq!(mx_query.record_type, RecordType::MX);
    // 511 A records whose owners each chase an 8000-pointer chain: hickory
    // alone would follow 4 million pointers; here the first owner is refused.
    let (mut m, end) = pointer_chain_answer(&srv_query, 8000, 512);
    for _ in 0..511 {
        m.push(0xC0 | (end >> 8) as u8);
        m.push(end as u8);
        m.extend_from_slice(&[0, 33, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    }
    let started = Instant::now();
    assert!(matches!(
        d.handle_response(now, &m),
        Err(ResponseError::Malformed(_))
    ));
    assert!(started.elapsed() < Duration::from_millis(50));
    // the same in the exchange of an MX record: 200 hops refused, 100 taken
    for (hops, accepted) in [(200, false), (100, true)] {
        let (mut m, end) = pointer_chain_answer(&mx_query, hops, 2);
        m.extend_from_slice(&[0xC0, 0x0C, 0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 0]);
        m.push(0xC0 | (end >> 8) as u8);
        m.push(end as u8);
        let result = d.handle_response(now, &m);
        assert_eq!(result.is_ok(), accepted, "{hops} hops: {result:?}");
    }
    // the chain ends at the root: a null MX
    while d.poll_query(now).is_some() {}
    d.handle_timeout(now + Duration::from_secs(60));
    while d.poll_query(now).is_some() {}
    d.handle_timeout(now + Duration::from_secs(120));
    assert_eq!(d.result().expect("finished").mx, MailRoute::NullMx);
}
