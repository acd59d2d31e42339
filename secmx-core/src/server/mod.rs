//! The receiving side of SMTP (RFC 5321 §3, §4) with STARTTLS (RFC 3207),
//! PIPELINING (RFC 2920), SIZE (RFC 1870), CHUNKING (RFC 3030) and
//! REQUIRETLS (RFC 8689), as a sans-IO state machine: [`ServerSession`].
//!
//! ```text
//! session  = greeting *( ehlo-or-helo / noop / rset / vrfy / help )
//!            [ starttls-exchange ] *transaction quit
//! greeting = "220" SP hostname SP "ESMTP" CRLF            ; RFC 5321 §4.3.1
//! starttls-exchange = "STARTTLS" CRLF  "220 2.0.0 …" CRLF
//!                     TLS-handshake  ehlo …               ; RFC 3207 §4, §4.2
//! transaction = mail 1*rcpt ( data-body / 1*bdat-chunk )   ; RFC 5321 §3.3
//! ```
//!
//! The session owns a [`Transport`] (the only rustls caller) and speaks
//! plaintext only; the embedder owns the socket and the clock.
//!
//! # Run loop and drain rule
//!
//! 1. Build a [`ServerConfig`] once per listener; per connection call
//!    [`ServerSession::new`]. The greeting is queued at once (unless
//!    [`ServerConfig::greeting_delay`] is set).
//! 2. **Drain**: call [`ServerSession::poll_event`] and
//!    [`ServerSession::poll_transmit`] until both are empty, writing what
//!    `poll_transmit` gives to the socket and answering the events that
//!    wait for a [`Decision`] ([`ServerSession::accept`],
//!    [`ServerSession::reject`]). Do this before the first read: the greeting
//!    must leave before the client may talk.
//! 3. When the socket is readable, pass the bytes to
//!    [`ServerSession::handle_input`]; it returns how many it took. Drain
//!    (step 2). If it took fewer than offered, keep the rest and offer it
//!    again after draining; if it takes none, the session waits for your
//!    answer to a decision (see [`ServerSession::pending_decision`]), so stop
//!    reading the socket until you give it.
//! 4. On end of file call [`ServerSession::handle_eof`]; when
//!    [`ServerSession::poll_timeout`]'s instant passes call
//!    [`ServerSession::handle_timeout`]. Drain after each.
//! 5. After [`ServerEvent::Closed`], drain `poll_transmit` once more (the
//!    `221`, a `421`, the TLS `close_notify` or alert) and close the socket.
//!
//! ```
//! use std::time::Instant;
//! use secmx_core::server::{ServerConfig, ServerEvent, ServerMode, ServerSession};
//!
//! let now = Instant::now();
//! let config = ServerConfig::new("mx.example.net", ServerMode::Ber);
//! let mut session = ServerSession::new(config, now)?;
//! let mut wire = Vec::new();
//! session.poll_transmit(&mut wire);
//! assert_eq!(wire, b"220 mx.example.net ESMTP\r\n");
//!
//! let input = b"HELO client.example\r\nMAIL FROM:<a@example.org>\r\n\
//!               RCPT TO:<b@example.net>\r\nDATA\r\n";
//! assert_eq!(session.handle_input(now, input)?, input.len());
//! let mut body = Vec::new();
//! let mut step = |session: &mut ServerSession, wire: &mut Vec<u8>| {
//!     loop {
//!         let event = session.poll_event();
//!         match &event {
//!             Some(ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. }) => {
//!                 session.accept(now).expect("a decision is pending");
//!             }
//!             Some(ServerEvent::BodyChunk(bytes)) => body.extend_from_slice(bytes),
//!             Some(ServerEvent::MessageComplete { .. }) => {
//!                 // Store the message first, then:
//!                 session.accept(now).expect("a decision is pending");
//!             }
//!             _ => {}
//!         }
//!         let before = wire.len();
//!         session.poll_transmit(wire);
//!         if event.is_none() && wire.len() == before {
//!             break;
//!         }
//!     }
//! };
//! wire.clear();
//! step(&mut session, &mut wire);
//! assert_eq!(
//!     wire,
//!     b"250 mx.example.net\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
//!       354 End data with <CR><LF>.<CR><LF>\r\n"
//! );
//! // The body comes only after the 354 has left.
//! wire.clear();
//! let taken = session.handle_input(now, b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n")?;
//! assert_eq!(taken, 31);
//! step(&mut session, &mut wire);
//! assert_eq!(wire, b"250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n");
//! assert_eq!(body, b"Subject: hi\r\n\r\n.dot\r\n");
//! assert!(session.is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # States
//!
//! ```text
//!  new ──(greeting_delay)──► Greeting ──timer──┐
//!   │                          │ input: 554, Closed(EarlyTalker)
//!   └──── 220 queued ──────────┴───────────────┴──► Command ◄──────────────┐
//!                                                   │  │  │                │
//!          MAIL/RCPT ─► wait for accept/reject ◄────┘  │  │ DATA: 354      │
//!          (no command read meanwhile)                 │  └──► Data ──.──► wait for
//!                                  BDAT n [LAST] ──► Bdat ──► (250 | wait)  final reply
//!          STARTTLS: 220 ──► Handshake ──TlsEstablished──► Command (EHLO needed)
//!          QUIT: 221 · timeout: 421 · EOF · fatal error  ──► Closed
//! ```
//!
//! # STARTTLS (RFC 3207) and what is an attack
//!
//! - Announced in the EHLO reply when [`ServerConfig::tls`] is set and TLS
//!   is not yet in force; without a certificate it is answered
//!   `454 4.7.0`; with a parameter `501 5.5.4`; under TLS `503 5.5.1`.
//! - **Command injection (CVE-2011-0411).** STARTTLS must be the last
//!   command of a pipelined group. Any plaintext that arrives after the
//!   STARTTLS line and before the `220` has left [`poll_transmit`] is never
//!   executed: the session raises [`ServerEvent::Injection`], answers
//!   `554 5.5.0` if the `220` was not yet queued (else sends nothing: the
//!   stream is TLS from the `220` on), and closes with
//!   [`ServerError::CommandInjection`].
//! - At the `220` the session forgets the HELO name and the transaction
//!   (a [`ServerEvent::MessageAborted`] if one was open). After the
//!   handshake ([`ServerEvent::TlsEstablished`]) the client must say EHLO
//!   again (MAIL first gets `503 5.5.1`); the EHLO reply no longer offers
//!   STARTTLS and offers REQUIRETLS.
//! - The handshake must finish within [`Timeouts::tls_handshake`]; a TLS
//!   failure is [`ServerError::Tls`], and its alert still leaves through
//!   `poll_transmit`.
//!
//! # SOR and BER
//!
//! [`ServerMode::Sor`] answers MAIL, RCPT, DATA, BDAT, VRFY, EXPN and AUTH
//! before TLS with `530 5.7.0 Must issue a STARTTLS command first` (a
//! refused BDAT chunk is still read and dropped, RFC 3030 §2);
//! [`ServerMode::Ber`] takes mail in clear text too.
//!
//! # Pipelining and synchronisation points
//!
//! Commands are read one at a time; while an event waits for its decision
//! the rest stay in the input buffer, so replies leave in command order
//! (RFC 2920 §3.1). Three replies are synchronisation points: the client
//! must not send anything before it has seen them. Bytes that arrive
//! before such a reply has left `poll_transmit` close the session:
//!
//! | waiting for | bytes before it are          | reply      | error |
//! |-------------|------------------------------|------------|-------|
//! | greeting    | an early talker (§3.1)       | `554 5.5.0`| [`ServerError::EarlyTalker`] |
//! | `354`       | text pipelined behind DATA   | `554 5.5.0`| [`ServerError::PipelinedAfterData`] |
//! | `220` to STARTTLS | an injection           | none       | [`ServerError::CommandInjection`] |
//!
//! So bytes pipelined before the `354` never become message content. This
//! relies on the drain rule: the embedder sends what `poll_transmit` gives
//! before it reads again.
//!
//! # Messages
//!
//! The body streams out as [`ServerEvent::BodyChunk`]s: DATA bodies
//! unstuffed, ending only at `CRLF . CRLF` (so `LF . LF` and the other SMTP
//! smuggling sequences stay content), BDAT chunks as sent. Over
//! [`ServerConfig::max_message_size`] the body is read to its end and
//! refused with `552 5.3.4`; a `MAIL … SIZE=` over it is refused at once.
//! [`ServerEvent::MessageComplete`] waits for the final reply: answer `250`
//! only once the message is stored. A connection lost (or timed out)
//! mid-DATA gives [`ServerEvent::MessageAborted`], never a message
//! (RFC 5321 §3.8).
//!
//! # Decisions where the RFCs leave room
//!
//! - A MAIL or RCPT parameter of an extension that was not announced, or any
//!   parameter after HELO (not EHLO), gets `555 5.5.4` (RFC 5321
//!   §4.1.1.11). BINARYMIME and AUTH are not offered.
//! - `MAIL … REQUIRETLS` before TLS gets `530 5.7.10` ("encryption
//!   needed", RFC 5248 registry): REQUIRETLS is announced only under TLS
//!   (RFC 8689 §2), and `530` tells the client what it must do first.
//! - BDAT when CHUNKING is off gets `502 5.5.1`, but its chunk is still read
//!   and dropped, so that its octets never run as commands. A BDAT chunk
//!   that takes the message over the size limit ends the transaction with
//!   `552 5.3.4` after the chunk; chunks pipelined after it get `503`
//!   (RFC 3030 §2). RCPT after a BDAT chunk gets `503`.
//! - DATA with no accepted recipient gets `554 5.5.1 no valid recipients`
//!   when RCPT was tried, `503 5.5.1` otherwise (RFC 2920 §3.1 allows both).
//! - Message text lines over [`ServerConfig::max_text_line`] (1000 by
//!   default, RFC 5321 §4.5.3.1.6) make the message refused with
//!   `500 5.5.2` after the end of data; bare CR or LF in the body only when
//!   [`ServerConfig::forbid_bare_line_ends`].
//! - Permanent (`5yz`) refusals count towards [`ServerConfig::max_errors`]
//!   (then `421 4.7.0` and close); `452` (too many recipients) does not.
//! - The idle timer restarts on every input byte and stops while the
//!   application decides; an application reply with code `421` closes the
//!   session after it is sent.
//! - End of file while a decision waits closes at once (the client will not
//!   read the answer); otherwise buffered commands are answered first.
//! - `close_notify` is sent on close only once TLS is established.
//!
//! # Memory
//!
//! - An idle session holds no heap beyond its HELO name: the line reader,
//!   input buffer, event queue and transport buffers are freed when empty.
//! - Unprocessed plaintext is bounded by [`MAX_INPUT_BUFFER`]: the session
//!   takes network bytes only while fewer than [`INPUT_HIGH_WATER`] wait
//!   ([`ServerSession::handle_input`] returns how many it took).
//! - A command line is at most 512 octets (`500 5.5.2` beyond); a bare CR or
//!   LF in one gets `500 5.5.2` and the line is dropped.
//! - Replies waiting for [`ServerSession::poll_transmit`] stop the session
//!   from reading more commands beyond [`OUTPUT_HIGH_WATER`].
//! - At most one body chunk is pending; the envelope holds at most
//!   [`ServerConfig::max_recipients`] recipients (`452 4.5.3` beyond).
//!
//! [`poll_transmit`]: ServerSession::poll_transmit
//! [`Timeouts::tls_handshake`]: crate::time::Timeouts::tls_handshake

