//! The SMTP server session (RFC 5321) with STARTTLS (RFC 3207), as a BER
//! or a SOR: [`secmx_server`], the C face of
//! [`secmx_core::ServerSession`].
//!
//! # Run loop (the drain rule of `secmx_core`, in C)
//!
//! 1. Per accepted connection, [`secmx_server_new`]. The greeting is
//!    queued at once.
//! 2. **Drain**: call [`secmx_server_poll_event`] until it returns
//!    `SECMX_RESULT_NOTHING`, acting on each event and releasing it with
//!    [`secmx_server_event_free`]; answer `MAIL_FROM`, `RCPT_TO` and
//!    `MESSAGE_COMPLETE` with [`secmx_server_accept`] or
//!    [`secmx_server_reject`] (a message only once it is stored). Call
//!    [`secmx_server_take_output`] until `SECMX_RESULT_NOTHING`, writing
//!    what it gives to the socket. Repeat while either produced something.
//!    Do this before the first read: the greeting must leave first.
//! 3. Bytes read: [`secmx_server_feed`]; it says how many it took. Drain.
//!    Keep the bytes it did not take and offer them again after draining;
//!    if it takes none, it waits for your answer to a decision
//!    ([`secmx_server_pending_decision`]): stop reading the socket until
//!    you give it.
//! 4. End of file: [`secmx_server_feed_eof`]; the time from
//!    [`secmx_server_poll_timeout`] came: [`secmx_server_handle_timeout`].
//!    Drain after each.
//! 5. After `SECMX_SERVER_EVENT_CLOSED`, take the last output (`221`,
//!    `421`, the TLS `close_notify` or alert), close the socket and
//!    [`secmx_server_free`].
//!
//! Output taken from [`secmx_server_take_output`] counts as sent: a reply
//! the client must see before it talks again (the greeting, the `354`,
//! the `220` to STARTTLS) is written to the socket before more input is
//! fed, or that input is treated as an attack (CVE-2011-0411).
//!
//! A session is not thread-safe: one call at a time per session.

use std::ffi::c_char;
use std::sync::Arc;

use secmx_core::server::{
    AbortReason, CloseReason, Decision, ServerConfig, ServerEvent, ServerMode, ServerSession,
};
use secmx_core::{Body, EnhancedCode, MailParameters, Reply, ReplyCode};

use crate::client::{reply_fields, tls_fields};
use crate::clock::Clock;
use crate::config::secmx_tls_server_config;
use crate::error::{self, secmx_result};
use crate::ffi::{self, Handle, Outbox, Storage, secmx_event_storage};

use crate::client::{
    SECMX_MAIL_BODY_8BITMIME, SECMX_MAIL_BODY_BINARYMIME, SECMX_MAIL_REQUIRETLS,
    SECMX_MAIL_SMTPUTF8,
};

/// How a server treats clients without TLS; passed as a `uint32_t` to
/// [`secmx_server_new`].
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_server_mode {
    /// Best effort receiver: offers STARTTLS when it has a certificate and
    /// takes mail in clear too.
    Ber = 0,
    /// Secure only receiver: before TLS, MAIL, RCPT, DATA and BDAT get
    /// `530 5.7.0 Must issue a STARTTLS command first`. Needs a
    /// certificate.
    Sor = 1,
}

