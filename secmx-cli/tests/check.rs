//! `secmx check` against real receivers on loopback: `secmx serve --mode
//! sor` with a certificate (healthy with `--ca`, a problem without, DANE
//! with a TLSA record that carries the certificate), and a BER that
//! offers no STARTTLS listed as a SOR (a problem). The DNS behind them is
//! a small responder in this test (zone data in a table, AD bit on every
//! answer, SERVFAIL where asked), so each case is exact and fast.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use secmx_cli::net::{self, ServerHandler, ServerOptions};
use secmx_core::rustls::pki_types::CertificateDer;
use secmx_core::rustls::pki_types::pem::PemObject;
use secmx_core::server::{ServerConfig, ServerEvent, ServerMode, ServerSession};
use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use secmx_dns::hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use secmx_dns::hickory_proto::rr::rdata::{A, MX, SRV, TLSA, TXT};
use secmx_dns::hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;

/// A UDP DNS responder on loopback serving a fixed table; stops when
/// dropped.
struct Responder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

type Table = HashMap<(String, RecordType), Option<Vec<RData>>>;

impl Responder {
    /// `None` in the table is SERVFAIL; a missing key is NXDOMAIN.
    fn start(table: Table) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind DNS");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let addr = socket.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let Ok(query) = Message::from_vec(&buf[..n]) else {
                        continue;
                    };
                    let Some(question) = query.queries.first().cloned() else {
                        continue;
                    };
                    let key = (
                        question.name().to_ascii().to_ascii_lowercase(),
                        question.query_type(),
                    );
                    let mut m =
                        Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
                    m.metadata.recursion_desired = true;
                    m.metadata.recursion_available = true;
                    m.add_query(question.clone());
                    match table.get(&key) {
                        Some(None) => m.metadata.response_code = ResponseCode::ServFail,
                        Some(Some(data)) => {
                            m.metadata.authentic_data = true;
                            for rdata in data {
                                m.add_answer(Record::from_rdata(
                                    question.name().clone(),
                                    60,
                                    rdata.clone(),
                                ));
                            }
                        }
                        None => {
                            m.metadata.authentic_data = true;
                            m.metadata.response_code = ResponseCode::NXDomain;
                        }
                    }
                    if let Ok(bytes) = m.to_vec() {
                        let _ = socket.send_to(&bytes, peer);
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

fn add(table: &mut Table, owner: &str, rtype: RecordType, data: RData) {
    if let Some(list) = table
        .entry((owner.to_owned(), rtype))
        .or_insert_with(|| Some(Vec::new()))
    {
        list.push(data);
    }
}

fn a(table: &mut Table, owner: &str) {
    add(
        table,
        owner,
        RecordType::A,
        RData::A(A(Ipv4Addr::LOCALHOST)),
    );
}

fn srv(table: &mut Table, owner: &str, port: u16, target: &str) {
    add(
        table,
        owner,
        RecordType::SRV,
        RData::SRV(SRV::new(0, 0, port, name(target))),
    );
}

fn mx(table: &mut Table, owner: &str, host: &str) {
    add(
        table,
        owner,
        RecordType::MX,
        RData::MX(MX::new(10, name(host))),
    );
}

fn tlsa_full(table: &mut Table, owner: &str, der: Vec<u8>) {
    add(
        table,
        owner,
        RecordType::TLSA,
        RData::TLSA(TLSA::new(
            CertUsage::from(3),
            Selector::Full,
            Matching::Raw,
            der,
        )),
    );
}

fn txt(table: &mut Table, owner: &str, text: &str) {
    add(
        table,
        owner,
        RecordType::TXT,
        RData::TXT(TXT::new(vec![text.to_owned()])),
    );
}

/// Accepts everything (only EHLO and QUIT come).
struct Accept;

impl ServerHandler for Accept {
    fn on_event(&mut self, session: &mut ServerSession, now: Instant, event: ServerEvent) {
        if matches!(
            event,
            ServerEvent::MailFrom { .. }
                | ServerEvent::RcptTo { .. }
                | ServerEvent::MessageComplete { .. }
        ) {
            let _ = session.accept(now);
        }
    }
}

/// A BER without TLS (no certificate: STARTTLS is not offered), served by
/// the crate's own server loop on 127.0.0.1.
fn plain_ber() -> (SocketAddr, Arc<AtomicBool>, thread::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = Arc::new(ServerConfig::new("plain.example.test", ServerMode::Ber));
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = {
        let shutdown = Arc::clone(&shutdown);
        thread::spawn(move || {
            let _ = net::serve(
                vec![listener],
                config,
                ServerOptions::default(),
                shutdown,
                |_| Accept,
            );
        })
    };
    (addr, shutdown, handle)
}

fn check(dns: SocketAddr, args: &[&str]) -> Output {
    Command::new(SECMX)
        .arg("check")
        .args(args)
        .args(["--dns", &dns.to_string()])
        .output()
        .expect("run secmx check")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn check_reports_sor_posture_and_exit_codes() {
    let started = Instant::now();
    let scratch = Scratch::new("check");
    let serve = Serve::start(&scratch.dir, "sor", &[]);
    let p = serve.port();
    let (plain, plain_stop, plain_thread) = plain_ber();
    let cert_path = scratch.path("cert.pem");
    let der = CertificateDer::from_pem_file(&cert_path)
        .expect("certificate")
        .to_vec();

    let mut t = Table::new();
    // Addresses of the receivers (the SOR's certificate names
    // secmx.example.test; alias.example.test is the same server).
    for host in [
        "secmx.example.test.",
        "alias.example.test.",
        "mx.good.test.",
        "plain.example.test.",
    ] {
        a(&mut t, host);
    }
    // good.test: a SOR by SRV, an MX host (same server, a name its
    // certificate lacks), MTA-STS and TLS-RPT records.
    srv(&mut t, "_secmx._tcp.good.test.", p, "secmx.example.test.");
    mx(&mut t, "good.test.", "mx.good.test.");
    txt(&mut t, "_mta-sts.good.test.", "v=STSv1; id=abc1;");
    txt(
        &mut t,
        "_smtp._tls.good.test.",
        "v=TLSRPTv1; rua=mailto:rpt@good.test",
    );
    // bad.test: the SOR is a BER without STARTTLS.
    srv(
        &mut t,
        "_secmx._tcp.bad.test.",
        plain.port(),
        "plain.example.test.",
    );
    mx(&mut t, "bad.test.", "secmx.example.test.");
    // dane.test: TLSA 3 0 0 with the certificate itself (RFC 7672 §3.1.1).
    srv(&mut t, "_secmx._tcp.dane.test.", p, "secmx.example.test.");
    mx(&mut t, "dane.test.", "secmx.example.test.");
    tlsa_full(&mut t, &format!("_{p}._tcp.secmx.example.test."), der);
    // wrongdane.test: a TLSA record that matches nothing.
    srv(
        &mut t,
        "_secmx._tcp.wrongdane.test.",
        p,
        "alias.example.test.",
    );
    mx(&mut t, "wrongdane.test.", "secmx.example.test.");
    tlsa_full(
        &mut t,
        &format!("_{p}._tcp.alias.example.test."),
        vec![0x30, 0x03, 1, 2, 3],
    );
    // empty.test: an MX host and no SOR.
    mx(&mut t, "empty.test.", "secmx.example.test.");
    // down.test: the MX look-up fails.
    t.insert(("down.test.".into(), RecordType::MX), None);
    let dns = Responder::start(t);
    let port = p.to_string();
    let ca = cert_path.to_str().expect("utf-8 path");

    // ---- healthy: TLS, and the chain verifies with --ca ----
    let out = check(
        dns.addr,
        &["good.test", "--smtp-port", &port, "--ca", ca, "--json"],
    );
    let j = json(&out);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    assert_eq!(j["healthy"], true);
    assert_eq!(j["exit"], 0);
    assert_eq!(j["indeterminate"], false);
    assert_eq!(j["problems"], serde_json::json!([]));
    let sor = &j["targets"][0];
    assert_eq!(sor["role"], "sor");
    assert_eq!(sor["host"], "secmx.example.test");
    assert_eq!(sor["port"], p);
    assert_eq!(sor["conventions"], serde_json::json!(["srv"]));
    assert_eq!(sor["required_check"], "verify");
    assert_eq!(sor["authenticated"], false);
    assert_eq!(sor["healthy"], true);
    let addr0 = &sor["addresses"][0];
    assert_eq!(addr0["address"], "127.0.0.1");
    assert_eq!(addr0["connected"], true);
    assert_eq!(addr0["starttls"], true);
    assert!(
        addr0["tls"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{addr0:#}"
    );
    assert!(addr0["tls"]["cipher"].is_string());
    assert!(addr0["requiretls"].is_boolean());
    assert_eq!(addr0["verify"]["ok"], true);
    assert_eq!(addr0["dane"], Value::Null);
    assert!(
        addr0["greeting"]
            .as_str()
            .is_some_and(|g| g.starts_with("220 secmx.example.test")),
        "{addr0:#}"
    );
    // The MX host: the certificate lacks its name — a warning only.
    let mxh = &j["targets"][1];
    assert_eq!(mxh["role"], "mx");
    assert_eq!(mxh["host"], "mx.good.test");
    assert_eq!(mxh["healthy"], false);
    assert_eq!(
        mxh["addresses"][0]["verify"]["result_type"],
        "certificate-host-mismatch"
    );
    assert_eq!(j["warnings"].as_array().map(Vec::len), Some(1), "{j:#}");
    assert_eq!(j["mta_sts"]["id"], "abc1");
    assert_eq!(
        j["tls_rpt"]["rua"],
        serde_json::json!(["mailto:rpt@good.test"])
    );
    // Nothing was delivered: check quits after STARTTLS.
    assert!(serve.messages().is_empty());

    // The table form of the same.
    let out = check(dns.addr, &["good.test", "--smtp-port", &port, "--ca", ca]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Result: healthy"), "{text}");
    assert!(text.contains("MTA-STS:  id=abc1"), "{text}");
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("sor "))
        .expect("SOR row");
    for word in [
        "secmx.example.test:",
        "srv",
        "127.0.0.1",
        "TLSv1.",
        "verify",
        " ok",
    ] {
        assert!(row.contains(word), "{row:?} lacks {word:?}");
    }

    // ---- without --ca the self-signed chain is not trusted: exit 1 ----
    let out = check(dns.addr, &["good.test", "--smtp-port", &port, "--json"]);
    let j = json(&out);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    assert_eq!(j["healthy"], false);
    assert_eq!(
        j["targets"][0]["addresses"][0]["verify"]["result_type"],
        "certificate-not-trusted"
    );
    assert!(
        j["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("certificate fails the verify check")),
        "{j:#}"
    );

    // ---- a BER without TLS listed as a SOR: exit 1 ----
    let out = check(
        dns.addr,
        &["bad.test", "--smtp-port", &port, "--ca", ca, "--json"],
    );
    let j = json(&out);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    let sor = &j["targets"][0];
    assert_eq!(sor["host"], "plain.example.test");
    assert_eq!(sor["healthy"], false);
    let addr0 = &sor["addresses"][0];
    assert_eq!(addr0["connected"], true);
    assert_eq!(addr0["starttls"], false);
    assert_eq!(addr0["tls"], Value::Null);
    assert_eq!(addr0["verify"], Value::Null);
    assert_eq!(
        j["problems"],
        serde_json::json!([format!(
            "sor plain.example.test:{}: 127.0.0.1: STARTTLS is not offered",
            plain.port()
        )])
    );
    // The MX host is fine, so there is no warning.
    assert_eq!(j["warnings"], serde_json::json!([]));

    // ---- DANE: authenticated TLSA decides; no --ca needed ----
    let out = check(
        dns.addr,
        &["dane.test", "--smtp-port", &port, "--dns-trusted", "--json"],
    );
    let j = json(&out);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    let sor = &j["targets"][0];
    assert_eq!(sor["authenticated"], true);
    assert_eq!(sor["tlsa"], true);
    assert_eq!(sor["required_check"], "dane");
    assert_eq!(sor["addresses"][0]["dane"]["ok"], true);
    assert_eq!(sor["addresses"][0]["verify"]["ok"], false);

    let out = check(
        dns.addr,
        &[
            "wrongdane.test",
            "--smtp-port",
            &port,
            "--dns-trusted",
            "--json",
        ],
    );
    let j = json(&out);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    assert_eq!(
        j["targets"][0]["addresses"][0]["dane"]["result_type"],
        "certificate-not-trusted"
    );
    assert!(
        j["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("fails the dane check")),
        "{j:#}"
    );

    // ---- no SOR at all: a problem ----
    let out = check(
        dns.addr,
        &["empty.test", "--smtp-port", &port, "--ca", ca, "--json"],
    );
    let j = json(&out);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    assert_eq!(
        j["problems"],
        serde_json::json!(["no SOR found by any of the four SecMX conventions"])
    );
    assert_eq!(j["targets"][0]["role"], "mx");
    assert_eq!(j["targets"][0]["healthy"], true);

    // ---- DNS indeterminate: 75 ----
    let out = check(dns.addr, &["down.test", "--smtp-port", &port, "--json"]);
    let j = json(&out);
    assert_eq!(out.status.code(), Some(75), "{j:#}");
    assert_eq!(j["indeterminate"], true);

    // ---- usage ----
    let out = check(dns.addr, &["good.test", "--ca", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(66), "{out:?}");

    plain_stop.store(true, Ordering::SeqCst);
    let _ = plain_thread.join();
    drop(dns);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
