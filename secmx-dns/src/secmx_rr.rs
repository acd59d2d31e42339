//! The `SECMX` record: its RDATA wire codec, its presentation form and the
//! RFC 3597 generic form.
//!
//! `SECMX` is a private-use record type (65482 = 0xFFCA by default, RFC 6895
//! §3.1), configurable. Its RDATA, in network order:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          preference           |             flags             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     port (0 means 25)         |                               /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               /
//! /          target: a domain name, never compressed              /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Flag bit 0 (`0x0001`, [`FLAG_CERTIFICATE`]) says the target presents a
//! certificate valid for its name under public or configured roots; the
//! other bits are reserved: SecMX writes them as zero and ignores them when
//! reading (they are kept, so a record round-trips unchanged).
//!
//! The target name is written uncompressed, and a compression pointer in it
//! is refused on reading: RFC 3597 §4 forbids compression in the RDATA of
//! types a server does not know, so a pointer can only come from a broken or
//! hostile server.
//!
//! Presentation (RFC 1035 §5.1 master file form), the RDATA after the type:
//!
//! ```text
//! secmx-rdata = preference 1*WSP flags 1*WSP port 1*WSP target
//! preference, flags, port = 1*5DIGIT        ; 0..65535, decimal
//! target      = absolute domain name        ; ends with ".", RFC 1035 escapes
//!
//! example.  IN  SECMX      10 1 25 secmx.example.
//! example.  IN  TYPE65482  \# 21 000a00010019057365636d78076578616d706c6500
//! ```
//!
//! The second line is the RFC 3597 §5 generic form, for zone files of servers
//! that do not know `SECMX`: `\#`, the RDATA length, then the RDATA in hex
//! (in one or more words).

use std::fmt;
use std::str::FromStr;

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::error::SecmxError;
use crate::limits::{MAX_LABEL, MAX_NAME, SMTP_PORT};

/// Flag bit 0: the target presents a certificate valid for its name.
pub const FLAG_CERTIFICATE: u16 = 0x0001;

/// Length of the fixed part of the RDATA: preference, flags, port.
const FIXED_LEN: usize = 6;

/// The RDATA of one `SECMX` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SecmxRdata {
    /// Lower is tried first.
    pub preference: u16,
    /// The raw flags word; see [`FLAG_CERTIFICATE`].
    pub flags: u16,
    /// The port as written; `0` means 25 (see [`SecmxRdata::port`]).
    pub raw_port: u16,
    /// The SOR host.
    pub target: Name,
}

impl SecmxRdata {
    /// A record as SecMX writes it: reserved flag bits zero. `port` 0 means
    /// 25.
    pub fn new(preference: u16, certificate: bool, port: u16, target: Name) -> Self {
        let flags = if certificate { FLAG_CERTIFICATE } else { 0 };
        Self::with_raw_flags(preference, flags, port, target)
    }

    /// A record with every flag bit as given (reserved bits included).
    pub fn with_raw_flags(preference: u16, flags: u16, raw_port: u16, target: Name) -> Self {
        let mut target = target;
        target.set_fqdn(true);
        Self {
            preference,
            flags,
            raw_port,
            target,
        }
    }

    /// The port to connect to: the port field, or 25 when it is 0.
    pub fn port(&self) -> u16 {
        if self.raw_port == 0 {
            SMTP_PORT
        } else {
            self.raw_port
        }
    }

    /// Flag bit 0: the target's certificate is valid for its name.
    pub fn certificate_valid_for_name(&self) -> bool {
        self.flags & FLAG_CERTIFICATE != 0
    }

