//! MTA-STS policies (RFC 8461): the policy text, MX name matching and the
//! cache entry the embedder stores.
//!
//! The embedder fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! itself (RFC 8461 §3.3) and hands the body to [`MtaStsPolicy::parse`] (or
//! [`MtaStsPolicy::parse_bytes`]). `secmx-dns` reads the `_mta-sts` TXT
//! record whose `id` says when to fetch again (§3.1, §5.1).
//!
//! # Policy text (RFC 8461 §3.2)
//!
//! ```text
//! sts-policy-record        = sts-policy-field *WSP
//!                            *(sts-policy-term sts-policy-field *WSP)
//!                            [sts-policy-term]
//! sts-policy-field         = sts-policy-version    ; required once
//!                          / sts-policy-mode       ; required once
//!                          / sts-policy-max-age    ; required once
//!                          / sts-policy-mx         ; required at least once,
//!                                                  ; except when mode is "none"
//!                          / sts-policy-extension  ; other fields
//! sts-policy-field-delim   = ":" *WSP
//! sts-policy-version       = %s"version" sts-policy-field-delim %s"STSv1"
//! sts-policy-mode          = %s"mode" sts-policy-field-delim
//!                            ( %s"testing" / %s"enforce" / %s"none" )
//! sts-policy-mx            = %s"mx" sts-policy-field-delim ["*."] Domain
//! sts-policy-max-age       = %s"max_age" sts-policy-field-delim 1*10DIGIT
//! sts-policy-extension     = sts-policy-ext-name sts-policy-field-delim
//!                            sts-policy-ext-value
//! sts-policy-ext-name      = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//! sts-policy-term          = LF / CRLF
//! ```
//!
//! Example (RFC 8461 §3.2):
//!
//! ```text
//! version: STSv1
//! mode: enforce
//! mx: mail.example.com
//! mx: *.example.net
//! mx: backupmx.example.com
//! max_age: 604800
//! ```
//!
//! # What this parser decides where the RFC leaves room
//!
//! - **Field names and keyword values are case-sensitive** (the ABNF's
//!   `%s`); `Mode: enforce` is an unknown field, and so the policy lacks a
//!   mode.
//! - **Duplicates**: "If any non-repeated field — i.e., all fields excluding
//!   the `mx` field — is duplicated, all entries except for the first SHALL be
//!   ignored" (§3.2). Later `version`, `mode` and `max_age` lines are skipped
//!   without being checked; every `mx` line counts.
//! - **Order**: the ABNF does not ask for `version` first, and neither does
//!   this parser: it must appear once, anywhere, with the value `STSv1`. (A
//!   stricter reading would turn a policy that an `enforce` domain meant to
//!   publish into "no policy", the weaker outcome.)
//! - **Unknown fields** are ignored (§3.2), but their name must still have
//!   the extension-name syntax: a line that is not `name: value` makes the
//!   whole policy invalid, since a sender cannot know what it meant.
//! - **Blank lines** (empty, or only spaces and tabs) are skipped, wherever
//!   they are; the ABNF has none, but they carry no meaning.
//! - **`max_age`** is 1 to 10 digits and at most 31557600 (one year, §3.2);
//!   larger values make the policy invalid rather than being clamped.
//! - **`mx`** values are A-label domain names (RFC 5321 `Domain`, letters,
//!   digits and hyphens), optionally with a leading `*.`; a trailing dot is
//!   allowed and dropped; they are stored in lower case.
//! - **Size**: at most [`MAX_POLICY_SIZE`] octets (64 KiB), checked before
//!   anything else.
//!
//! # MX matching (RFC 8461 §4.1)
//!
//! A pattern `mail.example.com` matches that name only; `*.example.com`
//! matches exactly one more label to the left (`mx1.example.com`, not
//! `example.com` nor `a.b.example.com`). Comparison ignores ASCII case and a
//! trailing dot on the host name (MX targets usually come with one).
//!
//! # Caching (RFC 8461 §5.1)
//!
//! [`MtaStsCacheEntry`] is plain serde data the embedder stores. A policy is
//! fresh for `max_age` seconds after it was fetched; a sender re-fetches when
//! it went stale or when the TXT record's `id` no longer matches the cached
//! one. The absence of a TXT record does not end a fresh cached policy (§5.1:
//! a policy is removed by publishing `mode: none`, not by deleting DNS
//! records).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Largest policy body accepted, in octets: 64 KiB (RFC 8461 §3.3 lets the
/// sender bound the HTTPS response; real policies are a few hundred octets).
pub const MAX_POLICY_SIZE: usize = 64 * 1024;

