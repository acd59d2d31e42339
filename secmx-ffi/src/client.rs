//! The SMTP client session (RFC 5321) with STARTTLS (RFC 3207):
//! [`secmx_client`], the C face of [`secmx_core::ClientSession`].
//!
//! # Run loop (the drain rule of `secmx_core`, in C)
//!
//! 1. Connect, then [`secmx_client_new`].
//! 2. **Drain**: call [`secmx_client_poll_event`] until it returns
//!    `SECMX_RESULT_NOTHING`, acting on each event and releasing it with
//!    [`secmx_client_event_free`] (on `SECMX_CLIENT_EVENT_READY`: call
//!    [`secmx_client_send_message`] or [`secmx_client_quit`]); call
//!    [`secmx_client_take_output`] until it returns `SECMX_RESULT_NOTHING`,
//!    writing what it gives to the socket. Repeat while either produced
//!    something.
//! 3. After `SECMX_CLIENT_EVENT_CLOSED`, write the last output and close
//!    the socket, then [`secmx_client_free`].
//! 4. Wait for the socket or for [`secmx_client_poll_timeout`]. Bytes read:
//!    [`secmx_client_feed`]; end of file: [`secmx_client_feed_eof`]; the
//!    time came: [`secmx_client_handle_timeout`]. Go to 2.
//!
//! Every call that takes `now_ms` wants the caller's clock in
//! milliseconds (see the crate docs); it must not be earlier than the
//! `now_ms` given to [`secmx_client_new`].
//!
//! A session is not thread-safe: one call at a time per session.

use std::ffi::c_char;
use std::sync::Arc;

use secmx_core::client::CloseReason;
use secmx_core::rustls::pki_types::ServerName;
use secmx_core::{
    Body, Capabilities, ClientConfig, ClientEvent, ClientSession, Domain, Envelope, ForwardPath,
    MailParameters, Recipient, Reply, ReversePath, TlsInfo, TlsRequirement, TlsSkipReason,
};

use crate::clock::Clock;
use crate::config::{self, secmx_tls_client_config};
use crate::error::{self, secmx_result};
use crate::ffi::{self, Handle, Outbox, Storage, secmx_event_storage};

/// How much a client session insists on TLS; passed as a `uint32_t` to
/// [`secmx_client_new`].
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_tls_requirement {
    /// Never send STARTTLS.
    None = 0,
    /// STARTTLS when offered; go on in clear when it is not, with a
    /// `SECMX_CLIENT_EVENT_TLS_SKIPPED` event. A failed handshake ends the
    /// session: retry in clear on a new connection if policy allows.
    Opportunistic = 1,
    /// STARTTLS or nothing: no byte of the envelope is sent in clear.
    Required = 2,
}

/// The server offers STARTTLS (RFC 3207).
pub const SECMX_CAP_STARTTLS: u32 = 1 << 0;
/// PIPELINING (RFC 2920).
pub const SECMX_CAP_PIPELINING: u32 = 1 << 1;
/// SIZE (RFC 1870); the limit is in `size_limit`.
pub const SECMX_CAP_SIZE: u32 = 1 << 2;
/// 8BITMIME (RFC 6152).
pub const SECMX_CAP_8BITMIME: u32 = 1 << 3;
/// SMTPUTF8 (RFC 6531).
pub const SECMX_CAP_SMTPUTF8: u32 = 1 << 4;
/// CHUNKING (RFC 3030).
pub const SECMX_CAP_CHUNKING: u32 = 1 << 5;
/// DSN (RFC 3461).
pub const SECMX_CAP_DSN: u32 = 1 << 6;
/// REQUIRETLS (RFC 8689).
pub const SECMX_CAP_REQUIRETLS: u32 = 1 << 7;
/// ENHANCEDSTATUSCODES (RFC 2034).
pub const SECMX_CAP_ENHANCEDSTATUSCODES: u32 = 1 << 8;
/// BINARYMIME (RFC 3030).
pub const SECMX_CAP_BINARYMIME: u32 = 1 << 9;

