//! Delivery status notifications (RFC 3464) ready to queue: the bounce of
//! a message that failed (`Action: failed`, a `5.x.x` status) and the
//! warning for one still being retried (`Action: delayed`, `4.x.x`).
//!
//! ```text
//! From: Mail Delivery System <MAILER-DAEMON@reporting-mta>
//! To: <original sender>
//! Subject: Undelivered Mail Returned to Sender
//! Date: <now>                                         RFC 5322 §3.3
//! Message-ID: <token@reporting-mta>
//! Auto-Submitted: auto-replied                        RFC 3834 §5
//! MIME-Version: 1.0
//! Content-Type: multipart/report; report-type=delivery-status;
//!   boundary="..."                                    RFC 6522
//!
//! --boundary
//! Content-Type: text/plain; charset=us-ascii          the human part
//! --boundary
//! Content-Type: message/delivery-status               RFC 3464 §2
//!
//!   Reporting-MTA: dns; reporting-mta                 per message
//!   [Original-Envelope-Id: envid]
//!   [Arrival-Date: date]
//!
//!   [Original-Recipient: addr-type; address]          per recipient (ORCPT)
//!   Final-Recipient: rfc822; address
//!   Action: failed / delayed
//!   Status: 5.7.4
//!   [Remote-MTA: dns; host]
//!   [Diagnostic-Code: smtp; 550 5.7.1 text]
//!   [Last-Attempt-Date: date]
//!   [Will-Retry-Until: date]                          delayed only
//! --boundary
//! Content-Type: message/rfc822  or  text/rfc822-headers   (RFC 6522 §4)
//! --boundary--
//! ```
//!
//! The DSN goes out with a null reverse-path (`MAIL FROM:<>`, RFC 5321
//! §4.5.5) to the original sender ([`Dsn::rcpt_to`]); a message whose
//! sender was already null gets no DSN ([`DsnError::NullSender`]).
//!
//! Decisions where the RFCs leave room:
//! - What is returned: the whole message (RET=FULL, or no RET: RFC 3461
//!   §4.3 leaves the default to the MTA) as `message/rfc822`; only its
//!   header (RET=HDRS, and **always** for a REQUIRETLS message,
//!   RFC 8689 §5) as `text/rfc822-headers`. Either is cut at a line end to
//!   at most [`DsnBuilder::max_original`] octets (default
//!   [`DEFAULT_MAX_ORIGINAL`]), and the human part says so. The returned
//!   text is copied with bare LFs turned into CRLF and lines over 998
//!   octets broken (RFC 5322 §2.1.1).
//! - A DSN for a REQUIRETLS message is itself to be sent with REQUIRETLS
//!   ([`Dsn::require_tls`]): the header it returns is the sensitive
//!   message's.
//! - Fields are ASCII: a non-ASCII address is written with the `utf-8`
//!   address type in its ASCII form, `utf-8-addr-xtext` (RFC 6533 §3),
//!   and a non-ASCII or control character in a reply becomes `?`. Long
//!   fields are folded at spaces; a diagnostic is cut at
//!   [`MAX_DIAGNOSTIC`] characters.
//! - The boundary is built from the caller's Message-ID token, never
//!   from random numbers, and lengthened until it occurs nowhere in the
//!   parts.

use std::fmt::Write as _;

use secmx_core::{EnhancedCode, Orcpt, Reply, Ret};

use crate::date::format_rfc5322;

/// How many octets of the original message a DSN returns by default.
pub const DEFAULT_MAX_ORIGINAL: usize = 128 * 1024;

/// Most characters of a reply kept in a `Diagnostic-Code` field.
pub const MAX_DIAGNOSTIC: usize = 2000;

/// Longest line this module writes on its own before folding (RFC 5322
/// §2.1.1: lines SHOULD be at most 78 characters).
const FOLD_AT: usize = 78;

/// Longest line, CRLF not counted (RFC 5322 §2.1.1).
const MAX_LINE: usize = 998;

/// Longest line of a field when a word cannot be folded (RFC 5322
/// §2.1.1: at most 998 octets).
const MAX_FIELD_LINE: usize = 900;

