//! `secmx policyd --listen ADDR [--dns ADDR] [--dns-trusted]
//! [--cache-ttl SECS]`: a Postfix socketmap service (socketmap_table(5),
//! the protocol postfix-mta-sts-resolver speaks) that answers with what
//! SecMX discovery finds, so that an unmodified Postfix gets it.
//!
//! ```text
//! main.cf:
//!   smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
//!   transport_maps       = socketmap:inet:127.0.0.1:8461:transport   (optional)
//!
//! Postfix ──"17:postfix example.com,"──► policyd ──► cache ──miss──► discovery (DNS)
//!         ◄──"10:OK encrypt,"────────────        ◄── decide::decide ◄──┘
//! ```
//!
//! # Maps
//!
//! | name | key | answers |
//! |---|---|---|
//! | `postfix` | the next-hop domain (`example.com`; `example.com:port` is read as the domain) | `OK dane-only`, `OK secure match=…`, `OK encrypt`, `OK dane`, `NOTFOUND `, `TEMP …` — see [`decide`] |
//! | `postfix` | a `[host]:port` next-hop that the `transport` map handed out | that SOR's policy: `OK encrypt`, `OK secure match=host` or `OK dane-only`; `NOTFOUND ` for any other bracketed next-hop |
//! | `transport` | a recipient address (`user@example.com`; socketmap tables get the full address only) or a domain | `OK smtp:[sor]:port, example.com` for a domain with SORs; `NOTFOUND ` otherwise |
//!
//! Keys starting with `.` (Postfix's parent-domain look-ups) get
//! `NOTFOUND `: answers are per exact domain. Any other map name gets
//! `PERM`.
//!
//! # What Postfix does with the answers, and the limits
//!
//! - **The TLS policy sets a level, not a route.** Postfix delivers to the
//!   domain's MX hosts; a SOR published beside them (SRV, SECMX, the
//!   naming convention) is not among them. `encrypt` for a domain with a
//!   SOR keeps the SOS promise — Postfix never sends that domain's mail in
//!   clear, and defers when its MX hosts do not offer STARTTLS — but the
//!   mail goes to the MX hosts, not the SOR. Only the MX 51966 SORs are
//!   MX hosts Postfix may use (last, by preference).
//! - **To deliver to the SOR**, add the `transport` map: Postfix then
//!   routes the domain to `[sor]:port` (then to the domain's MX hosts, as
//!   a later destination: Postfix 3.5 or later), and asks the TLS policy
//!   for the key `[sor]:port`, which policyd answers from the routes it
//!   handed out (kept for twice the cache TTL). After a restart of
//!   policyd between the two look-ups that key is unknown (`NOTFOUND `:
//!   Postfix's default level). To make SOR routes fail closed whatever
//!   happens, define a transport in master.cf with
//!   `-o smtp_tls_security_level=encrypt` and name it with
//!   `--sor-transport`.
//! - **MTA-STS is applied only from provided policies.** policyd has no
//!   HTTPS client: it does not fetch `https://mta-sts.D/.well-known/
//!   mta-sts.txt` (RFC 8461 §3.3). With `--mta-sts-dir DIR`, a policy body
//!   that the operator's fetcher stored as `DIR/D` is used while fresh
//!   (file modification time + `max_age`); otherwise MTA-STS is not
//!   applied here — run postfix-mta-sts-resolver after policyd in
//!   `smtp_tls_policy_maps` for that.
//! - **DANE** answers need Postfix's own DNSSEC: `dane-only` and `dane`
//!   work only with `smtp_dns_support_level = dnssec` and a validating
//!   resolver; `secure` needs `smtp_tls_CAfile` (or
//!   `tls_append_default_CA`).
//! - **Learned levels** are not kept: a domain that stops publishing its
//!   SOR gets `NOTFOUND` once the cache entry expires.
//!
//! # Service
//!
//! One thread per connection, at most `--max-connections` (more are
//! closed at once; Postfix retries); connections are persistent: Postfix
//! sends many requests on one and closes it when idle. Requests are
//! bounded to [`netstring::MAX_REQUEST`] octets; a framing error gets
//! `PERM` and the connection is closed. Answers are cached per domain for
//! `--cache-ttl` seconds (at most [`cache::DEFAULT_CAPACITY`] domains);
//! `TEMP` answers are not cached. Concurrent misses for one domain each run
//! a discovery. One JSON line per request on stdout; SIGTERM or SIGINT
//! stops the service.