/// Largest `max_age`, in seconds: 31557600, one year (RFC 8461 §3.2).
pub const MAX_MAX_AGE: u32 = 31_557_600;

/// Longest field name: one character and 31 more (RFC 8461 §3.2,
/// `sts-policy-ext-name`).
const MAX_FIELD_NAME: usize = 32;

/// Most digits in `max_age` (RFC 8461 §3.2, `1*10DIGIT`).
const MAX_AGE_DIGITS: usize = 10;

/// Longest domain name in text form without the trailing dot
/// (RFC 1035 §2.3.4: 255 octets on the wire).
const MAX_NAME: usize = 253;

/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;

/// What went wrong with a policy text or an `mx` pattern.
///
/// Lines are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MtaStsError {
    /// The body is over [`MAX_POLICY_SIZE`] octets.
    #[error("policy is {0} octets, over the {MAX_POLICY_SIZE}-octet limit")]
    TooLarge(usize),
    /// The body is not UTF-8 (RFC 8461 §3.2: the policy is UTF-8 text).
    #[error("policy is not UTF-8 text")]
    NotUtf8,
    /// A line is not `name: value`, or the name has a bad character or is
    /// too long.
    #[error("line {line}: {reason}")]
    Syntax {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The first `version` field is not `STSv1`.
    #[error("line {line}: version must be STSv1")]
    Version {
        /// The line.
        line: usize,
    },
    /// The first `mode` field is not `enforce`, `testing` or `none`.
    #[error("line {line}: mode must be enforce, testing or none")]
    Mode {
        /// The line.
        line: usize,
    },
    /// The first `max_age` field is not 1 to 10 digits, or is over
    /// [`MAX_MAX_AGE`].
    #[error("line {line}: max_age must be a number of seconds from 0 to {MAX_MAX_AGE}")]
    MaxAge {
        /// The line.
        line: usize,
    },
    /// An `mx` pattern is not `["*."] Domain`.
    #[error("{}bad mx pattern {pattern:?}: {reason}", at_line(*.line))]
    MxPattern {
        /// The line, when the pattern came from a policy text.
        line: Option<usize>,
        /// The pattern as given (cut to 300 characters).
        pattern: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A required field is absent: `version`, `mode`, `max_age`, or `mx`
    /// (unless the mode is `none`).
    #[error("missing field {0}")]
    Missing(&'static str),
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!("line {line}: "))
        .unwrap_or_default()
}

/// The policy mode (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    /// `enforce`: deliver only over TLS with a certificate valid for an MX
    /// host that matches the policy.
    Enforce,
    /// `testing`: report failures (TLS-RPT) but deliver as without a policy.
    Testing,
    /// `none`: the domain has no active policy.
    None,
}

impl MtaStsMode {
    /// The keyword as written in a policy.
    pub const fn as_str(self) -> &'static str {
        match self {
            MtaStsMode::Enforce => "enforce",
            MtaStsMode::Testing => "testing",
            MtaStsMode::None => "none",
        }
    }
}

impl fmt::Display for MtaStsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `mx` value: a host name, or `*.` and a domain that stands for
/// exactly one more label (RFC 8461 §3.2, §4.1).
///
/// Stored in lower case without a trailing dot. Serialized as its text
/// (`"*.example.net"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MxPattern {
    wildcard: bool,
    domain: String,
}