/// The longest Message-ID token taken (RFC 5322 §2.1.1 keeps a line
/// under 998 octets; this leaves room for the host name).
const MAX_TOKEN: usize = 200;

/// Why a DSN could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DsnError {
    /// The original message had a null reverse-path: no DSN is ever sent
    /// about a DSN (RFC 5321 §4.5.5, RFC 3461 §6.2).
    #[error("the original sender is null: no DSN is sent for it (RFC 5321 §4.5.5)")]
    NullSender,
    /// No recipient to report on.
    #[error("a DSN needs at least one recipient")]
    NoRecipients,
    /// A field holds something that cannot be written into a header:
    /// CR, LF, NUL, `<` or `>` in an address, a host name that is not a
    /// DNS name, a Message-ID token that is not a `dot-atom-text`.
    #[error("invalid {0} for a DSN")]
    Invalid(&'static str),
    /// `Action: failed` with a status that is not `5.x.x`, or
    /// `Action: delayed` with one that is not `4.x.x` (RFC 3464 §2.3.4).
    #[error("status {status} does not go with action {action}")]
    StatusMismatch {
        /// The action.
        action: &'static str,
        /// The status.
        status: EnhancedCode,
    },
}

/// The `Action` of one recipient (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DsnAction {
    /// The message could not be delivered and will not be retried.
    Failed,
    /// Not delivered yet; still being retried.
    Delayed,
}

impl DsnAction {
    /// The field value.
    pub fn as_str(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
        }
    }
}

/// What a DSN says about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    action: DsnAction,
    address: String,
    status: EnhancedCode,
    original: Option<Orcpt<'static>>,
    remote_mta: Option<String>,
    diagnostic: Option<Reply<'static>>,
    last_attempt: Option<u64>,
    will_retry_until: Option<u64>,
    explanation: Option<String>,
}

impl DsnRecipient {
    /// A recipient the message failed for, with a `5.x.x` status.
    pub fn failed(address: impl Into<String>, status: EnhancedCode) -> Self {
        Self::new(DsnAction::Failed, address.into(), status)
    }

    /// A recipient still being retried, with a `4.x.x` status.
    pub fn delayed(address: impl Into<String>, status: EnhancedCode) -> Self {
        Self::new(DsnAction::Delayed, address.into(), status)
    }

    fn new(action: DsnAction, address: String, status: EnhancedCode) -> Self {
        Self {
            action,
            address,
            status,
            original: None,
            remote_mta: None,
            diagnostic: None,
            last_attempt: None,
            will_retry_until: None,
            explanation: None,
        }
    }

    /// The ORCPT parameter of the recipient (RFC 3461 §4.2), for
    /// `Original-Recipient`.
    #[must_use]
    pub fn original_recipient(mut self, orcpt: Orcpt<'static>) -> Self {
        self.original = Some(orcpt);
        self
    }

    /// The host that gave the decisive answer (`Remote-MTA`), with or
    /// without the final dot.
    #[must_use]
    pub fn remote_mta(mut self, host: impl Into<String>) -> Self {
        self.remote_mta = Some(host.into());
        self
    }

    /// The reply that decided (`Diagnostic-Code: smtp; ...`).
    #[must_use]
    pub fn diagnostic(mut self, reply: Reply<'static>) -> Self {
        self.diagnostic = Some(reply);
        self
    }

    /// When delivery was last tried (unix seconds).
    #[must_use]
    pub fn last_attempt(mut self, unix_seconds: u64) -> Self {
        self.last_attempt = Some(unix_seconds);
        self
    }

    /// Until when it will be retried (unix seconds; delayed only).
    #[must_use]
    pub fn will_retry_until(mut self, unix_seconds: u64) -> Self {
        self.will_retry_until = Some(unix_seconds);
        self
    }

    /// One more sentence for the human part (ASCII; other characters
    /// become `?`).
    #[must_use]
    pub fn explanation(mut self, text: impl Into<String>) -> Self {
        self.explanation = Some(text.into());
        self
    }

    /// The action.
    pub fn action(&self) -> DsnAction {
        self.action
    }