    /// Decodes RDATA. The whole slice must be one record's RDATA.
    pub fn decode(rdata: &[u8]) -> Result<Self, SecmxError> {
        let (fixed, name) = match rdata.split_at_checked(FIXED_LEN) {
            Some((fixed, name)) if !name.is_empty() => (fixed, name),
            _ => return Err(SecmxError::TooShort),
        };
        let word = |i: usize| match fixed.get(i..i + 2) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0, // unreachable: `fixed` is exactly FIXED_LEN octets
        };
        let end = scan_uncompressed_name(name, FIXED_LEN)?;
        if end < name.len() {
            return Err(SecmxError::TrailingOctets(name.len() - end));
        }
        // The scan proved the name is plain labels ending in the root label
        // and within 255 octets, so hickory reads it without chasing pointers.
        let mut decoder = BinDecoder::new(name);
        let target = Name::read(&mut decoder).map_err(|_| SecmxError::NameTooLong)?;
        Ok(Self {
            preference: word(0),
            flags: word(2),
            raw_port: word(4),
            target,
        })
    }

    /// Appends the RDATA to `out`, the target name uncompressed.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.preference.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.raw_port.to_be_bytes());
        for label in self.target.iter() {
            // hickory keeps labels at 63 octets or less, so the length fits.
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
    }

    /// The RDATA as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.target.len() + 1);
        self.encode(&mut out);
        out
    }

    /// The RFC 3597 §5 generic form of the RDATA: `\# <length> <hex>`.
    pub fn to_generic(&self) -> String {
        let bytes = self.to_bytes();
        let mut s = format!("\\# {} ", bytes.len());
        for b in &bytes {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses the RFC 3597 §5 generic form `\# <length> <hex words>`.
    pub fn parse_generic(text: &str) -> Result<Self, SecmxError> {
        let mut tokens = text.split_ascii_whitespace();
        if tokens.next() != Some("\\#") {
            return Err(SecmxError::BadGeneric("does not start with \\#"));
        }
        let length = tokens
            .next()
            .ok_or(SecmxError::BadGeneric("missing length"))?;
        let length = parse_u16("length", length)? as usize;
        let mut bytes = Vec::with_capacity(length);
        for word in tokens {
            let word = word.as_bytes();
            if word.len() % 2 != 0 {
                return Err(SecmxError::BadGeneric("odd number of hex digits"));
            }
            for pair in word.chunks_exact(2) {
                if bytes.len() == length {
                    return Err(SecmxError::BadGeneric("more data than the length says"));
                }
                let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                    return Err(SecmxError::BadGeneric("not hex"));
                };
                bytes.push(hi << 4 | lo);
            }
        }
        if bytes.len() != length {
            return Err(SecmxError::BadGeneric("less data than the length says"));
        }
        Self::decode(&bytes)
    }

    /// Parses a record's type and RDATA: `SECMX 10 1 25 secmx.example.`, or
    /// with the type written `TYPE<rtype>`, and the RDATA in presentation or
    /// generic form (RFC 3597 §5 allows `\#` after a known mnemonic too).
    pub fn parse_record(text: &str, rtype: u16) -> Result<Self, SecmxError> {
        let text = text.trim_start();
        let (mnemonic, rest) = text
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((text, ""));
        let generic_name = format!("TYPE{rtype}");
        if !mnemonic.eq_ignore_ascii_case("SECMX") && !mnemonic.eq_ignore_ascii_case(&generic_name)
        {
            return Err(SecmxError::WrongType {
                expected: rtype,
                found: mnemonic.to_owned(),
            });
        }
        rest.parse()
    }

    /// The record's type and RDATA as text: `SECMX 10 1 25 secmx.example.`,
    /// or `TYPE65482 \# 21 000a…` when `generic` (for zone files of servers
    /// that do not know SECMX).
    pub fn record_text(&self, rtype: u16, generic: bool) -> String {
        if generic {
            format!("TYPE{rtype} {}", self.to_generic())
        } else {
            format!("SECMX {self}")
        }
    }
}

/// The presentation form of the RDATA: `10 1 25 secmx.example.`.
impl fmt::Display for SecmxRdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.preference,
            self.flags,
            self.raw_port,
            NameText(&self.target)
        )
    }
}

/// Parses the RDATA in presentation form (`10 1 25 secmx.example.`) or in
/// the RFC 3597 generic form (`\# 21 000a…`).
impl FromStr for SecmxRdata {
    type Err = SecmxError;

    fn from_str(text: &str) -> Result<Self, SecmxError> {
        let fields: Vec<&str> = text.split_ascii_whitespace().take(5).collect();
        if fields.first() == Some(&"\\#") {
            return Self::parse_generic(text);
        }
        let &[preference, flags, port, target] = fields.as_slice() else {
            return Err(SecmxError::FieldCount {
                expected: 4,
                found: fields.len(),
            });
        };
        let target_name = parse_name(target)?;
        Ok(Self::with_raw_flags(
            parse_u16("preference", preference)?,
            parse_u16("flags", flags)?,
            parse_u16("port", port)?,
            target_name,
        ))
    }
}

