//! MTA-STS policy text as an HTTPS server might send it: parsing must never
//! panic, and a policy that parses must keep its mx patterns usable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmx_policy::mta_sts::{MtaStsPolicy, MxPattern};

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = MtaStsPolicy::parse_bytes(data) {
        assert!(!policy.mx.is_empty() || policy.mode.as_str() == "none");
        let _ = policy.mx_matches("mail.example.com");
        let _ = policy.is_enforced();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(pattern) = MxPattern::parse(text) {
            let _ = pattern.matches(text);
        }
    }
});