    /// The final recipient's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The status.
    pub fn status(&self) -> EnhancedCode {
        self.status
    }
}

/// A DSN ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dsn {
    /// The one recipient: the original sender. The reverse-path is null
    /// (`MAIL FROM:<>`).
    pub rcpt_to: String,
    /// The message, CRLF line ends, not dot-stuffed.
    pub message: Vec<u8>,
    /// The returned original holds 8-bit octets: send with
    /// `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
    /// The `To:` address is not ASCII: send with `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// The message being reported was a REQUIRETLS message: send this DSN
    /// with `REQUIRETLS` too (RFC 8689 §5).
    pub require_tls: bool,
}

/// Builds a [`Dsn`].
///
/// ```
/// use secmx_core::EnhancedCode;
/// use secmx_policy::dsn::{DsnBuilder, DsnRecipient};
///
/// let dsn = DsnBuilder::new("mx.example.org", "alice@example.org", "1712.q1", 1_700_000_000)
///     .recipient(
///         DsnRecipient::failed("bob@example.net", EnhancedCode::SECURITY_NOT_SUPPORTED)
///             .remote_mta("mx.example.net."),
///     )
///     .build(b"Subject: hi\r\n\r\nsecret\r\n")?;
/// assert_eq!(dsn.rcpt_to, "alice@example.org");
/// let text = String::from_utf8(dsn.message).unwrap();
/// assert!(text.contains("Status: 5.7.4\r\n"));
/// assert!(text.contains("Remote-MTA: dns; mx.example.net\r\n"));
/// # Ok::<(), secmx_policy::dsn::DsnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DsnBuilder<'a> {
    reporting_mta: &'a str,
    sender: &'a str,
    token: &'a str,
    now: u64,
    arrival: Option<u64>,
    envid: Option<&'a str>,
    ret: Option<Ret>,
    require_tls: bool,
    max_original: usize,
    recipients: Vec<DsnRecipient>,
}

impl<'a> DsnBuilder<'a> {
    /// A DSN from `reporting_mta` (this MTA's host name) to `sender` (the
    /// original reverse-path, without angle brackets; empty if it was
    /// null), with the Message-ID `<token@reporting_mta>` (`token` must
    /// be unique: the queue id and a counter will do) and the date `now`
    /// (unix seconds).
    pub fn new(reporting_mta: &'a str, sender: &'a str, token: &'a str, now: u64) -> Self {
        Self {
            reporting_mta,
            sender,
            token,
            now,
            arrival: None,
            envid: None,
            ret: None,
            require_tls: false,
            max_original: DEFAULT_MAX_ORIGINAL,
            recipients: Vec::new(),
        }
    }

    /// When the message arrived (`Arrival-Date`, unix seconds).
    #[must_use]
    pub fn arrival_date(mut self, unix_seconds: u64) -> Self {
        self.arrival = Some(unix_seconds);
        self
    }

    /// The ENVID parameter of the original MAIL (RFC 3461 §4.4),
    /// xtext-decoded, for `Original-Envelope-Id`.
    #[must_use]
    pub fn envid(mut self, envid: &'a str) -> Self {
        self.envid = Some(envid);
        self
    }

    /// The RET parameter of the original MAIL (RFC 3461 §4.3).
    #[must_use]
    pub fn ret(mut self, ret: Option<Ret>) -> Self {
        self.ret = ret;
        self
    }

    /// The original was a REQUIRETLS message (RFC 8689): only its header
    /// is returned, whatever RET said, and the DSN is to be sent with
    /// REQUIRETLS.
    #[must_use]
    pub fn require_tls(mut self, require_tls: bool) -> Self {
        self.require_tls = require_tls;
        self
    }

    /// Most octets of the original to return (0: none at all, and no
    /// third part).
    #[must_use]
    pub fn max_original(mut self, octets: usize) -> Self {
        self.max_original = octets;
        self
    }

    /// Adds a recipient.
    #[must_use]
    pub fn recipient(mut self, recipient: DsnRecipient) -> Self {
        self.recipients.push(recipient);
        self
    }

