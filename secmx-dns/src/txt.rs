//! The MTA-STS (RFC 8461 §3.1) and SMTP TLS Reporting (RFC 8460 §3) TXT
//! records.
//!
//! ```text
//! _mta-sts.D.   TXT  "v=STSv1; id=20240101T000000;"
//!   sts-text-record = sts-version 1*(field-delim sts-field) [field-delim]
//!   sts-version     = %s"v=STSv1"
//!   sts-field       = sts-id / sts-extension
//!   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//!   sts-extension   = ext-name "=" ext-value
//!   ext-name        = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//!   ext-value       = 1*(%x21-3A / %x3C / %x3E-7E)
//!   field-delim     = *WSP ";" *WSP
//!
//! _smtp._tls.D. TXT  "v=TLSRPTv1; rua=mailto:tlsrpt@example"
//!   tlsrpt-record   = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//!   tlsrpt-version  = %s"v=TLSRPTv1"
//!   tlsrpt-field    = tlsrpt-rua / tlsrpt-extension
//!   tlsrpt-rua      = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//! ```
//!
//! The strings of one TXT record are concatenated. Records that do not begin
//! with the version tag are discarded; if the number left is not exactly one,
//! or that one is invalid, the domain has no such record (RFC 8461 §3.1,
//! RFC 8460 §3). A record that is not UTF-8 is discarded.

/// A valid MTA-STS TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MtaStsRecord {
    /// The policy id: when it changes, the policy must be fetched again.
    pub id: String,
    /// Other fields, in order, as name and value.
    pub extensions: Vec<(String, String)>,
}

/// A valid TLS-RPT TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsRptRecord {
    /// Where reports go, in order.
    pub rua: Vec<RuaUri>,
    /// Other fields, in order, as name and value.
    pub extensions: Vec<(String, String)>,
}

/// One reporting URI (RFC 8460 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuaUri {
    /// `mailto:` and what follows it.
    Mailto(String),
    /// An `https:` URI, whole.
    Https(String),
    /// A URI of another scheme, whole.
    Other(String),
}

impl MtaStsRecord {
    /// Picks the MTA-STS record from the TXT records at `_mta-sts.D`, each
    /// given as the concatenation of its strings.
    pub fn from_txt<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let text = only_one(records, "v=STSv1")?;
        let fields = fields(text, "v=STSv1")?;
        let mut id = None;
        let mut extensions = Vec::new();
        for (name, value) in fields {
            if name == "id" {
                let ok = (1..=32).contains(&value.len())
                    && value.bytes().all(|b| b.is_ascii_alphanumeric());
                if !ok || id.is_some() {
                    return None;
                }
                id = Some(value.to_owned());
            } else {
                extensions.push((name.to_owned(), value.to_owned()));
            }
        }
        Some(Self {
            id: id?,
            extensions,
        })
    }
}

impl TlsRptRecord {
    /// Picks the TLS-RPT record from the TXT records at `_smtp._tls.D`, each
    /// given as the concatenation of its strings.
    pub fn from_txt<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Option<Self> {
        let text = only_one(records, "v=TLSRPTv1")?;
        let mut rua = None;
        let mut extensions = Vec::new();
        for (name, value) in fields_raw(text, "v=TLSRPTv1")? {
            if name == "rua" {
                if rua.is_some() {
                    return None;
                }
                let mut uris = Vec::new();
                for uri in value.split(',') {
                    uris.push(rua_uri(uri.trim_matches(is_wsp))?);
                }
                rua = Some(uris);
            } else {
                if !valid_ext_value(value) {
                    return None;
                }
                extensions.push((name.to_owned(), value.to_owned()));
            }
        }
        Some(Self {
            rua: rua?,
            extensions,
        })
    }
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The one record that begins with `version` followed by a field
/// delimiter, as text; `None` unless there is exactly one.
fn only_one<'a>(records: impl IntoIterator<Item = &'a [u8]>, version: &str) -> Option<&'a str> {
    let mut found = None;
    for record in records {
        let Ok(text) = std::str::from_utf8(record) else {
            continue;
        };
        let Some(rest) = text.strip_prefix(version) else {
            continue;
        };
        if !rest.trim_start_matches(is_wsp).starts_with(';') {
            continue;
        }
        if found.replace(text).is_some() {
            return None;
        }
    }
    found
}

/// Splits `version *(field-delim name "=" value) [field-delim]` into
/// fields, checking names and (for MTA-STS) values against the grammar.
fn fields<'a>(text: &'a str, version: &str) -> Option<Vec<(&'a str, &'a str)>> {
    let fields = fields_raw(text, version)?;
    fields
        .iter()
        .all(|(_, value)| valid_ext_value(value))
        .then_some(fields)
}

/// As [`fields`], without checking values (TLS-RPT's rua holds URIs with
/// spaces around commas).
fn fields_raw<'a>(text: &'a str, version: &str) -> Option<Vec<(&'a str, &'a str)>> {
    let rest = text.strip_prefix(version)?;
    let mut parts = rest.split(';');
    // what precedes the first ';' after the version must be blank
    if !parts.next()?.trim_matches(is_wsp).is_empty() {
        return None;
    }
    let mut out = Vec::new();
    let mut ended = false;
    for part in parts {
        let part = part.trim_matches(is_wsp);
        if part.is_empty() {
            // only a final delimiter may be followed by nothing
            if ended {
                return None;
            }
            ended = true;
            continue;
        }
        if ended {
            return None;
        }
        let (name, value) = part.split_once('=')?;
        if !valid_ext_name(name) || value.is_empty() {
            return None;
        }
        out.push((name, value));
    }
    (!out.is_empty()).then_some(out)
}

