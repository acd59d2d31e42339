//! Receiving rules: BER / SOR per listener, TLS required by client network
//! or sender domain (RFC 3207 §4 for the refusal).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use secmx_core::server::ServerMode;
use secmx_core::{EnhancedCode, ReplyCode, ReversePath};
use secmx_policy::receiver::{Cidr, REFUSAL, ReceiverMode, ReceiverPolicy, sender_domain};
use secmx_policy::rules::{DomainPattern, Location};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address is valid")
}

const CONFIG: &str = r#"
mode = "ber"

[require_tls]
networks = ["192.0.2.0/24", "2001:db8:42::/48", "198.51.100.7", "10.0.0.0/8"]
sender_domains = ["bank.example", "*.gov.example"]
"#;

/// RFC 3207 §4: the refusal is `530 5.7.0 Must issue a STARTTLS command
/// first`, as a SOR answers.
#[test]
fn rfc3207_4_refusal_reply() {
    assert_eq!(REFUSAL.code, ReplyCode::MUST_STARTTLS);
    assert_eq!(REFUSAL.enhanced, EnhancedCode::SECURITY);
    assert_eq!(
        REFUSAL.to_string(),
        "530 5.7.0 Must issue a STARTTLS command first"
    );
}

/// A SOR refuses every MAIL before TLS and none after it.
#[test]
fn sor_refuses_everything_before_tls() {
    let policy = ReceiverPolicy::from_toml("mode = \"sor\"\n").expect("valid");
    assert_eq!(policy.mode(), ReceiverMode::Sor);
    assert_eq!(policy.server_mode(), ServerMode::Sor);
    for client in ["203.0.113.1", "2001:db8::1", "::ffff:203.0.113.1"] {
        for sender in [None, Some("example.org")] {
            assert!(policy.must_refuse_before_tls(ip(client), sender));
            assert_eq!(
                policy.mail_from_reply(ip(client), sender, false),
                Some(REFUSAL)
            );
            assert_eq!(policy.mail_from_reply(ip(client), sender, true), None);
        }
        assert_eq!(policy.server_mode_for(ip(client)), ServerMode::Sor);
    }
}

/// A BER with rules: table of client, sender, TLS → refused or not.
#[test]
fn ber_rules_table() {
    let policy = ReceiverPolicy::from_toml(CONFIG).expect("valid");
    assert_eq!(policy.server_mode(), ServerMode::Ber);
    let cases = [
        // Networks (IPv4, IPv6, single address, IPv4-mapped IPv6).
        ("192.0.2.1", None, true),
        ("192.0.2.255", Some("example.org"), true),
        ("192.0.3.0", Some("example.org"), false),
        ("10.200.1.1", None, true),
        ("11.0.0.1", None, false),
        ("198.51.100.7", None, true),
        ("198.51.100.8", None, false),
        ("::ffff:192.0.2.9", None, true),
        ("2001:db8:42:ffff::25", None, true),
        ("2001:db8:43::25", None, false),
        ("::ffff:2001:db8", None, false),
        // Sender domains: exact and below, any case, trailing dot; the null
        // reverse-path has none.
        ("203.0.113.5", Some("bank.example"), true),
        ("203.0.113.5", Some("BANK.Example."), true),
        ("203.0.113.5", Some("mail.bank.example"), false),
        ("203.0.113.5", Some("tax.gov.example"), true),
        ("203.0.113.5", Some("a.b.gov.example"), true),
        ("203.0.113.5", Some("gov.example"), false),
        ("203.0.113.5", None, false),
    ];
    for (client, sender, refuse) in cases {
        assert_eq!(
            policy.must_refuse_before_tls(ip(client), sender),
            refuse,
            "{client} {sender:?}"
        );
        let expected = refuse.then_some(REFUSAL);
        assert_eq!(policy.mail_from_reply(ip(client), sender, false), expected);
        assert_eq!(
            policy.mail_from_reply(ip(client), sender, true),
            None,
            "under TLS"
        );
    }
    // Per-connection mode: SOR for a TLS-required network only.
    assert_eq!(policy.server_mode_for(ip("192.0.2.1")), ServerMode::Sor);
    assert_eq!(
        policy.server_mode_for(ip("2001:db8:42::1")),
        ServerMode::Sor
    );
    assert_eq!(policy.server_mode_for(ip("203.0.113.5")), ServerMode::Ber);
}