    /// Adds recipients.
    #[must_use]
    pub fn recipients(mut self, recipients: impl IntoIterator<Item = DsnRecipient>) -> Self {
        self.recipients.extend(recipients);
        self
    }

    /// Writes the DSN, returning the `original` message (as queued, with
    /// its header) or part of it.
    pub fn build(&self, original: &[u8]) -> Result<Dsn, DsnError> {
        self.check()?;
        let returned = Returned::new(original, self.ret, self.require_tls, self.max_original);

        let human = self.human_part(&returned);
        let status = self.status_part();
        let returned_bytes = returned.bytes();

        let boundary = choose_boundary(
            self.token,
            &[human.as_bytes(), status.as_bytes(), &returned_bytes],
        );

        let any_failed = self
            .recipients
            .iter()
            .any(|r| r.action == DsnAction::Failed);
        let subject = if any_failed {
            "Undelivered Mail Returned to Sender"
        } else {
            "Delayed Mail (still being retried)"
        };

        let mut m = String::with_capacity(1024 + human.len() + status.len());
        let _ = write!(
            m,
            "From: Mail Delivery System <MAILER-DAEMON@{mta}>\r\n\
             To: <{to}>\r\n\
             Subject: {subject}\r\n\
             Date: {date}\r\n\
             Message-ID: <{token}@{mta}>\r\n\
             Auto-Submitted: auto-replied\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status;\r\n\
             \tboundary=\"{boundary}\"\r\n\
             \r\n\
             This is a MIME-encapsulated delivery status notification.\r\n\
             \r\n\
             --{boundary}\r\n\
             Content-Description: Notification\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\
             \r\n\
             {human}\
             \r\n--{boundary}\r\n\
             Content-Description: Delivery report\r\n\
             Content-Type: message/delivery-status\r\n\
             \r\n\
             {status}",
            mta = self.reporting_mta,
            to = self.sender,
            date = format_rfc5322(self.now),
            token = self.token,
        );
        let mut message = m.into_bytes();
        let mut eight_bit = false;
        if let Some(kind) = returned.kind {
            eight_bit = returned_bytes.iter().any(|b| *b >= 0x80);
            let mut head = String::new();
            let _ = write!(
                head,
                "\r\n--{boundary}\r\nContent-Description: {}\r\nContent-Type: {}\r\n",
                match kind {
                    ReturnedKind::Message => "Returned message",
                    ReturnedKind::Headers => "Returned message header",
                },
                match kind {
                    ReturnedKind::Message => "message/rfc822",
                    ReturnedKind::Headers => "text/rfc822-headers",
                },
            );
            if eight_bit {
                head.push_str("Content-Transfer-Encoding: 8bit\r\n");
            }
            head.push_str("\r\n");
            message.extend_from_slice(head.as_bytes());
            message.extend_from_slice(&returned_bytes);
        }
        message.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        Ok(Dsn {
            rcpt_to: self.sender.to_owned(),
            message,
            eight_bit,
            smtputf8: !self.sender.is_ascii(),
            require_tls: self.require_tls,
        })
    }

    fn check(&self) -> Result<(), DsnError> {
        if self.sender.is_empty() {
            return Err(DsnError::NullSender);
        }
        if self.recipients.is_empty() {
            return Err(DsnError::NoRecipients);
        }
        if !is_dns_name(self.reporting_mta) {
            return Err(DsnError::Invalid("reporting MTA host name"));
        }
        if !is_address(self.sender) {
            return Err(DsnError::Invalid("sender address"));
        }
        if !is_token(self.token) {
            return Err(DsnError::Invalid("Message-ID token"));
        }
        if self.envid.is_some_and(|e| !is_header_text(e)) {
            return Err(DsnError::Invalid("ENVID"));
        }
        for r in &self.recipients {
            if !is_address(&r.address) {
                return Err(DsnError::Invalid("recipient address"));
            }
            if r.original
                .as_ref()
                .is_some_and(|o| !is_atom(&o.addr_type) || !is_header_text(&o.address))
            {
                return Err(DsnError::Invalid("ORCPT"));
            }
            if r.remote_mta.as_deref().is_some_and(|h| !is_dns_name(h)) {
                return Err(DsnError::Invalid("remote MTA host name"));
            }
            let class = match r.action {
                DsnAction::Failed => 5,
                DsnAction::Delayed => 4,
            };
            if r.status.class() != class {
                return Err(DsnError::StatusMismatch {
                    action: r.action.as_str(),
                    status: r.status,
                });
            }
        }
        Ok(())
    }

