//! Cheap name helpers. hickory's `Name` equality walks labels from the
//! root with a general ordering; discovery compares names often, so these
//! reject by length and label count first and then compare forwards.
//! Every look-up's name is also kept in wire form (RFC 1035 §3.1), in
//! lower case: queries copy it, answers' questions are compared with it
//! and target hosts are told apart by it, without walking hickory's
//! labels again.

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// Case-insensitive equality of two names (RFC 4343 §3).
///
/// Names in discovery results are lower case, so most equal labels are
/// equal octet for octet: that comparison (a `memcmp`) comes first, the
/// case-folding one only when it fails.
pub(crate) fn same(a: &Name, b: &Name) -> bool {
    if a.len() != b.len() || a.is_fqdn() != b.is_fqdn() {
        return false;
    }
    let (x, y) = (a.iter(), b.iter());
    x.len() == y.len() && x.zip(y).all(|(l, r)| l == r || l.eq_ignore_ascii_case(r))
}

/// The name in lower case; a plain copy when it has no upper-case octet.
pub(crate) fn lower(name: &Name) -> Name {
    if name.iter().any(|l| l.iter().any(u8::is_ascii_uppercase)) {
        name.to_lowercase()
    } else {
        name.clone()
    }
}

/// Appends `name` in wire form (RFC 1035 §3.1), in lower case: each label
/// after its length octet, then the root label. Returns whether the name
/// had an upper-case letter. Discovery compares and sends names in this
/// form: a slice comparison instead of a walk over hickory's labels.
pub(crate) fn write_wire(name: &Name, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    for label in name.iter() {
        // hickory keeps labels at 63 octets or less
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    // Length octets are below 64: never letters.
    let written = out.get_mut(start..).unwrap_or_default();
    let upper = written.iter().any(u8::is_ascii_uppercase);
    if upper {
        written.make_ascii_lowercase();
    }
    upper
}

/// The name whose wire form is `wire` (RFC 1035 §3.1, no compression
/// pointers), read by hickory-proto; `None` if it is not one (past 255
/// octets, say).
pub(crate) fn from_wire(wire: &[u8]) -> Option<Name> {
    let mut decoder = BinDecoder::new(wire);
    let name = Name::read(&mut decoder).ok()?;
    (decoder.index() == wire.len()).then_some(name)
}

/// A name's wire form in lower case (as [`write_wire`]), on the stack.
pub(crate) struct Wire {
    buf: [u8; MAX_WIRE],
    len: usize,
}

/// The longest name in wire form (RFC 1035 §3.1: 255 octets).
const MAX_WIRE: usize = 255;

impl Wire {
    /// The wire form of `name`; `None` past 255 octets (hickory builds no
    /// such name).
    pub(crate) fn of(name: &Name) -> Option<Self> {
        let mut wire = Self {
            buf: [0; MAX_WIRE],
            len: 0,
        };
        for label in name.iter() {
            let end = wire.len + 1 + label.len();
            let (len, out) = wire.buf.get_mut(wire.len..end)?.split_first_mut()?;
            // hickory keeps labels at 63 octets or less
            *len = label.len() as u8;
            for (o, b) in out.iter_mut().zip(label) {
                *o = b.to_ascii_lowercase();
            }
            wire.len = end;
        }
        // the root label: the buffer is zeroed
        wire.len += 1;
        (wire.len <= MAX_WIRE).then_some(wire)
    }

    /// The octets.
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    #[test]
    fn rfc4343_3_case_insensitive_equality_agrees_with_hickory() {
        let names = [
            "a.b.",
            "A.b.",
            "ab.",
            "a.bc.",
            "ab.c.",
            "a.b.c.",
            ".",
            "secmx.EXAMPLE.test.",
        ];
        for x in names {
            for y in names {
                assert_eq!(same(&n(x), &n(y)), n(x) == n(y), "{x} {y}");
            }
        }
        for x in names {
            let mut wire = Vec::new();
            write_wire(&n(x), &mut wire);
            let stack = Wire::of(&n(x)).expect("short name");
            assert_eq!(stack.as_slice(), wire, "{x}");
            for y in names {
                let mut other = Vec::new();
                write_wire(&n(y), &mut other);
                assert_eq!(same(&n(x), &n(y)), wire == other, "{x} {y}");
            }
        }
        assert!(lower(&n("SecMX.Example.")).eq_case(&n("secmx.example.")));
        assert!(lower(&n("secmx.example.")).eq_case(&n("secmx.example.")));
    }
}
