//! The client state machine: [`ClientSession`].

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::proto::Status;
use crate::proto::code::{ReplyClass, ReplyCode};
use crate::proto::command::{Command, Verb};
use crate::proto::ehlo::{Capabilities, Keyword, Size};
use crate::proto::param::Body;
use crate::proto::reply::{Reply, ReplyParser};
use crate::time::{Deadline, Timeouts};
use crate::transport::{Phase, TlsInfo, Transport};

use super::body::{BodySender, Piece, normalized_len};
use super::config::{ClientConfig, TlsRequirement};
use super::envelope::Envelope;
use super::error::{ClientError, NotReady, SubmitError, TimeoutKind};
use super::event::{ClientEvent, CloseReason, TlsSkipReason};

/// Buffers that grew past this while carrying a burst are released once
/// empty, so that an idle session holds little heap.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The first octet of every record a TLS server may send first: a
/// handshake record (ServerHello, 22) or an alert (21) (RFC 8446 §5.1).
const TLS_FIRST_OCTETS: [u8; 2] = [0x16, 0x15];

/// What an outstanding reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Rset,
    Mail,
    Rcpt(usize),
    Data,
    /// The reply after the end of data.
    DataEnd,
    /// The reply to `BDAT n LAST`.
    Bdat,
    Quit,
}

impl Awaiting {
    fn timer(self) -> TimeoutKind {
        match self {
            Awaiting::Greeting => TimeoutKind::Greeting,
            Awaiting::Ehlo => TimeoutKind::Reply(Verb::Ehlo),
            Awaiting::Helo => TimeoutKind::Reply(Verb::Helo),
            Awaiting::StartTls => TimeoutKind::Reply(Verb::StartTls),
            Awaiting::Rset => TimeoutKind::Reply(Verb::Rset),
            Awaiting::Mail => TimeoutKind::Reply(Verb::Mail),
            Awaiting::Rcpt(_) => TimeoutKind::Reply(Verb::Rcpt),
            Awaiting::Data => TimeoutKind::Reply(Verb::Data),
            Awaiting::DataEnd | Awaiting::Bdat => TimeoutKind::DataTermination,
            Awaiting::Quit => TimeoutKind::Reply(Verb::Quit),
        }
    }
}

/// One outstanding reply and where its command ends in the stream we send.
#[derive(Debug, Clone, Copy)]
struct Pending {
    what: Awaiting,
    /// Octets of plaintext written up to the end of the command (the body
    /// included for DATA's end and BDAT); `None` while the body is still
    /// being produced. A reply that starts before this many octets went to
    /// the transport answers something the server has not seen.
    end: Option<u64>,
}

/// Plaintext on its way to the transport, and the replies it will earn.
#[derive(Debug, Default)]
struct Output {
    /// Commands (and transformed body slices) not yet taken by the
    /// transport, from `sent` on.
    staging: Vec<u8>,
    sent: usize,
    /// Octets of plaintext produced so far.
    written: u64,
    /// Octets of plaintext the transport has taken so far.
    flushed: u64,
    awaiting: VecDeque<Pending>,
    /// Bumped whenever the reply at the head of `awaiting` changes, so the
    /// reply timer restarts.
    generation: u64,
}

impl Output {
    /// Queues a command whose reply will be `what`.
    fn command(&mut self, what: Awaiting, write: impl FnOnce(&mut Vec<u8>)) {
        self.write(write);
        self.expect(what, Some(self.written));
    }

    /// Queues octets that earn no reply (the QUIT of a goodbye).
    fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let before = self.staging.len();
        write(&mut self.staging);
        self.written += (self.staging.len() - before) as u64;
    }

    fn expect(&mut self, what: Awaiting, end: Option<u64>) {
        if self.awaiting.is_empty() {
            self.generation += 1;
        }
        self.awaiting.push_back(Pending { what, end });
    }

    fn pop(&mut self) -> Option<Pending> {
        self.generation += 1;
        self.awaiting.pop_front()
    }

    /// The body is all written: the reply after it may now come.
    fn body_written(&mut self) {
        let written = self.written;
        for pending in &mut self.awaiting {
            if pending.end.is_none() {
                pending.end = Some(written);
            }
        }
    }

    /// Drops everything not yet taken by the transport.
    fn discard(&mut self) {
        self.staging = Vec::new();
        self.sent = 0;
        self.awaiting.clear();
    }

    fn is_flushed(&self) -> bool {
        self.sent >= self.staging.len()
    }
}

