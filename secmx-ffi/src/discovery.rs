//! Discovery of a domain's secure only receivers (the four SecMX
//! conventions: `SECMX` record, `_secmx._tcp` SRV, MX preference 51966,
//! the host `secmx.<domain>`), its MX hosts (RFC 5321 §5.1, null MX
//! RFC 7505) and their addresses: [`secmx_discovery`], the C face of
//! [`secmx_dns::Discovery`]. The caller carries the DNS packets.
//!
//! # Run loop
//!
//! 1. [`secmx_discovery_new`].
//! 2. **Drain**: call [`secmx_discovery_take_query`] until
//!    `SECMX_RESULT_NOTHING`; send each packet to the resolver over UDP
//!    (or, when the transport is `SECMX_DNS_TRANSPORT_TCP`, over TCP with
//!    the two-octet length first, RFC 1035 §4.2.2).
//! 3. If [`secmx_discovery_is_finished`], take the result with
//!    [`secmx_discovery_take_result`] and stop.
//! 4. Wait for a packet or for [`secmx_discovery_poll_timeout`]. A packet
//!    (without the TCP length): [`secmx_discovery_feed`]
//!    (`SECMX_RESULT_DNS_RESPONSE_IGNORED` only says it answered nothing
//!    outstanding); the time came: [`secmx_discovery_handle_timeout`].
//!    Go to 2.
//!
//! # The result
//!
//! A [`secmx_discovered`] is owned by the caller and read with accessor
//! functions. Every string in the structs they fill is borrowed from the
//! `secmx_discovered` and valid until [`secmx_discovered_free`]. Host
//! names are lower case, without the final dot. It keeps the whole
//! [`Discovered`] result (TLSA, MTA-STS and TLS-RPT records included), so
//! that the policy engine's C API can take a `const secmx_discovered *`
//! to plan a delivery.

use std::ffi::{CString, c_char};
use std::net::IpAddr;
use std::time::Duration;

use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::{
    Config, Convention, Discovered, Discovery, Error, MailRoute, Outcome, Query, Transport,
};

use crate::clock::Clock;
use crate::error::secmx_result;
use crate::ffi::{self, Handle};

/// The resolver validates DNSSEC and the path to it is trusted (loopback
/// or a secured channel): its AD bit counts, so targets can be
/// `authenticated` and TLSA records are looked up.
pub const SECMX_DISCOVERY_TRUSTED_RESOLVER: u32 = 1 << 0;
/// Do not look up TLSA records (RFC 7672).
pub const SECMX_DISCOVERY_NO_TLSA: u32 = 1 << 1;
/// Do not look up the MTA-STS and TLS-RPT TXT records.
pub const SECMX_DISCOVERY_NO_MTA_STS: u32 = 1 << 2;

const DISCOVERY_FLAGS: u32 =
    SECMX_DISCOVERY_TRUSTED_RESOLVER | SECMX_DISCOVERY_NO_TLSA | SECMX_DISCOVERY_NO_MTA_STS;

/// A `SECMX` record named the target.
pub const SECMX_CONVENTION_SECMX_RR: u32 = 1 << 0;
/// An `_secmx._tcp` SRV record named the target.
pub const SECMX_CONVENTION_SRV: u32 = 1 << 1;
/// An MX record of preference 51966 named the target.
pub const SECMX_CONVENTION_MX_51966: u32 = 1 << 2;
/// The host `secmx.<domain>` (by its addresses or as an MX target).
pub const SECMX_CONVENTION_NAMING: u32 = 1 << 3;

/// How a query must be sent.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_dns_transport {
    /// One UDP datagram.
    Udp = 0,
    /// TCP, the message preceded by its length in two octets (after a
    /// truncated UDP answer).
    Tcp = 1,
}

/// How one DNS look-up ended.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_dns_outcome {
    /// Not looked up.
    None = 0,
    /// Records of the type asked for.
    Answer = 1,
    /// The name exists without records of the type (RFC 2308 §2.2).
    Nodata = 2,
    /// The name does not exist (RFC 2308 §2.1).
    Nxdomain = 3,
    /// SERVFAIL, time-out, REFUSED, a CNAME loop, …: nothing can be
    /// concluded (temporary).
    Indeterminate = 4,
}

