//! Prints each SecMX figure next to its anchor, measured in the same run:
//! `name value unit ratio anchor`, one line each. Every figure is the best of
//! several repetitions, and its anchor is sampled in the same repetitions.
//!
//! `cargo run --release -p secmx-benches --bin report`

// The one unsafe item: a counting global allocator for the heap figures.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use secmx_benches::session::{
    Fixture, anchor_plaintext, bare_rustls, idle_server, line_flood, parallel_bare_rustls,
    parallel_sessions, secmx_session, server_after_tls,
};

use secmx_benches::dns::{decode_all, plan_all, record_responses, replay};
use secmx_benches::{
    best_of, command_stream, memmem_end_of_data, mib_per_s, parse_commands,
    parse_commands_smtp_proto, receive_body, stuffed_body,
};
use secmx_policy::Class;
use secmx_policy::plan::PlanConfig;

/// Live heap bytes of the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most `LIVE` has been since the last [`peak_during`] started.
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes `make` leaves live in what it returns, plus the value's own
/// size.
fn retained<T>(make: impl FnOnce() -> T) -> (usize, T) {
    let before = LIVE.load(Ordering::Relaxed);
    let value = make();
    let after = LIVE.load(Ordering::Relaxed);
    ((after - before).max(0) as usize + size_of::<T>(), value)
}

/// The most heap `run` had live at once, above what was live before it.
fn peak_during(run: impl FnOnce() -> usize) -> (usize, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = run();
    let peak = PEAK.load(Ordering::Relaxed);
    ((peak - before).max(0) as usize, result)
}

const REPETITIONS: usize = 15;
const PER_SAMPLE: Duration = Duration::from_millis(40);

fn main() {
    println!("# name value unit ratio anchor");

    let (stream, _) = command_stream(64 * 1024);
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE,
        &mut [
            ("secmx", &mut || parse_commands(&stream)),
            ("smtp-proto", &mut || parse_commands_smtp_proto(&stream)),
        ],
    );
    let ours = mib_per_s(stream.len(), figures[0].best);
    let anchor = mib_per_s(stream.len(), figures[1].best);
    println!(
        "command_parse {ours:.0} MiB/s {:.2}x smtp-proto={anchor:.0}MiB/s",
        ours / anchor
    );

    let body = stuffed_body(1024 * 1024);
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE,
        &mut [
            ("secmx", &mut || receive_body(&body)),
            ("memmem", &mut || memmem_end_of_data(&body)),
        ],
    );
    let ours = mib_per_s(body.len(), figures[0].best);
    let anchor = mib_per_s(body.len(), figures[1].best);
    println!(
        "data_receive {ours:.0} MiB/s {:.2}x memmem={anchor:.0}MiB/s",
        ours / anchor
    );

    let responses = record_responses();
    let now = Instant::now();
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE,
        &mut [
            ("secmx", &mut || {
                usize::from(replay(&responses, now).is_some())
            }),
            ("hickory", &mut || decode_all(&responses)),
        ],
    );
    let ours = figures[0].best.as_secs_f64() * 1e6;
    let anchor = figures[1].best.as_secs_f64() * 1e6;
    println!(
        "discovery {ours:.2} us {:.2}x hickory-decode={anchor:.2}us ({} responses)",
        ours / anchor,
        responses.len()
    );

    let discovered = replay(&responses, now).expect("the recorded discovery ends");
    let config = PlanConfig::default();
    for (name, class) in [
        ("plan_secure_only", Class::SecureOnly),
        ("plan_best_effort", Class::BestEffort),
    ] {
        let figures = best_of(
            REPETITIONS,
            PER_SAMPLE,
            &mut [("plan", &mut || plan_all(&discovered, class, &config))],
        );
        let ours = figures[0].best.as_secs_f64() * 1e6;
        println!("{name} {ours:.3} us {:.2}x budget=2us", ours / 2.0);
    }

    let fixture = Fixture::new(100 * 1024);
    let (up, down) = anchor_plaintext(&fixture);
    let figures = best_of(
        REPETITIONS,
        PER_SAMPLE * 5,
        &mut [
            ("secmx", &mut || secmx_session(&fixture, now).stored),
            ("rustls", &mut || bare_rustls(&fixture, up, down)),
        ],
    );
    let ours = figures[0].best.as_secs_f64() * 1e6;
    let anchor = figures[1].best.as_secs_f64() * 1e6;
    println!(
        "session_100k {ours:.0} us {:.2}x bare-rustls={anchor:.0}us",
        ours / anchor
    );

    let (idle, server) = retained(|| idle_server(&fixture, now));
    drop(server);
    println!(
        "server_idle_pre_tls {idle} bytes {:.2}x budget=4096B",
        idle as f64 / 4096.0
    );
    // The handshake's transient allocations are made and freed inside;
    // what is counted is what the server still holds afterwards.
    let (tls, server) = retained(|| server_after_tls(&fixture, now));
    drop(server);
    println!(
        "server_idle_post_tls {tls} bytes {:.2}x budget=4096B",
        tls as f64 / 4096.0
    );

    // A client that sends one endless line: the peak heap of the session
    // receiving 1 MiB of it, next to the peak for 64 KiB (flat memory: 1x).
    let (short_peak, taken) = peak_during(|| line_flood(&fixture, now, 64 * 1024));
    assert_eq!(taken, 64 * 1024, "the session takes the whole line");
    let (flood_peak, taken) = peak_during(|| line_flood(&fixture, now, 1024 * 1024));
    assert_eq!(taken, 1024 * 1024, "the session takes the whole line");
    println!(
        "flood_1mib_line_peak_heap {flood_peak} bytes {:.2}x peak-at-64KiB={short_peak}B",
        flood_peak as f64 / short_peak as f64
    );

    // Whole sessions on two threads at once (this machine has two cores),
    // against bare rustls carrying the same bytes on two threads.
    const PER_THREAD: usize = 8;
    let figures = best_of(
        REPETITIONS / 3,
        PER_SAMPLE * 5,
        &mut [
            ("secmx", &mut || parallel_sessions(&fixture, 2, PER_THREAD)),
            ("rustls", &mut || {
                parallel_bare_rustls(&fixture, 2, PER_THREAD)
            }),
        ],
    );
    let sessions = (2 * PER_THREAD) as f64;
    let ours = sessions / figures[0].best.as_secs_f64();
    let anchor = sessions / figures[1].best.as_secs_f64();
    println!(
        "sessions_2_threads {ours:.0} sessions/s {:.2}x bare-rustls={anchor:.0}/s",
        ours / anchor
    );
}