impl MxPattern {
    /// Parses `["*."] Domain`: labels of letters, digits and hyphens, not
    /// starting or ending with a hyphen, at most 63 octets each and 253 in
    /// all; a trailing dot is dropped; upper case is folded.
    ///
    /// # Errors
    ///
    /// [`MtaStsError::MxPattern`] (with no line) when the text is not such a
    /// pattern.
    pub fn parse(text: &str) -> Result<Self, MtaStsError> {
        let bad = |reason| MtaStsError::MxPattern {
            line: None,
            pattern: text.chars().take(300).collect(),
            reason,
        };
        let (wildcard, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let name = rest.strip_suffix('.').unwrap_or(rest);
        if name.is_empty() {
            return Err(bad("empty domain"));
        }
        if name.len() > MAX_NAME {
            return Err(bad("domain longer than 253 octets"));
        }
        for label in name.split('.') {
            check_label(label).map_err(bad)?;
        }
        Ok(Self {
            wildcard,
            domain: name.to_ascii_lowercase(),
        })
    }

    /// True for a `*.` pattern.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The domain: the whole name, or what follows `*.`, in lower case.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// True when `host` (an MX target, with or without its trailing dot, in
    /// any case) matches: the same name, or, for `*.d`, one non-empty label
    /// followed by `.d` (RFC 8461 §4.1).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
        let domain = self.domain.as_bytes();
        if !self.wildcard {
            return host.eq_ignore_ascii_case(domain);
        }
        match host.iter().position(|&b| b == b'.') {
            Some(0) | None => false,
            Some(dot) => host
                .get(dot + 1..)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(domain)),
        }
    }
}

/// RFC 5321 §4.1.2 `sub-domain = Let-dig [Ldh-str]`, at most 63 octets.
pub(crate) fn check_label(label: &str) -> Result<(), &'static str> {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err("empty label");
    };
    if bytes.len() > MAX_LABEL {
        return Err("label longer than 63 octets");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return Err("a label holds a character other than a letter, digit or hyphen");
    }
    if *first == b'-' || *last == b'-' {
        return Err("a label starts or ends with a hyphen");
    }
    Ok(())
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.domain)
    }
}

impl FromStr for MxPattern {
    type Err = MtaStsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for MxPattern {
    type Error = MtaStsError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<MxPattern> for String {
    fn from(pattern: MxPattern) -> Self {
        pattern.to_string()
    }
}

/// A parsed MTA-STS policy (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MtaStsPolicy {
    /// The mode.
    pub mode: MtaStsMode,
    /// The `mx` patterns, in the order given. Empty only with mode `none`.
    pub mx: Vec<MxPattern>,
    /// How long the policy may be cached, in seconds (at most
    /// [`MAX_MAX_AGE`]).
    pub max_age: u32,
}

impl MtaStsPolicy {
    /// Parses a policy body given as octets: checks the size limit first,
    /// then UTF-8, then as [`Self::parse`].
    ///
    /// # Errors
    ///
    /// [`MtaStsError::TooLarge`], [`MtaStsError::NotUtf8`], or any error of
    /// [`Self::parse`].
    pub fn parse_bytes(body: &[u8]) -> Result<Self, MtaStsError> {
        if body.len() > MAX_POLICY_SIZE {
            return Err(MtaStsError::TooLarge(body.len()));
        }
        let text = std::str::from_utf8(body).map_err(|_| MtaStsError::NotUtf8)?;
        Self::parse(text)
    }

