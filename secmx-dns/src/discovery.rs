//! The discovery state machine for one recipient domain.
//!
//! ```text
//!            new(D)
//!              │ queues: _secmx._tcp.D SRV · D MX · D SECMX · secmx.D A, AAAA
//!              │         · _mta-sts.D TXT · _smtp._tls.D TXT
//!              ▼
//!   ┌──► poll_query(now) ──► Query{id, name, type, UDP|TCP, bytes} ──► resolver
//!   │                                                                    │
//!   │  handle_response(now, bytes) ◄─────────────────────────────────────┘
//!   │    id + question match? TC over UDP → same question again over TCP
//!   │    outcome: answer | NODATA | NXDOMAIN | indeterminate; AD recorded
//!   │    follow-ups: A + AAAA of every target host (MX hosts, SRV and
//!   │    SECMX targets, the implicit MX), TLSA _port._tcp.host when the
//!   │    answer naming the target was authenticated
//!   └──── handle_timeout(now): resend over UDP, or count as timed out
//!              │ every look-up done
//!              ▼
//!          Discovered
//! ```
//!
//! Every look-up ends in exactly one [`Outcome`]. The number of queries sent
//! (retries and TCP repeats included) is bounded by
//! [`Config::max_queries`]; look-ups past the bound end as
//! [`Indeterminate::QueryLimit`].

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hickory_proto::rr::{Name, RData, RecordType};

use crate::conventions::{self, Convention, Inputs, SorTarget, SrvRecord};
use crate::error::{Error, ResponseError};
use crate::limits::{
    DEFAULT_MAX_QUERIES, DEFAULT_QUERY_TIMEOUT, DEFAULT_SECMX_TYPE, DEFAULT_UDP_ATTEMPTS,
    MAX_ADDRESSES, MAX_MX, MAX_SECMX, MAX_SRV, MAX_TLSA, MAX_TXT, SMTP_PORT,
};
use crate::mx::{self, MailRoute, MxHost, MxSet};
use crate::names::{self, Wire, lower, same};
use crate::query::{Query, Transport, encode_query_wire};
use crate::response::{self, Indeterminate, Outcome};
use crate::secmx_rr::SecmxRdata;
use crate::tlsa::{TlsaRecord, TlsaSet};
use crate::txt::{MtaStsRecord, TlsRptRecord};

/// How a discovery runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The SECMX record type code (default 65482). Must be a type
    /// hickory-proto does not decode itself (a private-use type is).
    pub secmx_type: u16,
    /// The resolver validates DNSSEC and the path to it is trusted
    /// (loopback, or a secured channel; RFC 6698 §4.1, RFC 7672 §2.1). When
    /// false (the default), the AD bit counts for nothing: no target is
    /// authenticated and no TLSA look-up is made.
    pub trusted_resolver: bool,
    /// How long to wait for the answer to one query (default 5 s).
    pub query_timeout: Duration,
    /// How many times one question is sent over UDP before it counts as
    /// timed out (default 2). A TCP repeat is sent once.
    pub udp_attempts: u8,
    /// Most queries sent in all (default 96).
    pub max_queries: usize,
    /// Seed for query ids. Pass 64 random bits from the operating system
    /// for every discovery: ids are one of the defences against forged
    /// answers (RFC 5452 §4.3). The default seed (0) is for tests.
    pub id_seed: u64,
    /// Look up TLSA records for authenticated targets (default true).
    pub tlsa: bool,
    /// Look up the MTA-STS and TLS-RPT TXT records (default true).
    pub mta_sts: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            secmx_type: DEFAULT_SECMX_TYPE,
            trusted_resolver: false,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            udp_attempts: DEFAULT_UDP_ATTEMPTS,
            max_queries: DEFAULT_MAX_QUERIES,
            id_seed: 0,
            tlsa: true,
            mta_sts: true,
        }
    }
}

impl Config {
    fn check(&self) -> Result<(), Error> {
        if !matches!(RecordType::from(self.secmx_type), RecordType::Unknown(_)) {
            return Err(Error::InvalidSecmxType(self.secmx_type));
        }
        if self.query_timeout.is_zero() {
            return Err(Error::InvalidConfig("query_timeout is zero"));
        }
        if self.udp_attempts == 0 {
            return Err(Error::InvalidConfig("udp_attempts is zero"));
        }
        if self.max_queries == 0 {
            return Err(Error::InvalidConfig("max_queries is zero"));
        }
        Ok(())
    }
}

/// What [`Discovery::handle_response`] did with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// The response answered its query.
    Answer,
    /// The response came over UDP with the TC bit set (RFC 1035 §4.2.1,
    /// RFC 7766 §5): the same question is queued again, to be sent over
    /// TCP; call [`Discovery::poll_query`].
    RetryOverTcp,
}