/// MAIL parameter REQUIRETLS (RFC 8689 §4): the message travels only over
/// verified TLS.
pub const SECMX_MAIL_REQUIRETLS: u32 = 1 << 0;
/// MAIL parameter SMTPUTF8 (RFC 6531 §3.4); addresses may be UTF-8.
pub const SECMX_MAIL_SMTPUTF8: u32 = 1 << 1;
/// MAIL parameter BODY=8BITMIME (RFC 6152).
pub const SECMX_MAIL_BODY_8BITMIME: u32 = 1 << 2;
/// MAIL parameter BODY=BINARYMIME (RFC 3030), sent with BDAT.
pub const SECMX_MAIL_BODY_BINARYMIME: u32 = 1 << 3;

const MAIL_FLAGS: u32 = SECMX_MAIL_REQUIRETLS
    | SECMX_MAIL_SMTPUTF8
    | SECMX_MAIL_BODY_8BITMIME
    | SECMX_MAIL_BODY_BINARYMIME;

/// What a [`secmx_client_event`] reports.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_client_event_kind {
    /// No event: a zeroed or freed event.
    None = 0,
    /// The server's greeting, whatever its code: `reply_*`.
    Greeting = 1,
    /// The EHLO capabilities: `capabilities`, `size_limit`, `tls` (sent
    /// over TLS: the set after STARTTLS replaces the earlier one).
    Capabilities = 2,
    /// The TLS handshake finished: `tls_version`, `tls_cipher_suite`,
    /// `tls_cipher_suite_name`.
    TlsEstablished = 3,
    /// Under `OPPORTUNISTIC`, TLS was not used and the session goes on in
    /// clear: `skip_reason`, and `reply_*` when a reply was the reason.
    TlsSkipped = 4,
    /// The session can take a message ([`secmx_client_send_message`]) or
    /// quit ([`secmx_client_quit`]).
    Ready = 5,
    /// MAIL was refused (`reply_*`); the message was not sent.
    MailRejected = 6,
    /// The recipient at `recipient_index` was accepted (`reply_*`).
    RcptAccepted = 7,
    /// The recipient at `recipient_index` was refused (`reply_*`).
    RcptRejected = 8,
    /// Every recipient was refused; no byte of the body was sent.
    NoRecipientsAccepted = 9,
    /// The server took responsibility for the message (`reply_*`).
    MessageAccepted = 10,
    /// DATA, the end of data or BDAT was refused (`reply_*`).
    MessageRejected = 11,
    /// The session is over, always the last event: `close_reason`, with
    /// `reply_*` for a `421` or a refusal and `error`, `error_text` for a
    /// failure. Write the last output, then close the socket.
    Closed = 12,
    /// An event this version of the C API does not map; `error_text`
    /// describes it.
    Other = 255,
}

/// Why STARTTLS was not used, in `SECMX_CLIENT_EVENT_TLS_SKIPPED`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_tls_skip_reason {
    /// Not a `TLS_SKIPPED` event.
    None = 0,
    /// The EHLO reply did not list STARTTLS.
    NotOffered = 1,
    /// EHLO was answered `500`/`502`; the session went on with HELO.
    EhloNotSupported = 2,
    /// STARTTLS was answered `4xx`/`5xx`.
    Refused = 3,
    /// STARTTLS was answered with something else than one `220` line.
    BadReply = 4,
    /// A reason this version of the C API does not map.
    Other = 255,
}

/// Why a client session ended, in `SECMX_CLIENT_EVENT_CLOSED`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_client_close_reason {
    /// Not a `CLOSED` event.
    None = 0,
    /// QUIT was answered.
    Quit = 1,
    /// The server sent `421` (`reply_*`).
    ServiceClosing = 2,
    /// The server refused the session: a `4xx`/`5xx` greeting, or EHLO,
    /// HELO or RSET refused (`reply_*`).
    Rejected = 3,
    /// A fatal error: `error` and `error_text`.
    Error = 4,
    /// A reason this version of the C API does not map (`error_text`).
    Other = 255,
}

