//! `secmx serve` against swaks, a real SMTP client, on loopback: a SOR
//! takes mail over STARTTLS (RFC 3207) and refuses it in clear with `530`,
//! pipelined (RFC 2920) or not; a BER takes it in clear; each stored
//! message carries its `Received:` line (RFC 5321 §4.4) with the TLS
//! version and cipher; SIGTERM stops the server cleanly.
//!
//! swaks and its Perl TLS modules must be installed (Debian packages
//! swaks libnet-ssleay-perl libio-socket-ssl-perl; scripts/test.sh installs
//! them); if they are missing the test fails.

mod common;

use std::process::Command;

use common::*;

/// Runs swaks against `port`; returns its exit code and output.
fn swaks(port: u16, message_id: &str, extra: &[&str]) -> (i32, String) {
    let output = Command::new(find_program(
        "swaks",
        "swaks (with libnet-ssleay-perl and libio-socket-ssl-perl)",
    ))
    .args(["--server", "127.0.0.1", "--port", &port.to_string()])
    .args(["--from", "alice@client.test", "--to", "bob@example.test"])
    .args(["--ehlo", "client.test", "--h-Message-Id", message_id])
    .args(["--timeout", "10"])
    .args(extra)
    .output()
    .expect("run swaks");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains("TLS not available"),
        "swaks has no TLS: install libnet-ssleay-perl and libio-socket-ssl-perl\n{text}"
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn rfc3207_sor_takes_swaks_over_tls_refuses_clear_text_and_pipelines() {
    let scratch = Scratch::new("swaks-sor");
    let mut serve = Serve::start(&scratch.dir, "sor", &[]);

    // STARTTLS, then the message.
    let (code, out) = swaks(serve.port(), "<tls-1@client.test>", &["--tls"]);
    assert_eq!(code, 0, "swaks --tls failed:\n{out}");
    assert!(out.contains("250 2.0.0 Ok: queued as "), "{out}");
    let messages = serve.messages();
    assert_eq!(messages.len(), 1, "{:?}", serve.spool_entries());
    let text = &messages[0].1;
    let received = text
        .split("\r\n")
        .skip_while(|line| !line.starts_with("Received: "))
        .take_while(|line| line.starts_with("Received: ") || line.starts_with('\t'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        received.starts_with("Received: from client.test ([127.0.0.1])"),
        "{received}"
    );
    assert!(
        received.contains("by secmx.example.test (secmx) with ESMTPS id "),
        "{received}"
    );
    assert!(
        received.contains("(using TLSv1.3 with cipher TLS13_"),
        "{received}"
    );
    assert!(received.contains("for <bob@example.test>; "), "{received}");
    assert!(text.starts_with("Return-Path: <alice@client.test>\r\n"));
    assert!(text.contains("\r\nMessage-Id: <tls-1@client.test>\r\n"));
    // The file is named by the id in its Received line and in the 250.
    let id = messages[0]
        .0
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("file name")
        .to_owned();
    assert!(received.contains(&format!(" id {id}\n")), "{received}");
    assert!(out.contains(&format!("queued as {id}")), "{out}");

    // No STARTTLS: MAIL gets 530 (RFC 3207 §4), swaks exits 23, nothing
    // reaches the spool.
    let (code, out) = swaks(serve.port(), "<clear-1@client.test>", &[]);
    assert_eq!(code, 23, "swaks without TLS must fail at MAIL:\n{out}");
    assert!(
        out.contains("530 5.7.0 Must issue a STARTTLS command first"),
        "{out}"
    );
    assert_eq!(serve.messages().len(), 1, "{:?}", serve.spool_entries());

    // Pipelined without TLS: still nothing.
    let (code, out) = swaks(serve.port(), "<clear-2@client.test>", &["--pipeline"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("530 5.7.0"), "{out}");
    assert_eq!(serve.messages().len(), 1);

    // MAIL, RCPT and DATA in one group after STARTTLS.
    let (code, out) = swaks(
        serve.port(),
        "<pipe-1@client.test>",
        &["--tls", "--pipeline"],
    );
    assert_eq!(code, 0, "swaks --tls --pipeline failed:\n{out}");
    assert!(out.contains("PIPELINING"), "{out}");
    let messages = serve.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .any(|(_, text)| text.contains("Message-Id: <pipe-1@client.test>"))
    );

    // One JSON line per transaction, in order.
    let log = serve.log();
    let results: Vec<&str> = log
        .iter()
        .map(|line| line["result"].as_str().expect("result"))
        .collect();
    assert_eq!(
        results,
        ["accepted", "refused", "refused", "accepted"],
        "{log:?}"
    );
    assert_eq!(log[0]["tls"]["version"], "TLSv1.3");
    assert_eq!(log[0]["from"], "<alice@client.test>");
    assert_eq!(log[0]["to"][0], "<bob@example.test>");
    assert_eq!(log[0]["helo"], "client.test");
    assert_eq!(log[0]["id"], id.as_str());
    assert!(log[1]["tls"].is_null());
    assert!(
        log[1]["reply"]
            .as_str()
            .is_some_and(|r| r.starts_with("530 5.7.0"))
    );

    // SIGTERM: a clean stop, exit status 0, no temp file left.
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        serve.stderr().iter().any(|l| l == "secmx serve: stopped"),
        "{:?}",
        serve.stderr()
    );
    assert!(
        serve
            .spool_entries()
            .iter()
            .all(|name| name.ends_with(".eml")),
        "{:?}",
        serve.spool_entries()
    );
}

#[test]
fn ber_takes_swaks_in_clear_text_and_says_so() {
    let scratch = Scratch::new("swaks-ber");
    let mut serve = Serve::start(&scratch.dir, "ber", &["--max-size", "100000"]);
    let (code, out) = swaks(serve.port(), "<ber-1@client.test>", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("STARTTLS"), "a BER offers STARTTLS:\n{out}");
    assert!(out.contains("SIZE 100000"), "{out}");
    let messages = serve.messages();
    assert_eq!(messages.len(), 1);
    let text = &messages[0].1;
    assert!(text.contains("with ESMTP id "), "{text}");
    assert!(
        text.contains("\r\n\t(without TLS)\r\n\tfor <bob@example.test>; "),
        "{text}"
    );

    // Over the size limit: 552 after the data (RFC 1870), nothing stored.
    let body = scratch.path("big.txt");
    std::fs::write(&body, "x".repeat(150_000)).expect("body file");
    let (code, out) = swaks(
        serve.port(),
        "<ber-big@client.test>",
        &["--body", body.to_str().expect("utf-8 path")],
    );
    assert_ne!(code, 0, "{}", out.len());
    assert!(
        out.contains("552 5.3.4"),
        "{}",
        &out[out.len().saturating_sub(2000)..]
    );
    assert_eq!(serve.messages().len(), 1);
    let log = serve.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1]["result"], "aborted");

    assert!(serve.terminate().success());
    assert_eq!(
        serve.spool_entries().len(),
        1,
        "{:?}",
        serve.spool_entries()
    );
}

