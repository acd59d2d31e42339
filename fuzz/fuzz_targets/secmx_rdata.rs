//! The SECMX record: wire RDATA, presentation form and the RFC 3597 generic
//! form. Whatever decodes must encode back to a value that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmx_dns::SecmxRdata;

fuzz_target!(|data: &[u8]| {
    if let Ok(rdata) = SecmxRdata::decode(data) {
        let again = SecmxRdata::decode(&rdata.to_bytes()).expect("encoded SECMX decodes");
        assert_eq!(again, rdata);
        let text = rdata.to_string();
        assert_eq!(text.parse::<SecmxRdata>().ok().as_ref(), Some(&rdata), "{text}");
        let generic = rdata.to_generic();
        assert_eq!(SecmxRdata::parse_generic(&generic).ok().as_ref(), Some(&rdata));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rdata) = text.parse::<SecmxRdata>() {
            let again = rdata.to_string().parse::<SecmxRdata>();
            assert_eq!(again.ok().as_ref(), Some(&rdata));
        }
        let _ = SecmxRdata::parse_generic(text);
        let _ = SecmxRdata::parse_record(text, 65482);
    }
});
