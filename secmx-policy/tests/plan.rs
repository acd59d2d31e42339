//! Delivery plans: each class (BES, SOS, REQUIRETLS) × each discovery
//! shape (a SOR by each convention, none, indeterminate SOR look-ups, null
//! MX, NXDOMAIN, MX with and without TLSA, indeterminate MX) × server
//! behaviours → the attempts made and the verdicts. Discovery results come
//! from running `secmx_dns::Discovery` against canned DNS responses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Instant;

use proptest::prelude::*;
use secmx_core::client::{TimeoutKind, TlsRequirement};
use secmx_core::rustls::{CertificateError, CipherSuite, Error as TlsError, ProtocolVersion};
use secmx_core::{EnhancedCode, Reply, ReplyCode};
use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use secmx_dns::hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use secmx_dns::hickory_proto::rr::rdata::{A, AAAA, MX, NULL, SRV, TLSA};
use secmx_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use secmx_dns::{Config, Convention, Discovered, Discovery, SecmxRdata};
use secmx_policy::learned::LearnedLevel;
use secmx_policy::mta_sts::MtaStsPolicy;
use secmx_policy::plan::{
    Attempt, AttemptOutcome, Note, Plan, PlanConfig, PlanInputs, PolicySource, Progress, Reason,
    ReportError, Role, SkipReason, Verdict,
};
use secmx_policy::verify::CertFailure;
use secmx_policy::{CertCheck, Class};

// ---- canned DNS ------------------------------------------------------------

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("test name")
}
fn rec(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 300, data)
}
fn mx(owner: &str, preference: u16, host: &str) -> Record {
    rec(owner, RData::MX(MX::new(preference, name(host))))
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
fn srv(owner: &str, port: u16, target: &str) -> Record {
    rec(owner, RData::SRV(SRV::new(0, 0, port, name(target))))
}
fn secmx(owner: &str, flags: u16, port: u16, target: &str) -> Record {
    let rdata = SecmxRdata::with_raw_flags(10, flags, port, name(target)).to_bytes();
    rec(
        owner,
        RData::Unknown {
            code: RecordType::Unknown(65482),
            rdata: NULL::with(rdata),
        },
    )
}
fn tlsa(owner: &str, usage: u8) -> Record {
    rec(
        owner,
        RData::TLSA(TLSA::new(
            CertUsage::from(usage),
            Selector::Spki,
            Matching::Sha256,
            vec![0xAB; 32],
        )),
    )
}

#[derive(Clone)]
enum Answer {
    Records(Vec<Record>),
    Rcode(ResponseCode),
}

/// A resolver: (name, type) → answer; anything else is NXDOMAIN. With
/// `ad`, every NOERROR and NXDOMAIN answer carries the AD bit.
#[derive(Clone)]
struct Zone {
    answers: HashMap<(String, RecordType), Answer>,
    ad: bool,
}

impl Zone {
    fn new(ad: bool) -> Self {
        Self {
            answers: HashMap::new(),
            ad,
        }
    }
    fn with(mut self, owner: &str, rtype: RecordType, records: Vec<Record>) -> Self {
        self.answers
            .insert((owner.to_owned(), rtype), Answer::Records(records));
        self
    }
    fn fail(mut self, owner: &str, rtype: RecordType) -> Self {
        self.answers.insert(
            (owner.to_owned(), rtype),
            Answer::Rcode(ResponseCode::ServFail),
        );
        self
    }
    fn answer(&self, query: &[u8]) -> Vec<u8> {
        let request = Message::from_vec(query).expect("own query decodes");
        let question = request.queries[0].clone();
        let key = (
            question.name().to_ascii().to_ascii_lowercase(),
            question.query_type(),
        );
        let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.recursion_available = true;
        m.add_query(question);
        match self.answers.get(&key).cloned() {
            None => {
                m.metadata.response_code = ResponseCode::NXDomain;
                m.metadata.authentic_data = self.ad;
            }
            Some(Answer::Records(records)) => {
                m.add_answers(records);
                m.metadata.authentic_data = self.ad;
            }
            Some(Answer::Rcode(rcode)) => m.metadata.response_code = rcode,
        }
        m.to_vec().expect("encodes")
    }
}

fn discover(zone: &Zone) -> Discovered {
    let mut config = Config::default();
    config.trusted_resolver = zone.ad;
    let mut d = Discovery::new("d.test", config).expect("valid domain");
    let mut now = Instant::now();
    for _ in 0..10_000 {
        let mut sent = Vec::new();
        while let Some(q) = d.poll_query(now) {
            sent.push(q);
        }
        for q in &sent {
            d.handle_response(now, &zone.answer(&q.bytes))
                .expect("answer accepted");
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

const D: &str = "d.test.";
const MXH: &str = "mx.d.test.";
const SOR: &str = "sor.d.test.";
const SECMX_TYPE: RecordType = RecordType::Unknown(65482);

/// The discovery shapes of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    /// `_secmx._tcp` SRV → sor.d.test:2525; MX 10 mx.
    Srv,
    /// MX 51966 sor; MX 10 mx.
    Mx51966,
    /// secmx.d.test has an address; MX 10 mx.
    Naming,
    /// SECMX 10 0 0 sor (no certificate flag); MX 10 mx.
    SecmxRr,
    /// MX 10 mx only.
    NoSor,
    /// The SRV look-up fails (SERVFAIL); MX 10 mx.
    SorIndeterminate,
    /// MX 0 .
    NullMx,
    /// The domain does not exist.
    NxDomain,
    /// DNSSEC-authenticated MX 10 mx with a usable TLSA record.
    MxTlsa,
    /// DNSSEC-authenticated MX 10 mx, no TLSA record.
    MxAuthenticated,
    /// The MX look-up fails (SERVFAIL).
    MxIndeterminate,
}

const SHAPES: [Shape; 11] = [
    Shape::Srv,
    Shape::Mx51966,
    Shape::Naming,
    Shape::SecmxRr,
    Shape::NoSor,
    Shape::SorIndeterminate,
    Shape::NullMx,
    Shape::NxDomain,
    Shape::MxTlsa,
    Shape::MxAuthenticated,
    Shape::MxIndeterminate,
];

fn mx_zone(ad: bool) -> Zone {
    Zone::new(ad)
        .with(D, RecordType::MX, vec![mx(D, 10, MXH)])
        .with(MXH, RecordType::A, vec![a(MXH, 10)])
        .with(MXH, RecordType::AAAA, vec![aaaa(MXH, 10)])
}

fn zone(shape: Shape) -> Zone {
    let sor_addr = |z: Zone| z.with(SOR, RecordType::A, vec![a(SOR, 25)]);
    match shape {
        Shape::Srv => sor_addr(mx_zone(false).with(
            "_secmx._tcp.d.test.",
            RecordType::SRV,
            vec![srv("_secmx._tcp.d.test.", 2525, SOR)],
        )),
        Shape::Mx51966 => sor_addr(mx_zone(false).with(
            D,
            RecordType::MX,
            vec![mx(D, 10, MXH), mx(D, 51966, SOR)],
        )),
        Shape::Naming => {
            mx_zone(false).with("secmx.d.test.", RecordType::A, vec![a("secmx.d.test.", 26)])
        }
        Shape::SecmxRr => sor_addr(mx_zone(false).with(D, SECMX_TYPE, vec![secmx(D, 0, 0, SOR)])),
        Shape::NoSor => mx_zone(false),
        Shape::SorIndeterminate => mx_zone(false).fail("_secmx._tcp.d.test.", RecordType::SRV),
        Shape::NullMx => Zone::new(false).with(D, RecordType::MX, vec![mx(D, 0, ".")]),
        Shape::NxDomain => Zone::new(false),
        Shape::MxTlsa => mx_zone(true).with(
            "_25._tcp.mx.d.test.",
            RecordType::TLSA,
            vec![tlsa("_25._tcp.mx.d.test.", 3)],
        ),
        Shape::MxAuthenticated => mx_zone(true),
        Shape::MxIndeterminate => Zone::new(false).fail(D, RecordType::MX),
    }
}

/// Each shape is discovered once.
fn discovered(shape: Shape) -> &'static Discovered {
    static CACHE: OnceLock<Vec<(Shape, Discovered)>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| SHAPES.iter().map(|s| (*s, discover(&zone(*s)))).collect());
    &cache
        .iter()
        .find(|(s, _)| *s == shape)
        .expect("every shape is cached")
        .1
}

// ---- simulated servers and a client driver ----------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cert {
    /// Chains to a public root and names the host; matches TLSA too.
    Valid,
    /// Passes only `encrypt`.
    SelfSigned,
}