pub mod cache;
pub mod decide;
pub mod netstring;
pub mod socketmap;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use secmx_core::proto::Status;
use secmx_dns::{Config, Discovered, Discovery};
use secmx_policy::mta_sts::MtaStsPolicy;
use serde_json::json;

use self::cache::TtlCache;
use self::decide::{Answer, Decision, TlsPolicy};
use self::socketmap::{Reply, Request};
use crate::dns_udp;
use crate::exit::{self, Failure};

/// The socketmap name of the TLS policy map.
pub const TLS_MAP: &str = "postfix";

/// The socketmap name of the transport map.
pub const TRANSPORT_MAP: &str = "transport";

/// How long a connection may stay idle before policyd closes it (Postfix
/// closes its own after 10 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long one reply may take to write.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often blocked reads and the accept loop look at the shutdown flag.
const TICK: Duration = Duration::from_millis(200);

/// The options of `secmx policyd`.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicydArgs {
    /// Address to listen on, IP:PORT (port 0 picks a free port, printed on
    /// stderr).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Resolver, IP or IP:PORT (no port: 53) [default: the first
    /// nameserver of /etc/resolv.conf].
    #[arg(long, value_name = "ADDR", value_parser = dns_udp::parse_resolver)]
    pub dns: Option<SocketAddr>,
    /// Believe the resolver's AD bit: it validates DNSSEC and the path to
    /// it is trusted (loopback). Needed for dane-only answers.
    #[arg(long)]
    pub dns_trusted: bool,
    /// How long an answer is cached, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub cache_ttl: u64,
    /// Connections served at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: usize,
    /// The transport named in transport-map answers (a master.cf service).
    #[arg(long, value_name = "NAME", default_value = "smtp")]
    pub sor_transport: String,
    /// A directory of MTA-STS policy bodies fetched by the operator, one
    /// file per domain named after it; used while fresh.
    #[arg(long, value_name = "DIR")]
    pub mta_sts_dir: Option<PathBuf>,
}

/// Runs a discovery for a domain.
pub type Discover = dyn Fn(&str) -> io::Result<Discovered> + Send + Sync;

/// Answers socketmap requests: the cache, the discoveries and the
/// decisions. Shared by every connection.
pub struct Service {
    discover: Box<Discover>,
    ttl: Duration,
    sor_transport: String,
    mta_sts_dir: Option<PathBuf>,
    domains: Mutex<TtlCache<Arc<Decision>>>,
    routes: Mutex<TtlCache<TlsPolicy>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("ttl", &self.ttl)
            .field("sor_transport", &self.sor_transport)
            .finish_non_exhaustive()
    }
}

/// How one request was answered, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The reply.
    pub reply: Reply,
    /// It came from the cache.
    pub cached: bool,
    /// Why, when a decision was made.
    pub why: Option<String>,
}

impl Service {
    /// A service whose discoveries go to `resolver`.
    pub fn new(
        resolver: SocketAddr,
        trusted: bool,
        ttl: Duration,
        sor_transport: String,
        mta_sts_dir: Option<PathBuf>,
    ) -> Self {
        let discover = move |domain: &str| {
            let mut config = Config::default();
            config.trusted_resolver = trusted;
            config.id_seed = dns_udp::random_seed();
            let discovery = Discovery::new(domain, config)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            dns_udp::run(discovery, resolver)
        };
        Self::with_discover(Box::new(discover), ttl, sor_transport, mta_sts_dir)
    }

