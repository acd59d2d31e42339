//! The policy engine's C API, called from Rust as C would call it: rules
//! from TOML and classification (RFC 8689 §4–§5), a plan from the canned
//! discovery of `examples/discover.c` (`examples/discover_responses.h`,
//! the zone of `tests/canned_dns.rs`), outcomes reported typed and as
//! client events, verdicts, the DSN (RFC 3464), and NULL and bad
//! arguments refused with a code.

#![allow(unsafe_code)] // calling the C ABI is unsafe by definition

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use secmx::client::*;
use secmx::discovery::*;
use secmx::error::*;
use secmx::policy::*;

/// Each policy result code keeps its number forever (range 200–299).
#[test]
fn policy_result_numbers_are_stable() {
    let table = [
        (secmx_result::UnknownAttempt, 200),
        (secmx_result::TlsNotEstablished, 201),
        (secmx_result::RequiretlsNotConfirmed, 202),
        (secmx_result::NoSuchRecipient, 203),
        (secmx_result::NullSender, 204),
    ];
    for (code, number) in table {
        assert_eq!(code as u32, number);
        assert_eq!(secmx_result::from_u32(number), Some(code));
    }
}

/// The canned responses of `discover_responses.h`, parsed from the C.
fn canned() -> Vec<Vec<u8>> {
    let header = include_str!("../examples/discover_responses.h");
    let mut out = Vec::new();
    for block in header.split("static const unsigned char CANNED_").skip(1) {
        let body = block
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once("};"))
            .expect("a byte array")
            .0;
        let bytes = body
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| u8::from_str_radix(t.trim_start_matches("0x"), 16).expect("a hex byte"))
            .collect();
        out.push(bytes);
    }
    assert_eq!(out.len(), 20, "CANNED_COUNT responses");
    out
}

/// The canned answer to `query` (the same question), its id copied in.
fn resolve(canned: &[Vec<u8>], query: &[u8]) -> Vec<u8> {
    let mut end = 12;
    while let Some(&n) = query.get(end) {
        if n == 0 {
            break;
        }
        end += 1 + usize::from(n);
    }
    let question = &query[12..end + 5];
    let answer = canned
        .iter()
        .find(|c| c.get(12..12 + question.len()) == Some(question))
        .expect("a canned answer for every question");
    let mut answer = answer.clone();
    answer[..2].copy_from_slice(&query[..2]);
    answer
}

/// Runs the discovery of `example.test` on the canned responses through
/// the C API; the caller frees the result.
fn discovered() -> *mut secmx_discovered {
    let canned = canned();
    let mut discovery = null_mut();
    let mut result = null_mut();
    // SAFETY: valid pointers and buffers throughout.
    unsafe {
        assert_eq!(
            secmx_discovery_new(
                c"example.test".as_ptr(),
                0,
                SECMX_DISCOVERY_TRUSTED_RESOLVER,
                0x5ec3_0000_0000_0001,
                0,
                0,
                &mut discovery,
            ),
            secmx_result::Ok
        );
        let mut buf = [0u8; 512];
        for _ in 0..100 {
            let mut len = 0;
            let mut transport = 0;
            while secmx_discovery_take_query(
                discovery,
                1,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                &mut transport,
            ) == secmx_result::Ok
            {
                let answer = resolve(&canned, &buf[..len]);
                assert_eq!(
                    secmx_discovery_feed(discovery, 1, answer.as_ptr(), answer.len()),
                    secmx_result::Ok
                );
            }
            if secmx_discovery_is_finished(discovery) {
                break;
            }
        }
        assert_eq!(
            secmx_discovery_take_result(discovery, &mut result),
            secmx_result::Ok
        );
        secmx_discovery_free(discovery);
    }
    result
}

fn text(ptr: *const c_char) -> String {
    assert!(!ptr.is_null());
    // SAFETY: the API's strings are NUL-terminated and live with the plan.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .expect("UTF-8")
        .to_owned()
}