/// One client event, filled by [`secmx_client_poll_event`].
///
/// Fields that do not apply to the `kind` are 0, `false` or the empty
/// string: string fields are never NULL. The strings are owned by the
/// event and valid until [`secmx_client_event_free`], which every polled
/// event needs (also to be reused).
#[repr(C)]
pub struct secmx_client_event {
    /// What happened.
    pub kind: secmx_client_event_kind,
    /// The server's reply code, or 0.
    pub reply_code: u16,
    /// The reply's enhanced status code (`"2.0.0"`, RFC 3463), or `""`.
    pub reply_enhanced: *const c_char,
    /// The reply's text lines joined with a space, control characters
    /// escaped, or `""`.
    pub reply_text: *const c_char,
    /// `RCPT_ACCEPTED`, `RCPT_REJECTED`: the recipient's index in the
    /// `to` array of [`secmx_client_send_message`].
    pub recipient_index: usize,
    /// `CAPABILITIES`: they were sent over TLS.
    pub tls: bool,
    /// `CAPABILITIES`: the `SECMX_CAP_*` bits offered.
    pub capabilities: u32,
    /// `CAPABILITIES`: the SIZE limit in octets, 0 for none.
    pub size_limit: u64,
    /// `TLS_ESTABLISHED`: the TLS version (0x0303 TLS 1.2, 0x0304 TLS 1.3).
    pub tls_version: u16,
    /// `TLS_ESTABLISHED`: the IANA number of the cipher suite.
    pub tls_cipher_suite: u16,
    /// `TLS_ESTABLISHED`: the cipher suite's name.
    pub tls_cipher_suite_name: *const c_char,
    /// `TLS_SKIPPED`: why.
    pub skip_reason: secmx_tls_skip_reason,
    /// `CLOSED`: why.
    pub close_reason: secmx_client_close_reason,
    /// `CLOSED` by an error: its code (`SECMX_RESULT_TLS_ERROR`,
    /// `SECMX_RESULT_STARTTLS_FAILED`, `SECMX_RESULT_TIMEOUT`, …);
    /// `SECMX_RESULT_OK` otherwise.
    pub error: secmx_result,
    /// `CLOSED` by an error: what went wrong, or `""`.
    pub error_text: *const c_char,
    /// Private: owns the strings. Released by [`secmx_client_event_free`].
    pub owned: *mut secmx_event_storage,
}

impl secmx_client_event {
    fn empty() -> Self {
        Self {
            kind: secmx_client_event_kind::None,
            reply_code: 0,
            reply_enhanced: ffi::empty(),
            reply_text: ffi::empty(),
            recipient_index: 0,
            tls: false,
            capabilities: 0,
            size_limit: 0,
            tls_version: 0,
            tls_cipher_suite: 0,
            tls_cipher_suite_name: ffi::empty(),
            skip_reason: secmx_tls_skip_reason::None,
            close_reason: secmx_client_close_reason::None,
            error: secmx_result::Ok,
            error_text: ffi::empty(),
            owned: std::ptr::null_mut(),
        }
    }
}

/// The reply fields of an event: code, enhanced code, text.
pub(crate) fn reply_fields(
    storage: &mut Storage,
    reply: &Reply<'_>,
) -> (u16, *const c_char, *const c_char) {
    let enhanced = match reply.enhanced() {
        Some(code) => storage.text(&code.to_string()),
        None => ffi::empty(),
    };
    (reply.code().get(), enhanced, storage.text(&reply.text()))
}

/// The TLS fields of an event: version, cipher suite, its name.
pub(crate) fn tls_fields(storage: &mut Storage, info: &TlsInfo) -> (u16, u16, *const c_char) {
    let name = match info.cipher_suite.as_str() {
        Some(name) => storage.text(name),
        None => storage.text(&format!("{:?}", info.cipher_suite)),
    };
    (
        u16::from(info.protocol_version),
        u16::from(info.cipher_suite),
        name,
    )
}

