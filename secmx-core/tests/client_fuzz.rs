//! Properties of the client session fed arbitrary server bytes: it never
//! panics, its heap stays bounded whatever the server sends, `Closed` is
//! the last event and comes once, and under `TlsRequirement::Required` no
//! envelope ever leaves in clear text.
//!
//! The heap is measured with a counting global allocator, per thread, so
//! that tests running in parallel do not see each other's allocations.

// A global allocator is an `unsafe impl`; it only forwards to `System`.
#![allow(unsafe_code)]

mod proptest_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use secmx_core::client::{ClientConfig, ClientEvent, ClientSession, Envelope, TlsRequirement};
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::transport::ring_provider;

// ---------------------------------------------------------------------------
// Counting allocator

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    // `try_with`: the thread's slots may be gone while it exits.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every call forwards to `System` with the same arguments; the
// counters are plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shrank(layout.size());
        grew(new_size);
        // SAFETY: forwarded as given.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts measuring: the peak is reset to what is live now, which is
/// returned as the baseline.
fn baseline() -> usize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(live));
    live
}

fn peak() -> usize {
    PEAK.with(Cell::get)
}

// ---------------------------------------------------------------------------
// The session under test

fn config(requirement: TlsRequirement) -> ClientConfig {
    let tls = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    ClientConfig::new(
        Domain::parse(b"client.example", false)
            .expect("valid domain")
            .into_owned(),
        requirement,
        Arc::new(tls),
        rustls::pki_types::ServerName::try_from("mx.example.net").expect("valid name"),
    )
}

fn envelope() -> Envelope {
    Envelope::new(
        ReversePath::parse(b"<a@client.example>", false)
            .expect("valid path")
            .into_owned(),
    )
    .with_recipient(
        ForwardPath::parse(b"<b@example.net>", false)
            .expect("valid path")
            .into_owned(),
    )
}

#[derive(Debug, Clone)]
enum Op {
    Input(Vec<u8>),
    Eof,
    Timeout,
    Send,
    Quit,
}

/// Pieces of plausible server talk, to get past the greeting and EHLO
/// often, mixed with arbitrary bytes.
const TOKENS: &[&[u8]] = &[
    b"220 mx\r\n",
    b"220-mx\r\n",
    b"250 mx\r\n",
    b"250-mx\r\n",
    b"250 STARTTLS\r\n",
    b"250-STARTTLS\r\n",
    b"250-PIPELINING\r\n",
    b"250 CHUNKING\r\n",
    b"250-SIZE 10\r\n",
    b"250 REQUIRETLS\r\n",
    b"354 go\r\n",
    b"421 bye\r\n",
    b"454 no\r\n",
    b"502 no\r\n",
    b"550 no\r\n",
    b"221 bye\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"250 ",
    b"\x16\x03\x01\x00\x05hello",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        vec(proptest::sample::select(TOKENS), 1..8).prop_map(|parts| parts.concat()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => input().prop_map(Op::Input),
        1 => Just(Op::Eof),
        1 => Just(Op::Timeout),
        2 => Just(Op::Send),
        1 => Just(Op::Quit),
    ]
}

/// A start that gets the session somewhere: to the EHLO, to Ready in
/// clear, or into the TLS handshake.
fn prefix() -> impl Strategy<Value = Vec<Op>> {
    let steps: &[&[&[u8]]] = &[
        &[],
        &[b"220 mx\r\n"],
        &[b"220 mx\r\n", b"250-mx\r\n250 PIPELINING\r\n"],
        &[b"220 mx\r\n", b"250-mx\r\n250 CHUNKING\r\n"],
        &[b"220 mx\r\n", b"250-mx\r\n250 STARTTLS\r\n"],
        &[b"220 mx\r\n", b"250-mx\r\n250 STARTTLS\r\n", b"220 go\r\n"],
    ];
    proptest::sample::select(steps).prop_map(|steps| {
        steps
            .iter()
            .map(|bytes| Op::Input(bytes.to_vec()))
            .collect()
    })
}

fn requirement() -> impl Strategy<Value = TlsRequirement> {
    // Under miri only `None`, which never starts TLS: the ClientHello's key
    // share runs ring's assembly, which miri cannot.
    let requirements: &[TlsRequirement] = if cfg!(miri) {
        &[TlsRequirement::None]
    } else {
        &[
            TlsRequirement::None,
            TlsRequirement::Opportunistic,
            TlsRequirement::Required,
        ]
    };
    proptest::sample::select(requirements)
}

/// What a run produced.
struct Run {
    wire: Vec<u8>,
    /// One entry per event: whether it was `Closed`. The events themselves
    /// are dropped at once, as an embedder would, so that only the
    /// session's own heap is measured.
    closed: Vec<bool>,
    /// Most heap held at once by the session (and its events before they
    /// were dropped), above what was live before it was built.
    peak: usize,
}

