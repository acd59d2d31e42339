//! std sockets and threads driving the sans-IO sessions of `secmx-core`.
//!
//! This is the part an embedder copies, or replaces with its own event
//! loop: everything protocol-related happens inside
//! [`ServerSession`] and [`ClientSession`]; this module only moves bytes,
//! passes the time in and answers events.
//!
//! # Server: one thread per connection, bounded
//!
//! ```text
//! serve(listeners, config, options, shutdown, make_handler)
//!   └─ accept loop: nonblocking listeners, polled every 100 ms
//!        ├─ shutdown flag set (SIGTERM) ──► stop accepting, wait for
//!        │                                  connections (at most the grace)
//!        ├─ max_connections busy ─────────► "421 4.3.2 …", close
//!        └─ thread: run_connection(stream, ServerSession, handler)
//!
//! run_connection, the run loop of secmx_core::server:
//!   1. drain: poll_event → handler (answers MAIL, RCPT, message)
//!             poll_transmit → write to the socket      until both empty
//!   2. closed? → done (the last transmit was written in 1)
//!   3. bytes read earlier and not taken → handle_input again; go to 1
//!   4. read with a timeout of min(poll_timeout, 1 s):
//!        bytes → handle_input (returns how many it took; keep the rest)
//!        EOF or reset → handle_eof · deadline passed → handle_timeout
//!      go to 1
//! ```
//!
//! The handler answers every decision inside [`ServerHandler::on_event`]
//! (it may block, for instance on an fsync); the session reads no further
//! command until it does, so replies leave in order.
//!
//! # Client: one connection to completion
//!
//! [`run_client`] drives a [`ClientSession`] over a connected socket: each
//! [`ClientEvent::Ready`] is answered with the next message, or QUIT when
//! none is left, and the loop ends at [`ClientEvent::Closed`]. The
//! session's own timers (RFC 5321 §4.5.3.2) bound every wait.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use secmx_core::Reply;
use secmx_core::client::{ClientEvent, ClientSession, Envelope, SubmitError};
use secmx_core::server::{ServerConfig, ServerEvent, ServerSession};
use secmx_core::transport::TlsInfo;

/// Octets read from a socket at a time: one TLS record and its overhead.
pub const READ_BUFFER: usize = 17 * 1024;

/// Longest a blocked read waits before the loop looks at the shutdown flag
/// and the session's deadline again.
pub const TICK: Duration = Duration::from_secs(1);

/// How often the accept loop polls its nonblocking listeners.
pub const ACCEPT_POLL: Duration = Duration::from_millis(100);

/// Who is on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// Our address it connected to.
    pub local: SocketAddr,
}

/// What the application does with the events of one server connection.
pub trait ServerHandler {
    /// Called for every event, in order. [`ServerEvent::MailFrom`],
    /// [`ServerEvent::RcptTo`] and [`ServerEvent::MessageComplete`] must be
    /// answered here with [`ServerSession::accept`] or
    /// [`ServerSession::reject`]: the loop reads nothing more until they
    /// are.
    fn on_event(&mut self, session: &mut ServerSession, now: Instant, event: ServerEvent);

    /// True while a transaction is under way. At shutdown an idle
    /// connection is closed at once; a busy one may finish (within the
    /// grace period). Nothing acknowledged is lost either way.
    fn busy(&self) -> bool {
        false
    }
}

/// Limits of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    /// Connections served at once; more are answered `421 4.3.2` and
    /// closed (what Postfix does at its process limit, after RFC 5321
    /// §3.8).
    pub max_connections: usize,
    /// How long shutdown waits for transactions under way.
    pub shutdown_grace: Duration,
    /// How long one write may block on a client that does not read.
    pub write_timeout: Duration,
}

impl Default for ServerOptions {
    /// 100 connections, 10 s of grace, 5 minutes per write (RFC 5321
    /// §4.5.3.2.7's server timeout).
    fn default() -> Self {
        Self {
            max_connections: 100,
            shutdown_grace: Duration::from_secs(10),
            write_timeout: Duration::from_secs(300),
        }
    }
}