fn capability_bits(caps: &Capabilities) -> u32 {
    [
        (caps.starttls(), SECMX_CAP_STARTTLS),
        (caps.pipelining(), SECMX_CAP_PIPELINING),
        (caps.size().is_some(), SECMX_CAP_SIZE),
        (caps.eight_bit_mime(), SECMX_CAP_8BITMIME),
        (caps.smtputf8(), SECMX_CAP_SMTPUTF8),
        (caps.chunking(), SECMX_CAP_CHUNKING),
        (caps.dsn(), SECMX_CAP_DSN),
        (caps.requiretls(), SECMX_CAP_REQUIRETLS),
        (caps.enhanced_status_codes(), SECMX_CAP_ENHANCEDSTATUSCODES),
        (caps.binary_mime(), SECMX_CAP_BINARYMIME),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |bits, (_, bit)| bits | bit)
}

fn convert_event(event: ClientEvent) -> secmx_client_event {
    let mut storage = Storage::default();
    let mut out = secmx_client_event::empty();
    let reply = |out: &mut secmx_client_event, storage: &mut Storage, reply: &Reply<'_>| {
        (out.reply_code, out.reply_enhanced, out.reply_text) = reply_fields(storage, reply);
    };
    out.kind = match event {
        ClientEvent::Greeting(r) => {
            reply(&mut out, &mut storage, &r);
            secmx_client_event_kind::Greeting
        }
        ClientEvent::Capabilities { tls, caps } => {
            out.tls = tls;
            out.capabilities = capability_bits(&caps);
            out.size_limit = caps.max_size().unwrap_or(0);
            secmx_client_event_kind::Capabilities
        }
        ClientEvent::TlsEstablished(info) => {
            (
                out.tls_version,
                out.tls_cipher_suite,
                out.tls_cipher_suite_name,
            ) = tls_fields(&mut storage, &info);
            secmx_client_event_kind::TlsEstablished
        }
        ClientEvent::TlsSkipped { reason } => {
            out.skip_reason = match reason {
                TlsSkipReason::NotOffered => secmx_tls_skip_reason::NotOffered,
                TlsSkipReason::EhloNotSupported(r) => {
                    reply(&mut out, &mut storage, &r);
                    secmx_tls_skip_reason::EhloNotSupported
                }
                TlsSkipReason::Refused(r) => {
                    reply(&mut out, &mut storage, &r);
                    secmx_tls_skip_reason::Refused
                }
                TlsSkipReason::BadReply(r) => {
                    reply(&mut out, &mut storage, &r);
                    secmx_tls_skip_reason::BadReply
                }
                _ => secmx_tls_skip_reason::Other,
            };
            secmx_client_event_kind::TlsSkipped
        }
        ClientEvent::Ready => secmx_client_event_kind::Ready,
        ClientEvent::MailRejected(r) => {
            reply(&mut out, &mut storage, &r);
            secmx_client_event_kind::MailRejected
        }
        ClientEvent::RcptAccepted { index, reply: r } => {
            out.recipient_index = index;
            reply(&mut out, &mut storage, &r);
            secmx_client_event_kind::RcptAccepted
        }
        ClientEvent::RcptRejected { index, reply: r } => {
            out.recipient_index = index;
            reply(&mut out, &mut storage, &r);
            secmx_client_event_kind::RcptRejected
        }
        ClientEvent::NoRecipientsAccepted => secmx_client_event_kind::NoRecipientsAccepted,
        ClientEvent::MessageAccepted(r) => {
            reply(&mut out, &mut storage, &r);
            secmx_client_event_kind::MessageAccepted
        }
        ClientEvent::MessageRejected(r) => {
            reply(&mut out, &mut storage, &r);
            secmx_client_event_kind::MessageRejected
        }
        ClientEvent::Closed { reason } => {
            out.close_reason = match reason {
                CloseReason::Quit => secmx_client_close_reason::Quit,
                CloseReason::ServiceClosing(r) => {
                    reply(&mut out, &mut storage, &r);
                    secmx_client_close_reason::ServiceClosing
                }
                CloseReason::Rejected(r) => {
                    reply(&mut out, &mut storage, &r);
                    secmx_client_close_reason::Rejected
                }
                CloseReason::Error(e) => {
                    out.error = error::client_error(&e);
                    out.error_text = storage.text(&e.to_string());
                    secmx_client_close_reason::Error
                }
                other => {
                    out.error_text = storage.text(&format!("{other:?}"));
                    secmx_client_close_reason::Other
                }
            };
            secmx_client_event_kind::Closed
        }
        other => {
            out.error_text = storage.text(&format!("{other:?}"));
            secmx_client_event_kind::Other
        }
    };
    out.owned = storage.into_raw();
    out
}