/// Why a look-up was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// `_secmx._tcp.D` SRV.
    SecmxSrv,
    /// `D` MX.
    Mx,
    /// `D` SECMX.
    SecmxRr,
    /// `secmx.D` A or AAAA: the naming convention (and that host's
    /// addresses).
    Naming,
    /// A or AAAA of a target host.
    Address,
    /// TLSA of a target.
    Tlsa,
    /// `_mta-sts.D` TXT.
    MtaSts,
    /// `_smtp._tls.D` TXT.
    TlsRpt,
}

/// How one look-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupOutcome {
    /// The name asked for.
    pub name: Name,
    /// The type asked for.
    pub record_type: RecordType,
    /// Why it was asked.
    pub purpose: Purpose,
    /// What came back.
    pub outcome: Outcome,
    /// The answer had the AD bit from a trusted resolver (never for an
    /// indeterminate outcome).
    pub authenticated: bool,
}

/// The addresses of one target host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostAddresses {
    /// The host (lower case).
    pub host: Name,
    /// Its IPv4 addresses (at most [`MAX_ADDRESSES`]).
    pub ipv4: Vec<Ipv4Addr>,
    /// Its IPv6 addresses (at most [`MAX_ADDRESSES`]).
    pub ipv6: Vec<Ipv6Addr>,
    /// How the A look-up ended.
    pub a: Outcome,
    /// How the AAAA look-up ended.
    pub aaaa: Outcome,
    /// Both answers were authenticated.
    pub authenticated: bool,
}

/// A TXT-based record and how its look-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Found<T> {
    /// How the look-up ended.
    pub outcome: Outcome,
    /// The answer was authenticated.
    pub authenticated: bool,
    /// The valid record, if there was exactly one.
    pub record: Option<T>,
}

/// The result of a discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discovered {
    /// The recipient domain (lower case).
    pub domain: Name,
    /// The SOR targets in merge order.
    pub sors: Vec<SorTarget>,
    /// The ordinary mail route: MX hosts (candidate BERs), null MX, …
    pub mx: MailRoute,
    /// Addresses of every target host: SORs, MX hosts, the implicit MX.
    pub hosts: Vec<HostAddresses>,
    /// TLSA RRsets of authenticated targets.
    pub tlsa: Vec<TlsaSet>,
    /// The MTA-STS TXT record (RFC 8461 §3.1).
    pub mta_sts: Found<MtaStsRecord>,
    /// The TLS-RPT TXT record (RFC 8460 §3).
    pub tls_rpt: Found<TlsRptRecord>,
    /// Every look-up, in the order they were made.
    pub lookups: Vec<LookupOutcome>,
}

impl Discovered {
    /// Whether a look-up of one of the four conventions is indeterminate:
    /// the SOR list may be missing targets, so the absence of a SOR proves
    /// nothing.
    pub fn sor_indeterminate(&self) -> bool {
        self.lookups.iter().any(|l| {
            matches!(
                l.purpose,
                Purpose::SecmxSrv | Purpose::Mx | Purpose::SecmxRr | Purpose::Naming
            ) && l.outcome.is_indeterminate()
        })
    }

    /// Whether the result is indeterminate: a convention look-up or the
    /// mail route is. Such a result must never cause a bounce.
    pub fn is_indeterminate(&self) -> bool {
        self.sor_indeterminate() || matches!(self.mx, MailRoute::Indeterminate(_))
    }

    /// The addresses of `host`.
    pub fn addresses(&self, host: &Name) -> Option<&HostAddresses> {
        self.hosts.iter().find(|h| same(&h.host, host))
    }