/// What a [`secmx_server_event`] reports.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_server_event_kind {
    /// No event: a zeroed or freed event.
    None = 0,
    /// EHLO or HELO: `helo`, `extended`.
    Helo = 1,
    /// The TLS handshake finished: `tls_*`, `sni`. The client must say
    /// EHLO again; what was learned before is forgotten.
    TlsEstablished = 2,
    /// `MAIL FROM:`: `from`, `mail_flags`, `size` (the SIZE parameter, 0
    /// if none). **Decision**: accept or reject.
    MailFrom = 3,
    /// `RCPT TO:`: `to`. **Decision**: accept or reject.
    RcptTo = 4,
    /// The body starts (`bdat`: in BDAT chunks); `BODY_CHUNK`s follow.
    DataStart = 5,
    /// Message content, in order, dot-stuffing removed: `data`,
    /// `data_len`.
    BodyChunk = 6,
    /// The end of data arrived: `helo`, `extended`, `tls`, `bdat`, `from`,
    /// `mail_flags`, `recipients`, `recipient_count`, `size` (content
    /// octets), `body_flags`. **Decision**: store the message, and only
    /// once it is safely stored accept; or reject.
    MessageComplete = 7,
    /// The transaction ended without a message: `abort_reason`, with
    /// `reply_*` (body refused) or `close_reason` (session closed).
    MessageAborted = 8,
    /// The session refused a command by itself: `verb` (or `""`),
    /// `reply_*`. Nothing to answer.
    Refused = 9,
    /// Plaintext after STARTTLS before TLS (CVE-2011-0411): `data`,
    /// `data_len` (the first octets), `injected_len` (all of them). The
    /// session closes.
    Injection = 10,
    /// The session is over, always the last event: `close_reason`, and
    /// `error`, `error_text` for a failure.
    Closed = 11,
    /// An event this version of the C API does not map; `error_text`
    /// describes it.
    Other = 255,
}

/// Why a transaction ended without a message.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_abort_reason {
    /// Not a `MESSAGE_ABORTED` event.
    None = 0,
    /// RSET, HELO/EHLO or STARTTLS reset it.
    Reset = 1,
    /// The session refused the body (`reply_*`: too big, long line, bare
    /// line end).
    BodyRefused = 2,
    /// The session closed mid-transaction (`close_reason`).
    Closed = 3,
    /// A reason this version of the C API does not map.
    Other = 255,
}

/// Why a server session ended.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_server_close_reason {
    /// Not closed.
    None = 0,
    /// The client said QUIT and got `221`.
    Quit = 1,
    /// The client closed the connection.
    PeerClosed = 2,
    /// No command in time (`421 4.4.2` sent), or the handshake was too
    /// slow.
    Timeout = 3,
    /// Too many refused commands (`421 4.7.0` sent).
    TooManyErrors = 4,
    /// The application answered `421`.
    ServiceClosing = 5,
    /// A fatal error: `error`, `error_text`.
    Failed = 6,
    /// A reason this version of the C API does not map.
    Other = 255,
}

/// The decision a server session waits for.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_server_decision {
    /// Nothing pending.
    None = 0,
    /// A `MAIL_FROM` event.
    Mail = 1,
    /// A `RCPT_TO` event.
    Rcpt = 2,
    /// A `MESSAGE_COMPLETE` event.
    Message = 3,
}

/// The body held a CR not followed by LF (RFC 5321 §2.3.8).
pub const SECMX_BODY_BARE_CR: u32 = 1 << 0;
/// The body held an LF not preceded by CR (RFC 5321 §2.3.8).
pub const SECMX_BODY_BARE_LF: u32 = 1 << 1;
/// A line was longer than the limit (RFC 5321 §4.5.3.1.6).
pub const SECMX_BODY_LONG_LINE: u32 = 1 << 2;
/// The body went over the size limit (RFC 1870 §6).
pub const SECMX_BODY_TOO_BIG: u32 = 1 << 3;