    /// Parses a policy text (RFC 8461 §3.2; the module docs list the
    /// choices made where the RFC leaves room).
    ///
    /// # Errors
    ///
    /// [`MtaStsError::TooLarge`] over 64 KiB; [`MtaStsError::Syntax`] for a
    /// line that is not `name: value`; [`MtaStsError::Version`],
    /// [`MtaStsError::Mode`], [`MtaStsError::MaxAge`] or
    /// [`MtaStsError::MxPattern`] for a bad value; [`MtaStsError::Missing`]
    /// for an absent required field.
    pub fn parse(text: &str) -> Result<Self, MtaStsError> {
        if text.len() > MAX_POLICY_SIZE {
            return Err(MtaStsError::TooLarge(text.len()));
        }
        let mut version = false;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.bytes().all(|b| b == b' ' || b == b'\t') {
                continue;
            }
            let (name, value) =
                field(raw).map_err(|reason| MtaStsError::Syntax { line, reason })?;
            match name {
                "version" if !version => {
                    if value != "STSv1" {
                        return Err(MtaStsError::Version { line });
                    }
                    version = true;
                }
                "mode" if mode.is_none() => {
                    mode = Some(match value {
                        "enforce" => MtaStsMode::Enforce,
                        "testing" => MtaStsMode::Testing,
                        "none" => MtaStsMode::None,
                        _ => return Err(MtaStsError::Mode { line }),
                    });
                }
                "max_age" if max_age.is_none() => {
                    max_age = Some(parse_max_age(value).ok_or(MtaStsError::MaxAge { line })?);
                }
                "mx" => {
                    let pattern = MxPattern::parse(value).map_err(|error| match error {
                        MtaStsError::MxPattern {
                            pattern, reason, ..
                        } => MtaStsError::MxPattern {
                            line: Some(line),
                            pattern,
                            reason,
                        },
                        other => other,
                    })?;
                    mx.push(pattern);
                }
                // Later duplicates of version, mode and max_age, and
                // unknown fields: ignored (RFC 8461 §3.2).
                _ => {}
            }
        }
        if !version {
            return Err(MtaStsError::Missing("version"));
        }
        let mode = mode.ok_or(MtaStsError::Missing("mode"))?;
        let max_age = max_age.ok_or(MtaStsError::Missing("max_age"))?;
        if mx.is_empty() && mode != MtaStsMode::None {
            return Err(MtaStsError::Missing("mx"));
        }
        Ok(Self { mode, mx, max_age })
    }

    /// True when `host` matches one of the `mx` patterns (RFC 8461 §4.1).
    pub fn mx_matches(&self, host: &str) -> bool {
        self.mx.iter().any(|pattern| pattern.matches(host))
    }

    /// True in mode `enforce`: TLS required, certificate verified (WebPKI,
    /// or DANE where it applies), and only MX hosts that match.
    pub fn is_enforced(&self) -> bool {
        self.mode == MtaStsMode::Enforce
    }
}

/// Splits `name ":" *WSP value *WSP`, checking the name's syntax
/// (`sts-policy-ext-name`, which the four known names also satisfy).
fn field(line: &str) -> Result<(&str, &str), &'static str> {
    let (name, value) = line.split_once(':').ok_or("expected \"name: value\"")?;
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return Err("empty field name");
    };
    if !first.is_ascii_alphanumeric() {
        return Err("a field name starts with a letter or digit");
    }
    if bytes.len() > MAX_FIELD_NAME {
        return Err("field name longer than 32 characters");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err("a field name holds only letters, digits, '_', '-' and '.'");
    }
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    Ok((name, value))
}

/// `1*10DIGIT`, at most [`MAX_MAX_AGE`].
fn parse_max_age(value: &str) -> Option<u32> {
    if value.is_empty()
        || value.len() > MAX_AGE_DIGITS
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Ten digits fit in a u64.
    let seconds: u64 = value.parse().ok()?;
    u32::try_from(seconds).ok().filter(|s| *s <= MAX_MAX_AGE)
}

/// A cached policy, as the embedder stores it (RFC 8461 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MtaStsCacheEntry {
    /// The policy.
    pub policy: MtaStsPolicy,
    /// The `id` of the `_mta-sts` TXT record in force when the policy was
    /// fetched (RFC 8461 §3.1).
    pub id: String,
    /// When the policy was fetched, in Unix seconds.
    pub fetched_at: u64,
}

impl MtaStsCacheEntry {
    /// When the entry stops being fresh: `fetched_at + max_age`, in Unix
    /// seconds.
    pub fn expires_at(&self) -> u64 {
        self.fetched_at
            .saturating_add(u64::from(self.policy.max_age))
    }

    /// True while the policy may still be used: less than `max_age` seconds
    /// since it was fetched (RFC 8461 §5.1). A clock that went back counts as
    /// fresh.
    pub fn is_fresh(&self, now_unix: u64) -> bool {
        now_unix < self.expires_at()
    }

    /// True when the sender should fetch the policy again (RFC 8461 §5.1):
    /// it is no longer fresh, or the TXT record now carries a different
    /// `id`. `txt_id` is `None` when no valid TXT record was found; that
    /// alone never asks for a fetch while the entry is fresh.
    pub fn needs_refresh(&self, txt_id: Option<&str>, now_unix: u64) -> bool {
        !self.is_fresh(now_unix) || txt_id.is_some_and(|id| id != self.id)
    }
}
