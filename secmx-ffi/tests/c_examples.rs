//! The C examples, compiled with the system C compiler against the static
//! library this build made, through the pkg-config file rendered from
//! `secmx.pc.in`; run, their output checked, and run again under valgrind
//! (no definite leak, no invalid read or write, no use of uninitialised
//! memory but the one false positive in `tests/valgrind.supp`).
//!
//! `cc`, `pkg-config` and `valgrind` must be installed (`scripts/test.sh`
//! installs them): a missing tool fails the test, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The newest `libsecmx.a` of this build: next to this test executable
/// (`target/<profile>/deps/`, where `cargo test` writes it), its parent
/// (`target/<profile>/`, where `cargo build` puts it), or under
/// `CARGO_TARGET_DIR`.
fn static_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the executable is in a directory");
    let mut candidates = vec![deps.join("libsecmx.a")];
    if let Some(profile) = deps.parent() {
        candidates.push(profile.join("libsecmx.a"));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let target = PathBuf::from(target);
        for profile in ["debug", "release"] {
            candidates.push(target.join(profile).join("deps").join("libsecmx.a"));
            candidates.push(target.join(profile).join("libsecmx.a"));
        }
    }
    candidates
        .into_iter()
        .filter_map(|path| {
            let modified = path.metadata().and_then(|m| m.modified()).ok()?;
            Some((modified, path))
        })
        .max_by_key(|(modified, _): &(SystemTime, PathBuf)| *modified)
        .map(|(_, path)| path)
        .unwrap_or_else(|| {
            panic!(
                "libsecmx.a not found next to {} (build the crate with its staticlib output)",
                exe.display()
            )
        })
}