mod config;
mod event;
mod replies;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use crate::proto::code::{ErrorReply, ReplyCode};
use crate::proto::command::{Command, CommandError, ParseContext, Verb};
use crate::proto::data::{BdatChunk, BdatPiece, BdatReceiver, BodyReport, DotUnstuffer, Unstuffed};
use crate::proto::ehlo::{Capabilities, Keyword};
use crate::proto::line::LineReader;
use crate::proto::param::{Body, MailParameters, RcptParameters};
use crate::proto::path::{Domain, ForwardPath, ReversePath};
use crate::proto::reply::Reply;
use crate::time::Deadline;
use crate::transport::Transport;

pub use config::{
    ConfigError, DEFAULT_MAX_ERRORS, DEFAULT_MAX_MESSAGE_SIZE, Extensions, ServerConfig, ServerMode,
};
pub use event::{
    AbortReason, AnswerError, CloseReason, Decision, Envelope, Recipient, ServerError, ServerEvent,
};

/// The session takes network bytes only while fewer than this many octets
/// of plaintext wait to be processed. RFC 5321 sets no bound; 32 KiB holds
/// a pipelined envelope of 64 full-length command lines, or two TLS records
/// of message text.
pub const INPUT_HIGH_WATER: usize = 32 * 1024;

/// Most octets of unprocessed plaintext a session holds:
/// [`INPUT_HIGH_WATER`] plus one TLS record (16 KiB of plaintext,
/// RFC 8446 §5.1) whose start arrived in an earlier piece.
pub const MAX_INPUT_BUFFER: usize = INPUT_HIGH_WATER + 16 * 1024;

/// Largest [`ServerEvent::BodyChunk`]: one buffer of input.
pub const MAX_BODY_CHUNK: usize = MAX_INPUT_BUFFER;

/// The session stops reading commands while this many octets of replies
/// wait for [`ServerSession::poll_transmit`], well below the transport's
/// own bound ([`MAX_SEND_BUFFER`](crate::transport::MAX_SEND_BUFFER)).
pub const OUTPUT_HIGH_WATER: usize = 16 * 1024;

/// Most octets of injected plaintext kept in [`ServerEvent::Injection`]: one
/// command line (RFC 5321 §4.5.3.1.4).
pub const MAX_INJECTION_SAMPLE: usize = crate::limits::MAX_COMMAND_LINE;

/// Where the session is (see the state diagram in the module docs).
#[derive(Debug)]
enum Phase {
    /// The greeting waits for [`ServerConfig::greeting_delay`].
    Greeting,
    /// Reading command lines.
    Command,
    /// Reading a DATA body.
    Data(DotUnstuffer),
    /// Reading a BDAT chunk of the open transaction (its receiver is in the
    /// transaction).
    Bdat,
    /// Reading a refused BDAT chunk, to be answered with `reply` at its end
    /// (RFC 3030 §2: the chunk is read and dropped).
    Discard { chunk: BdatChunk, reply: ErrorReply },
    /// After the `220` to STARTTLS, until the handshake ends.
    Handshake,
    /// Over.
    Closed,
}

