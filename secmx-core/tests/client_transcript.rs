//! The client session against scripted server bytes in clear text
//! (RFC 5321, RFC 2920, RFC 3030, RFC 3207 stripping): every scenario runs
//! with the server's bytes delivered whole, in random chunks and one byte
//! at a time, and checks the exact bytes the client sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secmx_core::client::{
    ClientConfig, ClientError, ClientEvent, ClientSession, CloseReason, Envelope, Recipient,
    SubmitError, TimeoutKind, TlsRequirement, TlsSkipReason,
};
use secmx_core::proto::command::Verb;
use secmx_core::proto::ehlo::Keyword;
use secmx_core::proto::param::{Body, MailParameters, Notify, RcptParameters};
use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
use secmx_core::proto::reply::ReplyError;
use secmx_core::transport::{MAX_SEND_BUFFER, ring_provider};

// ---------------------------------------------------------------------------
// Harness

#[derive(Debug, Clone, Copy)]
enum Delivery {
    Whole,
    Chunks(u64),
    ByteByByte,
}

const DELIVERIES: [Delivery; 4] = [
    Delivery::Whole,
    Delivery::Chunks(0x5EC_0001),
    Delivery::Chunks(0x2920_3030),
    Delivery::ByteByByte,
];

fn tls_config() -> Arc<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Arc::new(config)
}

fn config(requirement: TlsRequirement) -> ClientConfig {
    ClientConfig::new(
        Domain::parse(b"client.example", false)
            .expect("valid domain")
            .into_owned(),
        requirement,
        tls_config(),
        rustls::pki_types::ServerName::try_from("mx.example.net").expect("valid name"),
    )
}

fn rp(path: &str) -> ReversePath<'static> {
    ReversePath::parse(path.as_bytes(), true)
        .expect("valid reverse-path")
        .into_owned()
}

fn fp(path: &str) -> ForwardPath<'static> {
    ForwardPath::parse(path.as_bytes(), true)
        .expect("valid forward-path")
        .into_owned()
}

fn envelope(to: &[&str]) -> Envelope {
    let mut envelope = Envelope::new(rp("<a@client.example>"));
    for path in to {
        envelope = envelope.with_recipient(fp(path));
    }
    envelope
}

/// The client and everything that came out of it.
struct Driver {
    client: ClientSession,
    now: Instant,
    delivery: Delivery,
    rng: u64,
    /// Bytes sent since the last check.
    wire: Vec<u8>,
    /// Every byte sent.
    all: Vec<u8>,
    events: Vec<ClientEvent>,
}

impl Driver {
    fn new(config: ClientConfig, delivery: Delivery) -> Self {
        let now = Instant::now();
        let rng = match delivery {
            Delivery::Chunks(seed) => seed | 1,
            _ => 1,
        };
        let mut driver = Self {
            client: ClientSession::new(config, now),
            now,
            delivery,
            rng,
            wire: Vec::new(),
            all: Vec::new(),
            events: Vec::new(),
        };
        driver.drain();
        driver
    }

    /// A session that has seen the greeting and this EHLO reply.
    fn after_ehlo(config: ClientConfig, delivery: Delivery, ehlo: &[u8]) -> Self {
        let mut d = Self::new(config, delivery);
        d.server(b"220 mx.example.net ESMTP\r\n");
        d.expect(b"EHLO client.example\r\n");
        d.server(ehlo);
        d
    }

    fn drain(&mut self) {
        loop {
            let mut progress = false;
            while let Some(event) = self.client.poll_event() {
                self.events.push(event);
                progress = true;
            }
            let mut out = Vec::new();
            while self.client.poll_transmit(&mut out) > 0 {
                progress = true;
            }
            self.wire.extend_from_slice(&out);
            self.all.extend_from_slice(&out);
            if !progress {
                return;
            }
        }
    }

    fn chunk_len(&mut self, left: usize) -> usize {
        match self.delivery {
            Delivery::Whole => left,
            Delivery::ByteByByte => 1,
            Delivery::Chunks(_) => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                (1 + (self.rng % 9) as usize).min(left)
            }
        }
    }

    /// The server sends `bytes`.
    fn server(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = self.chunk_len(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            self.client.handle_input(self.now, chunk);
            self.drain();
        }
    }

    /// The client sent exactly `bytes` since the last check.
    #[track_caller]
    fn expect(&mut self, bytes: &[u8]) {
        assert_eq!(
            String::from_utf8_lossy(&self.wire),
            String::from_utf8_lossy(bytes),
            "{:?}",
            self.delivery
        );
        self.wire.clear();
    }

    fn send(&mut self, envelope: Envelope, body: &[u8]) -> Result<(), SubmitError> {
        let result = self.client.send_message(self.now, envelope, body.to_vec());
        self.drain();
        result
    }

    fn quit(&mut self) {
        self.client.quit(self.now).expect("ready to quit");
        self.drain();
    }

    fn eof(&mut self) {
        self.client.handle_eof(self.now);
        self.drain();
    }

    /// Lets time run to the next deadline.
    fn time_out(&mut self) -> Duration {
        let at = self.client.poll_timeout().expect("a timer runs");
        let waited = at - self.now;
        self.now = at;
        self.client.handle_timeout(self.now);
        self.drain();
        waited
    }

    /// The events since the last call, as short tags.
    fn tags(&mut self) -> Vec<String> {
        self.events.drain(..).map(|e| tag(&e)).collect()
    }

    fn error(&self) -> Option<&ClientError> {
        self.client.error()
    }
}