fn zeroed_attempt() -> secmx_attempt {
    secmx_attempt {
        id: 0,
        host: null(),
        port: 0,
        address_count: 0,
        role: secmx_attempt_role::Other,
        tls_requirement: secmx_tls_requirement::None,
        cert_check: secmx_cert_check::Other,
        require_tls: false,
        conventions: 0,
        policy: secmx_policy_source::Other,
        cleartext_retry: false,
        authenticated: false,
        recipient_count: 0,
    }
}

fn outcome(kind: secmx_outcome_kind) -> secmx_attempt_outcome {
    secmx_attempt_outcome {
        kind,
        reply_code: 0,
        reply_enhanced: null(),
        reply_text: null(),
        recipient_index: 0,
        tls: false,
        requiretls: false,
        tls_version: 0,
        tls_cipher_suite: 0,
        cert_failure: secmx_cert_failure::Handshake,
        timeout: secmx_timeout_kind::Greeting,
    }
}

fn zeroed_verdict() -> secmx_verdict {
    secmx_verdict {
        kind: secmx_verdict_kind::Other,
        status_class: 0,
        status_subject: 0,
        status_detail: 0,
        status: null(),
        reason: secmx_verdict_reason::Other,
        reason_text: null(),
        host: null(),
        reply_code: 0,
        reply_text: null(),
    }
}

/// Every attempt of a plan, as "host:port role requirement check".
fn attempts(plan: *mut secmx_plan, outcome: &secmx_attempt_outcome) -> Vec<String> {
    let mut seen = Vec::new();
    let mut attempt = zeroed_attempt();
    // SAFETY: a live plan and writable out-parameters.
    unsafe {
        while secmx_plan_next_attempt(plan, &mut attempt) == secmx_result::Ok {
            let mut first = secmx_ip_address {
                family: 0,
                octets: [0; 16],
                text: null(),
            };
            assert_eq!(
                secmx_plan_attempt_address(plan, attempt.id, 0, &mut first),
                secmx_result::Ok
            );
            seen.push(format!(
                "{}:{} {:?} {:?} {:?} first={}",
                text(attempt.host),
                attempt.port,
                attempt.role,
                attempt.tls_requirement,
                attempt.cert_check,
                text(first.text)
            ));
            let mut progress = secmx_progress::Continue;
            assert_eq!(
                secmx_plan_report(plan, attempt.id, outcome, &mut progress),
                secmx_result::Ok
            );
        }
    }
    seen
}

/// RFC 8689 §4–§5 and the rules' order: REQUIRETLS wins, then
/// `TLS-Required: No`, then the first matching rule, then the default.
#[test]
fn rules_classify_through_the_c_api() {
    let toml = br#"
default = "best-effort"

[[rule]]
name = "partners"
class = "secure-only"
recipient_domains = ["example.test"]
"#;
    let mut rules = null_mut();
    // SAFETY: valid buffers and out-parameters.
    unsafe {
        assert_eq!(
            secmx_rules_new_toml(toml.as_ptr(), toml.len(), null_mut(), 0, &mut rules),
            secmx_result::Ok
        );
        let headers = b"Subject: hi\r\n\r\n";
        let table: [(bool, &CStr, &[u8], secmx_class, secmx_class_reason); 4] = [
            (
                false,
                c"example.test",
                headers,
                secmx_class::SecureOnly,
                secmx_class_reason::Rule,
            ),
            (
                false,
                c"other.test",
                headers,
                secmx_class::BestEffort,
                secmx_class_reason::Default,
            ),
            (
                false,
                c"example.test",
                b"TLS-Required: No\r\n\r\n",
                secmx_class::BestEffort,
                secmx_class_reason::TlsRequiredNo,
            ),
            (
                true,
                c"other.test",
                b"TLS-Required: No\r\n\r\n",
                secmx_class::RequireTls,
                secmx_class_reason::Requiretls,
            ),
        ];
        for (requiretls, domain, headers, class, reason) in table {
            let mut out = secmx_classification {
                class: secmx_class::BestEffort,
                reason: secmx_class_reason::Other,
                rule_index: 9,
            };
            assert_eq!(
                secmx_rules_classify(
                    rules,
                    requiretls,
                    null(), // the null reverse-path
                    domain.as_ptr(),
                    headers.as_ptr(),
                    headers.len(),
                    &mut out,
                ),
                secmx_result::Ok
            );
            assert_eq!((out.class, out.reason), (class, reason), "{domain:?}");
            assert_eq!(out.rule_index, 0);
        }
        secmx_rules_free(rules);
    }
}

