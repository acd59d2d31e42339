//! `secmx discover` against real DNS servers on loopback: knotd
//! (authoritative, signing `example.test` and `bogus.test` at start-up,
//! `insecure.test` unsigned) behind unbound (validating, trust anchor read
//! from knot after it made its key; a DS that matches nothing for
//! `bogus.test`). The zones publish their SORs with the lines `secmx rr`
//! prints, so the zone text and the discovery are tested together.
//!
//! knotd, keymgr and unbound must be installed (Debian packages knot
//! knot-dnssecutils knot-dnsutils unbound; scripts/test.sh installs them);
//! if they are missing the test fails.

mod common;

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const TLSA_HEX: &str = "7d428e2b7182cf338e596fbbbc34a1173afc61a40646518b4a405229892662bb";

/// knotd and unbound, killed when dropped.
struct Servers {
    dir: PathBuf,
    children: Vec<(&'static str, Child)>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for (name, _) in &self.children {
                if let Ok(log) = fs::read_to_string(self.dir.join(format!("{name}.log"))) {
                    eprintln!("--- {name}.log:\n{log}");
                }
            }
        }
    }
}

impl Servers {
    fn spawn(&mut self, name: &'static str, program: &Path, args: &[&str]) {
        let log = fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        self.children.push((name, child));
    }

    fn check_alive(&mut self) {
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early: {status}");
            }
        }
    }
}

/// A loopback port free for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
        let port = udp.local_addr().expect("address").port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

fn secmx(args: &[&str]) -> Output {
    Command::new(SECMX).args(args).output().expect("run secmx")
}

/// The zone of `origin`: ordinary records, plus what `secmx rr` prints
/// for a SOR on port 25 (all four conventions) and one on port 10025.
fn zone(origin: &str) -> String {
    let host = format!("secmx.{origin}");
    let mut z = format!(
        "$ORIGIN {origin}.
$TTL 300
@               SOA   ns1 hostmaster 2024010101 3600 600 86400 300
@               NS    ns1
ns1             A     127.0.0.1
@               MX    10    mail
mail            A     127.0.0.1
secmx           A     127.0.0.1
_25._tcp.secmx  TLSA  3 1 1 {TLSA_HEX}
_10025._tcp.secmx TLSA 3 1 1 {TLSA_HEX}
_mta-sts        TXT   \"v=STSv1; id=20240101T000000;\"
_smtp._tls      TXT   \"v=TLSRPTv1; rua=mailto:tlsrpt@{origin}\"
"
    );
    // Large enough that the TXT answer passes the 1232-octet EDNS payload:
    // it comes back truncated over UDP and must be asked again over TCP.
    for i in 0..6 {
        let _ = writeln!(z, "_mta-sts TXT \"filler-{i}-{}\"", "x".repeat(230));
    }
    for args in [
        vec!["rr", origin, "--host", &host, "--certificate"],
        vec![
            "rr",
            origin,
            "--host",
            &host,
            "--port",
            "10025",
            "--preference",
            "20",
        ],
    ] {
        let out = secmx(&args);
        assert!(out.status.success(), "secmx {args:?}: {out:?}");
        z.push_str(&String::from_utf8(out.stdout).expect("zone text"));
    }
    z
}

