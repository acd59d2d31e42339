//! The sending rules and the receiving policy from TOML: a bad config is an
//! error that names its place, never a panic; a good one classifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmx_policy::receiver::ReceiverPolicy;
use secmx_policy::rules::{MessageFacts, RuleSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rules) = RuleSet::from_toml(text) {
        let facts = MessageFacts {
            requiretls: false,
            sender_domain: Some("agency.example.govt.nz"),
            recipient_domain: "example.net",
            headers: b"Subject: [SEC=RESTRICTED] figures\r\nX-Security-Classification: RESTRICTED\r\n\r\n",
        };
        let _ = rules.classify(&facts);
    } else if let Err(error) = RuleSet::from_toml(text) {
        let _ = error.to_string();
    }
    if let Ok(policy) = ReceiverPolicy::from_toml(text) {
        let _ = policy.must_refuse_before_tls("127.0.0.1".parse().expect("valid"), Some("x.example"));
    }
});
