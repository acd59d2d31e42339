//! The C API's contract, called from Rust as C would call it: stable result
//! numbers, NULL and wrong-type pointers, bad enum numbers, strings and
//! lengths refused with a code, the buffer rules, the millisecond clock,
//! and the error codes of the sessions and the discovery.

#![allow(unsafe_code)] // calling the C ABI is unsafe by definition

use std::ffi::{CStr, c_char};
use std::ptr::{null, null_mut};

use secmx::client::*;
use secmx::config::*;
use secmx::discovery::*;
use secmx::error::*;
use secmx::server::*;

/// Each result code keeps its number forever.
#[test]
fn result_numbers_are_stable() {
    let table = [
        (secmx_result::Ok, 0),
        (secmx_result::NullParameter, 1),
        (secmx_result::InvalidArgument, 2),
        (secmx_result::BufferTooSmall, 3),
        (secmx_result::Nothing, 4),
        (secmx_result::SessionClosed, 5),
        (secmx_result::ProtocolError, 6),
        (secmx_result::TlsError, 7),
        (secmx_result::ConfigError, 8),
        (secmx_result::Panic, 9),
        (secmx_result::NotReady, 10),
        (secmx_result::IoError, 11),
        (secmx_result::InvalidAddress, 12),
        (secmx_result::StarttlsFailed, 13),
        (secmx_result::Timeout, 14),
        (secmx_result::ConnectionLost, 15),
        (secmx_result::MessageTooBig, 16),
        (secmx_result::ExtensionNotOffered, 17),
        (secmx_result::RequiretlsWithoutTls, 18),
        (secmx_result::DnsResponseIgnored, 100),
        (secmx_result::InvalidDomain, 101),
        (secmx_result::UnknownAttempt, 200),
        (secmx_result::TlsNotEstablished, 201),
        (secmx_result::RequiretlsNotConfirmed, 202),
        (secmx_result::NoSuchRecipient, 203),
        (secmx_result::NullSender, 204),
    ];
    assert_eq!(table.len(), secmx_result::ALL.len());
    for (code, number) in table {
        assert_eq!(code as u32, number, "{code:?}");
        assert_eq!(secmx_result::from_u32(number), Some(code));
    }
}

fn result_text(code: u32) -> (secmx_result, String, usize) {
    let mut buf = [0 as c_char; 128];
    let mut len = 0;
    // SAFETY: `buf` has 128 writable bytes, `len` is a writable size_t.
    let r = unsafe { secmx_result_text(code, buf.as_mut_ptr(), buf.len(), &mut len) };
    // SAFETY: on success the text is NUL-terminated within `buf`.
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (r, text, len)
}

#[test]
fn result_text_renders_every_code_and_unknown_numbers() {
    for code in secmx_result::ALL {
        let (r, text, len) = result_text(code as u32);
        assert_eq!(r, secmx_result::Ok);
        assert_eq!(text, format!("secmx: {}", code.text()));
        assert_eq!(len, text.len());
    }
    let (r, text, _) = result_text(4242);
    assert_eq!(r, secmx_result::Ok);
    assert_eq!(text, "secmx: unknown result code 4242");
}

#[test]
fn result_text_reports_the_size_it_needs() {
    let mut buf = [0x55 as c_char; 8];
    let mut len = 0;
    // SAFETY: `buf` has 8 writable bytes, `len` is writable; NULL out_len
    // is the case under test.
    unsafe {
        let r = secmx_result_text(0, buf.as_mut_ptr(), buf.len(), &mut len);
        assert_eq!(r, secmx_result::BufferTooSmall);
        assert_eq!(len, "secmx: success".len() + 1);
        assert!(buf.iter().all(|b| *b == 0x55), "nothing written");
        let r = secmx_result_text(0, buf.as_mut_ptr(), buf.len(), null_mut());
        assert_eq!(r, secmx_result::NullParameter);
    }
}

fn client_config() -> *mut secmx_tls_client_config {
    let mut config = null_mut();
    // SAFETY: `config` is a writable pointer.
    let r = unsafe { secmx_tls_client_config_new_webpki(&mut config) };
    assert_eq!(r, secmx_result::Ok);
    assert!(!config.is_null());
    config
}