    /// A service with its own way of discovering (for tests).
    pub fn with_discover(
        discover: Box<Discover>,
        ttl: Duration,
        sor_transport: String,
        mta_sts_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            discover,
            ttl,
            sor_transport,
            mta_sts_dir,
            domains: Mutex::new(TtlCache::new(cache::DEFAULT_CAPACITY)),
            routes: Mutex::new(TtlCache::new(cache::DEFAULT_CAPACITY)),
        }
    }

    /// Answers one request payload.
    pub fn answer(&self, payload: &[u8], now: Instant) -> Answered {
        let plain = |reply| Answered {
            reply,
            cached: false,
            why: None,
        };
        let Some(request) = Request::parse(payload) else {
            return plain(Reply::Perm(
                "bad request: expected \"name key\" in UTF-8".into(),
            ));
        };
        let key = request.key.trim().to_ascii_lowercase();
        match request.name {
            TLS_MAP => {
                if key.starts_with('[') {
                    return plain(self.route_policy(&key, now));
                }
                let Some(domain) = nexthop_domain(&key) else {
                    return plain(Reply::NotFound);
                };
                self.with_decision(domain, now, |d| match &d.tls {
                    Answer::Found(policy) => Reply::Ok(policy.to_string()),
                    Answer::Temp(why) => Reply::Temp(why.clone()),
                    _ => Reply::NotFound,
                })
            }
            TRANSPORT_MAP => {
                let domain = key.rsplit_once('@').map_or(key.as_str(), |(_, d)| d);
                let Some(domain) = nexthop_domain(domain).filter(|d| !d.contains(':')) else {
                    return plain(Reply::NotFound);
                };
                self.with_decision(domain, now, |d| match &d.transport {
                    Answer::Found(route) => {
                        self.remember_routes(d, now);
                        Reply::Ok(route.clone())
                    }
                    Answer::Temp(why) => Reply::Temp(why.clone()),
                    _ => Reply::NotFound,
                })
            }
            other => plain(Reply::Perm(format!(
                "unknown socketmap name {other:?}: this service answers \"{TLS_MAP}\" and \"{TRANSPORT_MAP}\""
            ))),
        }
    }

    /// The decision for `domain` (cached, or made now), turned into a reply.
    fn with_decision(
        &self,
        domain: &str,
        now: Instant,
        reply: impl FnOnce(&Decision) -> Reply,
    ) -> Answered {
        let cached = self.domains.lock().ok().and_then(|c| c.get(domain, now));
        if let Some(decision) = cached {
            return Answered {
                reply: reply(&decision),
                cached: true,
                why: Some(decision.why.clone()),
            };
        }
        let decision = match (self.discover)(domain) {
            Ok(discovered) => {
                let sts = self.mta_sts_policy(domain);
                decide::decide(&discovered, sts.as_ref(), &self.sor_transport)
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                return Answered {
                    reply: Reply::NotFound,
                    cached: false,
                    why: Some(format!("not a domain: {e}")),
                };
            }
            Err(e) => Decision {
                tls: Answer::Temp(format!("DNS: {e}")),
                transport: Answer::Temp(format!("DNS: {e}")),
                routes: Vec::new(),
                why: format!("DNS: {e}"),
            },
        };
        let decision = Arc::new(decision);
        let temporary = matches!(decision.tls, Answer::Temp(_));
        if !temporary && let Ok(mut c) = self.domains.lock() {
            c.insert(
                domain.to_owned(),
                Arc::clone(&decision),
                now + self.ttl,
                now,
            );
        }
        Answered {
            reply: reply(&decision),
            cached: false,
            why: Some(decision.why.clone()),
        }
    }

    /// Keeps the SOR next-hops of a transport answer for the TLS policy
    /// look-ups that follow, for twice the cache TTL.
    fn remember_routes(&self, decision: &Decision, now: Instant) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        for (hop, policy) in &decision.routes {
            routes.insert(hop.clone(), policy.clone(), now + 2 * self.ttl, now);
        }
    }

    /// The TLS policy of a bracketed next-hop, if this service routed to it.
    fn route_policy(&self, key: &str, now: Instant) -> Reply {
        let Ok(routes) = self.routes.lock() else {
            return Reply::Temp("route table unavailable".into());
        };
        // `[host]` is port 25.
        let found = routes
            .get(key, now)
            .or_else(|| routes.get(&format!("{key}:25"), now));
        match found {
            Some(policy) => Reply::Ok(policy.to_string()),
            None => Reply::NotFound,
        }
    }

    /// A fresh MTA-STS policy from `--mta-sts-dir`, if there is one.
    fn mta_sts_policy(&self, domain: &str) -> Option<MtaStsPolicy> {
        let path = self.mta_sts_dir.as_deref()?.join(domain);
        read_fresh_policy(&path, SystemTime::now())
    }
}