fn tag(event: &ClientEvent) -> String {
    match event {
        ClientEvent::Greeting(r) => format!("greeting {}", r.code().get()),
        ClientEvent::Capabilities { tls, .. } => format!("caps tls={tls}"),
        ClientEvent::TlsEstablished(_) => "tls".into(),
        ClientEvent::TlsSkipped { reason } => match reason {
            TlsSkipReason::NotOffered => "skip not-offered".into(),
            TlsSkipReason::EhloNotSupported(r) => format!("skip ehlo {}", r.code().get()),
            TlsSkipReason::Refused(r) => format!("skip refused {}", r.code().get()),
            TlsSkipReason::BadReply(r) => format!("skip bad {}", r.code().get()),
            _ => "skip other".into(),
        },
        ClientEvent::Ready => "ready".into(),
        ClientEvent::MailRejected(r) => format!("mail-rejected {}", r.code().get()),
        ClientEvent::RcptAccepted { index, reply } => {
            format!("rcpt-ok {index} {}", reply.code().get())
        }
        ClientEvent::RcptRejected { index, reply } => {
            format!("rcpt-no {index} {}", reply.code().get())
        }
        ClientEvent::NoRecipientsAccepted => "no-rcpts".into(),
        ClientEvent::MessageAccepted(r) => format!("accepted {}", r.code().get()),
        ClientEvent::MessageRejected(r) => format!("rejected {}", r.code().get()),
        ClientEvent::Closed { reason } => match reason {
            CloseReason::Quit => "closed quit".into(),
            CloseReason::ServiceClosing(r) => format!("closed {}", r.code().get()),
            CloseReason::Rejected(r) => format!("closed rejected {}", r.code().get()),
            CloseReason::Error(_) => "closed error".into(),
            _ => "closed other".into(),
        },
        _ => "other".into(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const EHLO_PLAIN: &[u8] = b"250 mx.example.net\r\n";
const EHLO_PIPELINING: &[u8] = b"250-mx.example.net\r\n250 PIPELINING\r\n";

// ---------------------------------------------------------------------------
// Sessions that work

#[test]
fn one_command_at_a_time_without_pipelining_rfc5321_3_3() {
    for delivery in DELIVERIES {
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PLAIN);
        assert_eq!(d.tags(), ["greeting 220", "caps tls=false", "ready"]);
        d.send(envelope(&["<b@example.net>", "<c@example.net>"]), b"Hi\r\n")
            .expect("ready");
        d.expect(b"MAIL FROM:<a@client.example>\r\n");
        d.server(b"250 2.1.0 Ok\r\n");
        d.expect(b"RCPT TO:<b@example.net>\r\n");
        d.server(b"250 2.1.5 Ok\r\n");
        d.expect(b"RCPT TO:<c@example.net>\r\n");
        d.server(b"550 5.1.1 No such user\r\n");
        d.expect(b"DATA\r\n");
        d.server(b"354 End data with <CR><LF>.<CR><LF>\r\n");
        d.expect(b"Hi\r\n.\r\n");
        d.server(b"250 2.0.0 Ok: queued\r\n");
        d.expect(b"");
        d.quit();
        d.expect(b"QUIT\r\n");
        d.server(b"221 2.0.0 Bye\r\n");
        assert_eq!(
            d.tags(),
            [
                "rcpt-ok 0 250",
                "rcpt-no 1 550",
                "accepted 250",
                "ready",
                "closed quit"
            ]
        );
        assert!(d.client.is_closed());
        assert_eq!(d.error(), None);
        assert_eq!(d.client.poll_timeout(), None);
    }
}

#[test]
fn pipelining_sends_mail_rcpts_and_data_in_one_group_rfc2920_3_1() {
    for delivery in DELIVERIES {
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PIPELINING);
        d.tags();
        d.send(
            envelope(&["<b@example.net>", "<c@example.net>", "<d@example.net>"]),
            b".leading dot\r\nline\r\n",
        )
        .expect("ready");
        d.expect(
            b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.net>\r\n\
              RCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n",
        );
        // Nothing of the body before the 354 (RFC 2920 §3.1).
        d.server(b"250 ok\r\n250 ok\r\n450 4.2.0 busy\r\n");
        d.expect(b"");
        d.server(b"250 ok\r\n354 go\r\n");
        d.expect(b"..leading dot\r\nline\r\n.\r\n");
        d.server(b"250 queued\r\n");
        assert_eq!(
            d.tags(),
            [
                "rcpt-ok 0 250",
                "rcpt-no 1 450",
                "rcpt-ok 2 250",
                "accepted 250",
                "ready"
            ]
        );
    }
}

#[test]
fn chunking_sends_one_bdat_last_after_the_rcpt_replies_rfc3030_2() {
    for delivery in DELIVERIES {
        let ehlo = b"250-mx.example.net\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, ehlo);
        d.tags();
        // A bare LF becomes CRLF and a CRLF ends the body; no dot-stuffing.
        d.send(envelope(&["<b@example.net>"]), b".x\nend")
            .expect("ready");
        d.expect(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.net>\r\n");
        d.server(b"250 ok\r\n250 ok\r\n");
        d.expect(b"BDAT 9 LAST\r\n.x\r\nend\r\n");
        d.server(b"250 2.0.0 queued\r\n");
        assert_eq!(d.tags(), ["rcpt-ok 0 250", "accepted 250", "ready"]);

        // With SIZE too, the size declared on MAIL is the BDAT count, and
        // the line ends are still normalised (or, if there are none to
        // change, the body goes as it is).
        let ehlo = b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 CHUNKING\r\n";
        for (body, size, wire) in [
            (&b".x\nend"[..], 9, &b".x\r\nend\r\n"[..]),
            (b"a\r\nb\r\n", 6, b"a\r\nb\r\n"),
        ] {
            let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, ehlo);
            d.send(envelope(&["<b@example.net>"]), body).expect("ready");
            d.expect(
                format!("MAIL FROM:<a@client.example> SIZE={size}\r\nRCPT TO:<b@example.net>\r\n")
                    .as_bytes(),
            );
            d.server(b"250 ok\r\n250 ok\r\n");
            d.expect(&[format!("BDAT {size} LAST\r\n").as_bytes(), wire].concat());
        }

        // Without PIPELINING, one command at a time, then BDAT.
        let ehlo = b"250-mx.example.net\r\n250 CHUNKING\r\n";
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, ehlo);
        d.send(envelope(&["<b@example.net>"]), b"Hi\r\n")
            .expect("ready");
        d.expect(b"MAIL FROM:<a@client.example>\r\n");
        d.server(b"250 ok\r\n");
        d.expect(b"RCPT TO:<b@example.net>\r\n");
        d.server(b"250 ok\r\n");
        d.expect(b"BDAT 4 LAST\r\nHi\r\n");
        d.server(b"554 5.6.0 no\r\n");
        assert!(d.tags().ends_with(&["rejected 554".into(), "ready".into()]));
        // The refused chunk left a transaction: RSET before the next MAIL.
        d.send(envelope(&["<b@example.net>"]), b"Hi\r\n")
            .expect("ready");
        d.expect(b"RSET\r\n");
        d.server(b"250 ok\r\n");
        d.expect(b"MAIL FROM:<a@client.example>\r\n");
    }
}