fn valid_ext_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && rest.len() <= 31
                && rest
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }
        None => false,
    }
}

fn valid_ext_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| matches!(b, 0x21..=0x3A | 0x3C | 0x3E..=0x7E))
}

fn rua_uri(uri: &str) -> Option<RuaUri> {
    // RFC 3986 §3.1 scheme, then ':'; "," and "!" must be percent-encoded
    // (RFC 8460 §3), so neither can appear, nor can blanks or controls.
    let (scheme, rest) = uri.split_once(':')?;
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let rest_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b'!');
    if !scheme_ok || !rest_ok {
        return None;
    }
    Some(if scheme.eq_ignore_ascii_case("mailto") {
        RuaUri::Mailto(rest.to_owned())
    } else if scheme.eq_ignore_ascii_case("https") {
        RuaUri::Https(uri.to_owned())
    } else {
        RuaUri::Other(uri.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(records: &[&str]) -> Option<MtaStsRecord> {
        MtaStsRecord::from_txt(records.iter().map(|r| r.as_bytes()))
    }

    fn rpt(records: &[&str]) -> Option<TlsRptRecord> {
        TlsRptRecord::from_txt(records.iter().map(|r| r.as_bytes()))
    }

    #[test]
    fn rfc8461_3_1_valid_records() {
        let cases = [
            (vec!["v=STSv1; id=20240101T000000;"], "20240101T000000"),
            (vec!["v=STSv1;id=abc"], "abc"),
            (vec!["v=STSv1 ;  id=abc  ; "], "abc"),
            (vec!["v=spf1 -all", "v=STSv1; id=x1", "hello"], "x1"),
            (vec!["v=STSv1; ext_1=a.b; id=Z"], "Z"),
        ];
        for (records, id) in cases {
            let r = sts(&records).unwrap_or_else(|| panic!("{records:?}"));
            assert_eq!(r.id, id);
        }
        let r = sts(&["v=STSv1; ext_1=a.b; id=Z"]).expect("valid");
        assert_eq!(r.extensions, [("ext_1".to_owned(), "a.b".to_owned())]);
    }

    #[test]
    fn rfc8461_3_1_invalid_or_ambiguous_means_none() {
        for records in [
            vec![],
            vec!["v=STSv1; id=a", "v=STSv1; id=b"], // two records
            vec!["v=STSv1"],                        // no fields
            vec!["v=STSv1;"],                       // no id
            vec!["v=STSv1; id="],                   // empty id
            vec!["v=STSv1; id=a-b"],                // '-' in id
            vec!["v=STSv1; id=123456789012345678901234567890123"], // 33 chars
            vec!["v=STSv1; id=a; id=b"],            // two ids
            vec!["v=STSv1; id=a;; x=y"],            // empty field
            vec!["v=STSv1; id=a; x"],               // no '='
            vec!["v=STSv1; id=a; _x=y"],            // bad name
            vec!["v=STSv10; id=a"],                 // other version
            vec!["v=stsv1; id=a"],                  // %s: case-sensitive
            vec!["V=STSv1; id=a"],
        ] {
            assert_eq!(sts(&records), None, "{records:?}");
        }
        assert_eq!(MtaStsRecord::from_txt([&b"v=STSv1; id=\xff"[..]]), None);
    }

    #[test]
    fn rfc8460_3_tls_rpt_records() {
        let r = rpt(&["v=TLSRPTv1; rua=mailto:tlsrpt@example.test"]).expect("valid");
        assert_eq!(r.rua, [RuaUri::Mailto("tlsrpt@example.test".into())]);
        let r = rpt(&[
            "v=spf1 -all",
            "v=TLSRPTv1;rua=mailto:a@example.test , https://r.example.test/x?a=1;x=1",
        ])
        .expect("valid");
        assert_eq!(
            r.rua,
            [
                RuaUri::Mailto("a@example.test".into()),
                RuaUri::Https("https://r.example.test/x?a=1".into())
            ]
        );
        assert_eq!(r.extensions, [("x".to_owned(), "1".to_owned())]);
        let r = rpt(&["v=TLSRPTv1; rua=ftp://x"]).expect("valid");
        assert_eq!(r.rua, [RuaUri::Other("ftp://x".into())]);
        for records in [
            vec![],
            vec!["v=TLSRPTv1;"],
            vec!["v=TLSRPTv1; rua="],
            vec!["v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"],
            vec!["v=TLSRPTv1; rua=mailto:a@b,"],
            vec!["v=TLSRPTv1; rua=nocolon"],
            vec!["v=TLSRPTv1; rua=mailto:a!b@c"],
            vec!["v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d"],
            vec!["v=TLSRPTv1; x=1"],
            vec!["v=TLSRPTv2; rua=mailto:a@b"],
        ] {
            assert_eq!(rpt(&records), None, "{records:?}");
        }
    }
}
