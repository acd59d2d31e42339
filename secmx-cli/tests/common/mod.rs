//! What the integration tests share: finding real peer programs (failing,
//! never skipping, when one is missing), scratch directories, a test
//! certificate, and `secmx serve` started on loopback and stopped by a
//! Drop guard.

#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `secmx` binary under test.
pub const SECMX: &str = env!("CARGO_BIN_EXE_secmx");

/// Finds `program` on PATH or in the sbin directories; panics with how to
/// install it.
pub fn find_program(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        [
            "/usr/sbin",
            "/usr/local/sbin",
            "/sbin",
            "/usr/lib/postfix/sbin",
        ]
        .map(PathBuf::from),
    );
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{program} is not installed: this test needs the Debian package {package} \
         (scripts/test.sh installs it)"
    );
}

/// A scratch directory, removed at the end unless the test failed.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("secmx-cli-{name}-{}-{stamp}", std::process::id()));
        fs::create_dir_all(&dir).expect("scratch directory");
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("files kept for inspection in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes a self-signed certificate for secmx.example.test, localhost and
/// 127.0.0.1, and its key, as PEM; returns their paths.
pub fn write_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![
        "secmx.example.test".to_owned(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ])
    .expect("certificate parameters");
    let cert = params.self_signed(&key).expect("certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    fs::write(&cert_path, cert.pem()).expect("cert.pem");
    fs::write(&key_path, key.serialize_pem()).expect("key.pem");
    (cert_path, key_path)
}

/// Polls `ready` every 20 ms until it holds; panics after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM to a process (or, with a negative id, a process group).
pub fn sigterm(pid: i64) {
    let status = Command::new(find_program("kill", "procps"))
        .args(["-TERM", "--", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

/// Waits at most `limit` for a child to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Collects a child's output lines in a thread.
fn collect(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut lines) = lines.lock() {
                lines.push(line);
            }
        }
    });
}

/// A running `secmx serve`, stopped when dropped.
pub struct Serve {
    child: Child,
    pub addr: SocketAddr,
    pub spool: PathBuf,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `secmx serve --mode MODE` on 127.0.0.1 (a port the kernel
    /// picks, read from stderr) with a fresh certificate and spool under
    /// `dir`.
    pub fn start(dir: &Path, mode: &str, extra: &[&str]) -> Self {
        let (cert, key) = write_certificate(dir);
        let spool = dir.join("spool");
        let mut child = Command::new(SECMX)
            .args(["serve", "--listen", "127.0.0.1:0", "--mode", mode])
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .arg("--spool")
            .arg(&spool)
            .args(["--hostname", "secmx.example.test"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start secmx serve");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), Arc::clone(&stdout));
        collect(child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        let mut addr = None;
        wait_for("secmx serve listening", Duration::from_secs(10), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "secmx serve exited: {status}: {:?}",
                    stderr.lock().map(|l| l.clone())
                );
            }
            let lines = stderr.lock().expect("stderr lines");
            addr = lines.iter().find_map(|line| {
                let rest = line.strip_prefix("secmx serve: listening on ")?;
                rest.split_whitespace().next()?.parse().ok()
            });
            addr.is_some()
        });
        Self {
            child,
            addr: addr.expect("address"),
            spool,
            stdout,
            stderr,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The JSON log lines so far.
    pub fn log(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lock()
            .expect("stdout lines")
            .iter()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
            })
            .collect()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr lines").clone()
    }

    /// The stored messages (`*.eml`), sorted by name, with their text.
    pub fn messages(&self) -> Vec<(PathBuf, String)> {
        let mut found: Vec<(PathBuf, String)> = fs::read_dir(&self.spool)
            .expect("spool")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .map(|p| {
                let text = String::from_utf8_lossy(&fs::read(&p).expect("message")).into_owned();
                (p, text)
            })
            .collect();
        found.sort();
        found
    }

    /// Every entry of the spool directory (temp files included).
    pub fn spool_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.spool)
            .expect("spool")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// SIGTERM, then the exit status (within 15 s).
    pub fn terminate(&mut self) -> ExitStatus {
        sigterm(i64::from(self.child.id()));
        wait_exit(&mut self.child, Duration::from_secs(15)).expect("secmx serve stops on SIGTERM")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("--- secmx serve stderr:\n{}", self.stderr().join("\n"));
        }
    }
}

/// Runs `postfix -c ETC check` (which also creates the queue directories
/// with their owners); panics with Postfix's output if it fails.
pub fn postfix_check(postfix: &Path, etc: &Path) {
    let check = Command::new(postfix)
        .arg("-c")
        .arg(etc)
        .arg("check")
        .output()
        .expect("run postfix check");
    assert!(
        check.status.success(),
        "postfix check failed: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Starts Postfix's `master -c ETC -d` in its own process group (so that
/// every daemon can be stopped together) and collects its log lines
/// (`maillog_file = /dev/stdout`) from stdout and stderr.
pub fn start_postfix_master(master: &Path, etc: &Path) -> (Child, Arc<Mutex<Vec<String>>>) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(master)
        .arg("-c")
        .arg(etc)
        .arg("-d")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start postfix master");
    let log = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let log = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut log) = log.lock() {
                    log.push(line);
                }
            }
        });
    }
    (child, log)
}
