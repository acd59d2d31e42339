//! The four SecMX conventions and their merge into one ordered list of SOR
//! targets.
//!
//! For a recipient domain `D`:
//!
//! ```text
//! 1. SRV       _secmx._tcp.D. SRV prio weight port target   RFC 2782 order;
//!              a lone record with target "." names no SOR
//! 2. MX 51966  D. MX 51966 host                             port 25
//! 3. Naming    secmx.D. A / AAAA                            port 25
//!              D. MX <any> secmx.D.                         port 25
//! 4. SECMX     D. SECMX pref flags port target              preference order,
//!              (type 65482 by default)                      port 0 means 25
//!
//! merged:  SECMX (preference) → SRV → MX 51966 → naming
//! ```
//!
//! A target is a host and a port; when two conventions name the same host
//! and port, the target keeps its first place and records both conventions.
//!
//! Where RFC 2782 asks for a weighted random choice among records of equal
//! priority, this crate, which draws no random numbers, orders them by
//! weight, heaviest first, and keeps the resolver's order between equal
//! weights (weight 0 last, as RFC 2782 asks). MX records of preference 51966
//! keep the resolver's order. Records with target `.` are skipped, and SRV
//! records with port 0 (nothing can listen there) too.

use std::fmt;

use hickory_proto::rr::Name;

use crate::limits::{MAX_SOR_TARGETS, SECMX_MX_PREFERENCE, SMTP_PORT};
use crate::names::{lower, same};
use crate::secmx_rr::SecmxRdata;

/// One of the four ways a domain names a secure only receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Convention {
    /// A `SECMX` record at the domain.
    SecmxRr,
    /// An `_secmx._tcp` SRV record.
    Srv,
    /// An MX record of preference 51966.
    Mx51966,
    /// The host `secmx.D`, by its addresses or as an MX target.
    Naming,
}

impl Convention {
    const ALL: [Self; 4] = [Self::SecmxRr, Self::Srv, Self::Mx51966, Self::Naming];

    fn bit(self) -> u8 {
        match self {
            Self::SecmxRr => 1,
            Self::Srv => 2,
            Self::Mx51966 => 4,
            Self::Naming => 8,
        }
    }
}

/// A set of [`Convention`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Conventions(u8);

impl Conventions {
    /// The empty set.
    pub fn new() -> Self {
        Self(0)
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Convention) -> bool {
        self.0 & c.bit() != 0
    }