/// Checks that `name` (starting at `base` within the RDATA, for error
/// offsets) is plain labels ending in the root label, within 255 octets, and
/// returns the length of the name in `name`. Cost: one pass over the labels.
pub(crate) fn scan_uncompressed_name(name: &[u8], base: usize) -> Result<usize, SecmxError> {
    let mut i = 0;
    loop {
        let Some(&len) = name.get(i) else {
            return Err(SecmxError::Truncated);
        };
        match len & 0xC0 {
            0xC0 => return Err(SecmxError::CompressionPointer(base + i)),
            0x00 => {}
            _ => return Err(SecmxError::LabelType(base + i)),
        }
        let len = usize::from(len);
        debug_assert!(len <= MAX_LABEL);
        let end = i + 1 + len;
        if end > MAX_NAME {
            return Err(SecmxError::NameTooLong);
        }
        if len == 0 {
            return Ok(end);
        }
        if end > name.len() {
            return Err(SecmxError::Truncated);
        }
        i = end;
    }
}

/// Parses an absolute name in master-file form (RFC 1035 §5.1): labels
/// separated by `.`, `\X` for a literal character and `\DDD` for an octet in
/// decimal; a final `.` is required, and `.` alone is the root.
fn parse_name(text: &str) -> Result<Name, SecmxError> {
    let bad = || SecmxError::BadName(text.to_owned());
    if text == "." {
        return Ok(Name::root());
    }
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut bytes = text.bytes().peekable();
    let mut absolute = false;
    while let Some(b) = bytes.next() {
        match b {
            b'.' => {
                if label.is_empty() {
                    return Err(bad()); // an empty label
                }
                labels.push(std::mem::take(&mut label));
                absolute = bytes.peek().is_none();
            }
            b'\\' => {
                let first = bytes.next().ok_or_else(bad)?;
                if first.is_ascii_digit() {
                    let (Some(d2), Some(d3)) = (bytes.next(), bytes.next()) else {
                        return Err(bad());
                    };
                    if !d2.is_ascii_digit() || !d3.is_ascii_digit() {
                        return Err(bad());
                    }
                    let value = u16::from(first - b'0') * 100
                        + u16::from(d2 - b'0') * 10
                        + u16::from(d3 - b'0');
                    label.push(u8::try_from(value).map_err(|_| bad())?);
                } else {
                    label.push(first);
                }
            }
            _ => label.push(b),
        }
        if label.len() > MAX_LABEL {
            return Err(bad());
        }
    }
    if !absolute {
        return Err(SecmxError::RelativeName(text.to_owned()));
    }
    Name::from_labels(labels).map_err(|_| bad())
}

/// Writes a name in master-file form (RFC 1035 §5.1): printable ASCII as is,
/// the characters special in master files after a backslash, every other
/// octet as `\DDD`.
struct NameText<'a>(&'a Name);

impl fmt::Display for NameText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_root() {
            return f.write_str(".");
        }
        for label in self.0.iter() {
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", char::from(b))?;
                    }
                    0x21..=0x7E => write!(f, "{}", char::from(b))?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

