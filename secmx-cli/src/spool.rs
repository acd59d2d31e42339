//! Durable storage of received messages: one file per message, on disk
//! before the `250` (RFC 5321 §6.1: the `250` after the end of data takes
//! responsibility for the message).
//!
//! ```text
//! DataStart        begin():  DIR/.<id>.tmp  (create_new)  ← Return-Path, Received
//! BodyChunk  ...   write():  appended as received (CRLF line ends)
//! MessageComplete  commit(): flush · fsync(file) · rename → DIR/<id>.eml · fsync(DIR)
//!                  then, and only then, accept() queues the 250
//! MessageAborted   drop:     the temp file is removed; nothing is left
//! ```
//!
//! A crash between the rename and the `250` leaves a message the client
//! will send again (a duplicate, which RFC 5321 §6.1 accepts); a crash
//! before the rename leaves a hidden `.tmp` file that is not a message.
//! Readers take only `*.eml` files.
//!
//! # The trace fields (RFC 5321 §4.4)
//!
//! ```text
//! Return-Path: <reverse-path>
//! Received: from <helo> ([<client IP>])
//!         by <hostname> (secmx) with ESMTPS id <id>
//!         (using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)   ; or (without TLS)
//!         for <recipient>; <RFC 5322 date>                       ; "for" only with one recipient
//! ```
//!
//! The protocol is `ESMTPS` after STARTTLS and EHLO, `ESMTP` after EHLO,
//! `SMTP` after HELO (RFC 3848 §2). The id is the file name: seconds and
//! microseconds since 1970, the process id and a counter (`-`-separated,
//! so that it is an RFC 5321 `Atom`); it is unique without random numbers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use secmx_core::transport::TlsInfo;

/// The suffix of a stored message.
pub const MESSAGE_SUFFIX: &str = "eml";

/// Where messages are stored.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    pid: u32,
    counter: AtomicU64,
}

/// The negotiated TLS version and cipher suite, as names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSummary {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// The IANA name as rustls spells it, `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
}

impl TlsSummary {
    /// The names of what a handshake negotiated.
    pub fn from_info(info: &TlsInfo) -> Self {
        let version = match info.protocol_version.as_str() {
            Some(name) => name.replace('_', "."),
            None => format!("{:?}", info.protocol_version),
        };
        let cipher = match info.cipher_suite.as_str() {
            Some(name) => name.to_owned(),
            None => format!("{:?}", info.cipher_suite),
        };
        Self { version, cipher }
    }
}

/// What the `Received:` and `Return-Path:` lines record about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// This server's name (`by`).
    pub by: String,
    /// The client's HELO or EHLO name (`from`), as the session checked it.
    pub helo: String,
    /// The client said EHLO.
    pub extended: bool,
    /// The client's address.
    pub client: IpAddr,
    /// TLS, when the transaction ran under it.
    pub tls: Option<TlsSummary>,
    /// The reverse-path with its brackets (`<a@example.org>`, `<>`).
    pub reverse_path: String,
    /// The forward-paths with their brackets.
    pub recipients: Vec<String>,
}

impl Trace {
    /// The protocol keyword of the `with` clause (RFC 3848 §2).
    pub fn protocol(&self) -> &'static str {
        match (self.extended, self.tls.is_some()) {
            (true, true) => "ESMTPS",
            (true, false) => "ESMTP",
            (false, _) => "SMTP",
        }
    }

    /// The `Return-Path:` and `Received:` lines, folded, each ending in
    /// CRLF. Every part came through the session's grammar (a domain, an
    /// address literal, a path), so none holds a CR or LF.
    pub fn header(&self, id: &str, date: &str) -> String {
        let client = match self.client {
            IpAddr::V4(ip) => format!("[{ip}]"),
            IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
        };
        let tls = match &self.tls {
            Some(tls) => format!("(using {} with cipher {})", tls.version, tls.cipher),
            None => "(without TLS)".to_owned(),
        };
        // The "for" clause only with a single recipient: with more it would
        // show each recipient the others (RFC 5321 §7.6).
        let last = match self.recipients.as_slice() {
            [one] => format!("{tls}\r\n\tfor {one}; {date}"),
            _ => format!("{tls}; {date}"),
        };
        format!(
            "Return-Path: {}\r\nReceived: from {} ({client})\r\n\tby {} (secmx) with {} id {id}\r\n\t{last}\r\n",
            self.reverse_path,
            self.helo,
            self.by,
            self.protocol(),
        )
    }
}

/// A message stored by [`Incoming::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its id (also in its `Received:` line).
    pub id: String,
    /// Its file.
    pub path: PathBuf,
    /// Octets written, trace lines included.
    pub size: u64,
}

