//! # secmx-dns
//!
//! Discovery of SecMX secure only receivers (SORs) for a recipient domain by
//! the four conventions of the SecMX proposal: an `_secmx._tcp` SRV record,
//! an MX preference of 51966, the host `secmx.<domain>`, and the `SECMX`
//! record type; plus the ordinary MX list (RFC 5321 §5.1, null MX RFC 7505),
//! the addresses of every target, TLSA (RFC 7672) and the MTA-STS
//! (RFC 8461) and TLS-RPT (RFC 8460) TXT records.
//!
//! ## What it does, and what it does not
//!
//! It is sans-IO: it builds DNS queries and reads DNS responses with
//! hickory-proto; the embedder carries the packets to a resolver and back
//! over its own sockets, and passes the time in. It reads no clock, draws
//! no random numbers (query ids come from a seed the embedder supplies),
//! opens no sockets and starts no threads.
//!
//! It does not validate DNSSEC itself: it records the AD bit of each answer
//! and believes it only when [`Config::trusted_resolver`] says the resolver
//! validates and the path to it is trusted. It does not match certificates
//! against TLSA records, fetch MTA-STS policies or decide what to do with
//! the result: that is the policy engine's work.
//!
//! ## Data flow
//!
//! ```text
//!   Discovery::new(domain, config)
//!        │
//!        ▼ poll_query(now) ─► Query { id, name, type, Udp|Tcp, bytes } ─► resolver
//!        │                                                                 │
//!        │ ◄── handle_response(now, &bytes) ◄──────────────────────────────┘
//!        │       decode (hickory) · id + question match · TC → again over TCP
//!        │       answer | NODATA | NXDOMAIN | indeterminate · AD · CNAMEs
//!        │       follow-ups: A/AAAA of targets, TLSA of authenticated ones
//!        │ ◄── handle_timeout(now) at poll_timeout()
//!        ▼
//!   Discovered { sors, mx, hosts, tlsa, mta_sts, tls_rpt, lookups }
//! ```
//!
//! ## The run loop
//!
//! 1. Create a [`Discovery`] with [`Discovery::new`].
//! 2. **Drain** [`Discovery::poll_query`] until it returns `None`; send each
//!    [`Query`]: over UDP as [`Query::bytes`], or over TCP as
//!    [`Query::tcp_frame`] when [`Query::transport`] is [`Transport::Tcp`].
//! 3. If [`Discovery::is_finished`], take the result with
//!    [`Discovery::poll_result`] and stop.
//! 4. Wait for a packet from the resolver or for [`Discovery::poll_timeout`].
//!    Pass a packet to [`Discovery::handle_response`] (an `Err` only says
//!    the packet was ignored); at the deadline call
//!    [`Discovery::handle_timeout`].
//! 5. Go to 2.
//!
//! The drain rule: after `new`, `handle_response` and `handle_timeout`, call
//! `poll_query` until it returns `None` before waiting again.
//!
//! ## Example, on canned responses
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::Instant;
//! use secmx_dns::hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
//! use secmx_dns::hickory_proto::rr::{rdata, Name, RData, Record, RecordType};
//! use secmx_dns::{Config, Convention, Discovery, MailRoute};
//!
//! // A stand-in for the resolver: secmx.example.test has an address,
//! // example.test has one MX, every other name does not exist.
//! fn resolve(query: &[u8]) -> Vec<u8> {
//!     let request = Message::from_vec(query).unwrap();
//!     let question = request.queries[0].clone();
//!     let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
//!     let name = question.name().clone();
//!     let record = match (name.to_ascii().as_str(), question.query_type()) {
//!         ("secmx.example.test.", RecordType::A) => {
//!             Some(RData::A(rdata::A(Ipv4Addr::new(192, 0, 2, 25))))
//!         }
//!         ("example.test.", RecordType::MX) => Some(RData::MX(rdata::MX::new(
//!             10,
//!             Name::from_ascii("mail.example.test.").unwrap(),
//!         ))),
//!         _ => None,
//!     };
//!     match record {
//!         Some(data) => { reply.add_answer(Record::from_rdata(name, 300, data)); }
//!         None => reply.metadata.response_code = ResponseCode::NXDomain,
//!     }
//!     reply.add_query(question);
//!     reply.to_vec().unwrap()
//! }
//!
//! let mut config = Config::default();
//! config.id_seed = 0x5eed; // from the OS random source in real use
//! let mut discovery = Discovery::new("example.test", config)?;
//! let now = Instant::now();
//! let result = loop {
//!     let mut sent = 0;
//!     while let Some(query) = discovery.poll_query(now) {
//!         sent += 1;
//!         let answer = resolve(&query.bytes);
//!         let _ = discovery.handle_response(now, &answer);
//!     }
//!     if let Some(result) = discovery.poll_result() {
//!         break result;
//!     }
//!     assert!(sent > 0, "a real loop would wait for poll_timeout here");
//! };
//! assert_eq!(result.sors.len(), 1);
//! assert_eq!(result.sors[0].host.to_ascii(), "secmx.example.test.");
//! assert_eq!(result.sors[0].port, 25);
//! assert!(result.sors[0].conventions.contains(Convention::Naming));
//! assert!(!result.sors[0].authenticated); // no trusted resolver configured
//! let MailRoute::Hosts(mx) = &result.mx else { panic!("an MX host") };
//! assert_eq!(mx[0].host.to_ascii(), "mail.example.test.");
//! assert!(!result.is_indeterminate());
//! # Ok::<(), secmx_dns::Error>(())
//! ```
//!
//! ## Decisions where DESIGN.md and the RFCs are silent
//!
//! - Equal-priority SRV records are ordered by weight, heaviest first, and
//!   equal MX preferences keep the resolver's order (no random numbers);
//!   see [`conventions`] and [`mx`].
//! - Query ids come from [`Config::id_seed`] (splitmix64), never from a
//!   global random source; the embedder seeds each discovery from its own.
//! - MX records of preference 51966 are SORs, not ordinary MX hosts; an MX
//!   target named `secmx.D` is both.
//! - A CNAME chain is followed inside one answer (up to
//!   [`limits::MAX_CNAME_CHAIN`] links); a chain the resolver did not
//!   complete counts as NODATA or NXDOMAIN as the RCODE says. Loops and
//!   over-long chains are indeterminate.
//! - A response that does not decode, or answers no outstanding question, is
//!   ignored (the query then times out): a forged or broken packet can delay
//!   a look-up, never decide it.
//! - Responses are read in stages ([`response`]): header, question (on the
//!   wire), then the answer records of the asked type and CNAMEs with
//!   hickory-proto, each name first walked with at most
//!   [`limits::MAX_POINTER_HOPS`] compression pointers (hickory alone
//!   follows any chain of backward pointers, which makes crafted messages
//!   cost quadratic time). Other records are skipped undecoded, and the
//!   authority and additional sections only walked to find the OPT record's
//!   extended RCODE, as nothing in them is used. Queries are written directly
//!   ([`query::encode_query`]); a test checks they are byte for byte what
//!   hickory-proto writes.
//! - TLSA is looked up only behind an authenticated answer, and reported
//!   only for targets whose every answer was authenticated (RFC 7672 §2.2);
//!   the TLSA base name is the target as named, not CNAME-expanded.
//!
//! ## Feature flags
//!
//! None. hickory-proto is used with only its `std` feature: DNSSEC records
//! (RRSIG, NSEC) in answers are decoded as opaque data and ignored.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod conventions;
mod discovery;
pub mod error;
pub mod limits;
pub mod mx;
mod names;
pub mod query;
pub mod response;
pub mod secmx_rr;
pub mod tlsa;
pub mod txt;

pub use conventions::{Convention, Conventions, SorTarget};
pub use discovery::{
    Config, Discovered, Discovery, Found, Handled, HostAddresses, LookupOutcome, Purpose,
};
pub use error::{Error, ResponseError, SecmxError};
pub use hickory_proto;
pub use mx::{MailRoute, MxHost};
pub use query::{Query, Transport};
pub use response::{Indeterminate, Outcome};
pub use secmx_rr::SecmxRdata;
pub use tlsa::{TlsaMatching, TlsaRecord, TlsaSelector, TlsaSet, TlsaUsage};
pub use txt::{MtaStsRecord, RuaUri, TlsRptRecord};