/// The ordinary mail route of the domain.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum secmx_mail_route {
    /// Not known.
    None = 0,
    /// MX hosts, or the implicit MX: [`secmx_discovered_mx`].
    Hosts = 1,
    /// Null MX (RFC 7505): the domain takes no mail.
    NullMx = 2,
    /// The domain does not exist.
    Nxdomain = 3,
    /// No MX and no address (RFC 5321 §5.1).
    NoRoute = 4,
    /// The MX look-up failed temporarily.
    Indeterminate = 5,
    /// A route this version of the C API does not map.
    Other = 255,
}

/// A discovered secure only receiver, from [`secmx_discovered_sor`].
#[repr(C)]
pub struct secmx_sor_target {
    /// The host to connect to; borrowed from the `secmx_discovered`.
    pub host: *const c_char,
    /// The port.
    pub port: u16,
    /// The `SECMX_CONVENTION_*` bits of the conventions that named it.
    pub conventions: u32,
    /// A SECMX record set flag bit 0: the host presents a certificate
    /// valid for its name.
    pub certificate_flag: bool,
    /// Every answer behind it was DNSSEC-authenticated by a trusted
    /// resolver.
    pub authenticated: bool,
}

/// An ordinary MX host (a candidate BER), from [`secmx_discovered_mx`].
#[repr(C)]
pub struct secmx_mx_host {
    /// The host; borrowed from the `secmx_discovered`.
    pub host: *const c_char,
    /// The MX preference (0 for the implicit MX).
    pub preference: u16,
    /// The implicit MX: the domain itself, having no MX record.
    pub implicit: bool,
    /// Its MX and address answers were all authenticated.
    pub authenticated: bool,
}

/// The addresses of one target host, from [`secmx_discovered_host`].
#[repr(C)]
pub struct secmx_host_addresses {
    /// The host; borrowed from the `secmx_discovered`.
    pub host: *const c_char,
    /// How many addresses: IPv4 first, then IPv6; read them with
    /// [`secmx_discovered_address`].
    pub address_count: usize,
    /// How the A look-up ended.
    pub a: secmx_dns_outcome,
    /// How the AAAA look-up ended.
    pub aaaa: secmx_dns_outcome,
    /// Both answers were authenticated.
    pub authenticated: bool,
}

/// One address, from [`secmx_discovered_address`].
#[repr(C)]
pub struct secmx_ip_address {
    /// 4 or 6.
    pub family: u32,
    /// The address in network order: 4 octets for IPv4, 16 for IPv6.
    pub octets: [u8; 16],
    /// The address as text; borrowed from the `secmx_discovered`.
    pub text: *const c_char,
}

/// A discovery in progress for one domain. Opaque; owned by the caller
/// from [`secmx_discovery_new`] until [`secmx_discovery_free`].
pub struct secmx_discovery {
    _private: [u8; 0],
}

/// The Rust value behind a [`secmx_discovery`].
pub(crate) struct DiscoveryState {
    discovery: Discovery,
    clock: Clock,
    /// A query taken from the machine that did not fit the caller's
    /// buffer: handed out by the next call.
    pending: Option<Query>,
}

impl Handle for secmx_discovery {
    const TAG: u64 = 0x5345_434d_5804_0001;
    type Inner = DiscoveryState;
}

/// The result of a discovery. Opaque; owned by the caller from
/// [`secmx_discovery_take_result`] until [`secmx_discovered_free`].
pub struct secmx_discovered {
    _private: [u8; 0],
}

/// The Rust value behind a [`secmx_discovered`]: the result and the C
/// strings its accessors hand out.
pub(crate) struct DiscoveredResult {
    /// The whole result, for the policy engine.
    pub(crate) result: Discovered,
    domain: CString,
    sors: Vec<CString>,
    mx: Vec<CString>,
    hosts: Vec<HostText>,
}

struct HostText {
    name: CString,
    addresses: Vec<(IpAddr, CString)>,
}

impl Handle for secmx_discovered {
    const TAG: u64 = 0x5345_434d_5804_0002;
    type Inner = DiscoveredResult;
}

/// A host name as text: lower case, without the final dot.
fn name_text(name: &Name) -> CString {
    let text = name.to_ascii();
    let text = match text.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => text.as_str(),
    };
    ffi::c_string(&text.to_ascii_lowercase())
}

