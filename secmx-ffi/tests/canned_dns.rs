//! The canned DNS responses of `examples/discover.c`
//! (`examples/discover_responses.h`) are what hickory-proto writes for the
//! example zone below, for every question a discovery of `example.test`
//! asks; and that discovery, run here in Rust on the same responses, finds
//! what `discover.c` is expected to print.
//!
//! To regenerate the header after changing the zone:
//! `SECMX_UPDATE_CANNED=1 cargo test -p secmx-ffi --test canned_dns`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Instant;

use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use secmx_dns::hickory_proto::rr::rdata::{A, AAAA, MX, NULL, SRV};
use secmx_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use secmx_dns::{Config, Convention, Discovery, MailRoute, SecmxRdata};

/// The id seed `discover.c` passes, so that the queries (and so this file)
/// are the same on every run.
const ID_SEED: u64 = 0x5ec3_0000_0000_0001;

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("zone name")
}

fn record(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 300, data)
}

/// The example zone: each of the four conventions names one SOR, and one
/// ordinary MX host takes mail as a BER. Every answer is signed (the AD
/// bit is set), as a validating resolver on loopback would say.
fn zone() -> BTreeMap<(String, RecordType), Vec<Record>> {
    let secmx_rdata = SecmxRdata::new(5, true, 25, name("sor1.example.test.")).to_bytes();
    let v4 = |last| RData::A(A(Ipv4Addr::new(192, 0, 2, last)));
    let v6 = |last| RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)));
    let entries = [
        (
            "example.test.",
            RecordType::MX,
            vec![
                RData::MX(MX::new(10, name("mail.example.test."))),
                RData::MX(MX::new(51966, name("sor-mx.example.test."))),
            ],
        ),
        (
            "example.test.",
            RecordType::Unknown(65482),
            vec![RData::Unknown {
                code: RecordType::Unknown(65482),
                rdata: NULL::with(secmx_rdata),
            }],
        ),
        (
            "_secmx._tcp.example.test.",
            RecordType::SRV,
            vec![RData::SRV(SRV::new(
                10,
                5,
                2525,
                name("sor2.example.test."),
            ))],
        ),
        ("secmx.example.test.", RecordType::A, vec![v4(30)]),
        ("sor1.example.test.", RecordType::A, vec![v4(10)]),
        ("sor1.example.test.", RecordType::AAAA, vec![v6(0x10)]),
        ("sor2.example.test.", RecordType::A, vec![v4(20)]),
        ("sor-mx.example.test.", RecordType::A, vec![v4(40)]),
        ("mail.example.test.", RecordType::A, vec![v4(25)]),
        ("mail.example.test.", RecordType::AAAA, vec![v6(0x25)]),
    ];
    entries
        .into_iter()
        .map(|(owner, rtype, data)| {
            let records = data.into_iter().map(|d| record(owner, d)).collect();
            ((owner.to_owned(), rtype), records)
        })
        .collect()
}

/// The response to one query, with id 0 (`discover.c` copies the query's
/// id in): the records, NODATA for a name in the zone without that type,
/// NXDOMAIN for any other name.
fn respond(zone: &BTreeMap<(String, RecordType), Vec<Record>>, query: &[u8]) -> (String, Vec<u8>) {
    let request = Message::from_vec(query).expect("the discovery's query decodes");
    let question = request.queries.first().expect("one question").clone();
    let owner = question.name().to_ascii().to_ascii_lowercase();
    let rtype = question.query_type();
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.metadata.authentic_data = true;
    m.add_query(question);
    match zone.get(&(owner.clone(), rtype)) {
        Some(records) => {
            m.add_answers(records.iter().cloned());
        }
        None if zone.keys().any(|(o, _)| *o == owner) => {}
        None => m.metadata.response_code = ResponseCode::NXDomain,
    }
    let label = match rtype {
        RecordType::Unknown(code) => format!("{owner} TYPE{code}"),
        known => format!("{owner} {known}"),
    };
    (label, m.to_vec().expect("the response encodes"))
}

fn config() -> Config {
    let mut config = Config::default();
    config.trusted_resolver = true;
    config.id_seed = ID_SEED;
    config
}