/// A bad configuration names the line and column in the caller's buffer,
/// cut to fit; the rules pointer stays NULL.
#[test]
fn bad_rules_give_a_config_error_with_its_message() {
    let toml = b"default = \"sometimes\"\n";
    let mut rules = null_mut();
    let mut message = [0 as c_char; 256];
    let mut small = [0x55 as c_char; 8];
    // SAFETY: valid buffers and out-parameters.
    unsafe {
        assert_eq!(
            secmx_rules_new_toml(
                toml.as_ptr(),
                toml.len(),
                message.as_mut_ptr(),
                message.len(),
                &mut rules
            ),
            secmx_result::ConfigError
        );
        assert!(rules.is_null());
        let message = text(message.as_ptr());
        assert!(
            message.starts_with("line 1, column 11: unknown class"),
            "{message}"
        );
        assert_eq!(
            secmx_rules_new_toml(
                toml.as_ptr(),
                toml.len(),
                small.as_mut_ptr(),
                small.len(),
                &mut rules
            ),
            secmx_result::ConfigError
        );
        assert_eq!(text(small.as_ptr()), "line 1,");
        let bad_utf8 = [0xffu8];
        assert_eq!(
            secmx_rules_new_toml(bad_utf8.as_ptr(), 1, null_mut(), 0, &mut rules),
            secmx_result::InvalidArgument
        );
    }
}

/// The plan from the canned discovery: the four SORs in merge order with
/// TLS required, then the MX host; under SOS every target is `verify`,
/// under BES the SORs are `encrypt` and the MX host opportunistic.
#[test]
fn plans_list_the_attempts_in_order() {
    let discovered = discovered();
    let connect_failed = outcome(secmx_outcome_kind::ConnectFailed);
    let mut plan = null_mut();
    // SAFETY: valid pointers and out-parameters.
    unsafe {
        assert_eq!(
            secmx_plan_new(
                discovered,
                secmx_class::SecureOnly as u32,
                1,
                1_700_000_000,
                0,
                &mut plan
            ),
            secmx_result::Ok
        );
        let sos = attempts(plan, &connect_failed);
        assert_eq!(
            sos,
            [
                "sor1.example.test:25 Sor Required Verify first=2001:db8::10",
                "sor2.example.test:2525 Sor Required Verify first=192.0.2.20",
                "sor-mx.example.test:25 Sor Required Verify first=192.0.2.40",
                "secmx.example.test:25 Sor Required Verify first=192.0.2.30",
                "mail.example.test:25 Mx Required Verify first=2001:db8::25",
            ]
        );
        assert!(secmx_plan_is_finished(plan));
        let mut verdict = zeroed_verdict();
        assert_eq!(secmx_plan_verdict(plan, 0, &mut verdict), secmx_result::Ok);
        assert_eq!(verdict.kind, secmx_verdict_kind::Defer);
        assert_eq!(verdict.reason, secmx_verdict_reason::Unreachable);
        assert_eq!(verdict.status_class, 4);
        secmx_plan_free(plan);

        assert_eq!(
            secmx_plan_new(
                discovered,
                secmx_class::BestEffort as u32,
                1,
                1_700_000_000,
                0,
                &mut plan
            ),
            secmx_result::Ok
        );
        // The plan copied what it needs: the discovery result may go.
        secmx_discovered_free(discovered);
        let bes = attempts(plan, &connect_failed);
        assert_eq!(
            bes,
            [
                "sor1.example.test:25 Sor Required Verify first=2001:db8::10", // its certificate flag
                "sor2.example.test:2525 Sor Required Encrypt first=192.0.2.20",
                "sor-mx.example.test:25 Sor Required Encrypt first=192.0.2.40",
                "secmx.example.test:25 Sor Required Encrypt first=192.0.2.30",
                "mail.example.test:25 Mx Opportunistic Encrypt first=2001:db8::25",
            ]
        );
        secmx_plan_free(plan);
    }
}

