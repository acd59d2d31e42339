//! `secmx serve`: a BER or SOR that accepts mail for any recipient and
//! stores each message in a spool directory.
//!
//! ```text
//! secmx serve --listen ADDR [--listen ADDR …] --mode ber|sor
//!             --cert FILE --key FILE --spool DIR
//!             [--hostname NAME] [--max-size N] [--max-connections N]
//! ```
//!
//! - Every accepted message is one file in DIR (see [`crate::spool`]),
//!   fsynced, with its `Received:` line, before the `250`.
//! - stdout: one JSON object per transaction (accepted, rejected, aborted,
//!   or refused at MAIL, e.g. the SOR's `530`); stderr: start-up and errors.
//! - SIGTERM or SIGINT: stop accepting, let transactions under way finish
//!   (10 s at most), exit 0.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Instant, SystemTime};

use secmx_core::proto::command::Verb;
use secmx_core::rustls;
use secmx_core::rustls::pki_types::pem::PemObject;
use secmx_core::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secmx_core::server::{
    AbortReason, DEFAULT_MAX_MESSAGE_SIZE, ServerConfig, ServerEvent, ServerMode, ServerSession,
};
use secmx_core::transport::ring_provider;
use secmx_core::{EnhancedCode, Reply, ReplyCode};
use secmx_policy::receiver::{ReceiverPolicy, sender_domain};
use serde_json::{Value, json};

use crate::exit::{self, Failure};
use crate::net::{self, Peer, ServerHandler, ServerOptions};
use crate::spool::{Incoming, Spool, TlsSummary, Trace};

/// The receiver role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Best effort receiver: offers STARTTLS, takes mail in clear too.
    Ber,
    /// Secure only receiver: `530` to MAIL, RCPT and DATA before STARTTLS.
    Sor,
}

/// The options of `secmx serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, IP:PORT (repeat for several; port 0 picks a
    /// free port, printed on stderr).
    #[arg(long = "listen", value_name = "ADDR", required = true)]
    pub listen: Vec<SocketAddr>,
    /// ber (best effort receiver) or sor (secure only receiver).
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Certificate chain, PEM, leaf first.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Directory where each message is stored as one file.
    #[arg(long, value_name = "DIR")]
    pub spool: PathBuf,
    /// Name in the greeting, the EHLO reply and the Received line
    /// [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Largest message in octets, announced with SIZE (0: no limit).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_MESSAGE_SIZE)]
    pub max_size: u64,
    /// Connections served at once; more get "421 4.3.2".
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_connections: usize,
    /// Receiving rules (TOML, secmx_policy::receiver): client networks and
    /// sender domains whose mail is taken only after STARTTLS, even on a
    /// BER. MAIL from them in clear gets `530 5.7.0`.
    #[arg(long = "receiver-policy", value_name = "FILE")]
    pub receiver_policy: Option<PathBuf>,
}

/// Runs `secmx serve` until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let tls = load_tls(&args.cert, &args.key)?;
    let hostname = args.hostname.clone().unwrap_or_else(system_hostname);
    let mode = match args.mode {
        Mode::Ber => ServerMode::Ber,
        Mode::Sor => ServerMode::Sor,
    };
    let mut config = ServerConfig::new(hostname.clone(), mode).with_tls(tls);
    config.max_message_size = (args.max_size > 0).then_some(args.max_size);
    config
        .validate()
        .map_err(|e| Failure::new(exit::CONFIG, e.to_string()))?;
    if args.max_connections == 0 {
        return Err(Failure::new(
            exit::USAGE,
            "--max-connections must be at least 1",
        ));
    }
    let receiver_policy = match &args.receiver_policy {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::new(
                    exit::NOINPUT,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let policy = ReceiverPolicy::from_toml(&text)
                .map_err(|e| Failure::new(exit::CONFIG, format!("{}: {e}", path.display())))?;
            Some(Arc::new(policy))
        }
    };
    let spool = Spool::open(&args.spool).map_err(|e| {
        Failure::new(
            exit::CANTCREAT,
            format!("cannot use the spool {}: {e}", args.spool.display()),
        )
    })?;

    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .map_err(|e| Failure::new(exit::OSERR, format!("cannot handle signals: {e}")))?;
    }
    let mut listeners = Vec::with_capacity(args.listen.len());
    for addr in &args.listen {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Failure::new(exit::OSERR, format!("cannot listen on {addr}: {e}")))?;
        let bound = listener.local_addr().unwrap_or(*addr);
        eprintln!(
            "secmx serve: listening on {bound} as {} {hostname}, spool {}",
            match mode {
                ServerMode::Sor => "SOR",
                _ => "BER",
            },
            spool.dir().display()
        );
        listeners.push(listener);
    }

    let spool = Arc::new(spool);
    let options = ServerOptions {
        max_connections: args.max_connections,
        ..ServerOptions::default()
    };
    net::serve(
        listeners,
        Arc::new(config),
        options,
        shutdown,
        move |peer| {
            SpoolHandler::new(Arc::clone(&spool), hostname.clone(), peer)
                .with_receiver_policy(receiver_policy.clone())
        },
    )
    .map_err(|e| Failure::new(exit::IOERR, format!("listener failed: {e}")))?;
    eprintln!("secmx serve: stopped");
    Ok(())
}

