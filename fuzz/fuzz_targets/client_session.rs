//! A client session against a server the fuzzer scripts: replies in clear,
//! a real TLS handshake by a server-side `Transport` (so the fuzzer reaches
//! the session after STARTTLS), replies through that TLS channel, raw
//! garbage on the wire, end of file and time passing. The session must
//! never panic, must end with exactly one Closed, and under
//! `TlsRequirement::Required` must never put an envelope on the wire in
//! clear text.
#![no_main]

mod common;

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secmx_core::client::{ClientConfig, ClientEvent, ClientSession, Envelope, TlsRequirement};
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::transport::Transport;

struct Run {
    client: ClientSession,
    server: Transport,
    now: Instant,
    /// Everything the client put on the wire before the server started TLS.
    clear: Vec<u8>,
    closed: usize,
    submitted: bool,
}

impl Run {
    fn drain(&mut self) {
        for _ in 0..10_000 {
            let mut quiet = true;
            while let Some(event) = self.client.poll_event() {
                quiet = false;
                match event {
                    ClientEvent::Closed { .. } => self.closed += 1,
                    ClientEvent::Ready if !self.submitted => {
                        self.submitted = true;
                        let envelope = Envelope::new(
                            ReversePath::parse(b"<a@client.example>", false)
                                .expect("valid")
                                .into_owned(),
                        )
                        .with_recipient(
                            ForwardPath::parse(b"<b@example.test>", false)
                                .expect("valid")
                                .into_owned(),
                        );
                        let _ = self.client.send_message(
                            self.now,
                            envelope,
                            &b"Subject: x\r\n\r\nhello\r\n.\r\n"[..],
                        );
                    }
                    _ => {}
                }
            }
            let mut wire = Vec::new();
            let _ = self.client.poll_transmit(&mut wire);
            if !wire.is_empty() {
                quiet = false;
                if !self.server.is_tls() {
                    self.clear.extend_from_slice(&wire);
                }
                let mut plain = Vec::new();
                let _ = self.server.receive(&wire, &mut plain);
            }
            let mut to_client = Vec::new();
            self.server.poll_transmit(&mut to_client);
            if !to_client.is_empty() {
                quiet = false;
                self.client.handle_input(self.now, &to_client);
            }
            if quiet {
                return;
            }
        }
        panic!("the session never went quiet");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&setup, mut script)) = data.split_first() else {
        return;
    };
    let requirement = match setup % 3 {
        0 => TlsRequirement::None,
        1 => TlsRequirement::Opportunistic,
        _ => TlsRequirement::Required,
    };
    let config = ClientConfig::new(
        Domain::parse(b"client.example", false).expect("valid").into_owned(),
        requirement,
        common::client_config(),
        common::server_name(),
    );
    let now = Instant::now();
    let mut run = Run {
        client: ClientSession::new(config, now),
        server: Transport::new(),
        now,
        clear: Vec::new(),
        closed: 0,
        submitted: false,
    };
    run.drain();
    while let [op, len, rest @ ..] = script {
        let take = usize::from(*len).min(rest.len());
        let (bytes, tail) = rest.split_at(take);
        script = tail;
        match op % 6 {
            // Server plaintext: clear before TLS, through TLS after.
            0 | 1 => {
                let _ = run.server.send(bytes);
            }
            2 => {
                let _ = run.server.start_server_tls(common::server_config());
            }
            3 => run.client.handle_input(run.now, bytes),
            4 => run.client.handle_eof(run.now),
            _ => {
                run.now += Duration::from_secs(u64::from(*len) * 8);
                run.client.handle_timeout(run.now);
            }
        }
        run.drain();
        if run.client.is_closed() {
            break;
        }
    }
    run.client.handle_eof(run.now);
    run.drain();
    assert!(run.client.is_closed());
    assert_eq!(run.closed, 1, "exactly one Closed event");
    if requirement == TlsRequirement::Required {
        let clear = String::from_utf8_lossy(&run.clear).to_ascii_uppercase();
        assert!(!clear.contains("MAIL FROM"), "envelope sent in clear: {clear}");
        assert!(!clear.contains("RCPT TO"), "envelope sent in clear: {clear}");
    }
});
