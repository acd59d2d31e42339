//! The demo's receivers: [`net::serve`] loops in threads, each with a
//! handler that accepts every message and counts what it saw, in memory.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use secmx_core::proto::command::Verb;
use secmx_core::rustls;
use secmx_core::server::{ServerConfig, ServerEvent, ServerMode, ServerSession};

use crate::net::{self, ServerHandler, ServerOptions};
use crate::spool::TlsSummary;

/// What a receiver saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Connections.
    pub connections: usize,
    /// `MAIL` commands that reached the handler (a SOR refuses them before
    /// TLS without asking it).
    pub mail_commands: usize,
    /// `MAIL` commands refused by the session (`530` before STARTTLS).
    pub refused_mail: usize,
    /// Messages accepted, with the TLS they came over.
    pub messages: Vec<Option<TlsSummary>>,
}

struct Counter {
    tally: Arc<Mutex<Tally>>,
    tls: Option<TlsSummary>,
    busy: bool,
}

impl Counter {
    fn update(&self, f: impl FnOnce(&mut Tally)) {
        if let Ok(mut tally) = self.tally.lock() {
            f(&mut tally);
        }
    }
}

impl ServerHandler for Counter {
    fn on_event(&mut self, session: &mut ServerSession, now: Instant, event: ServerEvent) {
        match event {
            ServerEvent::TlsEstablished(info) => self.tls = Some(TlsSummary::from_info(&info)),
            ServerEvent::MailFrom { .. } => {
                self.busy = true;
                self.update(|t| t.mail_commands += 1);
                let _ = session.accept(now);
            }
            ServerEvent::RcptTo { .. } => {
                let _ = session.accept(now);
            }
            ServerEvent::MessageComplete { .. } => {
                let tls = self.tls.clone();
                self.update(|t| t.messages.push(tls));
                self.busy = false;
                let _ = session.accept(now);
            }
            ServerEvent::MessageAborted { .. } => self.busy = false,
            ServerEvent::Refused {
                verb: Some(Verb::Mail),
                ..
            } => self.update(|t| t.refused_mail += 1),
            _ => {}
        }
    }

    fn busy(&self) -> bool {
        self.busy
    }
}

/// A running receiver; stopped by [`Receiver::stop`] or when dropped.
#[derive(Debug)]
pub struct Receiver {
    /// Its host name (greeting, certificate).
    pub hostname: String,
    /// Where it listens.
    pub addr: SocketAddr,
    tally: Arc<Mutex<Tally>>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 at a free port.
    pub fn start(
        hostname: &str,
        mode: ServerMode,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let mut config = ServerConfig::new(hostname, mode);
        config.tls = tls;
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let shutdown = Arc::new(AtomicBool::new(false));
        let options = ServerOptions {
            max_connections: 16,
            shutdown_grace: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
        };
        let thread = {
            let tally = Arc::clone(&tally);
            let shutdown = Arc::clone(&shutdown);
            thread::Builder::new()
                .name(format!("receiver {hostname}"))
                .spawn(move || {
                    net::serve(
                        vec![listener],
                        Arc::new(config),
                        options,
                        shutdown,
                        move |_| {
                            if let Ok(mut t) = tally.lock() {
                                t.connections += 1;
                            }
                            Counter {
                                tally: Arc::clone(&tally),
                                tls: None,
                                busy: false,
                            }
                        },
                    )
                })?
        };
        Ok(Self {
            hostname: hostname.to_owned(),
            addr,
            tally,
            shutdown,
            thread: Some(thread),
        })
    }

    /// What it saw so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Stops accepting and waits for the server loop to end.
    pub fn stop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}