/// Runs the discovery on the zone; returns the responses in the order the
/// questions were asked, and the result.
fn discover() -> (Vec<(String, Vec<u8>)>, secmx_dns::Discovered) {
    let zone = zone();
    let mut discovery = Discovery::new("example.test", config()).expect("valid domain");
    let now = Instant::now();
    let mut responses = Vec::new();
    for _round in 0..100 {
        while let Some(query) = discovery.poll_query(now) {
            let (label, mut bytes) = respond(&zone, &query.bytes);
            responses.push((label, bytes.clone()));
            bytes[..2].copy_from_slice(&query.id.to_be_bytes());
            discovery
                .handle_response(now, &bytes)
                .expect("the canned response answers its query");
        }
        if let Some(result) = discovery.poll_result() {
            return (responses, result);
        }
    }
    panic!("the discovery did not finish");
}

fn c_header(responses: &[(String, Vec<u8>)]) -> String {
    let mut out = String::new();
    for line in [
        "/*",
        " * Canned DNS responses for discover.c: what hickory-proto writes for the",
        " * example zone of secmx-ffi/tests/canned_dns.rs, one per question a",
        " * discovery of example.test asks, each with id 0 (discover.c copies the",
        " * query's id in). Generated: do not edit. Regenerate with",
        " *   SECMX_UPDATE_CANNED=1 cargo test -p secmx-ffi --test canned_dns",
        " */",
        "#ifndef SECMX_DISCOVER_RESPONSES_H",
        "#define SECMX_DISCOVER_RESPONSES_H",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
    ] {
        out.push_str(line);
        out.push('\n');
    }
    for (i, (label, bytes)) in responses.iter().enumerate() {
        writeln!(out, "/* {label} */").expect("String write");
        writeln!(out, "static const unsigned char CANNED_{i}[] = {{").expect("String write");
        for line in bytes.chunks(12) {
            let hex: Vec<String> = line.iter().map(|b| format!("0x{b:02x}")).collect();
            writeln!(out, "    {},", hex.join(", ")).expect("String write");
        }
        out.push_str("};\n\n");
    }
    out.push_str(
        "struct canned_response {\n    const char *question;\n    \
         const unsigned char *bytes;\n    size_t len;\n};\n\n\
         static const struct canned_response CANNED[] = {\n",
    );
    for (i, (label, _)) in responses.iter().enumerate() {
        writeln!(out, "    {{\"{label}\", CANNED_{i}, sizeof CANNED_{i}}},").expect("String write");
    }
    writeln!(
        out,
        "}};\n\n#define CANNED_COUNT {}\n#define CANNED_ID_SEED UINT64_C(0x{ID_SEED:016x})\n\n\
         #endif /* SECMX_DISCOVER_RESPONSES_H */",
        responses.len()
    )
    .expect("String write");
    out
}

#[test]
fn committed_responses_match_the_zone() {
    let (responses, _) = discover();
    let generated = c_header(&responses);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/discover_responses.h");
    if std::env::var_os("SECMX_UPDATE_CANNED").is_some() {
        std::fs::write(&path, &generated).expect("examples/ is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "examples/discover_responses.h is out of date with the zone in tests/canned_dns.rs.\n\
         Regenerate it with\n    \
         SECMX_UPDATE_CANNED=1 cargo test -p secmx-ffi --test canned_dns\nand commit it."
    );
}

/// What discover.c must print, found by the Rust API on the same bytes:
/// the four conventions in merge order (SECMX, SRV, MX 51966, naming),
/// each SOR authenticated, and the ordinary MX host.
#[test]
fn the_zone_names_one_sor_per_convention_and_one_mx_host() {
    let (_, result) = discover();
    let sors: Vec<(String, u16, Vec<Convention>, bool, bool)> = result
        .sors
        .iter()
        .map(|s| {
            (
                s.host.to_ascii(),
                s.port,
                s.conventions.iter().collect(),
                s.certificate_flag,
                s.authenticated,
            )
        })
        .collect();
    assert_eq!(
        sors,
        vec![
            (
                "sor1.example.test.".into(),
                25,
                vec![Convention::SecmxRr],
                true,
                true
            ),
            (
                "sor2.example.test.".into(),
                2525,
                vec![Convention::Srv],
                false,
                true
            ),
            (
                "sor-mx.example.test.".into(),
                25,
                vec![Convention::Mx51966],
                false,
                true
            ),
            (
                "secmx.example.test.".into(),
                25,
                vec![Convention::Naming],
                false,
                true
            ),
        ]
    );
    let MailRoute::Hosts(mx) = &result.mx else {
        panic!("an MX host, got {:?}", result.mx);
    };
    assert_eq!(mx.len(), 1);
    assert_eq!(mx[0].host.to_ascii(), "mail.example.test.");
    assert_eq!(mx[0].preference, 10);
    assert!(mx[0].authenticated);
    assert!(!result.is_indeterminate());
}