/// RFC 3207 §4 under SOS: no target offers STARTTLS, so the message
/// bounces with 5.7.4 (RFC 3463 §3.8) and the DSN says so. The SORs are
/// reported typed, the MX host through a client event.
#[test]
fn secure_only_without_starttls_bounces_with_a_dsn() {
    let discovered = discovered();
    let mut plan = null_mut();
    let mut attempt = zeroed_attempt();
    let mut progress = secmx_progress::Continue;
    // SAFETY: valid pointers and out-parameters.
    unsafe {
        assert_eq!(
            secmx_plan_new(
                discovered,
                secmx_class::SecureOnly as u32,
                2,
                1_700_000_000,
                0,
                &mut plan
            ),
            secmx_result::Ok
        );
        secmx_discovered_free(discovered);
        let mut greeting = outcome(secmx_outcome_kind::Greeting);
        greeting.reply_code = 220;
        greeting.reply_text = c"mx ESMTP".as_ptr();
        let capabilities = outcome(secmx_outcome_kind::Capabilities);
        let not_offered = outcome(secmx_outcome_kind::StarttlsNotOffered);
        for _ in 0..4 {
            assert_eq!(
                secmx_plan_next_attempt(plan, &mut attempt),
                secmx_result::Ok
            );
            assert_eq!(attempt.role, secmx_attempt_role::Sor);
            assert_eq!(attempt.recipient_count, 2);
            let mut recipient = 9;
            assert_eq!(
                secmx_plan_attempt_recipient(plan, attempt.id, 1, &mut recipient),
                secmx_result::Ok
            );
            assert_eq!(recipient, 1);
            for step in [&greeting, &capabilities] {
                assert_eq!(
                    secmx_plan_report(plan, attempt.id, step, &mut progress),
                    secmx_result::Ok
                );
                assert_eq!(progress, secmx_progress::Continue);
            }
            // MAIL before TLS on a TLS-required attempt is refused.
            let mut mail = outcome(secmx_outcome_kind::MailRejected);
            mail.reply_code = 550;
            assert_eq!(
                secmx_plan_report(plan, attempt.id, &mail, &mut progress),
                secmx_result::TlsNotEstablished
            );
            assert_eq!(
                secmx_plan_report(plan, attempt.id, &not_offered, &mut progress),
                secmx_result::Ok
            );
            assert_eq!(progress, secmx_progress::AttemptOver);
            let mut verdict = zeroed_verdict();
            assert_eq!(
                secmx_plan_verdict(plan, 0, &mut verdict),
                secmx_result::NotReady
            );
        }
        // The MX host: the session's CLOSED event by the stripping error.
        assert_eq!(
            secmx_plan_next_attempt(plan, &mut attempt),
            secmx_result::Ok
        );
        assert_eq!(text(attempt.host), "mail.example.test");
        let mut event: secmx_client_event = std::mem::zeroed();
        event.kind = secmx_client_event_kind::Ready;
        event.reply_enhanced = c"".as_ptr();
        event.reply_text = c"".as_ptr();
        event.tls_cipher_suite_name = c"".as_ptr();
        event.error_text = c"".as_ptr();
        assert_eq!(
            secmx_plan_report_client_event(plan, attempt.id, &event, &mut progress),
            secmx_result::Nothing
        );
        event.kind = secmx_client_event_kind::Closed;
        event.close_reason = secmx_client_close_reason::Error;
        event.error = secmx_result::StarttlsFailed;
        event.error_text = c"TLS is required and the server does not offer STARTTLS".as_ptr();
        assert_eq!(
            secmx_plan_report_client_event(plan, attempt.id, &event, &mut progress),
            secmx_result::Ok
        );
        assert_eq!(progress, secmx_progress::Finished);
        assert!(secmx_plan_is_finished(plan));
        assert_eq!(
            secmx_plan_next_attempt(plan, &mut attempt),
            secmx_result::Nothing
        );

        for i in 0..2 {
            let mut verdict = zeroed_verdict();
            assert_eq!(secmx_plan_verdict(plan, i, &mut verdict), secmx_result::Ok);
            assert_eq!(verdict.kind, secmx_verdict_kind::Bounce);
            assert_eq!(
                (
                    verdict.status_class,
                    verdict.status_subject,
                    verdict.status_detail
                ),
                (5, 7, 4)
            );
            assert_eq!(text(verdict.status), "5.7.4");
            assert_eq!(verdict.reason, secmx_verdict_reason::NoSecureReceiver);
            assert!(!text(verdict.reason_text).is_empty());
        }
        let mut verdict = zeroed_verdict();
        assert_eq!(
            secmx_plan_verdict(plan, 2, &mut verdict),
            secmx_result::NoSuchRecipient
        );

        let rcpts = [c"bob@example.test".as_ptr(), c"carol@example.test".as_ptr()];
        let original = b"Subject: secret\r\n\r\nbody\r\n";
        let dsn = |buf: &mut [u8], out_len: &mut usize, flags: &mut u32, sender: &CStr| {
            secmx_plan_dsn(
                plan,
                c"mta.sender.example".as_ptr(),
                sender.as_ptr(),
                c"q1.1".as_ptr(),
                rcpts.as_ptr(),
                rcpts.len(),
                false,
                original.as_ptr(),
                original.len(),
                1_700_000_100,
                buf.as_mut_ptr(),
                buf.len(),
                out_len,
                flags,
            )
        };
        let (mut needed, mut flags) = (0, 99);
        assert_eq!(
            dsn(
                &mut [0; 16],
                &mut needed,
                &mut flags,
                c"alice@sender.example"
            ),
            secmx_result::BufferTooSmall
        );
        let mut buf = vec![0; needed];
        let mut len = 0;
        assert_eq!(
            dsn(&mut buf, &mut len, &mut flags, c"alice@sender.example"),
            secmx_result::Ok
        );
        assert_eq!(len, needed);
        assert_eq!(flags, 0);
        let message = String::from_utf8(buf[..len].to_vec()).expect("an ASCII DSN");
        assert!(
            message.contains("To: <alice@sender.example>\r\n"),
            "{message}"
        );
        assert!(message.contains("Final-Recipient: rfc822; bob@example.test\r\n"));
        assert!(message.contains("Final-Recipient: rfc822; carol@example.test\r\n"));
        assert_eq!(message.matches("Status: 5.7.4\r\n").count(), 2);
        assert!(message.contains("Subject: secret"));
        // No DSN about a DSN (RFC 5321 §4.5.5).
        assert_eq!(
            dsn(&mut buf, &mut len, &mut flags, c""),
            secmx_result::NullSender
        );
        secmx_plan_free(plan);
    }
}