    /// The text/plain part, wrapped at 78 columns, ending in CRLF.
    fn human_part(&self, returned: &Returned<'_>) -> String {
        let mut out = String::new();
        let para = |out: &mut String, text: &str| {
            wrap_into(out, text, "");
            out.push_str("\r\n");
        };
        para(
            &mut out,
            &format!(
                "This is the mail system at host {}.",
                self.reporting_mta.trim_end_matches('.')
            ),
        );
        let failed: Vec<&DsnRecipient> = self
            .recipients
            .iter()
            .filter(|r| r.action == DsnAction::Failed)
            .collect();
        let delayed: Vec<&DsnRecipient> = self
            .recipients
            .iter()
            .filter(|r| r.action == DsnAction::Delayed)
            .collect();
        if !failed.is_empty() {
            para(
                &mut out,
                "Your message could not be delivered to the recipients below. \
                 This is a permanent error; the mail system has given up.",
            );
            for r in &failed {
                self.human_recipient(&mut out, r);
            }
        }
        if !delayed.is_empty() {
            para(
                &mut out,
                "Your message has not been delivered yet to the recipients below. \
                 The mail system will keep trying; you need not send it again.",
            );
            for r in &delayed {
                self.human_recipient(&mut out, r);
            }
        }
        if let Some(note) = returned.note() {
            wrap_into(&mut out, &note, "");
        }
        out
    }

    fn human_recipient(&self, out: &mut String, r: &DsnRecipient) {
        let domain = r.address.rsplit_once('@').map_or("", |(_, d)| d);
        out.push_str(&ascii(&format!("<{}>:", r.address)));
        out.push_str("\r\n");
        wrap_into(out, &explain(r.status, domain), "    ");
        if let Some(text) = &r.explanation {
            wrap_into(out, &ascii(text), "    ");
        }
        if let Some(reply) = &r.diagnostic {
            let host = r
                .remote_mta
                .as_deref()
                .map(|h| h.trim_end_matches('.'))
                .unwrap_or("the remote host");
            wrap_into(
                out,
                &format!("{host} said: {}", diagnostic_text(reply)),
                "    ",
            );
        }
        if let Some(until) = r.will_retry_until {
            wrap_into(
                out,
                &format!("It will be retried until {}.", format_rfc5322(until)),
                "    ",
            );
        }
        out.push_str("\r\n");
    }

    /// The message/delivery-status body (RFC 3464 §2), ending in CRLF.
    fn status_part(&self) -> String {
        let mut out = String::new();
        field(
            &mut out,
            "Reporting-MTA",
            &format!("dns; {}", self.reporting_mta.trim_end_matches('.')),
        );
        if let Some(envid) = self.envid {
            field(&mut out, "Original-Envelope-Id", &ascii(envid));
        }
        if let Some(t) = self.arrival {
            field(&mut out, "Arrival-Date", &format_rfc5322(t));
        }
        for r in &self.recipients {
            out.push_str("\r\n");
            if let Some(o) = &r.original {
                field(
                    &mut out,
                    "Original-Recipient",
                    &original_recipient(&o.addr_type, &o.address),
                );
            }
            field(&mut out, "Final-Recipient", &typed_address(&r.address));
            field(&mut out, "Action", r.action.as_str());
            field(&mut out, "Status", &r.status.to_string());
            if let Some(host) = &r.remote_mta {
                field(
                    &mut out,
                    "Remote-MTA",
                    &format!("dns; {}", host.trim_end_matches('.')),
                );
            }
            if let Some(reply) = &r.diagnostic {
                field(
                    &mut out,
                    "Diagnostic-Code",
                    &format!("smtp; {}", diagnostic_text(reply)),
                );
            }
            if let Some(t) = r.last_attempt {
                field(&mut out, "Last-Attempt-Date", &format_rfc5322(t));
            }
            if let (DsnAction::Delayed, Some(t)) = (r.action, r.will_retry_until) {
                field(&mut out, "Will-Retry-Until", &format_rfc5322(t));
            }
        }
        out
    }
}