/// Runs `program`, failing the test with a useful message if it cannot
/// start (not installed).
fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{program}` ({e}): install it (scripts/test.sh installs gcc, \
             pkg-config and valgrind)"
        )
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory laid out as an install prefix: `include/secmx.h`,
/// `lib/libsecmx.a` (the static library alone, so that `-lsecmx` cannot
/// pick a shared one) and `secmx.pc`.
struct Prefix {
    dir: PathBuf,
}

impl Prefix {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("secmx-ffi-c-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("include")).expect("temp dir");
        std::fs::create_dir_all(dir.join("lib")).expect("temp dir");
        std::fs::copy(
            crate_dir().join("include/secmx.h"),
            dir.join("include/secmx.h"),
        )
        .expect("copy the header");
        std::fs::copy(static_library(), dir.join("lib/libsecmx.a")).expect("copy libsecmx.a");
        let template = std::fs::read_to_string(crate_dir().join("secmx.pc.in"))
            .expect("secmx.pc.in is readable");
        let pc = template
            .replace("@PREFIX@", &dir.display().to_string())
            .replace("@VERSION@", env!("CARGO_PKG_VERSION"));
        std::fs::write(dir.join("secmx.pc"), pc).expect("write secmx.pc");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `pkg-config --static --cflags --libs secmx`, split into arguments.
    fn flags(&self) -> Vec<String> {
        let out = run(
            "pkg-config",
            &["--static", "--cflags", "--libs", "secmx"],
            &[("PKG_CONFIG_PATH", &self.dir)],
        );
        assert!(
            out.status.success(),
            "pkg-config failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Compiles `examples/<name>.c` into the prefix directory.
    fn compile(&self, name: &str) -> PathBuf {
        let source = crate_dir().join("examples").join(format!("{name}.c"));
        let binary = self.path(name);
        let examples = crate_dir().join("examples");
        let mut args = vec![
            "-std=c11".to_owned(),
            "-Wall".to_owned(),
            "-Wextra".to_owned(),
            "-Werror".to_owned(),
            "-g".to_owned(),
            format!("-I{}", examples.display()),
            source.display().to_string(),
            "-o".to_owned(),
            binary.display().to_string(),
        ];
        args.extend(self.flags());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run("cc", &args, &[]);
        assert!(
            out.status.success(),
            "cc {name}.c failed:\n{}",
            text(&out.stderr)
        );
        binary
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `binary` with `args` under valgrind; fails on any error it finds.
fn valgrind(binary: &Path, args: &[&str]) {
    let suppressions = crate_dir().join("tests/valgrind.supp");
    let mut argv = vec![
        "--error-exitcode=1".to_owned(),
        "--leak-check=full".to_owned(),
        "--errors-for-leak-kinds=definite".to_owned(),
        format!("--suppressions={}", suppressions.display()),
        binary.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = run("valgrind", &argv, &[]);
    assert!(
        out.status.success(),
        "valgrind found errors in {}:\n{}",
        binary.display(),
        text(&out.stderr)
    );
}

/// deliver.c: a client session delivers a message to a SOR through
/// STARTTLS (RFC 3207), in memory, with REQUIRETLS (RFC 8689).
#[test]
fn deliver_example_sends_a_message_through_starttls() {
    let prefix = Prefix::new();
    let cert = rcgen::generate_simple_self_signed(vec!["mx.example.net".to_owned()])
        .expect("rcgen makes a certificate");
    let cert_path = prefix.path("cert.pem");
    let key_path = prefix.path("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write the key");
    let binary = prefix.compile("deliver");
    let (cert_arg, key_arg) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let args = [cert_arg.as_str(), key_arg.as_str()];

    let out = run(&binary.display().to_string(), &args, &[]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "deliver failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // In order: greeting, EHLO in clear offering STARTTLS, the handshake,
    // EHLO again under TLS (REQUIRETLS now offered), the transaction, QUIT.
    let version = format!("secmx {}", env!("CARGO_PKG_VERSION"));
    let expected_in_order = [
        version.as_str(),
        "client: greeting 220 mx.example.net ESMTP",
        "server: ehlo client.example",
        "client: capabilities tls=no starttls=yes requiretls=no size=10240000",
        "server: tls established version 0x0304 sni=mx.example.net",
        "server: ehlo client.example",
        "client: capabilities tls=yes starttls=no requiretls=yes size=10240000",
        "client: ready",
        "server: mail from <a@client.example> requiretls=yes",
        "server: rcpt to <b@example.net>",
        "client: recipient 0 accepted 250 2.1.5 Ok",
        "server: message complete from <a@client.example> to <b@example.net>, 162 octets, tls=yes",
        "client: message accepted 250 2.0.0 Ok: queued as 1",
        "server: closed (quit)",
        "client: closed (quit)",
        "delivered: the server stored the message unchanged, over TLS",
    ];
    let mut at = 0;
    for want in expected_in_order {
        let found = lines
            .iter()
            .skip(at)
            .position(|line| *line == want)
            .unwrap_or_else(|| panic!("missing, or out of order: {want:?} in\n{stdout}"));
        at += found + 1;
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("client: tls established version 0x0304 TLS13_")),
        "the client reports TLS 1.3:\n{stdout}"
    );

    valgrind(&binary, &args);
}

/// discover.c: a discovery on canned DNS responses finds a SOR by each of
/// the four conventions (SECMX record, SRV, MX 51966, naming) and the MX
/// host, with their addresses, and ignores a forged response; then plans
/// a secure only and a best effort message to the domain: the SORs first
/// with TLS required (`verify` under SOS, `encrypt` under BES unless the
/// SECMX record's certificate flag raises it), then the MX host.
#[test]
fn discover_example_prints_the_discovered_receivers() {
    let prefix = Prefix::new();
    let binary = prefix.compile("discover");
    let out = run(&binary.display().to_string(), &[], &[]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "discover failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    let expected = "\
forged response: secmx: the DNS response answers no outstanding query
queries: 20
domain: example.test
sor 1: sor1.example.test port 25 conventions=secmx-rr certificate=yes authenticated=yes
sor 2: sor2.example.test port 2525 conventions=srv certificate=no authenticated=yes
sor 3: sor-mx.example.test port 25 conventions=mx-51966 certificate=no authenticated=yes
sor 4: secmx.example.test port 25 conventions=naming certificate=no authenticated=yes
mail route: hosts
mx 1: mail.example.test preference 10 implicit=no authenticated=yes
host secmx.example.test a=answer aaaa=nodata authenticated=yes: 192.0.2.30
host sor2.example.test a=answer aaaa=nodata authenticated=yes: 192.0.2.20
host mail.example.test a=answer aaaa=answer authenticated=yes: 192.0.2.25 2001:db8::25
host sor-mx.example.test a=answer aaaa=nodata authenticated=yes: 192.0.2.40
host sor1.example.test a=answer aaaa=answer authenticated=yes: 192.0.2.10 2001:db8::10
indeterminate: no
plan secure only:
  1. sor1.example.test:25 sor tls=required check=verify addresses: 2001:db8::10 192.0.2.10
  2. sor2.example.test:2525 sor tls=required check=verify addresses: 192.0.2.20
  3. sor-mx.example.test:25 sor tls=required check=verify addresses: 192.0.2.40
  4. secmx.example.test:25 sor tls=required check=verify addresses: 192.0.2.30
  5. mail.example.test:25 mx tls=required check=verify addresses: 2001:db8::25 192.0.2.25
  verdict: defer 4.4.1 (no mail server could be reached)
plan best effort:
  1. sor1.example.test:25 sor tls=required check=verify addresses: 2001:db8::10 192.0.2.10
  2. sor2.example.test:2525 sor tls=required check=encrypt addresses: 192.0.2.20
  3. sor-mx.example.test:25 sor tls=required check=encrypt addresses: 192.0.2.40
  4. secmx.example.test:25 sor tls=required check=encrypt addresses: 192.0.2.30
  5. mail.example.test:25 mx tls=opportunistic check=encrypt addresses: 2001:db8::25 192.0.2.25
  verdict: defer 4.4.1 (no mail server could be reached)
";
    let version = format!("secmx {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(stdout, version + expected);

    valgrind(&binary, &[]);
}
