//! Soak: 1,000 messages into `secmx serve` from parallel clients (threads,
//! std sockets, raw SMTP) that drop the connection at seeded random points:
//! before MAIL, after MAIL (reading its reply or not), after RCPT, after
//! the `354`, in the middle of the message text, after the text but before
//! the final `.`, after the `250` without QUIT, plus RSET mid-transaction.
//!
//! The property (RFC 5321 §6.1): every message that got its `250` is in
//! the spool exactly once, with its text intact; no other message is; no
//! temp file is left. The clients never drop in the window between
//! sending the final `.` and reading the reply: a message cut there may or
//! may not have been stored (the duplicate window of RFC 5321 §6.1, which
//! no server can close), so it proves nothing either way.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const MESSAGES: usize = 1000;
const THREADS: usize = 8;
const SEED: u64 = 0x5ec0_a11d_50a6_2024;

/// splitmix64: a small seeded generator, so that a failure can be re-run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Where a client stops with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// The whole transaction; then maybe QUIT, maybe stay for the next.
    Deliver,
    /// The whole transaction, then close without QUIT.
    DeliverThenDrop,
    DropBeforeMail,
    DropAfterMail {
        read_reply: bool,
    },
    DropAfterRcpt,
    DropAfter354,
    /// Close after this many octets of the (dot-stuffed) text.
    DropMidText(usize),
    /// All the text, maybe a lone `.` without CRLF, then close.
    DropBeforeEnd {
        lone_dot: bool,
    },
    /// RSET after RCPT: the transaction ends, the connection stays.
    Reset,
}

fn plan(rng: &mut Rng, text_len: usize) -> Plan {
    match rng.below(100) {
        0..=44 => Plan::Deliver,
        45..=49 => Plan::DeliverThenDrop,
        50..=54 => Plan::DropBeforeMail,
        55..=59 => Plan::DropAfterMail {
            read_reply: rng.below(2) == 0,
        },
        60..=64 => Plan::DropAfterRcpt,
        65..=72 => Plan::DropAfter354,
        73..=87 => Plan::DropMidText(rng.below(text_len as u64) as usize),
        88..=94 => Plan::DropBeforeEnd {
            lone_dot: rng.below(2) == 0,
        },
        _ => Plan::Reset,
    }
}

/// A message: its id, its text as stored (unstuffed) and as sent.
struct Message {
    id: String,
    text: Vec<u8>,
    stuffed: Vec<u8>,
}

fn message(rng: &mut Rng, id: String) -> Message {
    let mut text = format!("Message-ID: <{id}>\r\nSubject: soak\r\n\r\n").into_bytes();
    let lines = 3 + rng.below(150);
    for i in 0..lines {
        if rng.below(8) == 0 {
            text.extend_from_slice(b"."); // needs dot-stuffing
        }
        let len = rng.below(70) as usize;
        text.extend((0..len).map(|j| b'a' + ((i as usize + j) % 26) as u8));
        text.extend_from_slice(b"\r\n");
    }
    let mut stuffed = Vec::with_capacity(text.len() + 64);
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    Message { id, text, stuffed }
}

struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to secmx serve");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut client = Self { stream, reader };
        client.expect("greeting", "220");
        client.send(b"EHLO soak.test\r\n");
        client.expect("EHLO", "250");
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to secmx serve");
    }

    /// Reads one reply (all its lines); returns its code.
    fn reply(&mut self, what: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("reading the reply to {what}: {e}"));
            assert!(n > 0, "connection closed waiting for the reply to {what}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    fn expect(&mut self, what: &str, code: &str) -> String {
        let line = self.reply(what);
        assert!(
            line.starts_with(code),
            "{what}: expected {code}, got {line:?}"
        );
        line
    }

    fn drop_now(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// One client thread: its messages, in order; returns the ids that got a
/// `250`.
fn client_thread(addr: SocketAddr, index: usize, messages: Vec<Message>, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut acknowledged = Vec::new();
    let mut client: Option<Client> = None;
    for m in messages {
        let mut c = client.take().unwrap_or_else(|| Client::connect(addr));
        let plan = plan(&mut rng, m.stuffed.len());
        let pipelined = rng.below(2) == 0;
        let envelope =
            format!("MAIL FROM:<sender{index}@soak.test>\r\nRCPT TO:<rcpt@example.test>\r\n");
        match plan {
            Plan::DropBeforeMail => {
                c.drop_now();
                continue;
            }
            Plan::DropAfterMail { read_reply } => {
                c.send(format!("MAIL FROM:<sender{index}@soak.test>\r\n").as_bytes());
                if read_reply {
                    c.expect("MAIL", "250");
                }
                c.drop_now();
                continue;
            }
            Plan::DropAfterRcpt => {
                c.send(envelope.as_bytes());
                c.expect("MAIL", "250");
                c.expect("RCPT", "250");
                c.drop_now();
                continue;
            }
            Plan::Reset => {
                c.send(envelope.as_bytes());
                c.expect("MAIL", "250");
                c.expect("RCPT", "250");
                c.send(b"RSET\r\n");
                c.expect("RSET", "250");
                client = Some(c);
                continue;
            }
            _ => {}
        }
        if pipelined {
            let mut group = envelope.clone().into_bytes();
            group.extend_from_slice(b"DATA\r\n");
            c.send(&group);
            c.expect("MAIL", "250");
            c.expect("RCPT", "250");
        } else {
            c.send(envelope.as_bytes());
            c.expect("MAIL", "250");
            c.expect("RCPT", "250");
            c.send(b"DATA\r\n");
        }
        c.expect("DATA", "354");
        match plan {
            Plan::DropAfter354 => {
                c.drop_now();
                continue;
            }
            Plan::DropMidText(cut) => {
                c.send(&m.stuffed[..cut]);
                c.drop_now();
                continue;
            }
            Plan::DropBeforeEnd { lone_dot } => {
                c.send(&m.stuffed);
                if lone_dot {
                    c.send(b".");
                }
                c.drop_now();
                continue;
            }
            _ => {}
        }
        // Deliver: the text and the end of data, then the reply. The
        // client reads the reply before anything else.
        let mut data = m.stuffed.clone();
        data.extend_from_slice(b".\r\n");
        c.send(&data);
        c.expect("end of data", "250");
        acknowledged.push(m.id.clone());
        match plan {
            Plan::DeliverThenDrop => c.drop_now(),
            _ if rng.below(4) == 0 => {
                c.send(b"QUIT\r\n");
                c.expect("QUIT", "221");
            }
            _ => client = Some(c),
        }
    }
    if let Some(mut c) = client {
        c.send(b"QUIT\r\n");
        c.expect("QUIT", "221");
    }
    acknowledged
}

/// The Message-ID in a stored message.
fn message_id(text: &str) -> Option<&str> {
    let start = text.find("\r\nMessage-ID: <")? + "\r\nMessage-ID: <".len();
    let end = start + text[start..].find('>')?;
    Some(&text[start..end])
}

#[test]
fn rfc5321_6_1_every_acknowledged_message_stored_exactly_once_and_no_other() {
    let started = Instant::now();
    let scratch = Scratch::new("soak");
    let mut serve = Serve::start(&scratch.dir, "ber", &["--max-connections", "64"]);

    let mut rng = Rng(SEED);
    let mut texts: HashMap<String, Vec<u8>> = HashMap::new();
    let mut per_thread: Vec<Vec<Message>> = (0..THREADS).map(|_| Vec::new()).collect();
    for n in 0..MESSAGES {
        let m = message(&mut rng, format!("soak-{n}@soak.test"));
        texts.insert(m.id.clone(), m.text.clone());
        per_thread[n % THREADS].push(m);
    }
    let handles: Vec<_> = per_thread
        .into_iter()
        .enumerate()
        .map(|(i, messages)| {
            let addr = serve.addr;
            let seed = SEED ^ (i as u64 + 1);
            thread::spawn(move || client_thread(addr, i, messages, seed))
        })
        .collect();
    let mut acknowledged: HashSet<String> = HashSet::new();
    for handle in handles {
        for id in handle.join().expect("client thread") {
            assert!(acknowledged.insert(id));
        }
    }
    assert!(
        (300..900).contains(&acknowledged.len()),
        "the seeded plan should deliver about half: {}",
        acknowledged.len()
    );

    // Stop the server so that every connection is over.
    let status = serve.terminate();
    assert!(status.success(), "{status:?}");

    let mut stored: HashMap<String, usize> = HashMap::new();
    for (path, text) in serve.messages() {
        let id = message_id(&text)
            .unwrap_or_else(|| panic!("no Message-ID in {}", path.display()))
            .to_owned();
        let original = texts.get(&id).expect("a message the test sent");
        assert!(
            text.as_bytes().ends_with(original),
            "{} is not the text sent",
            path.display()
        );
        assert!(
            text.starts_with("Return-Path: <sender"),
            "{}",
            path.display()
        );
        *stored.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let stored: HashSet<String> = stored.into_keys().collect();
    let missing: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    let extra: Vec<_> = stored.difference(&acknowledged).collect();
    assert!(extra.is_empty(), "stored without a 250: {extra:?}");
    let leftovers: Vec<String> = serve
        .spool_entries()
        .into_iter()
        .filter(|name| !name.ends_with(".eml"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");

    let log = serve.log();
    let accepted = log.iter().filter(|l| l["result"] == "accepted").count();
    assert_eq!(accepted, acknowledged.len());
    assert!(log.iter().any(|l| l["result"] == "aborted"));
    eprintln!(
        "soak: {} of {MESSAGES} messages acknowledged and stored, {} log lines, {:?}",
        acknowledged.len(),
        log.len(),
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
}