/// One server event, filled by [`secmx_server_poll_event`].
///
/// Fields that do not apply to the `kind` are 0, `false`, NULL (`data`,
/// `recipients`) or the empty string (every `char *`). The memory is
/// owned by the event and valid until [`secmx_server_event_free`], which
/// every polled event needs (also to be reused).
#[repr(C)]
pub struct secmx_server_event {
    /// What happened.
    pub kind: secmx_server_event_kind,
    /// `HELO`, `MESSAGE_COMPLETE`: the HELO/EHLO name.
    pub helo: *const c_char,
    /// `HELO`, `MESSAGE_COMPLETE`: EHLO rather than HELO.
    pub extended: bool,
    /// `MAIL_FROM`, `MESSAGE_COMPLETE`: the reverse-path, `<a@b>` or `<>`.
    pub from: *const c_char,
    /// `RCPT_TO`: the forward-path, `<a@b>`.
    pub to: *const c_char,
    /// `MAIL_FROM`, `MESSAGE_COMPLETE`: `SECMX_MAIL_*` bits of the MAIL
    /// parameters.
    pub mail_flags: u32,
    /// `MAIL_FROM`: the SIZE parameter (0: none). `MESSAGE_COMPLETE`: the
    /// content's size in octets.
    pub size: u64,
    /// `MESSAGE_COMPLETE`: the accepted recipients (`<a@b>`), in order.
    pub recipients: *const *const c_char,
    /// `MESSAGE_COMPLETE`: how many.
    pub recipient_count: usize,
    /// `MESSAGE_COMPLETE`: the transaction ran under TLS.
    pub tls: bool,
    /// `DATA_START`, `MESSAGE_COMPLETE`: the body came in BDAT chunks.
    pub bdat: bool,
    /// `MESSAGE_COMPLETE`: `SECMX_BODY_*` bits.
    pub body_flags: u32,
    /// `BODY_CHUNK`: content; `INJECTION`: the first injected octets.
    pub data: *const u8,
    /// How many octets `data` holds.
    pub data_len: usize,
    /// `INJECTION`: how many octets were injected in all.
    pub injected_len: usize,
    /// `REFUSED`: the command's verb, or `""`.
    pub verb: *const c_char,
    /// `REFUSED`, `MESSAGE_ABORTED` (body refused): the reply code sent.
    pub reply_code: u16,
    /// The reply's enhanced status code, or `""`.
    pub reply_enhanced: *const c_char,
    /// The reply's text, or `""`.
    pub reply_text: *const c_char,
    /// `MESSAGE_ABORTED`: why.
    pub abort_reason: secmx_abort_reason,
    /// `CLOSED`, `MESSAGE_ABORTED` (closed): why the session ended.
    pub close_reason: secmx_server_close_reason,
    /// With `close_reason == FAILED`: the error's code.
    pub error: secmx_result,
    /// With `close_reason == FAILED`: what went wrong, or `""`.
    pub error_text: *const c_char,
    /// `TLS_ESTABLISHED`: the TLS version (0x0303, 0x0304).
    pub tls_version: u16,
    /// `TLS_ESTABLISHED`: the cipher suite's IANA number.
    pub tls_cipher_suite: u16,
    /// `TLS_ESTABLISHED`: the cipher suite's name.
    pub tls_cipher_suite_name: *const c_char,
    /// `TLS_ESTABLISHED`: the server name the client asked for (SNI), or
    /// `""`.
    pub sni: *const c_char,
    /// Private: owns the memory. Released by [`secmx_server_event_free`].
    pub owned: *mut secmx_event_storage,
}

impl secmx_server_event {
    fn empty() -> Self {
        Self {
            kind: secmx_server_event_kind::None,
            helo: ffi::empty(),
            extended: false,
            from: ffi::empty(),
            to: ffi::empty(),
            mail_flags: 0,
            size: 0,
            recipients: std::ptr::null(),
            recipient_count: 0,
            tls: false,
            bdat: false,
            body_flags: 0,
            data: std::ptr::null(),
            data_len: 0,
            injected_len: 0,
            verb: ffi::empty(),
            reply_code: 0,
            reply_enhanced: ffi::empty(),
            reply_text: ffi::empty(),
            abort_reason: secmx_abort_reason::None,
            close_reason: secmx_server_close_reason::None,
            error: secmx_result::Ok,
            error_text: ffi::empty(),
            tls_version: 0,
            tls_cipher_suite: 0,
            tls_cipher_suite_name: ffi::empty(),
            sni: ffi::empty(),
            owned: std::ptr::null_mut(),
        }
    }
}