fn new_client(now_ms: u64) -> *mut secmx_client {
    let config = client_config();
    let mut client = null_mut();
    // SAFETY: a live config, NUL-terminated strings, a writable out.
    unsafe {
        let r = secmx_client_new(
            config,
            c"client.example".as_ptr(),
            secmx_tls_requirement::Required as u32,
            c"mx.example.net".as_ptr(),
            now_ms,
            &mut client,
        );
        assert_eq!(r, secmx_result::Ok);
        // The session keeps its own reference.
        secmx_tls_client_config_free(config);
    }
    client
}

fn new_server(mode: secmx_server_mode) -> (secmx_result, *mut secmx_server) {
    let mut server = null_mut::<secmx_server>();
    // SAFETY: a NUL-terminated hostname, no TLS config, a writable out.
    let r = unsafe {
        secmx_server_new(
            c"mx.example.net".as_ptr(),
            mode as u32,
            null(),
            0,
            &mut server,
        )
    };
    (r, server)
}

#[test]
fn null_pointers_are_refused_never_dereferenced() {
    let mut out = 0u64;
    let mut len = 0usize;
    let mut buf = [0u8; 16];
    // SAFETY: every non-NULL argument is valid; the NULL ones are under test.
    unsafe {
        assert_eq!(
            secmx_client_feed(null_mut(), 0, b"x".as_ptr(), 1),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_client_poll_timeout(null(), &mut out),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_client_take_output(null_mut(), buf.as_mut_ptr(), buf.len(), &mut len),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_server_accept(null_mut(), 0),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_discovery_feed(null_mut(), 0, null(), 0),
            secmx_result::NullParameter
        );
        assert_eq!(secmx_discovered_sor_count(null()), 0);
        assert!(secmx_discovered_domain(null()).is_null());
        assert!(!secmx_client_is_closed(null()));
        assert_eq!(
            secmx_tls_client_config_new_webpki(null_mut()),
            secmx_result::NullParameter
        );
        // Data pointers: NULL with a length is refused, NULL with 0 is empty.
        let client = new_client(0);
        assert_eq!(
            secmx_client_feed(client, 0, null(), 5),
            secmx_result::NullParameter
        );
        assert_eq!(secmx_client_feed(client, 0, null(), 0), secmx_result::Ok);
        assert_eq!(
            secmx_client_feed(client, 0, b"x".as_ptr(), usize::MAX),
            secmx_result::InvalidArgument
        );
        // Every free takes NULL.
        secmx_client_free(null_mut());
        secmx_server_free(null_mut());
        secmx_discovery_free(null_mut());
        secmx_discovered_free(null_mut());
        secmx_tls_client_config_free(null_mut());
        secmx_tls_server_config_free(null_mut());
        secmx_client_event_free(null_mut());
        secmx_server_event_free(null_mut());
        secmx_client_free(client);
    }
}

#[test]
fn a_pointer_to_another_type_or_misaligned_is_refused() {
    let (r, server) = new_server(secmx_server_mode::Ber);
    assert_eq!(r, secmx_result::Ok);
    let mut out = 0u64;
    // SAFETY: `server` is live; passing it as a client is the misuse under
    // test, which the type tag catches before any other field is read.
    unsafe {
        let as_client = server.cast::<secmx_client>();
        assert_eq!(
            secmx_client_feed(as_client, 0, b"x".as_ptr(), 1),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_client_poll_timeout(as_client, &mut out),
            secmx_result::InvalidArgument
        );
        // The wrong free leaves it alone; the right one frees it.
        secmx_client_free(as_client);
        let misaligned = server.cast::<u8>().add(1).cast::<secmx_server>();
        assert_eq!(
            secmx_server_accept(misaligned, 0),
            secmx_result::InvalidArgument
        );
        assert!(!secmx_server_is_closed(server));
        secmx_server_free(server);
    }
}

