//! A recorded discovery: every query a [`Discovery`] of `example.test` asks,
//! answered by a small in-memory zone that publishes all four SecMX
//! conventions, two ordinary MX hosts, addresses, TLSA, MTA-STS and TLS-RPT
//! records. Negative answers carry the zone's SOA in the authority section,
//! as a real resolver's do.
//!
//! Discovery is deterministic for a fixed `id_seed`, so the recorded
//! responses can be replayed, in order, into a fresh discovery: that is the
//! measured work, and `Message::from_vec` over the same responses is its
//! anchor.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use secmx_dns::hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use secmx_dns::hickory_proto::rr::rdata::{A, AAAA, MX, NULL, SOA, SRV, TLSA, TXT};
use secmx_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use secmx_dns::{Config, Discovered, Discovery, SecmxRdata};
use secmx_policy::Class;
use secmx_policy::plan::{Plan, PlanConfig, PlanInputs};

/// The domain the recorded discovery looks up.
pub const DOMAIN: &str = "example.test";

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("bench names are valid")
}

fn record(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 300, data)
}

/// The zone's answer records for one question; `None` is NXDOMAIN, an empty
/// list NODATA.
fn zone(owner: &str, rtype: RecordType) -> Option<Vec<Record>> {
    let owner = owner.trim_end_matches('.').to_ascii_lowercase();
    let hosts = [
        "mail.example.test",
        "mx2.example.test",
        "secmx.example.test",
    ];
    let records = match (owner.as_str(), rtype) {
        ("example.test", RecordType::MX) => vec![
            record(
                owner.as_str(),
                RData::MX(MX::new(10, name("mail.example.test."))),
            ),
            record(
                owner.as_str(),
                RData::MX(MX::new(20, name("mx2.example.test."))),
            ),
            record(
                owner.as_str(),
                RData::MX(MX::new(51966, name("secmx.example.test."))),
            ),
        ],
        ("_secmx._tcp.example.test", RecordType::SRV) => vec![record(
            owner.as_str(),
            RData::SRV(SRV::new(0, 0, 10025, name("secmx.example.test."))),
        )],
        ("example.test", RecordType::Unknown(65482)) => vec![record(
            owner.as_str(),
            RData::Unknown {
                code: RecordType::Unknown(65482),
                rdata: NULL::with(
                    SecmxRdata::new(10, true, 25, name("secmx.example.test.")).to_bytes(),
                ),
            },
        )],
        (host, RecordType::A) if hosts.contains(&host) => {
            vec![record(host, RData::A(A(Ipv4Addr::new(127, 0, 0, 1))))]
        }
        (host, RecordType::AAAA) if hosts.contains(&host) => {
            vec![record(host, RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)))]
        }
        (tlsa, RecordType::TLSA) if tlsa.starts_with('_') => vec![record(
            tlsa,
            RData::TLSA(TLSA::new(
                CertUsage::DaneEe,
                Selector::Spki,
                Matching::Sha256,
                vec![0x7d; 32],
            )),
        )],
        ("_mta-sts.example.test", RecordType::TXT) => vec![record(
            owner.as_str(),
            RData::TXT(TXT::new(vec!["v=STSv1; id=20261130T000000;".into()])),
        )],
        ("_smtp._tls.example.test", RecordType::TXT) => vec![record(
            owner.as_str(),
            RData::TXT(TXT::new(vec![
                "v=TLSRPTv1; rua=mailto:tlsrpt@example.test".into(),
            ])),
        )],
        (host, _) if hosts.contains(&host) || host == "example.test" => Vec::new(),
        _ => return None,
    };
    Some(records)
}

fn soa() -> Record {
    record(
        "example.test.",
        RData::SOA(SOA::new(
            name("ns1.example.test."),
            name("hostmaster.example.test."),
            2026113001,
            3600,
            600,
            86400,
            300,
        )),
    )
}

