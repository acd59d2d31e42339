//! Cheap name helpers. hickory's `Name` equality walks labels from the
//! root with a general ordering; discovery compares names often, so these
//! reject by length and label count first and then compare forwards.

use hickory_proto::rr::Name;

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

/// A hash of the name in lower case (FNV-1a over the labels and their
/// lengths), to skip most comparisons.
pub(crate) fn key(name: &Name) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for label in name.iter() {
        h = (h ^ label.len() as u64).wrapping_mul(PRIME);
        for b in label {
            h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(PRIME);
        }
    }
    h
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
            for y in names {
                if same(&n(x), &n(y)) {
                    assert_eq!(key(&n(x)), key(&n(y)), "{x} {y}");
                }
            }
        }
        assert!(lower(&n("SecMX.Example.")).eq_case(&n("secmx.example.")));
        assert!(lower(&n("secmx.example.")).eq_case(&n("secmx.example.")));
    }
}