#[derive(Debug, Clone)]
struct Server {
    connect: bool,
    greeting: u16,
    starttls: bool,
    starttls_reply: Option<u16>,
    handshake_error: bool,
    cert: Cert,
    requiretls: bool,
    mail: u16,
    rcpt: Vec<u16>,
    data: u16,
}

impl Server {
    fn good() -> Self {
        Self {
            connect: true,
            greeting: 220,
            starttls: true,
            starttls_reply: None,
            handshake_error: false,
            cert: Cert::Valid,
            requiretls: true,
            mail: 250,
            rcpt: Vec::new(),
            data: 250,
        }
    }
    fn no_tls() -> Self {
        Self {
            starttls: false,
            ..Self::good()
        }
    }
    fn self_signed() -> Self {
        Self {
            cert: Cert::SelfSigned,
            ..Self::good()
        }
    }
    fn down() -> Self {
        Self {
            connect: false,
            ..Self::good()
        }
    }
}

fn reply(code: u16) -> Reply<'static> {
    let enhanced = match code {
        550 => EnhancedCode::new(5, 1, 1),
        450 => EnhancedCode::new(4, 2, 1),
        554 => EnhancedCode::new(5, 7, 1),
        _ => None,
    };
    Reply::new(ReplyCode::new(code).expect("code"), enhanced, "text")
}

fn accepts(cert: Cert, check: CertCheck) -> Result<(), CertFailure> {
    match (cert, check) {
        (Cert::Valid, _) | (Cert::SelfSigned, CertCheck::Encrypt) => Ok(()),
        (Cert::SelfSigned, CertCheck::Dane) => Err(CertFailure::TlsaMismatch),
        (Cert::SelfSigned, _) => Err(CertFailure::NotTrusted),
    }
}

/// One attempt as a short line: `host:port role tls check [rt] [retry]`.
fn sum(a: &Attempt) -> String {
    let role = match a.role {
        Role::Sor => "sor",
        Role::Mx => "mx",
        _ => "?",
    };
    let tls = match a.tls {
        TlsRequirement::Required => "req",
        TlsRequirement::Opportunistic => "opp",
        TlsRequirement::None => "none",
    };
    let check = match a.cert_check {
        CertCheck::Encrypt => "encrypt",
        CertCheck::Verify => "verify",
        CertCheck::Dane => "dane",
        _ => "?",
    };
    let mut s = format!("{}:{} {role} {tls} {check}", a.host, a.port);
    if a.require_tls {
        s.push_str(" rt");
    }
    if a.cleartext_retry {
        s.push_str(" retry");
    }
    s
}

/// Runs every attempt of `plan` against the servers (by host; a good
/// server where none is given) as a client session would report it.
/// Returns the attempts tried.
fn drive(plan: &mut Plan, servers: &[(&str, Server)]) -> Vec<String> {
    let mut tried = Vec::new();
    while let Some(a) = plan.next_attempt() {
        tried.push(sum(&a));
        let s = servers
            .iter()
            .find(|(h, _)| *h == a.host)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(Server::good);
        run_attempt(plan, &a, &s);
    }
    tried
}

fn run_attempt(plan: &mut Plan, a: &Attempt, s: &Server) {
    macro_rules! go {
        ($outcome:expr) => {
            match plan.report(a.id, $outcome).expect("report accepted") {
                Progress::Continue => {}
                _ => return,
            }
        };
    }
    if !s.connect {
        go!(AttemptOutcome::ConnectFailed);
    }
    go!(AttemptOutcome::Greeting(reply(s.greeting)));
    go!(AttemptOutcome::Capabilities {
        tls: false,
        requiretls: false
    });
    if a.tls != TlsRequirement::None {
        if !s.starttls {
            go!(AttemptOutcome::StartTlsNotOffered);
        } else if let Some(code) = s.starttls_reply {
            go!(AttemptOutcome::StartTlsRefused(reply(code)));
        } else if s.handshake_error {
            go!(AttemptOutcome::HandshakeFailed(CertFailure::Handshake));
        } else if let Err(f) = accepts(s.cert, a.cert_check) {
            go!(AttemptOutcome::HandshakeFailed(f));
        } else {
            go!(AttemptOutcome::TlsEstablished {
                protocol: ProtocolVersion::TLSv1_3,
                cipher_suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
            });
            go!(AttemptOutcome::Capabilities {
                tls: true,
                requiretls: s.requiretls
            });
        }
    }
    if s.mail != 250 {
        go!(AttemptOutcome::MailRejected(reply(s.mail)));
    }
    for (i, r) in a.recipients.iter().enumerate() {
        let code = s.rcpt.get(*r).copied().unwrap_or(250);
        go!(AttemptOutcome::Rcpt {
            index: i,
            reply: reply(code)
        });
    }
    go!(AttemptOutcome::Data(reply(s.data)));
}