/// Drains events and transmits until both are empty, into buffers that
/// were allocated before the measurement started.
fn drain(client: &mut ClientSession, wire: &mut Vec<u8>, closed: &mut Vec<bool>) {
    for _ in 0..1000 {
        let mut progress = false;
        while let Some(event) = client.poll_event() {
            if closed.len() < closed.capacity() {
                closed.push(matches!(event, ClientEvent::Closed { .. }));
            }
            progress = true;
        }
        let mut out = Vec::new();
        while client.poll_transmit(&mut out) > 0 {
            progress = true;
        }
        if wire.len() + out.len() <= wire.capacity() {
            wire.extend_from_slice(&out);
        }
        if !progress {
            return;
        }
    }
    panic!("the session never went quiet");
}

fn run(requirement: TlsRequirement, ops: &[Op], chunk: usize) -> Run {
    let config = config(requirement);
    let body = vec![b'x'; 2048];
    let mut wire = Vec::with_capacity(1 << 16);
    let mut closed = Vec::with_capacity(4096);
    let mut now = Instant::now();
    let base = baseline();
    let mut client = ClientSession::new(config, now);
    drain(&mut client, &mut wire, &mut closed);
    for op in ops {
        match op {
            Op::Input(bytes) => {
                for piece in bytes.chunks(chunk.max(1)) {
                    client.handle_input(now, piece);
                    drain(&mut client, &mut wire, &mut closed);
                }
            }
            Op::Eof => client.handle_eof(now),
            Op::Timeout => {
                now = client
                    .poll_timeout()
                    .unwrap_or(now + Duration::from_secs(3600));
                client.handle_timeout(now);
            }
            Op::Send => {
                let _ = client.send_message(now, envelope(), body.clone());
            }
            Op::Quit => {
                let _ = client.quit(now);
            }
        }
        drain(&mut client, &mut wire, &mut closed);
    }
    drop(client);
    Run {
        wire,
        closed,
        peak: peak().saturating_sub(base),
    }
}

/// The heap a session may hold whatever the server sends: the reply parser
/// holds at most MAX_REPLY_LINES lines of MAX_REPLY_LINE octets, the
/// capabilities a copy of them, the transport a rustls connection; twice
/// that covers the copies made while handing a reply on.
const HEAP_BOUND: usize = 512 * 1024;

proptest! {
    #![proptest_config(proptest_common::config(512))]

    #[test]
    fn arbitrary_server_bytes_never_panic_and_stay_bounded(
        requirement in requirement(),
        prefix in prefix(),
        ops in vec(op(), 0..40),
        chunk in 1usize..80,
    ) {
        let ops: Vec<Op> = prefix.into_iter().chain(ops).collect();
        let run = run(requirement, &ops, chunk);
        prop_assert!(run.peak <= HEAP_BOUND, "peak heap {} bytes", run.peak);

        // Closed comes once, last.
        let closed: Vec<usize> = run
            .closed
            .iter()
            .enumerate()
            .filter(|(_, closed)| **closed)
            .map(|(i, _)| i)
            .collect();
        prop_assert!(closed.len() <= 1);
        if let Some(&at) = closed.first() {
            prop_assert_eq!(at + 1, run.closed.len());
        }

        // Under Required, random bytes never make a TLS session, so no
        // envelope and no body ever leave.
        if requirement == TlsRequirement::Required {
            prop_assert!(!run.wire.windows(4).any(|w| w == b"MAIL"));
            prop_assert!(!run.wire.windows(4).any(|w| w == b"xxxx"));
        }
    }
}

#[test]
fn endless_replies_are_cut_off_at_the_limits() {
    // One line that never ends, continuation lines that never end, and a
    // megabyte of junk: each is refused early, and the heap does not grow
    // with the input. Under miri 16 KiB each, still far over the limits.
    let size: usize = if cfg!(miri) { 1 << 14 } else { 1 << 20 };
    let mut long_line = b"220 mx\r\n250 ".to_vec();
    long_line.resize(size, b'x');
    let mut endless = b"220 mx\r\n".to_vec();
    while endless.len() < size {
        endless.extend_from_slice(b"250-a continuation line that goes on and on\r\n");
    }
    let junk: Vec<u8> = (0..size as u64).map(|i| (i * 7919 % 251) as u8).collect();
    for input in [long_line, endless, junk] {
        let run = run(TlsRequirement::None, &[Op::Input(input)], 4096);
        assert!(run.peak <= HEAP_BOUND, "peak heap {} bytes", run.peak);
        assert_eq!(run.closed.last(), Some(&true), "the session closes");
    }
}
