//! `secmx discover DOMAIN [--dns ADDR] [--dns-trusted] [--json]`: runs a
//! [`secmx_dns::Discovery`] over [`crate::dns_udp`] and prints the
//! [`Discovered`] result: the SOR targets of the four conventions in merge
//! order, the ordinary MX hosts, TLSA, MTA-STS and TLS-RPT, and every
//! look-up that failed.
//!
//! Exit status: 0 when every look-up got an answer (records, NODATA or
//! NXDOMAIN); 75 (temporary failure) when one that decides the SOR list or
//! the mail route is indeterminate (SERVFAIL, time-out): the result is
//! printed all the same, and must not be read as "no SOR".
//!
//! The JSON form is this crate's own view (secmx-dns has no serde):
//!
//! ```text
//! { "domain", "authenticated_resolver", "indeterminate", "sor_indeterminate",
//!   "sors": [{host, port, conventions[], certificate_flag, authenticated, addresses[]}],
//!   "mx": {"route": "hosts"|"null-mx"|"nxdomain"|"no-route"|"indeterminate",
//!          "hosts": [{preference, host, implicit, authenticated, addresses[]}], "reason"},
//!   "tlsa": [{host, port, records: [{usage, selector, matching, data, usable}]}],
//!   "mta_sts": {outcome, authenticated, id}, "tls_rpt": {outcome, authenticated, rua[]},
//!   "lookups": [{name, type, purpose, outcome, authenticated}] }
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;

use secmx_dns::hickory_proto::rr::Name;
use secmx_dns::{
    Config, Convention, Discovered, Discovery, Found, Indeterminate, MailRoute, Outcome, Purpose,
    RuaUri,
};
use serde_json::{Value, json};

use crate::dns_udp;
use crate::exit::{self, Failure};
use crate::send::table;

/// The options of `secmx discover`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    /// The recipient domain.
    pub domain: String,
    /// Resolver, IP or IP:PORT (no port: 53) [default: the first
    /// nameserver of /etc/resolv.conf].
    #[arg(long, value_name = "ADDR", value_parser = dns_udp::parse_resolver)]
    pub dns: Option<SocketAddr>,
    /// Believe the resolver's AD bit: it validates DNSSEC and the path to
    /// it is trusted (loopback). Needed for "authenticated" and TLSA.
    #[arg(long)]
    pub dns_trusted: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `secmx discover`; returns the exit code.
pub fn run(args: &DiscoverArgs) -> Result<u8, Failure> {
    let resolver = args.dns.unwrap_or_else(dns_udp::system_resolver);
    let mut config = Config::default();
    config.trusted_resolver = args.dns_trusted;
    config.id_seed = dns_udp::random_seed();
    let discovery = Discovery::new(&args.domain, config)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let result = dns_udp::run(discovery, resolver)
        .map_err(|e| Failure::new(exit::OSERR, format!("DNS via {resolver}: {e}")))?;
    if args.json {
        println!("{}", to_json(&result, args.dns_trusted));
    } else {
        print!("{}", to_text(&result, resolver, args.dns_trusted));
    }
    Ok(if result.is_indeterminate() {
        exit::TEMPFAIL
    } else {
        exit::OK
    })
}

/// The short name of a convention.
pub fn convention_name(convention: Convention) -> &'static str {
    match convention {
        Convention::SecmxRr => "secmx-rr",
        Convention::Srv => "srv",
        Convention::Mx51966 => "mx-51966",
        Convention::Naming => "naming",
        _ => "other",
    }
}

/// The short name of a look-up outcome.
pub fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answer => "answer".into(),
        Outcome::NoData => "nodata".into(),
        Outcome::NxDomain => "nxdomain".into(),
        Outcome::Indeterminate(why) => indeterminate_name(*why),
        _ => "other".into(),
    }
}

fn indeterminate_name(why: Indeterminate) -> String {
    match why {
        Indeterminate::ServFail => "servfail".into(),
        Indeterminate::Refused => "refused".into(),
        Indeterminate::Rcode(code) => format!("rcode-{code}"),
        Indeterminate::Timeout => "timeout".into(),
        Indeterminate::CnameLoop => "cname-loop".into(),
        Indeterminate::CnameChainTooLong => "cname-chain-too-long".into(),
        Indeterminate::QueryLimit => "query-limit".into(),
        _ => "indeterminate".into(),
    }
}

fn purpose_name(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::SecmxSrv => "srv",
        Purpose::Mx => "mx",
        Purpose::SecmxRr => "secmx-rr",
        Purpose::Naming => "naming",
        Purpose::Address => "address",
        Purpose::Tlsa => "tlsa",
        Purpose::MtaSts => "mta-sts",
        Purpose::TlsRpt => "tls-rpt",
        _ => "other",
    }
}

