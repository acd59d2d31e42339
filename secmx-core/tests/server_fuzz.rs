//! Fuzz-style properties of `ServerSession`: arbitrary bytes (random, and
//! built from SMTP pieces) in arbitrary chunks never panic, never stall,
//! keep the server's heap bounded (a per-thread counting allocator), keep
//! the transaction invariant, and end with exactly one `Closed`.

mod proptest_common;
mod server_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use secmx_core::server::{ServerConfig, ServerEvent, ServerSession};
use secmx_core::{ErrorReply, Reply};
use server_common::*;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: the thread may be tearing down its locals.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call forwards to `System` with the same arguments; the
// counter only observes sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same layout as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Most heap a server session may hold at any point between calls: the
/// input buffer (`MAX_INPUT_BUFFER`, and the growth of its `Vec`), the
/// envelope, replies waiting, and rustls' connection state.
const HEAP_BOUND: isize = 256 * 1024;

/// Drives one session; returns the largest heap it held between calls.
fn run(config: ServerConfig, input: &[u8], cuts: &[usize], answers: &[u8]) -> isize {
    let now = Instant::now();
    let mut held = 0isize;
    let mut peak = 0isize;
    let mut out = Vec::new();
    let mut answer = answers.iter().copied().cycle();
    let mut events = Vec::new();
    let measure = |held: &mut isize, f: &mut dyn FnMut()| {
        let before = live();
        f();
        *held += live() - before;
    };
    let mut session = None;
    measure(&mut held, &mut || {
        session = Some(ServerSession::new(config.clone(), now).expect("valid"));
    });
    let Some(mut session) = session else {
        unreachable!("created above");
    };

    let mut drain = |session: &mut ServerSession,
                     held: &mut isize,
                     events: &mut Vec<&'static str>,
                     out: &mut Vec<u8>| {
        for _ in 0..100_000 {
            let mut kind = None;
            let mut sent = false;
            measure(held, &mut || {
                let event = session.poll_event();
                let waits = matches!(
                    event,
                    Some(
                        ServerEvent::MailFrom { .. }
                            | ServerEvent::RcptTo { .. }
                            | ServerEvent::MessageComplete { .. }
                    )
                );
                let mut accepted = false;
                if waits {
                    accepted = answer.next().unwrap_or(0) % 3 != 0;
                    let result = if accepted {
                        session.accept(now)
                    } else {
                        session.reject(now, Reply::from(ErrorReply::BAD_ADDRESS))
                    };
                    assert!(result.is_ok(), "a decision was pending");
                }
                kind = event.as_ref().map(|event| match event {
                    ServerEvent::MailFrom { .. } if accepted => "mail",
                    ServerEvent::MessageComplete { .. } => "complete",
                    ServerEvent::MessageAborted { .. } => "aborted",
                    ServerEvent::Closed(_) => "closed",
                    _ => "other",
                });
                let before = out.len();
                session.poll_transmit(out);
                sent = out.len() > before;
                // Keep the test's own buffer out of the count.
                out.clear();
                out.shrink_to_fit();
            });
            match kind {
                Some(kind) => events.push(kind),
                None if !sent => return,
                None => {}
            }
        }
        panic!("the session never went quiet");
    };

    drain(&mut session, &mut held, &mut events, &mut out);
    let mut rest = input;
    let mut cut = cuts.iter().copied().cycle();
    while !rest.is_empty() {
        let n = cut.next().unwrap_or(1).clamp(1, rest.len());
        let (mut piece, tail) = rest.split_at(n);
        rest = tail;
        let mut stalls = 0;
        while !piece.is_empty() {
            let mut result = Ok(0);
            measure(&mut held, &mut || result = session.handle_input(now, piece));
            match result {
                Ok(taken) => {
                    assert!(taken <= piece.len());
                    piece = &piece[taken..];
                    stalls = if taken == 0 { stalls + 1 } else { 0 };
                    assert!(stalls < 3, "the session stalls with no decision pending");
                }
                Err(_) => piece = &[],
            }
            peak = peak.max(held);
            drain(&mut session, &mut held, &mut events, &mut out);
            peak = peak.max(held);
        }
    }
    measure(&mut held, &mut || {
        session.handle_timeout(now + Duration::from_secs(1))
    });
    measure(&mut held, &mut || session.handle_eof(now));
    drain(&mut session, &mut held, &mut events, &mut out);
    assert!(session.is_closed(), "end of file closes the session");
    assert_eq!(session.poll_event(), None);

    // Exactly one Closed, last.
    assert_eq!(events.iter().filter(|e| **e == "closed").count(), 1);
    assert_eq!(events.last(), Some(&"closed"));
    // Every accepted MAIL ends in exactly one MessageComplete or
    // MessageAborted (every decision here is answered at once).
    let mails = events.iter().filter(|e| **e == "mail").count();
    let ends = events
        .iter()
        .filter(|e| **e == "complete" || **e == "aborted")
        .count();
    assert_eq!(ends, mails, "{events:?}");

    peak = peak.max(held);
    let mut slot = Some(session);
    measure(&mut held, &mut || drop(slot.take()));
    assert_eq!(held, 0, "the session freed everything it held");
    peak
}