#[test]
fn bad_enum_numbers_strings_and_names_are_refused() {
    let config = client_config();
    let mut client = null_mut();
    // SAFETY: valid pointers except where the bad value is under test.
    unsafe {
        let new =
            |ehlo: *const c_char, req: u32, name: *const c_char, out: *mut *mut secmx_client| {
                secmx_client_new(config, ehlo, req, name, 0, out)
            };
        assert_eq!(
            new(
                c"c.example".as_ptr(),
                7,
                c"mx.example".as_ptr(),
                &mut client
            ),
            secmx_result::InvalidArgument
        );
        assert!(client.is_null());
        // Not UTF-8.
        assert_eq!(
            new(
                c"c\xff.example".as_ptr(),
                2,
                c"mx.example".as_ptr(),
                &mut client
            ),
            secmx_result::InvalidArgument
        );
        // No NUL within 4096 bytes.
        let long = vec![b'a' as c_char; 5000];
        assert_eq!(
            new(long.as_ptr(), 2, c"mx.example".as_ptr(), &mut client),
            secmx_result::InvalidArgument
        );
        // Not a domain (RFC 5321 §4.1.2).
        assert_eq!(
            new(
                c"bad domain".as_ptr(),
                2,
                c"mx.example".as_ptr(),
                &mut client
            ),
            secmx_result::InvalidAddress
        );
        // Not a server name.
        assert_eq!(
            new(
                c"c.example".as_ptr(),
                2,
                c"not a name!".as_ptr(),
                &mut client
            ),
            secmx_result::InvalidArgument
        );
        // No TLS config is allowed only without TLS.
        assert_eq!(
            secmx_client_new(
                null(),
                c"c.example".as_ptr(),
                2,
                c"mx.example".as_ptr(),
                0,
                &mut client
            ),
            secmx_result::NullParameter
        );
        assert_eq!(
            secmx_client_new(
                null(),
                c"c.example".as_ptr(),
                0,
                c"mx.example".as_ptr(),
                0,
                &mut client
            ),
            secmx_result::Ok
        );
        secmx_client_free(client);
        secmx_tls_client_config_free(config);
        let mut server = null_mut();
        assert_eq!(
            secmx_server_new(c"mx.example".as_ptr(), 9, null(), 0, &mut server),
            secmx_result::InvalidArgument
        );
    }
}

#[test]
fn configuration_errors() {
    let (r, server) = new_server(secmx_server_mode::Sor);
    assert_eq!(r, secmx_result::ConfigError, "a SOR needs a certificate");
    assert!(server.is_null());
    let mut client_tls = null_mut();
    let mut server_tls = null_mut();
    let junk = b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    // SAFETY: valid buffers and writable outs.
    unsafe {
        assert_eq!(
            secmx_tls_client_config_new_ca_pem(junk.as_ptr(), junk.len(), &mut client_tls),
            secmx_result::ConfigError
        );
        assert_eq!(
            secmx_tls_client_config_new_ca_pem(b"".as_ptr(), 0, &mut client_tls),
            secmx_result::ConfigError
        );
        assert_eq!(
            secmx_tls_client_config_new_ca_file(
                c"/nonexistent/secmx/ca.pem".as_ptr(),
                &mut client_tls
            ),
            secmx_result::IoError
        );
        assert_eq!(
            secmx_tls_server_config_new_pem(
                junk.as_ptr(),
                junk.len(),
                junk.as_ptr(),
                junk.len(),
                &mut server_tls
            ),
            secmx_result::ConfigError
        );
        assert!(client_tls.is_null() && server_tls.is_null());
        // A real certificate and key work, and make a SOR possible.
        let cert =
            rcgen::generate_simple_self_signed(vec!["mx.example.net".to_owned()]).expect("rcgen");
        let (pem, key) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        assert_eq!(
            secmx_tls_server_config_new_pem(
                pem.as_ptr(),
                pem.len(),
                key.as_ptr(),
                key.len(),
                &mut server_tls
            ),
            secmx_result::Ok
        );
        assert_eq!(
            secmx_tls_client_config_new_ca_pem(pem.as_ptr(), pem.len(), &mut client_tls),
            secmx_result::Ok
        );
        let mut sor = null_mut();
        assert_eq!(
            secmx_server_new(
                c"mx.example.net".as_ptr(),
                secmx_server_mode::Sor as u32,
                server_tls,
                0,
                &mut sor
            ),
            secmx_result::Ok
        );
        secmx_server_free(sor);
        secmx_tls_server_config_free(server_tls);
        secmx_tls_client_config_free(client_tls);
    }
}