#[test]
fn binarymime_goes_untouched_through_bdat_rfc3030_3() {
    let ehlo = b"250-mx.example.net\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, ehlo);
    let mut env = envelope(&["<b@example.net>"]);
    env.params.body = Some(Body::BinaryMime);
    d.send(env, b"\0\n\r.").expect("ready");
    d.expect(b"MAIL FROM:<a@client.example> BODY=BINARYMIME\r\n");
    d.server(b"250 ok\r\n");
    d.expect(b"RCPT TO:<b@example.net>\r\n");
    d.server(b"250 ok\r\n");
    d.expect(b"BDAT 4 LAST\r\n\0\n\r.");
}

#[test]
fn several_messages_share_a_session_with_rset_only_when_needed() {
    for delivery in DELIVERIES {
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PIPELINING);
        d.tags();
        // 1: delivered; no RSET needed afterwards.
        d.send(envelope(&["<b@example.net>"]), b"1\r\n")
            .expect("ready");
        d.expect(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        d.server(b"250 ok\r\n250 ok\r\n354 go\r\n");
        d.expect(b"1\r\n.\r\n");
        d.server(b"250 ok\r\n");
        // 2: DATA refused: the transaction stays open.
        d.send(envelope(&["<b@example.net>"]), b"2\r\n")
            .expect("ready");
        d.expect(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        d.server(b"250 ok\r\n250 ok\r\n451 4.3.0 try later\r\n");
        // 3: RSET goes first, in the same group.
        d.send(envelope(&["<b@example.net>"]), b"3\r\n")
            .expect("ready");
        d.expect(b"RSET\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        d.server(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        d.expect(b"3\r\n.\r\n");
        d.server(b"250 ok\r\n");
        assert_eq!(
            d.tags(),
            [
                "rcpt-ok 0 250",
                "accepted 250",
                "ready",
                "rcpt-ok 0 250",
                "rejected 451",
                "ready",
                "rcpt-ok 0 250",
                "accepted 250",
                "ready"
            ]
        );
    }
}

#[test]
fn a_100_kib_message_goes_out_stuffed_in_bounded_transmits() {
    let mut body = Vec::new();
    let mut line = 0;
    while body.len() < 100 * 1024 {
        if line % 10 == 0 {
            body.extend_from_slice(b".dotted line\r\n");
        } else {
            body.extend_from_slice(b"An ordinary line of message text, long enough.\r\n");
        }
        line += 1;
    }
    let mut expected = Vec::new();
    secmx_core::DotStuffer::stuff_all(&body, &mut expected);

    for ehlo in [
        EHLO_PIPELINING,
        b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
    ] {
        let chunking = contains(ehlo, b"CHUNKING");
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, ehlo);
        d.client
            .send_message(d.now, envelope(&["<b@example.net>"]), body.clone())
            .expect("ready");
        let mut out = Vec::new();
        while d.client.poll_transmit(&mut out) > 0 {}
        // Not through `server`, which would drain the body.
        let replies: &[u8] = if chunking {
            b"250 ok\r\n250 ok\r\n"
        } else {
            b"250 ok\r\n250 ok\r\n354 go\r\n"
        };
        d.client.handle_input(d.now, replies);
        // The body comes out a bounded piece per call.
        let mut total = Vec::new();
        loop {
            let mut piece = Vec::new();
            let n = d.client.poll_transmit(&mut piece);
            assert!(n <= MAX_SEND_BUFFER, "{n}");
            if n == 0 {
                break;
            }
            total.extend_from_slice(&piece);
        }
        if chunking {
            let header = format!("BDAT {} LAST\r\n", body.len());
            assert_eq!(&total[..header.len()], header.as_bytes());
            assert!(total[header.len()..] == body[..]);
        } else {
            assert!(total == expected);
        }
        d.server(b"250 ok\r\n");
        assert!(d.tags().contains(&"accepted 250".to_owned()));
    }
}

// ---------------------------------------------------------------------------
// Refusals

#[test]
fn every_recipient_refused_means_no_body_rfc2920_3_1() {
    for delivery in DELIVERIES {
        // Pipelined DATA refused.
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PIPELINING);
        d.tags();
        d.send(
            envelope(&["<b@example.net>", "<c@example.net>"]),
            b"secret\r\n",
        )
        .expect("ready");
        d.wire.clear();
        d.server(b"250 ok\r\n550 no\r\n550 no\r\n554 5.5.1 no valid recipients\r\n");
        assert_eq!(
            d.tags(),
            ["rcpt-no 0 550", "rcpt-no 1 550", "no-rcpts", "ready"]
        );
        d.expect(b"");

        // Pipelined DATA that still got 354: a lone dot, no body.
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PIPELINING);
        d.tags();
        d.send(envelope(&["<b@example.net>"]), b"secret\r\n")
            .expect("ready");
        d.wire.clear();
        d.server(b"250 ok\r\n550 no\r\n354 go\r\n");
        d.expect(b".\r\n");
        d.server(b"554 no recipients\r\n");
        assert_eq!(d.tags(), ["rcpt-no 0 550", "no-rcpts", "ready"]);
        assert!(!contains(&d.all, b"secret"));

        // Without pipelining, DATA is never sent.
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PLAIN);
        d.send(envelope(&["<b@example.net>"]), b"secret\r\n")
            .expect("ready");
        d.server(b"250 ok\r\n");
        d.server(b"550 no\r\n");
        assert!(!contains(&d.all, b"DATA") && !contains(&d.all, b"secret"));
        // MAIL was accepted: the next message starts with RSET.
        d.wire.clear();
        d.send(envelope(&["<b@example.net>"]), b"x\r\n")
            .expect("ready");
        d.expect(b"RSET\r\n");

        // With CHUNKING, BDAT is never sent.
        let ehlo = b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, ehlo);
        d.send(envelope(&["<b@example.net>"]), b"secret\r\n")
            .expect("ready");
        d.server(b"250 ok\r\n550 no\r\n");
        assert!(!contains(&d.all, b"BDAT") && !contains(&d.all, b"secret"));
        assert!(d.client.is_ready());
    }
}