/// A rustls server configuration (ring provider) from PEM files.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Failure> {
    let unreadable = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        Failure::new(
            exit::NOINPUT,
            format!("cannot read the {what} {}: {e}", path.display()),
        )
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable("certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(unreadable("certificate", cert, &"no CERTIFICATE block"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable("key", key, &e))?;
    let config = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, key_der)
        })
        .map_err(|e| {
            Failure::new(
                exit::CONFIG,
                format!("the certificate and key cannot be used: {e}"),
            )
        })?;
    Ok(Arc::new(config))
}

/// The kernel's host name, or `localhost`.
fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty() && !name.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Writes one JSON object as one line on stdout. The lock keeps lines of
/// concurrent connections whole.
fn log(line: &Value) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The handler of one connection: accepts every sender and recipient and
/// stores messages in the spool.
#[derive(Debug)]
pub struct SpoolHandler {
    spool: Arc<Spool>,
    hostname: String,
    peer: Peer,
    extended: bool,
    tls: Option<TlsSummary>,
    from: Option<String>,
    recipients: Vec<String>,
    incoming: Option<Incoming>,
    /// Storing the message under way failed: it will be refused with 451.
    store_error: Option<String>,
    started: Option<Instant>,
    /// Receiving rules that may require TLS for this client or sender.
    receiver_policy: Option<Arc<ReceiverPolicy>>,
}

impl SpoolHandler {
    /// A handler for a connection from `peer`.
    pub fn new(spool: Arc<Spool>, hostname: String, peer: Peer) -> Self {
        Self {
            spool,
            hostname,
            peer,
            extended: false,
            tls: None,
            from: None,
            recipients: Vec::new(),
            incoming: None,
            store_error: None,
            started: None,
            receiver_policy: None,
        }
    }

    /// Enforces `policy` on this connection: MAIL in clear from a client
    /// network or sender domain it covers gets `530 5.7.0`.
    pub fn with_receiver_policy(mut self, policy: Option<Arc<ReceiverPolicy>>) -> Self {
        self.receiver_policy = policy;
        self
    }

