//! The command line itself: subcommands, help, exit codes (`sysexits.h`:
//! 64 for a bad command line, not clap's 2), and `secmx rr`'s output.

mod common;

use std::process::{Command, Output};

use common::*;

fn secmx(args: &[&str]) -> Output {
    Command::new(SECMX).args(args).output().expect("run secmx")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_64() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["serve"],
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mode",
            "sos",
            "--cert",
            "c",
            "--key",
            "k",
            "--spool",
            "s",
        ],
        &[
            "serve",
            "--listen",
            "localhost:25",
            "--mode",
            "sor",
            "--cert",
            "c",
            "--key",
            "k",
            "--spool",
            "s",
        ],
        &["discover"],
        &["discover", "example.test", "--dns", "resolver.example"],
        &["discover", "example.test", "--bogus-flag"],
        &["rr", "example.test"],
        &[
            "rr",
            "example.test",
            "--host",
            "h.example",
            "--port",
            "65536",
        ],
        &["rr", "exa mple", "--host", "h.example"],
    ];
    for args in cases {
        let out = secmx(args);
        assert_eq!(out.status.code(), Some(64), "secmx {args:?}: {out:?}");
        assert!(!stderr(&out).is_empty(), "secmx {args:?} said nothing");
        assert!(stdout(&out).is_empty(), "secmx {args:?}: {out:?}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let out = secmx(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for word in ["serve", "discover", "rr", "64 usage error"] {
        assert!(help.contains(word), "{help}");
    }
    for sub in ["serve", "discover", "rr"] {
        let out = secmx(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{sub}");
        assert!(stdout(&out).contains("Usage: secmx "), "{sub}");
    }
    let serve_help = stdout(&secmx(&["serve", "--help"]));
    for flag in [
        "--listen",
        "--mode",
        "--cert",
        "--key",
        "--spool",
        "--hostname",
        "--max-size",
    ] {
        assert!(serve_help.contains(flag), "{flag}: {serve_help}");
    }
    let out = secmx(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("secmx "), "{out:?}");
}

#[test]
fn serve_reports_unusable_files_with_their_exit_codes() {
    let scratch = Scratch::new("cli-files");
    let (cert, key) = write_certificate(&scratch.dir);
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let spool = scratch.path("spool");
    let spool = spool.to_str().expect("path");
    let serve = |cert: &str, key: &str, spool: &str| {
        secmx(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mode",
            "sor",
            "--cert",
            cert,
            "--key",
            key,
            "--spool",
            spool,
        ])
    };
    // 66: a file that cannot be read.
    let out = serve("/nonexistent/cert.pem", key, spool);
    assert_eq!(out.status.code(), Some(66), "{out:?}");
    assert!(stderr(&out).contains("cannot read the certificate /nonexistent/cert.pem"));
    // 66: a key file without a key.
    let out = serve(cert, cert, spool);
    assert_eq!(out.status.code(), Some(66), "{out:?}");
    // 78: a key that does not belong to the certificate.
    let other = Scratch::new("cli-other-key");
    let (_, other_key) = write_certificate(&other.dir);
    let out = serve(cert, other_key.to_str().expect("path"), spool);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    // 73: a spool that cannot be created (under a regular file).
    let out = serve(cert, key, &format!("{cert}/spool"));
    assert_eq!(out.status.code(), Some(73), "{out:?}");
    assert!(stderr(&out).contains("cannot use the spool"), "{out:?}");
}

#[test]
fn rr_prints_the_four_conventions() {
    let out = secmx(&[
        "rr",
        "example.test",
        "--host",
        "secmx.example.test",
        "--certificate",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let records: Vec<&str> = text.lines().filter(|l| !l.starts_with(';')).collect();
    assert_eq!(
        records,
        [
            "example.test. 300 IN TYPE65482 \\# 26 000a00010019057365636d78076578616d706c65047465737400",
            "_secmx._tcp.example.test. 300 IN SRV 10 0 25 secmx.example.test.",
            "example.test. 300 IN MX 51966 secmx.example.test.",
        ],
        "{text}"
    );
    assert!(text.contains("\n;example.test. 300 IN SECMX 10 1 25 secmx.example.test.\n"));

    let out = secmx(&[
        "rr",
        "example.test",
        "--host",
        "sor.example.net",
        "--port",
        "2525",
        "--preference",
        "5",
        "--ttl",
        "60",
        "--type",
        "65280",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("\nexample.test. 60 IN TYPE65280 \\# 23 "),
        "{text}"
    );
    assert!(text.contains("\n;example.test. 60 IN SECMX 5 0 2525 sor.example.net.\n"));
    assert!(text.contains("\n_secmx._tcp.example.test. 60 IN SRV 5 0 2525 sor.example.net.\n"));
    assert!(!text.contains(" IN MX "), "{text}");
}