#[test]
fn mail_refused_ends_the_message_without_recipient_events() {
    for delivery in DELIVERIES {
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PLAIN);
        d.tags();
        d.send(envelope(&["<b@example.net>"]), b"x\r\n")
            .expect("ready");
        d.wire.clear();
        d.server(b"553 5.7.1 sender refused\r\n");
        assert_eq!(d.tags(), ["mail-rejected 553", "ready"]);
        d.expect(b"");

        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PIPELINING);
        d.tags();
        d.send(envelope(&["<b@example.net>"]), b"x\r\n")
            .expect("ready");
        d.wire.clear();
        d.server(b"553 refused\r\n503 need MAIL\r\n");
        // Not ready until the whole group is answered.
        assert!(!d.client.is_ready());
        d.server(b"503 need MAIL\r\n");
        assert_eq!(d.tags(), ["mail-rejected 553", "ready"]);
        d.expect(b"");
        // No transaction is open: no RSET next time.
        d.send(envelope(&["<b@example.net>"]), b"x\r\n")
            .expect("ready");
        assert!(d.wire.starts_with(b"MAIL"));
    }
}

#[test]
fn greeting_refused_gets_quit_rfc5321_3_1() {
    for delivery in DELIVERIES {
        let mut d = Driver::new(config(TlsRequirement::Required), delivery);
        d.server(b"554 5.7.1 go away\r\n");
        d.expect(b"QUIT\r\n");
        assert_eq!(d.tags(), ["greeting 554", "closed rejected 554"]);
        assert_eq!(d.error(), None);

        // 421: the server is closing; nothing is sent.
        let mut d = Driver::new(config(TlsRequirement::Required), delivery);
        d.server(b"421 4.3.2 shutting down\r\n");
        d.expect(b"");
        assert_eq!(d.tags(), ["greeting 421", "closed 421"]);
    }
}