/// A client session: one SMTP connection from the sending side. Opaque;
/// owned by the caller from [`secmx_client_new`] until
/// [`secmx_client_free`].
pub struct secmx_client {
    _private: [u8; 0],
}

/// The Rust value behind a [`secmx_client`].
pub(crate) struct Client {
    session: ClientSession,
    clock: Clock,
    outbox: Outbox,
}

impl Handle for secmx_client {
    const TAG: u64 = 0x5345_434d_5802_0001;
    type Inner = Client;
}

fn requirement(value: u32) -> Result<TlsRequirement, secmx_result> {
    Ok(match value {
        v if v == secmx_tls_requirement::None as u32 => TlsRequirement::None,
        v if v == secmx_tls_requirement::Opportunistic as u32 => TlsRequirement::Opportunistic,
        v if v == secmx_tls_requirement::Required as u32 => TlsRequirement::Required,
        _ => return Err(secmx_result::InvalidArgument),
    })
}

/// A client session for a connection just opened (the greeting is the
/// first thing it waits for).
///
/// - `tls`: what to trust for STARTTLS, borrowed (the session keeps its
///   own reference; the config may be freed afterwards). May be NULL only
///   with `SECMX_TLS_REQUIREMENT_NONE`.
/// - `ehlo_name`: the client's own domain for EHLO (RFC 5321 §4.1.1.1),
///   ASCII, or an address literal such as `[192.0.2.1]`.
/// - `tls_requirement`: a [`secmx_tls_requirement`].
/// - `server_name`: the name the server's certificate must match, and the
///   SNI: normally the MX host name (or an IP address).
/// - `now_ms`: the caller's clock; later calls must not pass an earlier
///   time.
///
/// On success `*out` holds an owned pointer; free it with
/// [`secmx_client_free`]. On failure `*out` is NULL:
/// `SECMX_RESULT_INVALID_ADDRESS` for a bad EHLO name,
/// `SECMX_RESULT_INVALID_ARGUMENT` for a bad requirement or server name.
///
/// # Safety
///
/// `tls` is NULL or a live config; the strings are NUL-terminated; `out`
/// points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_new(
    tls: *const secmx_tls_client_config,
    ehlo_name: *const c_char,
    tls_requirement: u32,
    server_name: *const c_char,
    now_ms: u64,
    out: *mut *mut secmx_client,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        let requirement = requirement(tls_requirement)?;
        // SAFETY: the caller's contract for the strings.
        let (ehlo_name, server_name) =
            unsafe { (ffi::string(ehlo_name)?, ffi::string(server_name)?) };
        let tls_config = if tls.is_null() && requirement == TlsRequirement::None {
            config::client_config(secmx_core::rustls::RootCertStore::empty())?
        } else {
            // SAFETY: the caller's contract for `tls`.
            unsafe { ffi::with_ref(tls, |config| Ok(Arc::clone(config)))? }
        };
        let ehlo = Domain::parse(ehlo_name.as_bytes(), false)
            .map_err(|_| secmx_result::InvalidAddress)?
            .into_owned();
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| secmx_result::InvalidArgument)?;
        let clock = Clock::start(now_ms);
        let config = ClientConfig::new(ehlo, requirement, tls_config, server_name);
        let session = ClientSession::new(config, clock.instant(now_ms)?);
        let client = Client {
            session,
            clock,
            outbox: Outbox::default(),
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, ffi::into_raw::<secmx_client>(client)) }
    })
}