fn outcome(outcome: &Outcome) -> secmx_dns_outcome {
    match outcome {
        Outcome::Answer => secmx_dns_outcome::Answer,
        Outcome::NoData => secmx_dns_outcome::Nodata,
        Outcome::NxDomain => secmx_dns_outcome::Nxdomain,
        _ => secmx_dns_outcome::Indeterminate,
    }
}

impl DiscoveredResult {
    fn new(result: Discovered) -> Self {
        let sors = result.sors.iter().map(|s| name_text(&s.host)).collect();
        let mx = match &result.mx {
            MailRoute::Hosts(hosts) => hosts.iter().map(|h| name_text(&h.host)).collect(),
            _ => Vec::new(),
        };
        let hosts = result
            .hosts
            .iter()
            .map(|h| HostText {
                name: name_text(&h.host),
                addresses: h
                    .ipv4
                    .iter()
                    .map(|a| IpAddr::V4(*a))
                    .chain(h.ipv6.iter().map(|a| IpAddr::V6(*a)))
                    .map(|a| (a, ffi::c_string(&a.to_string())))
                    .collect(),
            })
            .collect();
        Self {
            domain: name_text(&result.domain),
            result,
            sors,
            mx,
            hosts,
        }
    }
}

/// Starts a discovery for `domain` (with or without the final dot;
/// internationalised names are converted to A-labels). Its first queries
/// wait in [`secmx_discovery_take_query`].
///
/// - `secmx_type`: the SECMX record type code; 0 for the default, 65482.
/// - `flags`: `SECMX_DISCOVERY_*` bits.
/// - `id_seed`: 64 random bits from the operating system, for the query
///   ids (RFC 5452 §4.3: ids are a defence against forged answers).
/// - `query_timeout_ms`: how long to wait for one answer; 0 for the
///   default, 5000.
/// - `now_ms`: the caller's clock; later calls must not pass an earlier
///   time.
///
/// On success `*out` holds an owned pointer; free it with
/// [`secmx_discovery_free`]. On failure `*out` is NULL:
/// `SECMX_RESULT_INVALID_DOMAIN`, or `SECMX_RESULT_CONFIG_ERROR` for a
/// record type that cannot carry SECMX records (one hickory decodes
/// itself) or an unknown flag.
///
/// # Safety
///
/// `domain` is NUL-terminated; `out` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_new(
    domain: *const c_char,
    secmx_type: u16,
    flags: u32,
    id_seed: u64,
    query_timeout_ms: u32,
    now_ms: u64,
    out: *mut *mut secmx_discovery,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        if flags & !DISCOVERY_FLAGS != 0 {
            return Err(secmx_result::ConfigError);
        }
        // SAFETY: the caller's contract for `domain`.
        let domain = unsafe { ffi::string(domain)? };
        let mut config = Config::default();
        if secmx_type != 0 {
            config.secmx_type = secmx_type;
        }
        if query_timeout_ms != 0 {
            config.query_timeout = Duration::from_millis(query_timeout_ms.into());
        }
        config.trusted_resolver = flags & SECMX_DISCOVERY_TRUSTED_RESOLVER != 0;
        config.tlsa = flags & SECMX_DISCOVERY_NO_TLSA == 0;
        config.mta_sts = flags & SECMX_DISCOVERY_NO_MTA_STS == 0;
        config.id_seed = id_seed;
        let discovery = Discovery::new(domain, config).map_err(|e| match e {
            Error::InvalidDomain { .. } | Error::DomainTooLong => secmx_result::InvalidDomain,
            _ => secmx_result::ConfigError,
        })?;
        let state = DiscoveryState {
            discovery,
            clock: Clock::start(now_ms),
            pending: None,
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, ffi::into_raw::<secmx_discovery>(state)) }
    })
}

/// Releases a discovery from [`secmx_discovery_new`]. NULL is a no-op.
///
/// # Safety
///
/// `discovery` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_free(discovery: *mut secmx_discovery) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(discovery) })
}