/// The policy in `path`, if its modification time plus `max_age` is after
/// `now` (RFC 8461 §5.1).
fn read_fresh_policy(path: &Path, now: SystemTime) -> Option<MtaStsPolicy> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > secmx_policy::mta_sts::MAX_POLICY_SIZE as u64 {
        return None;
    }
    let body = std::fs::read(path).ok()?;
    let policy = MtaStsPolicy::parse_bytes(&body).ok()?;
    let fetched = meta.modified().ok()?;
    let expires = fetched + Duration::from_secs(u64::from(policy.max_age));
    (expires > now).then_some(policy)
}

/// The domain of a next-hop key (`example.com`, `example.com.`,
/// `example.com:2525`); `None` for forms this service does not answer
/// (parent-domain `.example.com`, empty, not a host name).
fn nexthop_domain(key: &str) -> Option<&str> {
    let host = match key.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => key,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && !host.starts_with('.')
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' || b >= 0x80);
    valid.then_some(host)
}

/// Decrements the connection count when a connection thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `secmx policyd` until SIGTERM or SIGINT.
pub fn run(args: PolicydArgs) -> Result<u8, Failure> {
    if args.max_connections == 0 {
        return Err(Failure::new(
            exit::USAGE,
            "--max-connections must be at least 1",
        ));
    }
    if args.sor_transport.is_empty()
        || !args
            .sor_transport
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Failure::new(
            exit::USAGE,
            "--sor-transport must be a master.cf service name",
        ));
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .map_err(|e| Failure::new(exit::OSERR, format!("cannot handle signals: {e}")))?;
    }
    let listener = TcpListener::bind(args.listen).map_err(|e| {
        Failure::new(
            exit::OSERR,
            format!("cannot listen on {}: {e}", args.listen),
        )
    })?;
    let resolver = args.dns.unwrap_or_else(dns_udp::system_resolver);
    let bound = listener.local_addr().unwrap_or(args.listen);
    eprintln!(
        "secmx policyd: listening on {bound}, resolver {resolver}{}, cache {} s",
        if args.dns_trusted {
            " (trusted for DNSSEC)"
        } else {
            ""
        },
        args.cache_ttl
    );
    let service = Arc::new(Service::new(
        resolver,
        args.dns_trusted,
        Duration::from_secs(args.cache_ttl),
        args.sor_transport,
        args.mta_sts_dir,
    ));
    serve(listener, service, args.max_connections, &shutdown)
        .map_err(|e| Failure::new(exit::IOERR, format!("listener: {e}")))?;
    Ok(exit::OK)
}

/// Accepts connections until `shutdown` is set; one thread each, at most
/// `max_connections`.
pub fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    max_connections: usize,
    shutdown: &Arc<AtomicBool>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let active = Arc::new(AtomicUsize::new(0));
    while !shutdown.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(TICK);
                continue;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) || e.raw_os_error() == Some(24) =>
            {
                thread::sleep(TICK);
                continue;
            }
            Err(e) => return Err(e),
        };
        let slot = Slot(Arc::clone(&active));
        if active.fetch_add(1, Ordering::SeqCst) >= max_connections {
            // Over the limit: closed at once; Postfix counts a lookup
            // error and tries again later.
            drop(stream);
            drop(slot);
            continue;
        }
        let service = Arc::clone(&service);
        let shutdown = Arc::clone(shutdown);
        let spawned = thread::Builder::new()
            .name("socketmap".into())
            .spawn(move || {
                let _slot = slot;
                let _ = run_connection(stream, &service, &shutdown);
            });
        if let Err(e) = spawned {
            eprintln!("secmx policyd: cannot start a connection thread: {e}");
        }
    }
    Ok(())
}