#[test]
fn ehlo_not_implemented_falls_back_to_helo_unless_tls_is_required_rfc5321_4_1_4() {
    for delivery in DELIVERIES {
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, b"502 no\r\n");
        d.expect(b"HELO client.example\r\n");
        d.server(b"250 mx.example.net\r\n");
        assert_eq!(d.tags(), ["greeting 220", "ready"]);
        assert_eq!(
            d.client.capabilities().map(|c| c.domain()),
            Some("mx.example.net")
        );

        let mut d = Driver::after_ehlo(
            config(TlsRequirement::Opportunistic),
            delivery,
            b"500 what\r\n",
        );
        d.expect(b"HELO client.example\r\n");
        d.server(b"250 mx.example.net\r\n");
        assert_eq!(d.tags(), ["greeting 220", "skip ehlo 500", "ready"]);

        let mut d = Driver::after_ehlo(config(TlsRequirement::Required), delivery, b"502 no\r\n");
        d.expect(b"QUIT\r\n");
        assert_eq!(d.error(), Some(&ClientError::StartTlsNotOffered));

        // Any other refusal of EHLO ends the session with QUIT.
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, b"550 no\r\n");
        d.expect(b"QUIT\r\n");
        assert_eq!(d.tags(), ["greeting 220", "closed rejected 550"]);
    }
}

// ---------------------------------------------------------------------------
// STARTTLS stripping (RFC 3207 §6)