/// A delivered message: TLS, then RCPT and data accepted, through client
/// events; no DSN to write.
#[test]
fn best_effort_delivery_through_client_events() {
    let discovered = discovered();
    let mut plan = null_mut();
    let mut attempt = zeroed_attempt();
    let mut progress = secmx_progress::Continue;
    // SAFETY: valid pointers and out-parameters.
    unsafe {
        assert_eq!(
            secmx_plan_new(
                discovered,
                secmx_class::BestEffort as u32,
                1,
                1_700_000_000,
                0,
                &mut plan
            ),
            secmx_result::Ok
        );
        secmx_discovered_free(discovered);
        assert_eq!(
            secmx_plan_next_attempt(plan, &mut attempt),
            secmx_result::Ok
        );
        let mut event: secmx_client_event = std::mem::zeroed();
        event.reply_enhanced = c"".as_ptr();
        event.reply_text = c"ok".as_ptr();
        event.tls_cipher_suite_name = c"".as_ptr();
        event.error_text = c"".as_ptr();
        let steps = [
            (secmx_client_event_kind::Greeting, 220, false),
            (secmx_client_event_kind::Capabilities, 0, false),
            (secmx_client_event_kind::TlsEstablished, 0, false),
            (secmx_client_event_kind::Capabilities, 0, true),
            (secmx_client_event_kind::RcptAccepted, 250, true),
            (secmx_client_event_kind::MessageAccepted, 250, true),
        ];
        for (kind, code, tls) in steps {
            event.kind = kind;
            event.reply_code = code;
            event.tls = tls;
            event.capabilities = SECMX_CAP_STARTTLS;
            event.tls_version = 0x0304;
            event.tls_cipher_suite = 0x1301;
            assert_eq!(
                secmx_plan_report_client_event(plan, attempt.id, &event, &mut progress),
                secmx_result::Ok,
                "{kind:?}"
            );
        }
        assert_eq!(progress, secmx_progress::Finished);
        let mut verdict = zeroed_verdict();
        assert_eq!(secmx_plan_verdict(plan, 0, &mut verdict), secmx_result::Ok);
        assert_eq!(verdict.kind, secmx_verdict_kind::Delivered);
        assert_eq!(text(verdict.host), "sor1.example.test");
        assert_eq!(verdict.reply_code, 250);
        let rcpt = [c"bob@example.test".as_ptr()];
        let (mut len, mut buf) = (7, [0u8; 8]);
        assert_eq!(
            secmx_plan_dsn(
                plan,
                c"mta.example".as_ptr(),
                c"a@b.example".as_ptr(),
                c"t".as_ptr(),
                rcpt.as_ptr(),
                1,
                true,
                null(),
                0,
                0,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                null_mut(),
            ),
            secmx_result::Nothing
        );
        assert_eq!(len, 0);
        secmx_plan_free(plan);
    }
}