/// A reply the client must see before it sends anything more: bytes that
/// arrive before it has left are a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncPoint {
    Greeting,
    Data,
    StartTls,
}

/// What the deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Send the delayed greeting.
    Greeting,
    /// The client must send a command or data (RFC 5321 §4.5.3.2.7).
    Idle,
    /// The TLS handshake must end.
    Handshake,
}

#[derive(Debug)]
struct Helo {
    name: Domain<'static>,
    extended: bool,
}

#[derive(Debug)]
struct Transaction {
    envelope: Envelope,
    /// RCPT commands seen, accepted or not.
    rcpt_attempts: usize,
    /// The body began with BDAT.
    bdat: Option<BdatReceiver>,
}

#[derive(Debug)]
enum Pending {
    Mail(Box<(ReversePath<'static>, MailParameters<'static>)>),
    Rcpt(Box<(ForwardPath<'static>, RcptParameters<'static>)>),
    Message,
}

/// One SMTP server connection, sans-IO. See the [module docs](self) for the
/// run loop, the states and the STARTTLS rules.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    transport: Transport,
    lines: LineReader,
    /// Plaintext received and not yet processed: `inbuf[start..]`. Body
    /// chunks are split off it and share its allocation.
    inbuf: BytesMut,
    start: usize,
    /// Reply octets the transport did not take yet.
    backlog: Vec<u8>,
    phase: Phase,
    sync: Option<SyncPoint>,
    timer: Timer,
    deadline: Deadline,
    now: Instant,
    helo: Option<Helo>,
    transaction: Option<Box<Transaction>>,
    pending: Option<Pending>,
    events: VecDeque<ServerEvent>,
    /// Reply octets queued since the last `poll_transmit`.
    unsent: usize,
    /// Permanent refusals so far.
    errors: usize,
    tls: bool,
    eof: bool,
    error: Option<ServerError>,
    close: Option<CloseReason>,
    close_reported: bool,
    close_notify_sent: bool,
}

impl ServerSession {
    /// A session for a new connection, its greeting (`220 <hostname> ESMTP`)
    /// queued for [`Self::poll_transmit`], or held back for
    /// [`ServerConfig::greeting_delay`].
    ///
    /// Pass a `ServerConfig` or an `Arc<ServerConfig>` shared by a
    /// listener's sessions.
    ///
    /// # Errors
    ///
    /// The configuration's problem ([`ServerConfig::validate`]), for
    /// instance a SOR without a certificate.
    pub fn new(config: impl Into<Arc<ServerConfig>>, now: Instant) -> Result<Self, ConfigError> {
        let config = config.into();
        config.validate()?;
        let delay = config.greeting_delay.filter(|delay| !delay.is_zero());
        let mut session = Self {
            config,
            transport: Transport::new(),
            lines: LineReader::for_commands(),
            inbuf: BytesMut::new(),
            start: 0,
            backlog: Vec::new(),
            phase: Phase::Greeting,
            sync: None,
            timer: Timer::Greeting,
            deadline: Deadline::default(),
            now,
            helo: None,
            transaction: None,
            pending: None,
            events: VecDeque::new(),
            unsent: 0,
            errors: 0,
            tls: false,
            eof: false,
            error: None,
            close: None,
            close_reported: false,
            close_notify_sent: false,
        };
        match delay {
            Some(delay) => session.deadline.set(now, delay),
            None => session.greet(),
        }
        Ok(session)
    }