/// The human explanation of a status for a recipient in `domain`.
fn explain(status: EnhancedCode, domain: &str) -> String {
    let d = domain.trim_end_matches('.');
    match (status.class(), status.subject(), status.detail()) {
        (5, 7, 4) => format!(
            "The recipient domain {d} has no receiver that accepts mail over TLS \
             with the certificate check this message requires. The message may \
             only travel encrypted (SecMX secure only sending), so no part of it \
             was sent. (RFC 3463 5.7.4: security features not supported.)"
        ),
        (5, 7, 30) => format!(
            "The message required TLS on every hop (REQUIRETLS, RFC 8689), and no \
             receiver for {d} accepted it over verified TLS while offering \
             REQUIRETLS. No part of the message was sent."
        ),
        (5, 1, 10) => format!(
            "The domain {d} publishes a null MX record: it accepts no mail \
             (RFC 7505)."
        ),
        (5, 1, 2) => format!("The domain {d} does not exist."),
        (5, 4, 4) => format!("No mail server could be found for the domain {d}."),
        (5, _, _) => format!("Delivery to {d} failed permanently (status {status})."),
        (4, 7, _) => format!(
            "The message could not yet be sent to {d} over a connection secure \
             enough for it (status {status})."
        ),
        _ => format!("Delivery to {d} is delayed (status {status})."),
    }
}

/// The reply as one ASCII line: code, enhanced code, the text lines
/// joined by spaces; at most [`MAX_DIAGNOSTIC`] characters.
fn diagnostic_text(reply: &Reply<'_>) -> String {
    let mut text = String::new();
    let _ = write!(text, "{}", reply.code());
    if let Some(e) = reply.enhanced() {
        let _ = write!(text, " {e}");
    }
    for line in reply.lines() {
        text.push(' ');
        text.push_str(line);
    }
    let mut text = ascii(text.trim_end());
    if text.len() > MAX_DIAGNOSTIC {
        // `ascii` made it one byte per character.
        text.truncate(MAX_DIAGNOSTIC - 3);
        text.push_str("...");
    }
    text
}

/// `rfc822; addr` for an ASCII address, `utf-8; <utf-8-addr-xtext>`
/// otherwise (RFC 6533 §3).
fn typed_address(address: &str) -> String {
    if address.is_ascii() {
        format!("rfc822; {address}")
    } else {
        format!("utf-8; {}", utf8_addr_xtext(address))
    }
}

fn original_recipient(addr_type: &str, address: &str) -> String {
    if address.is_ascii() {
        format!("{addr_type}; {address}")
    } else {
        format!("utf-8; {}", utf8_addr_xtext(address))
    }
}

/// RFC 6533 §3 `utf-8-addr-xtext`: printable ASCII but `\`, `+` and `=`
/// as they are, everything else `\x{HEX}`.
fn utf8_addr_xtext(address: &str) -> String {
    let mut out = String::with_capacity(address.len() + 8);
    for c in address.chars() {
        if c.is_ascii_graphic() && !matches!(c, '\\' | '+' | '=') {
            out.push(c);
        } else {
            let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
        }
    }
    out
}

/// ASCII only: other characters and controls (but TAB) become `?`.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else if c == '\t' {
                ' '
            } else {
                '?'
            }
        })
        .collect()
}