    /// Adds `c`.
    pub fn insert(&mut self, c: Convention) {
        self.0 |= c.bit();
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, in merge order.
    pub fn iter(self) -> impl Iterator<Item = Convention> {
        Convention::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Convention> for Conventions {
    fn from_iter<I: IntoIterator<Item = Convention>>(iter: I) -> Self {
        let mut set = Self::new();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for Conventions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A discovered secure only receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SorTarget {
    /// The host to connect to (lower case).
    pub host: Name,
    /// The port to connect to.
    pub port: u16,
    /// The conventions that named it.
    pub conventions: Conventions,
    /// A SECMX record for this host and port set flag bit 0: the host
    /// presents a certificate valid for its name.
    pub certificate_flag: bool,
    /// Every answer behind this target (the conventions' answers, the CNAME
    /// chains in them and the host's A and AAAA answers) was authenticated
    /// by a trusted validating resolver.
    pub authenticated: bool,
}

/// One `_secmx._tcp` SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    pub(crate) priority: u16,
    pub(crate) weight: u16,
    pub(crate) port: u16,
    pub(crate) target: Name,
}

/// What the conventions' look-ups returned.
pub(crate) struct Inputs<'a> {
    /// SECMX records at D.
    pub(crate) secmx: &'a [SecmxRdata],
    /// SRV records at `_secmx._tcp.D`.
    pub(crate) srv: &'a [SrvRecord],
    /// MX records at D: preference, exchange.
    pub(crate) mx: &'a [(u16, Name)],
    /// `secmx.D`.
    pub(crate) naming_host: &'a Name,
    /// Whether `secmx.D` has an A or AAAA record.
    pub(crate) naming_has_address: bool,
}

/// Merges the conventions into SOR targets in DESIGN order. `authenticated`
/// is left false for the caller to fill in.
pub(crate) fn merge(inputs: &Inputs<'_>) -> Vec<SorTarget> {
    let mut out: Vec<SorTarget> = Vec::new();
    let mut add = |host: &Name, port: u16, convention: Convention, certificate: bool| {
        if let Some(t) = out
            .iter_mut()
            .find(|t| t.port == port && same(&t.host, host))
        {
            t.conventions.insert(convention);
            t.certificate_flag |= certificate;
        } else if out.len() < MAX_SOR_TARGETS {
            let mut conventions = Conventions::new();
            conventions.insert(convention);
            out.push(SorTarget {
                host: lower(host),
                port,
                conventions,
                certificate_flag: certificate,
                authenticated: false,
            });
        }
    };

    // Discovery hands the records over already in order; sort otherwise.
    let sorted_secmx;
    let secmx = if inputs.secmx.is_sorted_by_key(|r| r.preference) {
        inputs.secmx
    } else {
        let mut v = inputs.secmx.to_vec();
        v.sort_by_key(|r| r.preference);
        sorted_secmx = v;
        &sorted_secmx
    };
    for r in secmx.iter().filter(|r| !r.target.is_root()) {
        add(
            &r.target,
            r.port(),
            Convention::SecmxRr,
            r.certificate_valid_for_name(),
        );
    }

    let sorted_srv;
    let srv = if inputs.srv.is_sorted_by_key(srv_key) {
        inputs.srv
    } else {
        let mut v = inputs.srv.to_vec();
        sort_srv(&mut v);
        sorted_srv = v;
        &sorted_srv
    };
    for r in srv.iter().filter(|r| srv_usable(r)) {
        add(&r.target, r.port, Convention::Srv, false);
    }

    for (preference, host) in inputs.mx {
        if *preference == SECMX_MX_PREFERENCE && !host.is_root() {
            add(host, SMTP_PORT, Convention::Mx51966, false);
        }
    }

    let named_by_mx = inputs
        .mx
        .iter()
        .any(|(_, host)| same(host, inputs.naming_host));
    if inputs.naming_has_address || named_by_mx {
        add(inputs.naming_host, SMTP_PORT, Convention::Naming, false);
    }
    out
}

fn srv_key(r: &SrvRecord) -> (u16, std::cmp::Reverse<u16>) {
    (r.priority, std::cmp::Reverse(r.weight))
}

/// Whether an SRV record names a target: not `.`, not port 0.
pub(crate) fn srv_usable(r: &SrvRecord) -> bool {
    !r.target.is_root() && r.port != 0
}

/// Puts SRV records in RFC 2782 order as this crate reads it (see the
/// module docs) and drops those that name no target; a lone `.` record
/// leaves the list empty.
pub(crate) fn sort_srv(records: &mut Vec<SrvRecord>) {
    records.retain(srv_usable);
    records.sort_by_key(srv_key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: name(target),
        }
    }

    fn list(targets: &[SorTarget]) -> Vec<(String, u16, Vec<Convention>)> {
        targets
            .iter()
            .map(|t| (t.host.to_ascii(), t.port, t.conventions.iter().collect()))
            .collect()
    }

    use Convention::*;

    #[test]
    fn design_each_convention_alone() {
        let naming = name("secmx.d.");
        let secmx = [SecmxRdata::new(10, true, 0, name("s.d."))];
        let srv = [srv(0, 0, 10025, "v.d.")];
        let mx = [(51966, name("m.d.")), (10, name("mail.d."))];
        let none = Inputs {
            secmx: &[],
            srv: &[],
            mx: &[],
            naming_host: &naming,
            naming_has_address: false,
        };
        assert!(merge(&none).is_empty());
        let t = merge(&Inputs {
            secmx: &secmx,
            ..none
        });
        assert_eq!(list(&t), [("s.d.".into(), 25, vec![SecmxRr])]);
        assert!(t[0].certificate_flag);
        let t = merge(&Inputs { srv: &srv, ..none });
        assert_eq!(list(&t), [("v.d.".into(), 10025, vec![Srv])]);
        let t = merge(&Inputs { mx: &mx, ..none });
        assert_eq!(list(&t), [("m.d.".into(), 25, vec![Mx51966])]);
        let t = merge(&Inputs {
            naming_has_address: true,
            ..none
        });
        assert_eq!(list(&t), [("secmx.d.".into(), 25, vec![Naming])]);
        // naming by an ordinary MX target called secmx.D
        let mx_naming = [(10, name("SECMX.d."))];
        let t = merge(&Inputs {
            mx: &mx_naming,
            ..none
        });
        assert_eq!(list(&t), [("secmx.d.".into(), 25, vec![Naming])]);
    }

    #[test]
    fn design_merge_order_and_duplicates() {
        let naming = name("secmx.d.");
        let secmx = [
            SecmxRdata::new(20, false, 0, name("secmx.d.")),
            SecmxRdata::new(10, true, 2525, name("a.d.")),
            SecmxRdata::new(5, false, 0, name(".")),
        ];
        let srv = [
            srv(10, 0, 25, "secmx.d."),
            srv(10, 0, 2525, "A.d."),
            srv(0, 0, 25, "b.d."),
        ];
        let mx = [
            (51966, name("c.d.")),
            (51966, name("secmx.d.")),
            (10, name("mail.d.")),
        ];
        let t = merge(&Inputs {
            secmx: &secmx,
            srv: &srv,
            mx: &mx,
            naming_host: &naming,
            naming_has_address: true,
        });
        assert_eq!(
            list(&t),
            [
                ("a.d.".into(), 2525, vec![SecmxRr, Srv]),
                ("secmx.d.".into(), 25, vec![SecmxRr, Srv, Mx51966, Naming]),
                ("b.d.".into(), 25, vec![Srv]),
                ("c.d.".into(), 25, vec![Mx51966]),
            ]
        );
        assert!(t[0].certificate_flag);
        assert!(!t[1].certificate_flag);
    }

    #[test]
    fn rfc2782_srv_order_and_dot_target() {
        let records = [
            srv(20, 5, 25, "late.d."),
            srv(10, 0, 25, "zero.d."),
            srv(10, 60, 25, "heavy.d."),
            srv(10, 10, 25, "light.d."),
            srv(10, 10, 0, "portzero.d."),
            srv(10, 10, 25, "."),
        ];
        let mut records = records.to_vec();
        sort_srv(&mut records);
        let order: Vec<String> = records.iter().map(|r| r.target.to_ascii()).collect();
        assert_eq!(order, ["heavy.d.", "light.d.", "zero.d.", "late.d."]);
        let mut lone_dot = vec![srv(0, 0, 0, ".")];
        sort_srv(&mut lone_dot);
        assert!(lone_dot.is_empty());
    }

    #[test]
    fn design_same_host_other_port_is_another_target() {
        let naming = name("secmx.d.");
        let srv = [srv(0, 0, 2525, "secmx.d.")];
        let t = merge(&Inputs {
            secmx: &[],
            srv: &srv,
            mx: &[],
            naming_host: &naming,
            naming_has_address: true,
        });
        assert_eq!(
            list(&t),
            [
                ("secmx.d.".into(), 2525, vec![Srv]),
                ("secmx.d.".into(), 25, vec![Naming]),
            ]
        );
    }
}
