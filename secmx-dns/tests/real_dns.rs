//! Discovery against real DNS servers on loopback: knotd (authoritative,
//! signing `example.test` and `bogus.test` on the fly, `insecure.test`
//! unsigned) behind unbound (validating, with `example.test`'s DS as trust
//! anchor and a fake DS for `bogus.test`). A small std::net driver carries
//! the queries over UDP, and over TCP when an answer comes back truncated.
//!
//! knotd, keymgr and unbound must be installed (`scripts/test.sh` installs
//! them: knot knot-dnssecutils knot-dnsutils unbound); if they are missing
//! the test fails, it never skips.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use secmx_dns::hickory_proto::op::{Message, ResponseCode};
use secmx_dns::hickory_proto::rr::{Name, RecordType};
use secmx_dns::query::encode_query;
use secmx_dns::{
    Config, Convention, Discovered, Discovery, Indeterminate, MailRoute, Outcome, RuaUri,
    SecmxRdata, Transport,
};

/// The SPKI SHA-256 of the TLSA records (any 32 octets do for discovery).
const TLSA_HEX: &str = "7d428e2b7182cf338e596fbbbc34a1173afc61a40646518b4a405229892662bb";

fn find_program(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{program} is not installed: this test needs knotd, keymgr and unbound \
         (Debian packages knot knot-dnssecutils knot-dnsutils unbound; \
         scripts/test.sh installs them)"
    );
}

/// Kills the servers and removes the scratch directory, whatever happens.
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
            eprintln!("server files kept for inspection in {}", self.dir.display());
            for (name, _) in &self.children {
                if let Ok(log) = fs::read_to_string(self.dir.join(format!("{name}.log"))) {
                    let tail: Vec<&str> = log.lines().rev().take(30).collect();
                    eprintln!("--- {name}.log (last lines, newest first)");
                    for line in tail {
                        eprintln!("{line}");
                    }
                }
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
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

fn zone(origin: &str, serial: u32) -> String {
    let secmx = SecmxRdata::new(
        10,
        true,
        25,
        Name::from_ascii(format!("secmx.{origin}.")).expect("name"),
    );
    let mut z = String::new();
    let _ = write!(
        z,
        "$ORIGIN {origin}.
$TTL 300
@               SOA   ns1 hostmaster {serial} 3600 600 86400 300
@               NS    ns1
ns1             A     127.0.0.1
@               MX    10    mail
@               MX    51966 secmx
mail            A     127.0.0.1
secmx           A     127.0.0.1
secmx           AAAA  ::1
_secmx._tcp     SRV   0 0 10025 secmx
@               {secmx_generic}
_25._tcp.secmx  TLSA  3 1 1 {TLSA_HEX}
_10025._tcp.secmx TLSA 3 1 1 {TLSA_HEX}
_mta-sts        TXT   \"v=STSv1; id=20240101T000000;\"
mta-sts         A     127.0.0.1
_smtp._tls      TXT   \"v=TLSRPTv1; rua=mailto:tlsrpt@{origin}\"
",
        secmx_generic = secmx.record_text(65482, true),
    );
    // Filler TXT records that MTA-STS discards (they do not start with
    // v=STSv1), large enough that the answer passes the 1232-octet EDNS
    // payload: it comes back truncated over UDP and is asked again over TCP.
    for i in 0..6 {
        let _ = writeln!(
            z,
            "_mta-sts        TXT   \"filler-{i}-{}\"",
            "x".repeat(230)
        );
    }
    z
}

/// Sends one query over UDP and returns the decoded answer, for readiness
/// probes.
fn probe(port: u16, name: &str, rtype: RecordType) -> Option<Message> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    let query = encode_query(0x1234, &Name::from_ascii(name).ok()?, rtype);
    socket.send_to(&query, (Ipv4Addr::LOCALHOST, port)).ok()?;
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    Message::from_vec(buf.get(..n)?).ok()
}