fn start_servers(dir: &Path) -> (Servers, u16) {
    let knotd = find_program("knotd", "knot");
    let keymgr = find_program("keymgr", "knot-dnssecutils");
    let unbound = find_program("unbound", "unbound");
    for sub in ["knot/run", "knot/db", "knot/zones", "unbound"] {
        fs::create_dir_all(dir.join(sub)).expect("scratch directory");
    }
    let mut servers = Servers {
        dir: dir.to_owned(),
        children: Vec::new(),
    };
    let d = dir.display();
    let knot_port = free_port();
    let unbound_port = loop {
        let p = free_port();
        if p != knot_port {
            break p;
        }
    };
    for origin in ["example.test", "insecure.test", "bogus.test"] {
        fs::write(dir.join(format!("knot/zones/{origin}.zone")), zone(origin)).expect("zone");
    }
    let knot_conf = format!(
        r#"server:
    rundir: "{d}/knot/run"
    listen: 127.0.0.1@{knot_port}
log:
  - target: stderr
    any: info
database:
    storage: "{d}/knot/db"
policy:
  - id: test
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: off
template:
  - id: default
    storage: "{d}/knot/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
zone:
  - domain: example.test
    dnssec-signing: on
    dnssec-policy: test
  - domain: insecure.test
  - domain: bogus.test
    dnssec-signing: on
    dnssec-policy: test
"#
    );
    let knot_conf_path = dir.join("knot.conf");
    fs::write(&knot_conf_path, knot_conf).expect("knot.conf");
    let knot_conf_arg = knot_conf_path.to_str().expect("utf-8 path");
    servers.spawn("knotd", &knotd, &["-c", knot_conf_arg]);

    // The trust anchor: example.test's DS, once knotd has made its key.
    let start = Instant::now();
    let ds_lines = loop {
        servers.check_alive();
        let out = Command::new(&keymgr)
            .args(["-c", knot_conf_arg, "example.test", "ds"])
            .output()
            .expect("run keymgr");
        let ds: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" DS "))
            .map(str::to_owned)
            .collect();
        if !ds.is_empty() {
            break ds;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "keymgr gave no DS: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut anchors = ds_lines.join("\n");
    anchors.push_str(&format!("\nbogus.test. DS 11111 13 2 {}\n", "0".repeat(64)));
    fs::write(dir.join("unbound/anchors.ds"), anchors).expect("anchors");
    let unbound_conf = format!(
        r#"server:
    verbosity: 1
    interface: 127.0.0.1
    port: {unbound_port}
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}/unbound"
    pidfile: ""
    use-syslog: no
    logfile: ""
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    local-zone: "test." nodefault
    module-config: "validator iterator"
    trust-anchor-file: "{d}/unbound/anchors.ds"
    cache-max-ttl: 5
    cache-max-negative-ttl: 1
stub-zone:
    name: "example.test."
    stub-addr: 127.0.0.1@{knot_port}
stub-zone:
    name: "insecure.test."
    stub-addr: 127.0.0.1@{knot_port}
stub-zone:
    name: "bogus.test."
    stub-addr: 127.0.0.1@{knot_port}
"#
    );
    let unbound_conf_path = dir.join("unbound.conf");
    fs::write(&unbound_conf_path, unbound_conf).expect("unbound.conf");
    servers.spawn(
        "unbound",
        &unbound,
        &["-d", "-c", unbound_conf_path.to_str().expect("utf-8 path")],
    );
    // Ready when the signed zone validates: its MX comes back.
    let dns = format!("127.0.0.1:{unbound_port}");
    let start = Instant::now();
    loop {
        servers.check_alive();
        let out = secmx(&[
            "discover",
            "example.test",
            "--dns",
            &dns,
            "--dns-trusted",
            "--json",
        ]);
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "knot and unbound not ready: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (servers, unbound_port)
}

fn discover(domain: &str, dns: &str, trusted: bool) -> (i32, Value) {
    let mut args = vec!["discover", domain, "--dns", dns, "--json"];
    if trusted {
        args.push("--dns-trusted");
    }
    let out = secmx(&args);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("secmx {args:?} printed no JSON ({e}): {out:?}"));
    (out.status.code().unwrap_or(-1), json)
}