fn rua_text(uri: &RuaUri) -> String {
    match uri {
        RuaUri::Mailto(address) => format!("mailto:{address}"),
        RuaUri::Https(uri) | RuaUri::Other(uri) => uri.clone(),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The addresses of `host`, IPv4 first, each once: an RRset holds no
/// duplicates (RFC 2181 §5), yet a resolver has been seen to repeat a
/// record in an answer.
fn addresses(result: &Discovered, host: &Name) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(a) = result.addresses(host) {
        let v4 = a.ipv4.iter().map(ToString::to_string);
        let v6 = a.ipv6.iter().map(ToString::to_string);
        for address in v4.chain(v6) {
            if !out.contains(&address) {
                out.push(address);
            }
        }
    }
    out
}

fn found_json<T>(found: &Found<T>, record: Value) -> Value {
    let mut value = json!({
        "outcome": outcome_name(&found.outcome),
        "authenticated": found.authenticated,
    });
    if let (Some(map), Value::Object(fields)) = (value.as_object_mut(), record) {
        map.extend(fields);
    }
    value
}

/// The JSON view of a discovery result.
pub fn to_json(result: &Discovered, trusted: bool) -> Value {
    let sors: Vec<Value> = result
        .sors
        .iter()
        .map(|t| {
            json!({
                "host": t.host.to_ascii(),
                "port": t.port,
                "conventions": t.conventions.iter().map(convention_name).collect::<Vec<_>>(),
                "certificate_flag": t.certificate_flag,
                "authenticated": t.authenticated,
                "addresses": addresses(result, &t.host),
            })
        })
        .collect();
    let mx = match &result.mx {
        MailRoute::Hosts(hosts) => json!({
            "route": "hosts",
            "hosts": hosts.iter().map(|h| json!({
                "preference": h.preference,
                "host": h.host.to_ascii(),
                "implicit": h.implicit,
                "authenticated": h.authenticated,
                "addresses": addresses(result, &h.host),
            })).collect::<Vec<_>>(),
        }),
        MailRoute::NullMx => json!({"route": "null-mx"}),
        MailRoute::NxDomain => json!({"route": "nxdomain"}),
        MailRoute::NoRoute => json!({"route": "no-route"}),
        MailRoute::Indeterminate(why) => {
            json!({"route": "indeterminate", "reason": indeterminate_name(*why)})
        }
        _ => json!({"route": "other"}),
    };
    let tlsa: Vec<Value> = result
        .tlsa
        .iter()
        .map(|set| {
            json!({
                "host": set.host.to_ascii(),
                "port": set.port,
                "records": set.records.iter().map(|r| json!({
                    "usage": u8::from(r.usage),
                    "selector": u8::from(r.selector),
                    "matching": u8::from(r.matching),
                    "data": hex(&r.data),
                    "usable": r.usable(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mta_sts = found_json(
        &result.mta_sts,
        json!({"id": result.mta_sts.record.as_ref().map(|r| r.id.clone())}),
    );
    let tls_rpt = found_json(
        &result.tls_rpt,
        json!({"rua": result.tls_rpt.record.as_ref()
            .map(|r| r.rua.iter().map(rua_text).collect::<Vec<_>>())}),
    );
    let lookups: Vec<Value> = result
        .lookups
        .iter()
        .map(|l| {
            json!({
                "name": l.name.to_ascii(),
                "type": l.record_type.to_string(),
                "purpose": purpose_name(l.purpose),
                "outcome": outcome_name(&l.outcome),
                "authenticated": l.authenticated,
            })
        })
        .collect();
    json!({
        "domain": result.domain.to_ascii(),
        "authenticated_resolver": trusted,
        "indeterminate": result.is_indeterminate(),
        "sor_indeterminate": result.sor_indeterminate(),
        "sors": sors,
        "mx": mx,
        "tlsa": tlsa,
        "mta_sts": mta_sts,
        "tls_rpt": tls_rpt,
        "lookups": lookups,
    })
}

fn yes(flag: bool, text: &str) -> String {
    if flag {
        text.to_owned()
    } else {
        "-".to_owned()
    }
}

/// The human view of a discovery result.
pub fn to_text(result: &Discovered, resolver: SocketAddr, trusted: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} (resolver {resolver}{})",
        result.domain.to_ascii(),
        if trusted {
            ", trusted for DNSSEC"
        } else {
            ", DNSSEC not trusted"
        }
    );
    out.push('\n');
    if result.sors.is_empty() {
        out.push_str("Secure only receivers (SORs): none found\n");
    } else {
        out.push_str("Secure only receivers (SORs), in the order a sender tries them:\n");
        let mut rows = vec![vec![
            "#".to_owned(),
            "HOST".to_owned(),
            "PORT".to_owned(),
            "FOUND BY".to_owned(),
            "CERT FLAG".to_owned(),
            "DNSSEC".to_owned(),
            "ADDRESSES".to_owned(),
        ]];
        for (i, t) in result.sors.iter().enumerate() {
            let conventions: Vec<&str> = t.conventions.iter().map(convention_name).collect();
            rows.push(vec![
                (i + 1).to_string(),
                t.host.to_ascii(),
                t.port.to_string(),
                conventions.join(","),
                yes(t.certificate_flag, "yes"),
                yes(t.authenticated, "yes"),
                addresses(result, &t.host).join(" "),
            ]);
        }
        out.push_str(&table(&rows));
    }
    out.push('\n');
    match &result.mx {
        MailRoute::Hosts(hosts) if hosts.is_empty() => {
            out.push_str("Ordinary MX hosts: none (every MX is a SOR)\n");
        }
        MailRoute::Hosts(hosts) => {
            out.push_str("Ordinary MX hosts (candidate BERs):\n");
            let mut rows = vec![vec![
                "PREF".to_owned(),
                "HOST".to_owned(),
                "DNSSEC".to_owned(),
                "ADDRESSES".to_owned(),
            ]];
            for h in hosts {
                let host = if h.implicit {
                    format!("{} (implicit MX)", h.host.to_ascii())
                } else {
                    h.host.to_ascii()
                };
                rows.push(vec![
                    h.preference.to_string(),
                    host,
                    yes(h.authenticated, "yes"),
                    addresses(result, &h.host).join(" "),
                ]);
            }
            out.push_str(&table(&rows));
        }
        MailRoute::NullMx => out.push_str("Ordinary MX hosts: null MX, the domain takes no mail\n"),
        MailRoute::NxDomain => out.push_str("Ordinary MX hosts: the domain does not exist\n"),
        MailRoute::NoRoute => out.push_str("Ordinary MX hosts: no MX and no address\n"),
        MailRoute::Indeterminate(why) => {
            let _ = writeln!(
                out,
                "Ordinary MX hosts: unknown, the look-up failed ({})",
                indeterminate_name(*why)
            );
        }
        _ => out.push_str("Ordinary MX hosts: unknown\n"),
    }
    if !result.tlsa.is_empty() {
        out.push_str("\nDANE TLSA records (authenticated):\n");
        let mut rows = Vec::new();
        for set in &result.tlsa {
            for r in &set.records {
                rows.push(vec![
                    format!("_{}._tcp.{}", set.port, set.host.to_ascii()),
                    format!(
                        "{} {} {}",
                        u8::from(r.usage),
                        u8::from(r.selector),
                        u8::from(r.matching)
                    ),
                    hex(&r.data),
                    if r.usable() { "" } else { "(unusable)" }.to_owned(),
                ]);
            }
            if set.records.is_empty() {
                rows.push(vec![
                    format!("_{}._tcp.{}", set.port, set.host.to_ascii()),
                    "none".to_owned(),
                ]);
            }
        }
        out.push_str(&table(&rows));
    }
    out.push('\n');
    let auth = |found: bool| if found { " (DNSSEC)" } else { "" };
    match &result.mta_sts.record {
        Some(r) => {
            let _ = writeln!(
                out,
                "MTA-STS:  id={}{}",
                r.id,
                auth(result.mta_sts.authenticated)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "MTA-STS:  none ({})",
                outcome_name(&result.mta_sts.outcome)
            );
        }
    }
    match &result.tls_rpt.record {
        Some(r) => {
            let rua: Vec<String> = r.rua.iter().map(rua_text).collect();
            let _ = writeln!(
                out,
                "TLS-RPT:  {}{}",
                rua.join(", "),
                auth(result.tls_rpt.authenticated)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "TLS-RPT:  none ({})",
                outcome_name(&result.tls_rpt.outcome)
            );
        }
    }
    let failed: Vec<_> = result
        .lookups
        .iter()
        .filter(|l| l.outcome.is_indeterminate())
        .collect();
    if !failed.is_empty() {
        out.push_str("\nLook-ups that failed (temporary; the result may be incomplete):\n");
        let rows: Vec<Vec<String>> = failed
            .iter()
            .map(|l| {
                vec![
                    l.name.to_ascii(),
                    l.record_type.to_string(),
                    outcome_name(&l.outcome),
                ]
            })
            .collect();
        out.push_str(&table(&rows));
    }
    if result.is_indeterminate() {
        out.push_str("\nIndeterminate: the absence of a SOR proves nothing; try again later.\n");
    }
    out
}