    /// The authenticated TLSA RRset of `host` and `port`.
    pub fn tlsa(&self, host: &Name, port: u16) -> Option<&TlsaSet> {
        self.tlsa
            .iter()
            .find(|t| t.port == port && same(&t.host, host))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued {
        transport: Transport,
        attempt: u8,
    },
    InFlight {
        id: u16,
        deadline: Instant,
        transport: Transport,
        attempt: u8,
    },
    Done,
}

#[derive(Debug, Clone, Default)]
enum Data {
    #[default]
    Empty,
    Mx(Vec<(u16, Name)>),
    Srv(Vec<SrvRecord>),
    Secmx(Vec<SecmxRdata>),
    V4(Vec<Ipv4Addr>),
    V6(Vec<Ipv6Addr>),
    Tlsa(Vec<TlsaRecord>),
    Txt(Vec<Vec<u8>>),
}

/// Where a name's wire form (RFC 1035 §3.1, lower case) is in
/// `Discovery::wire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, wire: &[u8]) -> &[u8] {
        wire.get(self.start..self.end).unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
struct Lookup {
    name: Name,
    /// `name` in wire form: what the query carries and the answer's
    /// question must repeat.
    qname: Span,
    record_type: RecordType,
    purpose: Purpose,
    state: State,
    outcome: Outcome,
    authenticated: bool,
    data: Data,
}

// Fixed positions of the first look-ups.
const SRV: usize = 0;
const MX: usize = 1;
const SECMX: usize = 2;
/// The naming host `secmx.D` is the first host.
const NAMING_SLOT: usize = 0;

/// Discovery of the SecMX receivers and mail route of one domain. See the
/// [crate docs](crate) for the run loop.
#[derive(Debug, Clone)]
pub struct Discovery {
    domain: Name,
    naming_host: Name,
    config: Config,
    lookups: Vec<Lookup>,
    /// Every target host, with its A and AAAA look-ups.
    hosts: Vec<HostSlot>,
    /// Every TLSA look-up, by host and port.
    tlsa: Vec<TlsaSlot>,
    queue: VecDeque<usize>,
    sent: usize,
    id_state: u64,
    result_taken: bool,
    /// Scratch space: the answer records of one response, and the
    /// positions of those that answer the question.
    answers: Vec<response::Answer>,
    found: Vec<usize>,
    /// The wire forms of the look-ups' names, end to end.
    wire: Vec<u8>,
}

#[derive(Debug, Clone)]
struct HostSlot {
    name: Name,
    /// `name` in wire form, shared by its A and AAAA look-ups.
    qname: Span,
    a: usize,
    aaaa: usize,
}

#[derive(Debug, Clone)]
struct TlsaSlot {
    /// Index in `Discovery::hosts`.
    host: usize,
    port: u16,
    lookup: usize,
}

impl Discovery {
    /// Starts a discovery for `domain` (a domain name, with or without the
    /// final dot; internationalised names are converted to A-labels).
    pub fn new(domain: &str, config: Config) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidDomain {
            domain: domain.to_owned(),
            reason: reason.to_owned(),
        };
        if domain.is_empty() || domain == "." {
            return Err(invalid("empty"));
        }
        let name = if domain.is_ascii() {
            Name::from_ascii(domain)
        } else {
            Name::from_utf8(domain)
        }
        .map_err(|e| invalid(&e.to_string()))?;
        Self::with_name(name, config)
    }

    /// Starts a discovery for `domain`, given as a hickory [`Name`].
    pub fn with_name(domain: Name, config: Config) -> Result<Self, Error> {
        config.check()?;
        let mut domain = domain.to_lowercase();
        domain.set_fqdn(true);
        if domain.is_root() {
            return Err(Error::InvalidDomain {
                domain: ".".into(),
                reason: "the root".into(),
            });
        }
        let mut wire = Vec::with_capacity(512);
        names::write_wire(&domain, &mut wire);
        let base = Span {
            start: 0,
            end: wire.len(),
        };
        let mut derived = |labels: &[&[u8]]| {
            let span = prefix_wire(&mut wire, labels, base);
            let name = names::from_wire(span.of(&wire)).ok_or(Error::DomainTooLong)?;
            Ok::<_, Error>((name, span))
        };
        let (srv_name, srv_wire) = derived(&[b"_secmx", b"_tcp"])?;
        let (naming_host, _) = derived(&[b"secmx"])?;
        let (sts_name, sts_wire) = derived(&[b"_mta-sts"])?;
        let (rpt_name, rpt_wire) = derived(&[b"_smtp", b"_tls"])?;
        let mut this = Self {
            naming_host: naming_host.clone(),
            id_state: config.id_seed,
            config,
            lookups: Vec::with_capacity(16),
            hosts: Vec::with_capacity(4),
            tlsa: Vec::new(),
            queue: VecDeque::with_capacity(16),
            sent: 0,
            result_taken: false,
            answers: Vec::new(),
            found: Vec::new(),
            wire,
            domain: domain.clone(),
        };
        let secmx_type = RecordType::from(this.config.secmx_type);
        // The order fixes SRV, MX, SECMX at 0, 1, 2.
        this.push(srv_name, srv_wire, RecordType::SRV, Purpose::SecmxSrv);
        this.push(domain.clone(), base, RecordType::MX, Purpose::Mx);
        this.push(domain, base, secmx_type, Purpose::SecmxRr);
        this.ensure_host(&naming_host, Purpose::Naming);
        if this.config.mta_sts {
            this.push(sts_name, sts_wire, RecordType::TXT, Purpose::MtaSts);
            this.push(rpt_name, rpt_wire, RecordType::TXT, Purpose::TlsRpt);
        }
        Ok(this)
    }