/// The expected verdict.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// Delivered to this host, over TLS or not, at this level.
    Delivered(&'static str, bool, LearnedLevel),
    /// Deferred for this reason.
    Defer(Reason),
    /// Bounced with this status and reason.
    Bounce(&'static str, Reason),
}

fn got(v: &Verdict) -> Want {
    match v {
        Verdict::Delivered {
            host, tls, level, ..
        } => Want::Delivered(
            Box::leak(host.clone().into_boxed_str()),
            tls.is_some(),
            *level,
        ),
        Verdict::Defer { reason, status, .. } => {
            assert_eq!(status.class(), 4, "a deferral carries a 4.x.x status");
            Want::Defer(*reason)
        }
        Verdict::Bounce { status, reason, .. } => {
            Want::Bounce(Box::leak(status.to_string().into_boxed_str()), *reason)
        }
        _ => panic!("unknown verdict"),
    }
}

fn plan(shape: Shape, class: Class) -> Plan {
    let config = PlanConfig::default();
    Plan::new(
        discovered(shape),
        class,
        PlanInputs::new(&config, 1_700_000_000),
    )
}

// ---- the table ---------------------------------------------------------------

use LearnedLevel as L;
use Reason as R;

struct Row {
    shape: Shape,
    class: Class,
    servers: Vec<(&'static str, Server)>,
    tried: Vec<&'static str>,
    want: Want,
}

fn row(
    shape: Shape,
    class: Class,
    servers: Vec<(&'static str, Server)>,
    tried: &[&'static str],
    want: Want,
) -> Row {
    Row {
        shape,
        class,
        servers,
        tried: tried.to_vec(),
        want,
    }
}

fn all_no_tls() -> Vec<(&'static str, Server)> {
    ["sor.d.test", "secmx.d.test", "mx.d.test"]
        .into_iter()
        .map(|h| (h, Server::no_tls()))
        .collect()
}

/// DESIGN.md roles × discovery shapes, with every server good, and with no
/// server offering STARTTLS.
#[test]
fn design_roles_by_shapes() {
    use Class::{BestEffort as Bes, RequireTls as Rt, SecureOnly as Sos};
    use Shape::*;
    let good = Vec::new;
    let sor_bes = |h: &'static str| Want::Delivered(h, true, L::SorPresent);
    let rows = vec![
        // ---- BES, every server good: the SOR first, over TLS (encrypt)
        row(
            Srv,
            Bes,
            good(),
            &["sor.d.test:2525 sor req encrypt"],
            sor_bes("sor.d.test"),
        ),
        row(
            Mx51966,
            Bes,
            good(),
            &["sor.d.test:25 sor req encrypt"],
            sor_bes("sor.d.test"),
        ),
        row(
            Naming,
            Bes,
            good(),
            &["secmx.d.test:25 sor req encrypt"],
            sor_bes("secmx.d.test"),
        ),
        row(
            SecmxRr,
            Bes,
            good(),
            &["sor.d.test:25 sor req encrypt"],
            sor_bes("sor.d.test"),
        ),
        row(
            NoSor,
            Bes,
            good(),
            &["mx.d.test:25 mx opp encrypt"],
            Want::Delivered("mx.d.test", true, L::Tls),
        ),
        row(
            SorIndeterminate,
            Bes,
            good(),
            &["mx.d.test:25 mx opp encrypt"],
            Want::Delivered("mx.d.test", true, L::Tls),
        ),
        row(NullMx, Bes, good(), &[], Want::Bounce("5.1.10", R::NullMx)),
        row(
            NxDomain,
            Bes,
            good(),
            &[],
            Want::Bounce("5.1.2", R::NxDomain),
        ),
        row(
            MxTlsa,
            Bes,
            good(),
            &["mx.d.test:25 mx req dane"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(
            MxAuthenticated,
            Bes,
            good(),
            &["mx.d.test:25 mx opp encrypt"],
            Want::Delivered("mx.d.test", true, L::Tls),
        ),
        row(
            MxIndeterminate,
            Bes,
            good(),
            &[],
            Want::Defer(R::DnsIndeterminate),
        ),
        // ---- BES, no STARTTLS anywhere: the SOR fails, the MX goes on in clear
        row(
            Srv,
            Bes,
            all_no_tls(),
            &[
                "sor.d.test:2525 sor req encrypt",
                "mx.d.test:25 mx opp encrypt",
            ],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        row(
            Mx51966,
            Bes,
            all_no_tls(),
            &[
                "sor.d.test:25 sor req encrypt",
                "mx.d.test:25 mx opp encrypt",
            ],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        row(
            Naming,
            Bes,
            all_no_tls(),
            &[
                "secmx.d.test:25 sor req encrypt",
                "mx.d.test:25 mx opp encrypt",
            ],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        row(
            SecmxRr,
            Bes,
            all_no_tls(),
            &[
                "sor.d.test:25 sor req encrypt",
                "mx.d.test:25 mx opp encrypt",
            ],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        row(
            NoSor,
            Bes,
            all_no_tls(),
            &["mx.d.test:25 mx opp encrypt"],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        // DESIGN: BES goes ahead despite an indeterminate SOR look-up
        row(
            SorIndeterminate,
            Bes,
            all_no_tls(),
            &["mx.d.test:25 mx opp encrypt"],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        // RFC 7672 §2.2: DANE makes TLS mandatory even for BES; its failure defers
        row(
            MxTlsa,
            Bes,
            all_no_tls(),
            &["mx.d.test:25 mx req dane"],
            Want::Defer(R::Dane),
        ),
        row(
            MxAuthenticated,
            Bes,
            all_no_tls(),
            &["mx.d.test:25 mx opp encrypt"],
            Want::Delivered("mx.d.test", false, L::None),
        ),
        // ---- SOS, every server good: verify everywhere
        row(
            Srv,
            Sos,
            good(),
            &["sor.d.test:2525 sor req verify"],
            sor_bes("sor.d.test"),
        ),
        row(
            Mx51966,
            Sos,
            good(),
            &["sor.d.test:25 sor req verify"],
            sor_bes("sor.d.test"),
        ),
        row(
            Naming,
            Sos,
            good(),
            &["secmx.d.test:25 sor req verify"],
            sor_bes("secmx.d.test"),
        ),
        row(
            SecmxRr,
            Sos,
            good(),
            &["sor.d.test:25 sor req verify"],
            sor_bes("sor.d.test"),
        ),
        row(
            NoSor,
            Sos,
            good(),
            &["mx.d.test:25 mx req verify"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(
            SorIndeterminate,
            Sos,
            good(),
            &["mx.d.test:25 mx req verify"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(NullMx, Sos, good(), &[], Want::Bounce("5.1.10", R::NullMx)),
        row(
            NxDomain,
            Sos,
            good(),
            &[],
            Want::Bounce("5.1.2", R::NxDomain),
        ),
        row(
            MxTlsa,
            Sos,
            good(),
            &["mx.d.test:25 mx req dane"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(
            MxAuthenticated,
            Sos,
            good(),
            &["mx.d.test:25 mx req verify"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(
            MxIndeterminate,
            Sos,
            good(),
            &[],
            Want::Defer(R::DnsIndeterminate),
        ),
        // ---- SOS, no STARTTLS anywhere: 5.7.4, unless a look-up was indeterminate
        row(
            Srv,
            Sos,
            all_no_tls(),
            &[
                "sor.d.test:2525 sor req verify",
                "mx.d.test:25 mx req verify",
            ],
            Want::Bounce("5.7.4", R::NoSecureReceiver),
        ),
        row(
            Mx51966,
            Sos,
            all_no_tls(),
            &["sor.d.test:25 sor req verify", "mx.d.test:25 mx req verify"],
            Want::Bounce("5.7.4", R::NoSecureReceiver),
        ),
        row(
            Naming,
            Sos,
            all_no_tls(),
            &[
                "secmx.d.test:25 sor req verify",
                "mx.d.test:25 mx req verify",
            ],
            Want::Bounce("5.7.4", R::NoSecureReceiver),
        ),
        row(
            SecmxRr,
            Sos,
            all_no_tls(),
            &["sor.d.test:25 sor req verify", "mx.d.test:25 mx req verify"],
            Want::Bounce("5.7.4", R::NoSecureReceiver),
        ),
        row(
            NoSor,
            Sos,
            all_no_tls(),
            &["mx.d.test:25 mx req verify"],
            Want::Bounce("5.7.4", R::NoSecureReceiver),
        ),
        // DESIGN: an indeterminate look-up never causes a bounce
        row(
            SorIndeterminate,
            Sos,
            all_no_tls(),
            &["mx.d.test:25 mx req verify"],
            Want::Defer(R::DnsIndeterminate),
        ),
        row(
            MxTlsa,
            Sos,
            all_no_tls(),
            &["mx.d.test:25 mx req dane"],
            Want::Defer(R::Dane),
        ),
        row(
            MxAuthenticated,
            Sos,
            all_no_tls(),
            &["mx.d.test:25 mx req verify"],
            Want::Bounce("5.7.4", R::NoSecureReceiver),
        ),
        // ---- REQUIRETLS: only authenticated routes (RFC 8689 §4.2.1)
        row(
            Srv,
            Rt,
            good(),
            &[],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
        row(
            Mx51966,
            Rt,
            good(),
            &[],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
        row(
            Naming,
            Rt,
            good(),
            &[],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
        row(
            SecmxRr,
            Rt,
            good(),
            &[],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
        row(
            NoSor,
            Rt,
            good(),
            &[],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
        row(
            SorIndeterminate,
            Rt,
            good(),
            &[],
            Want::Defer(R::DnsIndeterminate),
        ),
        row(NullMx, Rt, good(), &[], Want::Bounce("5.1.10", R::NullMx)),
        row(
            NxDomain,
            Rt,
            good(),
            &[],
            Want::Bounce("5.1.2", R::NxDomain),
        ),
        row(
            MxTlsa,
            Rt,
            good(),
            &["mx.d.test:25 mx req dane rt"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(
            MxAuthenticated,
            Rt,
            good(),
            &["mx.d.test:25 mx req verify rt"],
            Want::Delivered("mx.d.test", true, L::VerifiedTls),
        ),
        row(
            MxIndeterminate,
            Rt,
            good(),
            &[],
            Want::Defer(R::DnsIndeterminate),
        ),
        row(
            MxTlsa,
            Rt,
            all_no_tls(),
            &["mx.d.test:25 mx req dane rt"],
            Want::Defer(R::Dane),
        ),
        row(
            MxAuthenticated,
            Rt,
            all_no_tls(),
            &["mx.d.test:25 mx req verify rt"],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
        // RFC 8689 §4.2.1: TLS but no REQUIRETLS offered after it
        row(
            MxAuthenticated,
            Rt,
            vec![(
                "mx.d.test",
                Server {
                    requiretls: false,
                    ..Server::good()
                },
            )],
            &["mx.d.test:25 mx req verify rt"],
            Want::Bounce("5.7.30", R::RequireTlsNotSupported),
        ),
    ];
    for (n, r) in rows.into_iter().enumerate() {
        let mut p = plan(r.shape, r.class);
        if r.class.requires_tls() {
            assert!(
                p.attempts().all(|(a, _)| a.tls == TlsRequirement::Required),
                "row {n}"
            );
        }
        let tried = drive(&mut p, &r.servers);
        assert_eq!(tried, r.tried, "row {n}: {:?} {:?}", r.shape, r.class);
        assert!(p.is_finished(), "row {n}");
        let v = p.verdict(0).expect("a verdict");
        assert_eq!(got(v), r.want, "row {n}: {:?} {:?}", r.shape, r.class);
    }
}

// ---- single scenarios ----------------------------------------------------------

fn run(shape: Shape, class: Class, servers: &[(&'static str, Server)]) -> (Vec<String>, Plan) {
    let mut p = plan(shape, class);
    let tried = drive(&mut p, servers);
    (tried, p)
}

#[test]
fn design_bes_cleartext_retry_after_failed_handshake() {
    // Postfix's `may`: a failed handshake is retried in clear on a new
    // connection.
    let broken = Server {
        handshake_error: true,
        ..Server::good()
    };
    let (tried, p) = run(
        Shape::NoSor,
        Class::BestEffort,
        &[("mx.d.test", broken.clone())],
    );
    assert_eq!(
        tried,
        [
            "mx.d.test:25 mx opp encrypt",
            "mx.d.test:25 mx none encrypt retry"
        ]
    );
    assert_eq!(
        got(p.verdict(0).expect("verdict")),
        Want::Delivered("mx.d.test", false, L::None)
    );
    // never under SOS
    let (tried, p) = run(Shape::NoSor, Class::SecureOnly, &[("mx.d.test", broken)]);
    assert_eq!(tried, ["mx.d.test:25 mx req verify"]);
    assert_eq!(
        got(p.verdict(0).expect("verdict")),
        Want::Defer(R::TlsFailed)
    );
    // nor when configured off
    let mut config = PlanConfig::default();
    config.cleartext_retry = false;
    let mut p = Plan::new(
        discovered(Shape::NoSor),
        Class::BestEffort,
        PlanInputs::new(&config, 0),
    );
    let tried = drive(
        &mut p,
        &[(
            "mx.d.test",
            Server {
                handshake_error: true,
                ..Server::good()
            },
        )],
    );
    assert_eq!(tried, ["mx.d.test:25 mx opp encrypt"]);
    assert_eq!(
        got(p.verdict(0).expect("verdict")),
        Want::Defer(R::TlsFailed)
    );
}

#[test]
fn design_sor_check_encrypt_under_bes_verify_under_sos() {
    // A self-signed SOR: fine for BES (the proposal's "between parties"),
    // not for SOS, which goes on to the MX.
    let servers = [("sor.d.test", Server::self_signed())];
    let (tried, p) = run(Shape::Srv, Class::BestEffort, &servers);
    assert_eq!(tried, ["sor.d.test:2525 sor req encrypt"]);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("sor.d.test", true, L::SorPresent)
    );
    let (tried, p) = run(Shape::Srv, Class::SecureOnly, &servers);
    assert_eq!(
        tried,
        [
            "sor.d.test:2525 sor req verify",
            "mx.d.test:25 mx req verify"
        ]
    );
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("mx.d.test", true, L::VerifiedTls)
    );
    let (_, end) = p.attempts().next().expect("first attempt");
    let Some(secmx_policy::plan::AttemptEnd::Failed(f)) = end else {
        panic!("the SOR attempt failed")
    };
    assert_eq!(f.cert, Some(CertFailure::NotTrusted));
}

#[test]
fn design_secmx_certificate_flag_raises_encrypt_to_verify() {
    let z = mx_zone(false)
        .with(D, SECMX_TYPE, vec![secmx(D, 1, 0, SOR)])
        .with(SOR, RecordType::A, vec![a(SOR, 25)]);
    let d = discover(&z);
    assert!(d.sors[0].certificate_flag);
    let config = PlanConfig::default();
    let mut p = Plan::new(&d, Class::BestEffort, PlanInputs::new(&config, 0));
    let a = p.next_attempt().expect("attempt");
    assert_eq!(sum(&a), "sor.d.test:25 sor req verify");
    assert_eq!(a.policy, PolicySource::Secmx);
    assert!(a.conventions.contains(Convention::SecmxRr));
}

#[test]
fn design_sos_temporary_failures_defer_never_bounce() {
    // one host down, the other without STARTTLS: the down one may come
    // back, so defer
    let (tried, p) = run(
        Shape::Srv,
        Class::SecureOnly,
        &[
            ("sor.d.test", Server::down()),
            ("mx.d.test", Server::no_tls()),
        ],
    );
    assert_eq!(tried.len(), 2);
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::Unreachable));
    // STARTTLS 454 (RFC 3207 §4: temporary) defers
    let (_, p) = run(
        Shape::NoSor,
        Class::SecureOnly,
        &[(
            "mx.d.test",
            Server {
                starttls_reply: Some(454),
                ..Server::good()
            },
        )],
    );
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::TlsFailed));
    // STARTTLS 554 is definitive
    let (_, p) = run(
        Shape::NoSor,
        Class::SecureOnly,
        &[(
            "mx.d.test",
            Server {
                starttls_reply: Some(554),
                ..Server::good()
            },
        )],
    );
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Bounce("5.7.4", R::NoSecureReceiver)
    );
    // a 4xx greeting everywhere defers, with the server's reply
    let (_, p) = run(
        Shape::NoSor,
        Class::SecureOnly,
        &[(
            "mx.d.test",
            Server {
                greeting: 450,
                ..Server::good()
            },
        )],
    );
    let Some(Verdict::Defer {
        status,
        reason,
        reply,
        host,
    }) = p.verdict(0)
    else {
        panic!("defer")
    };
    assert_eq!(
        (status.to_string(), *reason),
        ("4.2.1".to_owned(), R::SessionRejected)
    );
    assert_eq!(reply.as_ref().map(|r| r.code().get()), Some(450));
    assert_eq!(host.as_deref(), Some("mx.d.test"));
}

#[test]
fn rfc5321_3_1_5xx_greeting_moves_on_then_bounces() {
    let (tried, p) = run(
        Shape::Srv,
        Class::BestEffort,
        &[
            (
                "sor.d.test",
                Server {
                    greeting: 554,
                    ..Server::good()
                },
            ),
            (
                "mx.d.test",
                Server {
                    greeting: 554,
                    ..Server::good()
                },
            ),
        ],
    );
    assert_eq!(tried.len(), 2);
    let Some(Verdict::Bounce {
        status,
        reason,
        diagnostic,
        remote_host,
    }) = p.verdict(0)
    else {
        panic!("bounce")
    };
    assert_eq!(status.to_string(), "5.7.1");
    assert_eq!(*reason, R::SessionRejected);
    assert_eq!(diagnostic.as_ref().map(|r| r.code().get()), Some(554));
    assert_eq!(remote_host.as_deref(), Some("mx.d.test"));
    // SOS: one host without TLS, one refusing: no secure receiver
    let (_, p) = run(
        Shape::Srv,
        Class::SecureOnly,
        &[
            ("sor.d.test", Server::no_tls()),
            (
                "mx.d.test",
                Server {
                    greeting: 554,
                    ..Server::good()
                },
            ),
        ],
    );
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Bounce("5.7.4", R::NoSecureReceiver)
    );
}

#[test]
fn rfc5321_recipients_each_get_their_verdict() {
    let config = PlanConfig::default();
    let mut p = Plan::new(
        discovered(Shape::NoSor),
        Class::SecureOnly,
        PlanInputs::new(&config, 0).recipients(3),
    );
    let tried = drive(
        &mut p,
        &[(
            "mx.d.test",
            Server {
                rcpt: vec![250, 550, 450],
                ..Server::good()
            },
        )],
    );
    assert_eq!(tried.len(), 1);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("mx.d.test", true, L::VerifiedTls)
    );
    assert_eq!(
        got(p.verdict(1).expect("v")),
        Want::Bounce("5.1.1", R::Reply)
    );
    assert_eq!(got(p.verdict(2).expect("v")), Want::Defer(R::Reply));
    // every RCPT refused: the attempt ends there, the data never goes
    let mut p = Plan::new(
        discovered(Shape::NoSor),
        Class::BestEffort,
        PlanInputs::new(&config, 0).recipients(2),
    );
    let a = p.next_attempt().expect("attempt");
    for o in [
        AttemptOutcome::Greeting(reply(220)),
        AttemptOutcome::Rcpt {
            index: 0,
            reply: reply(550),
        },
    ] {
        assert_eq!(p.report(a.id, o), Ok(Progress::Continue));
    }
    assert_eq!(
        p.report(
            a.id,
            AttemptOutcome::Rcpt {
                index: 1,
                reply: reply(550)
            }
        ),
        Ok(Progress::Finished)
    );
    assert!(p.next_attempt().is_none());
}

#[test]
fn rfc5321_mail_and_data_replies() {
    // MAIL 5xx bounces, 4xx defers; data 5xx bounces, 4xx defers
    for (server, want) in [
        (
            Server {
                mail: 550,
                ..Server::good()
            },
            Want::Bounce("5.1.1", R::Reply),
        ),
        (
            Server {
                mail: 451,
                ..Server::good()
            },
            Want::Defer(R::Reply),
        ),
        (
            Server {
                data: 554,
                ..Server::good()
            },
            Want::Bounce("5.7.1", R::Reply),
        ),
        (
            Server {
                data: 452,
                ..Server::good()
            },
            Want::Defer(R::Reply),
        ),
    ] {
        let (tried, p) = run(Shape::NoSor, Class::BestEffort, &[("mx.d.test", server)]);
        assert_eq!(tried.len(), 1);
        assert_eq!(got(p.verdict(0).expect("v")), want);
    }
}

#[test]
fn rfc3207_530_to_mail_in_clear_is_not_a_refusal() {
    // A host that wants TLS but offers no STARTTLS: the next host takes it.
    let z = Zone::new(false)
        .with(
            D,
            RecordType::MX,
            vec![mx(D, 10, MXH), mx(D, 20, "mx2.d.test.")],
        )
        .with(MXH, RecordType::A, vec![a(MXH, 10)])
        .with("mx2.d.test.", RecordType::A, vec![a("mx2.d.test.", 11)]);
    let d = discover(&z);
    let config = PlanConfig::default();
    let mut p = Plan::new(&d, Class::BestEffort, PlanInputs::new(&config, 0));
    let tried = drive(
        &mut p,
        &[(
            "mx.d.test",
            Server {
                starttls: false,
                mail: 530,
                ..Server::good()
            },
        )],
    );
    assert_eq!(tried.len(), 2);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("mx2.d.test", true, L::Tls)
    );
}

#[test]
fn learned_floor_defers_instead_of_downgrading() {
    let config = PlanConfig::default();
    let with = |shape, class, floor| {
        Plan::new(
            discovered(shape),
            class,
            PlanInputs::new(&config, 0).learned(Some(floor)),
        )
    };
    // seen with verified TLS: a self-signed MX now is refused
    let mut p = with(Shape::NoSor, Class::BestEffort, L::VerifiedTls);
    let tried = drive(&mut p, &[("mx.d.test", Server::self_signed())]);
    assert_eq!(tried, ["mx.d.test:25 mx req verify"]);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Defer(R::DowngradeRefused {
            learned: L::VerifiedTls
        })
    );
    // seen with TLS: a stripped STARTTLS is refused, no clear-text retry
    let mut p = with(Shape::NoSor, Class::BestEffort, L::Tls);
    let tried = drive(&mut p, &[("mx.d.test", Server::no_tls())]);
    assert_eq!(tried, ["mx.d.test:25 mx req encrypt"]);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Defer(R::DowngradeRefused { learned: L::Tls })
    );
    // seen with a SOR: the SOR record vanished, the MX is not used
    let mut p = with(Shape::NoSor, Class::SecureOnly, L::SorPresent);
    let tried = drive(&mut p, &[]);
    assert!(tried.is_empty());
    assert!(p.notes().iter().any(|n| matches!(
        n,
        Note::Skipped {
            reason: SkipReason::BelowLearnedLevel,
            ..
        }
    )));
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Defer(R::DowngradeRefused {
            learned: L::SorPresent
        })
    );
    // the SOR is still there: fine
    let mut p = with(Shape::Srv, Class::BestEffort, L::SorPresent);
    drive(&mut p, &[]);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("sor.d.test", true, L::SorPresent)
    );
    // a good MX at the floor delivers
    let mut p = with(Shape::NoSor, Class::BestEffort, L::VerifiedTls);
    drive(&mut p, &[]);
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("mx.d.test", true, L::VerifiedTls)
    );
}

#[test]
fn rfc7672_2_2_tlsa_lookup_failure_skips_the_host() {
    let z = mx_zone(true).fail("_25._tcp.mx.d.test.", RecordType::TLSA);
    let d = discover(&z);
    let config = PlanConfig::default();
    let mut p = Plan::new(&d, Class::BestEffort, PlanInputs::new(&config, 0));
    assert!(p.next_attempt().is_none());
    assert!(p.notes().iter().any(|n| matches!(
        n,
        Note::Skipped {
            reason: SkipReason::TlsaLookupFailed,
            ..
        }
    )));
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::Dane));
}

#[test]
fn rfc7672_3_1_3_unusable_tlsa_is_no_dane() {
    // PKIX-EE only: TLS without authentication, the class decides
    let z = mx_zone(true).with(
        "_25._tcp.mx.d.test.",
        RecordType::TLSA,
        vec![tlsa("_25._tcp.mx.d.test.", 1)],
    );
    let d = discover(&z);
    let config = PlanConfig::default();
    let mut p = Plan::new(&d, Class::BestEffort, PlanInputs::new(&config, 0));
    let a = p.next_attempt().expect("attempt");
    assert_eq!(sum(&a), "mx.d.test:25 mx opp encrypt");
    assert!(a.tlsa.is_none());
}

#[test]
fn dane_attempt_carries_its_tlsa_set() {
    let mut p = plan(Shape::MxTlsa, Class::BestEffort);
    let a = p.next_attempt().expect("attempt");
    assert_eq!(a.policy, PolicySource::Dane);
    let set = a.tlsa.expect("TLSA");
    assert_eq!(set.records.len(), 1);
    assert!(a.authenticated);
}

#[test]
fn addresses_ipv6_first_and_families_configurable() {
    let mut p = plan(Shape::NoSor, Class::BestEffort);
    let a = p.next_attempt().expect("attempt");
    assert_eq!(
        a.addresses,
        [
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
        ]
    );
    let mut config = PlanConfig::default();
    config.ipv6 = false;
    let mut p = Plan::new(
        discovered(Shape::NoSor),
        Class::BestEffort,
        PlanInputs::new(&config, 0),
    );
    let a = p.next_attempt().expect("attempt");
    assert_eq!(a.addresses, [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))]);
}

#[test]
fn rfc5321_5_1_hosts_without_address_are_skipped() {
    let z = Zone::new(false)
        .with(D, RecordType::MX, vec![mx(D, 10, MXH)])
        .with(MXH, RecordType::A, vec![])
        .with(MXH, RecordType::AAAA, vec![]);
    let config = PlanConfig::default();
    let mut p = Plan::new(
        &discover(&z),
        Class::BestEffort,
        PlanInputs::new(&config, 0),
    );
    assert!(p.next_attempt().is_none());
    assert_eq!(
        p.notes(),
        [Note::Skipped {
            host: "mx.d.test".into(),
            port: 25,
            role: Role::Mx,
            reason: SkipReason::NoAddress
        }]
    );
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Bounce("5.4.4", R::NoRoute)
    );
    // a failed address look-up defers
    let z = Zone::new(false)
        .with(D, RecordType::MX, vec![mx(D, 10, MXH)])
        .fail(MXH, RecordType::A)
        .with(MXH, RecordType::AAAA, vec![]);
    let mut p = Plan::new(
        &discover(&z),
        Class::BestEffort,
        PlanInputs::new(&config, 0),
    );
    assert!(p.next_attempt().is_none());
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Defer(R::DnsIndeterminate)
    );
}

#[test]
fn design_mx_host_that_is_a_sor_is_tried_once() {
    let z = mx_zone(false)
        .with(
            D,
            RecordType::MX,
            vec![mx(D, 10, MXH), mx(D, 20, "secmx.d.test.")],
        )
        .with("secmx.d.test.", RecordType::A, vec![a("secmx.d.test.", 26)]);
    let config = PlanConfig::default();
    let p = Plan::new(
        &discover(&z),
        Class::BestEffort,
        PlanInputs::new(&config, 0),
    );
    let planned: Vec<String> = p.attempts().map(|(a, _)| sum(a)).collect();
    assert_eq!(
        planned,
        [
            "secmx.d.test:25 sor req encrypt",
            "mx.d.test:25 mx opp encrypt"
        ]
    );
    assert!(p.notes().iter().any(|n| matches!(
        n,
        Note::Skipped {
            reason: SkipReason::Duplicate,
            ..
        }
    )));
}

#[test]
fn smtp_port_overrides_only_implied_ports() {
    let mut config = PlanConfig::default();
    config.smtp_port = Some(2525);
    for (shape, want) in [
        (
            Shape::Srv,
            [
                "sor.d.test:2525 sor req encrypt",
                "mx.d.test:2525 mx opp encrypt",
            ],
        ),
        (
            Shape::Mx51966,
            [
                "sor.d.test:2525 sor req encrypt",
                "mx.d.test:2525 mx opp encrypt",
            ],
        ),
        (
            Shape::Naming,
            [
                "secmx.d.test:2525 sor req encrypt",
                "mx.d.test:2525 mx opp encrypt",
            ],
        ),
        (
            Shape::SecmxRr,
            [
                "sor.d.test:25 sor req encrypt",
                "mx.d.test:2525 mx opp encrypt",
            ],
        ),
    ] {
        let p = Plan::new(
            discovered(shape),
            Class::BestEffort,
            PlanInputs::new(&config, 0),
        );
        let planned: Vec<String> = p.attempts().map(|(a, _)| sum(a)).collect();
        assert_eq!(planned, want, "{shape:?}");
    }
}

#[test]
fn reports_that_would_leak_are_refused() {
    // DATA before TLS on a required attempt
    let mut p = plan(Shape::NoSor, Class::SecureOnly);
    let a = p.next_attempt().expect("attempt");
    assert_eq!(
        p.report(a.id, AttemptOutcome::Greeting(reply(220))),
        Ok(Progress::Continue)
    );
    for o in [
        AttemptOutcome::Rcpt {
            index: 0,
            reply: reply(250),
        },
        AttemptOutcome::Data(reply(250)),
        AttemptOutcome::MailRejected(reply(550)),
    ] {
        assert_eq!(p.report(a.id, o), Err(ReportError::TlsNotEstablished));
    }
    assert!(p.verdict(0).is_none());
    // REQUIRETLS attempt: TLS, but REQUIRETLS not yet seen
    let mut p = plan(Shape::MxAuthenticated, Class::RequireTls);
    let a = p.next_attempt().expect("attempt");
    let tls = AttemptOutcome::TlsEstablished {
        protocol: ProtocolVersion::TLSv1_3,
        cipher_suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
    };
    assert_eq!(p.report(a.id, tls), Ok(Progress::Continue));
    assert_eq!(
        p.report(a.id, AttemptOutcome::Data(reply(250))),
        Err(ReportError::RequireTlsNotConfirmed)
    );
    // bad index, unknown and not started attempts
    assert_eq!(
        p.report(
            a.id,
            AttemptOutcome::Capabilities {
                tls: true,
                requiretls: true
            }
        ),
        Ok(Progress::Continue)
    );
    assert_eq!(
        p.report(
            a.id,
            AttemptOutcome::Rcpt {
                index: 5,
                reply: reply(250)
            }
        ),
        Err(ReportError::NoSuchRecipient(5))
    );
    let mut p = plan(Shape::Srv, Class::BestEffort);
    let first = p.next_attempt().expect("attempt");
    let second = p.attempts().nth(1).map(|(a, _)| a.id).expect("planned");
    assert_eq!(
        p.report(second, AttemptOutcome::ConnectFailed),
        Err(ReportError::NotStarted(second))
    );
    // the first attempt given up for the next counts as temporary
    let next = p.next_attempt().expect("next");
    assert_eq!(next.id, second);
    assert_eq!(
        p.report(first.id, AttemptOutcome::ConnectFailed),
        Ok(Progress::AttemptOver)
    );
    assert_eq!(
        p.report(next.id, AttemptOutcome::Timeout(TimeoutKind::Greeting)),
        Ok(Progress::Finished)
    );
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::Unreachable));
}

#[test]
fn client_events_map_to_outcomes() {
    use secmx_core::Capabilities;
    use secmx_core::client::{ClientError, ClientEvent, CloseReason, SubmitError};
    let caps = Capabilities::new("mx.d.test").with(secmx_core::Keyword::RequireTls);
    assert_eq!(
        AttemptOutcome::from_event(&ClientEvent::Capabilities { tls: true, caps }),
        Some(AttemptOutcome::Capabilities {
            tls: true,
            requiretls: true
        })
    );
    assert_eq!(AttemptOutcome::from_event(&ClientEvent::Ready), None);
    assert_eq!(
        AttemptOutcome::from_event(&ClientEvent::RcptRejected {
            index: 2,
            reply: reply(550)
        }),
        Some(AttemptOutcome::Rcpt {
            index: 2,
            reply: reply(550)
        })
    );
    assert_eq!(
        AttemptOutcome::from_event(&ClientEvent::Closed {
            reason: CloseReason::Error(ClientError::ResponseInjection)
        }),
        Some(AttemptOutcome::Injection)
    );
    assert_eq!(
        AttemptOutcome::from_event(&ClientEvent::Closed {
            reason: CloseReason::Quit
        }),
        None
    );
    assert_eq!(
        AttemptOutcome::from_error(&ClientError::StartTlsNotOffered),
        AttemptOutcome::StartTlsNotOffered
    );
    let tls_error = secmx_core::TransportError::Tls(TlsError::InvalidCertificate(
        CertificateError::NotValidForName,
    ));
    assert_eq!(
        AttemptOutcome::from_error(&ClientError::Handshake(tls_error)),
        AttemptOutcome::HandshakeFailed(CertFailure::HostMismatch)
    );
    assert_eq!(
        AttemptOutcome::from_submit_error(&SubmitError::RequireTlsWithoutTls),
        Some(AttemptOutcome::RequireTlsNotAdvertised)
    );
    let Some(AttemptOutcome::MailRejected(r)) =
        AttemptOutcome::from_submit_error(&SubmitError::TooBig { size: 10, limit: 5 })
    else {
        panic!("a refusal")
    };
    assert_eq!(
        (r.code().get(), r.enhanced()),
        (552, Some(EnhancedCode::MESSAGE_TOO_BIG))
    );
    assert_eq!(
        AttemptOutcome::from_submit_error(&SubmitError::NotReady),
        None
    );
}

#[test]
fn verdicts_become_dsn_recipients() {
    let (_, p) = run(
        Shape::NoSor,
        Class::SecureOnly,
        &[("mx.d.test", Server::no_tls())],
    );
    let v = p.verdict(0).expect("v");
    let r = v.dsn_recipient("bob@d.test").expect("a bounce");
    assert_eq!(r.status(), EnhancedCode::SECURITY_NOT_SUPPORTED);
    let dsn = secmx_policy::dsn::DsnBuilder::new("mx.example.org", "alice@example.org", "t1", 0)
        .recipient(r)
        .build(b"Subject: x\r\n\r\nbody\r\n")
        .expect("builds");
    let text = String::from_utf8(dsn.message).expect("ASCII");
    assert!(text.contains("Remote-MTA: dns; mx.d.test\r\n"), "{text}");
    assert!(text.contains("Status: 5.7.4\r\n"));
    // a deferral is a delay notice
    let (_, p) = run(Shape::MxIndeterminate, Class::SecureOnly, &[]);
    let r = p
        .verdict(0)
        .and_then(|v| v.dsn_recipient("bob@d.test"))
        .expect("a delay");
    assert_eq!(r.status().to_string(), "4.4.3");
    assert_eq!(r.action(), secmx_policy::dsn::DsnAction::Delayed);
}

// ---- MTA-STS ---------------------------------------------------------------------

fn sts(mode: &str, mx: &[&str]) -> MtaStsPolicy {
    let mut text = format!("version: STSv1\nmode: {mode}\nmax_age: 86400\n");
    for m in mx {
        text.push_str(&format!("mx: {m}\n"));
    }
    MtaStsPolicy::parse(&text).expect("policy parses")
}

fn sts_plan(shape: Shape, class: Class, policy: &MtaStsPolicy) -> Plan {
    let config = PlanConfig::default();
    Plan::new(
        discovered(shape),
        class,
        PlanInputs::new(&config, 0).mta_sts(Some(policy)),
    )
}

#[test]
fn rfc8461_enforce_requires_verified_tls_to_matching_hosts() {
    let policy = sts("enforce", &["mx.d.test"]);
    let mut p = sts_plan(Shape::NoSor, Class::BestEffort, &policy);
    let tried = drive(&mut p, &[]);
    assert_eq!(tried, ["mx.d.test:25 mx req verify"]);
    assert_eq!(
        p.attempts().next().map(|(a, _)| a.policy),
        Some(PolicySource::MtaSts)
    );
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("mx.d.test", true, L::VerifiedTls)
    );
    // RFC 8461 §4.1: a wildcard stands for exactly one label
    let policy = sts("enforce", &["*.d.test"]);
    let p = sts_plan(Shape::NoSor, Class::BestEffort, &policy);
    assert_eq!(p.attempts().count(), 1);
}

#[test]
fn rfc8461_4_1_enforce_skips_hosts_it_does_not_name_and_defers() {
    let policy = sts("enforce", &["other.example"]);
    let mut p = sts_plan(Shape::NoSor, Class::SecureOnly, &policy);
    assert!(drive(&mut p, &[]).is_empty());
    assert_eq!(
        p.notes(),
        [Note::Skipped {
            host: "mx.d.test".into(),
            port: 25,
            role: Role::Mx,
            reason: SkipReason::MtaStsMismatch
        }]
    );
    // RFC 8461 §5: no permanent failure before the policy is fetched again
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::MtaSts));
}

#[test]
fn rfc8461_5_enforce_tls_failures_defer_even_under_sos() {
    let policy = sts("enforce", &["mx.d.test"]);
    let mut p = sts_plan(Shape::NoSor, Class::SecureOnly, &policy);
    drive(&mut p, &[("mx.d.test", Server::no_tls())]);
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::MtaSts));
    let mut p = sts_plan(Shape::NoSor, Class::BestEffort, &policy);
    let tried = drive(&mut p, &[("mx.d.test", Server::self_signed())]);
    // no clear-text retry under a policy
    assert_eq!(tried, ["mx.d.test:25 mx req verify"]);
    assert_eq!(got(p.verdict(0).expect("v")), Want::Defer(R::MtaSts));
}

#[test]
fn design_precedence_mta_sts_over_secmx_discovery() {
    // The SOR is not in the policy: left out. Named by a wildcard: kept,
    // with the policy's verify check even under BES.
    let policy = sts("enforce", &["mx.d.test"]);
    let p = sts_plan(Shape::Srv, Class::BestEffort, &policy);
    let planned: Vec<String> = p.attempts().map(|(a, _)| sum(a)).collect();
    assert_eq!(planned, ["mx.d.test:25 mx req verify"]);
    let policy = sts("enforce", &["*.d.test"]);
    let p = sts_plan(Shape::Srv, Class::BestEffort, &policy);
    let planned: Vec<String> = p.attempts().map(|(a, _)| sum(a)).collect();
    assert_eq!(
        planned,
        [
            "sor.d.test:2525 sor req verify",
            "mx.d.test:25 mx req verify"
        ]
    );
}

#[test]
fn design_precedence_dane_over_mta_sts() {
    // RFC 8461 §2: DANE decides where it applies; the host need not match
    let policy = sts("enforce", &["other.example"]);
    let mut p = sts_plan(Shape::MxTlsa, Class::BestEffort, &policy);
    let a = p.next_attempt().expect("attempt");
    assert_eq!(sum(&a), "mx.d.test:25 mx req dane");
    assert_eq!(a.policy, PolicySource::Dane);
}

#[test]
fn design_module_doc_example() {
    // SOS; an SRV SOR beside an MX host with authenticated TLSA.
    let z = mx_zone(true)
        .with(
            "_secmx._tcp.d.test.",
            RecordType::SRV,
            vec![srv("_secmx._tcp.d.test.", 25, SOR)],
        )
        .with(SOR, RecordType::A, vec![a(SOR, 25)])
        .with(
            "_25._tcp.mx.d.test.",
            RecordType::TLSA,
            vec![tlsa("_25._tcp.mx.d.test.", 3)],
        );
    let d = discover(&z);
    let config = PlanConfig::default();
    let p = Plan::new(&d, Class::SecureOnly, PlanInputs::new(&config, 0));
    let planned: Vec<String> = p.attempts().map(|(a, _)| sum(a)).collect();
    assert_eq!(
        planned,
        ["sor.d.test:25 sor req verify", "mx.d.test:25 mx req dane"]
    );
    let policy = sts("enforce", &["mx.d.test"]);
    let p = Plan::new(
        &d,
        Class::SecureOnly,
        PlanInputs::new(&config, 0).mta_sts(Some(&policy)),
    );
    let planned: Vec<String> = p.attempts().map(|(a, _)| sum(a)).collect();
    assert_eq!(planned, ["mx.d.test:25 mx req dane"]);
}

#[test]
fn rfc8461_testing_tries_normally_and_notes_mismatches() {
    let policy = sts("testing", &["other.example"]);
    let mut p = sts_plan(Shape::NoSor, Class::BestEffort, &policy);
    let tried = drive(&mut p, &[("mx.d.test", Server::no_tls())]);
    assert_eq!(tried, ["mx.d.test:25 mx opp encrypt"]);
    assert_eq!(
        p.notes(),
        [Note::MtaStsTestingMismatch {
            host: "mx.d.test".into()
        }]
    );
    assert_eq!(
        got(p.verdict(0).expect("v")),
        Want::Delivered("mx.d.test", false, L::None)
    );
    // mode none: no policy at all
    let policy = sts("none", &[]);
    let p = sts_plan(Shape::NoSor, Class::BestEffort, &policy);
    assert!(p.notes().is_empty());
    assert_eq!(
        p.attempts().map(|(a, _)| sum(a)).collect::<Vec<_>>(),
        ["mx.d.test:25 mx opp encrypt"]
    );
}

#[test]
fn rfc8689_4_2_1_mta_sts_vouches_for_an_unauthenticated_route() {
    let policy = sts("testing", &["mx.d.test"]);
    let mut p = sts_plan(Shape::NoSor, Class::RequireTls, &policy);
    let tried = drive(&mut p, &[]);
    assert_eq!(tried, ["mx.d.test:25 mx req verify rt"]);
    let Some(Verdict::Delivered { tls: Some(t), .. }) = p.verdict(0) else {
        panic!("delivered over TLS")
    };
    assert!(t.requiretls);
    // and the check can be turned off
    let mut config = PlanConfig::default();
    config.requiretls_authenticated_route = false;
    let p = Plan::new(
        discovered(Shape::Srv),
        Class::RequireTls,
        PlanInputs::new(&config, 0),
    );
    assert_eq!(
        p.attempts().map(|(a, _)| sum(a)).collect::<Vec<_>>(),
        [
            "sor.d.test:2525 sor req verify rt",
            "mx.d.test:25 mx req verify rt"
        ]
    );
}

// ---- properties ----------------------------------------------------------------

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::BestEffort),
        Just(Class::SecureOnly),
        Just(Class::RequireTls)
    ]
}