/// The ways a server (or a man in the middle) can answer so that no TLS
/// happens, with what the session must call it.
/// (name, EHLO reply, reply to STARTTLS if it is sent)
type Stripping = (&'static str, &'static [u8], Option<&'static [u8]>);

fn stripping_cases() -> Vec<Stripping> {
    vec![
        ("not offered", EHLO_PIPELINING, None),
        (
            "454",
            b"250-mx\r\n250 STARTTLS\r\n",
            Some(b"454 4.7.0 TLS not available\r\n"),
        ),
        (
            "502",
            b"250-mx\r\n250 STARTTLS\r\n",
            Some(b"502 5.5.1 not implemented\r\n"),
        ),
        (
            "354",
            b"250-mx\r\n250 STARTTLS\r\n",
            Some(b"354 go ahead\r\n"),
        ),
        ("250", b"250-mx\r\n250 STARTTLS\r\n", Some(b"250 ok\r\n")),
        (
            "multi-line 220",
            b"250-mx\r\n250 STARTTLS\r\n",
            Some(b"220-go\r\n220 ahead\r\n"),
        ),
    ]
}

#[test]
fn stripping_under_required_stops_before_the_envelope_rfc3207_6() {
    for delivery in DELIVERIES {
        for (name, ehlo, starttls) in stripping_cases() {
            let mut d = Driver::after_ehlo(config(TlsRequirement::Required), delivery, ehlo);
            if let Some(reply) = starttls {
                d.expect(b"STARTTLS\r\n");
                d.server(reply);
            }
            d.expect(b"QUIT\r\n");
            let error = d.error().expect("a typed error").clone();
            match (name, &error) {
                ("not offered", ClientError::StartTlsNotOffered) => {}
                ("454" | "502", ClientError::StartTlsRefused(r)) => {
                    assert_eq!(r.code().get().to_string(), name)
                }
                ("354" | "250" | "multi-line 220", ClientError::StartTlsBadReply(_)) => {}
                other => panic!("{name}: {other:?}"),
            }
            assert!(error.is_starttls_failure());
            assert!(d.client.is_closed());
            assert!(!d.tags().contains(&"ready".to_owned()), "{name}");
            // The embedder cannot get a message out any more.
            assert_eq!(
                d.send(envelope(&["<b@example.net>"]), b"secret\r\n"),
                Err(SubmitError::Closed)
            );
            assert!(!contains(&d.all, b"MAIL"), "{name}");
            assert!(!contains(&d.all, b"secret"), "{name}");
            // Later bytes are ignored.
            d.server(b"250 ok\r\n");
            d.expect(b"");
        }
    }
}

#[test]
fn stripping_under_opportunistic_goes_on_in_clear_and_says_so() {
    for delivery in DELIVERIES {
        for (name, ehlo, starttls) in stripping_cases() {
            let mut d = Driver::after_ehlo(config(TlsRequirement::Opportunistic), delivery, ehlo);
            if let Some(reply) = starttls {
                d.expect(b"STARTTLS\r\n");
                d.server(reply);
            }
            let tags = d.tags();
            let skip = tags
                .iter()
                .find(|t| t.starts_with("skip"))
                .unwrap_or_else(|| panic!("{name}: {tags:?}"));
            let want = match name {
                "not offered" => "skip not-offered",
                "454" => "skip refused 454",
                "502" => "skip refused 502",
                "354" => "skip bad 354",
                "250" => "skip bad 250",
                _ => "skip bad 220",
            };
            assert_eq!(skip, want);
            assert_eq!(tags.last().map(String::as_str), Some("ready"));
            assert_eq!(d.error(), None);
            assert!(!d.client.is_tls());
            d.send(envelope(&["<b@example.net>"]), b"x\r\n")
                .expect("ready in clear");
            assert!(d.wire.starts_with(b"MAIL FROM:"), "{name}");
        }
    }
}

#[test]
fn tls_none_never_sends_starttls() {
    for delivery in DELIVERIES {
        let mut d = Driver::after_ehlo(
            config(TlsRequirement::None),
            delivery,
            b"250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n",
        );
        assert_eq!(d.tags(), ["greeting 220", "caps tls=false", "ready"]);
        d.expect(b"");
        assert!(d.client.capabilities().is_some_and(|c| c.starttls()));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // miri: the ClientHello key share runs ring's assembly
fn response_injection_after_the_220_is_never_read_cve_2021_38371() {
    for delivery in DELIVERIES {
        for requirement in [TlsRequirement::Required, TlsRequirement::Opportunistic] {
            let mut d = Driver::after_ehlo(
                config(requirement),
                delivery,
                b"250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
            );
            d.expect(b"STARTTLS\r\n");
            d.server(b"220 2.0.0 go ahead\r\n250-fake\r\n250 PIPELINING\r\n");
            assert_eq!(
                d.error(),
                Some(&ClientError::ResponseInjection),
                "{delivery:?}"
            );
            let tags = d.tags();
            assert_eq!(tags.last().map(String::as_str), Some("closed error"));
            assert!(!tags.contains(&"ready".to_owned()));
            // The injected 250 was not taken as an EHLO reply: no second
            // Capabilities event, no EHLO, no QUIT, nothing in clear.
            assert_eq!(tags.iter().filter(|t| t.starts_with("caps")).count(), 1);
            let after = &d.all[d.all.len() - d.wire.len()..];
            assert!(!contains(after, b"EHLO") && !contains(after, b"QUIT"));
            assert!(d.client.capabilities().is_none(), "pre-TLS caps forgotten");
        }
    }
}

// ---------------------------------------------------------------------------
// Strict reply accounting

#[test]
fn replies_that_answer_nothing_are_errors() {
    type Case = (&'static str, &'static [u8], &'static [&'static [u8]]);
    let cases: &[Case] = &[
        // The EHLO reply came with the greeting, before EHLO was sent.
        ("before the command", b"", &[b"220 mx\r\n250 mx\r\n"]),
        // A reply when the session is idle.
        ("idle", EHLO_PLAIN, &[b"250 extra\r\n"]),
        // One reply too many in a pipelined group: the fourth 250 answers
        // DATA, which wants 354.
        (
            "extra in group",
            EHLO_PIPELINING,
            &[b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"],
        ),
        // The final reply while the body has not gone out.
        (
            "during body",
            EHLO_PIPELINING,
            &[b"250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"],
        ),
        // 354 to MAIL.
        ("wrong kind", EHLO_PLAIN, &[b"354 what\r\n"]),
    ];
    for delivery in DELIVERIES {
        for &(name, ehlo, script) in cases {
            let mut d = Driver::new(config(TlsRequirement::None), delivery);
            if !ehlo.is_empty() {
                d.server(b"220 mx\r\n");
                d.server(ehlo);
                if name != "idle" {
                    d.send(envelope(&["<b@example.net>"]), b"body\r\n")
                        .expect("ready");
                }
            }
            d.wire.clear();
            for bytes in script {
                d.server(bytes);
            }
            let timing = name == "before the command" || name == "during body";
            if timing && !matches!(delivery, Delivery::Whole) {
                // Delivered in pieces, the 250 may come after EHLO (or the
                // body) left: then it is a fair reply. Only one that comes
                // in the same read is known to answer nothing.
                continue;
            }
            let error = d.error().unwrap_or_else(|| panic!("{name} {delivery:?}"));
            assert!(
                matches!(error, ClientError::UnexpectedReply(_)),
                "{name}: {error:?}"
            );
            assert!(d.client.is_closed());
            // No QUIT to a server that is out of step, no body.
            assert!(!contains(&d.wire, b"QUIT"), "{name}");
            if name != "during body" {
                assert!(!contains(&d.all, b"body"), "{name}");
            }
        }
    }
}

#[test]
fn a_421_at_any_time_closes_rfc5321_3_8() {
    for delivery in DELIVERIES {
        // Idle.
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PLAIN);
        d.tags();
        d.server(b"421 4.4.2 idle too long\r\n");
        assert_eq!(d.tags(), ["closed 421"]);
        assert_eq!(d.error(), None);
        // In the middle of a pipelined group.
        let mut d = Driver::after_ehlo(config(TlsRequirement::None), delivery, EHLO_PIPELINING);
        d.send(envelope(&["<b@example.net>"]), b"x\r\n")
            .expect("ready");
        d.wire.clear();
        d.tags();
        d.server(b"250 ok\r\n421 going down\r\n");
        assert_eq!(d.tags(), ["closed 421"]);
        d.expect(b"");
    }
}

#[test]
fn malformed_replies_are_typed_errors_rfc5321_4_2() {
    let long = {
        let mut line = b"250 ".to_vec();
        line.resize(600, b'x');
        line.extend_from_slice(b"\r\n");
        line
    };
    let endless = b"250-x\r\n".repeat(200);
    let cases: Vec<(&[u8], ReplyError)> = vec![
        (b"999 nope\r\n", ReplyError::InvalidCode),
        (b"25x ok\r\n", ReplyError::InvalidCode),
        (b"250xok\r\n", ReplyError::InvalidSeparator),
        (
            b"250-a\r\n251 b\r\n",
            ReplyError::MismatchedCode {
                first: secmx_core::ReplyCode::OK,
                found: secmx_core::ReplyCode::new(251).expect("valid"),
            },
        ),
        (&long, ReplyError::LineTooLong),
        (&endless, ReplyError::TooManyLines),
        (b"250 ok\n", ReplyError::BareLf),
        (b"250 o\rk\r\n", ReplyError::BareCr),
    ];
    for delivery in DELIVERIES {
        for (bytes, want) in &cases {
            let mut d = Driver::new(config(TlsRequirement::None), delivery);
            d.server(b"220 mx\r\n");
            d.wire.clear();
            d.server(bytes);
            assert_eq!(
                d.error(),
                Some(&ClientError::Reply(want.clone())),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
            assert!(d.client.is_closed());
            d.expect(b"");
        }
    }
}

#[test]
fn end_of_file_loses_the_message_unless_quitting() {
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, EHLO_PLAIN);
    d.send(envelope(&["<b@example.net>"]), b"x\r\n")
        .expect("ready");
    d.eof();
    assert_eq!(d.error(), Some(&ClientError::ConnectionLost));

    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, EHLO_PLAIN);
    d.quit();
    d.tags();
    d.eof();
    assert_eq!(d.tags(), ["closed quit"]);
    assert_eq!(d.error(), None);
}

// ---------------------------------------------------------------------------
// What a message needs from the server

#[test]
fn messages_the_server_cannot_take_are_refused_before_mail() {
    let ehlo = b"250-mx\r\n250-SIZE 1000\r\n250 PIPELINING\r\n";
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, ehlo);
    d.wire.clear();
    let big = vec![b'x'; 1000];
    assert_eq!(
        d.send(envelope(&["<b@example.net>"]), &big),
        // 1000 octets plus the CRLF that ends the body (RFC 1870 §4).
        Err(SubmitError::TooBig {
            size: 1002,
            limit: 1000
        })
    );
    assert_eq!(d.send(envelope(&[]), b"x"), Err(SubmitError::NoRecipients));
    let with = |f: fn(&mut MailParameters<'static>)| {
        let mut env = envelope(&["<b@example.net>"]);
        f(&mut env.params);
        env
    };
    let cases: Vec<(Envelope, SubmitError)> = vec![
        (
            with(|p| p.smtputf8 = true),
            SubmitError::NotOffered(Keyword::SmtpUtf8),
        ),
        (
            with(|p| p.body = Some(Body::EightBitMime)),
            SubmitError::NotOffered(Keyword::EightBitMime),
        ),
        (
            with(|p| p.body = Some(Body::BinaryMime)),
            SubmitError::NotOffered(Keyword::BinaryMime),
        ),
        (
            with(|p| p.requiretls = true),
            SubmitError::RequireTlsWithoutTls,
        ),
        (
            with(|p| p.ret = Some(secmx_core::Ret::Hdrs)),
            SubmitError::NotOffered(Keyword::Dsn),
        ),
        (
            envelope(&[]).with_recipient(Recipient::new(fp("<b@example.net>")).with_params(
                RcptParameters {
                    notify: Some(Notify::NEVER),
                    ..RcptParameters::default()
                },
            )),
            SubmitError::NotOffered(Keyword::Dsn),
        ),
        (
            Envelope::new(rp("<ü@client.example>")).with_recipient(fp("<b@example.net>")),
            SubmitError::NonAsciiWithoutSmtpUtf8,
        ),
    ];
    for (env, want) in cases {
        assert_eq!(d.send(env, b"x\r\n"), Err(want));
    }
    // Nothing went out, and the session still takes a message; SIZE is
    // declared because the server offers it.
    d.expect(b"");
    assert!(d.client.is_ready());
    d.send(envelope(&["<b@example.net>"]), b"x\r\n")
        .expect("ready");
    assert!(
        d.wire
            .starts_with(b"MAIL FROM:<a@client.example> SIZE=3\r\n")
    );
}