impl Spool {
    /// Opens (creating it if needed) the spool directory and checks that a
    /// file can be created, written, synced and removed in it.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let spool = Self {
            dir,
            pid: std::process::id(),
            counter: AtomicU64::new(0),
        };
        let probe = spool.dir.join(format!(".probe-{}.tmp", spool.pid));
        let mut file = File::create(&probe)?;
        let written = file.write_all(b"probe").and_then(|()| file.sync_all());
        let removed = fs::remove_file(&probe);
        written.and(removed)?;
        Ok(spool)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new unique id: `<seconds>-<microseconds>-<pid>-<counter>`.
    pub fn next_id(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}-{:06}-{}-{n}",
            now.as_secs(),
            now.subsec_micros(),
            self.pid
        )
    }

    /// Starts a message: creates its temp file and writes the trace lines.
    pub fn begin(&self, trace: &Trace) -> io::Result<Incoming> {
        let id = self.next_id();
        let temp = self.dir.join(format!(".{id}.tmp"));
        let dest = self.dir.join(format!("{id}.{MESSAGE_SUFFIX}"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let mut incoming = Incoming {
            id,
            file: BufWriter::with_capacity(64 * 1024, file),
            temp,
            dest,
            dir: self.dir.clone(),
            size: 0,
            done: false,
        };
        let header = trace.header(&incoming.id, &crate::time::rfc5322(SystemTime::now()));
        incoming.write(header.as_bytes())?;
        Ok(incoming)
    }
}

/// A message being received. Dropped without [`Incoming::commit`], it
/// leaves nothing behind.
#[derive(Debug)]
pub struct Incoming {
    id: String,
    file: BufWriter<File>,
    temp: PathBuf,
    dest: PathBuf,
    dir: PathBuf,
    size: u64,
    done: bool,
}

impl Incoming {
    /// The message's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Appends message text.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Makes the message durable: flush, fsync the file, rename it to its
    /// final name, fsync the directory (so that the rename survives a
    /// crash). Only after this returns `Ok` may the `250` be sent.
    pub fn commit(mut self) -> io::Result<Stored> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        fs::rename(&self.temp, &self.dest)?;
        if let Err(e) = File::open(&self.dir).and_then(|dir| dir.sync_all()) {
            // Not durable: take it back, the client will get a 451.
            let _ = fs::rename(&self.dest, &self.temp);
            return Err(e);
        }
        self.done = true;
        Ok(Stored {
            id: std::mem::take(&mut self.id),
            path: self.dest.clone(),
            size: self.size,
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "secmx-spool-{name}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("spool directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn trace(tls: bool, recipients: &[&str]) -> Trace {
        Trace {
            by: "mx.example.net".into(),
            helo: "client.example".into(),
            extended: true,
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tls: tls.then(|| TlsSummary {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_256_GCM_SHA384".into(),
            }),
            reverse_path: "<a@example.org>".into(),
            recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn rfc5321_4_4_trace_lines() {
        let date = "Tue, 29 Oct 2024 13:05:09 +0000";
        assert_eq!(
            trace(true, &["<b@example.net>"]).header("1-2-3-4", date),
            "Return-Path: <a@example.org>\r\n\
             Received: from client.example ([127.0.0.1])\r\n\
             \tby mx.example.net (secmx) with ESMTPS id 1-2-3-4\r\n\
             \t(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\
             \tfor <b@example.net>; Tue, 29 Oct 2024 13:05:09 +0000\r\n"
        );
        // Two recipients: no "for" clause (RFC 5321 §7.6: it would
        // disclose the other recipients).
        let mut plain = trace(false, &["<b@example.net>", "<c@example.net>"]);
        plain.client = "2001:db8::1".parse().expect("address");
        assert_eq!(
            plain.header("1-2-3-4", date),
            "Return-Path: <a@example.org>\r\n\
             Received: from client.example ([IPv6:2001:db8::1])\r\n\
             \tby mx.example.net (secmx) with ESMTP id 1-2-3-4\r\n\
             \t(without TLS); Tue, 29 Oct 2024 13:05:09 +0000\r\n"
        );
        plain.extended = false;
        assert_eq!(plain.protocol(), "SMTP");
    }

    #[test]
    fn rfc5321_6_1_commit_leaves_one_file_and_abort_leaves_none() {
        let dir = scratch("commit");
        let spool = Spool::open(&dir).expect("spool");
        assert!(entries(&dir).is_empty(), "the probe is removed");

        let mut incoming = spool
            .begin(&trace(true, &["<b@example.net>"]))
            .expect("begin");
        incoming
            .write(b"Subject: hi\r\n\r\nbody\r\n")
            .expect("write");
        let temp = entries(&dir);
        assert_eq!(temp.len(), 1);
        assert!(temp[0].starts_with('.') && temp[0].ends_with(".tmp"));
        let stored = incoming.commit().expect("commit");
        assert_eq!(entries(&dir), [format!("{}.eml", stored.id)]);
        let text = fs::read_to_string(&stored.path).expect("stored message");
        assert!(text.starts_with("Return-Path: <a@example.org>\r\nReceived: from "));
        assert!(text.contains(&format!(" id {}\r\n", stored.id)));
        assert!(text.ends_with("\r\n\r\nbody\r\n"));
        assert_eq!(stored.size, text.len() as u64);

        // Aborted mid-DATA: dropped without commit.
        let mut aborted = spool
            .begin(&trace(false, &["<b@example.net>"]))
            .expect("begin");
        aborted.write(b"Subject: half").expect("write");
        assert_eq!(entries(&dir).len(), 2);
        drop(aborted);
        assert_eq!(entries(&dir), [format!("{}.eml", stored.id)]);
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn ids_are_unique_and_atoms() {
        let dir = scratch("ids");
        let spool = Spool::open(&dir).expect("spool");
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| spool.next_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert!(id.bytes().all(|b| b.is_ascii_digit() || b == b'-'), "{id}");
        }
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