/// The builder gives what the configuration gives.
#[test]
fn builder_matches_config() {
    let built = ReceiverPolicy::new(ReceiverMode::Ber)
        .require_tls_from_network(Cidr::parse("192.0.2.0/24").expect("valid"))
        .require_tls_from_network(Cidr::parse("2001:db8:42::/48").expect("valid"))
        .require_tls_from_network(Cidr::parse("198.51.100.7").expect("valid"))
        .require_tls_from_network(Cidr::parse("10.0.0.0/8").expect("valid"))
        .require_tls_from_sender(DomainPattern::parse("bank.example").expect("valid"))
        .require_tls_from_sender(DomainPattern::parse("*.gov.example").expect("valid"));
    assert_eq!(built, ReceiverPolicy::from_toml(CONFIG).expect("valid"));
    assert_eq!(built.networks().len(), 4);
    assert_eq!(built.sender_domains().len(), 2);
    // No mode given: BER; no rules: nothing refused.
    let plain = ReceiverPolicy::from_toml("").expect("valid");
    assert_eq!(plain, ReceiverPolicy::default());
    assert!(!plain.must_refuse_before_tls(ip("192.0.2.1"), Some("bank.example")));
}

/// CIDR blocks (RFC 4632 §3.1, RFC 4291 §2.3): what parses, what is in.
#[test]
fn cidr_table() {
    let contains = [
        ("0.0.0.0/0", "255.255.255.255", true),
        ("0.0.0.0/0", "::1", false),
        ("::/0", "2001:db8::1", true),
        ("::/0", "192.0.2.1", false),
        ("192.0.2.0/24", "192.0.2.0", true),
        ("192.0.2.0/25", "192.0.2.128", false),
        ("192.0.2.128/25", "192.0.2.128", true),
        ("192.0.2.1", "192.0.2.1", true),
        ("192.0.2.1/32", "192.0.2.2", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "2001:db9::", false),
        ("2001:db8::1", "2001:db8::1", true),
        ("2001:db8::1/128", "2001:db8::2", false),
        ("::ffff:0:0/96", "::ffff:192.0.2.1", true),
        ("::/0", "::ffff:192.0.2.1", true),
        ("0.0.0.0/0", "::ffff:192.0.2.1", true),
        ("192.0.2.0/24", "::ffff:192.0.2.1", true),
    ];
    for (net, addr, expected) in contains {
        let cidr = Cidr::parse(net).expect(net);
        assert_eq!(cidr.contains(ip(addr)), expected, "{net} ∋ {addr}");
    }
    let shown = [
        ("192.0.2.0/24", "192.0.2.0/24"),
        ("198.51.100.7", "198.51.100.7/32"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("::1", "::1/128"),
    ];
    for (text, display) in shown {
        let cidr: Cidr = text.parse().expect(text);
        assert_eq!(cidr.to_string(), display);
        assert_eq!(Cidr::parse(display), Ok(cidr));
    }
    let bad = [
        ("", "not an IPv4 or IPv6 address"),
        ("192.0.2.0/", "the prefix length is not a number"),
        ("192.0.2.0/x", "the prefix length is not a number"),
        ("192.0.2.0/-1", "the prefix length is not a number"),
        ("192.0.2.0/0024", "the prefix length is not a number"),
        (
            "192.0.2.0/33",
            "the prefix length is longer than the address",
        ),
        (
            "2001:db8::/129",
            "the prefix length is longer than the address",
        ),
        ("192.0.2.0/999", "the prefix length is too long"),
        (
            "192.0.2.1/24",
            "bits are set past the prefix length (give the network address)",
        ),
        (
            "2001:db8::1/64",
            "bits are set past the prefix length (give the network address)",
        ),
        ("192.0.2.0/24/8", "the prefix length is not a number"),
        ("example.com/24", "not an IPv4 or IPv6 address"),
        (" 192.0.2.0/24", "not an IPv4 or IPv6 address"),
    ];
    for (text, reason) in bad {
        assert_eq!(Cidr::parse(text), Err(reason), "{text:?}");
    }
}

/// Bad configurations name the line and column.
#[test]
fn config_errors_name_the_line() {
    let cases = [
        ("mode = \"secure\"\n", 1, 8, "unknown variant `secure`"),
        ("mode = \"ber\"\nmodes = 1\n", 2, 1, "unknown field `modes`"),
        (
            "[require_tls]\nnetwork = []\n",
            2,
            1,
            "unknown field `network`",
        ),
        (
            "\n[require_tls]\nnetworks = [\"192.0.2.0/24\", \"192.0.2.1/24\"]\n",
            3,
            29,
            "bad network \"192.0.2.1/24\": bits are set",
        ),
        ("[require_tls]\nnetworks = []\n", 2, 12, "networks is empty"),
        (
            "[require_tls]\nsender_domains = [\"bank.example\", \"bad domain\"]\n",
            2,
            35,
            "bad domain \"bad domain\" in sender_domains",
        ),
        (
            "[require_tls]\nsender_domains = []\n",
            2,
            18,
            "sender_domains is empty",
        ),
        ("mode = sor\n", 1, 8, ""),
    ];
    for (text, line, column, message) in cases {
        let error = ReceiverPolicy::from_toml(text).expect_err(text);
        assert_eq!(
            error.location,
            Some(Location { line, column }),
            "{text:?}: {error}"
        );
        assert!(error.message.contains(message), "{text:?}: {error}");
    }
}

/// The reverse-path's domain, as the MailFrom event carries it (RFC 5321
/// §4.1.2): a name, or nothing for `<>` and address literals.
#[test]
fn sender_domain_of_reverse_path() {
    let cases: [(&[u8], Option<&str>); 4] = [
        (b"<alice@Bank.Example>", Some("Bank.Example")),
        (b"<>", None),
        (b"<alice@[192.0.2.1]>", None),
        (b"<alice@[IPv6:2001:db8::1]>", None),
    ];
    let policy = ReceiverPolicy::from_toml(CONFIG).expect("valid");
    for (text, expected) in cases {
        let path = ReversePath::parse(text, false).expect("valid path");
        assert_eq!(sender_domain(&path), expected);
    }
    let path = ReversePath::parse(b"<alice@Bank.Example>", false).expect("valid path");
    assert_eq!(
        policy.mail_from_reply(ip("203.0.113.1"), sender_domain(&path), false),
        Some(REFUSAL)
    );
}

proptest! {
    /// Cidr::parse never panics, and what it accepts displays back to
    /// itself.
    #[test]
    fn cidr_parse_round_trips(text in "[0-9a-fA-F:./]{0,45}") {
        if let Ok(cidr) = Cidr::parse(&text) {
            prop_assert_eq!(Cidr::parse(&cidr.to_string()), Ok(cidr));
        }
    }

    /// A network holds its own addresses and not an address that differs
    /// within the prefix (IPv4).
    #[test]
    fn cidr_v4_membership(addr in any::<u32>(), prefix in 0u8..=32, flip in 0u32..32) {
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
        let net = Ipv4Addr::from(addr & mask);
        let cidr = Cidr::parse(&format!("{net}/{prefix}")).expect("network address");
        prop_assert!(cidr.contains(IpAddr::V4(Ipv4Addr::from(addr))));
        prop_assert!(cidr.contains(IpAddr::V6(Ipv4Addr::from(addr).to_ipv6_mapped())));
        if flip < u32::from(prefix) {
            let other = addr ^ (1 << (31 - flip));
            prop_assert!(!cidr.contains(IpAddr::V4(Ipv4Addr::from(other))));
        }
    }

    /// The same for IPv6.
    #[test]
    fn cidr_v6_membership(addr in any::<u128>(), prefix in 0u8..=128, flip in 0u32..128) {
        let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
        let net = Ipv6Addr::from(addr & mask);
        let cidr = Cidr::parse(&format!("{net}/{prefix}")).expect("network address");
        prop_assert!(cidr.contains(IpAddr::V6(Ipv6Addr::from(addr))));
        if flip < u32::from(prefix) {
            let other = addr ^ (1 << (127 - flip));
            prop_assert!(!cidr.contains(IpAddr::V6(Ipv6Addr::from(other))));
        }
    }

    /// Loading never panics, whatever the text.
    #[test]
    fn from_toml_never_panics(text in "\\PC{0,200}") {
        let _ = ReceiverPolicy::from_toml(&text);
    }
}
