//! A real Postfix asks `secmx policyd` for its TLS policy
//! (`smtp_tls_policy_maps = socketmap:inet:127.0.0.1:PORT:postfix`) and,
//! in a second instance, for its route (`transport_maps =
//! socketmap:inet:127.0.0.1:PORT:transport`). Everything runs on loopback:
//!
//! ```text
//! swaks ─► Postfix A (policy map) ──MX──► secmx serve --mode ber  127.0.0.2:P  (sor.test)
//!                                  └─MX──► plain BER, no STARTTLS 127.0.0.3:P  (clear.test, plain.test)
//! swaks ─► Postfix B (policy + transport) ─[sor.route.test]:Q─► secmx serve --mode sor 127.0.0.1:Q
//!            │ libc resolver (resolv.conf bind-mounted in `unshare -m`)
//!            ▼
//!          unbound 127.53.x.y:53 (validating) ─► knotd 127.0.0.1:K (signs dane.test, bogus.test)
//!            ▲
//!          secmx policyd --dns 127.53.x.y:53 --dns-trusted
//! ```
//!
//! Postfix's libc resolver cannot be given a port, so unbound listens on
//! port 53 of a loopback address of its own, and Postfix runs in a mount
//! namespace whose /etc/resolv.conf names it (PEERS.md); the machine's own
//! resolv.conf is untouched. Postfix delivers to MX hosts on port 25, so
//! `known_tcp_ports = smtp=P` points it at the test receivers' port; the
//! policy look-up key stays the bare next-hop domain.
//!
//! What is shown:
//! - `sor.test` (its MX host is a SOR with the SECMX certificate flag):
//!   policyd says `secure match=secmx.example.test`, Postfix logs
//!   "Verified TLS connection established" and `status=sent`.
//! - `clear.test` (a SOR by SRV, whose host offers no STARTTLS): policyd
//!   says `encrypt`, Postfix defers: "TLS is required, but was not
//!   offered", and the receiver gets no message.
//! - `plain.test` (no SecMX record, the same receiver): `NOTFOUND`, Postfix
//!   keeps its `may` level and delivers in clear — so the deferral above is
//!   policyd's doing.
//! - `route.test` with the transport map: Postfix goes to the SOR
//!   `[sor.route.test]:Q` (not the MX host, which has no TLS), asks the
//!   policy for that next-hop (`encrypt`), and delivers over TLS.
//! - Direct socketmap look-ups: `dane-only` for a signed domain with TLSA,
//!   `TEMP` for a bogus one.
//!
//! knotd, keymgr, unbound, Postfix, swaks, unshare and mount must be
//! installed (scripts/test.sh installs them); if one is missing the test
//! fails. It must run as root (port 53, mount namespaces, Postfix).

mod common;

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use secmx_cli::net::{self, ServerHandler, ServerOptions};
use secmx_core::server::{ServerConfig, ServerEvent, ServerMode, ServerSession};

/// The services of a Postfix instance that runs without chroot.
const MASTER_SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// A TLSA 3 1 1 digest for dane.test (what it hashes does not matter:
/// policyd only reads that usable authenticated records exist).
const TLSA_HEX: &str = "7d428e2b7182cf338e596fbbbc34a1173afc61a40646518b4a405229892662bb";

/// Lines of output, collected by a thread.
type Log = Arc<Mutex<Vec<String>>>;

/// Collects a child's output lines in a thread.
fn collect(stream: impl Read + Send + 'static, lines: Log) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut lines) = lines.lock() {
                lines.push(line);
            }
        }
    });
}

/// Child processes, stopped when dropped; each one's log is printed if
/// the test failed.
struct Peers {
    children: Vec<(String, Child, bool, Log)>,
}

