//! Which messages must go securely: the local rules that give each message
//! its [`Class`] (best effort, secure only, or REQUIRETLS).
//!
//! # Order of precedence
//!
//! [`RuleSet::classify`] decides in this order; the first step that applies
//! wins:
//!
//! 1. **`REQUIRETLS` on `MAIL FROM`** (RFC 8689 §4) gives
//!    [`Class::RequireTls`]. Nothing overrides it: not a rule, not a
//!    `TLS-Required: No` header (RFC 8689 §5 says the header is ignored
//!    when the parameter is present).
//! 2. **A `TLS-Required: No` header field** (RFC 8689 §5) gives
//!    [`Class::BestEffort`], unless the configuration says
//!    `honor_tls_required_no = false`.
//! 3. **The `[[rule]]` tables, in the order written**: the first rule whose
//!    conditions all hold gives its `class`.
//! 4. **`default`**, which is `best-effort` when not given.
//!
//! A rule may name `best-effort` too, so that exceptions can come before
//! a broader secure-only rule or a secure-only default. A rule cannot name
//! REQUIRETLS: that class comes only from the MAIL parameter, since it
//! travels with the message to the next hops.
//!
//! # Conditions
//!
//! A rule holds one condition or more; **all** must hold (and). Within a
//! list, **any** entry may match (or).
//!
//! - `recipient_domains`, `sender_domains`: `example.com` matches that
//!   domain; `*.example.com` matches any name below it, at any depth, but
//!   not `example.com` itself (list both for both). Case and a trailing dot
//!   are ignored. A message with the null reverse-path (`MAIL FROM:<>`) has
//!   no sender domain and matches no `sender_domains`.
//! - `header = { name = "…", value = "…", match = "exact" | "contains" }`:
//!   some header field of that name (any case) whose value, unfolded,
//!   RFC 2047-decoded and trimmed, equals (`exact`, the default) or
//!   contains (`contains`) `value`, without regard to case.
//! - `subject_tag = "…"`: the decoded `Subject` contains the tag, without
//!   regard to case.
//!
//! Classification is per recipient domain: a message to several domains
//! is classified once for each.
//!
//! Header fields are read with `mail-parser` (which unfolds them and
//! decodes RFC 2047 encoded words), and only when a step needs them.
//!
//! # Configuration
//!
//! A TOML document; unknown keys are errors, so that a typo does not
//! silently turn a rule off. Every error names the line and column.
//!
//! ```
//! use secmx_policy::Class;
//! use secmx_policy::rules::{MessageFacts, Reason, RuleSet};
//!
//! let config = r#"
//! ## Class when no rule matches: "best-effort" (the default) or "secure-only".
//! default = "best-effort"
//!
//! ## RFC 8689 §5: a `TLS-Required: No` header asks for best effort. Set to
//! ## false to let the rules below win over it. (REQUIRETLS always wins.)
//! honor_tls_required_no = true
//!
//! ## Rules are tried in order; the first whose conditions all hold decides.
//!
//! [[rule]]
//! name = "protective marking"
//! class = "secure-only"
//! header = { name = "X-Security-Classification", value = "RESTRICTED" }
//!
//! [[rule]]
//! name = "subject tag"
//! class = "secure-only"
//! subject_tag = "[SEC=RESTRICTED]"
//!
//! [[rule]]
//! ## An exception before the broader rule below.
//! name = "public mailing lists"
//! class = "best-effort"
//! recipient_domains = ["lists.partner.example"]
//!
//! [[rule]]
//! name = "partners"
//! class = "secure-only"
//! recipient_domains = ["partner.example", "*.partner.example", "*.gov.example"]
//!
//! [[rule]]
//! ## Both conditions must hold.
//! name = "finance to the bank"
//! class = "secure-only"
//! sender_domains = ["finance.example.com"]
//! recipient_domains = ["bank.example"]
//! "#;
//! let rules = RuleSet::from_toml(config)?;
//!
//! let headers = b"Subject: =?UTF-8?Q?Quarterly_figures_[SEC=3DRESTRICTED]?=\r\n\r\n";
//! let facts = MessageFacts {
//!     requiretls: false,
//!     sender_domain: Some("example.com"),
//!     recipient_domain: "example.net",
//!     headers,
//! };
//! let decision = rules.classify(&facts);
//! assert_eq!(decision.class, Class::SecureOnly);
//! assert_eq!(decision.reason.rule_name(), Some("subject tag"));
//!
//! let facts = MessageFacts { headers: b"Subject: lunch\r\n\r\n", ..facts };
//! assert_eq!(rules.classify(&facts).reason, Reason::Default);
//! # Ok::<(), secmx_policy::rules::RulesError>(())
//! ```

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};
use serde::Deserialize;
use toml::Spanned;