/// The next query to send: the DNS message (without a TCP length) copied
/// whole into `buf`, its length in `*out_len`, and its transport in
/// `*out_transport` (a [`secmx_dns_transport`]; `out_transport` may be
/// NULL). Its time-out starts at `now_ms`.
///
/// `SECMX_RESULT_NOTHING` when no query waits; `SECMX_RESULT_BUFFER_TOO_SMALL`
/// with the size needed in `*out_len` (the query stays for the next call;
/// 512 bytes always suffice).
///
/// # Safety
///
/// `discovery` is live; `buf` points to `len` writable bytes; `out_len`
/// to a writable `size_t`; `out_transport` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_take_query(
    discovery: *mut secmx_discovery,
    now_ms: u64,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
    out_transport: *mut u32,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_len)?;
        if !out_transport.is_null() {
            ffi::check_out(out_transport)?;
        }
        // SAFETY: the caller's contract for `discovery`.
        unsafe {
            ffi::with_mut(discovery, |d| {
                let now = d.clock.instant(now_ms)?;
                if d.pending.is_none() {
                    d.pending = d.discovery.poll_query(now);
                }
                let Some(query) = &d.pending else {
                    // SAFETY: checked writable above.
                    ffi::write(out_len, 0)?;
                    return Err(secmx_result::Nothing);
                };
                // SAFETY: the caller's contract for `buf`; `out_len`
                // checked above.
                ffi::copy_whole(&query.bytes, buf, len, out_len)?;
                let transport = match query.transport {
                    Transport::Tcp => secmx_dns_transport::Tcp,
                    _ => secmx_dns_transport::Udp,
                };
                if !out_transport.is_null() {
                    // SAFETY: checked writable above.
                    ffi::write(out_transport, transport as u32)?;
                }
                d.pending = None;
                Ok(())
            })
        }
    })
}

/// A response from the resolver (`len` bytes; over TCP without the
/// length prefix). `SECMX_RESULT_DNS_RESPONSE_IGNORED` when it answers no
/// outstanding query (malformed, unknown id, other question): nothing
/// changed, keep waiting. Then drain the queries.
///
/// # Safety
///
/// `discovery` is live; `data` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_feed(
    discovery: *mut secmx_discovery,
    now_ms: u64,
    data: *const u8,
    len: usize,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `data`.
        let data = unsafe { ffi::bytes(data, len)? };
        // SAFETY: the caller's contract for `discovery`.
        unsafe {
            ffi::with_mut(discovery, |d| {
                let now = d.clock.instant(now_ms)?;
                d.discovery
                    .handle_response(now, data)
                    .map(|_| ())
                    .map_err(|_| secmx_result::DnsResponseIgnored)
            })
        }
    })
}

/// When to call [`secmx_discovery_handle_timeout`], in the caller's
/// milliseconds (rounded up), in `*out_ms`; `SECMX_RESULT_NOTHING` when no
/// query is in flight.
///
/// # Safety
///
/// `discovery` is live; `out_ms` points to a writable `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_poll_timeout(
    discovery: *const secmx_discovery,
    out_ms: *mut u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out_ms)?;
        // SAFETY: the caller's contract for `discovery`.
        let at = unsafe {
            ffi::with_ref(discovery, |d| {
                Ok(d.discovery.poll_timeout().map(|at| d.clock.millis(at)))
            })?
        };
        let at = at.ok_or(secmx_result::Nothing)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out_ms, at) }
    })
}

/// The time passed: queries whose time-out expired are sent again or end
/// as indeterminate. Then drain the queries.
///
/// # Safety
///
/// `discovery` is live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_handle_timeout(
    discovery: *mut secmx_discovery,
    now_ms: u64,
) -> secmx_result {
    ffi::result_boundary(|| {
        // SAFETY: the caller's contract for `discovery`.
        unsafe {
            ffi::with_mut(discovery, |d| {
                let now = d.clock.instant(now_ms)?;
                d.discovery.handle_timeout(now);
                Ok(())
            })
        }
    })
}

/// Whether every look-up has ended (the result can be taken). `false` for
/// an invalid pointer.
///
/// # Safety
///
/// `discovery` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_is_finished(discovery: *const secmx_discovery) -> bool {
    ffi::boundary(|| {
        // SAFETY: the caller's contract for `discovery`.
        unsafe {
            ffi::with_ref(discovery, |d| {
                Ok(d.pending.is_none() && d.discovery.is_finished())
            })
        }
        .unwrap_or(false)
    })
}