/// Serves one connection: every netstring request gets one netstring
/// reply, in order, until the client closes, goes idle, breaks the
/// framing, or `shutdown` is set.
pub fn run_connection(
    mut stream: TcpStream,
    service: &Service,
    shutdown: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut out = Vec::new();
    let mut idle_since = Instant::now();
    loop {
        // Answer every whole request already read.
        loop {
            match netstring::parse(&buf, netstring::MAX_REQUEST) {
                Ok(Status::Complete((payload, used))) => {
                    let answered = service.answer(payload, Instant::now());
                    log(payload, &answered);
                    out.clear();
                    netstring::encode(answered.reply.payload().as_bytes(), &mut out);
                    stream.write_all(&out)?;
                    buf.drain(..used);
                }
                Ok(Status::Partial) => break,
                Err(e) => {
                    out.clear();
                    let reply = Reply::Perm(format!("bad request: {e}"));
                    netstring::encode(reply.payload().as_bytes(), &mut out);
                    let _ = stream.write_all(&out);
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(());
                }
            }
        }
        if shutdown.load(Ordering::SeqCst) || idle_since.elapsed() > IDLE_TIMEOUT {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                idle_since = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// One JSON line per request on stdout.
fn log(payload: &[u8], answered: &Answered) {
    let line = json!({
        "request": String::from_utf8_lossy(payload),
        "reply": answered.reply.payload(),
        "cached": answered.cached,
        "why": answered.why,
    });
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    use self::decide::tests::Zone;

    fn zone() -> Zone {
        Zone::new(false)
            .mx("sor.test.", 10, "mx.sor.test.")
            .a("mx.sor.test.")
            .srv("_secmx._tcp.sor.test.", 2525, "relay.sor.test.")
            .a("relay.sor.test.")
            .mx("plain.test.", 10, "mx.plain.test.")
            .a("mx.plain.test.")
            .servfail("broken.test.", secmx_dns::hickory_proto::rr::RecordType::MX)
    }

    fn service(calls: Arc<AtomicUsize>) -> Service {
        let zone = Arc::new(zone());
        Service::with_discover(
            Box::new(move |domain: &str| {
                calls.fetch_add(1, Ordering::SeqCst);
                if domain.contains("..") {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty label"));
                }
                Ok(zone.discover(domain))
            }),
            Duration::from_secs(60),
            "smtp".into(),
            None,
        )
    }

    /// socketmap_table(5) requests through the whole answer path.
    #[test]
    fn socketmap_requests_and_replies() {
        let calls = Arc::new(AtomicUsize::new(0));
        let s = service(Arc::clone(&calls));
        let t0 = Instant::now();
        let ask = |req: &str| s.answer(req.as_bytes(), t0).reply.payload();
        let cases = [
            ("postfix sor.test", "OK encrypt"),
            ("postfix SOR.test.", "OK encrypt"),
            ("postfix sor.test:2525", "OK encrypt"),
            ("postfix plain.test", "NOTFOUND "),
            ("postfix .test", "NOTFOUND "),
            ("postfix ", "NOTFOUND "),
            ("postfix a/b", "NOTFOUND "),
            ("postfix [relay.sor.test]:2525", "NOTFOUND "),
            ("transport carol@plain.test", "NOTFOUND "),
            ("transport carol@[192.0.2.1]", "NOTFOUND "),
            (
                "transport carol@sor.test",
                "OK smtp:[relay.sor.test]:2525, sor.test",
            ),
            // Known now: the next-hop the transport map handed out.
            ("postfix [relay.sor.test]:2525", "OK encrypt"),
            ("postfix [other.test]:2525", "NOTFOUND "),
            (
                "transport sor.test",
                "OK smtp:[relay.sor.test]:2525, sor.test",
            ),
            ("postfix broken.test", ""),
            ("tls sor.test", ""),
            ("postfix", ""),
        ];
        for (req, want) in cases {
            let got = ask(req);
            match want {
                "" => assert!(
                    got.starts_with("TEMP ") || got.starts_with("PERM "),
                    "{req}: {got}"
                ),
                _ => assert_eq!(got, want, "{req}"),
            }
        }
        assert!(ask("postfix broken.test").starts_with("TEMP DNS look-up broken.test MX"));
        assert!(ask("tls sor.test").starts_with("PERM unknown socketmap name"));
    }

    #[test]
    fn answers_are_cached_for_the_ttl_and_temp_is_not() {
        let calls = Arc::new(AtomicUsize::new(0));
        let s = service(Arc::clone(&calls));
        let t0 = Instant::now();
        let first = s.answer(b"postfix sor.test", t0);
        assert!(!first.cached);
        let again = s.answer(b"transport x@sor.test", t0 + Duration::from_secs(59));
        assert!(again.cached);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let later = s.answer(b"postfix sor.test", t0 + Duration::from_secs(61));
        assert!(!later.cached);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        for _ in 0..2 {
            let temp = s.answer(b"postfix broken.test", t0);
            assert!(matches!(temp.reply, Reply::Temp(_)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Routes outlive the domain entry (twice the TTL).
        let _ = s.answer(b"transport x@sor.test", t0);
        assert_eq!(
            s.answer(
                b"postfix [relay.sor.test]:2525",
                t0 + Duration::from_secs(119)
            )
            .reply,
            Reply::Ok("encrypt".into())
        );
        assert_eq!(
            s.answer(
                b"postfix [relay.sor.test]:2525",
                t0 + Duration::from_secs(121)
            )
            .reply,
            Reply::NotFound
        );
    }

    #[test]
    fn nexthop_keys() {
        let cases = [
            ("example.com", Some("example.com")),
            ("example.com.", Some("example.com")),
            ("example.com:2525", Some("example.com")),
            ("example.com:", None),
            ("example.com:smtp", None),
            (".example.com", None),
            ("", None),
            ("a b", None),
            ("user@example.com", None),
            ("bücher.example", Some("bücher.example")),
        ];
        for (key, want) in cases {
            assert_eq!(nexthop_domain(key), want, "{key}");
        }
    }

    /// RFC 8461 §5.1: a provided policy is used while fresh.
    #[test]
    fn rfc8461_5_1_provided_policy_freshness() {
        let dir = std::env::temp_dir().join(format!("secmx-policyd-sts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("d.test");
        std::fs::write(
            &path,
            "version: STSv1\nmode: enforce\nmx: mx.d.test\nmax_age: 3600\n",
        )
        .expect("policy");
        let now = SystemTime::now();
        assert!(read_fresh_policy(&path, now).is_some());
        assert!(read_fresh_policy(&path, now + Duration::from_secs(7200)).is_none());
        std::fs::write(&path, "not a policy").expect("policy");
        assert!(read_fresh_policy(&path, now).is_none());
        assert!(read_fresh_policy(&dir.join("none.test"), now).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Persistent connection: pipelined and split requests, then a framing
    /// error closes it after a PERM.
    #[test]
    fn connection_answers_in_order_and_closes_on_bad_framing() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let addr = listener.local_addr().expect("address");
        let calls = Arc::new(AtomicUsize::new(0));
        let s = Arc::new(service(calls));
        let shutdown = Arc::new(AtomicBool::new(false));
        let server = {
            let shutdown = Arc::clone(&shutdown);
            thread::spawn(move || serve(listener, s, 4, &shutdown))
        };
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c.write_all(b"16:postfix sor.test,18:postfix plain.te")
            .expect("write");
        thread::sleep(Duration::from_millis(50));
        c.write_all(b"st,").expect("write");
        let want = b"10:OK encrypt,9:NOTFOUND ,";
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).expect("replies");
        assert_eq!(got, want);
        c.write_all(b"5:postfix x;").expect("write");
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        let rest = String::from_utf8_lossy(&rest);
        assert!(rest.contains(":PERM bad request: "), "{rest}");
        assert!(rest.ends_with(','), "{rest}");
        shutdown.store(true, Ordering::SeqCst);
        server.join().expect("server thread").expect("serve");
    }
}