    /// The recipient domain (lower case, fully qualified).
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The next query to send, if any. Its time-out starts at `now`.
    ///
    /// Worth calling again after [`Discovery::new`],
    /// [`handle_response`](Self::handle_response) and
    /// [`handle_timeout`](Self::handle_timeout), until it returns `None`.
    #[must_use]
    pub fn poll_query(&mut self, now: Instant) -> Option<Query> {
        while let Some(i) = self.queue.pop_front() {
            let Some(lookup) = self.lookups.get(i) else {
                continue;
            };
            let State::Queued { transport, attempt } = lookup.state else {
                continue;
            };
            if self.sent >= self.config.max_queries {
                self.complete(
                    i,
                    Outcome::Indeterminate(Indeterminate::QueryLimit),
                    false,
                    Data::Empty,
                );
                continue;
            }
            let id = self.fresh_id();
            let lookup = self.lookups.get_mut(i)?;
            let bytes = encode_query_wire(id, lookup.qname.of(&self.wire), lookup.record_type);
            lookup.state = State::InFlight {
                id,
                deadline: now + self.config.query_timeout,
                transport,
                attempt,
            };
            self.sent += 1;
            return Some(Query {
                id,
                name: lookup.name.clone(),
                record_type: lookup.record_type,
                transport,
                bytes,
            });
        }
        None
    }