    /// Takes bytes from the network and returns how many it took.
    ///
    /// The session takes bytes while fewer than [`INPUT_HIGH_WATER`] octets
    /// of plaintext wait to be processed (they wait while an event is
    /// unpolled or a decision unanswered, or while replies fill
    /// [`OUTPUT_HIGH_WATER`]). Keep the bytes it did not take and offer them
    /// again after draining events and transmits; if it takes none, it
    /// waits for a [`Decision`]. After the session closed normally it takes
    /// and drops everything.
    ///
    /// Bytes that arrive before a synchronisation reply (the greeting, the
    /// `354`, the `220` to STARTTLS) left [`Self::poll_transmit`] close the
    /// session (see the module docs).
    ///
    /// Worth following with [`Self::poll_event`] and
    /// [`Self::poll_transmit`].
    ///
    /// # Errors
    ///
    /// The sticky [`ServerError`] once the session failed, including in
    /// this call.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, ServerError> {
        self.now = now;
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.is_closed() {
            return Ok(input.len());
        }
        if input.is_empty() {
            return Ok(0);
        }
        if self.timer == Timer::Idle && self.pending.is_none() {
            // RFC 5321 §4.5.3.2.7: the timer waits for the client.
            self.deadline.set(now, self.config.timeouts.server);
        }
        let mut taken = 0;
        while let Some(rest) = input.get(taken..).filter(|rest| !rest.is_empty()) {
            self.progress();
            if self.is_closed() {
                taken = input.len();
                break;
            }
            if let Some(sync) = self.unsynchronised() {
                self.violation(sync, rest);
                taken = input.len();
                break;
            }
            let room = INPUT_HIGH_WATER.saturating_sub(self.unprocessed());
            if room == 0 {
                break;
            }
            let piece = rest.get(..room).unwrap_or(rest);
            taken += piece.len();
            self.compact_input();
            if let Err(error) = self.transport.receive(piece, &mut self.inbuf) {
                self.fail(error.into());
                taken = input.len();
                break;
            }
            if self.transport.poll_handshake_complete() {
                self.tls_established();
            }
            if self.transport.received_close_notify() {
                self.peer_finished();
            }
        }
        self.progress();
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(taken),
        }
    }

    /// The client closed its side of the connection.
    ///
    /// Commands already received are still processed in order (a pipelined
    /// `QUIT` gets its `221`); then the session closes with
    /// [`CloseReason::PeerClosed`]. If a decision was pending, or the body
    /// of a message was not complete, the transaction ends with
    /// [`ServerEvent::MessageAborted`] (RFC 5321 §3.8).
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        if !self.is_closed() {
            self.peer_finished();
            self.progress();
        }
    }

    /// When to call [`Self::handle_timeout`]; `None` while nothing is
    /// timed (a decision pending, or the session closed). Worth polling
    /// after every other call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            None
        } else {
            self.deadline.get()
        }
    }

    /// The time passed. If the deadline expired: sends the delayed greeting,
    /// or closes the session: `421 4.4.2 <host> Error: timeout exceeded`
    /// when the client was silent too long (RFC 5321 §4.5.3.2.7), nothing
    /// when the TLS handshake took too long. Drain afterwards.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.is_closed() || !self.deadline.expired(now) {
            return;
        }
        self.deadline.clear();
        match self.timer {
            Timer::Greeting => self.greet(),
            Timer::Idle => {
                self.goodbye(replies::TIMEOUT_CODE, replies::TIMEOUT_TEXT);
                self.close(CloseReason::Timeout);
            }
            Timer::Handshake => self.close(CloseReason::Timeout),
        }
    }

    /// The next event, if any. Worth calling after every other call, until
    /// it returns `None`; polling may let the session read further commands
    /// it had buffered. [`ServerEvent::Closed`] is the last.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if self.events.is_empty() {
            self.progress();
        }
        if let Some(event) = self.events.pop_front() {
            if self.events.is_empty() && matches!(self.phase, Phase::Command | Phase::Closed) {
                // Idle between commands: hold no heap for the queue.
                self.events = VecDeque::new();
            }
            return Some(event);
        }
        if let Some(reason) = &self.close
            && !self.close_reported
        {
            self.close_reported = true;
            return Some(ServerEvent::Closed(reason.clone()));
        }
        None
    }

    /// Appends every byte waiting for the network to `out`: replies, TLS
    /// records, the TLS alert after a failure, `close_notify` after the
    /// session closed. Worth calling after every other call until it
    /// appends nothing; it may let the session read further commands it had
    /// buffered (and so queue events).
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        loop {
            self.pump();
            self.transport.poll_transmit(out);
            self.unsent = 0;
            // Whatever reply the client had to wait for has now left.
            self.sync = None;
            if !self.backlog.is_empty() {
                continue;
            }
            self.progress();
            if self.unsent == 0 && self.backlog.is_empty() {
                break;
            }
        }
    }

    /// Which decision the session waits for, if any.
    #[must_use]
    pub fn pending_decision(&self) -> Option<Decision> {
        self.pending.as_ref().map(|pending| match pending {
            Pending::Mail(_) => Decision::Mail,
            Pending::Rcpt(_) => Decision::Rcpt,
            Pending::Message => Decision::Message,
        })
    }

    /// Accepts the pending MAIL (`250 2.1.0 Ok`), RCPT (`250 2.1.5 Ok`) or
    /// message (`250 2.0.0 Ok: queued`: call it only once the message is
    /// stored). The session then reads on.
    ///
    /// # Errors
    ///
    /// [`AnswerError::NothingPending`] out of turn, [`AnswerError::Closed`]
    /// when the session closed first; the session is unchanged.
    pub fn accept(&mut self, now: Instant) -> Result<(), AnswerError> {
        self.answer(now, None, true)
    }

    /// Accepts the pending decision with the application's own `2yz` reply
    /// (a queue id in the text, say).
    ///
    /// # Errors
    ///
    /// As [`Self::accept`], and [`AnswerError::WrongClass`] unless the
    /// reply is `2yz`.
    pub fn accept_with<'r>(
        &mut self,
        now: Instant,
        reply: impl Into<Reply<'r>>,
    ) -> Result<(), AnswerError> {
        let reply = reply.into();
        if !reply.is_positive_completion() {
            return Err(AnswerError::WrongClass(reply.code().get()));
        }
        self.answer(now, Some(reply), true)
    }

    /// Refuses the pending MAIL, RCPT or message with a `4yz` or `5yz`
    /// reply. A `421` also closes the session (RFC 5321 §3.8).
    ///
    /// # Errors
    ///
    /// As [`Self::accept`], and [`AnswerError::WrongClass`] unless the
    /// reply is `4yz` or `5yz`.
    pub fn reject<'r>(
        &mut self,
        now: Instant,
        reply: impl Into<Reply<'r>>,
    ) -> Result<(), AnswerError> {
        let reply = reply.into();
        if !reply.is_negative() {
            return Err(AnswerError::WrongClass(reply.code().get()));
        }
        self.answer(now, Some(reply), false)
    }

    /// True once the session is over (the [`ServerEvent::Closed`] event may
    /// still wait in [`Self::poll_event`], and bytes in
    /// [`Self::poll_transmit`]).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// True once the TLS handshake after STARTTLS finished.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The sticky fatal error, if the session failed.
    #[must_use]
    pub fn error(&self) -> Option<&ServerError> {
        self.error.as_ref()
    }

    /// The HELO or EHLO name in force (forgotten at STARTTLS).
    #[must_use]
    pub fn helo_name(&self) -> Option<&Domain<'static>> {
        self.helo.as_ref().map(|helo| &helo.name)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    // -----------------------------------------------------------------
    // Processing

    /// Processes buffered input while nothing stops it: an unpolled event,
    /// a pending decision, full output, a handshake, the end.
    fn progress(&mut self) {
        while self.can_progress() {
            let progressed = match self.phase {
                Phase::Command => self.step_command(),
                Phase::Data(_) => self.step_data(),
                Phase::Bdat => self.step_bdat(),
                Phase::Discard { .. } => self.step_discard(),
                Phase::Greeting | Phase::Handshake | Phase::Closed => false,
            };
            if !progressed {
                break;
            }
        }
        if self.start >= self.inbuf.len() {
            self.start = 0;
            if matches!(
                self.phase,
                Phase::Command | Phase::Closed | Phase::Handshake
            ) {
                self.inbuf = BytesMut::new();
            } else {
                self.inbuf.clear();
            }
        }
    }

    fn can_progress(&self) -> bool {
        !matches!(
            self.phase,
            Phase::Greeting | Phase::Handshake | Phase::Closed
        ) && self.events.is_empty()
            && self.pending.is_none()
            && self.unsent < OUTPUT_HIGH_WATER
            && self.backlog.is_empty()
    }

    fn unprocessed(&self) -> usize {
        self.inbuf.len().saturating_sub(self.start)
    }

    fn compact_input(&mut self) {
        if self.start > 0 {
            // O(1): the octets before `start` are released, and the room
            // is reclaimed by the next append once no chunk shares it.
            self.inbuf.advance(self.start.min(self.inbuf.len()));
            self.start = 0;
        }
    }

    /// The synchronisation point new input would violate.
    fn unsynchronised(&self) -> Option<SyncPoint> {
        if matches!(self.phase, Phase::Greeting) {
            Some(SyncPoint::Greeting)
        } else {
            self.sync
        }
    }

    /// No more input will come: finish when what is buffered is processed,
    /// or at once when a decision waits (the client will not read it).
    fn peer_finished(&mut self) {
        self.eof = true;
        if self.pending.is_some() || matches!(self.phase, Phase::Greeting | Phase::Handshake) {
            self.close(CloseReason::PeerClosed);
        }
    }

    /// The buffered input is used up: `true` if that ended the session.
    fn input_exhausted(&mut self) -> bool {
        if self.eof {
            self.close(CloseReason::PeerClosed);
            true
        } else {
            false
        }
    }

    fn step_command(&mut self) -> bool {
        let ctx = ParseContext::new().with_smtputf8(
            self.transaction
                .as_ref()
                .is_some_and(|t| t.envelope.params.smtputf8),
        );
        let mut rest = self.inbuf.get(self.start..).unwrap_or_default();
        if rest.is_empty() {
            return self.input_exhausted();
        }
        let before = rest.len();
        let read = match self.lines.next(&mut rest) {
            Ok(Some(line)) => {
                let bytes = line.as_bytes();
                Ok(Some((
                    peek_verb(bytes),
                    Command::parse(bytes, ctx).map(Command::into_owned),
                )))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(error),
        };
        self.start += before - rest.len();
        match read {
            Ok(None) => self.input_exhausted(),
            // RFC 5321 §2.3.8, §4.5.3.1.4: 500 5.5.2, and the line is
            // dropped up to its CRLF.
            Err(error) => {
                self.refuse(None, error.reply());
                true
            }
            Ok(Some((verb, parsed))) => {
                self.command(verb, parsed);
                true
            }
        }
    }

    fn step_data(&mut self) -> bool {
        let Phase::Data(unstuffer) = &mut self.phase else {
            return false;
        };
        let buffered = self.inbuf.get(self.start..).unwrap_or_default();
        let mut input = buffered;
        let total = input.len();
        if total == 0 {
            return self.input_exhausted();
        }
        let mut body = BodyContent::new(buffered);
        let mut ended = false;
        while let Some(piece) = unstuffer.next(&mut input) {
            match piece {
                Unstuffed::Content(bytes) => body.push(bytes),
                Unstuffed::End => {
                    ended = true;
                    break;
                }
            }
        }
        let report = unstuffer.report();
        let consumed = total - input.len();
        let chunk = body.finish();
        self.take_body(consumed, chunk);
        if ended {
            self.phase = Phase::Command;
            self.end_of_message(Verb::Data, report);
        }
        true
    }

    fn step_bdat(&mut self) -> bool {
        let Some(receiver) = self
            .transaction
            .as_mut()
            .and_then(|transaction| transaction.bdat.as_mut())
        else {
            // Not reached: Bdat is entered with a receiver in place.
            self.phase = Phase::Command;
            return true;
        };
        let buffered = self.inbuf.get(self.start..).unwrap_or_default();
        let mut input = buffered;
        let total = input.len();
        let mut body = BodyContent::new(buffered);
        let mut end = None;
        while let Some(piece) = receiver.next(&mut input) {
            match piece {
                BdatPiece::Content(bytes) => body.push(bytes),
                BdatPiece::ChunkEnd { last } => {
                    end = Some(last);
                    break;
                }
            }
        }
        let received = receiver.received();
        let consumed = total - input.len();
        let chunk = body.finish();
        self.take_body(consumed, chunk);
        match end {
            Some(false) => {
                self.phase = Phase::Command;
                // RFC 3030 §2: each chunk is answered.
                let reply = Reply::new(
                    ReplyCode::OK,
                    Some(crate::EnhancedCode::OK),
                    format!("Ok: {received} octets received"),
                );
                self.send_reply(&reply);
                true
            }
            Some(true) => {
                self.phase = Phase::Command;
                let report = BodyReport {
                    size: received,
                    ..BodyReport::default()
                };
                self.end_of_message(Verb::Bdat, report);
                true
            }
            None if consumed == 0 => self.input_exhausted(),
            None => true,
        }
    }

    /// Consumes `consumed` octets of buffered input that gave `chunk`, and
    /// queues the chunk as an event.
    fn take_body(&mut self, consumed: usize, chunk: Chunk) {
        match chunk {
            Chunk::Empty => self.start += consumed,
            Chunk::Shared(range) => {
                self.compact_input();
                let taken = self.inbuf.split_to(consumed.min(self.inbuf.len())).freeze();
                if range.end <= taken.len() {
                    self.events
                        .push_back(ServerEvent::BodyChunk(taken.slice(range)));
                }
            }
            Chunk::Copied(copy) => {
                self.start += consumed;
                self.events.push_back(ServerEvent::BodyChunk(copy.freeze()));
            }
        }
    }

    fn step_discard(&mut self) -> bool {
        let Phase::Discard { chunk, reply } = &mut self.phase else {
            return false;
        };
        let mut input = self.inbuf.get(self.start..).unwrap_or_default();
        let total = input.len();
        chunk.take(&mut input);
        let consumed = total - input.len();
        self.start += consumed;
        if chunk.is_complete() {
            let reply = *reply;
            self.phase = Phase::Command;
            self.refuse(Some(Verb::Bdat), reply);
            true
        } else if consumed == 0 {
            self.input_exhausted()
        } else {
            true
        }
    }

    /// The end of data, or the LAST chunk: refuse the body, or hand the
    /// message to the application.
    fn end_of_message(&mut self, verb: Verb, report: BodyReport) {
        if let Some(reply) = report.error_reply(self.config.forbid_bare_line_ends) {
            self.abort(AbortReason::BodyRefused(reply));
            self.refuse(Some(verb), reply);
            return;
        }
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        self.events.push_back(ServerEvent::MessageComplete {
            envelope: transaction.envelope,
            report,
        });
        self.wait_for(Pending::Message);
    }

    // -----------------------------------------------------------------
    // Commands

    fn command(&mut self, verb: Option<Verb>, parsed: Result<Command<'static>, CommandError>) {
        if self.config.mode == ServerMode::Sor && !self.tls && verb.is_some_and(needs_tls) {
            // RFC 3207 §4: 530 until TLS. A BDAT chunk still follows its
            // command and is read and dropped (RFC 3030 §2).
            match parsed {
                Ok(Command::Bdat { size, last }) => {
                    self.phase = Phase::Discard {
                        chunk: BdatChunk::new(size, last),
                        reply: ErrorReply::MUST_STARTTLS,
                    };
                }
                _ => self.refuse(verb, ErrorReply::MUST_STARTTLS),
            }
            return;
        }
        let command = match parsed {
            Ok(command) => command,
            Err(error) => return self.refuse(verb, error.reply()),
        };
        match command {
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.abort(AbortReason::Reset);
                self.send_error_reply(replies::OK);
            }
            Command::Noop(_) => self.send_error_reply(replies::OK),
            Command::Quit => {
                self.send_error_reply(replies::BYE);
                self.close(CloseReason::Quit);
            }
            Command::Vrfy(_) => self.send_error_reply(replies::CANNOT_VRFY),
            Command::Help(_) => self.send_error_reply(replies::HELP),
            Command::Expn(_) | Command::Auth { .. } => {
                self.refuse(verb, replies::NOT_IMPLEMENTED);
            }
            Command::StartTls => self.starttls(),
        }
    }

    fn hello(&mut self, name: Domain<'static>, extended: bool) {
        // RFC 5321 §4.1.4: EHLO or HELO resets the transaction.
        self.abort(AbortReason::Reset);
        let reply = if extended {
            self.capabilities().to_reply("")
        } else {
            Reply::new(
                ReplyCode::OK,
                None,
                Cow::Owned(self.config.hostname.clone()),
            )
        };
        self.send_reply(&reply);
        self.helo = Some(Helo {
            name: name.clone(),
            extended,
        });
        self.events.push_back(ServerEvent::Helo { name, extended });
    }

    /// What the EHLO reply announces now.
    fn capabilities(&self) -> Capabilities {
        let ext = self.config.extensions;
        let mut caps = Capabilities::new(self.config.hostname.as_str());
        let mut offer = |on: bool, keyword| {
            if on {
                caps.insert(keyword);
            }
        };
        offer(ext.pipelining, Keyword::Pipelining);
        offer(!self.tls && self.config.tls.is_some(), Keyword::StartTls);
        offer(ext.enhanced_status_codes, Keyword::EnhancedStatusCodes);
        offer(ext.eight_bit_mime, Keyword::EightBitMime);
        offer(ext.chunking, Keyword::Chunking);
        offer(ext.dsn, Keyword::Dsn);
        offer(ext.smtputf8, Keyword::SmtpUtf8);
        // RFC 8689 §2: only on a TLS session.
        offer(self.tls && ext.requiretls, Keyword::RequireTls);
        if ext.size {
            caps.set_size(self.config.max_message_size);
        }
        caps
    }

    fn mail(&mut self, from: ReversePath<'static>, params: MailParameters<'static>) {
        let Some(helo) = &self.helo else {
            return self.refuse(Some(Verb::Mail), replies::NEED_HELO);
        };
        if self.transaction.is_some() {
            return self.refuse(Some(Verb::Mail), replies::NESTED_MAIL);
        }
        if let Some(reply) = self.check_mail_parameters(&params, helo.extended) {
            return self.refuse(Some(Verb::Mail), reply);
        }
        self.events.push_back(ServerEvent::MailFrom {
            from: from.clone(),
            params: params.clone(),
        });
        self.wait_for(Pending::Mail(Box::new((from, params))));
    }

    /// RFC 5321 §4.1.1.11: a parameter that was not announced gets `555`.
    fn check_mail_parameters(
        &self,
        params: &MailParameters<'_>,
        extended: bool,
    ) -> Option<ErrorReply> {
        let ext = self.config.extensions;
        if params.requiretls && !self.tls {
            return Some(replies::REQUIRETLS_NEEDS_TLS);
        }
        let announced = extended
            && params.unknown.is_empty()
            && (params.size.is_none() || ext.size)
            && match params.body {
                None | Some(Body::SevenBit) => true,
                Some(Body::EightBitMime) => ext.eight_bit_mime,
                // BINARYMIME is not offered.
                Some(Body::BinaryMime) => false,
            }
            && (!params.smtputf8 || ext.smtputf8)
            && (!params.requiretls || ext.requiretls)
            && (params.ret.is_none() && params.envid.is_none() || ext.dsn)
            // AUTH is not offered, so neither is its MAIL parameter.
            && params.auth.is_none();
        if !announced && !params.is_empty() {
            return Some(replies::PARAMETER_NOT_ANNOUNCED);
        }
        // RFC 1870 §6: refuse a declared size over the limit at once.
        if let (Some(size), Some(max)) = (params.size, self.config.max_message_size)
            && size > max
        {
            return Some(ErrorReply::TOO_BIG);
        }
        None
    }

    fn rcpt(&mut self, to: ForwardPath<'static>, params: RcptParameters<'static>) {
        let max = self.config.max_recipients;
        let dsn = self.config.extensions.dsn;
        let extended = self.helo.as_ref().is_some_and(|helo| helo.extended);
        let Some(transaction) = self.transaction.as_mut() else {
            return self.refuse(Some(Verb::Rcpt), replies::NEED_MAIL);
        };
        if transaction.bdat.is_some() {
            // RFC 3030 §2: the envelope is closed once BDAT began.
            return self.refuse(Some(Verb::Rcpt), replies::RCPT_AFTER_BDAT);
        }
        transaction.rcpt_attempts += 1;
        let announced = extended
            && params.unknown.is_empty()
            && (params.notify.is_none() && params.orcpt.is_none() || dsn);
        if !announced && !params.is_empty() {
            return self.refuse(Some(Verb::Rcpt), replies::PARAMETER_NOT_ANNOUNCED);
        }
        if transaction.envelope.recipients.len() >= max {
            // RFC 5321 §4.5.3.1.10.
            return self.refuse(Some(Verb::Rcpt), replies::TOO_MANY_RECIPIENTS);
        }
        self.events.push_back(ServerEvent::RcptTo {
            to: to.clone(),
            params: params.clone(),
        });
        self.wait_for(Pending::Rcpt(Box::new((to, params))));
    }

    /// Why the open transaction cannot take a body now, if it cannot.
    fn body_refusal(&self) -> Option<ErrorReply> {
        let Some(transaction) = &self.transaction else {
            return Some(replies::NEED_MAIL);
        };
        if !transaction.envelope.recipients.is_empty() {
            None
        } else if transaction.rcpt_attempts > 0 {
            Some(replies::NO_VALID_RECIPIENTS)
        } else {
            Some(replies::NEED_RCPT)
        }
    }

    fn data(&mut self) {
        if let Some(reply) = self.body_refusal() {
            return self.refuse(Some(Verb::Data), reply);
        }
        if self
            .transaction
            .as_ref()
            .is_some_and(|transaction| transaction.bdat.is_some())
        {
            return self.refuse(Some(Verb::Data), replies::DATA_AFTER_BDAT);
        }
        if self.unprocessed() > 0 {
            // RFC 2920 §3.1: DATA ends a group; text sent before the 354
            // is not message content.
            self.send_error_reply(replies::PIPELINING_AFTER_DATA);
            return self.fail(ServerError::PipelinedAfterData);
        }
        let reply = Reply::new(ReplyCode::START_MAIL_INPUT, None, replies::START_DATA);
        self.send_reply(&reply);
        self.sync = Some(SyncPoint::Data);
        let unstuffer = DotUnstuffer::new()
            .with_max_line(self.config.max_text_line)
            .with_max_size(self.config.max_message_size);
        self.phase = Phase::Data(unstuffer);
        self.events
            .push_back(ServerEvent::DataStart { bdat: false });
    }

    fn bdat(&mut self, size: u64, last: bool) {
        let refusal = if !self.config.extensions.chunking {
            // Read the chunk anyway: its octets must never run as commands.
            Some(replies::NOT_IMPLEMENTED)
        } else {
            self.body_refusal()
        };
        if let Some(reply) = refusal {
            self.phase = Phase::Discard {
                chunk: BdatChunk::new(size, last),
                reply,
            };
            return;
        }
        let max = self.config.max_message_size;
        let Some(transaction) = self.transaction.as_mut() else {
            return;
        };
        let first = transaction.bdat.is_none();
        let receiver = transaction.bdat.get_or_insert(BdatReceiver::new(max));
        let started = receiver.start(size, last).is_ok();
        let too_big = receiver.too_big();
        transaction.envelope.bdat = true;
        if !started || too_big {
            // RFC 1870 §6 for BDAT: the announced total is over the
            // limit. The chunk is read and dropped, and the transaction
            // ends; chunks pipelined after it get 503 (RFC 3030 §2).
            let reply = if too_big {
                ErrorReply::TOO_BIG
            } else {
                replies::BAD_SEQUENCE
            };
            self.abort(AbortReason::BodyRefused(reply));
            self.phase = Phase::Discard {
                chunk: BdatChunk::new(size, last),
                reply,
            };
            return;
        }
        self.phase = Phase::Bdat;
        if first {
            self.events.push_back(ServerEvent::DataStart { bdat: true });
        }
    }

    fn starttls(&mut self) {
        if self.tls {
            // RFC 3207 §4.2: one TLS negotiation per connection.
            return self.refuse(Some(Verb::StartTls), replies::TLS_ALREADY_ACTIVE);
        }
        let Some(tls) = self.config.tls.clone() else {
            return self.refuse(Some(Verb::StartTls), replies::TLS_NOT_AVAILABLE);
        };
        if self.unprocessed() > 0 {
            // CVE-2011-0411: plaintext pipelined after STARTTLS.
            let injected = self.inbuf.get(self.start..).unwrap_or_default();
            let event = injection(injected);
            self.start = self.inbuf.len();
            self.events.push_back(event);
            self.send_error_reply(replies::INJECTION);
            return self.fail(ServerError::CommandInjection);
        }
        // RFC 3207 §4.2: forget everything learned in clear text.
        self.abort(AbortReason::Reset);
        self.helo = None;
        debug_assert!(self.backlog.is_empty(), "progress stops while replies wait");
        self.send_error_reply(replies::READY_FOR_TLS);
        match self.transport.start_server_tls(tls) {
            Ok(()) => {
                self.phase = Phase::Handshake;
                self.sync = Some(SyncPoint::StartTls);
                self.timer = Timer::Handshake;
                self.deadline
                    .set(self.now, self.config.timeouts.tls_handshake);
            }
            Err(error) => self.fail(ServerError::StartTls(error)),
        }
    }

    fn tls_established(&mut self) {
        self.tls = true;
        self.phase = Phase::Command;
        self.timer = Timer::Idle;
        self.deadline.set(self.now, self.config.timeouts.server);
        if let Some(info) = self.transport.tls_info() {
            self.events.push_back(ServerEvent::TlsEstablished(info));
        }
    }

    // -----------------------------------------------------------------
    // Decisions

    fn wait_for(&mut self, pending: Pending) {
        self.pending = Some(pending);
        // The client waits for us now, not we for it.
        self.deadline.clear();
    }

    fn answer(
        &mut self,
        now: Instant,
        reply: Option<Reply<'_>>,
        accepted: bool,
    ) -> Result<(), AnswerError> {
        let Some(pending) = self.pending.take() else {
            return Err(if self.is_closed() {
                AnswerError::Closed
            } else {
                AnswerError::NothingPending
            });
        };
        self.now = now;
        let default = match &pending {
            Pending::Mail(_) => replies::MAIL_OK,
            Pending::Rcpt(_) => replies::RCPT_OK,
            Pending::Message => replies::QUEUED,
        };
        match pending {
            Pending::Mail(mail) if accepted => {
                let (from, params) = *mail;
                let (helo, extended) = match &self.helo {
                    Some(helo) => (helo.name.clone(), helo.extended),
                    None => (Domain::Name(Cow::Borrowed("")), false),
                };
                self.transaction = Some(Box::new(Transaction {
                    envelope: Envelope {
                        helo,
                        extended,
                        tls: self.tls,
                        from,
                        params,
                        recipients: Vec::new(),
                        bdat: false,
                    },
                    rcpt_attempts: 0,
                    bdat: None,
                }));
            }
            Pending::Rcpt(rcpt) if accepted => {
                let (to, params) = *rcpt;
                if let Some(transaction) = self.transaction.as_mut() {
                    transaction
                        .envelope
                        .recipients
                        .push(Recipient { to, params });
                }
            }
            _ => {}
        }
        let closing = match reply {
            Some(reply) => {
                let closing = reply.code() == ReplyCode::SERVICE_NOT_AVAILABLE;
                self.send_reply(&reply);
                closing
            }
            None => {
                self.send_error_reply(default);
                false
            }
        };
        if closing {
            self.close(CloseReason::ServiceClosing);
        } else {
            self.deadline.set(now, self.config.timeouts.server);
            self.progress();
        }
        Ok(())
    }

    // -----------------------------------------------------------------
    // Output and closing

    fn greet(&mut self) {
        let text = format!("{} ESMTP", self.config.hostname);
        self.send_reply(&Reply::new(ReplyCode::SERVICE_READY, None, text));
        self.sync = Some(SyncPoint::Greeting);
        self.phase = Phase::Command;
        self.timer = Timer::Idle;
        self.deadline.set(self.now, self.config.timeouts.server);
    }

    /// Refuses a command by itself: sends the reply, reports it, and counts
    /// permanent refusals towards [`ServerConfig::max_errors`].
    fn refuse(&mut self, verb: Option<Verb>, reply: ErrorReply) {
        let reply = self.shape(reply);
        self.send_reply(&reply);
        let permanent = reply.is_permanent();
        self.events.push_back(ServerEvent::Refused { verb, reply });
        if permanent {
            self.errors += 1;
            if self.errors >= self.config.max_errors {
                self.goodbye(replies::TOO_MANY_ERRORS_CODE, replies::TOO_MANY_ERRORS_TEXT);
                self.close(CloseReason::TooManyErrors);
            }
        }
    }

    /// A `421` with the hostname (RFC 5321 §3.8).
    fn goodbye(&mut self, enhanced: crate::EnhancedCode, text: &str) {
        let reply = Reply::new(
            ReplyCode::SERVICE_NOT_AVAILABLE,
            Some(enhanced),
            format!("{} {text}", self.config.hostname),
        );
        self.send_reply(&reply);
    }

    fn shape(&self, reply: ErrorReply) -> Reply<'static> {
        let enhanced = self
            .config
            .extensions
            .enhanced_status_codes
            .then_some(reply.enhanced);
        Reply::new(reply.code, enhanced, reply.text)
    }

    fn send_error_reply(&mut self, reply: ErrorReply) {
        let reply = self.shape(reply);
        self.send_reply(&reply);
    }

    /// Encodes and queues a reply, without its enhanced code when
    /// ENHANCEDSTATUSCODES is off (RFC 2034 §3).
    fn send_reply(&mut self, reply: &Reply<'_>) {
        // Each line takes its text and at most 16 octets more: the code, a
        // separator, an enhanced code and its space, CRLF.
        let mut wire = Vec::with_capacity(reply.lines().iter().map(|line| line.len() + 16).sum());
        if reply.enhanced().is_some() && !self.config.extensions.enhanced_status_codes {
            let mut lines = reply.lines().iter();
            let first = lines.next().cloned().unwrap_or_default();
            let mut plain = Reply::new(reply.code(), None, first);
            for line in lines {
                plain.push_line(line.clone());
            }
            plain.encode(&mut wire);
        } else {
            reply.encode(&mut wire);
        }
        self.send_bytes(&wire);
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        if self.close_notify_sent {
            return;
        }
        self.unsent += bytes.len();
        if !self.backlog.is_empty() {
            self.backlog.extend_from_slice(bytes);
            return;
        }
        match self.transport.send(bytes) {
            Ok(taken) => {
                if let Some(rest) = bytes.get(taken..).filter(|rest| !rest.is_empty()) {
                    self.backlog.extend_from_slice(rest);
                }
            }
            Err(error) if error.is_fatal() => self.fail(error.into()),
            Err(_) => {}
        }
    }

    /// Moves waiting reply octets into the transport, then, once the
    /// session is closed and nothing waits, queues `close_notify`.
    fn pump(&mut self) {
        if !self.backlog.is_empty() {
            match self.transport.send(&self.backlog) {
                Ok(taken) => {
                    self.backlog.drain(..taken.min(self.backlog.len()));
                }
                // The transport failed or closed: nothing more can leave.
                Err(_) => self.backlog.clear(),
            }
            if self.backlog.is_empty() {
                self.backlog = Vec::new();
            }
        }
        if self.backlog.is_empty() && self.is_closed() && !self.close_notify_sent {
            // RFC 8446 §6.1, once TLS is up; nothing in the middle of a
            // handshake, where no session exists to close.
            if self.tls {
                self.transport.close_notify();
            }
            self.close_notify_sent = true;
        }
    }

    /// Ends the transaction in progress, if there is one.
    fn abort(&mut self, reason: AbortReason) {
        if self.transaction.take().is_some() {
            self.events
                .push_back(ServerEvent::MessageAborted { reason });
        }
    }

    /// Bytes arrived before a synchronisation reply left.
    fn violation(&mut self, sync: SyncPoint, bytes: &[u8]) {
        match sync {
            SyncPoint::Greeting => {
                self.send_error_reply(replies::EARLY_TALKER);
                self.fail(ServerError::EarlyTalker);
            }
            SyncPoint::Data => {
                self.send_error_reply(replies::PIPELINING_AFTER_DATA);
                self.fail(ServerError::PipelinedAfterData);
            }
            SyncPoint::StartTls => {
                // The 220 is queued and the stream is TLS from there on:
                // no reply can be sent in clear.
                self.events.push_back(injection(bytes));
                self.fail(ServerError::CommandInjection);
            }
        }
    }

    fn fail(&mut self, error: ServerError) {
        if self.error.is_none() {
            self.close(CloseReason::Failed(error));
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        let had_transaction =
            self.transaction.take().is_some() || matches!(self.pending, Some(Pending::Message));
        self.pending = None;
        if had_transaction {
            self.events.push_back(ServerEvent::MessageAborted {
                reason: AbortReason::Closed(reason.clone()),
            });
        }
        if let CloseReason::Failed(error) = &reason {
            self.error = Some(error.clone());
        }
        self.close = Some(reason);
        self.phase = Phase::Closed;
        self.deadline.clear();
        self.sync = None;
        self.inbuf = BytesMut::new();
        self.start = 0;
        self.lines = LineReader::for_commands();
        self.pump();
    }
}

