//! Heap held by a `ServerSession`, measured with a counting global
//! allocator: an idle session before TLS must hold at most 8 KiB (goal
//! 4 KiB), the session struct itself included. Run with `--nocapture` to
//! see the figures.
//!
//! One test in this binary, so that no other test allocates meanwhile.

mod server_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use secmx_core::server::{ServerEvent, ServerSession};
use secmx_core::transport::Transport;
use server_common::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to `System` with the same arguments; the
// counter only observes sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as given.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap that belongs to the server: the sum of the changes over calls on it
/// (events it hands out are dropped inside the measured call).
struct Meter {
    held: isize,
}

impl Meter {
    fn on<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let before = live();
        let result = f();
        self.held += live() - before;
        result
    }
}

/// Drains the server into `out` (whose capacity was reserved beforehand),
/// answering every decision with accept, dropping events inside the meter.
fn drain(meter: &mut Meter, session: &mut ServerSession, now: Instant, out: &mut Vec<u8>) {
    loop {
        let event = meter.on(|| {
            let event = session.poll_event();
            if matches!(
                event,
                Some(
                    ServerEvent::MailFrom { .. }
                        | ServerEvent::RcptTo { .. }
                        | ServerEvent::MessageComplete { .. }
                )
            ) {
                session.accept(now).expect("pending");
            }
            event.is_some()
        });
        let before = out.len();
        meter.on(|| session.poll_transmit(out));
        assert!(out.capacity() >= out.len());
        if !event && out.len() == before {
            return;
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: rcgen keys and the TLS handshake run ring's assembly
fn idle_server_session_heap() {
    let config = std::sync::Arc::new(ber_tls());
    let now = Instant::now();
    let mut out = Vec::with_capacity(1 << 20);
    let mut meter = Meter { held: 0 };

    // Fresh, greeting sent.
    let mut session =
        meter.on(|| Box::new(ServerSession::new(config.clone(), now).expect("valid")));
    drain(&mut meter, &mut session, now, &mut out);
    let greeted = meter.held;
    out.clear();

    // After EHLO: the session keeps the name.
    meter.on(|| {
        session
            .handle_input(now, b"EHLO client.example\r\n")
            .expect("healthy")
    });
    drain(&mut meter, &mut session, now, &mut out);
    let after_ehlo = meter.held;
    out.clear();

    // After a whole message: back to idle.
    meter.on(|| {
        session
            .handle_input(
                now,
                b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n",
            )
            .expect("healthy")
    });
    drain(&mut meter, &mut session, now, &mut out);
    meter.on(|| {
        session
            .handle_input(now, &b"x".repeat(4000))
            .expect("healthy")
    });
    meter.on(|| session.handle_input(now, b"\r\n.\r\n").expect("healthy"));
    drain(&mut meter, &mut session, now, &mut out);
    let after_message = meter.held;
    out.clear();

    println!(
        "idle pre-TLS server session: {greeted} bytes after the greeting \
         (struct {} + heap {}), {after_ehlo} after EHLO, {after_message} after a message",
        size_of::<ServerSession>(),
        greeted - size_of::<ServerSession>() as isize,
    );
    // The bound (8 KiB) and goal (4 KiB), struct included.
    assert!(greeted <= 8 * 1024);
    assert!(after_ehlo <= 8 * 1024);
    assert!(after_message <= 8 * 1024);
    assert!(greeted <= 4 * 1024, "goal: 4 KiB");
    assert!(after_ehlo <= 4 * 1024, "goal: 4 KiB");

    // After TLS, for the record: rustls' connection state dominates.
    let mut client = Transport::new();
    let mut plain = Vec::new();
    meter.on(|| session.handle_input(now, b"STARTTLS\r\n").expect("healthy"));
    drain(&mut meter, &mut session, now, &mut out);
    client.receive(&out, &mut plain).expect("plain");
    out.clear();
    client
        .start_client_tls(tls_client_config(), host_name())
        .expect("client TLS");
    for _ in 0..20 {
        let mut to_server = Vec::new();
        client.poll_transmit(&mut to_server);
        if to_server.is_empty() && out.is_empty() {
            break;
        }
        client.receive(&out, &mut plain).expect("client healthy");
        out.clear();
        if !to_server.is_empty() {
            meter.on(|| session.handle_input(now, &to_server).expect("healthy"));
        }
        drain(&mut meter, &mut session, now, &mut out);
    }
    assert!(session.is_tls());
    let after_tls = meter.held;
    println!("idle server session after TLS: {after_tls} bytes");
    assert!(after_tls > after_ehlo);
    drop(config);
}