use crate::mta_sts::check_label;
use crate::types::Class;

/// Where in a configuration text something is: line and column, from 1
/// (the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (an offset past the end
    /// counts as the end).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let bytes = text.as_bytes();
        let before = bytes.get(..offset).unwrap_or(bytes);
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Count characters, not octets: skip UTF-8 continuation bytes.
        let column = 1 + before
            .get(line_start..)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        Self { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A configuration that cannot be used: bad TOML, an unknown key, or a bad
/// value, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", .location.map(|at| format!("{at}: ")).unwrap_or_default())]
#[non_exhaustive]
pub struct ConfigError {
    /// Where the problem is, when known (TOML parse errors and every value
    /// check carry it).
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

/// The error of [`RuleSet::from_toml`].
pub type RulesError = ConfigError;

impl ConfigError {
    pub(crate) fn at(text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            location: Some(Location::of_offset(text, span.start)),
            message: message.into(),
        }
    }

    pub(crate) fn from_toml(text: &str, error: &toml::de::Error) -> Self {
        Self {
            location: error
                .span()
                .map(|span| Location::of_offset(text, span.start)),
            message: error.message().trim_end().to_owned(),
        }
    }
}

/// A domain, or `*.` and a domain that stands for any name below it
/// (at any depth, not the domain itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    below: bool,
    domain: String,
}

impl DomainPattern {
    /// Parses `example.com` or `*.example.com`: letters, digits and hyphens
    /// in labels of at most 63 octets; a trailing dot is dropped; upper case
    /// is folded.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let (below, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let name = rest.strip_suffix('.').unwrap_or(rest);
        if name.is_empty() {
            return Err("empty domain");
        }
        if name.len() > 253 {
            return Err("domain longer than 253 octets");
        }
        for label in name.split('.') {
            check_label(label)?;
        }
        Ok(Self {
            below,
            domain: name.to_ascii_lowercase(),
        })
    }

    /// True when `domain` (any case, trailing dot or not) matches.
    pub fn matches(&self, domain: &str) -> bool {
        let name = domain.strip_suffix('.').unwrap_or(domain).as_bytes();
        let own = self.domain.as_bytes();
        if !self.below {
            return name.eq_ignore_ascii_case(own);
        }
        let Some(split) = name.len().checked_sub(own.len() + 1) else {
            return false;
        };
        split > 0
            && name.get(split) == Some(&b'.')
            && name
                .get(split + 1..)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(own))
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.below {
            f.write_str("*.")?;
        }
        f.write_str(&self.domain)
    }
}

impl FromStr for DomainPattern {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// How a header rule compares the field value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderMatch {
    /// The trimmed value equals the configured one, ignoring case.
    #[default]
    Exact,
    /// The value contains the configured one, ignoring case.
    Contains,
}

/// What the rules know of a message when it is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageFacts<'a> {
    /// `REQUIRETLS` was on `MAIL FROM` (`MailParameters::requiretls` in
    /// `secmx-core`).
    pub requiretls: bool,
    /// The domain of the reverse-path; `None` for the null reverse-path.
    pub sender_domain: Option<&'a str>,
    /// The recipient domain being planned for.
    pub recipient_domain: &'a str,
    /// The message's header section (the whole message also works: reading
    /// stops at the first empty line).
    pub headers: &'a [u8],
}

/// Why a message got its class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// `REQUIRETLS` on `MAIL FROM` (RFC 8689 §4).
    RequireTls,
    /// A `TLS-Required: No` header field (RFC 8689 §5).
    TlsRequiredNo,
    /// A configured rule matched.
    Rule {
        /// Its position among the `[[rule]]` tables, from 0.
        index: usize,
        /// Its `name`, if it has one.
        name: Option<Arc<str>>,
    },
    /// No rule matched: the configured default.
    Default,
}

impl Reason {
    /// The name of the rule that matched, if a named rule decided.
    pub fn rule_name(&self) -> Option<&str> {
        match self {
            Reason::Rule { name, .. } => name.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::RequireTls => f.write_str("REQUIRETLS on MAIL FROM (RFC 8689)"),
            Reason::TlsRequiredNo => f.write_str("TLS-Required: No header (RFC 8689)"),
            Reason::Rule {
                name: Some(name), ..
            } => write!(f, "rule {name:?}"),
            Reason::Rule { index, name: None } => write!(f, "rule #{}", index + 1),
            Reason::Default => f.write_str("default"),
        }
    }
}