fn wait_until(
    what: &str,
    servers: &mut Servers,
    deadline: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !ready() {
        servers.check_alive();
        assert!(
            start.elapsed() < deadline,
            "{what} not ready after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_servers() -> (Servers, u16) {
    let knotd = find_program("knotd");
    let keymgr = find_program("keymgr");
    let unbound = find_program("unbound");

    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("secmx-dns-real-{}-{stamp}", std::process::id()));
    for sub in ["knot/run", "knot/db", "knot/zones", "unbound"] {
        fs::create_dir_all(dir.join(sub)).expect("scratch directory");
    }
    let mut servers = Servers {
        dir: dir.clone(),
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

    let serial = 2_024_010_101;
    for origin in ["example.test", "insecure.test", "bogus.test"] {
        fs::write(
            dir.join(format!("knot/zones/{origin}.zone")),
            zone(origin, serial),
        )
        .expect("zone");
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
    wait_until("knotd", &mut servers, Duration::from_secs(5), || {
        probe(knot_port, "example.test.", RecordType::DNSKEY).is_some_and(|m| {
            m.metadata.response_code == ResponseCode::NoError && !m.answers.is_empty()
        })
    });

    // The trust anchor: the DS of example.test's fresh key (RFC 4034 §5),
    // read after knotd made it, plus a DS for bogus.test that matches no key.
    let out = Command::new(&keymgr)
        .args(["-c", knot_conf_arg, "example.test", "ds"])
        .output()
        .expect("run keymgr");
    let ds = String::from_utf8_lossy(&out.stdout);
    let ds_lines: Vec<&str> = ds.lines().filter(|l| l.contains(" DS ")).collect();
    assert!(
        !ds_lines.is_empty(),
        "keymgr gave no DS: {ds} {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    log-servfail: yes
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
    wait_until("unbound", &mut servers, Duration::from_secs(5), || {
        probe(unbound_port, "example.test.", RecordType::SOA).is_some_and(|m| {
            m.metadata.response_code == ResponseCode::NoError && m.metadata.authentic_data
        })
    });
    (servers, unbound_port)
}

/// What the driver saw.
#[derive(Debug, Default)]
struct Traffic {
    udp: usize,
    tcp: usize,
}

/// Drives one discovery over real sockets with the real clock.
fn discover(domain: &str, resolver: SocketAddr) -> (Discovered, Traffic) {
    let mut config = Config::default();
    config.trusted_resolver = true; // unbound on loopback, validating
    config.query_timeout = Duration::from_secs(2);
    config.id_seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut discovery = Discovery::new(domain, config).expect("domain");
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    socket.connect(resolver).expect("connect");
    let mut traffic = Traffic::default();
    let started = Instant::now();
    let mut buf = vec![0u8; 65_535];
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "discovery of {domain} hangs"
        );
        // 2. drain the queries
        while let Some(query) = discovery.poll_query(Instant::now()) {
            match query.transport {
                Transport::Udp => {
                    traffic.udp += 1;
                    socket.send(&query.bytes).expect("send");
                }
                Transport::Tcp => {
                    traffic.tcp += 1;
                    let answer = tcp_exchange(resolver, &query.tcp_frame());
                    let _ = discovery.handle_response(Instant::now(), &answer);
                }
                _ => panic!("unknown transport"),
            }
        }
        // 3. done?
        if let Some(result) = discovery.poll_result() {
            return (result, traffic);
        }
        // 4. wait for a packet or the next deadline
        let now = Instant::now();
        let Some(deadline) = discovery.poll_timeout() else {
            continue; // a TCP answer queued more queries
        };
        if deadline <= now {
            discovery.handle_timeout(now);
            continue;
        }
        socket
            .set_read_timeout(Some(deadline - now))
            .expect("timeout");
        match socket.recv(&mut buf) {
            Ok(n) => {
                let _ = discovery.handle_response(Instant::now(), &buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                discovery.handle_timeout(Instant::now());
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// One query over TCP (RFC 1035 §4.2.2 framing, RFC 7766).
fn tcp_exchange(resolver: SocketAddr, frame: &[u8]) -> Vec<u8> {
    let mut stream =
        TcpStream::connect_timeout(&resolver, Duration::from_secs(2)).expect("TCP connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    stream.write_all(frame).expect("TCP write");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("TCP length");
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).expect("TCP message");
    answer
}

fn sors(d: &Discovered) -> Vec<(String, u16, Vec<Convention>, bool)> {
    d.sors
        .iter()
        .map(|t| {
            (
                t.host.to_ascii(),
                t.port,
                t.conventions.iter().collect(),
                t.authenticated,
            )
        })
        .collect()
}

#[test]
fn knot_and_unbound_signed_unsigned_and_bogus_zones() {
    let started = Instant::now();
    let (servers, port) = start_servers();
    let resolver = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    use Convention::*;

    // ---- the signed zone: everything found, everything authenticated ----
    let (d, traffic) = discover("example.test", resolver);
    assert_eq!(
        sors(&d),
        [
            (
                "secmx.example.test.".into(),
                25,
                vec![SecmxRr, Mx51966, Naming],
                true
            ),
            ("secmx.example.test.".into(), 10025, vec![Srv], true),
        ],
        "{d:#?}"
    );
    assert!(d.sors[0].certificate_flag);
    let MailRoute::Hosts(mx) = &d.mx else {
        panic!("MX hosts expected: {:?}", d.mx)
    };
    assert_eq!(mx.len(), 1);
    assert_eq!(mx[0].host.to_ascii(), "mail.example.test.");
    assert_eq!(mx[0].preference, 10);
    assert!(mx[0].authenticated);
    let secmx_host = Name::from_ascii("secmx.example.test.").expect("name");
    let addresses = d.addresses(&secmx_host).expect("addresses");
    assert_eq!(addresses.ipv4, [Ipv4Addr::LOCALHOST]);
    assert_eq!(addresses.ipv6, [std::net::Ipv6Addr::LOCALHOST]);
    for port in [25, 10025] {
        let set = d
            .tlsa(&secmx_host, port)
            .unwrap_or_else(|| panic!("TLSA for port {port}"));
        assert_eq!(set.records.len(), 1);
        assert!(set.records[0].usable());
        assert_eq!(set.records[0].data.len(), 32);
    }
    let mail = Name::from_ascii("mail.example.test.").expect("name");
    assert!(
        d.tlsa(&mail, 25).is_none(),
        "no TLSA published for the MX host"
    );
    let sts = d.mta_sts.record.as_ref().expect("MTA-STS record");
    assert_eq!(sts.id, "20240101T000000");
    assert!(d.mta_sts.authenticated);
    assert_eq!(
        d.tls_rpt.record.as_ref().expect("TLS-RPT record").rua,
        [RuaUri::Mailto("tlsrpt@example.test".into())]
    );
    assert!(!d.is_indeterminate());
    assert!(
        traffic.tcp >= 1,
        "the large TXT answer should have gone over TCP: {traffic:?}"
    );
    assert!(traffic.udp >= 10, "{traffic:?}");

    // ---- the unsigned zone: the same targets, nothing authenticated ----
    let (d, _) = discover("insecure.test", resolver);
    assert_eq!(
        sors(&d),
        [
            (
                "secmx.insecure.test.".into(),
                25,
                vec![SecmxRr, Mx51966, Naming],
                false
            ),
            ("secmx.insecure.test.".into(), 10025, vec![Srv], false),
        ],
        "{d:#?}"
    );
    assert!(d.tlsa.is_empty());
    assert!(d.lookups.iter().all(|l| !l.authenticated));
    assert!(matches!(&d.mx, MailRoute::Hosts(h) if h.len() == 1 && !h[0].authenticated));
    assert!(d.mta_sts.record.is_some());
    assert!(!d.is_indeterminate());

    // ---- the bogus zone: SERVFAIL from the validator, indeterminate ----
    let (d, _) = discover("bogus.test", resolver);
    assert!(d.sors.is_empty(), "{d:#?}");
    assert!(d.is_indeterminate());
    assert!(d.sor_indeterminate());
    assert_eq!(d.mx, MailRoute::Indeterminate(Indeterminate::ServFail));
    assert!(
        d.lookups
            .iter()
            .all(|l| l.outcome == Outcome::Indeterminate(Indeterminate::ServFail)),
        "{:#?}",
        d.lookups
    );

    drop(servers);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
