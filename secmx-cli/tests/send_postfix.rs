//! `secmx send` against real peers on loopback.
//!
//! - A real Postfix receives: one smtpd with `smtpd_tls_security_level =
//!   encrypt` and one with `none` (no STARTTLS), delivering to a Maildir.
//!   The recipient domain's MX is named by the crate's own loopback DNS
//!   responder (`secmx_cli::demo::dns`), and `--smtp-port` picks the smtpd.
//!   Secure only delivers over TLS (RFC 3207) to the first and bounces
//!   with `5.7.4` (RFC 3463) against the second without sending MAIL;
//!   best effort delivers in clear to the second.
//! - knotd serves one zone per SecMX convention (SRV, SECMX RR, MX 51966,
//!   naming), each beside an ordinary MX: `secmx send --policy bes` picks
//!   the SOR (a `secmx serve --mode sor`) over the MX (a `secmx serve
//!   --mode ber`).
//!
//! Postfix, swaks' peers and knot must be installed (scripts/test.sh
//! installs them); a missing one fails the test.

mod common;

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use secmx_cli::demo::dns::{Responder, Zone};
use secmx_cli::demo::pki::Pki;
use secmx_dns::SecmxRdata;
use secmx_dns::hickory_proto::rr::Name;
use serde_json::Value;

/// The services of a Postfix instance without chroot, `virtual` included.
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
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

/// The recipient domain Postfix takes mail for.
const DOMAIN: &str = "postfix.test";
const MX_HOST: &str = "mx.postfix.test";

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A receiving Postfix, stopped (its whole process group) when dropped.
struct Postfix {
    dir: PathBuf,
    master: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// smtpd with `smtpd_tls_security_level = encrypt`.
    encrypt_port: u16,
    /// smtpd with `smtpd_tls_security_level = none`: no STARTTLS.
    plain_port: u16,
    /// The CA that signed its certificate, PEM.
    ca: PathBuf,
}

impl Postfix {
    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// The delivered messages (Maildir `new/`).
    fn mailbox(&self) -> Vec<String> {
        let new = self.dir.join("mail/all/new");
        let Ok(entries) = fs::read_dir(&new) else {
            return Vec::new();
        };
        entries
            .map(|e| fs::read_to_string(e.expect("entry").path()).expect("message"))
            .collect()
    }

    /// Files in the queue directories (none when the queue is empty).
    fn queue_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        for queue in ["maildrop", "incoming", "active", "deferred", "hold"] {
            walk(&self.dir.join("spool").join(queue), &mut files);
        }
        files
    }

    /// Waits until the log shows the end of a session from 127.0.0.1 and
    /// returns that `disconnect` line (smtpd's per-session command counts).
    fn disconnect_line(&self) -> String {
        let mut line = None;
        wait_for("smtpd logs the disconnect", Duration::from_secs(10), || {
            line = self
                .log()
                .lines()
                .find(|l| l.contains("disconnect from localhost[127.0.0.1]"))
                .map(str::to_owned);
            line.is_some()
        });
        line.expect("disconnect line")
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if let Ok(None) = self.master.try_wait() {
            sigterm(-i64::from(self.master.id()));
            if wait_exit(&mut self.master, Duration::from_secs(5)).is_none() {
                let _ = self.master.kill();
                let _ = self.master.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("--- Postfix log:\n{}", self.log());
        }
    }
}