/// NULL, wrong-type pointers, unknown numbers and bad reports are codes,
/// never crashes; the plan is unchanged by a refused report.
#[test]
fn bad_arguments_are_refused_with_a_code() {
    let discovered = discovered();
    let mut plan = null_mut();
    let mut attempt = zeroed_attempt();
    let mut progress = secmx_progress::Continue;
    let mut class = secmx_classification {
        class: secmx_class::BestEffort,
        reason: secmx_class_reason::Other,
        rule_index: 0,
    };
    // SAFETY: every pointer is NULL, valid, or a live object of another
    // SecMX type (which the tag check refuses).
    unsafe {
        assert_eq!(
            secmx_plan_new(discovered, 7, 1, 0, 0, &mut plan),
            secmx_result::InvalidArgument
        );
        assert!(plan.is_null());
        assert_eq!(
            secmx_plan_new(discovered, 0, 0, 0, 0, &mut plan),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_plan_new(discovered, 0, 1, 0, 1 << 20, &mut plan),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_plan_new(null(), 0, 1, 0, 0, &mut plan),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_plan_new(discovered, 0, 1, 0, 0, null_mut()),
            secmx_result::NullParameter
        );
        // A rules pointer that is really a discovery result.
        assert_eq!(
            secmx_rules_classify(
                discovered.cast(),
                false,
                null(),
                c"x.test".as_ptr(),
                null(),
                0,
                &mut class
            ),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_rules_classify(
                null(),
                false,
                null(),
                c"x.test".as_ptr(),
                null(),
                0,
                &mut class
            ),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_rules_new_toml(null(), 5, null_mut(), 0, &mut null_mut()),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_plan_new(discovered, 1, 1, 0, SECMX_PLAN_NO_IPV6, &mut plan),
            secmx_result::Ok
        );
        secmx_discovered_free(discovered);
        assert_eq!(
            secmx_plan_next_attempt(null_mut(), &mut attempt),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_plan_next_attempt(plan, null_mut()),
            secmx_result::NullParameter
        );
        let connect_failed = outcome(secmx_outcome_kind::ConnectFailed);
        // Not handed out yet.
        assert_eq!(
            secmx_plan_report(plan, 0, &connect_failed, &mut progress),
            secmx_result::UnknownAttempt
        );
        assert_eq!(
            secmx_plan_next_attempt(plan, &mut attempt),
            secmx_result::Ok
        );
        let mut address = secmx_ip_address {
            family: 0,
            octets: [0; 16],
            text: null(),
        };
        // SECMX_PLAN_NO_IPV6: the first address is IPv4 now.
        assert_eq!(
            secmx_plan_attempt_address(plan, attempt.id, 0, &mut address),
            secmx_result::Ok
        );
        assert_eq!(
            (address.family, text(address.text).as_str()),
            (4, "192.0.2.10")
        );
        assert_eq!(
            secmx_plan_attempt_address(plan, attempt.id, 5, &mut address),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_plan_attempt_address(plan, 42, 0, &mut address),
            secmx_result::UnknownAttempt
        );
        let mut index = 0;
        assert_eq!(
            secmx_plan_attempt_recipient(plan, attempt.id, 1, &mut index),
            secmx_result::NoSuchRecipient
        );
        assert_eq!(
            secmx_plan_report(plan, attempt.id, null(), &mut progress),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_plan_report(plan, attempt.id, &connect_failed, null_mut()),
            secmx_result::NullParameter
        );
        // Numbers that are no variant, read as integers.
        let mut bad = outcome(secmx_outcome_kind::ConnectFailed);
        std::ptr::addr_of_mut!(bad.kind).cast::<u32>().write(77);
        assert_eq!(
            secmx_plan_report(plan, attempt.id, &bad, &mut progress),
            secmx_result::InvalidArgument
        );
        let mut bad = outcome(secmx_outcome_kind::HandshakeFailed);
        std::ptr::addr_of_mut!(bad.cert_failure)
            .cast::<u32>()
            .write(77);
        assert_eq!(
            secmx_plan_report(plan, attempt.id, &bad, &mut progress),
            secmx_result::InvalidArgument
        );
        // A reply code outside 200–599, a malformed enhanced code.
        let mut greeting = outcome(secmx_outcome_kind::Greeting);
        greeting.reply_code = 42;
        assert_eq!(
            secmx_plan_report(plan, attempt.id, &greeting, &mut progress),
            secmx_result::InvalidArgument
        );
        greeting.reply_code = 220;
        greeting.reply_enhanced = c"2.x".as_ptr();
        assert_eq!(
            secmx_plan_report(plan, attempt.id, &greeting, &mut progress),
            secmx_result::InvalidArgument
        );
        // An empty event.
        let event: secmx_client_event = std::mem::zeroed();
        assert_eq!(
            secmx_plan_report_client_event(plan, attempt.id, &event, &mut progress),
            secmx_result::InvalidArgument
        );
        assert!(!secmx_plan_is_finished(null()));
        let mut verdict = zeroed_verdict();
        assert_eq!(
            secmx_plan_verdict(plan, 0, null_mut()),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_plan_verdict(plan, 0, &mut verdict),
            secmx_result::NotReady
        );
        let mut len = 0;
        let rcpt = [c"bob@example.test".as_ptr()];
        assert_eq!(
            secmx_plan_dsn(
                plan,
                c"mta.example".as_ptr(),
                c"a@b.example".as_ptr(),
                c"t".as_ptr(),
                rcpt.as_ptr(),
                2,
                false,
                null(),
                0,
                0,
                null_mut(),
                0,
                &mut len,
                null_mut(),
            ),
            secmx_result::NullParameter
        );
        secmx_plan_free(plan);
        secmx_plan_free(null_mut());
        secmx_rules_free(null_mut());
    }
}
