//! `secmx demo`, the README's first command: it runs in one process with
//! nothing installed, ends with exit 0, prints the six verdicts and the
//! bounce (RFC 3464, status 5.7.4 of RFC 3463) of the secure only message
//! that could not go securely, and finishes in under 10 s.

use std::process::Command;
use std::time::{Duration, Instant};

const SECMX: &str = env!("CARGO_BIN_EXE_secmx");

/// The result row of `domain` and `policy`.
fn row<'a>(out: &'a str, domain: &str, policy: &str) -> &'a str {
    out.lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(domain) && words.next() == Some(policy)
        })
        .unwrap_or_else(|| panic!("no row for {domain} {policy}:\n{out}"))
}

#[test]
fn secmx_demo_prints_verdicts_and_the_5_7_4_bounce_in_under_10_s() {
    let started = Instant::now();
    let out = Command::new(SECMX)
        .arg("demo")
        .output()
        .expect("run secmx demo");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    assert!(
        stdout.contains("this resolver is trusted by construction"),
        "{stdout}"
    );
    let expected: [(&str, &str, &[&str]); 6] = [
        (
            "sor.demo.test",
            "BES",
            &[
                "SOR by secmx-rr,srv,mx-51966,naming",
                "required, encrypt",
                "TLSv1.",
                "delivered",
            ],
        ),
        (
            "sor.demo.test",
            "SOS",
            &[
                "SOR by secmx-rr,srv,mx-51966,naming",
                "required, verify",
                "TLSv1.",
                "delivered",
            ],
        ),
        (
            "ber.demo.test",
            "BES",
            &[
                "mx.ber.demo.test:",
                "no SOR; MX 10",
                "opportunistic",
                "TLSv1.",
                "delivered",
            ],
        ),
        (
            "ber.demo.test",
            "SOS",
            &[
                "mx.ber.demo.test:",
                "no SOR; MX 10",
                "required, verify",
                "TLSv1.",
                "delivered",
            ],
        ),
        (
            "plain.demo.test",
            "BES",
            &[
                "mx.plain.demo.test:",
                "opportunistic",
                " none ",
                "delivered",
            ],
        ),
        (
            "plain.demo.test",
            "SOS",
            &[
                "mx.plain.demo.test:",
                "required, verify",
                " none ",
                "bounced 5.7.4",
            ],
        ),
    ];
    for (domain, policy, words) in expected {
        let line = row(&stdout, domain, policy);
        for word in words {
            assert!(line.contains(word), "{line:?} lacks {word:?}");
        }
    }
    // The receivers' side: the SOS message to the receiver without TLS
    // never reached MAIL.
    let tally = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("no TLS") && l.contains("connection(s)"))
        .expect("the plain receiver's tally");
    assert!(tally.contains("1 MAIL command(s) taken"), "{tally}");
    assert!(tally.contains("1 in clear"), "{tally}");

    // The bounce: an RFC 3464 report for alice@plain.demo.test.
    let dsn = stdout
        .split_once("The bounce for the secure only message to plain.demo.test")
        .map(|(_, dsn)| dsn)
        .expect("the bounce");
    for field in [
        "To: <demo@sender.demo.test>\r\n",
        "Content-Type: message/delivery-status",
        "Final-Recipient: rfc822; alice@plain.demo.test\r\n",
        "Action: failed\r\n",
        "Status: 5.7.4\r\n",
        "Remote-MTA: dns; mx.plain.demo.test\r\n",
        "Subject: SecMX demo, SOS to plain.demo.test\r\n",
    ] {
        assert!(dsn.contains(field), "the DSN lacks {field:?}:\n{dsn}");
    }
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
}