/// Takes the result once the discovery finished: `*out` holds an owned
/// pointer, to be released with [`secmx_discovered_free`].
/// `SECMX_RESULT_NOT_READY` before the end; `SECMX_RESULT_NOTHING` when it
/// was taken already. On failure `*out` is NULL.
///
/// # Safety
///
/// `discovery` is live; `out` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovery_take_result(
    discovery: *mut secmx_discovery,
    out: *mut *mut secmx_discovered,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        // SAFETY: the caller's contract for `discovery`.
        let result = unsafe {
            ffi::with_mut(discovery, |d| {
                if !d.discovery.is_finished() {
                    return Err(secmx_result::NotReady);
                }
                d.discovery.poll_result().ok_or(secmx_result::Nothing)
            })?
        };
        let result = DiscoveredResult::new(result);
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, ffi::into_raw::<secmx_discovered>(result)) }
    })
}

/// Releases a result from [`secmx_discovery_take_result`]; every string
/// borrowed from it dies with it. NULL is a no-op.
///
/// # Safety
///
/// `result` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_free(result: *mut secmx_discovered) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(result) })
}

/// Runs `f` on a result, for the accessors.
///
/// # Safety
///
/// `result` is NULL or live.
unsafe fn with_result<R>(
    result: *const secmx_discovered,
    f: impl FnOnce(&DiscoveredResult) -> Result<R, secmx_result>,
) -> Result<R, secmx_result> {
    // SAFETY: the caller's contract.
    unsafe { ffi::with_ref(result, f) }
}

/// The domain discovered, borrowed from `result`; NULL for an invalid
/// pointer.
///
/// # Safety
///
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_domain(result: *const secmx_discovered) -> *const c_char {
    ffi::boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { with_result(result, |r| Ok(r.domain.as_ptr())) }.unwrap_or(std::ptr::null())
    })
}

/// Whether a look-up of one of the four conventions, or of the mail route,
/// is indeterminate: such a result must never cause a bounce (defer
/// instead). `false` for an invalid pointer.
///
/// # Safety
///
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_is_indeterminate(
    result: *const secmx_discovered,
) -> bool {
    ffi::boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { with_result(result, |r| Ok(r.result.is_indeterminate())) }.unwrap_or(false)
    })
}

/// Whether a look-up of the four conventions is indeterminate: the SOR
/// list may be missing targets. `false` for an invalid pointer.
///
/// # Safety
///
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_sor_indeterminate(
    result: *const secmx_discovered,
) -> bool {
    ffi::boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { with_result(result, |r| Ok(r.result.sor_indeterminate())) }.unwrap_or(false)
    })
}

/// How many SOR targets were found; 0 for an invalid pointer.
///
/// # Safety
///
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_sor_count(result: *const secmx_discovered) -> usize {
    ffi::boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { with_result(result, |r| Ok(r.result.sors.len())) }.unwrap_or(0)
    })
}

/// The SOR target at `index` (merged order: SECMX, SRV, MX 51966,
/// naming), written to `*out`. `SECMX_RESULT_INVALID_ARGUMENT` for an
/// index past the end.
///
/// # Safety
///
/// `result` is live; `out` points to a writable [`secmx_sor_target`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_sor(
    result: *const secmx_discovered,
    index: usize,
    out: *mut secmx_sor_target,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract.
        let target = unsafe {
            with_result(result, |r| {
                let (sor, host) = r
                    .result
                    .sors
                    .get(index)
                    .zip(r.sors.get(index))
                    .ok_or(secmx_result::InvalidArgument)?;
                let conventions = [
                    (Convention::SecmxRr, SECMX_CONVENTION_SECMX_RR),
                    (Convention::Srv, SECMX_CONVENTION_SRV),
                    (Convention::Mx51966, SECMX_CONVENTION_MX_51966),
                    (Convention::Naming, SECMX_CONVENTION_NAMING),
                ]
                .into_iter()
                .filter(|(c, _)| sor.conventions.contains(*c))
                .fold(0, |bits, (_, bit)| bits | bit);
                Ok(secmx_sor_target {
                    host: host.as_ptr(),
                    port: sor.port,
                    conventions,
                    certificate_flag: sor.certificate_flag,
                    authenticated: sor.authenticated,
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, target) }
    })
}