/// A message on its way.
#[derive(Debug)]
struct Transaction {
    /// The MAIL line, then the RCPT lines, CRLF included.
    lines: Vec<u8>,
    /// Where each RCPT line ends in `lines` (the MAIL line ends at
    /// `mail_end`).
    mail_end: usize,
    rcpt_ends: Vec<usize>,
    /// The body, until it starts going out.
    body: Option<Bytes>,
    /// The body's size with its line ends normalised, and whether that
    /// changes it, once counted for SIZE.
    normalized: Option<(u64, bool)>,
    bdat: bool,
    binary: bool,
    pipelined: bool,
    accepted: usize,
    mail_failed: bool,
    /// DATA got `354` with no recipient accepted: only `.` was sent.
    discard: bool,
}

impl Transaction {
    fn rcpt_count(&self) -> usize {
        self.rcpt_ends.len()
    }

    fn mail_line(&self) -> &[u8] {
        self.lines.get(..self.mail_end).unwrap_or_default()
    }

    fn rcpt_line(&self, index: usize) -> &[u8] {
        let start = match index.checked_sub(1) {
            None => self.mail_end,
            Some(before) => self.rcpt_ends.get(before).copied().unwrap_or(self.mail_end),
        };
        let end = self.rcpt_ends.get(index).copied().unwrap_or(start);
        self.lines.get(start..end).unwrap_or_default()
    }
}

/// An SMTP client session (RFC 5321) with STARTTLS (RFC 3207), sans-IO.
/// See the [module documentation](super) for the run loop, the drain rule
/// and the STARTTLS story.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    transport: Transport,
    parser: ReplyParser,
    /// Plaintext out of the transport, reused between calls.
    rx: Vec<u8>,
    out: Output,
    body: Option<BodySender>,
    /// Body octets went out since the data-block timer was armed.
    body_progress: bool,
    events: VecDeque<ClientEvent>,
    /// The capabilities in force: `None` before EHLO and from the `220` to
    /// STARTTLS until the EHLO after the handshake.
    caps: Option<Capabilities>,
    tls_up: bool,
    txn: Option<Transaction>,
    needs_rset: bool,
    ready: bool,
    /// The reply being parsed began when no command it could answer had
    /// left.
    unsolicited: bool,
    /// TLS was just started: the next octet must begin a TLS record.
    check_first_tls_octet: bool,
    close_after_flush: bool,
    closed: bool,
    error: Option<ClientError>,
    deadline: Deadline,
    armed: Option<(TimeoutKind, u64)>,
    /// The `now` of the latest call that passed one: `poll_transmit` has
    /// none, yet the wait for the final reply starts when the body is out.
    last_now: Instant,
}