fn start_postfix(dir: &Path) -> Postfix {
    let postfix = find_program("postfix", "postfix");
    let master = find_program("master", "postfix");
    let chown = find_program("chown", "coreutils");
    for sub in ["etc", "spool", "data", "mail", "pki"] {
        fs::create_dir_all(dir.join(sub)).expect("postfix directories");
    }
    let pki = Pki::new().expect("CA");
    let (chain, key) = pki.server_pem(&[MX_HOST]).expect("certificate");
    fs::write(dir.join("pki/chain.pem"), chain).expect("chain.pem");
    fs::write(dir.join("pki/key.pem"), key).expect("key.pem");
    let ca = dir.join("pki/ca.pem");
    fs::write(&ca, pki.ca_pem()).expect("ca.pem");
    let (encrypt_port, plain_port) = (free_port(), free_port());
    let d = dir.display();
    fs::write(
        dir.join("etc/main.cf"),
        format!(
            "compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = /dev/stdout
myhostname = {MX_HOST}
mydomain = {DOMAIN}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = static:all/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_tls_chain_files = {d}/pki/key.pem, {d}/pki/chain.pem
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
"
        ),
    )
    .expect("main.cf");
    fs::write(
        dir.join("etc/master.cf"),
        format!(
            "{encrypt_port} inet  n       -       n       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
{plain_port} inet  n       -       n       -       -       smtpd
  -o smtpd_tls_security_level=none
{MASTER_SERVICES}"
        ),
    )
    .expect("master.cf");
    for (owner, path) in [
        ("postfix", dir.join("data")),
        ("65534:65534", dir.join("mail")),
    ] {
        let status = Command::new(&chown)
            .arg(owner)
            .arg(&path)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {owner} {}", path.display());
    }
    let etc = dir.join("etc");
    postfix_check(&postfix, &etc);
    let (child, log) = start_postfix_master(&master, &etc);
    let mut postfix = Postfix {
        dir: dir.to_owned(),
        master: child,
        log,
        encrypt_port,
        plain_port,
        ca,
    };
    wait_for("Postfix smtpd", Duration::from_secs(10), || {
        if let Ok(Some(status)) = postfix.master.try_wait() {
            panic!("postfix master exited: {status}\n{}", postfix.log());
        }
        [encrypt_port, plain_port]
            .iter()
            .all(|p| TcpStream::connect((Ipv4Addr::LOCALHOST, *p)).is_ok())
    });
    // The probes above are sessions too: wait for their disconnects, so
    // that the log holds only what the test does afterwards.
    wait_for("probe sessions end", Duration::from_secs(10), || {
        postfix.log().matches("disconnect from").count() >= 2
    });
    postfix.log.lock().expect("log").clear();
    postfix
}

/// The loopback DNS responder naming Postfix as the MX of postfix.test.
fn postfix_dns() -> Responder {
    let mut zone = Zone::new();
    zone.mx(DOMAIN, 10, MX_HOST)
        .and_then(|z| z.a(MX_HOST, Ipv4Addr::LOCALHOST))
        .expect("zone");
    Responder::start(zone, false).expect("DNS responder")
}

fn secmx(args: &[&str]) -> Output {
    Command::new(SECMX)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run secmx")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_message(dir: &Path, subject: &str) -> PathBuf {
    let path = dir.join(format!("{}.eml", subject.replace(' ', "-")));
    fs::write(
        &path,
        format!(
            "From: alice@client.test\r\nTo: carol@{DOMAIN}\r\nSubject: {subject}\r\n\
             Message-ID: <{}@client.test>\r\n\r\nThe secret is 42.\r\n",
            subject.replace(' ', ".")
        ),
    )
    .expect("message");
    path
}