/// The verb of a command line, when it is one this crate knows, whatever
/// its arguments (so that a SOR refuses `MAIL` with `530` even when its
/// arguments are wrong).
fn peek_verb(line: &[u8]) -> Option<Verb> {
    const VERBS: [Verb; 14] = [
        Verb::Ehlo,
        Verb::Helo,
        Verb::Mail,
        Verb::Rcpt,
        Verb::Data,
        Verb::Bdat,
        Verb::Rset,
        Verb::Noop,
        Verb::Quit,
        Verb::Vrfy,
        Verb::Expn,
        Verb::Help,
        Verb::StartTls,
        Verb::Auth,
    ];
    let word = line.split(|&b| b == b' ').next().unwrap_or_default();
    VERBS
        .into_iter()
        .find(|verb| word.eq_ignore_ascii_case(verb.as_str().as_bytes()))
}

/// The commands a SOR refuses before TLS (RFC 3207 §4, SecMX design).
fn needs_tls(verb: Verb) -> bool {
    matches!(
        verb,
        Verb::Mail | Verb::Rcpt | Verb::Data | Verb::Bdat | Verb::Vrfy | Verb::Expn | Verb::Auth
    )
}

fn injection(bytes: &[u8]) -> ServerEvent {
    let sample = bytes.get(..MAX_INJECTION_SAMPLE).unwrap_or(bytes);
    ServerEvent::Injection {
        sample: Bytes::copy_from_slice(sample),
        len: bytes.len(),
    }
}