fn parse_u16(field: &'static str, text: &str) -> Result<u16, SecmxError> {
    let bad = || SecmxError::BadNumber {
        field,
        text: text.to_owned(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    fn wire(pref: u16, flags: u16, port: u16, name_bytes: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&pref.to_be_bytes());
        v.extend_from_slice(&flags.to_be_bytes());
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(name_bytes);
        v
    }

    const SECMX_EXAMPLE: &[u8] = b"\x05secmx\x07example\x00";

    #[test]
    fn design_secmx_decodes_the_documented_example() {
        let rr = SecmxRdata::decode(&wire(10, 1, 25, SECMX_EXAMPLE)).expect("valid");
        assert_eq!(rr.preference, 10);
        assert!(rr.certificate_valid_for_name());
        assert_eq!(rr.port(), 25);
        assert_eq!(rr.target, name("secmx.example."));
        assert_eq!(rr.to_string(), "10 1 25 secmx.example.");
        assert_eq!(rr.record_text(65482, false), "SECMX 10 1 25 secmx.example.");
        assert_eq!(
            rr.record_text(65482, true),
            "TYPE65482 \\# 21 000a00010019057365636d78076578616d706c6500"
        );
    }

    #[test]
    fn design_secmx_port_zero_means_25_and_reserved_flags_are_ignored() {
        let rr = SecmxRdata::decode(&wire(0, 0xFFFE, 0, SECMX_EXAMPLE)).expect("valid");
        assert_eq!(rr.port(), 25);
        assert_eq!(rr.raw_port, 0);
        assert!(!rr.certificate_valid_for_name());
        // kept as read, so the record round-trips
        assert_eq!(rr.to_bytes(), wire(0, 0xFFFE, 0, SECMX_EXAMPLE));
        // SecMX writes reserved bits as zero
        let ours = SecmxRdata::new(5, true, 0, name("a."));
        assert_eq!(ours.flags, FLAG_CERTIFICATE);
    }

    #[test]
    fn rfc3597_section4_compression_and_bad_names_are_errors() {
        let cases: &[(&[u8], SecmxError)] = &[
            (b"\xC0\x00", SecmxError::CompressionPointer(6)),
            (b"\xC0\x01", SecmxError::CompressionPointer(6)),
            (b"\x01\x41\xC0\x00", SecmxError::CompressionPointer(8)),
            (b"\xC0\x02\xC0\x00", SecmxError::CompressionPointer(6)),
            (b"\x40abc", SecmxError::LabelType(6)),
            (b"\x80abc", SecmxError::LabelType(6)),
            (b"\x05secm", SecmxError::Truncated),
            (b"\x05secmx", SecmxError::Truncated),
            (b"\x00\x00", SecmxError::TrailingOctets(1)),
            (b"\x01a\x00junk", SecmxError::TrailingOctets(4)),
        ];
        for (name_bytes, want) in cases {
            let got = SecmxRdata::decode(&wire(1, 0, 25, name_bytes));
            assert_eq!(got.as_ref(), Err(want), "name bytes {name_bytes:02x?}");
        }
        assert_eq!(SecmxRdata::decode(&[]), Err(SecmxError::TooShort));
        assert_eq!(
            SecmxRdata::decode(&[0, 1, 0, 1, 0, 25]),
            Err(SecmxError::TooShort)
        );
        // the 5-octet placeholder some zone files carry is not a SECMX record
        assert_eq!(
            SecmxRdata::decode(&[0x01, 0x27, 0x29, 0x00, 0x01]),
            Err(SecmxError::TooShort)
        );
    }

    #[test]
    fn rfc1035_2_3_4_over_long_target_name_is_an_error() {
        // 5 labels of 63 octets: 320 octets
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(
            SecmxRdata::decode(&wire(1, 0, 25, &long)),
            Err(SecmxError::NameTooLong)
        );
        // exactly 255 octets: 3 x 64 + 62 + 1
        let mut max = Vec::new();
        for _ in 0..3 {
            max.push(63);
            max.extend_from_slice(&[b'b'; 63]);
        }
        max.push(61);
        max.extend_from_slice(&[b'c'; 61]);
        max.push(0);
        assert_eq!(max.len(), 255);
        let rr = SecmxRdata::decode(&wire(1, 0, 25, &max)).expect("255 octets is the limit");
        assert_eq!(rr.to_bytes(), wire(1, 0, 25, &max));
    }

    #[test]
    fn rfc1035_5_1_presentation_forms_parse() {
        let want = SecmxRdata::new(10, true, 25, name("secmx.example."));
        let ok = [
            "10 1 25 secmx.example.",
            "  10\t1   25 SECMX.example.  ",
            "\\# 21 000a00010019057365636d78076578616d706c6500",
            "\\# 21 000a 0001 0019 05736563 6d78076578616d706c6500",
            "\\# 21 000A0001001905736563 6D78076578616D706C6500",
        ];
        for text in ok {
            assert_eq!(text.parse::<SecmxRdata>().as_ref(), Ok(&want), "{text:?}");
        }
        for text in [
            "SECMX 10 1 25 secmx.example.",
            "secmx 10 1 25 secmx.example.",
            "TYPE65482 \\# 21 000a0001001905736563 6d78076578616d706c6500",
            "type65482 10 1 25 secmx.example.",
            "SECMX \\# 21 000a0001001905736563 6d78076578616d706c6500",
        ] {
            assert_eq!(
                SecmxRdata::parse_record(text, 65482).as_ref(),
                Ok(&want),
                "{text:?}"
            );
        }
        let escaped: SecmxRdata = "1 0 0 a\\.b.example.".parse().expect("escaped dot");
        assert_eq!(escaped.target.num_labels(), 2);
        assert_eq!(escaped.to_string(), "1 0 0 a\\.b.example.");
    }

    #[test]
    fn rfc1035_5_1_bad_presentation_is_an_error() {
        let bad: &[(&str, SecmxError)] = &[
            (
                "10 1 25",
                SecmxError::FieldCount {
                    expected: 4,
                    found: 3,
                },
            ),
            (
                "10 1 25 a. extra",
                SecmxError::FieldCount {
                    expected: 4,
                    found: 5,
                },
            ),
            (
                "65536 1 25 a.",
                SecmxError::BadNumber {
                    field: "preference",
                    text: "65536".into(),
                },
            ),
            (
                "10 -1 25 a.",
                SecmxError::BadNumber {
                    field: "flags",
                    text: "-1".into(),
                },
            ),
            (
                "10 1 +25 a.",
                SecmxError::BadNumber {
                    field: "port",
                    text: "+25".into(),
                },
            ),
            (
                "10 1 25 secmx.example",
                SecmxError::RelativeName("secmx.example".into()),
            ),
            ("10 1 25 a\\.", SecmxError::RelativeName("a\\.".into())),
            (
                "\\# 3 0001",
                SecmxError::BadGeneric("less data than the length says"),
            ),
            (
                "\\# 1 0001",
                SecmxError::BadGeneric("more data than the length says"),
            ),
            ("\\# 2 0g01", SecmxError::BadGeneric("not hex")),
            (
                "\\# 2 001",
                SecmxError::BadGeneric("odd number of hex digits"),
            ),
            ("\\# 8 000a00010019c000", SecmxError::CompressionPointer(6)),
        ];
        for (text, want) in bad {
            assert_eq!(text.parse::<SecmxRdata>().as_ref(), Err(want), "{text:?}");
        }
        assert_eq!(
            SecmxRdata::parse_record("MX 10 1 25 a.", 65482),
            Err(SecmxError::WrongType {
                expected: 65482,
                found: "MX".into()
            })
        );
        assert!(SecmxRdata::parse_record("TYPE65483 10 1 25 a.", 65482).is_err());
        let long = format!("1 0 0 {}.", vec!["a".repeat(63); 5].join("."));
        assert!(matches!(
            long.parse::<SecmxRdata>(),
            Err(SecmxError::BadName(_))
        ));
    }

    fn arb_label() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..=63),
            "[a-z0-9-]{1,20}".prop_map(String::into_bytes),
        ]
    }

    fn arb_name() -> impl Strategy<Value = Name> {
        proptest::collection::vec(arb_label(), 0..6).prop_filter_map("fits 255", |labels| {
            Name::from_labels(labels.iter().map(Vec::as_slice)).ok()
        })
    }

    proptest! {
        #[test]
        fn wire_round_trip(pref: u16, flags: u16, port: u16, target in arb_name()) {
            let rr = SecmxRdata::with_raw_flags(pref, flags, port, target);
            let bytes = rr.to_bytes();
            let back = SecmxRdata::decode(&bytes).expect("own encoding decodes");
            prop_assert_eq!(&back, &rr);
            prop_assert!(back.target.eq_case(&rr.target));
            prop_assert_eq!(back.to_bytes(), bytes);
        }

        #[test]
        fn presentation_and_generic_round_trip(pref: u16, flags: u16, port: u16, target in arb_name()) {
            let rr = SecmxRdata::with_raw_flags(pref, flags, port, target);
            let text = rr.to_string();
            let back: SecmxRdata = text.parse().expect("own presentation parses");
            prop_assert_eq!(&back, &rr);
            prop_assert_eq!(back.to_bytes(), rr.to_bytes());
            let generic = rr.record_text(65482, true);
            let back = SecmxRdata::parse_record(&generic, 65482).expect("own generic parses");
            prop_assert_eq!(back.to_bytes(), rr.to_bytes());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(rr) = SecmxRdata::decode(&bytes) {
                // whatever decodes re-encodes to the same bytes
                prop_assert_eq!(rr.to_bytes(), bytes);
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,80}") {
            let _ = text.parse::<SecmxRdata>();
            let _ = SecmxRdata::parse_record(&text, 65482);
        }
    }
}