fn floor() -> impl Strategy<Value = Option<LearnedLevel>> {
    prop_oneof![
        Just(None),
        Just(Some(L::Tls)),
        Just(Some(L::VerifiedTls)),
        Just(Some(L::SorPresent)),
    ]
}

fn server() -> impl Strategy<Value = Server> {
    (
        any::<bool>(),
        prop_oneof![Just(220u16), Just(421), Just(450), Just(554)],
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(454u16)), Just(Some(554))],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(250u16), Just(451), Just(550), Just(530)],
        prop_oneof![Just(250u16), Just(452), Just(554)],
    )
        .prop_map(
            |(
                connect,
                greeting,
                starttls,
                starttls_reply,
                handshake_error,
                valid,
                requiretls,
                mail,
                data,
            )| {
                Server {
                    connect,
                    greeting,
                    starttls,
                    starttls_reply,
                    handshake_error,
                    cert: if valid { Cert::Valid } else { Cert::SelfSigned },
                    requiretls,
                    mail,
                    rcpt: vec![250, 550],
                    data,
                }
            },
        )
}

fn shape() -> impl Strategy<Value = Shape> {
    (0..SHAPES.len()).prop_map(|i| SHAPES[i])
}

fn outcome() -> impl Strategy<Value = AttemptOutcome> {
    let code = prop_oneof![
        Just(220u16),
        Just(250),
        Just(421),
        Just(450),
        Just(530),
        Just(550)
    ];
    prop_oneof![
        Just(AttemptOutcome::ConnectFailed),
        code.clone()
            .prop_map(|c| AttemptOutcome::Greeting(reply(c))),
        (any::<bool>(), any::<bool>())
            .prop_map(|(tls, requiretls)| AttemptOutcome::Capabilities { tls, requiretls }),
        Just(AttemptOutcome::StartTlsNotOffered),
        code.clone()
            .prop_map(|c| AttemptOutcome::StartTlsRefused(reply(c))),
        Just(AttemptOutcome::TlsEstablished {
            protocol: ProtocolVersion::TLSv1_3,
            cipher_suite: CipherSuite::TLS13_AES_128_GCM_SHA256,
        }),
        prop_oneof![
            Just(CertFailure::NotTrusted),
            Just(CertFailure::Handshake),
            Just(CertFailure::TlsaMismatch)
        ]
        .prop_map(AttemptOutcome::HandshakeFailed),
        Just(AttemptOutcome::Injection),
        Just(AttemptOutcome::RequireTlsNotAdvertised),
        code.clone()
            .prop_map(|c| AttemptOutcome::MailRejected(reply(c))),
        (0usize..3, code.clone()).prop_map(|(index, c)| AttemptOutcome::Rcpt {
            index,
            reply: reply(c)
        }),
        code.prop_map(|c| AttemptOutcome::Data(reply(c))),
        Just(AttemptOutcome::ConnectionLost),
        Just(AttemptOutcome::Timeout(TimeoutKind::DataTermination)),
    ]
}