/// The greeting wait (RFC 5321 §4.5.3.2.1, 5 minutes) runs on the
/// caller's milliseconds; times before the session's creation are refused.
#[test]
fn client_times_out_on_the_callers_clock() {
    let client = new_client(10_000);
    let mut at = 0u64;
    let mut event = std::mem::MaybeUninit::<secmx_client_event>::uninit();
    // SAFETY: a live client, writable outs.
    unsafe {
        assert_eq!(
            secmx_client_feed(client, 9_999, b"220".as_ptr(), 3),
            secmx_result::InvalidArgument
        );
        assert_eq!(secmx_client_poll_timeout(client, &mut at), secmx_result::Ok);
        assert_eq!(at, 10_000 + 300_000);
        assert_eq!(
            secmx_client_handle_timeout(client, at - 1),
            secmx_result::Ok
        );
        assert!(!secmx_client_is_closed(client));
        assert_eq!(secmx_client_handle_timeout(client, at), secmx_result::Ok);
        assert!(secmx_client_is_closed(client));
        assert_eq!(secmx_client_error(client), secmx_result::Timeout);
        assert_eq!(
            secmx_client_poll_event(client, event.as_mut_ptr()),
            secmx_result::Ok
        );
        let ev = event.assume_init_mut();
        assert_eq!(ev.kind, secmx_client_event_kind::Closed);
        assert_eq!(ev.close_reason, secmx_client_close_reason::Error);
        assert_eq!(ev.error, secmx_result::Timeout);
        assert!(
            CStr::from_ptr(ev.error_text)
                .to_string_lossy()
                .contains("timed out")
        );
        secmx_client_event_free(ev);
        assert_eq!(ev.kind, secmx_client_event_kind::None);
        assert!(ev.owned.is_null());
        secmx_client_event_free(ev); // a freed event frees nothing twice
        assert_eq!(secmx_client_poll_event(client, ev), secmx_result::Nothing);
        assert_eq!(ev.kind, secmx_client_event_kind::None);
        assert_eq!(secmx_client_quit(client, at), secmx_result::SessionClosed);
        secmx_client_free(client);
    }
}

/// Session output is a stream: `len == 0` asks how much waits, then it
/// comes in pieces as large as the buffer, then `NOTHING`.
#[test]
fn output_comes_in_pieces_as_large_as_the_buffer() {
    let (r, server) = new_server(secmx_server_mode::Ber);
    assert_eq!(r, secmx_result::Ok);
    let greeting = b"220 mx.example.net ESMTP\r\n";
    let mut len = 0;
    let mut buf = [0u8; 10];
    let mut got = Vec::new();
    // SAFETY: a live server, `buf` with 10 writable bytes, writable `len`.
    unsafe {
        assert_eq!(
            secmx_server_take_output(server, buf.as_mut_ptr(), 0, &mut len),
            secmx_result::BufferTooSmall
        );
        assert_eq!(len, greeting.len());
        while secmx_server_take_output(server, buf.as_mut_ptr(), buf.len(), &mut len)
            == secmx_result::Ok
        {
            assert!(len <= buf.len());
            got.extend_from_slice(&buf[..len]);
        }
        assert_eq!(len, 0);
        secmx_server_free(server);
    }
    assert_eq!(got, greeting);
}

/// RFC 5321 §3.1: a client that talks before the greeting left is an
/// early talker; the error comes back from feed, with everything consumed.
#[test]
fn server_feed_returns_the_sessions_fatal_error() {
    let (_, server) = new_server(secmx_server_mode::Ber);
    let input = b"EHLO client.example\r\n";
    let mut consumed = 0;
    let mut event = std::mem::MaybeUninit::<secmx_server_event>::uninit();
    // SAFETY: a live server, valid buffers, writable outs.
    unsafe {
        let r = secmx_server_feed(server, 0, input.as_ptr(), input.len(), &mut consumed);
        assert_eq!(r, secmx_result::ProtocolError);
        assert_eq!(consumed, input.len());
        assert_eq!(secmx_server_error(server), secmx_result::ProtocolError);
        let mut kinds = Vec::new();
        while secmx_server_poll_event(server, event.as_mut_ptr()) == secmx_result::Ok {
            let ev = event.assume_init_mut();
            kinds.push((ev.kind, ev.close_reason, ev.error));
            secmx_server_event_free(ev);
        }
        assert_eq!(
            kinds.last(),
            Some(&(
                secmx_server_event_kind::Closed,
                secmx_server_close_reason::Failed,
                secmx_result::ProtocolError
            ))
        );
        secmx_server_free(server);
    }
}