impl ClientSession {
    /// A session on a connection that was just opened: it waits for the
    /// server's greeting (RFC 5321 §3.1), with the greeting timeout
    /// running from `now`.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut session = Self {
            config,
            transport: Transport::new(),
            parser: ReplyParser::new(),
            rx: Vec::new(),
            out: Output::default(),
            body: None,
            body_progress: false,
            events: VecDeque::new(),
            caps: None,
            tls_up: false,
            txn: None,
            needs_rset: false,
            ready: false,
            unsolicited: false,
            check_first_tls_octet: false,
            close_after_flush: false,
            closed: false,
            error: None,
            deadline: Deadline::default(),
            armed: None,
            last_now: now,
        };
        session.out.expect(Awaiting::Greeting, Some(0));
        session.update_timer(now);
        session
    }

    /// The configuration the session was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    // -----------------------------------------------------------------
    // Polls

    /// The next event, if any. Worth calling after every other call on
    /// the session, until it returns `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Appends bytes for the network to `out` and returns how many: plain
    /// text before STARTTLS, TLS records after; after an error, the
    /// goodbye (QUIT, `close_notify` or the TLS alert).
    ///
    /// One call hands out at most about
    /// [`MAX_SEND_BUFFER`](crate::transport::MAX_SEND_BUFFER) octets of
    /// plaintext (plus TLS overhead), so that a large body goes out at the
    /// pace the embedder writes it. Worth calling after every other call,
    /// until it returns 0.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        self.fill_transport();
        self.transport.poll_transmit(out);
        out.len() - start
    }

    /// When [`ClientSession::handle_timeout`] must be called, if a timer
    /// runs. Changes after every other call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        self.deadline.get()
    }

    // -----------------------------------------------------------------
    // Inputs

    /// Takes bytes received from the server (any amount, down to one
    /// byte). Then drain [`ClientSession::poll_event`] and
    /// [`ClientSession::poll_transmit`]. Ignored once the session is
    /// closed.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) {
        if self.closed || input.is_empty() {
            return;
        }
        if self.transport.is_tls() {
            self.handle_tls_input(input);
        } else {
            self.process(input);
        }
        self.update_timer(now);
    }

    /// The server closed the connection (TCP end of file). Ends the
    /// session: with [`CloseReason::Quit`] while waiting for the `221`,
    /// with [`ClientError::ConnectionLost`] otherwise.
    pub fn handle_eof(&mut self, now: Instant) {
        self.on_eof();
        self.update_timer(now);
    }

    /// Call when [`ClientSession::poll_timeout`]'s instant has come. A wait
    /// that ran out ends the session with [`ClientError::Timeout`]; no
    /// QUIT is sent to a server that stopped answering.
    ///
    /// The data-block timer (RFC 5321 §4.5.3.2.5) fires only when no body
    /// octet went out through [`ClientSession::poll_transmit`] during a
    /// whole period; the wait for the final reply (§4.5.3.2.6) starts when
    /// the last body octet goes out, at the `now` of the latest call that
    /// passed one.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed || !self.deadline.expired(now) {
            return;
        }
        match self.armed.map(|(kind, _)| kind) {
            Some(TimeoutKind::DataBlock) if self.body.is_some() => {
                if mem::take(&mut self.body_progress) {
                    self.deadline.set(now, self.config.timeouts.data_block);
                } else {
                    self.fail(ClientError::Timeout(TimeoutKind::DataBlock));
                }
            }
            Some(TimeoutKind::DataBlock) => {
                // The body is out: now wait for the final reply.
                self.armed = None;
            }
            Some(kind) => self.fail(ClientError::Timeout(kind)),
            None => self.deadline.clear(),
        }
        self.update_timer(now);
    }

    // -----------------------------------------------------------------
    // Commands from the embedder

    /// Starts sending a message: `envelope` and `body`, the message as
    /// RFC 5322 text (or binary with `BODY=BINARYMIME`). Allowed once
    /// [`ClientEvent::Ready`] came; results arrive as events.
    ///
    /// The body is handed over whole (`Vec<u8>` or [`Bytes`], no copy) and
    /// goes out a slice at a time as [`ClientSession::poll_transmit`] is
    /// called, so only one slice of transformed text is buffered at once.
    /// Bare CR and bare LF become CRLF and a non-empty body ends with a
    /// CRLF (RFC 5321 §2.3.8), except under BINARYMIME.
    ///
    /// How it goes (RFC 5321 §3.3, RFC 2920, RFC 3030):
    /// - CHUNKING offered: one `BDAT n LAST` chunk after the RCPT replies;
    ///   otherwise DATA, and the body after the `354`, dot-stuffed.
    /// - PIPELINING offered: MAIL, every RCPT and DATA go in one group
    ///   (RFC 2920 §3.1), the body waits for the `354`; with BDAT the
    ///   group is MAIL and the RCPTs. Otherwise one command at a time.
    /// - An RSET goes first (in the same group) when the previous message
    ///   left a transaction open.
    /// - No recipient accepted: no body octet goes out; if DATA was
    ///   pipelined and still got `354`, a lone `.` ends it (RFC 2920 §3.1).
    ///
    /// The MAIL parameters are checked against the server's capabilities
    /// (see [`SubmitError`]), and adjusted: SIZE is set to the size that
    /// will be sent when the server offers SIZE and left out otherwise
    /// (RFC 1870); `BODY=7BIT` is left out when 8BITMIME is not offered.
    /// Unknown parameters go out as given.
    ///
    /// # Errors
    ///
    /// A [`SubmitError`] before anything is sent; the session stays ready.
    pub fn send_message(
        &mut self,
        now: Instant,
        envelope: Envelope,
        body: impl Into<Bytes>,
    ) -> Result<(), SubmitError> {
        if self.closed {
            return Err(SubmitError::Closed);
        }
        if !self.ready {
            return Err(SubmitError::NotReady);
        }
        let caps = self.caps.as_ref().ok_or(SubmitError::NotReady)?;
        let body = body.into();
        let txn = prepare(caps, self.tls_up, envelope, body)?;
        self.ready = false;
        let pipelined = txn.pipelined;
        self.txn = Some(txn);
        if mem::take(&mut self.needs_rset) {
            self.out
                .command(Awaiting::Rset, |buf| Command::Rset.encode(buf));
            if pipelined {
                self.start_envelope();
            }
        } else {
            self.start_envelope();
        }
        self.update_timer(now);
        Ok(())
    }

    /// Sends QUIT (RFC 5321 §4.1.1.10); the session closes with
    /// [`CloseReason::Quit`] at the reply, and sends `close_notify` under
    /// TLS.
    ///
    /// # Errors
    ///
    /// [`NotReady`] while a message is under way, before the session is
    /// ready, or once it is closed.
    pub fn quit(&mut self, now: Instant) -> Result<(), NotReady> {
        if self.closed || !self.ready {
            return Err(NotReady);
        }
        self.ready = false;
        self.out
            .command(Awaiting::Quit, |buf| Command::Quit.encode(buf));
        self.update_timer(now);
        Ok(())
    }

    // -----------------------------------------------------------------
    // State

    /// True between [`ClientEvent::Ready`] and the next
    /// [`ClientSession::send_message`] or [`ClientSession::quit`].
    pub fn is_ready(&self) -> bool {
        self.ready && !self.closed
    }

    /// True once [`ClientEvent::Closed`] was queued.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The fatal error that ended the session, if one did.
    pub fn error(&self) -> Option<&ClientError> {
        self.error.as_ref()
    }

    /// The capabilities in force: from the EHLO after TLS once TLS is up,
    /// `None` between the `220` to STARTTLS and that EHLO, and after HELO a
    /// set with no extension.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.caps.as_ref()
    }

    /// True once the TLS handshake finished.
    pub fn is_tls(&self) -> bool {
        self.tls_up
    }

    /// What the TLS handshake negotiated, once it finished.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.transport.tls_info()
    }

    // -----------------------------------------------------------------
    // Receiving

    fn handle_tls_input(&mut self, input: &[u8]) {
        if mem::take(&mut self.check_first_tls_octet)
            && !input.first().is_some_and(|b| TLS_FIRST_OCTETS.contains(b))
        {
            // Clear text where the server's first TLS record should be.
            self.fail(ClientError::ResponseInjection);
            return;
        }
        let mut rx = mem::take(&mut self.rx);
        let received = self.transport.receive(input, &mut rx);
        match received {
            Err(e) if self.tls_up => self.fail(ClientError::Tls(e)),
            Err(e) => self.fail(ClientError::Handshake(e)),
            Ok(()) => {
                if self.transport.poll_handshake_complete() {
                    self.on_handshake();
                }
                self.process(&rx);
                if self.transport.received_close_notify() {
                    self.on_eof();
                }
            }
        }
        rx.clear();
        if rx.capacity() <= KEEP_CAPACITY {
            self.rx = rx;
        }
    }

    /// Reads replies out of plaintext.
    fn process(&mut self, plaintext: &[u8]) {
        let mut rest = plaintext;
        while !rest.is_empty() && !self.closed {
            if self.parser.is_idle() {
                // A reply starts: it must answer a command that has left.
                let flushed = self.out.flushed;
                self.unsolicited = self
                    .out
                    .awaiting
                    .front()
                    .is_none_or(|p| p.end.is_none_or(|end| end > flushed));
            }
            let (reply, used) = match self.parser.feed(rest) {
                Err(e) => return self.fail(ClientError::Reply(e)),
                Ok(Status::Partial) => return,
                Ok(Status::Complete(done)) => done,
            };
            rest = rest.get(used..).unwrap_or_default();
            self.on_reply(reply, rest.is_empty());
        }
    }

    fn on_reply(&mut self, reply: Reply<'static>, at_end: bool) {
        let unsolicited = mem::take(&mut self.unsolicited);
        let Some(pending) = self.out.pop().filter(|_| !unsolicited) else {
            if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE {
                // RFC 5321 §3.8: a server may say 421 at any time.
                return self.close(false, CloseReason::ServiceClosing(reply));
            }
            return self.fail(ClientError::UnexpectedReply(reply));
        };
        if reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE {
            if pending.what == Awaiting::Greeting {
                self.events.push_back(ClientEvent::Greeting(reply.clone()));
            }
            return self.close(false, CloseReason::ServiceClosing(reply));
        }
        match pending.what {
            Awaiting::Greeting => self.on_greeting(reply),
            Awaiting::Ehlo => self.on_ehlo(reply),
            Awaiting::Helo => self.on_helo(reply),
            Awaiting::StartTls => self.on_starttls(reply, at_end),
            Awaiting::Rset => self.on_rset(reply),
            Awaiting::Mail => self.on_mail(reply),
            Awaiting::Rcpt(index) => self.on_rcpt(index, reply),
            Awaiting::Data => self.on_data(reply),
            Awaiting::DataEnd | Awaiting::Bdat => self.on_data_end(reply),
            Awaiting::Quit => self.close(false, CloseReason::Quit),
        }
    }

    fn on_greeting(&mut self, reply: Reply<'static>) {
        self.events.push_back(ClientEvent::Greeting(reply.clone()));
        if reply.code() == ReplyCode::SERVICE_READY {
            self.send_ehlo();
        } else if reply.is_negative() {
            self.close(true, CloseReason::Rejected(reply));
        } else {
            self.fail(ClientError::UnexpectedReply(reply));
        }
    }

    fn send_ehlo(&mut self) {
        let name = &self.config.ehlo_name;
        self.out.command(Awaiting::Ehlo, |buf| {
            buf.extend_from_slice(b"EHLO ");
            name.encode(buf);
            buf.extend_from_slice(b"\r\n");
        });
    }

    fn on_ehlo(&mut self, reply: Reply<'static>) {
        let code = reply.code();
        if code == ReplyCode::OK {
            let Ok(caps) = Capabilities::from_reply(&reply) else {
                return self.fail(ClientError::UnexpectedReply(reply));
            };
            let tls = self.tls_up;
            self.events.push_back(ClientEvent::Capabilities {
                tls,
                caps: caps.clone(),
            });
            let offered = caps.starttls();
            self.caps = Some(caps);
            if tls || self.config.tls_requirement == TlsRequirement::None {
                self.become_ready();
            } else if offered {
                self.out
                    .command(Awaiting::StartTls, |buf| Command::StartTls.encode(buf));
            } else {
                self.tls_unavailable(TlsSkipReason::NotOffered, ClientError::StartTlsNotOffered);
            }
        } else if !self.tls_up
            && (code == ReplyCode::SYNTAX_ERROR || code == ReplyCode::NOT_IMPLEMENTED)
        {
            // RFC 5321 §4.1.4: a server without ESMTP; HELO has no STARTTLS.
            match self.config.tls_requirement {
                TlsRequirement::Required => {
                    return self.fail(ClientError::StartTlsNotOffered);
                }
                TlsRequirement::Opportunistic => {
                    self.events.push_back(ClientEvent::TlsSkipped {
                        reason: TlsSkipReason::EhloNotSupported(reply),
                    });
                }
                TlsRequirement::None => {}
            }
            let name = &self.config.ehlo_name;
            self.out.command(Awaiting::Helo, |buf| {
                buf.extend_from_slice(b"HELO ");
                name.encode(buf);
                buf.extend_from_slice(b"\r\n");
            });
        } else if reply.is_negative() {
            self.close(true, CloseReason::Rejected(reply));
        } else {
            self.fail(ClientError::UnexpectedReply(reply));
        }
    }

    fn on_helo(&mut self, reply: Reply<'static>) {
        if reply.code() == ReplyCode::OK {
            let domain = reply
                .lines()
                .first()
                .and_then(|line| line.split(' ').find(|word| !word.is_empty()))
                .unwrap_or_default();
            self.caps = Some(Capabilities::new(domain));
            self.become_ready();
        } else if reply.is_negative() {
            self.close(true, CloseReason::Rejected(reply));
        } else {
            self.fail(ClientError::UnexpectedReply(reply));
        }
    }

    fn on_starttls(&mut self, reply: Reply<'static>, at_end: bool) {
        let one_220 = reply.code() == ReplyCode::SERVICE_READY && reply.lines().len() == 1;
        if one_220 {
            // RFC 3207 §4.2: what the server said in clear is void from
            // here on, whether TLS starts or not.
            self.caps = None;
            if !at_end {
                // CVE-2021-38371: replies smuggled behind the 220.
                return self.fail(ClientError::ResponseInjection);
            }
            let started = self.transport.start_client_tls(
                self.config.tls_config.clone(),
                self.config.server_name.clone(),
            );
            match started {
                Ok(()) => self.check_first_tls_octet = true,
                Err(e) => self.fail(ClientError::TlsConfig(e)),
            }
        } else if reply.is_negative() {
            self.tls_unavailable(
                TlsSkipReason::Refused(reply.clone()),
                ClientError::StartTlsRefused(reply),
            );
        } else {
            self.tls_unavailable(
                TlsSkipReason::BadReply(reply.clone()),
                ClientError::StartTlsBadReply(reply),
            );
        }
    }

    /// STARTTLS cannot happen: stop under Required, go on in clear under
    /// Opportunistic.
    fn tls_unavailable(&mut self, reason: TlsSkipReason, error: ClientError) {
        if self.config.tls_requirement == TlsRequirement::Required {
            self.fail(error);
        } else {
            self.events.push_back(ClientEvent::TlsSkipped { reason });
            self.become_ready();
        }
    }

    fn on_handshake(&mut self) {
        self.tls_up = true;
        self.out.generation += 1;
        if let Some(info) = self.transport.tls_info() {
            self.events.push_back(ClientEvent::TlsEstablished(info));
        }
        // RFC 3207 §4.2: start over with EHLO.
        self.send_ehlo();
    }

    fn become_ready(&mut self) {
        self.ready = true;
        self.events.push_back(ClientEvent::Ready);
    }

    // -----------------------------------------------------------------
    // Transactions

    /// MAIL, and with PIPELINING the RCPTs and DATA too.
    fn start_envelope(&mut self) {
        let Some(txn) = self.txn.as_ref() else {
            return;
        };
        self.out
            .command(Awaiting::Mail, |buf| buf.extend_from_slice(txn.mail_line()));
        if txn.pipelined {
            for index in 0..txn.rcpt_count() {
                self.out.command(Awaiting::Rcpt(index), |buf| {
                    buf.extend_from_slice(txn.rcpt_line(index));
                });
            }
            if !txn.bdat {
                self.out
                    .command(Awaiting::Data, |buf| Command::Data.encode(buf));
            }
        }
    }

    fn send_rcpt(&mut self, index: usize) {
        if let Some(txn) = self.txn.as_ref() {
            self.out.command(Awaiting::Rcpt(index), |buf| {
                buf.extend_from_slice(txn.rcpt_line(index));
            });
        }
    }

    fn on_rset(&mut self, reply: Reply<'static>) {
        if reply.is_positive_completion() {
            if self.txn.as_ref().is_some_and(|txn| !txn.pipelined) {
                self.start_envelope();
            }
        } else if reply.is_negative() {
            self.close(true, CloseReason::Rejected(reply));
        } else {
            self.fail(ClientError::UnexpectedReply(reply));
        }
    }

    fn on_mail(&mut self, reply: Reply<'static>) {
        let Some(txn) = self.txn.as_mut() else {
            return self.fail(ClientError::UnexpectedReply(reply));
        };
        let pipelined = txn.pipelined;
        if reply.is_positive_completion() {
            self.needs_rset = true;
            if !pipelined {
                self.send_rcpt(0);
            }
        } else if reply.is_negative() {
            txn.mail_failed = true;
            self.events.push_back(ClientEvent::MailRejected(reply));
            if !pipelined {
                self.end_transaction();
            }
        } else {
            self.fail(ClientError::UnexpectedReply(reply));
        }
    }

    fn on_rcpt(&mut self, index: usize, reply: Reply<'static>) {
        let Some(txn) = self.txn.as_mut() else {
            return self.fail(ClientError::UnexpectedReply(reply));
        };
        let accepted = reply.is_positive_completion();
        if !accepted && !reply.is_negative() {
            return self.fail(ClientError::UnexpectedReply(reply));
        }
        if !txn.mail_failed {
            if accepted {
                txn.accepted += 1;
                self.events
                    .push_back(ClientEvent::RcptAccepted { index, reply });
            } else {
                self.events
                    .push_back(ClientEvent::RcptRejected { index, reply });
            }
        }
        let last = index + 1 >= txn.rcpt_count();
        if !txn.pipelined {
            if last {
                self.after_rcpts();
            } else {
                self.send_rcpt(index + 1);
            }
        } else if last && txn.bdat {
            self.after_rcpts();
        }
    }

    /// Every RCPT was answered and no DATA was pipelined.
    fn after_rcpts(&mut self) {
        let Some(txn) = self.txn.as_mut() else {
            return;
        };
        if txn.mail_failed {
            self.end_transaction();
        } else if txn.accepted == 0 {
            self.events.push_back(ClientEvent::NoRecipientsAccepted);
            self.end_transaction();
        } else if txn.bdat {
            let body = txn.body.take().unwrap_or_default();
            let (binary, normalized) = (txn.binary, txn.normalized);
            let mut sender = None;
            self.out.write(|buf| {
                sender = Some(BodySender::bdat(body, binary, normalized, buf));
            });
            self.body = sender;
            self.out.expect(Awaiting::Bdat, None);
        } else {
            self.out
                .command(Awaiting::Data, |buf| Command::Data.encode(buf));
        }
    }

    fn on_data(&mut self, reply: Reply<'static>) {
        let Some(txn) = self.txn.as_mut() else {
            return self.fail(ClientError::UnexpectedReply(reply));
        };
        if reply.class() == ReplyClass::PositiveIntermediate {
            if txn.mail_failed || txn.accepted == 0 {
                // RFC 2920 §3.1: DATA accepted with no recipient; end it
                // empty.
                txn.discard = true;
                self.out
                    .command(Awaiting::DataEnd, |buf| buf.extend_from_slice(b".\r\n"));
            } else {
                let body = txn.body.take().unwrap_or_default();
                self.body = Some(BodySender::data(body));
                self.out.expect(Awaiting::DataEnd, None);
            }
        } else if reply.is_negative() {
            if txn.mail_failed {
                // MailRejected was the message's outcome.
            } else if txn.accepted == 0 {
                self.events.push_back(ClientEvent::NoRecipientsAccepted);
            } else {
                self.events.push_back(ClientEvent::MessageRejected(reply));
            }
            self.end_transaction();
        } else {
            self.fail(ClientError::UnexpectedReply(reply));
        }
    }

    fn on_data_end(&mut self, reply: Reply<'static>) {
        let Some(txn) = self.txn.as_ref() else {
            return self.fail(ClientError::UnexpectedReply(reply));
        };
        let accepted = reply.is_positive_completion();
        if !accepted && !reply.is_negative() {
            return self.fail(ClientError::UnexpectedReply(reply));
        }
        if txn.discard {
            self.needs_rset = false;
            if !txn.mail_failed {
                self.events.push_back(ClientEvent::NoRecipientsAccepted);
            }
        } else if accepted {
            self.needs_rset = false;
            self.events.push_back(ClientEvent::MessageAccepted(reply));
        } else {
            // RFC 3030 §2: a refused chunk fails the transaction; RSET
            // before the next one.
            self.needs_rset = true;
            self.events.push_back(ClientEvent::MessageRejected(reply));
        }
        self.end_transaction();
    }

    fn end_transaction(&mut self) {
        self.txn = None;
        debug_assert!(self.out.awaiting.is_empty(), "a transaction ends last");
        self.become_ready();
    }

    // -----------------------------------------------------------------
    // Sending

    /// Moves staged commands and body slices into the transport until it
    /// pushes back or nothing is left.
    fn fill_transport(&mut self) {
        loop {
            if !self.out.is_flushed() {
                let rest = self.out.staging.get(self.out.sent..).unwrap_or_default();
                let Ok(taken) = self.transport.send(rest) else {
                    // The transport failed or closed: nothing more goes.
                    self.out.staging = Vec::new();
                    self.out.sent = 0;
                    self.body = None;
                    return;
                };
                self.out.sent += taken;
                self.out.flushed += taken as u64;
                if !self.out.is_flushed() {
                    return;
                }
                self.out.sent = 0;
                self.out.staging.clear();
                if self.out.staging.capacity() > KEEP_CAPACITY {
                    self.out.staging = Vec::new();
                }
            }
            let Some(body) = self.body.as_mut() else {
                break;
            };
            match body.next(&mut self.out.staging) {
                Piece::Raw(raw) => {
                    let len = raw.len();
                    let Ok(taken) = self.transport.send(raw) else {
                        self.body = None;
                        return;
                    };
                    body.consume_raw(taken);
                    self.out.written += taken as u64;
                    self.out.flushed += taken as u64;
                    self.body_progress |= taken > 0;
                    if taken < len {
                        return;
                    }
                }
                Piece::Staged => {
                    self.out.written += self.out.staging.len() as u64;
                    self.body_progress = true;
                }
                Piece::Done => {
                    self.body = None;
                    self.out.body_written();
                    // The data-block wait is over; the wait for the final
                    // reply (RFC 5321 §4.5.3.2.6) starts now.
                    let now = self.last_now;
                    self.update_timer(now);
                }
            }
        }
        if self.close_after_flush {
            self.close_after_flush = false;
            self.transport.close_notify();
        }
    }

    // -----------------------------------------------------------------
    // Endings

    fn on_eof(&mut self) {
        if self.closed {
            return;
        }
        if self
            .out
            .awaiting
            .front()
            .is_some_and(|p| p.what == Awaiting::Quit)
        {
            self.close(false, CloseReason::Quit);
        } else {
            self.fail(ClientError::ConnectionLost);
        }
    }

    /// Ends the session with an error. QUIT goes out (in clear) only when
    /// STARTTLS could not happen under Required: the stream is still in
    /// step then. After a protocol error, a response injection, a TLS
    /// failure or a timeout nothing but `close_notify` or the alert goes.
    fn fail(&mut self, error: ClientError) {
        let quit = matches!(
            error,
            ClientError::StartTlsNotOffered
                | ClientError::StartTlsRefused(_)
                | ClientError::StartTlsBadReply(_)
        );
        self.error = Some(error.clone());
        self.close(quit, CloseReason::Error(error));
    }

    fn close(&mut self, quit: bool, reason: CloseReason) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.ready = false;
        self.txn = None;
        if reason != CloseReason::Quit {
            // Whatever was not yet taken never goes: the server would read
            // it out of step.
            self.body = None;
            self.out.discard();
        }
        if quit {
            self.out.write(|buf| Command::Quit.encode(buf));
        }
        self.out.awaiting.clear();
        if self.tls_up && self.transport.phase() == Phase::Established {
            self.close_after_flush = true;
        }
        self.deadline.clear();
        self.armed = None;
        self.events.push_back(ClientEvent::Closed { reason });
    }

    // -----------------------------------------------------------------
    // Timers

    fn wanted_timer(&self) -> Option<TimeoutKind> {
        if self.closed {
            None
        } else if self.transport.is_handshaking() {
            Some(TimeoutKind::TlsHandshake)
        } else if self.body.is_some() {
            Some(TimeoutKind::DataBlock)
        } else {
            self.out.awaiting.front().map(|p| p.what.timer())
        }
    }

    fn update_timer(&mut self, now: Instant) {
        self.last_now = now;
        let Some(kind) = self.wanted_timer() else {
            self.deadline.clear();
            self.armed = None;
            return;
        };
        let key = (kind, self.out.generation);
        if self.armed != Some(key) {
            self.armed = Some(key);
            self.body_progress = false;
            self.deadline
                .set(now, timeout_for(&self.config.timeouts, kind));
        }
    }
}