    /// The JSON fields every transaction line has.
    fn record(&self, session: &ServerSession, result: &str) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert(
            "time".into(),
            json!(crate::time::rfc3339(SystemTime::now())),
        );
        map.insert("result".into(), json!(result));
        map.insert("client".into(), json!(self.peer.remote.to_string()));
        map.insert("server".into(), json!(self.peer.local.to_string()));
        map.insert(
            "helo".into(),
            json!(session.helo_name().map(|name| name.to_string())),
        );
        map.insert(
            "tls".into(),
            match &self.tls {
                Some(tls) => json!({"version": tls.version, "cipher": tls.cipher}),
                None => Value::Null,
            },
        );
        map.insert("from".into(), json!(self.from));
        map.insert("to".into(), json!(self.recipients));
        if let Some(started) = self.started {
            map.insert(
                "duration_ms".into(),
                json!(started.elapsed().as_millis() as u64),
            );
        }
        map
    }

    fn end_transaction(&mut self) {
        self.from = None;
        self.recipients.clear();
        self.incoming = None;
        self.store_error = None;
        self.started = None;
    }

    fn start_message(&mut self, session: &ServerSession) {
        let trace = Trace {
            by: self.hostname.clone(),
            helo: session
                .helo_name()
                .map(|name| name.to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
            extended: self.extended,
            client: self.peer.remote.ip(),
            tls: self.tls.clone(),
            reverse_path: self.from.clone().unwrap_or_else(|| "<>".to_owned()),
            recipients: self.recipients.clone(),
        };
        match self.spool.begin(&trace) {
            Ok(incoming) => self.incoming = Some(incoming),
            Err(e) => self.store_error = Some(e.to_string()),
        }
    }

    fn complete_message(&mut self, session: &mut ServerSession, now: Instant, size: u64) {
        let stored = match (self.incoming.take(), self.store_error.take()) {
            (Some(incoming), None) => incoming.commit().map_err(|e| e.to_string()),
            (_, Some(error)) => Err(error),
            (None, None) => Err("no message was started".to_owned()),
        };
        let mut record;
        match stored {
            Ok(stored) => {
                // The file is durable: now the 250 may go (RFC 5321 §6.1).
                let reply = Reply::new(
                    ReplyCode::OK,
                    Some(EnhancedCode::OK),
                    format!("Ok: queued as {}", stored.id),
                );
                let text = reply.to_string();
                if session.accept_with(now, reply).is_ok() {
                    record = self.record(session, "accepted");
                    record.insert("file".into(), json!(stored.path.display().to_string()));
                } else {
                    // The session closed first: the client never got the
                    // 250 and will send the message again, so do not keep
                    // it (AnswerError::Closed).
                    let _ = std::fs::remove_file(&stored.path);
                    record = self.record(session, "unacknowledged");
                }
                record.insert("id".into(), json!(stored.id));
                record.insert("size".into(), json!(size));
                record.insert("reply".into(), json!(text));
            }
            Err(error) => {
                let reply = Reply::new(
                    ReplyCode::LOCAL_ERROR,
                    EnhancedCode::new(4, 3, 0),
                    "Cannot store the message, try again later",
                );
                let text = reply.to_string();
                let _ = session.reject(now, reply);
                record = self.record(session, "rejected");
                record.insert("reply".into(), json!(text));
                record.insert("error".into(), json!(error));
            }
        }
        log(&Value::Object(record));
        self.end_transaction();
    }
}

impl ServerHandler for SpoolHandler {
    fn on_event(&mut self, session: &mut ServerSession, now: Instant, event: ServerEvent) {
        match event {
            ServerEvent::Helo { extended, .. } => self.extended = extended,
            ServerEvent::TlsEstablished(info) => self.tls = Some(TlsSummary::from_info(&info)),
            ServerEvent::MailFrom { from, .. } => {
                self.end_transaction();
                let refusal = self.receiver_policy.as_ref().and_then(|policy| {
                    policy.mail_from_reply(
                        self.peer.remote.ip(),
                        sender_domain(&from),
                        session.is_tls(),
                    )
                });
                if let Some(reply) = refusal {
                    let mut record = self.record(session, "refused");
                    record.insert("from".into(), json!(from.to_string()));
                    record.insert(
                        "reason".into(),
                        json!("TLS required by the receiver policy"),
                    );
                    println!("{}", Value::Object(record));
                    let _ = session.reject(now, reply);
                    return;
                }
                self.from = Some(from.to_string());
                self.started = Some(now);
                let _ = session.accept(now);
            }
            ServerEvent::RcptTo { to, .. } => {
                self.recipients.push(to.to_string());
                let _ = session.accept(now);
            }
            ServerEvent::DataStart { .. } => self.start_message(session),
            ServerEvent::BodyChunk(bytes) => {
                if let Some(incoming) = &mut self.incoming
                    && let Err(e) = incoming.write(&bytes)
                {
                    // Keep reading the body; refuse it at its end.
                    self.incoming = None;
                    self.store_error = Some(e.to_string());
                }
            }
            ServerEvent::MessageComplete { report, .. } => {
                self.complete_message(session, now, report.size);
            }
            ServerEvent::MessageAborted { reason } => {
                // Dropping the Incoming removes its temp file.
                self.incoming = None;
                let mut record = self.record(session, "aborted");
                record.insert("reason".into(), json!(abort_reason(&reason)));
                log(&Value::Object(record));
                self.end_transaction();
            }
            ServerEvent::Refused {
                verb: Some(Verb::Mail),
                reply,
            } => {
                let mut record = self.record(session, "refused");
                record.insert("reply".into(), json!(reply.to_string()));
                log(&Value::Object(record));
            }
            _ => {}
        }
    }

    fn busy(&self) -> bool {
        self.from.is_some()
    }
}

fn abort_reason(reason: &AbortReason) -> String {
    match reason {
        AbortReason::Reset => "reset".to_owned(),
        AbortReason::BodyRefused(reply) => format!("body refused: {reply}"),
        AbortReason::Closed(close) => format!("connection closed: {close:?}"),
        other => format!("{other:?}"),
    }
}