/// Decrements the connection count when a connection thread ends, however
/// it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a server on `listeners` until `shutdown` is set, then waits for
/// the connections (see [`ServerHandler::busy`]) at most
/// [`ServerOptions::shutdown_grace`] and returns.
///
/// `make_handler` builds the handler of each connection. Errors of one
/// connection end that connection only; an `Err` here is a listener
/// failure.
pub fn serve<H, F>(
    listeners: Vec<TcpListener>,
    config: Arc<ServerConfig>,
    options: ServerOptions,
    shutdown: Arc<AtomicBool>,
    make_handler: F,
) -> io::Result<()>
where
    H: ServerHandler + Send + 'static,
    F: Fn(Peer) -> H,
{
    for listener in &listeners {
        listener.set_nonblocking(true)?;
    }
    let active = Arc::new(AtomicUsize::new(0));
    while !shutdown.load(Ordering::SeqCst) {
        let mut accepted = false;
        for listener in &listeners {
            let (stream, remote) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // The client gave up between SYN and accept, or the
                // process is out of descriptors for a moment: go on.
                Err(e) if transient_accept_error(&e) => continue,
                Err(e) => return Err(e),
            };
            accepted = true;
            // The accepted socket must block: the connection thread uses
            // read timeouts, not polling.
            stream.set_nonblocking(false)?;
            let local = stream.local_addr()?;
            if active.fetch_add(1, Ordering::SeqCst) >= options.max_connections {
                let slot = Slot(Arc::clone(&active));
                refuse_busy(stream, &config.hostname);
                drop(slot);
                continue;
            }
            let slot = Slot(Arc::clone(&active));
            let handler = make_handler(Peer { remote, local });
            let config = Arc::clone(&config);
            let shutdown = Arc::clone(&shutdown);
            let spawned = thread::Builder::new()
                .name(format!("smtp {remote}"))
                .spawn(move || {
                    let _slot = slot;
                    let mut handler = handler;
                    // A connection's I/O error is the end of that connection:
                    // the session has already turned it into an abort.
                    let _ = run_connection(stream, config, &mut handler, &shutdown, options);
                });
            if let Err(e) = spawned {
                // Out of threads: the closure (and its slot and stream)
                // was dropped, which closes the connection.
                eprintln!("secmx: cannot start a connection thread: {e}");
            }
        }
        if !accepted {
            thread::sleep(ACCEPT_POLL);
        }
    }
    drop(listeners);
    let grace = Instant::now() + options.shutdown_grace;
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < grace {
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::TimedOut
    ) || e.raw_os_error() == Some(24) // EMFILE: too many open files
}