/// The domain's ordinary mail route, written to `*out` (a
/// [`secmx_mail_route`]).
///
/// # Safety
///
/// `result` is live; `out` points to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_mail_route(
    result: *const secmx_discovered,
    out: *mut u32,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract.
        let route = unsafe {
            with_result(result, |r| {
                Ok(match &r.result.mx {
                    MailRoute::Hosts(_) => secmx_mail_route::Hosts,
                    MailRoute::NullMx => secmx_mail_route::NullMx,
                    MailRoute::NxDomain => secmx_mail_route::Nxdomain,
                    MailRoute::NoRoute => secmx_mail_route::NoRoute,
                    MailRoute::Indeterminate(_) => secmx_mail_route::Indeterminate,
                    _ => secmx_mail_route::Other,
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, route as u32) }
    })
}

/// How many ordinary MX hosts (candidate BERs) there are: 0 unless the
/// mail route is `SECMX_MAIL_ROUTE_HOSTS`, and 0 for an invalid pointer.
///
/// # Safety
///
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_mx_count(result: *const secmx_discovered) -> usize {
    ffi::boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { with_result(result, |r| Ok(r.mx.len())) }.unwrap_or(0)
    })
}

/// The MX host at `index` (preference order), written to `*out`.
/// `SECMX_RESULT_INVALID_ARGUMENT` for an index past the end.
///
/// # Safety
///
/// `result` is live; `out` points to a writable [`secmx_mx_host`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_mx(
    result: *const secmx_discovered,
    index: usize,
    out: *mut secmx_mx_host,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract.
        let host = unsafe {
            with_result(result, |r| {
                let MailRoute::Hosts(hosts) = &r.result.mx else {
                    return Err(secmx_result::InvalidArgument);
                };
                let (mx, name) = hosts
                    .get(index)
                    .zip(r.mx.get(index))
                    .ok_or(secmx_result::InvalidArgument)?;
                Ok(secmx_mx_host {
                    host: name.as_ptr(),
                    preference: mx.preference,
                    implicit: mx.implicit,
                    authenticated: mx.authenticated,
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, host) }
    })
}

/// How many target hosts have addresses listed (SORs, MX hosts, the
/// implicit MX); 0 for an invalid pointer.
///
/// # Safety
///
/// `result` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_host_count(result: *const secmx_discovered) -> usize {
    ffi::boundary(|| {
        // SAFETY: the caller's contract.
        unsafe { with_result(result, |r| Ok(r.hosts.len())) }.unwrap_or(0)
    })
}

/// The target host at `index`, written to `*out`.
/// `SECMX_RESULT_INVALID_ARGUMENT` for an index past the end.
///
/// # Safety
///
/// `result` is live; `out` points to a writable [`secmx_host_addresses`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_host(
    result: *const secmx_discovered,
    index: usize,
    out: *mut secmx_host_addresses,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract.
        let host = unsafe {
            with_result(result, |r| {
                let (host, text) = r
                    .result
                    .hosts
                    .get(index)
                    .zip(r.hosts.get(index))
                    .ok_or(secmx_result::InvalidArgument)?;
                Ok(secmx_host_addresses {
                    host: text.name.as_ptr(),
                    address_count: text.addresses.len(),
                    a: outcome(&host.a),
                    aaaa: outcome(&host.aaaa),
                    authenticated: host.authenticated,
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, host) }
    })
}

/// The address at `address_index` of the host at `host_index` (IPv4
/// first, then IPv6), written to `*out`. `SECMX_RESULT_INVALID_ARGUMENT`
/// for an index past the end.
///
/// # Safety
///
/// `result` is live; `out` points to a writable [`secmx_ip_address`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_discovered_address(
    result: *const secmx_discovered,
    host_index: usize,
    address_index: usize,
    out: *mut secmx_ip_address,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: the caller's contract.
        let address = unsafe {
            with_result(result, |r| {
                let (address, text) = r
                    .hosts
                    .get(host_index)
                    .and_then(|h| h.addresses.get(address_index))
                    .ok_or(secmx_result::InvalidArgument)?;
                let mut octets = [0; 16];
                let family = match address {
                    IpAddr::V4(v4) => {
                        octets[..4].copy_from_slice(&v4.octets());
                        4
                    }
                    IpAddr::V6(v6) => {
                        octets = v6.octets();
                        6
                    }
                };
                Ok(secmx_ip_address {
                    family,
                    octets,
                    text: text.as_ptr(),
                })
            })?
        };
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, address) }
    })
}