#[test]
fn parameters_follow_the_capabilities() {
    // SIZE given by the embedder is dropped when the server has no SIZE;
    // BODY=7BIT needs 8BITMIME.
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, EHLO_PLAIN);
    let mut env = envelope(&["<b@example.net>"]);
    env.params.size = Some(5);
    env.params.body = Some(Body::SevenBit);
    d.send(env, b"x\r\n").expect("ready");
    d.expect(b"MAIL FROM:<a@client.example>\r\n");

    let ehlo = b"250-mx\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 DSN\r\n";
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, ehlo);
    let mut env = Envelope::new(rp("<ü@client.example>")).with_recipient(
        Recipient::new(fp("<b@example.net>")).with_params(RcptParameters {
            notify: Some(Notify::NEVER),
            ..RcptParameters::default()
        }),
    );
    env.params.body = Some(Body::EightBitMime);
    env.params.smtputf8 = true;
    d.send(env, b"x\r\n").expect("ready");
    d.expect("MAIL FROM:<ü@client.example> BODY=8BITMIME SMTPUTF8\r\n".as_bytes());
    d.server(b"250 ok\r\n");
    d.expect(b"RCPT TO:<b@example.net> NOTIFY=NEVER\r\n");
}

#[test]
fn calls_out_of_turn_are_refused() {
    let mut d = Driver::new(config(TlsRequirement::None), Delivery::Whole);
    assert_eq!(
        d.send(envelope(&["<b@example.net>"]), b"x"),
        Err(SubmitError::NotReady)
    );
    assert!(d.client.quit(d.now).is_err());
    d.server(b"220 mx\r\n");
    d.server(EHLO_PLAIN);
    d.send(envelope(&["<b@example.net>"]), b"x").expect("ready");
    assert_eq!(
        d.send(envelope(&["<b@example.net>"]), b"x"),
        Err(SubmitError::NotReady)
    );
    assert!(d.client.quit(d.now).is_err());
}