#[test]
fn rfc3207_send_sos_delivers_to_postfix_with_tls_encrypt() {
    let started = Instant::now();
    let scratch = Scratch::new("send-sos");
    let postfix = start_postfix(&scratch.path("postfix"));
    let dns = postfix_dns();
    let message = write_message(&scratch.dir, "sos over tls");
    let (dns_addr, port, ca) = (
        dns.addr().to_string(),
        postfix.encrypt_port.to_string(),
        postfix.ca.to_str().expect("path").to_owned(),
    );
    let msg = message.to_str().expect("path");
    let out = secmx(&[
        "send",
        "--policy",
        "sos",
        "--from",
        "alice@client.test",
        "--to",
        &format!("carol@{DOMAIN}"),
        "--message",
        msg,
        "--dns",
        &dns_addr,
        "--smtp-port",
        &port,
        "--ca",
        &ca,
        "--helo",
        "client.test",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let r = &json["recipients"][0];
    assert_eq!(r["verdict"], "delivered", "{json:#}");
    assert_eq!(r["class"], "sos");
    assert_eq!(r["target"]["host"], MX_HOST);
    assert_eq!(r["target"]["port"], postfix.encrypt_port);
    assert_eq!(r["target"]["tls_requirement"], "required");
    assert_eq!(r["target"]["check"], "verify");
    assert!(
        r["target"]["tls"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("TLSv1.")),
        "{json:#}"
    );
    assert_eq!(json["dsn"], Value::Null);

    wait_for(
        "Postfix delivers to the Maildir",
        Duration::from_secs(10),
        || !postfix.mailbox().is_empty(),
    );
    let mailbox = postfix.mailbox();
    assert_eq!(mailbox.len(), 1);
    assert!(
        mailbox[0].contains("Subject: sos over tls"),
        "{}",
        mailbox[0]
    );
    assert!(mailbox[0].contains("The secret is 42."));
    // Postfix's own account: TLS with the client, then the message.
    wait_for("Postfix logs the delivery", Duration::from_secs(10), || {
        postfix.log().contains("status=sent")
    });
    let log = postfix.log();
    assert!(
        log.contains("TLS connection established from localhost[127.0.0.1]"),
        "{log}"
    );
    assert!(log.contains("status=sent (delivered to maildir)"), "{log}");

    // --verify dane: no TLSA record, so no attempt and a deferral (75).
    let out = secmx(&[
        "send",
        "--policy",
        "sos",
        "--from",
        "alice@client.test",
        "--to",
        &format!("carol@{DOMAIN}"),
        "--message",
        msg,
        "--dns",
        &dns_addr,
        "--smtp-port",
        &port,
        "--ca",
        &ca,
        "--verify",
        "dane",
    ]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not tried: --verify dane"),
        "{}",
        text(&out)
    );
    assert_eq!(postfix.mailbox().len(), 1);
    drop(postfix);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn rfc3463_send_sos_bounces_5_7_4_against_postfix_without_starttls_and_sends_nothing() {
    let started = Instant::now();
    let scratch = Scratch::new("send-bounce");
    let postfix = start_postfix(&scratch.path("postfix"));
    let dns = postfix_dns();
    let message = write_message(&scratch.dir, "sos without tls");
    let bounce = scratch.path("bounce.eml");
    let out = secmx(&[
        "send",
        "--policy",
        "sos",
        "--from",
        "alice@client.test",
        "--to",
        &format!("carol@{DOMAIN}"),
        "--message",
        message.to_str().expect("path"),
        "--dns",
        &dns.addr().to_string(),
        "--smtp-port",
        &postfix.plain_port.to_string(),
        "--ca",
        postfix.ca.to_str().expect("path"),
        "--helo",
        "client.test",
        "--bounce-out",
        bounce.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bounced 5.7.4"), "{stdout}");
    assert!(stdout.contains("STARTTLS not offered"), "{stdout}");
    assert!(stdout.contains("Bounce (DSN) written to"), "{stdout}");

    // RFC 3464: the DSN, to the sender, about carol, with 5.7.4.
    let dsn = fs::read_to_string(&bounce).expect("the DSN file");
    for field in [
        "To: <alice@client.test>\r\n",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Reporting-MTA: dns; client.test\r\n",
        "Final-Recipient: rfc822; carol@postfix.test\r\n",
        "Action: failed\r\n",
        "Status: 5.7.4\r\n",
        "Remote-MTA: dns; mx.postfix.test\r\n",
        "Subject: sos without tls\r\n",
    ] {
        assert!(dsn.contains(field), "DSN lacks {field:?}:\n{dsn}");
    }

    // Postfix saw EHLO and QUIT, and nothing of the envelope or message.
    let disconnect = postfix.disconnect_line();
    assert!(
        disconnect.ends_with("ehlo=1 quit=1 commands=2"),
        "{disconnect}"
    );
    let log = postfix.log();
    for absent in [
        "mail=",
        "rcpt=",
        "data=",
        "starttls=",
        "cleanup",
        "message-id=",
    ] {
        assert!(
            !log.contains(absent),
            "Postfix log shows {absent:?}:\n{log}"
        );
    }
    assert!(postfix.mailbox().is_empty());
    assert_eq!(postfix.queue_files(), Vec::<PathBuf>::new());
    drop(postfix);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn rfc5321_send_bes_delivers_in_clear_to_postfix_without_tls() {
    let started = Instant::now();
    let scratch = Scratch::new("send-bes");
    let postfix = start_postfix(&scratch.path("postfix"));
    let dns = postfix_dns();
    let message = write_message(&scratch.dir, "bes in clear");
    let out = secmx(&[
        "send",
        "--policy",
        "bes",
        "--from",
        "alice@client.test",
        "--to",
        &format!("carol@{DOMAIN}"),
        "--message",
        message.to_str().expect("path"),
        "--dns",
        &dns.addr().to_string(),
        "--smtp-port",
        &postfix.plain_port.to_string(),
        "--helo",
        "client.test",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("carol@postfix.test"))
        .expect("the recipient's row");
    for word in ["bes", "mx.postfix.test:", "MX 10", "none", "delivered"] {
        assert!(row.contains(word), "{row:?} lacks {word:?}");
    }
    wait_for(
        "Postfix delivers to the Maildir",
        Duration::from_secs(10),
        || !postfix.mailbox().is_empty(),
    );
    let mailbox = postfix.mailbox();
    assert_eq!(mailbox.len(), 1);
    assert!(mailbox[0].contains("Subject: bes in clear"));
    // Received by Postfix over plain ESMTP (RFC 3848: ESMTPS would be TLS).
    assert!(
        mailbox[0].contains("(Postfix) with ESMTP id"),
        "{}",
        mailbox[0]
    );
    wait_for("Postfix logs the delivery", Duration::from_secs(10), || {
        postfix.log().contains("status=sent")
    });
    let log = postfix.log();
    assert!(!log.contains("TLS connection established"), "{log}");
    let disconnect = postfix.disconnect_line();
    assert!(!disconnect.contains("starttls"), "{disconnect}");
    assert!(disconnect.contains(" mail=1 rcpt=1 "), "{disconnect}");
    drop(postfix);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// knotd, killed when dropped.
struct Knot {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Ok(log) = fs::read_to_string(&self.log)
        {
            eprintln!("--- knotd log:\n{log}");
        }
    }
}

/// A loopback port free for both UDP and TCP right now.
fn free_dns_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind UDP");
        let port = udp.local_addr().expect("address").port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

/// Starts knotd (unsigned zones) for `zones`: origin and zone text.
fn start_knot(dir: &Path, zones: &[(String, String)]) -> Knot {
    let knotd = find_program("knotd", "knot");
    for sub in ["run", "db", "zones"] {
        fs::create_dir_all(dir.join(sub)).expect("knot directories");
    }
    let port = free_dns_port();
    let d = dir.display();
    let mut conf = format!(
        "server:\n    rundir: \"{d}/run\"\n    listen: 127.0.0.1@{port}\n\
         log:\n  - target: stderr\n    any: info\n\
         database:\n    storage: \"{d}/db\"\n\
         template:\n  - id: default\n    storage: \"{d}/zones\"\n    file: \"%s.zone\"\n\
         zone:\n"
    );
    for (origin, text) in zones {
        fs::write(dir.join(format!("zones/{origin}.zone")), text).expect("zone file");
        conf.push_str(&format!("  - domain: {origin}\n"));
    }
    let conf_path = dir.join("knot.conf");
    fs::write(&conf_path, conf).expect("knot.conf");
    let log = dir.join("knotd.log");
    let log_file = fs::File::create(&log).expect("log file");
    let child = Command::new(knotd)
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("start knotd");
    let mut knot = Knot { child, log, port };
    let dns = format!("127.0.0.1:{port}");
    let first = zones.first().map(|(o, _)| o.clone()).expect("a zone");
    // Listening (TCP) first: a UDP query to a port not yet open is only
    // answered by the discovery's time-out.
    wait_for("knotd listens", Duration::from_secs(10), || {
        if let Ok(Some(status)) = knot.child.try_wait() {
            panic!("knotd exited: {status}");
        }
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
    });
    wait_for("knotd answers", Duration::from_secs(20), || {
        secmx(&["discover", &first, "--dns", &dns]).status.success()
    });
    knot
}

/// A zone with an ordinary MX (mail.ORIGIN, 127.0.0.1) and `sor` lines.
fn zone(origin: &str, sor: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 60\n\
         @     SOA ns1 hostmaster 1 3600 600 86400 60\n\
         @     NS  ns1\n\
         ns1   A   127.0.0.1\n\
         @     MX  10 mail\n\
         mail  A   127.0.0.1\n\
         {sor}"
    )
}

#[test]
fn secmx_send_bes_picks_the_sor_by_each_convention_over_the_mx() {
    let started = Instant::now();
    let scratch = Scratch::new("send-conventions");
    fs::create_dir_all(scratch.path("mx")).expect("dir");
    fs::create_dir_all(scratch.path("sor")).expect("dir");
    // The ordinary MX: a BER on 127.0.0.1:M. The SOR listens on
    // 127.0.0.2:M, so that port M (--smtp-port, for the targets that
    // imply 25) reaches the one or the other by address.
    let mx = Serve::start(&scratch.path("mx"), "ber", &[]);
    let port = mx.port();
    let sor_listen = format!("127.0.0.2:{port}");
    let sor = Serve::start(&scratch.path("sor"), "sor", &["--listen", &sor_listen]);

    let secmx_rdata = |origin: &str| {
        let target = Name::from_ascii(format!("sor.{origin}.")).expect("name");
        SecmxRdata::new(10, false, port, target).to_generic()
    };
    let cases: Vec<(String, &str, String)> = vec![
        (
            "srv.test".into(),
            "srv",
            format!("_secmx._tcp SRV 0 0 {port} sor\nsor A 127.0.0.2\n"),
        ),
        (
            "secmxrr.test".into(),
            "secmx-rr",
            format!(
                "@ TYPE65482 {}\nsor A 127.0.0.2\n",
                secmx_rdata("secmxrr.test")
            ),
        ),
        (
            "mx51966.test".into(),
            "mx-51966",
            "@ MX 51966 sor\nsor A 127.0.0.2\n".into(),
        ),
        ("naming.test".into(), "naming", "secmx A 127.0.0.2\n".into()),
        ("nosor.test".into(), "", String::new()),
    ];
    let zones: Vec<(String, String)> = cases
        .iter()
        .map(|(origin, _, sor)| (origin.clone(), zone(origin, sor)))
        .collect();
    let knot = start_knot(&scratch.path("knot"), &zones);
    let dns = format!("127.0.0.1:{}", knot.port);

    for (n, (origin, convention, _)) in cases.iter().enumerate() {
        let out = secmx(&[
            "send",
            "--policy",
            "bes",
            "--from",
            "alice@client.test",
            "--to",
            &format!("bob@{origin}"),
            "--dns",
            &dns,
            "--smtp-port",
            &port.to_string(),
            "--helo",
            "client.test",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{origin}: {}", text(&out));
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let target = &json["recipients"][0]["target"];
        if convention.is_empty() {
            // The control: no SOR, so the ordinary MX takes it.
            assert_eq!(target["role"], "mx", "{json:#}");
            assert_eq!(target["address"], format!("127.0.0.1:{port}"));
            wait_for("the BER stores it", Duration::from_secs(5), || {
                mx.messages().len() == 1
            });
            continue;
        }
        assert_eq!(target["role"], "sor", "{origin}: {json:#}");
        assert_eq!(target["found_by"], *convention, "{origin}: {json:#}");
        assert_eq!(target["address"], format!("127.0.0.2:{port}"));
        assert_eq!(target["tls_requirement"], "required");
        assert!(target["tls"]["version"].is_string(), "{json:#}");
        assert_eq!(
            json["domains"][0]["mx"][0]["host"],
            format!("mail.{origin}")
        );
        wait_for("the SOR stores it", Duration::from_secs(5), || {
            sor.messages().len() == n + 1
        });
        assert!(mx.messages().is_empty(), "{origin}: the MX got it");
    }
    let messages = sor.messages();
    assert_eq!(messages.len(), 4);
    for (_, text) in &messages {
        assert!(text.contains("with ESMTPS id"), "{text}");
        assert!(text.contains("(using TLSv1."), "{text}");
    }
    drop(knot);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn send_exit_codes_usage_and_deferral() {
    // 64: bad command lines.
    for args in [
        vec!["send", "--policy", "bes", "--from", "a@x.test"],
        vec![
            "send", "--policy", "fast", "--from", "a@x.test", "--to", "b@y.test",
        ],
        vec![
            "send",
            "--policy",
            "bes",
            "--requiretls",
            "--from",
            "a@x.test",
            "--to",
            "b@y.test",
        ],
        vec![
            "send",
            "--policy",
            "sos",
            "--from",
            "a@x.test",
            "--to",
            "not an address",
        ],
        vec![
            "send",
            "--policy",
            "sos",
            "--from",
            "a@x.test",
            "--to",
            "b@[192.0.2.1]",
        ],
        vec![
            "send",
            "--policy",
            "bes",
            "--from",
            "a@x.test",
            "--to",
            "b@y.test",
            "--smtp-port",
            "0",
        ],
        vec![
            "send", "--policy", "bes", "--from", "a@x.test", "--to", "b@y.test", "--rules",
            "r.toml",
        ],
    ] {
        let out = secmx(&args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", text(&out));
    }
    // 66: the message file cannot be read.
    let out = secmx(&[
        "send",
        "--policy",
        "bes",
        "--from",
        "a@x.test",
        "--to",
        "b@y.test",
        "--message",
        "/nonexistent/message.eml",
        "--dns",
        "127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));

    // 75: the MX refuses connections (RFC 5321 §4.5.4.1: try again later;
    // DESIGN.md: temporary failures never bounce, even secure only).
    let mut zone = Zone::new();
    zone.mx("down.test", 10, "mx.down.test")
        .and_then(|z| z.a("mx.down.test", Ipv4Addr::LOCALHOST))
        .expect("zone");
    let dns = Responder::start(zone, false).expect("DNS");
    let closed = free_port();
    for policy in ["bes", "sos"] {
        let out = secmx(&[
            "send",
            "--policy",
            policy,
            "--from",
            "a@x.test",
            "--to",
            "b@down.test",
            "--dns",
            &dns.addr().to_string(),
            "--smtp-port",
            &closed.to_string(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(75), "{}", text(&out));
        let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["recipients"][0]["verdict"], "deferred");
        assert_eq!(json["recipients"][0]["status"], "4.4.1");
        assert_eq!(json["dsn"], Value::Null);
    }
}

/// The certificate checks against `secmx serve --mode ber` presenting a
/// self-signed certificate for secmx.example.test: `verify` against the
/// public roots refuses it (a definitive TLS failure: 5.7.4), `--verify
/// encrypt` takes it, `--ca` with that certificate verifies it; REQUIRETLS
/// (RFC 8689) goes through over verified TLS on an authenticated route;
/// `--policy auto` honours `TLS-Required: No` (RFC 8689 §5) over a
/// secure-only default.
#[test]
fn rfc8689_send_checks_verify_encrypt_ca_and_requiretls() {
    let scratch = Scratch::new("send-checks");
    let serve = Serve::start(&scratch.dir, "ber", &[]);
    let cert = scratch.path("cert.pem");
    let mut zone = Zone::new();
    zone.mx("checks.test", 10, "secmx.example.test")
        .and_then(|z| z.a("secmx.example.test", Ipv4Addr::LOCALHOST))
        .expect("zone");
    // AD set: with --dns-trusted the route is DNSSEC-authenticated.
    let dns = Responder::start(zone, true).expect("DNS");
    let (dns_addr, port) = (dns.addr().to_string(), serve.port().to_string());
    let send = |extra: &[&str]| {
        let mut args = vec![
            "send",
            "--from",
            "alice@client.test",
            "--to",
            "bob@checks.test",
            "--dns",
            &dns_addr,
            "--smtp-port",
            &port,
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = secmx(&args);
        let json: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code(), json)
    };

    let (code, json) = send(&["--policy", "sos"]);
    assert_eq!(code, Some(69), "{json:#}");
    assert_eq!(json["recipients"][0]["status"], "5.7.4");
    assert!(
        json["recipients"][0]["target"]["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("NotTrusted")),
        "{json:#}"
    );
    assert!(
        json["dsn"]
            .as_str()
            .is_some_and(|d| d.contains("Status: 5.7.4"))
    );
    assert!(serve.messages().is_empty());

    let (code, json) = send(&["--policy", "sos", "--verify", "encrypt"]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["recipients"][0]["target"]["check"], "encrypt");

    let ca = cert.to_str().expect("path");
    let (code, json) = send(&["--policy", "sos", "--ca", ca]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["recipients"][0]["target"]["check"], "verify");

    let (code, json) = send(&[
        "--policy",
        "auto",
        "--requiretls",
        "--dns-trusted",
        "--ca",
        ca,
    ]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["recipients"][0]["class"], "requiretls");
    // Without an authenticated route REQUIRETLS does not go (5.7.30).
    let (code, json) = send(&["--policy", "auto", "--requiretls", "--ca", ca]);
    assert_eq!(code, Some(69), "{json:#}");
    assert_eq!(json["recipients"][0]["status"], "5.7.30");

    let rules = scratch.path("rules.toml");
    fs::write(&rules, "default = \"secure-only\"\n").expect("rules");
    let no = scratch.path("no.eml");
    fs::write(&no, "TLS-Required: No\r\nSubject: hi\r\n\r\nbody\r\n").expect("message");
    let rules_arg = rules.to_str().expect("path");
    let (code, json) = send(&["--policy", "auto", "--rules", rules_arg]);
    assert_eq!(code, Some(69), "{json:#}");
    assert_eq!(json["domains"][0]["class"], "sos");
    let (code, json) = send(&[
        "--policy",
        "auto",
        "--rules",
        rules_arg,
        "--message",
        no.to_str().expect("path"),
    ]);
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["domains"][0]["class"], "bes");
    assert!(
        json["domains"][0]["class_reason"]
            .as_str()
            .is_some_and(|r| r.contains("TLS-Required")),
        "{json:#}"
    );
    wait_for("four messages stored", Duration::from_secs(5), || {
        serve.messages().len() == 4
    });
}