/// Bytes built from SMTP pieces, with noise.
fn smtp_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"EHLO c.example\r\n".to_vec()),
        Just(b"HELO c.example\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.org>\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.org> SIZE=99999999999 REQUIRETLS\r\n".to_vec()),
        Just(b"RCPT TO:<b@example.test>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b"BDAT 5\r\n".to_vec()),
        Just(b"BDAT 3 LAST\r\n".to_vec()),
        Just(b"BDAT 99999999999999999999\r\n".to_vec()),
        Just(b".\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"..\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"RSET\r\n".to_vec()),
        Just(b"NOOP\r\n".to_vec()),
        Just(b"VRFY x\r\n".to_vec()),
        Just(b"QUIT\r\n".to_vec()),
        Just(vec![b'A'; 600]),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn config_for(choice: u8) -> ServerConfig {
    // Under miri only the BER without a certificate: the others load an
    // rcgen key, and miri cannot run ring's assembly.
    let kinds = if cfg!(miri) { 1 } else { 3 };
    let mut config = match choice % kinds {
        0 => ber_plain(),
        1 => ber_tls(),
        _ => sor(),
    };
    if choice & 4 != 0 {
        config.max_message_size = Some(64);
    }
    if choice & 8 != 0 {
        config.forbid_bare_line_ends = true;
    }
    config
}

proptest! {
    #![proptest_config(proptest_common::config(200))]

    #[test]
    fn arbitrary_bytes_never_panic_and_memory_stays_bounded(
        input in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(1usize..700, 1..8),
        answers in prop::collection::vec(any::<u8>(), 1..8),
        choice in any::<u8>(),
    ) {
        let peak = run(config_for(choice), &input, &cuts, &answers);
        prop_assert!(peak <= HEAP_BOUND, "peak {peak}");
    }

    #[test]
    fn smtp_shaped_bytes_never_panic_and_memory_stays_bounded(
        input in smtp_input(),
        cuts in prop::collection::vec(1usize..200, 1..8),
        answers in prop::collection::vec(any::<u8>(), 1..8),
        choice in any::<u8>(),
    ) {
        let peak = run(config_for(choice), &input, &cuts, &answers);
        prop_assert!(peak <= HEAP_BOUND, "peak {peak}");
    }
}

#[test]
fn a_flood_keeps_memory_bounded() {
    // A megabyte of pipelined commands and body, in large pieces. Under
    // miri, where each command takes ~50 ms, some 40 KB: still past every
    // input and output bound.
    let (rcpts, noops, junk) = if cfg!(miri) {
        (200, 1000, 30_000)
    } else {
        (2000, 100_000, 300_000)
    };
    let mut input = b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n".to_vec();
    for n in 0..rcpts {
        input.extend_from_slice(format!("RCPT TO:<u{n}@example.test>\r\n").as_bytes());
    }
    input.extend_from_slice(&b"NOOP\r\n".repeat(noops));
    input.extend_from_slice(&vec![b'x'; junk]);
    let peak = run(ber_plain(), &input, &[65536], &[1]);
    println!("server heap peak under a 1 MB flood: {peak} bytes");
    assert!(peak <= HEAP_BOUND, "peak {peak}");
}