fn sors(json: &Value) -> Vec<(String, u64, Vec<String>, bool, bool)> {
    json["sors"]
        .as_array()
        .expect("sors")
        .iter()
        .map(|t| {
            (
                t["host"].as_str().expect("host").to_owned(),
                t["port"].as_u64().expect("port"),
                t["conventions"]
                    .as_array()
                    .expect("conventions")
                    .iter()
                    .map(|c| c.as_str().expect("name").to_owned())
                    .collect(),
                t["certificate_flag"].as_bool().expect("flag"),
                t["authenticated"].as_bool().expect("authenticated"),
            )
        })
        .collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn discover_through_unbound_and_knot_signed_unsigned_and_bogus() {
    let started = Instant::now();
    let scratch = Scratch::new("discover");
    let (servers, port) = start_servers(&scratch.dir);
    let dns = format!("127.0.0.1:{port}");

    // ---- signed: all four conventions, everything authenticated ----
    let (code, d) = discover("example.test", &dns, true);
    assert_eq!(code, 0, "{d:#}");
    assert_eq!(
        sors(&d),
        [
            (
                "secmx.example.test.".into(),
                25,
                strings(&["secmx-rr", "srv", "mx-51966", "naming"]),
                true,
                true
            ),
            (
                "secmx.example.test.".into(),
                10025,
                strings(&["secmx-rr", "srv"]),
                false,
                true
            ),
        ],
        "{d:#}"
    );
    assert_eq!(d["sors"][0]["addresses"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(d["mx"]["route"], "hosts");
    assert_eq!(d["mx"]["hosts"][0]["host"], "mail.example.test.");
    assert_eq!(d["mx"]["hosts"][0]["preference"], 10);
    assert_eq!(d["mx"]["hosts"][0]["authenticated"], true);
    let tlsa: Vec<(String, u64)> = d["tlsa"]
        .as_array()
        .expect("tlsa")
        .iter()
        .map(|t| {
            (
                t["host"].as_str().expect("host").to_owned(),
                t["port"].as_u64().expect("port"),
            )
        })
        .collect();
    assert!(
        tlsa.contains(&("secmx.example.test.".into(), 25)),
        "{tlsa:?}"
    );
    assert!(
        tlsa.contains(&("secmx.example.test.".into(), 10025)),
        "{tlsa:?}"
    );
    assert_eq!(d["tlsa"][0]["records"][0]["data"], TLSA_HEX);
    assert_eq!(d["tlsa"][0]["records"][0]["usable"], true);
    // The MTA-STS answer only fits over TCP (RFC 7766): found means the
    // truncated UDP answer was asked again over TCP.
    assert_eq!(d["mta_sts"]["outcome"], "answer", "{:#}", d["mta_sts"]);
    assert_eq!(d["mta_sts"]["id"], "20240101T000000");
    assert_eq!(d["mta_sts"]["authenticated"], true);
    assert_eq!(
        d["tls_rpt"]["rua"],
        serde_json::json!(["mailto:tlsrpt@example.test"])
    );
    assert_eq!(d["indeterminate"], false);

    // The table form of the same.
    let out = secmx(&["discover", "example.test", "--dns", &dns, "--dns-trusted"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("text");
    assert!(
        text.starts_with("example.test. (resolver 127.0.0.1:"),
        "{text}"
    );
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .expect("first SOR row");
    for word in [
        "secmx.example.test.",
        "25",
        "secmx-rr,srv,mx-51966,naming",
        "yes",
        "127.0.0.1",
    ] {
        assert!(first.contains(word), "{first:?} lacks {word}");
    }
    assert!(
        text.contains("MTA-STS:  id=20240101T000000 (DNSSEC)"),
        "{text}"
    );
    assert!(text.contains("_10025._tcp.secmx.example.test."), "{text}");

    // ---- unsigned: the same targets, nothing authenticated ----
    let (code, d) = discover("insecure.test", &dns, true);
    assert_eq!(code, 0, "{d:#}");
    let found = sors(&d);
    assert_eq!(found.len(), 2, "{d:#}");
    assert!(found.iter().all(|t| !t.4), "{found:?}");
    assert_eq!(d["tlsa"], serde_json::json!([]));

    // ---- without --dns-trusted the AD bit counts for nothing ----
    let (code, d) = discover("example.test", &dns, false);
    assert_eq!(code, 0);
    assert!(sors(&d).iter().all(|t| !t.4));
    assert_eq!(d["authenticated_resolver"], false);

    // ---- bogus: SERVFAIL from the validator, exit 75 ----
    let (code, d) = discover("bogus.test", &dns, true);
    assert_eq!(code, 75, "{d:#}");
    assert_eq!(d["indeterminate"], true);
    assert_eq!(d["sors"], serde_json::json!([]));
    assert_eq!(d["mx"]["route"], "indeterminate");
    assert_eq!(d["mx"]["reason"], "servfail");
    let out = secmx(&["discover", "bogus.test", "--dns", &dns, "--dns-trusted"]);
    assert_eq!(out.status.code(), Some(75));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the absence of a SOR proves nothing"),
        "{out:?}"
    );

    drop(servers);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