/// The properties every finished plan keeps.
fn check_invariants(p: &Plan, class: Class, floor: Option<LearnedLevel>, shape: Shape) {
    for (a, _) in p.attempts() {
        if a.policy == PolicySource::MtaSts || a.policy == PolicySource::Dane {
            assert_eq!(a.tls, TlsRequirement::Required, "{}", sum(a));
        }
        if class.requires_tls() {
            assert_eq!(a.tls, TlsRequirement::Required, "{}", sum(a));
            assert_ne!(a.cert_check, CertCheck::Encrypt, "{}", sum(a)); // SOS default: verify
        }
        if class == Class::RequireTls {
            assert!(a.require_tls);
        }
    }
    let indeterminate = discovered(shape).is_indeterminate();
    for v in p.verdicts().iter().flatten() {
        match v {
            Verdict::Delivered { tls, level, .. } => {
                if class.requires_tls() {
                    assert!(tls.is_some(), "delivered without TLS under {class:?}");
                }
                if class == Class::RequireTls {
                    assert!(
                        tls.is_some_and(|t| t.requiretls && t.cert_check != CertCheck::Encrypt)
                    );
                }
                if let Some(f) = floor {
                    assert!(*level >= f, "delivered at {level:?} below the floor {f:?}");
                }
            }
            // an indeterminate look-up never causes a bounce, except the
            // server's own refusal of a recipient
            Verdict::Bounce { reason, .. } if indeterminate => {
                assert_eq!(*reason, R::Reply, "bounced on an indeterminate look-up");
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Realistic sessions against random servers.
    #[test]
    fn sos_never_in_clear_and_floor_never_undercut(
        shape in shape(),
        class in class(),
        floor in floor(),
        servers in proptest::collection::vec(server(), 3),
        policy in prop_oneof![
            Just(None),
            Just(Some(("enforce", "*.d.test"))),
            Just(Some(("enforce", "mx.d.test"))),
            Just(Some(("testing", "other.example"))),
        ],
    ) {
        let config = PlanConfig::default();
        let policy = policy.map(|(mode, mx)| sts(mode, &[mx]));
        let mut p = Plan::new(
            discovered(shape),
            class,
            PlanInputs::new(&config, 0)
                .learned(floor)
                .recipients(2)
                .mta_sts(policy.as_ref()),
        );
        let named: Vec<(&str, Server)> = ["sor.d.test", "secmx.d.test", "mx.d.test"]
            .into_iter()
            .zip(servers)
            .collect();
        drive(&mut p, &named);
        prop_assert!(p.is_finished());
        check_invariants(&p, class, floor, shape);
    }

    /// Arbitrary outcome sequences, in any order, reported to whichever
    /// attempt is current.
    #[test]
    fn any_outcome_sequence_keeps_the_invariants(
        shape in shape(),
        class in class(),
        floor in floor(),
        script in proptest::collection::vec(outcome(), 0..60),
    ) {
        let config = PlanConfig::default();
        let mut p = Plan::new(
            discovered(shape),
            class,
            PlanInputs::new(&config, 0).learned(floor).recipients(3),
        );
        let mut current = p.next_attempt();
        for o in script {
            let Some(a) = &current else { break };
            match p.report(a.id, o) {
                Ok(Progress::Continue) | Err(_) => {}
                Ok(_) => current = p.next_attempt(),
            }
        }
        while p.next_attempt().is_some() {}
        prop_assert!(p.is_finished());
        check_invariants(&p, class, floor, shape);
    }
}

// ---- TLS-RPT from a plan ------------------------------------------------------

/// RFC 8460 §4: each required-TLS session of a plan is counted under its
/// policy, with the §4.3 result type of a failure.
#[test]
fn rfc8460_4_plan_sessions_are_counted_into_tls_rpt() {
    use secmx_policy::tlsrpt::{DateRange, TlsRptAggregator, record_plan};

    // SOS: the SOR offers no STARTTLS, the MX presents a self-signed
    // certificate: two failed sessions, no success.
    let (_, failed) = run(
        Shape::Srv,
        Class::SecureOnly,
        &[
            ("sor.d.test", Server::no_tls()),
            ("mx.d.test", Server::self_signed()),
        ],
    );
    // SOS to a good SOR: one success.
    let (_, delivered) = run(
        Shape::Srv,
        Class::SecureOnly,
        &[("sor.d.test", Server::good())],
    );
    assert!(
        delivered
            .verdicts()
            .iter()
            .all(|v| v.as_ref().is_some_and(Verdict::is_delivered))
    );

    let mut aggregator = TlsRptAggregator::new();
    record_plan(&mut aggregator, &failed, "d.test", None);
    record_plan(&mut aggregator, &delivered, "d.test", None);
    let report = aggregator
        .report(
            "d.test",
            "SecMX test",
            "mailto:tlsrpt@example.test",
            "report-1",
            DateRange::from_unix(1_796_000_000, 1_796_086_400),
        )
        .expect("sessions were recorded for d.test");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    let policy = &json["policies"][0];
    assert_eq!(policy["policy"]["policy-type"], "no-policy-found");
    assert_eq!(policy["summary"]["total-successful-session-count"], 1);
    assert_eq!(policy["summary"]["total-failure-session-count"], 2);
    let mut types: Vec<String> = policy["failure-details"]
        .as_array()
        .expect("failure details")
        .iter()
        .map(|d| d["result-type"].as_str().expect("a type").to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["certificate-not-trusted", "starttls-not-supported"]);
}