    /// Takes a response from the resolver (over TCP, without the length
    /// prefix). A packet that does not answer an outstanding query (bad
    /// message, unknown id, other question) is an `Err` and changes
    /// nothing: keep waiting for the real answer. `now` is not used yet;
    /// it is taken so the signature matches the rest of the run loop.
    pub fn handle_response(
        &mut self,
        now: Instant,
        bytes: &[u8],
    ) -> Result<Handled, ResponseError> {
        let _ = now;
        let header = response::header(bytes)?;
        let id = header.id;
        let Some(i) = self
            .lookups
            .iter()
            .position(|l| matches!(l.state, State::InFlight { id: x, .. } if x == id))
        else {
            return Err(ResponseError::UnknownId(id));
        };
        let lookup = &self.lookups[i];
        let Some(question_end) =
            response::question_matches(bytes, lookup.qname.of(&self.wire), lookup.record_type)
        else {
            return Err(ResponseError::QuestionMismatch(id));
        };
        if header.truncated
            && matches!(
                lookup.state,
                State::InFlight {
                    transport: Transport::Udp,
                    ..
                }
            )
        {
            self.lookups[i].state = State::Queued {
                transport: Transport::Tcp,
                attempt: 0,
            };
            self.queue.push_front(i);
            return Ok(Handled::RetryOverTcp);
        }
        let mut answers = std::mem::take(&mut self.answers);
        let rcode = response::answers(
            bytes,
            &header,
            question_end,
            lookup.record_type,
            &mut answers,
        )?;
        let outcome = response::classify(
            rcode,
            &answers,
            &lookup.name,
            lookup.record_type,
            &mut self.found,
        );
        let authenticated =
            self.config.trusted_resolver && header.authentic_data && !outcome.is_indeterminate();
        // The records are moved out; `answers` is cleared below.
        let records = self.found.iter().filter_map(|&i| {
            let answer = answers.get_mut(i)?;
            let data = std::mem::replace(&mut answer.data, RData::Update0(answer.record_type));
            Some((data, answer.upper_case))
        });
        let data = extract(lookup.purpose, lookup.record_type, records);
        answers.clear();
        self.answers = answers;
        self.complete(i, outcome, authenticated, data);
        Ok(Handled::Answer)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due: the
    /// earliest deadline of a query in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lookups
            .iter()
            .filter_map(|l| match l.state {
                State::InFlight { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Expires the queries whose deadline is at or before `now`: each is
    /// queued again over UDP while attempts remain, else its look-up ends
    /// as [`Indeterminate::Timeout`]. Then call
    /// [`poll_query`](Self::poll_query).
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.lookups.len() {
            let State::InFlight {
                deadline,
                transport,
                attempt,
                ..
            } = self.lookups[i].state
            else {
                continue;
            };
            if deadline > now {
                continue;
            }
            let next = attempt.saturating_add(1);
            if transport == Transport::Udp && next < self.config.udp_attempts {
                self.lookups[i].state = State::Queued {
                    transport,
                    attempt: next,
                };
                self.queue.push_back(i);
            } else {
                self.complete(
                    i,
                    Outcome::Indeterminate(Indeterminate::Timeout),
                    false,
                    Data::Empty,
                );
            }
        }
    }

    /// Whether every look-up has ended.
    pub fn is_finished(&self) -> bool {
        self.queue.is_empty() && self.lookups.iter().all(|l| l.state == State::Done)
    }

    /// The number of queries sent so far.
    pub fn queries_sent(&self) -> usize {
        self.sent
    }

    /// The result, once [`is_finished`](Self::is_finished); `None` before.
    pub fn result(&self) -> Option<Discovered> {
        self.is_finished().then(|| self.clone().build())
    }

    /// The result, the first time it is called once the discovery is
    /// finished; `None` before and after.
    #[must_use]
    pub fn poll_result(&mut self) -> Option<Discovered> {
        if self.result_taken || !self.is_finished() {
            return None;
        }
        self.result_taken = true;
        Some(self.build())
    }

    /// splitmix64 over the seed, skipping ids in flight. Terminates: at
    /// most a few hundred look-ups exist (the per-answer limits bound the
    /// targets), far fewer than the 65536 ids.
    fn fresh_id(&mut self) -> u16 {
        loop {
            self.id_state = self.id_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.id_state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let id = (z ^ (z >> 31)) as u16;
            let busy = self
                .lookups
                .iter()
                .any(|l| matches!(l.state, State::InFlight { id: x, .. } if x == id));
            if !busy {
                return id;
            }
        }
    }

    /// Adds a look-up and queues it; returns its index.
    fn push(
        &mut self,
        name: Name,
        qname: Span,
        record_type: RecordType,
        purpose: Purpose,
    ) -> usize {
        let i = self.lookups.len();
        self.queue.push_back(i);
        self.lookups.push(Lookup {
            name,
            qname,
            record_type,
            purpose,
            state: State::Queued {
                transport: Transport::Udp,
                attempt: 0,
            },
            outcome: Outcome::Indeterminate(Indeterminate::Timeout),
            authenticated: false,
            data: Data::Empty,
        });
        i
    }

    /// A and AAAA look-ups for `host`, unless it has them already;
    /// returns its index in `self.hosts`.
    fn ensure_host(&mut self, host: &Name, purpose: Purpose) -> usize {
        let start = self.wire.len();
        let upper = names::write_wire(host, &mut self.wire);
        let qname = Span {
            start,
            end: self.wire.len(),
        };
        let wire = qname.of(&self.wire);
        if let Some(i) = self
            .hosts
            .iter()
            .position(|h| h.qname.of(&self.wire) == wire)
        {
            self.wire.truncate(start);
            return i;
        }
        let name = if upper {
            host.to_lowercase()
        } else {
            host.clone()
        };
        let a = self.push(name.clone(), qname, RecordType::A, purpose);
        let aaaa = self.push(name.clone(), qname, RecordType::AAAA, purpose);
        self.hosts.push(HostSlot {
            name,
            qname,
            a,
            aaaa,
        });
        self.hosts.len() - 1
    }

    /// TLSA at `_port._tcp.host` (RFC 7672 §2.2) for the host in slot
    /// `host`, unless already asked. A host too long for the prefix cannot
    /// have TLSA records and gets no look-up.
    fn ensure_tlsa(&mut self, host: usize, port: u16) {
        if !self.config.tlsa || self.tlsa.iter().any(|t| t.host == host && t.port == port) {
            return;
        }
        let Some(slot) = self.hosts.get(host) else {
            return;
        };
        let mut digits = [0u8; 6];
        let port_label = port_label(port, &mut digits);
        let qname = prefix_wire(&mut self.wire, &[port_label, b"_tcp"], slot.qname);
        let Some(name) = names::from_wire(qname.of(&self.wire)) else {
            self.wire.truncate(qname.start);
            return;
        };
        let lookup = self.push(name, qname, RecordType::TLSA, Purpose::Tlsa);
        self.tlsa.push(TlsaSlot { host, port, lookup });
    }

    /// Ends a look-up and queues the look-ups its answer calls for.
    fn complete(&mut self, i: usize, outcome: Outcome, authenticated: bool, data: Data) {
        let Some(lookup) = self.lookups.get_mut(i) else {
            return;
        };
        lookup.state = State::Done;
        lookup.authenticated = authenticated;
        let purpose = lookup.purpose;
        if purpose == Purpose::Mx && outcome == Outcome::NoData {
            // RFC 5321 §5.1: no MX, the domain itself is the implicit MX.
            let domain = self.domain.clone();
            self.follow(&domain, SMTP_PORT, authenticated);
        }
        match &data {
            Data::Mx(records) => {
                for (_, host) in records.iter().filter(|(_, h)| !h.is_root()) {
                    self.follow(host, SMTP_PORT, authenticated);
                }
            }
            Data::Srv(records) => {
                // ordered and filtered by `extract`
                for r in records {
                    self.follow(&r.target, r.port, authenticated);
                }
            }
            Data::Secmx(records) => {
                for r in records {
                    self.follow(&r.target, r.port(), authenticated);
                }
            }
            Data::V4(a) if purpose == Purpose::Naming && authenticated && !a.is_empty() => {
                // The naming convention: secmx.D (slot 0) has authenticated
                // addresses.
                self.ensure_tlsa(NAMING_SLOT, SMTP_PORT);
            }
            Data::V6(a) if purpose == Purpose::Naming && authenticated && !a.is_empty() => {
                self.ensure_tlsa(NAMING_SLOT, SMTP_PORT);
            }
            _ => {}
        }
        if let Some(lookup) = self.lookups.get_mut(i) {
            lookup.outcome = outcome;
            lookup.data = data;
        }
    }

    /// The look-ups a target calls for: its addresses, and its TLSA
    /// records when the answer that named it was authenticated.
    fn follow(&mut self, host: &Name, port: u16, authenticated: bool) {
        let slot = self.ensure_host(host, Purpose::Address);
        if authenticated {
            self.ensure_tlsa(slot, port);
        }
    }

    /// Takes the addresses of a host out of its look-ups.
    fn take_addresses(&mut self, slot: usize) -> HostAddresses {
        let Some(slot) = self.hosts.get(slot) else {
            return HostAddresses {
                host: Name::root(),
                ipv4: Vec::new(),
                ipv6: Vec::new(),
                a: Outcome::Indeterminate(Indeterminate::Timeout),
                aaaa: Outcome::Indeterminate(Indeterminate::Timeout),
                authenticated: false,
            };
        };
        let mut take = |i: usize| {
            self.lookups.get_mut(i).map(|l| {
                (
                    std::mem::take(&mut l.data),
                    l.outcome.clone(),
                    l.authenticated,
                )
            })
        };
        let timeout = || {
            (
                Data::Empty,
                Outcome::Indeterminate(Indeterminate::Timeout),
                false,
            )
        };
        let (v4, a, a_auth) = take(slot.a).unwrap_or_else(timeout);
        let (v6, aaaa, aaaa_auth) = take(slot.aaaa).unwrap_or_else(timeout);
        HostAddresses {
            host: slot.name.clone(),
            ipv4: match v4 {
                Data::V4(v) => v,
                _ => Vec::new(),
            },
            ipv6: match v6 {
                Data::V6(v) => v,
                _ => Vec::new(),
            },
            a,
            aaaa,
            authenticated: a_auth && aaaa_auth,
        }
    }

    /// Where `host` is in `self.hosts` (and in `Discovered::hosts`).
    fn host_index(&self, host: &Name) -> Option<usize> {
        let wire = Wire::of(host)?;
        self.hosts
            .iter()
            .position(|h| h.qname.of(&self.wire) == wire.as_slice())
    }

    /// Builds the result, moving the records out of the look-ups.
    fn build(&mut self) -> Discovered {
        let hosts: Vec<HostAddresses> = (0..self.hosts.len())
            .map(|i| self.take_addresses(i))
            .collect();
        let mut tlsa_records: Vec<Vec<TlsaRecord>> = Vec::with_capacity(self.tlsa.len());
        for t in &self.tlsa {
            let data = self
                .lookups
                .get_mut(t.lookup)
                .map(|l| std::mem::take(&mut l.data));
            tlsa_records.push(match data {
                Some(Data::Tlsa(records)) => records,
                _ => Vec::new(),
            });
        }
        // The host slot of each SOR target, then of each MX host: the TLSA
        // RRsets are matched to targets by slot, not by name.
        let mut slots = std::mem::take(&mut self.found);
        slots.clear();
        let get = |i: usize| self.lookups.get(i);
        let mx_records: &[(u16, Name)] = match get(MX).map(|l| &l.data) {
            Some(Data::Mx(r)) => r,
            _ => &[],
        };
        let srv_records: &[SrvRecord] = match get(SRV).map(|l| &l.data) {
            Some(Data::Srv(r)) => r,
            _ => &[],
        };
        let secmx_records: &[SecmxRdata] = match get(SECMX).map(|l| &l.data) {
            Some(Data::Secmx(r)) => r,
            _ => &[],
        };
        let auth = |i: usize| get(i).is_some_and(|l| l.authenticated);

        // The naming host is always the first slot.
        let naming_has_address = hosts
            .first()
            .is_some_and(|h| !h.ipv4.is_empty() || !h.ipv6.is_empty());

        let mut sors = conventions::merge(&Inputs {
            secmx: secmx_records,
            srv: srv_records,
            mx: mx_records,
            naming_host: &self.naming_host,
            naming_has_address,
        });
        let naming_by_mx = mx_records.iter().any(|(_, h)| same(h, &self.naming_host));
        for t in &mut sors {
            let slot = self.host_index(&t.host);
            slots.push(slot.unwrap_or(usize::MAX));
            let mut ok = slot
                .and_then(|i| hosts.get(i))
                .is_some_and(|h| h.authenticated);
            for c in t.conventions.iter() {
                ok &= match c {
                    Convention::SecmxRr => auth(SECMX),
                    Convention::Srv => auth(SRV),
                    Convention::Mx51966 => auth(MX),
                    Convention::Naming => !naming_by_mx || auth(MX),
                };
            }
            t.authenticated = ok;
        }

        let mx = self.mail_route(mx_records, &hosts, auth(MX), &mut slots);
        let (sor_slots, mx_slots) = slots.split_at_checked(sors.len()).unwrap_or_default();

        let mut tlsa = Vec::new();
        for (t, records) in self.tlsa.iter().zip(tlsa_records) {
            let (Some(l), Some(slot)) = (self.lookups.get(t.lookup), self.hosts.get(t.host)) else {
                continue;
            };
            let (host, port) = (&slot.name, &t.port);
            let target_ok = sors
                .iter()
                .zip(sor_slots)
                .any(|(s, &i)| s.authenticated && s.port == *port && i == t.host)
                || match &mx {
                    MailRoute::Hosts(h) => {
                        *port == SMTP_PORT
                            && h.iter()
                                .zip(mx_slots)
                                .any(|(m, &i)| m.authenticated && i == t.host)
                    }
                    _ => false,
                };
            if l.authenticated && l.outcome == Outcome::Answer && target_ok {
                tlsa.push(TlsaSet {
                    host: host.clone(),
                    port: *port,
                    records,
                });
            }
        }

        let txt = |purpose: Purpose| self.lookups.iter().find(|l| l.purpose == purpose);
        fn records(l: &Lookup) -> &[Vec<u8>] {
            match &l.data {
                Data::Txt(t) => t.as_slice(),
                _ => &[],
            }
        }
        let absent = || (Outcome::NoData, false);
        let (outcome, authenticated) = txt(Purpose::MtaSts)
            .map(|l| (l.outcome.clone(), l.authenticated))
            .unwrap_or_else(absent);
        let mta_sts = Found {
            outcome,
            authenticated,
            record: txt(Purpose::MtaSts)
                .and_then(|l| MtaStsRecord::from_txt(records(l).iter().map(Vec::as_slice))),
        };
        let (outcome, authenticated) = txt(Purpose::TlsRpt)
            .map(|l| (l.outcome.clone(), l.authenticated))
            .unwrap_or_else(absent);
        let tls_rpt = Found {
            outcome,
            authenticated,
            record: txt(Purpose::TlsRpt)
                .and_then(|l| TlsRptRecord::from_txt(records(l).iter().map(Vec::as_slice))),
        };

        slots.clear();
        self.found = slots;
        Discovered {
            domain: self.domain.clone(),
            sors,
            mx,
            hosts,
            tlsa,
            mta_sts,
            tls_rpt,
            lookups: self
                .lookups
                .iter()
                .map(|l| LookupOutcome {
                    name: l.name.clone(),
                    record_type: l.record_type,
                    purpose: l.purpose,
                    outcome: l.outcome.clone(),
                    authenticated: l.authenticated,
                })
                .collect(),
        }
    }

    /// The mail route; `slots` receives the host slot of each MX host
    /// whose MX answer was authenticated (`usize::MAX` for others).
    fn mail_route(
        &self,
        mx_records: &[(u16, Name)],
        hosts: &[HostAddresses],
        mx_authenticated: bool,
        slots: &mut Vec<usize>,
    ) -> MailRoute {
        let mut host_auth = |host: &Name| {
            // Only an authenticated MX host's slot is ever looked at.
            let slot = mx_authenticated.then(|| self.host_index(host)).flatten();
            slots.push(slot.unwrap_or(usize::MAX));
            mx_authenticated
                && slot
                    .and_then(|i| hosts.get(i))
                    .is_some_and(|h| h.authenticated)
        };
        let outcome = self
            .lookups
            .get(MX)
            .map(|l| l.outcome.clone())
            .unwrap_or(Outcome::Indeterminate(Indeterminate::Timeout));
        match outcome {
            Outcome::Indeterminate(why) => MailRoute::Indeterminate(why),
            Outcome::NxDomain => MailRoute::NxDomain,
            Outcome::Answer => match mx::ordinary(mx_records) {
                MxSet::Null => MailRoute::NullMx,
                MxSet::Hosts(h) => MailRoute::Hosts(
                    h.into_iter()
                        .map(|(preference, host)| MxHost {
                            preference,
                            host: host.clone(),
                            implicit: false,
                            authenticated: host_auth(host),
                        })
                        .collect(),
                ),
            },
            Outcome::NoData => {
                let Some(own) = self.host_index(&self.domain).and_then(|i| hosts.get(i)) else {
                    return MailRoute::Indeterminate(Indeterminate::QueryLimit);
                };
                if !own.ipv4.is_empty() || !own.ipv6.is_empty() {
                    MailRoute::Hosts(vec![MxHost {
                        preference: 0,
                        host: self.domain.clone(),
                        implicit: true,
                        authenticated: mx_authenticated && own.authenticated,
                    }])
                } else if let Outcome::Indeterminate(why) = &own.a {
                    MailRoute::Indeterminate(*why)
                } else if let Outcome::Indeterminate(why) = &own.aaaa {
                    MailRoute::Indeterminate(*why)
                } else {
                    MailRoute::NoRoute
                }
            }
        }
    }
}

/// Takes what a look-up needs from the records of its answer, within the
/// limits: each record's data, and whether the name in it (of an MX or SRV
/// record) has an upper-case letter. Records that do not decode (a bad
/// SECMX RDATA) are skipped.
fn extract(
    purpose: Purpose,
    record_type: RecordType,
    records: impl Iterator<Item = (RData, bool)>,
) -> Data {
    // Names are lowered only when they have an upper-case letter.
    let lowered = |name: Name, upper_case: bool| {
        if upper_case {
            name.to_lowercase()
        } else {
            name
        }
    };
    match (purpose, record_type) {
        (Purpose::Mx, _) => {
            let mut mx: Vec<(u16, Name)> = records
                .filter_map(|r| match r {
                    (RData::MX(mx), upper) => Some((mx.preference, lowered(mx.exchange, upper))),
                    _ => None,
                })
                .take(MAX_MX)
                .collect();
            // RFC 5321 §5.1 order; stable, so ties keep the resolver's order
            mx.sort_by_key(|(preference, _)| *preference);
            Data::Mx(mx)
        }
        (Purpose::SecmxSrv, _) => {
            let mut srv: Vec<SrvRecord> = records
                .filter_map(|r| match r {
                    (RData::SRV(s), upper) => Some(SrvRecord {
                        priority: s.priority,
                        weight: s.weight,
                        port: s.port,
                        target: lowered(s.target, upper),
                    }),
                    _ => None,
                })
                .take(MAX_SRV)
                .collect();
            conventions::sort_srv(&mut srv);
            Data::Srv(srv)
        }
        (Purpose::SecmxRr, _) => {
            let mut secmx: Vec<SecmxRdata> = records
                .filter_map(|r| match r {
                    (RData::Unknown { rdata, .. }, _) => SecmxRdata::decode(&rdata.anything).ok(),
                    _ => None,
                })
                .filter(|r| !r.target.is_root())
                .map(|mut r| {
                    r.target = lower(&r.target);
                    r
                })
                .take(MAX_SECMX)
                .collect();
            secmx.sort_by_key(|r| r.preference);
            Data::Secmx(secmx)
        }
        (Purpose::Naming | Purpose::Address, RecordType::A) => Data::V4(
            records
                .filter_map(|r| match r {
                    (RData::A(a), _) => Some(a.0),
                    _ => None,
                })
                .take(MAX_ADDRESSES)
                .collect(),
        ),
        (Purpose::Naming | Purpose::Address, _) => Data::V6(
            records
                .filter_map(|r| match r {
                    (RData::AAAA(a), _) => Some(a.0),
                    _ => None,
                })
                .take(MAX_ADDRESSES)
                .collect(),
        ),
        (Purpose::Tlsa, _) => Data::Tlsa(
            records
                .filter_map(|r| match r {
                    (RData::TLSA(t), _) => Some(TlsaRecord::from_hickory(t)),
                    _ => None,
                })
                .take(MAX_TLSA)
                .collect(),
        ),
        (Purpose::MtaSts | Purpose::TlsRpt, _) => Data::Txt(
            records
                .filter_map(|r| match r {
                    (RData::TXT(t), _) => {
                        let mut strings = t.txt_data.into_vec();
                        Some(match strings.len() {
                            1 => strings.pop().map(Vec::from).unwrap_or_default(),
                            _ => strings.concat(),
                        })
                    }
                    _ => None,
                })
                .take(MAX_TXT)
                .collect(),
        ),
    }
}

/// Appends to `wire` the wire form of `labels` followed by the name at
/// `base` (already in `wire`).
fn prefix_wire(wire: &mut Vec<u8>, labels: &[&[u8]], base: Span) -> Span {
    let start = wire.len();
    for label in labels {
        // port numbers and fixed names: far below 64 octets
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    if base.end <= start {
        wire.extend_from_within(base.start..base.end);
    }
    Span {
        start,
        end: wire.len(),
    }
}

/// The label `_<port>` (RFC 6698 §3), written into `buf`.
fn port_label(port: u16, buf: &mut [u8; 6]) -> &[u8] {
    buf[0] = b'_';
    let mut digits = [0u8; 5];
    let mut n = port;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        buf[1 + i] = *d;
    }
    &buf[..=len]
}
