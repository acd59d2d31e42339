//! The ordinary MX list (RFC 5321 §5.1), the implicit MX and null MX
//! (RFC 7505): where mail goes when no SOR takes it.
//!
//! ```text
//! D. MX preference exchange        lower preference first (RFC 5321 §5.1)
//! D. MX 0 .                        null MX: D accepts no mail (RFC 7505 §3)
//! (no MX, D has A/AAAA)            implicit MX: D itself, preference 0
//! ```
//!
//! Decisions where the RFCs leave room:
//! - MX records of preference 51966 name SORs (see
//!   [`conventions`](crate::conventions)) and are left out of this list; when
//!   they are the only MX records, the list is empty and there is no implicit
//!   MX (RFC 5321 §5.1: the implicit MX applies only when there is no MX
//!   record at all).
//! - Records of equal preference keep the resolver's order (RFC 5321 §5.1
//!   asks for randomisation; resolvers rotate RRsets, and this crate draws no
//!   random numbers).
//! - A set whose every record has the target `.` is a null MX, whatever the
//!   preference; a `.` target among real ones is skipped (RFC 7505 §3 says
//!   the two must not be mixed).

use hickory_proto::rr::Name;

use crate::limits::SECMX_MX_PREFERENCE;
use crate::response::Indeterminate;

/// One ordinary mail exchanger.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MxHost {
    /// The MX preference (0 for the implicit MX).
    pub preference: u16,
    /// The host (lower case).
    pub host: Name,
    /// This is the implicit MX: the domain itself, as it has no MX record.
    pub implicit: bool,
    /// The MX answer (or for the implicit MX the domain's address answers)
    /// and this host's A and AAAA answers were all authenticated by a
    /// trusted validating resolver.
    pub authenticated: bool,
}

/// The ordinary mail route of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailRoute {
    /// MX hosts in preference order, or the implicit MX. Empty when every MX
    /// record had preference 51966.
    Hosts(Vec<MxHost>),
    /// Null MX (RFC 7505): the domain accepts no mail; a permanent answer.
    NullMx,
    /// The domain does not exist (NXDOMAIN for its MX look-up).
    NxDomain,
    /// No MX record, and no A or AAAA record for the implicit MX
    /// (RFC 5321 §5.1): no route.
    NoRoute,
    /// The MX look-up (or the implicit MX's address look-ups) failed
    /// temporarily.
    Indeterminate(Indeterminate),
}

/// The MX records of one answer, ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MxSet<'a> {
    /// RFC 7505 null MX.
    Null,
    /// The ordinary hosts in preference order, 51966 and `.` left out.
    Hosts(Vec<(u16, &'a Name)>),
}

/// Orders the MX records of one answer (RFC 5321 §5.1, RFC 7505 §3).
pub(crate) fn ordinary(records: &[(u16, Name)]) -> MxSet<'_> {
    if !records.is_empty() && records.iter().all(|(_, host)| host.is_root()) {
        return MxSet::Null;
    }
    let mut hosts: Vec<(u16, &Name)> = records
        .iter()
        .filter(|(preference, host)| *preference != SECMX_MX_PREFERENCE && !host.is_root())
        .map(|(preference, host)| (*preference, host))
        .collect();
    hosts.sort_by_key(|(preference, _)| *preference);
    MxSet::Hosts(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(records: &[(u16, &str)]) -> Vec<(u16, Name)> {
        records
            .iter()
            .map(|(p, n)| (*p, Name::from_ascii(n).expect("name")))
            .collect()
    }

    fn hosts(set: MxSet<'_>) -> Vec<(u16, String)> {
        match set {
            MxSet::Hosts(h) => h.into_iter().map(|(p, n)| (p, n.to_ascii())).collect(),
            MxSet::Null => panic!("unexpected null MX"),
        }
    }

    #[test]
    fn rfc5321_5_1_preference_order_keeps_resolver_order_for_ties() {
        let records = mx(&[(20, "c."), (10, "b."), (20, "a."), (5, "z.")]);
        assert_eq!(
            hosts(ordinary(&records)),
            [
                (5, "z.".into()),
                (10, "b.".into()),
                (20, "c.".into()),
                (20, "a.".into())
            ]
        );
    }

    #[test]
    fn design_preference_51966_is_not_an_ordinary_mx() {
        let records = mx(&[(51966, "secmx.d."), (10, "mail.d.")]);
        assert_eq!(hosts(ordinary(&records)), [(10, "mail.d.".into())]);
        assert_eq!(hosts(ordinary(&mx(&[(51966, "secmx.d.")]))), []);
        assert_eq!(hosts(ordinary(&[])), []);
    }

    #[test]
    fn rfc7505_3_null_mx() {
        assert_eq!(ordinary(&mx(&[(0, ".")])), MxSet::Null);
        assert_eq!(ordinary(&mx(&[(10, ".")])), MxSet::Null);
        // mixed with a real host: the "." record is skipped
        assert_eq!(
            hosts(ordinary(&mx(&[(0, "."), (10, "mail.d.")]))),
            [(10, "mail.d.".into())]
        );
    }
}