/// Writes `Name: value` folded at spaces before column 78 where it can be
/// (RFC 5322 §2.2.3), and never past 998 octets.
fn field(out: &mut String, name: &str, value: &str) {
    // Values are ASCII already; this keeps `split_at` below on character
    // boundaries whatever a caller passes.
    let value = ascii(value);
    out.push_str(name);
    out.push(':');
    let mut col = name.len() + 1;
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if col + 1 + word.len() > FOLD_AT && col > name.len() + 1 {
            out.push_str("\r\n");
            col = 0;
        }
        out.push(' ');
        col += 1;
        // A word too long for any line is cut (it only happens to a
        // reply's text, where one space more changes nothing).
        let mut rest = word;
        while col + rest.len() > MAX_FIELD_LINE {
            let take = MAX_FIELD_LINE.saturating_sub(col).max(1).min(rest.len());
            let (head, tail) = rest.split_at(take);
            out.push_str(head);
            out.push_str("\r\n ");
            col = 1;
            rest = tail;
        }
        out.push_str(rest);
        col += rest.len();
    }
    out.push_str("\r\n");
}

/// Wraps `text` (made ASCII) into lines of at most 78 columns where
/// words allow, each starting with `indent`, each ending in CRLF.
fn wrap_into(out: &mut String, text: &str, indent: &str) {
    let text = ascii(text);
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.len() > FOLD_AT {
            out.push_str("\r\n");
            col = 0;
        }
        if col == 0 {
            out.push_str(indent);
            col = indent.len();
        } else {
            out.push(' ');
            col += 1;
        }
        // A word longer than a line is cut (a reply's text can hold one).
        let mut rest = word;
        while col + rest.len() > MAX_FIELD_LINE {
            // ASCII (see above): every index is a character boundary.
            let take = MAX_FIELD_LINE.saturating_sub(col).max(1).min(rest.len());
            let (head, tail) = rest.split_at(take);
            out.push_str(head);
            out.push_str("\r\n");
            out.push_str(indent);
            col = indent.len();
            rest = tail;
        }
        out.push_str(rest);
        col += rest.len();
    }
    if col > 0 {
        out.push_str("\r\n");
    }
}

/// A DNS host name as `dns;` fields need it: letters, digits, `-`, `.`.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.')
}

/// Something that looks like `local@domain` and can go between `<` and
/// `>` in a header.
fn is_address(address: &str) -> bool {
    address.contains('@')
        && address.len() <= 512
        && is_header_text(address)
        && !address.contains(['<', '>', ' '])
}

/// No CR, LF, NUL or other control character.
fn is_header_text(text: &str) -> bool {
    !text.chars().any(|c| c.is_control())
}

fn is_atom(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// RFC 5322 §3.2.3 `dot-atom-text`, ASCII.
fn is_token(token: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    !token.is_empty()
        && token.len() <= MAX_TOKEN
        && !token.starts_with('.')
        && !token.ends_with('.')
        && !token.contains("..")
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || SPECIALS.contains(&b))
}