/// Answers a connection over the limit and closes it.
fn refuse_busy(mut stream: TcpStream, hostname: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let reply = format!("421 4.3.2 {hostname} Too many connections, try again later\r\n");
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

/// A socket that remembers it broke: after a failed write, output is
/// dropped (the session is told of the end of file instead).
struct Wire {
    stream: TcpStream,
    broken: bool,
}

impl Wire {
    /// Writes all of `bytes`; false if the connection is gone.
    fn send(&mut self, bytes: &[u8]) -> bool {
        if !self.broken && self.stream.write_all(bytes).is_err() {
            self.broken = true;
        }
        !self.broken
    }
}

/// Serves one connection with a new [`ServerSession`] until the session
/// closes, the client goes away, or `shutdown` is set while the handler is
/// not [`busy`](ServerHandler::busy).
pub fn run_connection<H: ServerHandler>(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    handler: &mut H,
    shutdown: &AtomicBool,
    options: ServerOptions,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(options.write_timeout))?;
    let mut session = ServerSession::new(config, Instant::now())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut wire = Wire {
        stream,
        broken: false,
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_BUFFER];
    // Bytes read from the socket that the session did not take yet.
    let mut unread: Vec<u8> = Vec::new();
    loop {
        // 1. Drain events and transmits until both are empty.
        drain_server(&mut session, handler, &mut wire, &mut out);
        // 2. Closed: its last bytes were written by the drain.
        if session.is_closed() {
            break;
        }
        // 3. Offer what the session did not take before.
        if !unread.is_empty() {
            match session.handle_input(Instant::now(), &unread) {
                Ok(0) => {
                    // After a drain the session has no event to report
                    // and, since the handler answers at once, no
                    // decision to wait for: it should take bytes.
                    return Err(io::Error::other(
                        "the server session took no input after a drain",
                    ));
                }
                Ok(taken) => {
                    unread.drain(..taken.min(unread.len()));
                }
                // The session failed: its goodbye and Closed come out of
                // the next drain.
                Err(_) => unread.clear(),
            }
            continue;
        }
        if shutdown.load(Ordering::SeqCst) && !handler.busy() {
            break;
        }
        // 4. Wait for the client or the session's deadline.
        let now = Instant::now();
        let deadline = session.poll_timeout();
        if let Some(deadline) = deadline
            && deadline <= now
        {
            session.handle_timeout(now);
            continue;
        }
        let wait = deadline.map_or(TICK, |d| (d - now).min(TICK));
        wire.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match wire.stream.read(&mut buf) {
            Ok(0) => session.handle_eof(Instant::now()),
            Ok(n) => {
                let input = buf.get(..n).unwrap_or_default();
                // On Err the session failed, as in 3.
                if let Ok(taken) = session.handle_input(Instant::now(), input) {
                    unread.extend_from_slice(input.get(taken..).unwrap_or_default());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // A reset is the client going away: the same as end of file
            // (a message under way is aborted, RFC 5321 §3.8).
            Err(_) => session.handle_eof(Instant::now()),
        }
    }
    let _ = wire.stream.shutdown(Shutdown::Both);
    Ok(())
}

/// Step 1 of the run loop: events to the handler, transmits to the socket,
/// until neither gives anything. A write that fails is the end of the
/// connection, and the session is told so.
fn drain_server<H: ServerHandler>(
    session: &mut ServerSession,
    handler: &mut H,
    wire: &mut Wire,
    out: &mut Vec<u8>,
) {
    loop {
        let mut progressed = false;
        while let Some(event) = session.poll_event() {
            progressed = true;
            handler.on_event(session, Instant::now(), event);
        }
        out.clear();
        session.poll_transmit(out);
        if !out.is_empty() {
            progressed = true;
            if !wire.send(out) && !session.is_closed() {
                session.handle_eof(Instant::now());
            }
        }
        if !progressed {
            break;
        }
    }
}

/// Opens a TCP connection within `timeout`.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What became of one message given to [`run_client`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessageResult {
    /// The server took it (`250` after the data).
    Accepted(Reply<'static>),
    /// MAIL, DATA or the data were refused (`4xx`/`5xx`).
    Rejected(Reply<'static>),
    /// Every recipient was refused; no body was sent.
    NoRecipientsAccepted,
    /// The session refused it before sending anything (for instance
    /// SMTPUTF8 needed and not offered).
    NotSubmitted(SubmitError),
    /// The session ended before the message got a final answer: not
    /// delivered, or (after the body was sent) maybe delivered
    /// (RFC 5321 §6.1).
    Interrupted,
}

/// What happened on a client connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOutcome {
    /// Every event of the session, in order; [`ClientEvent::Closed`] last.
    pub events: Vec<ClientEvent>,
    /// One result per message, in the order they were given.
    pub results: Vec<MessageResult>,
    /// What TLS negotiated, if STARTTLS succeeded.
    pub tls: Option<TlsInfo>,
}

/// Drives `session` over `stream` until it closes: sends `messages` one
/// after the other as the session gets ready, then QUIT.
///
/// `Err` only for a socket that cannot be configured; the connection
/// breaking is an event ([`ClientEvent::Closed`] with the session's
/// error) like any other end.
pub fn run_client(
    stream: TcpStream,
    mut session: ClientSession,
    messages: Vec<(Envelope, Vec<u8>)>,
) -> io::Result<ClientOutcome> {
    let mut wire = Wire {
        stream,
        broken: false,
    };
    let total = messages.len();
    let mut queue = messages.into_iter();
    let mut results: Vec<MessageResult> = Vec::with_capacity(total);
    let mut events = Vec::new();
    // Index of the message under way, if any.
    let mut current: Option<usize> = None;
    let mut out = Vec::new();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        // Drain events and transmits until both are empty.
        loop {
            let mut progressed = false;
            while let Some(event) = session.poll_event() {
                progressed = true;
                let now = Instant::now();
                match &event {
                    ClientEvent::MessageAccepted(reply) => {
                        finish(
                            &mut results,
                            &mut current,
                            MessageResult::Accepted(reply.clone()),
                        );
                    }
                    ClientEvent::MailRejected(reply) | ClientEvent::MessageRejected(reply) => {
                        finish(
                            &mut results,
                            &mut current,
                            MessageResult::Rejected(reply.clone()),
                        );
                    }
                    ClientEvent::NoRecipientsAccepted => {
                        finish(
                            &mut results,
                            &mut current,
                            MessageResult::NoRecipientsAccepted,
                        );
                    }
                    _ => {}
                }
                let ready = matches!(event, ClientEvent::Ready);
                events.push(event);
                if ready {
                    submit_next(&mut session, now, &mut queue, &mut results, &mut current);
                }
            }
            out.clear();
            while session.poll_transmit(&mut out) > 0 {}
            if !out.is_empty() {
                progressed = true;
                if !wire.send(&out) && !session.is_closed() {
                    session.handle_eof(Instant::now());
                }
            }
            if !progressed {
                break;
            }
        }
        if session.is_closed() {
            break;
        }
        // Wait for the server or the session's deadline.
        let now = Instant::now();
        let deadline = session.poll_timeout();
        if let Some(deadline) = deadline
            && deadline <= now
        {
            session.handle_timeout(now);
            continue;
        }
        let wait = deadline.map_or(TICK, |d| (d - now).min(TICK));
        wire.stream
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match wire.stream.read(&mut buf) {
            Ok(0) => session.handle_eof(Instant::now()),
            Ok(n) => session.handle_input(Instant::now(), buf.get(..n).unwrap_or_default()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => session.handle_eof(Instant::now()),
        }
    }
    let _ = wire.stream.shutdown(Shutdown::Both);
    if current.is_some() {
        finish(&mut results, &mut current, MessageResult::Interrupted);
    }
    results.resize(total, MessageResult::Interrupted);
    Ok(ClientOutcome {
        tls: session.tls_info(),
        events,
        results,
    })
}

fn finish(results: &mut Vec<MessageResult>, current: &mut Option<usize>, result: MessageResult) {
    if let Some(index) = current.take()
        && results.len() == index
    {
        results.push(result);
    }
}

/// Answers [`ClientEvent::Ready`]: the next message that the session takes,
/// or QUIT.
fn submit_next(
    session: &mut ClientSession,
    now: Instant,
    queue: &mut impl Iterator<Item = (Envelope, Vec<u8>)>,
    results: &mut Vec<MessageResult>,
    current: &mut Option<usize>,
) {
    for (envelope, body) in queue.by_ref() {
        match session.send_message(now, envelope, body) {
            Ok(()) => {
                *current = Some(results.len());
                return;
            }
            Err(e) => results.push(MessageResult::NotSubmitted(e)),
        }
    }
    // Nothing (more) to send. Ready was just reported, so QUIT is allowed.
    let _ = session.quit(now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Mutex;

    use secmx_core::client::{ClientConfig, TlsRequirement};
    use secmx_core::proto::path::{Domain, ForwardPath, ReversePath};
    use secmx_core::rustls;
    use secmx_core::server::ServerMode;
    use secmx_core::transport::ring_provider;

    /// Accepts everything and keeps the bodies.
    struct Collect {
        bodies: Arc<Mutex<Vec<Vec<u8>>>>,
        body: Vec<u8>,
    }

    impl ServerHandler for Collect {
        fn on_event(&mut self, session: &mut ServerSession, now: Instant, event: ServerEvent) {
            match event {
                ServerEvent::MailFrom { .. } | ServerEvent::RcptTo { .. } => {
                    let _ = session.accept(now);
                }
                ServerEvent::BodyChunk(bytes) => self.body.extend_from_slice(&bytes),
                ServerEvent::MessageComplete { .. } => {
                    if let Ok(mut bodies) = self.bodies.lock() {
                        bodies.push(std::mem::take(&mut self.body));
                    }
                    let _ = session.accept(now);
                }
                ServerEvent::MessageAborted { .. } => self.body.clear(),
                _ => {}
            }
        }
    }

    fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(vec!["mx.example.test".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        let der = cert.der().clone();
        let server = rustls::ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![der.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).expect("root");
        let client = rustls::ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    #[test]
    fn rfc3207_client_driver_delivers_through_the_server_loop_over_tls() {
        let (server_tls, client_tls) = tls_pair();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("address");
        let config =
            Arc::new(ServerConfig::new("mx.example.test", ServerMode::Sor).with_tls(server_tls));
        let shutdown = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let shutdown = Arc::clone(&shutdown);
            let bodies = Arc::clone(&bodies);
            thread::spawn(move || {
                serve(
                    vec![listener],
                    config,
                    ServerOptions::default(),
                    shutdown,
                    move |_| Collect {
                        bodies: Arc::clone(&bodies),
                        body: Vec::new(),
                    },
                )
            })
        };

        let client = ClientConfig::new(
            Domain::parse(b"client.example.test", false)
                .expect("domain")
                .into_owned(),
            TlsRequirement::Required,
            client_tls,
            rustls::pki_types::ServerName::try_from("mx.example.test").expect("name"),
        );
        let envelope = |to: &[u8]| {
            Envelope::new(
                ReversePath::parse(b"<a@client.example.test>", false)
                    .expect("path")
                    .into_owned(),
            )
            .with_recipient(ForwardPath::parse(to, false).expect("path").into_owned())
        };
        let big = format!("Subject: big\r\n\r\n{}", ".dot line\r\n".repeat(20_000));
        let messages = vec![
            (
                envelope(b"<b@example.test>"),
                b"Subject: one\r\n\r\nHello\r\n".to_vec(),
            ),
            (envelope(b"<c@example.test>"), big.clone().into_bytes()),
        ];
        let stream = connect(addr, Duration::from_secs(5)).expect("connect");
        let session = ClientSession::new(client, Instant::now());
        let outcome = run_client(stream, session, messages).expect("client run");

        assert!(outcome.tls.is_some(), "{:?}", outcome.events);
        assert!(
            matches!(
                outcome.results.as_slice(),
                [MessageResult::Accepted(_), MessageResult::Accepted(_)]
            ),
            "{:?}",
            outcome.results
        );
        assert!(matches!(
            outcome.events.last(),
            Some(ClientEvent::Closed { .. })
        ));
        shutdown.store(true, Ordering::SeqCst);
        server.join().expect("server thread").expect("server");
        let bodies = bodies.lock().expect("bodies");
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0], b"Subject: one\r\n\r\nHello\r\n");
        assert_eq!(bodies[1], big.as_bytes());
    }

    #[test]
    fn rfc5321_3_8_over_the_connection_limit_gets_421() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("address");
        let config = Arc::new(ServerConfig::new("mx.example.test", ServerMode::Ber));
        let shutdown = Arc::new(AtomicBool::new(false));
        let options = ServerOptions {
            max_connections: 1,
            ..ServerOptions::default()
        };
        let server = {
            let shutdown = Arc::clone(&shutdown);
            thread::spawn(move || {
                serve(vec![listener], config, options, shutdown, |_| Collect {
                    bodies: Arc::default(),
                    body: Vec::new(),
                })
            })
        };
        let read_line = |stream: &mut TcpStream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut text = Vec::new();
            let mut byte = [0u8];
            while !text.ends_with(b"\n") && stream.read(&mut byte).expect("read") == 1 {
                text.push(byte[0]);
            }
            String::from_utf8(text).expect("text")
        };
        let mut first = TcpStream::connect(addr).expect("connect");
        assert_eq!(read_line(&mut first), "220 mx.example.test ESMTP\r\n");
        let mut second = TcpStream::connect(addr).expect("connect");
        assert!(read_line(&mut second).starts_with("421 4.3.2 "));
        // Shutdown closes the idle first connection and returns.
        shutdown.store(true, Ordering::SeqCst);
        server.join().expect("server thread").expect("server");
        let mut rest = Vec::new();
        let _ = first.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
    }
}