/// The class of a message and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decision {
    /// How the message must travel.
    pub class: Class,
    /// Why.
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderRule {
    name: String,
    /// Lower case.
    value: String,
    how: HeaderMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    name: Option<Arc<str>>,
    class: Class,
    recipients: Vec<DomainPattern>,
    senders: Vec<DomainPattern>,
    header: Option<HeaderRule>,
    /// Lower case.
    subject_tag: Option<String>,
}

/// The loaded rules (see the module docs for the format and the order of
/// precedence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    default: Class,
    honor_tls_required_no: bool,
    rules: Vec<Rule>,
}

impl Default for RuleSet {
    /// No rules: best effort, unless REQUIRETLS; `TLS-Required: No` honored.
    fn default() -> Self {
        Self {
            default: Class::BestEffort,
            honor_tls_required_no: true,
            rules: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleSet {
    default: Option<Spanned<String>>,
    honor_tls_required_no: Option<bool>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    class: Spanned<String>,
    recipient_domains: Option<Spanned<Vec<Spanned<String>>>>,
    sender_domains: Option<Spanned<Vec<Spanned<String>>>>,
    header: Option<RawHeader>,
    subject_tag: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: Spanned<String>,
    value: Spanned<String>,
    #[serde(default, rename = "match")]
    how: HeaderMatch,
}

fn class_of(text: &str, value: &Spanned<String>) -> Result<Class, ConfigError> {
    match value.get_ref().as_str() {
        "best-effort" => Ok(Class::BestEffort),
        "secure-only" => Ok(Class::SecureOnly),
        other => Err(ConfigError::at(
            text,
            value.span(),
            format!(
                "unknown class {other:?}: expected \"best-effort\" or \"secure-only\" \
                 (REQUIRETLS comes only from the MAIL parameter)"
            ),
        )),
    }
}

pub(crate) fn domain_list(
    text: &str,
    key: &str,
    list: Option<Spanned<Vec<Spanned<String>>>>,
) -> Result<Vec<DomainPattern>, ConfigError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    if list.get_ref().is_empty() {
        return Err(ConfigError::at(
            text,
            list.span(),
            format!("{key} is empty: it would never match"),
        ));
    }
    list.into_inner()
        .into_iter()
        .map(|entry| {
            DomainPattern::parse(entry.get_ref()).map_err(|reason| {
                ConfigError::at(
                    text,
                    entry.span(),
                    format!("bad domain {:?} in {key}: {reason}", entry.get_ref()),
                )
            })
        })
        .collect()
}

/// RFC 5322 §3.6.8: `field-name = 1*ftext`, printable ASCII but `:`.
fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

impl RawRule {
    fn check(self, text: &str, span: Range<usize>) -> Result<Rule, ConfigError> {
        let class = class_of(text, &self.class)?;
        let recipients = domain_list(text, "recipient_domains", self.recipient_domains)?;
        let senders = domain_list(text, "sender_domains", self.sender_domains)?;
        let header = match self.header {
            None => None,
            Some(raw) => {
                if !is_field_name(raw.name.get_ref()) {
                    return Err(ConfigError::at(
                        text,
                        raw.name.span(),
                        "bad header field name: printable ASCII without ':' or spaces",
                    ));
                }
                let value = raw.value.get_ref().trim();
                if value.is_empty() {
                    return Err(ConfigError::at(
                        text,
                        raw.value.span(),
                        "empty header value",
                    ));
                }
                Some(HeaderRule {
                    name: raw.name.into_inner(),
                    value: value.to_lowercase(),
                    how: raw.how,
                })
            }
        };
        let subject_tag = match self.subject_tag {
            None => None,
            Some(tag) if tag.get_ref().trim().is_empty() => {
                return Err(ConfigError::at(text, tag.span(), "empty subject_tag"));
            }
            Some(tag) => Some(tag.get_ref().to_lowercase()),
        };
        if recipients.is_empty() && senders.is_empty() && header.is_none() && subject_tag.is_none()
        {
            return Err(ConfigError::at(
                text,
                span,
                "a rule needs a condition: recipient_domains, sender_domains, header or \
                 subject_tag",
            ));
        }
        Ok(Rule {
            name: self.name.map(Arc::from),
            class,
            recipients,
            senders,
            header,
            subject_tag,
        })
    }
}

/// The message's header fields, parsed at most once and only on demand.
struct Headers<'a> {
    raw: &'a [u8],
    parsed: Option<Option<Message<'a>>>,
}

impl<'a> Headers<'a> {
    fn get(&mut self) -> Option<&Message<'a>> {
        let raw = self.raw;
        self.parsed
            .get_or_insert_with(|| {
                // Every field as unstructured text: unfolded, RFC 2047
                // words decoded. (mail-parser applies the default only
                // when at least one field has its own entry.)
                MessageParser::new()
                    .header_text(HeaderName::Subject)
                    .default_header_text()
                    .parse_headers(raw)
            })
            .as_ref()
    }