/// Releases a client session from [`secmx_client_new`]. NULL is a no-op.
///
/// # Safety
///
/// `client` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_free(client: *mut secmx_client) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(client) })
}

/// Bytes read from the server (`len` of them; copied, the buffer may be
/// reused at once). The session takes them all. A fatal error (a TLS
/// failure, a malformed reply, an injection) is not a result here: it
/// ends the session with a `SECMX_CLIENT_EVENT_CLOSED` event. Then drain.
///
/// # Safety
///
/// `client` is a live session; `data` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_feed(
    client: *mut secmx_client,
    now_ms: u64,
    data: *const u8,
    len: usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `data`.
        let data = unsafe { ffi::bytes(data, len)? };
        // SAFETY: the caller's contract for `client`.
        unsafe {
            ffi::with_mut(client, |c| {
                let now = c.clock.instant(now_ms)?;
                c.session.handle_input(now, data);
                Ok(())
            })
        }
    })
}

/// The server closed the connection (end of file). Then drain.
///
/// # Safety
///
/// `client` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_feed_eof(
    client: *mut secmx_client,
    now_ms: u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `client`.
        unsafe {
            ffi::with_mut(client, |c| {
                let now = c.clock.instant(now_ms)?;
                c.session.handle_eof(now);
                Ok(())
            })
        }
    })
}

/// Takes bytes to write to the server: copies up to `len` of them into
/// `buf` and their number into `*out_len` (as `read(2)` does; what did not
/// fit comes with the next call). `SECMX_RESULT_NOTHING` (and
/// `*out_len == 0`) when nothing waits. With `len == 0`,
/// `SECMX_RESULT_BUFFER_TOO_SMALL` and the number of bytes waiting in
/// `*out_len`.
///
/// # Safety
///
/// `client` is a live session; `buf` points to `len` writable bytes;
/// `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_take_output(
    client: *mut secmx_client,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `client`, `buf` and `out_len`.
        unsafe {
            ffi::with_mut(client, |c| {
                let session = &mut c.session;
                c.outbox
                    .refill(|out| while session.poll_transmit(out) > 0 {});
                c.outbox.take(buf, len, out_len)
            })
        }
    })
}

/// The next event, written to `*event`: `SECMX_RESULT_OK`, or
/// `SECMX_RESULT_NOTHING` (and a `SECMX_CLIENT_EVENT_NONE` event) when
/// there is none now. Each event returned with `SECMX_RESULT_OK` must be
/// released with [`secmx_client_event_free`] before `*event` is reused.
///
/// # Safety
///
/// `client` is a live session; `event` points to a writable
/// [`secmx_client_event`] (its old contents are overwritten, not freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_poll_event(
    client: *mut secmx_client,
    event: *mut secmx_client_event,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(event)?;
        // SAFETY: the caller's contract for `client`.
        let next = unsafe { ffi::with_mut(client, |c| Ok(c.session.poll_event()))? };
        let (value, result) = match next {
            Some(e) => (convert_event(e), Ok(())),
            None => (secmx_client_event::empty(), Err(secmx_result::Nothing)),
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(event, value)? };
        result
    })
}

/// Releases what a polled event owns and resets it to
/// `SECMX_CLIENT_EVENT_NONE` with empty strings. NULL, and an event
/// already freed or zeroed, are no-ops.
///
/// # Safety
///
/// `event` is NULL or points to an event filled by
/// [`secmx_client_poll_event`] (or zeroed), whose `owned` field was not
/// changed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_event_free(event: *mut secmx_client_event) {
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
        unsafe { event.write(secmx_client_event::empty()) };
    })
}