/// Answers out of turn, and replies the session must not send.
#[test]
fn server_answers_are_checked() {
    let (_, server) = new_server(secmx_server_mode::Ber);
    let mut buf = [0u8; 256];
    let mut len = 0;
    let mut consumed = 0;
    let mut decision = 99;
    let mut event = std::mem::MaybeUninit::<secmx_server_event>::uninit();
    // SAFETY: a live server, valid buffers, writable outs.
    unsafe {
        assert_eq!(secmx_server_accept(server, 0), secmx_result::NotReady);
        assert_eq!(
            secmx_server_pending_decision(server, &mut decision),
            secmx_result::Nothing
        );
        assert_eq!(decision, secmx_server_decision::None as u32);
        while secmx_server_take_output(server, buf.as_mut_ptr(), buf.len(), &mut len)
            == secmx_result::Ok
        {}
        let input = b"HELO c.example\r\nMAIL FROM:<a@c.example>\r\n";
        assert_eq!(
            secmx_server_feed(server, 1, input.as_ptr(), input.len(), &mut consumed),
            secmx_result::Ok
        );
        assert_eq!(consumed, input.len());
        let mut from = String::new();
        while secmx_server_poll_event(server, event.as_mut_ptr()) == secmx_result::Ok {
            let ev = event.assume_init_mut();
            if ev.kind == secmx_server_event_kind::MailFrom {
                from = CStr::from_ptr(ev.from).to_string_lossy().into_owned();
            }
            secmx_server_event_free(ev);
        }
        assert_eq!(from, "<a@c.example>");
        assert_eq!(
            secmx_server_pending_decision(server, &mut decision),
            secmx_result::Ok
        );
        assert_eq!(decision, secmx_server_decision::Mail as u32);
        // RFC 5321 §4.2: a refusal is 4yz or 5yz; a reply is one line.
        assert_eq!(
            secmx_server_reject(server, 2, 250, c"2.0.0 no".as_ptr()),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_server_reject(server, 2, 550, c"5.7.1 no\r\n250 injected".as_ptr()),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_server_reject(server, 2, 99, c"no".as_ptr()),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_server_accept_with(server, 2, 550, c"no".as_ptr()),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_server_reject(server, 2, 550, c"5.7.1 Sender refused".as_ptr()),
            secmx_result::Ok
        );
        let mut out = Vec::new();
        while secmx_server_take_output(server, buf.as_mut_ptr(), buf.len(), &mut len)
            == secmx_result::Ok
        {
            out.extend_from_slice(&buf[..len]);
        }
        assert!(
            out.ends_with(b"550 5.7.1 Sender refused\r\n"),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        secmx_server_free(server);
    }
}

#[test]
fn client_refuses_a_message_before_ready_and_unknown_flags() {
    let client = new_client(0);
    let to = [c"b@example.net".as_ptr()];
    let body = b"Subject: x\r\n\r\nx\r\n";
    // SAFETY: a live client, NUL-terminated strings, a valid body.
    unsafe {
        let send = |from: *const c_char, to: &[*const c_char], flags: u32| {
            secmx_client_send_message(
                client,
                0,
                from,
                to.as_ptr(),
                to.len(),
                body.as_ptr(),
                body.len(),
                flags,
            )
        };
        assert_eq!(
            send(c"a@example.org".as_ptr(), &to, 0),
            secmx_result::NotReady
        );
        assert_eq!(
            send(c"a@example.org".as_ptr(), &to, 1 << 20),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            send(c"not an address".as_ptr(), &to, 0),
            secmx_result::InvalidAddress
        );
        assert_eq!(
            send(c"a@example.org".as_ptr(), &[null()], 0),
            secmx_result::NullParameter
        );
        assert_eq!(secmx_client_quit(client, 0), secmx_result::NotReady);
        secmx_client_free(client);
    }
}

/// Discovery on the caller's clock: every query unanswered, each sent
/// twice (two UDP attempts, 5 s apart), ends indeterminate — the absence
/// of a SOR proves nothing, so nothing may bounce on it.
#[test]
fn discovery_times_out_to_an_indeterminate_result() {
    let mut discovery = null_mut();
    let mut buf = [0u8; 512];
    let mut small = [0u8; 8];
    let mut len = 0;
    let mut transport = 99;
    let mut at = 0u64;
    let mut result = null_mut();
    // SAFETY: valid strings and buffers, writable outs, live objects.
    unsafe {
        assert_eq!(
            secmx_discovery_new(c"not a domain..".as_ptr(), 0, 0, 1, 0, 0, &mut discovery),
            secmx_result::InvalidDomain
        );
        assert_eq!(
            secmx_discovery_new(c"example.test".as_ptr(), 1, 0, 1, 0, 0, &mut discovery),
            secmx_result::ConfigError,
            "type 1 (A) cannot carry SECMX records"
        );
        assert_eq!(
            secmx_discovery_new(c"example.test".as_ptr(), 0, 1 << 9, 1, 0, 0, &mut discovery),
            secmx_result::ConfigError
        );
        assert_eq!(
            secmx_discovery_new(
                c"example.test".as_ptr(),
                0,
                SECMX_DISCOVERY_NO_MTA_STS,
                1,
                0,
                1_000,
                &mut discovery
            ),
            secmx_result::Ok
        );
        assert_eq!(
            secmx_discovery_take_result(discovery, &mut result),
            secmx_result::NotReady
        );
        // A query does not fit 8 bytes: the size comes back, it stays queued.
        assert_eq!(
            secmx_discovery_take_query(
                discovery,
                1_000,
                small.as_mut_ptr(),
                small.len(),
                &mut len,
                &mut transport
            ),
            secmx_result::BufferTooSmall
        );
        let needed = len;
        let mut sent = 0;
        for round in 0..2 {
            while secmx_discovery_take_query(
                discovery,
                at.max(1_000),
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                &mut transport,
            ) == secmx_result::Ok
            {
                if sent == 0 {
                    assert_eq!(len, needed);
                }
                assert_eq!(transport, secmx_dns_transport::Udp as u32);
                sent += 1;
            }
            assert_eq!(
                secmx_discovery_poll_timeout(discovery, &mut at),
                secmx_result::Ok
            );
            assert_eq!(at, 1_000 + 5_000 * (round + 1));
            assert_eq!(
                secmx_discovery_handle_timeout(discovery, at),
                secmx_result::Ok
            );
        }
        // SRV, MX, SECMX, secmx.D A and AAAA, each twice.
        assert_eq!(sent, 10);
        assert!(secmx_discovery_is_finished(discovery));
        assert_eq!(
            secmx_discovery_take_result(discovery, &mut result),
            secmx_result::Ok
        );
        assert_eq!(
            secmx_discovery_take_result(discovery, &mut result),
            secmx_result::Nothing
        );
        assert!(result.is_null());
        secmx_discovery_free(discovery);
    }
}

#[test]
fn a_result_outlives_its_discovery_and_checks_its_indexes() {
    let mut discovery = null_mut();
    let mut buf = [0u8; 512];
    let mut len = 0;
    let mut at = 0u64;
    let mut result = null_mut();
    let mut sor = std::mem::MaybeUninit::<secmx_sor_target>::uninit();
    let mut route = 0u32;
    // SAFETY: valid strings and buffers, writable outs, live objects.
    unsafe {
        let r = secmx_discovery_new(
            c"Example.TEST.".as_ptr(),
            0,
            SECMX_DISCOVERY_NO_MTA_STS,
            1,
            100,
            0,
            &mut discovery,
        );
        assert_eq!(r, secmx_result::Ok);
        for _ in 0..3 {
            while secmx_discovery_take_query(
                discovery,
                at,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len,
                null_mut(),
            ) == secmx_result::Ok
            {}
            if secmx_discovery_poll_timeout(discovery, &mut at) == secmx_result::Ok {
                secmx_discovery_handle_timeout(discovery, at);
            }
        }
        assert_eq!(
            secmx_discovery_take_result(discovery, &mut result),
            secmx_result::Ok
        );
        secmx_discovery_free(discovery);
        assert_eq!(
            CStr::from_ptr(secmx_discovered_domain(result)).to_str(),
            Ok("example.test")
        );
        assert!(secmx_discovered_is_indeterminate(result));
        assert!(secmx_discovered_sor_indeterminate(result));
        assert_eq!(secmx_discovered_sor_count(result), 0);
        assert_eq!(
            secmx_discovered_sor(result, 0, sor.as_mut_ptr()),
            secmx_result::InvalidArgument
        );
        assert_eq!(
            secmx_discovered_mail_route(result, &mut route),
            secmx_result::Ok
        );
        assert_eq!(route, secmx_mail_route::Indeterminate as u32);
        assert_eq!(secmx_discovered_mx_count(result), 0);
        secmx_discovered_free(result);
    }
}

#[test]
fn version_is_the_crate_version() {
    // SAFETY: secmx_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(secmx::secmx_version()) };
    assert_eq!(version.to_str(), Ok(env!("CARGO_PKG_VERSION")));
}
