//! `secmx rr DOMAIN --host H [--port P] [--preference N] [--certificate]
//! [--ttl T] [--type N]`: the zone-file lines that publish a SOR for a
//! domain by the SecMX conventions (DESIGN.md, "Discovery").
//!
//! ```text
//! D.             TTL IN TYPE65482 \# len hex        SECMX, RFC 3597 §5 form (any server)
//! ;D.            TTL IN SECMX pref flags port H.    SECMX, native form (servers that know it)
//! _secmx._tcp.D. TTL IN SRV pref 0 port H.          SRV (RFC 2782)
//! D.             TTL IN MX 51966 H.                 MX 51966: port 25 only
//! ```
//!
//! One SECMX record must appear in one form only, so the native line is
//! printed commented out: the generic form is the one every authoritative
//! server loads (knot, NSD and BIND all accept it). The naming convention
//! needs no record of its own beyond the address of `secmx.D`; the output
//! says whether `H` is that host.

use std::fmt::Write as _;

use secmx_dns::SecmxRdata;
use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::limits::{DEFAULT_SECMX_TYPE, SECMX_MX_PREFERENCE, SMTP_PORT};

use crate::exit::{self, Failure};

/// The options of `secmx rr`.
#[derive(Debug, Clone, clap::Args)]
pub struct RrArgs {
    /// The recipient domain the records are published in.
    pub domain: String,
    /// The SOR host.
    #[arg(long, value_name = "H")]
    pub host: String,
    /// The SOR's SMTP port.
    #[arg(long, value_name = "P", default_value_t = SMTP_PORT)]
    pub port: u16,
    /// SECMX preference and SRV priority (lower is tried first).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub preference: u16,
    /// Set SECMX flag bit 0: the host's certificate is valid for its name
    /// under public or configured roots.
    #[arg(long)]
    pub certificate: bool,
    /// TTL of the records, in seconds.
    #[arg(long, value_name = "T", default_value_t = 300)]
    pub ttl: u32,
    /// The SECMX record type code (a private-use type, RFC 6895).
    #[arg(long = "type", value_name = "N", default_value_t = DEFAULT_SECMX_TYPE)]
    pub rtype: u16,
}

fn name(what: &str, text: &str) -> Result<Name, Failure> {
    let parsed = if text.is_ascii() {
        Name::from_ascii(text)
    } else {
        Name::from_utf8(text)
    };
    let mut parsed = parsed
        .map_err(|e| Failure::new(exit::USAGE, format!("bad {what} {text:?}: {e}")))?
        .to_lowercase();
    parsed.set_fqdn(true);
    if parsed.is_root() {
        return Err(Failure::new(
            exit::USAGE,
            format!("bad {what} {text:?}: the root"),
        ));
    }
    Ok(parsed)
}