/// A BER whose receiver policy requires TLS from the loopback network: MAIL
/// in clear gets `530 5.7.0` and nothing is stored; the same client over
/// STARTTLS is taken; a sender domain the policy names is refused in clear
/// even from a network it does not (RFC 3207 §4, secmx_policy::receiver).
#[test]
fn receiver_policy_requires_tls_by_network_and_by_sender() {
    let scratch = Scratch::new("swaks-policy");
    let by_network = scratch.path("network.toml");
    std::fs::write(
        &by_network,
        "mode = \"ber\"\n\n[require_tls]\nnetworks = [\"127.0.0.0/8\"]\n",
    )
    .expect("policy file");
    let mut serve = Serve::start(
        &scratch.dir,
        "ber",
        &[
            "--receiver-policy",
            by_network.to_str().expect("utf-8 path"),
        ],
    );
    let (code, out) = swaks(serve.port(), "<policy-clear@client.test>", &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("530 5.7.0"), "{out}");
    assert!(serve.messages().is_empty(), "{:?}", serve.spool_entries());
    let (code, out) = swaks(serve.port(), "<policy-tls@client.test>", &["--tls"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(serve.messages().len(), 1);
    let log = serve.log();
    assert_eq!(log[0]["result"], "refused", "{log:?}");
    assert_eq!(log.last().expect("a line")["result"], "accepted", "{log:?}");
    assert!(serve.terminate().success());

    let by_sender = scratch.path("sender.toml");
    std::fs::write(
        &by_sender,
        "[require_tls]\nsender_domains = [\"client.test\"]\n",
    )
    .expect("policy file");
    let second = scratch.path("second");
    std::fs::create_dir_all(&second).expect("second scratch dir");
    let mut serve = Serve::start(
        &second,
        "ber",
        &["--receiver-policy", by_sender.to_str().expect("utf-8 path")],
    );
    let (code, out) = swaks(serve.port(), "<sender-clear@client.test>", &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("530 5.7.0"), "{out}");
    assert!(serve.messages().is_empty());
    assert!(serve.terminate().success());
}