// ---------------------------------------------------------------------------
// Timeouts (RFC 5321 §4.5.3.2)

#[test]
fn each_wait_has_its_timeout_rfc5321_4_5_3_2() {
    let minutes = |m: u64| Duration::from_secs(60 * m);

    // Greeting: 5 minutes.
    let mut d = Driver::new(config(TlsRequirement::None), Delivery::Whole);
    assert_eq!(d.time_out(), minutes(5));
    assert_eq!(
        d.error(),
        Some(&ClientError::Timeout(TimeoutKind::Greeting))
    );
    d.expect(b"");

    // EHLO: the command timeout.
    let mut d = Driver::new(config(TlsRequirement::None), Delivery::Whole);
    d.server(b"220 mx\r\n");
    assert_eq!(d.time_out(), minutes(5));
    assert_eq!(
        d.error(),
        Some(&ClientError::Timeout(TimeoutKind::Reply(Verb::Ehlo)))
    );

    // A pipelined group: each reply restarts the clock for the next one.
    let mut cfg = config(TlsRequirement::None);
    cfg.timeouts.rcpt = Duration::from_secs(7);
    let mut d = Driver::after_ehlo(cfg, Delivery::Whole, EHLO_PIPELINING);
    d.send(envelope(&["<b@example.net>"]), b"x\r\n")
        .expect("ready");
    assert_eq!(d.client.poll_timeout(), Some(d.now + minutes(5)), "MAIL");
    d.now += Duration::from_secs(60);
    d.server(b"250 ok\r\n");
    assert_eq!(d.time_out(), Duration::from_secs(7));
    assert_eq!(
        d.error(),
        Some(&ClientError::Timeout(TimeoutKind::Reply(Verb::Rcpt)))
    );

    // DATA initiation: 2 minutes; data termination: 10 minutes.
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, EHLO_PLAIN);
    d.send(envelope(&["<b@example.net>"]), b"x\r\n")
        .expect("ready");
    d.server(b"250 ok\r\n");
    d.server(b"250 ok\r\n");
    assert_eq!(d.client.poll_timeout(), Some(d.now + minutes(2)));
    d.server(b"354 go\r\n");
    // The body went out during the drain: the wait for the final reply
    // starts then, not after a data-block period.
    assert_eq!(d.time_out(), minutes(10));
    assert_eq!(
        d.error(),
        Some(&ClientError::Timeout(TimeoutKind::DataTermination))
    );
}

#[test]
fn a_body_the_network_never_takes_times_out_rfc5321_4_5_3_2_5() {
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, EHLO_PLAIN);
    d.send(envelope(&["<b@example.net>"]), b"x\r\n")
        .expect("ready");
    d.server(b"250 ok\r\n");
    d.server(b"250 ok\r\n");
    // The embedder stops calling poll_transmit after the 354 (the socket
    // is full): no body octet moves for a whole period.
    d.client.handle_input(d.now, b"354 go\r\n");
    let at = d.client.poll_timeout().expect("data-block timer");
    assert_eq!(at - d.now, Duration::from_secs(180));
    d.now = at;
    d.client.handle_timeout(d.now);
    assert_eq!(
        d.client.error(),
        Some(&ClientError::Timeout(TimeoutKind::DataBlock))
    );
    let mut out = Vec::new();
    while d.client.poll_transmit(&mut out) > 0 {}
    assert!(out.is_empty(), "no body after the timeout: {out:?}");
}

#[test]
fn quit_waits_for_221_then_the_session_is_over() {
    let mut d = Driver::after_ehlo(config(TlsRequirement::None), Delivery::Whole, EHLO_PLAIN);
    d.quit();
    d.expect(b"QUIT\r\n");
    assert!(!d.client.is_closed());
    d.server(b"221 bye\r\n");
    assert!(d.client.is_closed());
    // Bytes after the end are ignored.
    d.server(b"250 late\r\n");
    assert_eq!(d.error(), None);
    d.expect(b"");
}