fn mail_flags(params: &MailParameters<'_>) -> u32 {
    let mut flags = 0;
    if params.requiretls {
        flags |= SECMX_MAIL_REQUIRETLS;
    }
    if params.smtputf8 {
        flags |= SECMX_MAIL_SMTPUTF8;
    }
    match params.body {
        Some(Body::EightBitMime) => flags |= SECMX_MAIL_BODY_8BITMIME,
        Some(Body::BinaryMime) => flags |= SECMX_MAIL_BODY_BINARYMIME,
        _ => {}
    }
    flags
}

/// Fills the close fields; returns the reason.
fn close_reason(
    out: &mut secmx_server_event,
    storage: &mut Storage,
    reason: &CloseReason,
) -> secmx_server_close_reason {
    match reason {
        CloseReason::Quit => secmx_server_close_reason::Quit,
        CloseReason::PeerClosed => secmx_server_close_reason::PeerClosed,
        CloseReason::Timeout => secmx_server_close_reason::Timeout,
        CloseReason::TooManyErrors => secmx_server_close_reason::TooManyErrors,
        CloseReason::ServiceClosing => secmx_server_close_reason::ServiceClosing,
        CloseReason::Failed(e) => {
            out.error = error::server_error(e);
            out.error_text = storage.text(&e.to_string());
            secmx_server_close_reason::Failed
        }
        other => {
            out.error_text = storage.text(&format!("{other:?}"));
            secmx_server_close_reason::Other
        }
    }
}