/// The zone-file text for `args`.
pub fn zone_lines(args: &RrArgs) -> Result<String, Failure> {
    let domain = name("domain", &args.domain)?;
    let host = name("host", &args.host)?;
    if args.port == 0 {
        return Err(Failure::new(exit::USAGE, "--port must not be 0"));
    }
    let (d, h, ttl, port) = (domain.to_ascii(), host.to_ascii(), args.ttl, args.port);
    let secmx = SecmxRdata::new(args.preference, args.certificate, port, host.clone());
    let srv_owner = Name::from_ascii("_secmx._tcp")
        .ok()
        .and_then(|prefix| prefix.append_domain(&domain).ok())
        .ok_or_else(|| Failure::new(exit::USAGE, format!("the domain {d} is too long")))?;
    let naming = Name::from_ascii("secmx")
        .ok()
        .and_then(|prefix| prefix.append_domain(&domain).ok());

    let mut out = String::new();
    let _ = writeln!(
        out,
        "; SecMX: {h} port {port} is a secure only receiver (SOR) for {d}"
    );
    let _ = writeln!(
        out,
        "; SECMX record (type {}), RFC 3597 form, which every server loads:",
        args.rtype
    );
    let _ = writeln!(out, "{d} {ttl} IN {}", secmx.record_text(args.rtype, true));
    out.push_str("; the same record in native form, for servers that know SECMX:\n");
    let _ = writeln!(
        out,
        ";{d} {ttl} IN {}",
        secmx.record_text(args.rtype, false)
    );
    out.push_str("; SRV record:\n");
    let _ = writeln!(
        out,
        "{} {ttl} IN SRV {} 0 {port} {h}",
        srv_owner.to_ascii(),
        args.preference
    );
    if port == SMTP_PORT {
        out.push_str(
            "; MX record of preference 51966 (tried last by senders that do not know SecMX):\n",
        );
        let _ = writeln!(out, "{d} {ttl} IN MX {SECMX_MX_PREFERENCE} {h}");
    } else {
        let _ = writeln!(
            out,
            "; no MX {SECMX_MX_PREFERENCE} record: it names port 25 only, and the SOR is on port {port}"
        );
    }
    if let Some(naming) = naming {
        let naming = naming.to_ascii();
        let _ = writeln!(
            out,
            "; naming convention: {naming}, if it has an A or AAAA record, is a SOR on port 25{}",
            if naming == h {
                " (it is this host)"
            } else {
                ""
            }
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(domain: &str, host: &str, port: u16) -> RrArgs {
        RrArgs {
            domain: domain.into(),
            host: host.into(),
            port,
            preference: 10,
            certificate: true,
            ttl: 300,
            rtype: DEFAULT_SECMX_TYPE,
        }
    }

    #[test]
    fn design_four_conventions_for_a_port_25_sor() {
        let text = zone_lines(&args("Example.TEST", "secmx.example.test", 25)).expect("lines");
        let records: Vec<&str> = text.lines().filter(|l| !l.starts_with(';')).collect();
        let expected_rdata = SecmxRdata::new(
            10,
            true,
            25,
            Name::from_ascii("secmx.example.test.").expect("name"),
        );
        assert_eq!(
            records,
            [
                format!(
                    "example.test. 300 IN TYPE65482 {}",
                    expected_rdata.to_generic()
                )
                .as_str(),
                "_secmx._tcp.example.test. 300 IN SRV 10 0 25 secmx.example.test.",
                "example.test. 300 IN MX 51966 secmx.example.test.",
            ]
        );
        assert!(text.contains("\n;example.test. 300 IN SECMX 10 1 25 secmx.example.test.\n"));
        assert!(text.contains(
            "; naming convention: secmx.example.test., if it has an A or AAAA record, \
             is a SOR on port 25 (it is this host)\n"
        ));
        // The generic line parses back to the same RDATA (RFC 3597 §5).
        let generic = records[0].split_once(" IN ").expect("class").1;
        assert_eq!(
            SecmxRdata::parse_record(generic, DEFAULT_SECMX_TYPE).expect("parses"),
            expected_rdata
        );
    }

    #[test]
    fn other_port_has_no_mx_51966() {
        let text = zone_lines(&args("example.test", "sor.example.net", 10025)).expect("lines");
        assert!(!text.lines().any(|l| l.contains(" IN MX ")), "{text}");
        assert!(
            text.contains("_secmx._tcp.example.test. 300 IN SRV 10 0 10025 sor.example.net.\n")
        );
        assert!(text.contains(
            "; naming convention: secmx.example.test., if it has an A or AAAA record, \
             is a SOR on port 25\n"
        ));
    }

    #[test]
    fn bad_names_are_usage_errors() {
        for (domain, host, port) in [
            ("exa mple..test", "h.example", 25),
            (".", "h.example", 25),
            ("example.test", "", 25),
            ("example.test", "h.example", 0),
        ] {
            let failure = zone_lines(&args(domain, host, port)).expect_err("refused");
            assert_eq!(failure.code, exit::USAGE, "{domain:?} {host:?}");
        }
    }
}