/// When to call [`secmx_client_handle_timeout`], in the caller's
/// milliseconds (rounded up), in `*out_ms`; `SECMX_RESULT_NOTHING` when
/// nothing is timed. Read it again after every call.
///
/// # Safety
///
/// `client` is a live session; `out_ms` points to a writable `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_poll_timeout(
    client: *const secmx_client,
    out_ms: *mut u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_ms)?;
        // SAFETY: the caller's contract for `client`.
        let at = unsafe {
            ffi::with_ref(client, |c| {
                Ok(c.session.poll_timeout().map(|at| c.clock.millis(at)))
            })?
        };
        let at = at.ok_or(secmx_result::Nothing)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out_ms, at) }
    })
}

/// The time passed: expires the wait that is due, if any. Then drain.
///
/// # Safety
///
/// `client` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_handle_timeout(
    client: *mut secmx_client,
    now_ms: u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `client`.
        unsafe {
            ffi::with_mut(client, |c| {
                let now = c.clock.instant(now_ms)?;
                c.session.handle_timeout(now);
                Ok(())
            })
        }
    })
}

/// `<path>` for a path given bare or in brackets.
fn bracketed(text: &str) -> String {
    if text.starts_with('<') {
        text.to_owned()
    } else {
        format!("<{text}>")
    }
}

fn envelope(from: &str, to: &[&str], flags: u32) -> Result<Envelope, secmx_result> {
    let utf8 = flags & SECMX_MAIL_SMTPUTF8 != 0;
    let reverse = ReversePath::parse(bracketed(from).as_bytes(), utf8)
        .map_err(|_| secmx_result::InvalidAddress)?
        .into_owned();
    let mut params = MailParameters {
        requiretls: flags & SECMX_MAIL_REQUIRETLS != 0,
        smtputf8: utf8,
        ..MailParameters::default()
    };
    if flags & SECMX_MAIL_BODY_BINARYMIME != 0 {
        params.body = Some(Body::BinaryMime);
    } else if flags & SECMX_MAIL_BODY_8BITMIME != 0 {
        params.body = Some(Body::EightBitMime);
    }
    let mut envelope = Envelope::new(reverse).with_params(params);
    for to in to {
        let path = ForwardPath::parse(bracketed(to).as_bytes(), utf8)
            .map_err(|_| secmx_result::InvalidAddress)?
            .into_owned();
        envelope = envelope.with_recipient(Recipient::new(path));
    }
    Ok(envelope)
}

/// Sends a message, after `SECMX_CLIENT_EVENT_READY`.
///
/// - `from`: the reverse-path, `"a@example.org"` or `"<a@example.org>"`;
///   `""` or `"<>"` for a bounce.
/// - `to`, `to_count`: the recipients, in the same forms; events name
///   them by their index here.
/// - `body`, `body_len`: the message (header and body, CRLF line ends,
///   not dot-stuffed); copied, the buffer may be reused at once.
/// - `flags`: `SECMX_MAIL_*` bits.
///
/// Results: `SECMX_RESULT_NOT_READY` before `READY`,
/// `SECMX_RESULT_SESSION_CLOSED`, `SECMX_RESULT_INVALID_ADDRESS`,
/// `SECMX_RESULT_INVALID_ARGUMENT` (no recipient, unknown flag),
/// `SECMX_RESULT_MESSAGE_TOO_BIG`, `SECMX_RESULT_EXTENSION_NOT_OFFERED`,
/// `SECMX_RESULT_REQUIRETLS_WITHOUT_TLS`. On any of them nothing was sent
/// and the session can take another message. Then drain.
///
/// # Safety
///
/// `client` is a live session; `from` and the `to_count` pointers at `to`
/// are NUL-terminated strings; `body` points to `body_len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_send_message(
    client: *mut secmx_client,
    now_ms: u64,
    from: *const c_char,
    to: *const *const c_char,
    to_count: usize,
    body: *const u8,
    body_len: usize,
    flags: u32,
) -> secmx_result {
    ffi::result_boundary(|| {
        if flags & !MAIL_FLAGS != 0 {
            return Err(secmx_result::InvalidArgument);
        }
        // SAFETY: the caller's contract for the strings and the body.
        let (from, to, body) = unsafe {
            let from = ffi::string(from)?;
            let to = ffi::pointers(to, to_count)?
                .iter()
                .map(|p| ffi::string(*p))
                .collect::<Result<Vec<_>, _>>()?;
            (from, to, ffi::bytes(body, body_len)?)
        };
        let envelope = envelope(from, &to, flags)?;
        let body = secmx_core::bytes::Bytes::copy_from_slice(body);
        // SAFETY: the caller's contract for `client`.
        unsafe {
            ffi::with_mut(client, |c| {
                let now = c.clock.instant(now_ms)?;
                c.session
                    .send_message(now, envelope, body)
                    .map_err(|e| error::submit_error(&e))
            })
        }
    })
}