fn convert_event(event: ServerEvent) -> secmx_server_event {
    let mut s = Storage::default();
    let mut out = secmx_server_event::empty();
    out.kind = match event {
        ServerEvent::Helo { name, extended } => {
            out.helo = s.text(&name.to_string());
            out.extended = extended;
            secmx_server_event_kind::Helo
        }
        ServerEvent::TlsEstablished(info) => {
            (
                out.tls_version,
                out.tls_cipher_suite,
                out.tls_cipher_suite_name,
            ) = tls_fields(&mut s, &info);
            if let Some(sni) = &info.sni {
                out.sni = s.text(sni);
            }
            secmx_server_event_kind::TlsEstablished
        }
        ServerEvent::MailFrom { from, params } => {
            out.from = s.text(&from.to_string());
            out.mail_flags = mail_flags(&params);
            out.size = params.size.unwrap_or(0);
            secmx_server_event_kind::MailFrom
        }
        ServerEvent::RcptTo { to, .. } => {
            out.to = s.text(&to.to_string());
            secmx_server_event_kind::RcptTo
        }
        ServerEvent::DataStart { bdat } => {
            out.bdat = bdat;
            secmx_server_event_kind::DataStart
        }
        ServerEvent::BodyChunk(bytes) => {
            out.data_len = bytes.len();
            out.data = s.bytes(bytes);
            secmx_server_event_kind::BodyChunk
        }
        ServerEvent::MessageComplete { envelope, report } => {
            out.helo = s.text(&envelope.helo.to_string());
            out.extended = envelope.extended;
            out.tls = envelope.tls;
            out.bdat = envelope.bdat;
            out.from = s.text(&envelope.from.to_string());
            out.mail_flags = mail_flags(&envelope.params);
            let recipients: Vec<String> = envelope
                .recipients
                .iter()
                .map(|r| r.to.to_string())
                .collect();
            out.recipient_count = recipients.len();
            out.recipients = s.texts(recipients.iter().map(String::as_str));
            out.size = report.size;
            out.body_flags = [
                (report.bare_cr, SECMX_BODY_BARE_CR),
                (report.bare_lf, SECMX_BODY_BARE_LF),
                (report.long_line, SECMX_BODY_LONG_LINE),
                (report.too_big, SECMX_BODY_TOO_BIG),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .fold(0, |bits, (_, bit)| bits | bit);
            secmx_server_event_kind::MessageComplete
        }
        ServerEvent::MessageAborted { reason } => {
            out.abort_reason = match reason {
                AbortReason::Reset => secmx_abort_reason::Reset,
                AbortReason::BodyRefused(reply) => {
                    (out.reply_code, out.reply_enhanced, out.reply_text) =
                        reply_fields(&mut s, &Reply::from(reply));
                    secmx_abort_reason::BodyRefused
                }
                AbortReason::Closed(reason) => {
                    out.close_reason = close_reason(&mut out, &mut s, &reason);
                    secmx_abort_reason::Closed
                }
                _ => secmx_abort_reason::Other,
            };
            secmx_server_event_kind::MessageAborted
        }
        ServerEvent::Refused { verb, reply } => {
            if let Some(verb) = verb {
                out.verb = s.text(&verb.to_string());
            }
            (out.reply_code, out.reply_enhanced, out.reply_text) = reply_fields(&mut s, &reply);
            secmx_server_event_kind::Refused
        }
        ServerEvent::Injection { sample, len } => {
            out.data_len = sample.len();
            out.data = s.bytes(sample);
            out.injected_len = len;
            secmx_server_event_kind::Injection
        }
        ServerEvent::Closed(reason) => {
            out.close_reason = close_reason(&mut out, &mut s, &reason);
            secmx_server_event_kind::Closed
        }
        other => {
            out.error_text = s.text(&format!("{other:?}"));
            secmx_server_event_kind::Other
        }
    };
    out.owned = s.into_raw();
    out
}

/// A server session: one SMTP connection from the receiving side. Opaque;
/// owned by the caller from [`secmx_server_new`] until
/// [`secmx_server_free`].
pub struct secmx_server {
    _private: [u8; 0],
}

/// The Rust value behind a [`secmx_server`].
pub(crate) struct Server {
    session: ServerSession,
    clock: Clock,
    outbox: Outbox,
}

impl Handle for secmx_server {
    const TAG: u64 = 0x5345_434d_5803_0001;
    type Inner = Server;
}

/// A server session for a connection just accepted; its greeting
/// (`220 <hostname> ESMTP`) waits in [`secmx_server_take_output`].
///
/// - `hostname`: the name in the greeting and the EHLO reply.
/// - `mode`: a [`secmx_server_mode`].
/// - `tls`: the certificate for STARTTLS, borrowed (the session keeps its
///   own reference; the config may be freed afterwards); NULL for no
///   STARTTLS, which a SOR refuses.
/// - `now_ms`: the caller's clock; later calls must not pass an earlier
///   time.
///
/// On success `*out` holds an owned pointer; free it with
/// [`secmx_server_free`]. On failure `*out` is NULL:
/// `SECMX_RESULT_CONFIG_ERROR` for a bad hostname or a SOR without TLS,
/// `SECMX_RESULT_INVALID_ARGUMENT` for a bad mode.
///
/// # Safety
///
/// `hostname` is NUL-terminated; `tls` is NULL or a live config; `out`
/// points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_new(
    hostname: *const c_char,
    mode: u32,
    tls: *const secmx_tls_server_config,
    now_ms: u64,
    out: *mut *mut secmx_server,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        let mode = match mode {
            m if m == secmx_server_mode::Ber as u32 => ServerMode::Ber,
            m if m == secmx_server_mode::Sor as u32 => ServerMode::Sor,
            _ => return Err(secmx_result::InvalidArgument),
        };
        // SAFETY: the caller's contract for `hostname`.
        let hostname = unsafe { ffi::string(hostname)? };
        let mut config = ServerConfig::new(hostname, mode);
        if !tls.is_null() {
            // SAFETY: the caller's contract for `tls`.
            config.tls = Some(unsafe { ffi::with_ref(tls, |c| Ok(Arc::clone(c)))? });
        }
        let clock = Clock::start(now_ms);
        let session = ServerSession::new(config, clock.instant(now_ms)?)
            .map_err(|_| secmx_result::ConfigError)?;
        let server = Server {
            session,
            clock,
            outbox: Outbox::default(),
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, ffi::into_raw::<secmx_server>(server)) }
    })
}

/// Releases a server session from [`secmx_server_new`]. NULL is a no-op.
///
/// # Safety
///
/// `server` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_free(server: *mut secmx_server) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(server) })
}

