//! Receiving rules per listener: best effort receiver (BER) or secure only
//! receiver (SOR), plus rules that require TLS for some client networks or
//! sender domains.
//!
//! A SOR answers `MAIL`, `RCPT`, `DATA` and `BDAT` before TLS with
//! `530 5.7.0 Must issue a STARTTLS command first` (RFC 3207 §4); `secmx-core`'s
//! server session does that by itself in [`ServerMode::Sor`]. A BER takes
//! mail in clear text too, except where a rule here says otherwise; then it
//! answers `MAIL FROM` with the same `530 5.7.0` ([`REFUSAL`]), so that the
//! client sees what a SOR would have said.
//!
//! # How the server session enforces it
//!
//! 1. When a connection comes in, build the session with a
//!    [`ServerConfig`](secmx_core::server::ServerConfig) in the mode
//!    [`ReceiverPolicy::server_mode_for`] gives for the client's address: a
//!    client in a TLS-required network gets a SOR session.
//! 2. On every [`ServerEvent::MailFrom`](secmx_core::server::ServerEvent),
//!    call [`ReceiverPolicy::mail_from_reply`] with the client's address,
//!    the reverse-path's domain ([`sender_domain`]) and
//!    `ServerSession::is_tls()`; when it gives a reply, answer with
//!    `ServerSession::reject(now, reply)`, else go on with your own checks
//!    and `accept`.
//!
//! Step 2 alone is enough; step 1 makes the session refuse `RCPT`, `DATA`
//! and `BDAT` before TLS too, and say so from the start.
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Instant;
//!
//! use secmx_core::server::{AnswerError, ServerEvent, ServerSession};
//! use secmx_policy::receiver::{ReceiverPolicy, sender_domain};
//!
//! fn on_event(
//!     policy: &ReceiverPolicy,
//!     session: &mut ServerSession,
//!     peer: IpAddr,
//!     now: Instant,
//!     event: ServerEvent,
//! ) -> Result<(), AnswerError> {
//!     if let ServerEvent::MailFrom { from, .. } = event {
//!         match policy.mail_from_reply(peer, sender_domain(&from), session.is_tls()) {
//!             Some(reply) => session.reject(now, reply)?,
//!             None => session.accept(now)?,
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A sender-domain rule is a statement about mail that *claims* to come
//! from a domain: before TLS nothing authenticates the reverse-path. It
//! keeps a domain's own mail from being accepted in clear text by mistake;
//! it is no defence against a client that lies about the sender.
//!
//! # Configuration
//!
//! One TOML document per listener; unknown keys are errors, and every
//! error names the line and column.
//!
//! ```
//! use secmx_core::server::ServerMode;
//! use secmx_policy::receiver::ReceiverPolicy;
//!
//! let config = r#"
//! ## "ber" (the default): STARTTLS offered, clear text accepted;
//! ## "sor": nothing but EHLO, STARTTLS, NOOP, RSET and QUIT before TLS.
//! mode = "ber"
//!
//! [require_tls]
//! ## Clients in these networks must use STARTTLS before MAIL FROM.
//! ## CIDR blocks or single addresses, IPv4 and IPv6; host bits must be 0.
//! networks = ["192.0.2.0/24", "2001:db8:42::/48", "198.51.100.7"]
//! ## Mail from these sender domains must arrive over TLS. `*.d` matches
//! ## any name below d (not d itself).
//! sender_domains = ["bank.example", "*.gov.example"]
//! "#;
//! let policy = ReceiverPolicy::from_toml(config)?;
//! let client = "192.0.2.44".parse()?;
//! assert_eq!(policy.server_mode_for(client), ServerMode::Sor);
//! assert!(policy.must_refuse_before_tls("203.0.113.9".parse()?, Some("mail.gov.example")));
//! assert!(!policy.must_refuse_before_tls("203.0.113.9".parse()?, Some("example.org")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An IPv4-mapped IPv6 client address (`::ffff:192.0.2.1`) is also compared
//! as the IPv4 address it carries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use secmx_core::ErrorReply;
use secmx_core::server::ServerMode;
use secmx_core::{Domain, ReversePath};
use serde::Deserialize;
use toml::Spanned;

use crate::rules::{ConfigError, DomainPattern, domain_list};

/// The reply for mail refused before TLS:
/// `530 5.7.0 Must issue a STARTTLS command first` (RFC 3207 §4), as a SOR
/// answers.
pub const REFUSAL: ErrorReply = ErrorReply::MUST_STARTTLS;

/// A network: an address and a prefix length (RFC 4632 §3.1 for IPv4,
/// RFC 4291 §2.3 for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `192.0.2.0/24`, `2001:db8::/32`, or a single address (a /32
    /// or /128). The bits past the prefix must be zero.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| "not an IPv4 or IPv6 address")?;
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => max,
            Some(digits) => {
                if digits.is_empty()
                    || digits.len() > 3
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err("the prefix length is not a number");
                }
                digits
                    .parse::<u8>()
                    .map_err(|_| "the prefix length is too long")?
            }
        };
        if prefix > max {
            return Err("the prefix length is longer than the address");
        }
        let cidr = Self { addr, prefix };
        if cidr.network() != addr {
            return Err("bits are set past the prefix length (give the network address)");
        }
        Ok(cidr)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// `self.addr` with the bits past the prefix cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(self.prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(self.prefix))),
        }
    }

    /// True when `ip` is in the network. An IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.1`) is in an IPv4 network that holds the address it
    /// carries, and in IPv6 networks as itself.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.holds(ip) || (ip.to_canonical() != ip && self.holds(ip.to_canonical()))
    }

    fn holds(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The listener's role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverMode {
    /// Best effort receiver: clear text accepted, except where a rule
    /// requires TLS.
    #[default]
    Ber,
    /// Secure only receiver: nothing but EHLO, HELO, STARTTLS, NOOP, RSET
    /// and QUIT before TLS.
    Sor,
}

