//! Learned security levels per recipient domain: once a domain was seen
//! with a secure only receiver or with verified TLS, a later, weaker
//! answer defers the message instead of downgrading it (the idea of
//! chasquid's per-domain security levels), until the entry expires.
//!
//! ```text
//! level   = sor-present > verified-tls > tls > none
//! entry   = { level, first-seen, last-seen }      unix seconds
//! observe(domain, level, now):
//!     no entry, or entry expired      -> { level, now, now }
//!     level >  entry.level            -> { level, now, now }   raised
//!     level == entry.level            -> last-seen = now        refreshed
//!     level <  entry.level            -> unchanged              (no downgrade)
//! floor(domain, now) = entry.level   while now < last-seen + expiry
//! ```
//!
//! The storage is the embedder's: [`LearnedLevels`] is plain serde data
//! (JSON, TOML, …) to keep wherever the queue keeps its state. Domains are
//! keys in lower case without the final dot; pass the A-label form of
//! internationalised names (what [`hickory_proto`](secmx_dns::hickory_proto)
//! names hold), so that one domain has one key.
//!
//! One level is kept per domain: a weaker observation while a stronger
//! level is in force is dropped (the planner never delivers below the
//! floor, so it only comes from deliveries made outside it).
//!
//! What each level means, and which deliveries reach it, is decided by the
//! planner ([`crate::plan`]): a delivery to a SOR over TLS is
//! [`LearnedLevel::SorPresent`]; to an ordinary MX over TLS whose
//! certificate was verified (WebPKI or DANE), [`LearnedLevel::VerifiedTls`];
//! over TLS without a verified certificate, [`LearnedLevel::Tls`]; in
//! clear, [`LearnedLevel::None`]. A learned level guards against a stripped
//! STARTTLS or a vanished SOR record; it does not make an unauthenticated
//! DNS answer trustworthy (DANE and MTA-STS do that).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The best security seen for a domain, weakest first (so `Ord` compares
/// strength).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LearnedLevel {
    /// Delivered in clear text.
    None,
    /// Delivered over TLS without a verified certificate.
    Tls,
    /// Delivered over TLS to a certificate checked by WebPKI or DANE.
    VerifiedTls,
    /// Delivered over TLS to a SecMX secure only receiver.
    SorPresent,
}

/// What is known of one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedEntry {
    /// The best level seen.
    pub level: LearnedLevel,
    /// When this level was first seen (unix seconds).
    pub first_seen: u64,
    /// When this level was last seen (unix seconds); the entry expires
    /// [`LearnedLevels::expiry`] after it.
    pub last_seen: u64,
}

/// The default time a learned level stays in force after it was last
/// seen: 30 days.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Learned levels of every domain, with their expiry. Serde data: the
/// embedder stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedLevels {
    /// Seconds an entry stays in force after it was last seen.
    #[serde(default = "default_expiry_secs")]
    expiry_secs: u64,
    /// Entries by domain (lower case, no final dot).
    #[serde(default)]
    domains: BTreeMap<String, LearnedEntry>,
}

fn default_expiry_secs() -> u64 {
    DEFAULT_EXPIRY.as_secs()
}

impl Default for LearnedLevels {
    fn default() -> Self {
        Self::new(DEFAULT_EXPIRY)
    }
}

/// How [`LearnedLevels::observe`] changed an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed {
    /// A new entry (none before, or the old one had expired).
    New,
    /// The level went up.
    Raised,
    /// The same level again: `last_seen` moved on.
    Refreshed,
    /// A weaker level than the one in force: the entry is unchanged.
    Weaker,
}

impl LearnedLevels {
    /// No entries; each entry stays in force `expiry` after it was last
    /// seen.
    pub fn new(expiry: Duration) -> Self {
        Self {
            expiry_secs: expiry.as_secs(),
            domains: BTreeMap::new(),
        }
    }

    /// How long an entry stays in force after it was last seen.
    pub fn expiry(&self) -> Duration {
        Duration::from_secs(self.expiry_secs)
    }

    /// Changes the expiry (for entries already stored too).
    pub fn set_expiry(&mut self, expiry: Duration) {
        self.expiry_secs = expiry.as_secs();
    }

    /// Records that a message to `domain` went out at `level` at `now`
    /// (unix seconds). A weaker level than the one in force changes
    /// nothing: only expiry lowers a floor.
    pub fn observe(&mut self, domain: &str, level: LearnedLevel, now: u64) -> Observed {
        let expiry = self.expiry_secs;
        let fresh = LearnedEntry {
            level,
            first_seen: now,
            last_seen: now,
        };
        match self.domains.get_mut(&key(domain)) {
            None => {
                self.domains.insert(key(domain), fresh);
                Observed::New
            }
            Some(entry) if !in_force(entry, now, expiry) => {
                *entry = fresh;
                Observed::New
            }
            Some(entry) if level > entry.level => {
                *entry = fresh;
                Observed::Raised
            }
            Some(entry) if level == entry.level => {
                entry.last_seen = entry.last_seen.max(now);
                Observed::Refreshed
            }
            Some(_) => Observed::Weaker,
        }
    }

    /// The level below which a message to `domain` must not go at `now`:
    /// the learned level while it is in force. `None` when nothing is
    /// known, the entry expired, or the level is [`LearnedLevel::None`].
    pub fn floor(&self, domain: &str, now: u64) -> Option<LearnedLevel> {
        self.domains
            .get(&key(domain))
            .filter(|e| in_force(e, now, self.expiry_secs))
            .map(|e| e.level)
            .filter(|l| *l > LearnedLevel::None)
    }

    /// The stored entry of `domain`, expired or not.
    pub fn entry(&self, domain: &str) -> Option<&LearnedEntry> {
        self.domains.get(&key(domain))
    }

    /// Forgets `domain` (an operator's override). Returns the entry.
    pub fn forget(&mut self, domain: &str) -> Option<LearnedEntry> {
        self.domains.remove(&key(domain))
    }

    /// Drops every entry that expired by `now`; returns how many.
    pub fn prune(&mut self, now: u64) -> usize {
        let before = self.domains.len();
        let expiry = self.expiry_secs;
        self.domains.retain(|_, e| in_force(e, now, expiry));
        before - self.domains.len()
    }

    /// The entries, by domain.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &LearnedEntry)> {
        self.domains.iter().map(|(d, e)| (d.as_str(), e))
    }

    /// How many domains are stored.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// Whether no domain is stored.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

fn in_force(entry: &LearnedEntry, now: u64, expiry: u64) -> bool {
    now < entry.last_seen.saturating_add(expiry)
}

/// The key of a domain: ASCII lower case, no final dot.
fn key(domain: &str) -> String {
    domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase()
}