/// Bytes read from the client (`len` of them). The session takes some or
/// all: `*consumed` says how many (the rest was not copied; offer it again
/// after draining). It takes fewer while an event is unpolled, a decision
/// unanswered or output untaken; none while it waits for a decision.
///
/// A fatal error (TLS failure, early talker, injection) is returned:
/// `SECMX_RESULT_PROTOCOL_ERROR` or `SECMX_RESULT_TLS_ERROR`, with
/// `*consumed == len` (the session takes no more); the `CLOSED` event and
/// the goodbye still wait to be drained. Then drain.
///
/// # Safety
///
/// `server` is a live session; `data` points to `len` readable bytes;
/// `consumed` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_feed(
    server: *mut secmx_server,
    now_ms: u64,
    data: *const u8,
    len: usize,
    consumed: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(consumed)?;
        // SAFETY: the caller's contract for `data`.
        let data = unsafe { ffi::bytes(data, len)? };
        // SAFETY: the caller's contract for `server`.
        let (taken, result) = unsafe {
            ffi::with_mut(server, |s| {
                let now = s.clock.instant(now_ms)?;
                Ok(match s.session.handle_input(now, data) {
                    Ok(taken) => (taken, Ok(())),
                    Err(e) => (data.len(), Err(error::server_error(&e))),
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(consumed, taken)? };
        result
    })
}

/// The client closed the connection (end of file). Then drain.
///
/// # Safety
///
/// `server` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_feed_eof(
    server: *mut secmx_server,
    now_ms: u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `server`.
        unsafe {
            ffi::with_mut(server, |s| {
                let now = s.clock.instant(now_ms)?;
                s.session.handle_eof(now);
                Ok(())
            })
        }
    })
}

/// Takes bytes to write to the client, as
/// [`crate::client::secmx_client_take_output`] does: up to `len` into
/// `buf`, their number in `*out_len`; `SECMX_RESULT_NOTHING` when nothing
/// waits; with `len == 0`, `SECMX_RESULT_BUFFER_TOO_SMALL` and the number
/// waiting.
///
/// # Safety
///
/// `server` is a live session; `buf` points to `len` writable bytes;
/// `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_take_output(
    server: *mut secmx_server,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `server`, `buf` and `out_len`.
        unsafe {
            ffi::with_mut(server, |s| {
                let session = &mut s.session;
                s.outbox.refill(|out| session.poll_transmit(out));
                s.outbox.take(buf, len, out_len)
            })
        }
    })
}

/// The next event, written to `*event`: `SECMX_RESULT_OK`, or
/// `SECMX_RESULT_NOTHING` (and a `SECMX_SERVER_EVENT_NONE` event). Each
/// event returned with `SECMX_RESULT_OK` must be released with
/// [`secmx_server_event_free`] before `*event` is reused.
///
/// # Safety
///
/// `server` is a live session; `event` points to a writable
/// [`secmx_server_event`] (its old contents are overwritten, not freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_poll_event(
    server: *mut secmx_server,
    event: *mut secmx_server_event,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(event)?;
        // SAFETY: the caller's contract for `server`.
        let next = unsafe { ffi::with_mut(server, |s| Ok(s.session.poll_event()))? };
        let (value, result) = match next {
            Some(e) => (convert_event(e), Ok(())),
            None => (secmx_server_event::empty(), Err(secmx_result::Nothing)),
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(event, value)? };
        result
    })
}

/// Releases what a polled event owns and resets it to
/// `SECMX_SERVER_EVENT_NONE`. NULL, and an event already freed or
/// zeroed, are no-ops.
///
/// # Safety
///
/// `event` is NULL or points to an event filled by
/// [`secmx_server_poll_event`] (or zeroed), whose `owned` field was not
/// changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_event_free(event: *mut secmx_server_event) {
    ffi::boundary(|| {
        if event.is_null() || !event.is_aligned() {
            return;
        }
        // SAFETY: non-NULL and aligned; the caller promised a (possibly
        // zeroed) event. Only the `owned` field is read.
        let owned = unsafe { std::ptr::addr_of!((*event).owned).read() };
        // SAFETY: `owned` is NULL or the storage this event was given.
        unsafe { ffi::free(owned) };
        // SAFETY: as above; writing does not read the old contents.
        unsafe { event.write(secmx_server_event::empty()) };
    })
}