/// Ends the session with QUIT, after `SECMX_CLIENT_EVENT_READY`.
/// `SECMX_RESULT_NOT_READY` while a message is under way or before the
/// session is ready; `SECMX_RESULT_SESSION_CLOSED` after it closed. Then
/// drain.
///
/// # Safety
///
/// `client` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_quit(client: *mut secmx_client, now_ms: u64) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `client`.
        unsafe {
            ffi::with_mut(client, |c| {
                let now = c.clock.instant(now_ms)?;
                if c.session.is_closed() {
                    return Err(secmx_result::SessionClosed);
                }
                c.session.quit(now).map_err(|_| secmx_result::NotReady)
            })
        }
    })
}

/// Whether the session waits for a message or QUIT. `false` for an
/// invalid pointer.
///
/// # Safety
///
/// `client` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_is_ready(client: *const secmx_client) -> bool {
    // SAFETY: the caller's contract for `client`.
    ffi::boundary(|| {
        unsafe { ffi::with_ref(client, |c| Ok(c.session.is_ready())) }.unwrap_or(false)
    })
}

/// Whether the session is over (the `CLOSED` event and the last output may
/// still wait). `false` for an invalid pointer.
///
/// # Safety
///
/// `client` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_is_closed(client: *const secmx_client) -> bool {
    // SAFETY: the caller's contract for `client`.
    ffi::boundary(|| {
        unsafe { ffi::with_ref(client, |c| Ok(c.session.is_closed())) }.unwrap_or(false)
    })
}

/// Whether the TLS handshake after STARTTLS finished. `false` for an
/// invalid pointer.
///
/// # Safety
///
/// `client` is NULL or a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_is_tls(client: *const secmx_client) -> bool {
    // SAFETY: the caller's contract for `client`.
    ffi::boundary(|| unsafe { ffi::with_ref(client, |c| Ok(c.session.is_tls())) }.unwrap_or(false))
}

/// The session's fatal error as a code: `SECMX_RESULT_OK` while there is
/// none (a session that quit, or was refused with a reply, has none).
///
/// # Safety
///
/// `client` is a live session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_error(client: *const secmx_client) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `client`.
        unsafe {
            ffi::with_ref(client, |c| match c.session.error() {
                Some(e) => Err(error::client_error(e)),
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
/// `client` is a live session; `buf` points to `len` writable bytes;
/// `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_client_error_text(
    client: *const secmx_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `client`.
        let text =
            unsafe { ffi::with_ref(client, |c| Ok(c.session.error().map(|e| e.to_string())))? };
        let text = ffi::c_string(&text.ok_or(secmx_result::Nothing)?);
        let text = text.to_str().map_err(|_| secmx_result::InvalidArgument)?;
        // SAFETY: the caller's contract for `buf` and `out_len`.
        unsafe { ffi::copy_text(text, buf, len, out_len) }
    })
}
