//! A server session (a BER with a certificate, or a SOR) driven by a script
//! the fuzzer writes: plaintext from the client, a real TLS handshake by a
//! client-side `Transport` (so the fuzzer reaches the session after
//! STARTTLS), bytes through that TLS channel, raw garbage on the wire, end of
//! file, time passing, and the application's answers. The session must never
//! panic, never hold more than its bounds, and end with exactly one Closed.
#![no_main]

mod common;

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use secmx_core::server::{ServerConfig, ServerEvent, ServerMode, ServerSession};
use secmx_core::transport::Transport;

struct Run {
    server: ServerSession,
    client: Transport,
    now: Instant,
    /// Bytes the server has not taken yet.
    pending: Vec<u8>,
    closed: usize,
}

impl Run {
    fn drain(&mut self, answer: u8) {
        for _ in 0..10_000 {
            let mut quiet = true;
            while let Some(event) = self.server.poll_event() {
                quiet = false;
                match event {
                    ServerEvent::Closed(_) => self.closed += 1,
                    ServerEvent::MailFrom { .. }
                    | ServerEvent::RcptTo { .. }
                    | ServerEvent::MessageComplete { .. } => {
                        let _ = if answer & 1 == 0 {
                            self.server.accept(self.now)
                        } else {
                            self.server
                                .reject(self.now, secmx_core::ErrorReply::SYNTAX)
                        };
                    }
                    _ => {}
                }
            }
            let mut wire = Vec::new();
            self.server.poll_transmit(&mut wire);
            if !wire.is_empty() {
                quiet = false;
                let mut plain = Vec::new();
                let _ = self.client.receive(&wire, &mut plain);
            }
            let mut to_server = Vec::new();
            self.client.poll_transmit(&mut to_server);
            self.pending.extend_from_slice(&to_server);
            if !self.pending.is_empty() {
                if let Ok(taken) = self.server.handle_input(self.now, &self.pending) {
                    if taken > 0 {
                        quiet = false;
                    }
                    self.pending.drain(..taken.min(self.pending.len()));
                } else {
                    self.pending.clear();
                }
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
    let mode = if setup & 1 == 0 { ServerMode::Ber } else { ServerMode::Sor };
    let config = ServerConfig::new("mx.example.test", mode).with_tls(common::server_config());
    let now = Instant::now();
    let Ok(server) = ServerSession::new(config, now) else {
        return;
    };
    let mut run = Run { server, client: Transport::new(), now, pending: Vec::new(), closed: 0 };
    run.drain(setup >> 1);
    while let [op, len, rest @ ..] = script {
        let take = usize::from(*len).min(rest.len());
        let (bytes, tail) = rest.split_at(take);
        script = tail;
        match op % 8 {
            // Client plaintext: clear before STARTTLS, through TLS after.
            0 | 1 => {
                let mut left = bytes;
                while !left.is_empty() {
                    match run.client.send(left) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => left = &left[n..],
                    }
                    run.drain(*op >> 3);
                }
            }
            // The client starts TLS (a real handshake).
            2 => {
                let _ = run.client.start_client_tls(common::client_config(), common::server_name());
            }
            // Raw bytes on the wire, whatever the phase.
            3 => run.pending.extend_from_slice(bytes),
            4 => run.server.handle_eof(now),
            5 => {
                run.now += Duration::from_secs(u64::from(*len) * 4);
                run.server.handle_timeout(run.now);
            }
            _ => {}
        }
        run.drain(*op >> 3);
        if run.server.is_closed() {
            break;
        }
    }
    run.server.handle_eof(run.now);
    run.drain(0);
    assert!(run.server.is_closed());
    assert_eq!(run.closed, 1, "exactly one Closed event");
    assert!(run.pending.len() <= 64 * 1024 + 255);
});