/// When to call [`secmx_server_handle_timeout`], in the caller's
/// milliseconds (rounded up), in `*out_ms`; `SECMX_RESULT_NOTHING` when
/// nothing is timed (a decision pending, or closed).
///
/// # Safety
///
/// `server` is a live session; `out_ms` points to a writable `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_poll_timeout(
    server: *const secmx_server,
    out_ms: *mut u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_ms)?;
        // SAFETY: the caller's contract for `server`.
        let at = unsafe {
            ffi::with_ref(server, |s| {
                Ok(s.session.poll_timeout().map(|at| s.clock.millis(at)))
            })?
        };
        let at = at.ok_or(secmx_result::Nothing)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out_ms, at) }
    })
}

/// The time passed: sends `421` to a client silent too long, or ends a
/// handshake that took too long. Then drain.
///
/// # Safety
///
/// `server` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_handle_timeout(
    server: *mut secmx_server,
    now_ms: u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `server`.
        unsafe {
            ffi::with_mut(server, |s| {
                let now = s.clock.instant(now_ms)?;
                s.session.handle_timeout(now);
                Ok(())
            })
        }
    })
}

/// Which decision the session waits for, in `*out` (a
/// [`secmx_server_decision`]); `SECMX_RESULT_NOTHING` (and
/// `SECMX_SERVER_DECISION_NONE`) when none.
///
/// # Safety
///
/// `server` is a live session; `out` points to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_pending_decision(
    server: *const secmx_server,
    out: *mut u32,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract for `server`.
        let pending = unsafe { ffi::with_ref(server, |s| Ok(s.session.pending_decision()))? };
        let decision = match pending {
            Some(Decision::Mail) => secmx_server_decision::Mail,
            Some(Decision::Rcpt) => secmx_server_decision::Rcpt,
            Some(Decision::Message) => secmx_server_decision::Message,
            None => secmx_server_decision::None,
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, decision as u32)? };
        if decision == secmx_server_decision::None {
            Err(secmx_result::Nothing)
        } else {
            Ok(())
        }
    })
}

/// A reply from the caller: `code` and `text`, which may start with an
/// enhanced status code (`"5.7.1 Relaying denied"`, RFC 3463). The text
/// holds no control characters and the line fits RFC 5321 §4.5.3.1.5.
fn caller_reply(code: u16, text: &str) -> Result<Reply<'static>, secmx_result> {
    let code = ReplyCode::new(code).ok_or(secmx_result::InvalidArgument)?;
    if text.chars().any(char::is_control) {
        return Err(secmx_result::InvalidArgument);
    }
    let (enhanced, rest) = match EnhancedCode::parse_prefix(text.as_bytes()) {
        Some((enhanced, used)) => (Some(enhanced), text.get(used..).unwrap_or("").trim_start()),
        None => (None, text),
    };
    let reply = Reply::new(code, enhanced, rest.to_owned());
    if reply.to_bytes().len() > secmx_core::limits::MAX_REPLY_LINE {
        return Err(secmx_result::InvalidArgument);
    }
    Ok(reply)
}

/// Accepts the pending MAIL (`250 2.1.0 Ok`), RCPT (`250 2.1.5 Ok`) or
/// message (`250 2.0.0 Ok: queued`: only once it is stored).
/// `SECMX_RESULT_NOT_READY` when nothing is pending,
/// `SECMX_RESULT_SESSION_CLOSED` when the session closed first (a message
/// answered so was never acknowledged: do not keep it). Then drain.
///
/// # Safety
///
/// `server` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_accept(
    server: *mut secmx_server,
    now_ms: u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `server`.
        unsafe {
            ffi::with_mut(server, |s| {
                let now = s.clock.instant(now_ms)?;
                s.session.accept(now).map_err(|e| error::answer_error(&e))
            })
        }
    })
}