impl Peers {
    /// Starts a program with its output collected; `group`: in its own
    /// process group, stopped by SIGTERM to the group.
    fn spawn(&mut self, name: &str, mut command: Command, group: bool) -> Log {
        if group {
            command.process_group(0);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), Arc::clone(&log));
        collect(child.stderr.take().expect("stderr"), Arc::clone(&log));
        self.children
            .push((name.to_owned(), child, group, Arc::clone(&log)));
        log
    }

    fn check_alive(&mut self) {
        for (name, child, _, log) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited early: {status}\n{}", lines(log));
            }
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        for (_, child, group, _) in self.children.iter_mut().rev() {
            if let Ok(None) = child.try_wait() {
                if *group {
                    sigterm(-i64::from(child.id()));
                    if wait_exit(child, Duration::from_secs(5)).is_some() {
                        continue;
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if thread::panicking() {
            for (name, _, _, log) in &self.children {
                eprintln!("--- {name}:\n{}", lines(log));
            }
        }
    }
}

fn lines(log: &Log) -> String {
    log.lock().map(|l| l.join("\n")).unwrap_or_default()
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

/// A loopback address for unbound's port 53, different per process.
fn resolver_address() -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 53, (pid >> 8) as u8, (pid % 253 + 1) as u8)
}

fn secmx(args: &[&str]) -> Output {
    Command::new(SECMX).args(args).output().expect("run secmx")
}

fn zone_head(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 60\n@ SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ NS ns1.example.test.\n"
    )
}

