//! A real Postfix delivers to `secmx serve --mode sor`: Postfix relays
//! everything to `[127.0.0.1]:PORT` with `smtp_tls_security_level =
//! encrypt` (RFC 3207: TLS or nothing), and the SOR stores the message
//! with the TLS version and cipher in its `Received:` line.
//!
//! Postfix runs as root from its own configuration and queue directories
//! under a scratch directory (`master -c DIR -d`, in its own process group,
//! stopped by a Drop guard); a message is submitted with swaks into
//! Postfix's smtpd on another loopback port. Postfix and swaks must be
//! installed (scripts/test.sh installs them); if not, the test fails.

mod common;

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

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

/// A Postfix master process and its log, stopped (the whole process
/// group) when dropped.
struct Postfix {
    master: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Postfix {
    fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if let Ok(None) = self.master.try_wait() {
            // master was started as the leader of its own process group:
            // SIGTERM to the group reaches every Postfix daemon.
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

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Writes and starts a sending Postfix instance under `dir` that accepts
/// mail on `smtpd_port` and relays it to `relay_port` with TLS required.
fn start_postfix(dir: &Path, smtpd_port: u16, relay_port: u16) -> Postfix {
    let postfix = find_program("postfix", "postfix");
    let master = find_program("master", "postfix");
    let etc = dir.join("etc");
    for sub in ["etc", "spool", "data"] {
        fs::create_dir_all(dir.join(sub)).expect("postfix directories");
    }
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
myhostname = sender.client.test
mydomain = client.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{relay_port}
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 1
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
"
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
    // The data directory belongs to mail_owner (postfix-files:
    // `d:$data_directory:$mail_owner:-:700`); `postfix check` creates the
    // queue directories with their owners.
    let chown = Command::new(find_program("chown", "coreutils"))
        .arg("postfix")
        .arg(dir.join("data"))
        .status()
        .expect("run chown");
    assert!(chown.success(), "chown postfix data failed");
    postfix_check(&postfix, &etc);
    let (child, log) = start_postfix_master(&master, &etc);
    let mut postfix = Postfix { master: child, log };
    wait_for("Postfix smtpd", Duration::from_secs(10), || {
        if let Ok(Some(status)) = postfix.master.try_wait() {
            panic!("postfix master exited: {status}\n{}", postfix.log());
        }
        TcpStream::connect((Ipv4Addr::LOCALHOST, smtpd_port)).is_ok()
    });
    postfix
}

#[test]
fn rfc3207_postfix_with_encrypt_delivers_to_secmx_serve_sor() {
    let started = Instant::now();
    let scratch = Scratch::new("postfix");
    let serve = Serve::start(&scratch.dir, "sor", &[]);
    let smtpd_port = free_port();
    let postfix = start_postfix(&scratch.path("postfix"), smtpd_port, serve.port());

    let swaks = find_program("swaks", "swaks");
    let out = Command::new(swaks)
        .args(["--server", "127.0.0.1", "--port", &smtpd_port.to_string()])
        .args(["--from", "alice@client.test", "--to", "carol@example.test"])
        .args([
            "--h-Message-Id",
            "<via-postfix-1@client.test>",
            "--timeout",
            "10",
        ])
        .output()
        .expect("run swaks");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "submission to Postfix failed:\n{text}"
    );

    wait_for(
        "the message relayed by Postfix in the spool",
        Duration::from_secs(20),
        || !serve.messages().is_empty(),
    );
    let messages = serve.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0].1;
    assert!(
        message.contains("Received: from sender.client.test ([127.0.0.1])\r\n"),
        "{message}"
    );
    assert!(message.contains(" (secmx) with ESMTPS id "), "{message}");
    assert!(message.contains("\t(using TLSv1."), "{message}");
    assert!(message.contains("for <carol@example.test>; "), "{message}");
    assert!(
        message.contains("Message-Id: <via-postfix-1@client.test>"),
        "{message}"
    );

    // Postfix's side: TLS to the SOR, and the SOR's 250 with our queue id.
    let id = messages[0]
        .0
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("id")
        .to_owned();
    wait_for("Postfix logs the delivery", Duration::from_secs(5), || {
        postfix.log().contains("status=sent")
    });
    let log = postfix.log();
    assert!(
        log.contains(&format!(
            "TLS connection established to 127.0.0.1[127.0.0.1]:{}",
            serve.port()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("status=sent (250 2.0.0 Ok: queued as {id})")),
        "{log}"
    );
    let entry = &serve.log()[0];
    assert_eq!(entry["result"], "accepted");
    assert_eq!(entry["helo"], "sender.client.test");
    assert!(entry["tls"]["cipher"].is_string());
    drop(postfix);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