    /// The decoded values of the fields named `name` (any case).
    fn values(&mut self, name: &str) -> Vec<String> {
        let Some(message) = self.get() else {
            return Vec::new();
        };
        message
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
            .filter_map(|h| text_of(h.value()))
            .collect()
    }

    fn subject(&mut self) -> Option<String> {
        let message = self.get()?;
        message
            .header_values(HeaderName::Subject)
            .last()
            .and_then(text_of)
    }
}

fn text_of(value: &HeaderValue<'_>) -> Option<String> {
    match value {
        HeaderValue::Text(text) => Some(text.trim().to_owned()),
        HeaderValue::TextList(list) => Some(list.join(", ").trim().to_owned()),
        HeaderValue::Empty => Some(String::new()),
        _ => None,
    }
}

impl Rule {
    fn holds(&self, facts: &MessageFacts<'_>, headers: &mut Headers<'_>) -> bool {
        if !self.recipients.is_empty()
            && !self
                .recipients
                .iter()
                .any(|p| p.matches(facts.recipient_domain))
        {
            return false;
        }
        if !self.senders.is_empty() {
            let Some(sender) = facts.sender_domain else {
                return false;
            };
            if !self.senders.iter().any(|p| p.matches(sender)) {
                return false;
            }
        }
        if let Some(rule) = &self.header {
            let found = headers.values(&rule.name).iter().any(|value| {
                let value = value.to_lowercase();
                match rule.how {
                    HeaderMatch::Exact => value == rule.value,
                    HeaderMatch::Contains => value.contains(&rule.value),
                }
            });
            if !found {
                return false;
            }
        }
        if let Some(tag) = &self.subject_tag {
            let found = headers
                .subject()
                .is_some_and(|subject| subject.to_lowercase().contains(tag.as_str()));
            if !found {
                return false;
            }
        }
        true
    }
}

impl RuleSet {
    /// Loads rules from a TOML text (format in the module docs).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the line and column of the bad TOML, unknown
    /// key or bad value.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let raw: RawRuleSet =
            toml::from_str(text).map_err(|error| ConfigError::from_toml(text, &error))?;
        let default = match &raw.default {
            Some(value) => class_of(text, value)?,
            None => Class::BestEffort,
        };
        let rules = raw
            .rule
            .into_iter()
            .map(|rule| {
                let span = rule.span();
                rule.into_inner().check(text, span)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            default,
            honor_tls_required_no: raw.honor_tls_required_no.unwrap_or(true),
            rules,
        })
    }

    /// The class when no rule matches.
    pub fn default_class(&self) -> Class {
        self.default
    }

    /// How many `[[rule]]` tables there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no `[[rule]]` tables.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Classifies a message for one recipient domain (order of precedence
    /// in the module docs).
    pub fn classify(&self, facts: &MessageFacts<'_>) -> Decision {
        if facts.requiretls {
            return Decision {
                class: Class::RequireTls,
                reason: Reason::RequireTls,
            };
        }
        let mut headers = Headers {
            raw: facts.headers,
            parsed: None,
        };
        if self.honor_tls_required_no
            && headers
                .values("TLS-Required")
                .iter()
                .any(|value| value.eq_ignore_ascii_case("no"))
        {
            return Decision {
                class: Class::BestEffort,
                reason: Reason::TlsRequiredNo,
            };
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.holds(facts, &mut headers) {
                return Decision {
                    class: rule.class,
                    reason: Reason::Rule {
                        index,
                        name: rule.name.clone(),
                    },
                };
            }
        }
        Decision {
            class: self.default,
            reason: Reason::Default,
        }
    }
}