/// The body content of one buffer of input: the pieces an unstuffer or a
/// BDAT receiver returned, in order.
///
/// Content that lies in one run of the buffer (no dot removed in between,
/// the usual case) becomes a chunk that shares the input buffer, with no
/// copy; anything else is copied into a chunk of its own.
struct BodyContent<'a> {
    /// The buffered input the pieces were borrowed from.
    input: &'a [u8],
    chunk: Chunk,
}

/// What [`BodyContent`] collected.
enum Chunk {
    Empty,
    /// `input[range]`.
    Shared(std::ops::Range<usize>),
    Copied(BytesMut),
}

impl<'a> BodyContent<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            chunk: Chunk::Empty,
        }
    }

    /// Where `piece` lies in the input, if it is a slice of it (the
    /// unstuffer may also return a static CR).
    fn locate(&self, piece: &[u8]) -> Option<std::ops::Range<usize>> {
        let offset = piece
            .as_ptr()
            .addr()
            .checked_sub(self.input.as_ptr().addr())?;
        let end = offset.checked_add(piece.len())?;
        (end <= self.input.len()).then_some(offset..end)
    }

    fn push(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        let at = self.locate(piece);
        match (&mut self.chunk, at) {
            (Chunk::Empty, Some(at)) => self.chunk = Chunk::Shared(at),
            (Chunk::Shared(run), Some(at)) if run.end == at.start => run.end = at.end,
            (Chunk::Copied(copy), _) => copy.extend_from_slice(piece),
            (Chunk::Empty | Chunk::Shared(_), _) => {
                let mut copy = BytesMut::with_capacity(self.input.len());
                if let Chunk::Shared(run) = &self.chunk {
                    copy.extend_from_slice(self.input.get(run.clone()).unwrap_or_default());
                }
                copy.extend_from_slice(piece);
                self.chunk = Chunk::Copied(copy);
            }
        }
    }

    fn finish(self) -> Chunk {
        self.chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], pieces: &[(usize, usize)], extra: Option<&'static [u8]>) -> Chunk {
        let mut body = BodyContent::new(input);
        for &(start, end) in pieces {
            body.push(&input[start..end]);
        }
        if let Some(extra) = extra {
            body.push(extra);
        }
        body.finish()
    }

    #[test]
    fn adjacent_body_pieces_share_the_input_buffer() {
        let input = b"line one\r\nline two\r\n";
        match collect(input, &[(0, 10), (10, 15), (15, 20)], None) {
            Chunk::Shared(run) => assert_eq!(run, 0..20),
            _ => panic!("adjacent pieces are one shared run"),
        }
        assert!(matches!(collect(input, &[], None), Chunk::Empty));
    }

    #[test]
    fn a_removed_dot_or_a_static_piece_makes_a_copy() {
        // RFC 5321 §4.5.2: "..x" gives ".x", so the pieces have a gap.
        let input = b"a\r\n..x\r\n";
        match collect(input, &[(0, 3), (4, 8)], None) {
            Chunk::Copied(copy) => assert_eq!(&copy[..], b"a\r\n.x\r\n"),
            _ => panic!("a gap is copied"),
        }
        match collect(input, &[(0, 3)], Some(b"\r")) {
            Chunk::Copied(copy) => assert_eq!(&copy[..], b"a\r\n\r"),
            _ => panic!("a piece from outside the input is copied"),
        }
    }

    #[test]
    fn peek_verb_ignores_arguments() {
        assert_eq!(peek_verb(b"mail FROM:<broken"), Some(Verb::Mail));
        assert_eq!(peek_verb(b"STARTTLS now"), Some(Verb::StartTls));
        assert_eq!(peek_verb(b"MAILX"), None);
        assert_eq!(peek_verb(b""), None);
    }

    #[test]
    fn sor_gate_rfc3207_4() {
        for verb in [
            Verb::Mail,
            Verb::Rcpt,
            Verb::Data,
            Verb::Bdat,
            Verb::Vrfy,
            Verb::Expn,
        ] {
            assert!(needs_tls(verb));
        }
        for verb in [
            Verb::Ehlo,
            Verb::Helo,
            Verb::Noop,
            Verb::Rset,
            Verb::Quit,
            Verb::StartTls,
        ] {
            assert!(!needs_tls(verb));
        }
    }

    #[test]
    fn bounds_fit_the_transport() {
        const {
            assert!(OUTPUT_HIGH_WATER + 2 * 1024 < crate::transport::MAX_SEND_BUFFER);
            assert!(INPUT_HIGH_WATER < MAX_INPUT_BUFFER);
        }
    }
}