/// A boundary made of the token's letters and digits and a counter, that
/// occurs in none of `parts`.
fn choose_boundary(token: &str, parts: &[&[u8]]) -> String {
    let base: String = token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    let mut n: u64 = 0;
    loop {
        let candidate = format!("=_secmx_{base}_{n}");
        let needle = candidate.as_bytes();
        if !parts
            .iter()
            .any(|p| p.windows(needle.len()).any(|w| w == needle))
        {
            return candidate;
        }
        // Each failed candidate occurs in a part, and a part holds fewer
        // occurrences than its length: this ends.
        n += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReturnedKind {
    Message,
    Headers,
}

/// What of the original goes in the third part.
#[derive(Debug)]
struct Returned<'o> {
    kind: Option<ReturnedKind>,
    /// The slice of the original returned (before CRLF normalisation).
    slice: &'o [u8],
    original_len: usize,
    /// Only the header, because RET=HDRS or REQUIRETLS asked.
    headers_asked: bool,
    require_tls: bool,
    truncated: bool,
}

impl<'o> Returned<'o> {
    fn new(original: &'o [u8], ret: Option<Ret>, require_tls: bool, max: usize) -> Self {
        let headers_asked = require_tls || ret == Some(Ret::Hdrs);
        let header_end = header_end(original);
        let (kind, wanted) = if max == 0 {
            (None, &original[..0])
        } else if headers_asked {
            (
                Some(ReturnedKind::Headers),
                original.get(..header_end).unwrap_or(original),
            )
        } else if header_end <= max {
            (Some(ReturnedKind::Message), original)
        } else {
            (
                Some(ReturnedKind::Headers),
                original.get(..header_end).unwrap_or(original),
            )
        };
        let (slice, truncated) = if wanted.len() > max {
            (cut_at_line(wanted, max), true)
        } else {
            (wanted, false)
        };
        Self {
            kind,
            slice,
            original_len: original.len(),
            headers_asked,
            require_tls,
            truncated: truncated || (kind == Some(ReturnedKind::Headers) && !headers_asked),
        }
    }

    /// The returned octets with bare LF (and bare CR) made CRLF, lines
    /// over 998 octets broken (RFC 5322 §2.1.1), ending in CRLF.
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.slice.len() + 64);
        let mut prev = 0u8;
        let mut col = 0usize;
        for (i, &b) in self.slice.iter().enumerate() {
            match b {
                b'\n' if prev != b'\r' => out.extend_from_slice(b"\r\n"),
                b'\r' if self.slice.get(i + 1) != Some(&b'\n') => out.extend_from_slice(b"\r\n"),
                _ => {
                    if col == MAX_LINE && b != b'\r' && b != b'\n' {
                        out.extend_from_slice(b"\r\n");
                        col = 0;
                    }
                    out.push(b);
                }
            }
            col = if out.ends_with(b"\n") { 0 } else { col + 1 };
            prev = b;
        }
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn note(&self) -> Option<String> {
        let n = self.original_len;
        let cut = format!(
            " It is cut to its first {} octets (the message was {n} octets long).",
            self.slice.len()
        );
        let mut note = match self.kind {
            None => return Some("The original message is not included.".into()),
            Some(_) if self.require_tls => "Only the header of the original message is \
                 included: it was sent with REQUIRETLS (RFC 8689 section 5)."
                .to_owned(),
            Some(_) if self.headers_asked => "Only the header of the original message is \
                 included, as its sender asked (RET=HDRS)."
                .to_owned(),
            Some(_) if self.truncated => {
                return Some(format!(
                    "The original message was {n} octets long; only its first {} \
                     octets are included below.",
                    self.slice.len()
                ));
            }
            Some(_) => return None,
        };
        if self.truncated {
            note.push_str(&cut);
        }
        Some(note)
    }
}

/// Where the header of `message` ends: after the empty line, or the
/// whole message when there is none.
fn header_end(message: &[u8]) -> usize {
    if message.starts_with(b"\r\n") {
        return 2;
    }
    if message.starts_with(b"\n") {
        return 1;
    }
    let crlf = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = message.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => message.len(),
    }
}

/// The longest prefix of `text` of at most `max` octets that ends at a
/// line end (or exactly `max` octets when no line end is in range).
fn cut_at_line(text: &[u8], max: usize) -> &[u8] {
    let window = text.get(..max).unwrap_or(text);
    match window.iter().rposition(|b| *b == b'\n') {
        Some(i) => window.get(..=i).unwrap_or(window),
        None => window,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6533_3_utf8_addr_xtext() {
        assert_eq!(utf8_addr_xtext("a+b=c@d"), "a\\x{2B}b\\x{3D}c@d");
        assert_eq!(utf8_addr_xtext("pelé@exemple.fr"), "pel\\x{E9}@exemple.fr");
    }

    #[test]
    fn rfc5322_2_2_3_fields_fold_below_78() {
        let mut out = String::new();
        let long = "word ".repeat(60);
        field(&mut out, "Diagnostic-Code", &long);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= FOLD_AT, "{line:?}");
        }
        let unfolded = out.replace("\r\n ", " ");
        assert_eq!(
            unfolded.trim_end(),
            format!("Diagnostic-Code: {}", long.trim_end())
        );
    }

    #[test]
    fn headers_end_at_the_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_end(b"A: b\n\nbody"), 6);
        assert_eq!(header_end(b"A: b\r\n"), 6);
        assert_eq!(cut_at_line(b"aa\r\nbb\r\ncc", 9), b"aa\r\nbb\r\n");
        assert_eq!(cut_at_line(b"aaaaaa", 3), b"aaa");
    }
}