fn timeout_for(timeouts: &Timeouts, kind: TimeoutKind) -> Duration {
    match kind {
        TimeoutKind::Greeting => timeouts.greeting,
        TimeoutKind::Reply(Verb::Mail) => timeouts.mail,
        TimeoutKind::Reply(Verb::Rcpt) => timeouts.rcpt,
        TimeoutKind::Reply(Verb::Data) => timeouts.data_initiation,
        TimeoutKind::Reply(_) => timeouts.command,
        TimeoutKind::TlsHandshake => timeouts.tls_handshake,
        TimeoutKind::DataBlock => timeouts.data_block,
        TimeoutKind::DataTermination => timeouts.data_termination,
    }
}

/// Checks a message against the server's capabilities and encodes its
/// envelope.
fn prepare(
    caps: &Capabilities,
    tls: bool,
    mut envelope: Envelope,
    body: Bytes,
) -> Result<Transaction, SubmitError> {
    if envelope.recipients.is_empty() {
        return Err(SubmitError::NoRecipients);
    }
    let need = |keyword: Keyword| {
        if caps.has(keyword) {
            Ok(())
        } else {
            Err(SubmitError::NotOffered(keyword))
        }
    };
    let params = &mut envelope.params;
    let binary = params.body == Some(Body::BinaryMime);
    match params.body {
        Some(Body::BinaryMime) => {
            need(Keyword::BinaryMime)?;
            need(Keyword::Chunking)?;
        }
        Some(Body::EightBitMime) => need(Keyword::EightBitMime)?,
        Some(Body::SevenBit) if !caps.eight_bit_mime() => params.body = None,
        Some(Body::SevenBit) | None => {}
    }
    if params.smtputf8 {
        need(Keyword::SmtpUtf8)?;
    }
    if params.requiretls {
        if !tls {
            return Err(SubmitError::RequireTlsWithoutTls);
        }
        need(Keyword::RequireTls)?;
    }
    let dsn_rcpt = envelope
        .recipients
        .iter()
        .any(|r| r.params.notify.is_some() || r.params.orcpt.is_some());
    if params.ret.is_some() || params.envid.is_some() || dsn_rcpt {
        need(Keyword::Dsn)?;
    }
    if params.auth.is_some() {
        need(Keyword::Auth)?;
    }
    // The size as it will be sent (RFC 1870 §4), counted only when the
    // server takes SIZE; the count is kept for a BDAT command.
    let mut normalized = None;
    let mut size = || {
        if binary {
            u64::try_from(body.len()).unwrap_or(u64::MAX)
        } else {
            normalized.get_or_insert_with(|| normalized_len(&body)).0
        }
    };
    params.size = match caps.size() {
        Some(Size::Max(limit)) => match size() {
            size if size > limit => return Err(SubmitError::TooBig { size, limit }),
            size => Some(size),
        },
        Some(Size::NoLimit) => Some(size()),
        None => None,
    };

    let mut lines = Vec::new();
    lines.extend_from_slice(b"MAIL FROM:");
    envelope.reverse_path.encode(&mut lines);
    envelope.params.encode(&mut lines);
    lines.extend_from_slice(b"\r\n");
    let mail_end = lines.len();
    let mut rcpt_ends = Vec::with_capacity(envelope.recipients.len());
    for recipient in &envelope.recipients {
        lines.extend_from_slice(b"RCPT TO:");
        recipient.path.encode(&mut lines);
        recipient.params.encode(&mut lines);
        lines.extend_from_slice(b"\r\n");
        rcpt_ends.push(lines.len());
    }
    if !envelope.params.smtputf8 && !lines.is_ascii() {
        return Err(SubmitError::NonAsciiWithoutSmtpUtf8);
    }
    Ok(Transaction {
        lines,
        mail_end,
        rcpt_ends,
        body: Some(body),
        normalized,
        bdat: caps.chunking(),
        binary,
        pipelined: caps.pipelining(),
        accepted: 0,
        mail_failed: false,
        discard: false,
    })
}