/// The receiving rules of one listener (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverPolicy {
    mode: ReceiverMode,
    networks: Vec<Cidr>,
    sender_domains: Vec<DomainPattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    #[serde(default)]
    mode: ReceiverMode,
    require_tls: Option<RawRequireTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequireTls {
    networks: Option<Spanned<Vec<Spanned<String>>>>,
    sender_domains: Option<Spanned<Vec<Spanned<String>>>>,
}

impl ReceiverPolicy {
    /// A policy in `mode` with no further rules.
    pub fn new(mode: ReceiverMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// The same policy, also requiring TLS from clients in `network`.
    #[must_use]
    pub fn require_tls_from_network(mut self, network: Cidr) -> Self {
        self.networks.push(network);
        self
    }

    /// The same policy, also requiring TLS for mail from senders matching
    /// `domain`.
    #[must_use]
    pub fn require_tls_from_sender(mut self, domain: DomainPattern) -> Self {
        self.sender_domains.push(domain);
        self
    }

    /// Loads a policy from a TOML text (format in the module docs).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the line and column of the bad TOML, unknown
    /// key or bad value.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawReceiver =
            toml::from_str(text).map_err(|error| ConfigError::from_toml(text, &error))?;
        let mut policy = Self::new(raw.mode);
        if let Some(require) = raw.require_tls {
            if let Some(list) = require.networks {
                if list.get_ref().is_empty() {
                    return Err(ConfigError::at(
                        text,
                        list.span(),
                        "networks is empty: remove it or list a network",
                    ));
                }
                for entry in list.into_inner() {
                    let cidr = Cidr::parse(entry.get_ref()).map_err(|reason| {
                        ConfigError::at(
                            text,
                            entry.span(),
                            format!("bad network {:?}: {reason}", entry.get_ref()),
                        )
                    })?;
                    policy.networks.push(cidr);
                }
            }
            policy.sender_domains = domain_list(text, "sender_domains", require.sender_domains)?;
        }
        Ok(policy)
    }

    /// The listener's role.
    pub fn mode(&self) -> ReceiverMode {
        self.mode
    }

    /// The networks whose clients must use TLS.
    pub fn networks(&self) -> &[Cidr] {
        &self.networks
    }

    /// The sender domains whose mail must arrive over TLS.
    pub fn sender_domains(&self) -> &[DomainPattern] {
        &self.sender_domains
    }

    /// The server session mode for the listener as a whole.
    pub fn server_mode(&self) -> ServerMode {
        match self.mode {
            ReceiverMode::Ber => ServerMode::Ber,
            ReceiverMode::Sor => ServerMode::Sor,
        }
    }

    /// True when every session from `client` must use TLS before mail: the
    /// listener is a SOR, or `client` is in a TLS-required network.
    pub fn requires_tls_from(&self, client: IpAddr) -> bool {
        self.mode == ReceiverMode::Sor || self.networks.iter().any(|net| net.contains(client))
    }

    /// The server session mode for a connection from `client`: SOR when
    /// [`Self::requires_tls_from`] says so, else BER.
    pub fn server_mode_for(&self, client: IpAddr) -> ServerMode {
        if self.requires_tls_from(client) {
            ServerMode::Sor
        } else {
            ServerMode::Ber
        }
    }

    /// True when `MAIL FROM` from `client` with a reverse-path in
    /// `sender_domain` (`None` for the null reverse-path or an address
    /// literal) must be refused unless the session is under TLS.
    pub fn must_refuse_before_tls(&self, client: IpAddr, sender_domain: Option<&str>) -> bool {
        self.requires_tls_from(client)
            || sender_domain.is_some_and(|domain| {
                self.sender_domains
                    .iter()
                    .any(|pattern| pattern.matches(domain))
            })
    }

    /// The reply for `MAIL FROM`: [`REFUSAL`] when
    /// [`Self::must_refuse_before_tls`] and the session is not under TLS
    /// (`is_tls`, from `ServerSession::is_tls`); `None` to go on.
    pub fn mail_from_reply(
        &self,
        client: IpAddr,
        sender_domain: Option<&str>,
        is_tls: bool,
    ) -> Option<ErrorReply> {
        (!is_tls && self.must_refuse_before_tls(client, sender_domain)).then_some(REFUSAL)
    }
}

/// The domain name of a reverse-path: `None` for `<>` and for an address
/// literal (`user@[192.0.2.1]`).
pub fn sender_domain<'p>(from: &'p ReversePath<'_>) -> Option<&'p str> {
    match &from.mailbox()?.domain {
        Domain::Name(name) => Some(name),
        Domain::Ip(_) | Domain::General(_) => None,
    }
}