/// As [`secmx_server_accept`], with the caller's own `2yz` reply (a queue
/// id in the text, say): `code`, and `text` optionally starting with an
/// enhanced status code. `SECMX_RESULT_INVALID_ARGUMENT` for a code that
/// is not `2yz`, control characters, or a line over 512 octets.
///
/// # Safety
///
/// `server` is a live session; `text` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_accept_with(
    server: *mut secmx_server,
    now_ms: u64,
    code: u16,
    text: *const c_char,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `text`.
        let reply = caller_reply(code, unsafe { ffi::string(text)? })?;
        // SAFETY: the caller's contract for `server`.
        unsafe {
            ffi::with_mut(server, |s| {
                let now = s.clock.instant(now_ms)?;
                s.session
                    .accept_with(now, reply)
                    .map_err(|e| error::answer_error(&e))
            })
        }
    })
}

/// Refuses the pending MAIL, RCPT or message with a `4yz` or `5yz` reply:
/// `code`, and `text` optionally starting with an enhanced status code
/// (`"5.7.1 Relaying denied"`). A `421` also closes the session.
/// `SECMX_RESULT_INVALID_ARGUMENT` for another class, control characters
/// or a line over 512 octets; otherwise as [`secmx_server_accept`]. Then
/// drain.
///
/// # Safety
///
/// `server` is a live session; `text` is NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_reject(
    server: *mut secmx_server,
    now_ms: u64,
    code: u16,
    text: *const c_char,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `text`.
        let reply = caller_reply(code, unsafe { ffi::string(text)? })?;
        // SAFETY: the caller's contract for `server`.
        unsafe {
            ffi::with_mut(server, |s| {
                let now = s.clock.instant(now_ms)?;
                s.session
                    .reject(now, reply)
                    .map_err(|e| error::answer_error(&e))
            })
        }
    })
}

/// Whether the session is over. `false` for an invalid pointer.
///
/// # Safety
///
/// `server` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_is_closed(server: *const secmx_server) -> bool {
    // SAFETY: the caller's contract for `server`.
    ffi::boundary(|| {
        unsafe { ffi::with_ref(server, |s| Ok(s.session.is_closed())) }.unwrap_or(false)
    })
}

/// Whether the TLS handshake after STARTTLS finished. `false` for an
/// invalid pointer.
///
/// # Safety
///
/// `server` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_is_tls(server: *const secmx_server) -> bool {
    // SAFETY: the caller's contract for `server`.
    ffi::boundary(|| unsafe { ffi::with_ref(server, |s| Ok(s.session.is_tls())) }.unwrap_or(false))
}

/// The session's fatal error as a code: `SECMX_RESULT_OK` while there is
/// none.
///
/// # Safety
///
/// `server` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_error(server: *const secmx_server) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `server`.
        unsafe {
            ffi::with_ref(server, |s| match s.session.error() {
                Some(e) => Err(error::server_error(e)),
                None => Ok(()),
            })
        }
    })
}

/// The text of the session's fatal error, copied into `buf` as
/// [`crate::error::secmx_result_text`] copies; `SECMX_RESULT_NOTHING` when
/// there is none.
///
/// # Safety
///
/// `server` is a live session; `buf` points to `len` writable bytes;
/// `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_server_error_text(
    server: *const secmx_server,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `server`.
        let text =
            unsafe { ffi::with_ref(server, |s| Ok(s.session.error().map(|e| e.to_string())))? };
        let text = ffi::c_string(&text.ok_or(secmx_result::Nothing)?);
        let text = text.to_str().map_err(|_| secmx_result::InvalidArgument)?;
        // SAFETY: the caller's contract for `buf` and `out_len`.
        unsafe { ffi::copy_text(text, buf, len, out_len) }
    })
}