/// The zones; `p` is the receivers' common port, `q` the route SOR's.
fn zones(p: u16, q: u16) -> Vec<(&'static str, String)> {
    let rr = |args: &[&str]| {
        let out = secmx(args);
        assert!(out.status.success(), "secmx {args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("zone text")
    };
    let port = p.to_string();
    vec![
        (
            "example.test",
            zone_head("example.test") + "ns1 A 127.0.0.1\nsecmx A 127.0.0.2\n",
        ),
        (
            // The MX host is a SOR whose certificate is valid for its name.
            "sor.test",
            zone_head("sor.test")
                + "@ MX 10 secmx.example.test.\n"
                + &rr(&[
                    "rr",
                    "sor.test",
                    "--host",
                    "secmx.example.test",
                    "--port",
                    &port,
                    "--certificate",
                ]),
        ),
        (
            "clear.test",
            zone_head("clear.test")
                + &format!("@ MX 10 mx\nmx A 127.0.0.3\n_secmx._tcp SRV 0 0 {p} mx\n"),
        ),
        (
            "plain.test",
            zone_head("plain.test") + "@ MX 10 mx\nmx A 127.0.0.3\n",
        ),
        (
            "route.test",
            zone_head("route.test")
                + &format!(
                    "@ MX 10 mx\nmx A 127.0.0.3\nsor A 127.0.0.1\n_secmx._tcp SRV 0 0 {q} sor\n"
                ),
        ),
        (
            "dane.test",
            zone_head("dane.test")
                + &format!("@ MX 10 mx\nmx A 127.0.0.3\n_25._tcp.mx TLSA 3 1 1 {TLSA_HEX}\n"),
        ),
        (
            "bogus.test",
            zone_head("bogus.test") + "@ MX 10 mx\nmx A 127.0.0.3\n",
        ),
    ]
}

/// knotd and unbound; returns unbound's address (port 53).
fn start_dns(peers: &mut Peers, dir: &Path, p: u16, q: u16) -> SocketAddr {
    let knotd = find_program("knotd", "knot");
    let keymgr = find_program("keymgr", "knot-dnssecutils");
    let unbound = find_program("unbound", "unbound");
    for sub in ["knot/run", "knot/db", "knot/zones", "unbound"] {
        fs::create_dir_all(dir.join(sub)).expect("scratch directory");
    }
    let d = dir.display();
    let knot_port = free_port();
    let zones = zones(p, q);
    let mut zone_conf = String::new();
    for (origin, text) in &zones {
        fs::write(dir.join(format!("knot/zones/{origin}.zone")), text).expect("zone");
        let _ = writeln!(zone_conf, "  - domain: {origin}");
        if matches!(*origin, "dane.test" | "bogus.test") {
            zone_conf.push_str("    dnssec-signing: on\n    dnssec-policy: test\n");
        }
    }
    let knot_conf = format!(
        r#"server:
    rundir: "{d}/knot/run"
    listen: 127.0.0.1@{knot_port}
log:
  - target: stderr
    any: warning
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
{zone_conf}"#
    );
    let knot_conf_path = dir.join("knot.conf");
    fs::write(&knot_conf_path, knot_conf).expect("knot.conf");
    let mut cmd = Command::new(&knotd);
    cmd.arg("-c").arg(&knot_conf_path);
    peers.spawn("knotd", cmd, false);

    let start = Instant::now();
    let ds = loop {
        peers.check_alive();
        let out = Command::new(&keymgr)
            .arg("-c")
            .arg(&knot_conf_path)
            .args(["dane.test", "ds"])
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
        thread::sleep(Duration::from_millis(50));
    };
    let mut anchors = ds.join("\n");
    // A DS that matches no key of bogus.test: validation fails, SERVFAIL.
    let _ = writeln!(anchors, "\nbogus.test. DS 11111 13 2 {}", "0".repeat(64));
    fs::write(dir.join("unbound/anchors.ds"), anchors).expect("anchors");

    let ip = resolver_address();
    let mut stubs = String::new();
    for (origin, _) in &zones {
        let _ = write!(
            stubs,
            "stub-zone:\n    name: \"{origin}.\"\n    stub-addr: 127.0.0.1@{knot_port}\n"
        );
    }
    let unbound_conf = format!(
        r#"server:
    verbosity: 1
    interface: {ip}
    port: 53
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
    local-zone: "client.test." static
    module-config: "validator iterator"
    trust-anchor-file: "{d}/unbound/anchors.ds"
    cache-max-ttl: 5
    cache-max-negative-ttl: 1
{stubs}"#
    );
    let unbound_conf_path = dir.join("unbound.conf");
    fs::write(&unbound_conf_path, unbound_conf).expect("unbound.conf");
    let mut cmd = Command::new(&unbound);
    cmd.arg("-d").arg("-c").arg(&unbound_conf_path);
    let unbound_log = peers.spawn("unbound", cmd, false);
    // A query sent before unbound listens is lost and waits for the
    // discovery's time-out: wait for the socket first.
    wait_for("unbound listening", Duration::from_secs(10), || {
        peers.check_alive();
        lines(&unbound_log).contains("start of service")
    });

    // Ready when the signed zone validates.
    let dns = SocketAddr::from((ip, 53));
    let dns_arg = dns.to_string();
    let start = Instant::now();
    loop {
        peers.check_alive();
        let out = secmx(&[
            "discover",
            "dane.test",
            "--dns",
            &dns_arg,
            "--dns-trusted",
            "--json",
        ]);
        let ready = out.status.success()
            && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .is_ok_and(|j| j["tlsa"].as_array().is_some_and(|t| !t.is_empty()));
        if ready {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "knot and unbound not ready: {out:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    dns
}

/// `secmx policyd` on a port the kernel picks; returns its address and log.
fn start_policyd(peers: &mut Peers, dns: SocketAddr) -> (SocketAddr, Log) {
    let mut cmd = Command::new(SECMX);
    cmd.args(["policyd", "--listen", "127.0.0.1:0", "--dns"])
        .arg(dns.to_string())
        .args(["--dns-trusted", "--cache-ttl", "60"]);
    let log = peers.spawn("secmx policyd", cmd, false);
    let mut addr = None;
    wait_for("policyd listening", Duration::from_secs(10), || {
        peers.check_alive();
        addr = log.lock().ok().and_then(|lines| {
            lines.iter().find_map(|l| {
                let rest = l.strip_prefix("secmx policyd: listening on ")?;
                rest.split(',').next()?.parse().ok()
            })
        });
        addr.is_some()
    });
    (addr.expect("address"), log)
}

/// Writes and starts a Postfix instance under `dir`: smtpd on
/// `smtpd_port`, the smtp client with `extra` main.cf lines, run in a
/// mount namespace whose /etc/resolv.conf names `dns`.
fn start_postfix(
    peers: &mut Peers,
    name: &str,
    dir: &Path,
    smtpd_port: u16,
    dns: SocketAddr,
    extra: &str,
) -> Log {
    let postfix = find_program("postfix", "postfix");
    let master = find_program("master", "postfix");
    let unshare = find_program("unshare", "util-linux");
    let mount = find_program("mount", "mount");
    let etc = dir.join("etc");
    for sub in ["etc", "spool", "data"] {
        fs::create_dir_all(dir.join(sub)).expect("postfix directories");
    }
    let resolv = dir.join("resolv.conf");
    fs::write(
        &resolv,
        format!("nameserver {}\noptions trust-ad edns0\n", dns.ip()),
    )
    .expect("resolv.conf");
    let d = dir.display();
    fs::write(
        etc.join("main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = /dev/stdout
myhostname = {name}.client.test
mydomain = client.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_connect_timeout = 5s
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
{extra}"
        ),
    )
    .expect("main.cf");
    fs::write(
        etc.join("master.cf"),
        format!(
            "{smtpd_port} inet  n       -       n       -       -       smtpd\n{MASTER_SERVICES}"
        ),
    )
    .expect("master.cf");
    let chown = Command::new(find_program("chown", "coreutils"))
        .arg("postfix")
        .arg(dir.join("data"))
        .status()
        .expect("run chown");
    assert!(chown.success(), "chown postfix data failed");
    postfix_check(&postfix, &etc);
    // unshare execs sh, which execs master: the child's pid is master's,
    // and its process group holds every Postfix daemon.
    let mut cmd = Command::new(unshare);
    cmd.args(["-m", "sh", "-c"]).arg(format!(
        "{} --bind '{}' /etc/resolv.conf && exec '{}' -c '{}' -d",
        mount.display(),
        resolv.display(),
        master.display(),
        etc.display()
    ));
    let log = peers.spawn(&format!("postfix {name}"), cmd, true);
    wait_for("Postfix smtpd", Duration::from_secs(10), || {
        peers.check_alive();
        TcpStream::connect((Ipv4Addr::LOCALHOST, smtpd_port)).is_ok()
    });
    log
}

/// Submits one message to Postfix's smtpd with swaks.
fn submit(smtpd_port: u16, to: &str, subject: &str) {
    let out = Command::new(find_program("swaks", "swaks"))
        .args(["--server", "127.0.0.1", "--port", &smtpd_port.to_string()])
        .args(["--from", "alice@client.test", "--to", to])
        .args(["--h-Subject", subject, "--timeout", "10"])
        .output()
        .expect("run swaks");
    assert!(
        out.status.success(),
        "submission to Postfix failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Stores the body of every message; the receiver has no TLS.
struct Collect(Log, Vec<u8>);

impl ServerHandler for Collect {
    fn on_event(&mut self, session: &mut ServerSession, now: Instant, event: ServerEvent) {
        match event {
            ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. } => {
                let _ = session.accept(now);
            }
            ServerEvent::BodyChunk(bytes) => self.1.extend_from_slice(&bytes),
            ServerEvent::MessageComplete { .. } => {
                if let Ok(mut bodies) = self.0.lock() {
                    bodies.push(String::from_utf8_lossy(&self.1).into_owned());
                }
                self.1.clear();
                let _ = session.accept(now);
            }
            ServerEvent::MessageAborted { .. } => self.1.clear(),
            _ => {}
        }
    }
}

/// One socketmap look-up over a fresh connection.
fn lookup(policyd: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(policyd).expect("connect policyd");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(format!("{}:{request},", request.len()).as_bytes())
        .expect("write");
    let mut reply = Vec::new();
    let mut byte = [0u8];
    while s.read(&mut byte).expect("read") == 1 {
        reply.push(byte[0]);
        if let Some(colon) = reply.iter().position(|&b| b == b':') {
            let len: usize = std::str::from_utf8(&reply[..colon])
                .expect("length")
                .parse()
                .expect("length");
            if reply.len() == colon + len + 2 {
                break;
            }
        }
    }
    let text = String::from_utf8(reply).expect("UTF-8 reply");
    let (_, rest) = text.split_once(':').expect("netstring");
    rest.strip_suffix(',').expect("netstring end").to_owned()
}

fn wait_log(what: &str, log: &Log, needle: &str) {
    wait_for(what, Duration::from_secs(20), || {
        lines(log).contains(needle)
    });
}

#[test]
fn postfix_takes_tls_policy_and_transport_from_policyd() {
    let started = Instant::now();
    let scratch = Scratch::new("policyd");
    let mut peers = Peers {
        children: Vec::new(),
    };

    // The receiver without STARTTLS on 127.0.0.3:P, in this process; the
    // BER with a certificate on 127.0.0.2:P (and 127.0.0.1:any).
    let plain_listener = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 3), 0)).expect("bind");
    let p = plain_listener.local_addr().expect("address").port();
    let plain_bodies = Arc::new(Mutex::new(Vec::new()));
    let plain_stop = Arc::new(AtomicBool::new(false));
    let plain_thread = {
        let bodies = Arc::clone(&plain_bodies);
        let stop = Arc::clone(&plain_stop);
        let config = Arc::new(ServerConfig::new("mx.plain.test", ServerMode::Ber));
        thread::spawn(move || {
            let _ = net::serve(
                vec![plain_listener],
                config,
                ServerOptions::default(),
                stop,
                move |_| Collect(Arc::clone(&bodies), Vec::new()),
            );
        })
    };
    let ber_dir = scratch.path("ber");
    fs::create_dir_all(&ber_dir).expect("ber dir");
    let ber = Serve::start(&ber_dir, "ber", &["--listen", &format!("127.0.0.2:{p}")]);
    let sor_dir = scratch.path("sor");
    fs::create_dir_all(&sor_dir).expect("sor dir");
    let sor = Serve::start(&sor_dir, "sor", &[]);
    let q = sor.port();

    let dns = start_dns(&mut peers, &scratch.path("dns"), p, q);
    let (policyd, policyd_log) = start_policyd(&mut peers, dns);

    // ---- direct look-ups ----
    assert_eq!(lookup(policyd, "postfix dane.test"), "OK dane-only");
    let bogus = lookup(policyd, "postfix bogus.test");
    assert!(bogus.starts_with("TEMP DNS look-up "), "{bogus}");
    assert_eq!(lookup(policyd, "postfix .test"), "NOTFOUND ");
    assert_eq!(
        lookup(policyd, "postfix sor.test"),
        "OK secure match=secmx.example.test"
    );

    // ---- Postfix A: the TLS policy map only ----
    let smtpd_a = free_port();
    let ca = ber_dir.join("cert.pem");
    let log_a = start_postfix(
        &mut peers,
        "a",
        &scratch.path("postfix-a"),
        smtpd_a,
        dns,
        &format!(
            "known_tcp_ports = lmtp=24, smtp={p}\n\
             smtp_tls_CAfile = {}\n\
             smtp_tls_policy_maps = socketmap:inet:{policyd}:postfix\n",
            ca.display()
        ),
    );
    submit(smtpd_a, "carol@sor.test", "to sor.test");
    submit(smtpd_a, "dave@clear.test", "to clear.test");
    submit(smtpd_a, "erin@plain.test", "to plain.test");

    // sor.test: verified TLS to the flagged SOR that is its MX host.
    wait_log("sor.test delivered", &log_a, "to=<carol@sor.test>");
    wait_log(
        "sor.test delivered",
        &log_a,
        &format!("Verified TLS connection established to secmx.example.test[127.0.0.2]:{p}"),
    );
    // clear.test: TLS required by policyd, not offered: deferred.
    wait_log(
        "clear.test deferred",
        &log_a,
        "status=deferred (TLS is required, but was not offered by host mx.clear.test[127.0.0.3])",
    );
    wait_log("plain.test delivered", &log_a, "to=<erin@plain.test>");
    wait_for("deliveries logged", Duration::from_secs(20), || {
        lines(&log_a).matches("status=sent").count() >= 2
    });
    let a = lines(&log_a);
    let status_of = |log: &str, rcpt: &str| -> String {
        log.lines()
            .filter(|l| l.contains(&format!("to=<{rcpt}>")))
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let carol = status_of(&a, "carol@sor.test");
    assert!(
        carol.contains(&format!("relay=secmx.example.test[127.0.0.2]:{p}"))
            && carol.contains("status=sent"),
        "{a}"
    );
    let dave = status_of(&a, "dave@clear.test");
    assert!(
        dave.contains("status=deferred") && !dave.contains("status=sent"),
        "{a}"
    );
    let erin = status_of(&a, "erin@plain.test");
    assert!(
        erin.contains(&format!("relay=mx.plain.test[127.0.0.3]:{p}"))
            && erin.contains("status=sent"),
        "{a}"
    );
    // The receivers: the BER has carol's message over TLS; the receiver
    // without TLS has erin's (in clear, NOTFOUND kept Postfix at `may`)
    // and never got dave's.
    let ber_messages = ber.messages();
    assert_eq!(ber_messages.len(), 1, "{ber_messages:?}");
    assert!(ber_messages[0].1.contains("Subject: to sor.test"));
    assert!(ber_messages[0].1.contains("\t(using TLSv1."));
    let bodies = plain_bodies.lock().expect("bodies").clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("Subject: to plain.test"));
    assert!(!bodies.iter().any(|b| b.contains("to clear.test")));

    // ---- Postfix B: the transport map routes route.test to its SOR ----
    let smtpd_b = free_port();
    let log_b = start_postfix(
        &mut peers,
        "b",
        &scratch.path("postfix-b"),
        smtpd_b,
        dns,
        &format!(
            "known_tcp_ports = lmtp=24, smtp={p}\n\
             smtp_tls_policy_maps = socketmap:inet:{policyd}:postfix\n\
             transport_maps = socketmap:inet:{policyd}:transport\n"
        ),
    );
    submit(smtpd_b, "frank@route.test", "to route.test");
    wait_log("route.test delivered", &log_b, "to=<frank@route.test>");
    wait_log(
        "route.test over TLS",
        &log_b,
        &format!("TLS connection established to sor.route.test[127.0.0.1]:{q}"),
    );
    let b = lines(&log_b);
    let frank = status_of(&b, "frank@route.test");
    assert!(
        frank.contains(&format!("relay=sor.route.test[127.0.0.1]:{q}"))
            && frank.contains("status=sent"),
        "{b}"
    );
    let sor_messages = sor.messages();
    assert_eq!(sor_messages.len(), 1, "{sor_messages:?}");
    assert!(sor_messages[0].1.contains("Subject: to route.test"));
    assert!(sor_messages[0].1.contains("\t(using TLSv1."));
    assert!(
        !plain_bodies
            .lock()
            .expect("bodies")
            .iter()
            .any(|b| b.contains("to route.test"))
    );

    // ---- what policyd answered Postfix ----
    let answered: Vec<serde_json::Value> = policyd_log
        .lock()
        .expect("log")
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let reply_to = |request: &str| -> Option<String> {
        answered
            .iter()
            .find(|j| j["request"] == request)
            .and_then(|j| j["reply"].as_str().map(str::to_owned))
    };
    assert_eq!(
        reply_to("postfix clear.test").as_deref(),
        Some("OK encrypt")
    );
    assert_eq!(reply_to("postfix plain.test").as_deref(), Some("NOTFOUND "));
    assert_eq!(
        reply_to("transport frank@route.test"),
        Some(format!("OK smtp:[sor.route.test]:{q}, route.test"))
    );
    assert_eq!(
        reply_to(&format!("postfix [sor.route.test]:{q}")).as_deref(),
        Some("OK encrypt")
    );

    drop(peers);
    plain_stop.store(true, Ordering::SeqCst);
    let _ = plain_thread.join();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