/// Answers one query from the zone, with the AD bit set.
fn answer(query: &[u8]) -> Vec<u8> {
    let request = Message::from_vec(query).expect("own query decodes");
    let question = request.queries[0].clone();
    let mut m = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.metadata.authentic_data = true;
    match zone(&question.name().to_ascii(), question.query_type()) {
        Some(records) if !records.is_empty() => {
            m.add_answers(records);
        }
        Some(_) => {
            m.add_authority(soa());
        }
        None => {
            m.metadata.response_code = ResponseCode::NXDomain;
            m.add_authority(soa());
        }
    }
    m.add_query(question);
    m.to_vec().expect("bench response encodes")
}

/// The discovery configuration the recording and the replay share.
pub fn config() -> Config {
    let mut config = Config::default();
    config.trusted_resolver = true;
    config.id_seed = 0x5ec0_cafe;
    config
}

/// Runs one discovery against the zone and returns every response in the
/// order the discovery asked for them.
pub fn record_responses() -> Vec<Vec<u8>> {
    let mut discovery = Discovery::new(DOMAIN, config()).expect("valid domain");
    let now = Instant::now();
    let mut responses = Vec::new();
    loop {
        let mut asked = Vec::new();
        while let Some(query) = discovery.poll_query(now) {
            asked.push(query);
        }
        if asked.is_empty() {
            break;
        }
        for query in asked {
            let response = answer(&query.bytes);
            discovery
                .handle_response(now, &response)
                .expect("the zone answers what was asked");
            responses.push(response);
        }
    }
    assert!(discovery.is_finished(), "the recorded discovery ends");
    responses
}

/// Replays recorded responses into a fresh discovery, in the same batches
/// the recording used, and returns its result.
pub fn replay(responses: &[Vec<u8>], now: Instant) -> Option<Discovered> {
    let mut discovery = Discovery::new(DOMAIN, config()).ok()?;
    let mut next = responses.iter();
    loop {
        let mut asked = 0;
        while discovery.poll_query(now).is_some() {
            asked += 1;
        }
        if asked == 0 {
            break;
        }
        for response in next.by_ref().take(asked) {
            discovery.handle_response(now, response).ok()?;
        }
    }
    discovery.poll_result()
}

/// The planner's work for one message: a plan for `class` from a
/// discovery result, and every attempt handed out in order (each taken as
/// given up, so the walk covers the whole plan). Returns the attempts.
pub fn plan_all(discovered: &Discovered, class: Class, config: &PlanConfig) -> usize {
    let mut plan = Plan::new(discovered, class, PlanInputs::new(config, 1_796_000_000));
    let mut attempts = 0;
    while let Some(attempt) = plan.next_attempt() {
        std::hint::black_box(&attempt);
        attempts += 1;
    }
    attempts
}

/// The anchor: bare hickory decoding of the same responses.
pub fn decode_all(responses: &[Vec<u8>]) -> usize {
    responses
        .iter()
        .map(|r| Message::from_vec(r).map_or(0, |m| m.answers.len()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secmx_dns::{Convention, MailRoute};

    #[test]
    fn replay_finds_everything_the_zone_publishes() {
        let responses = record_responses();
        let found = replay(&responses, Instant::now()).expect("replay ends with a result");
        assert!(!found.is_indeterminate());
        let first = &found.sors[0];
        assert_eq!(first.host, name("secmx.example.test."));
        assert_eq!(first.port, 25);
        assert!(first.authenticated);
        for convention in [Convention::SecmxRr, Convention::Mx51966, Convention::Naming] {
            assert!(first.conventions.contains(convention), "{convention:?}");
        }
        assert!(found.sors.iter().any(|t| t.port == 10025));
        let MailRoute::Hosts(hosts) = &found.mx else {
            panic!("ordinary MX hosts expected, got {:?}", found.mx);
        };
        assert_eq!(hosts.len(), 2);
        assert!(found.mta_sts.record.is_some() && found.tls_rpt.record.is_some());
        assert!(found.tlsa(&name("secmx.example.test."), 25).is_some());
        assert!(decode_all(&responses) > 0);
        // Two SOR targets and two MX hosts, each over IPv6 and IPv4: the
        // secure only plan tries every one over TLS.
        let config = PlanConfig::default();
        assert!(plan_all(&found, Class::SecureOnly, &config) >= 4);
        assert!(plan_all(&found, Class::BestEffort, &config) >= 4);
    }
}
