//! The anchors must accept the same input SecMX is measured on, or the
//! comparison means nothing.

use secmx_benches::{SESSION_COMMANDS, command_stream};

#[test]
fn smtp_proto_parses_every_session_command() {
    for line in SESSION_COMMANDS {
        let mut iter = line.iter();
        let parsed = smtp_proto::Request::parse(&mut iter);
        assert!(
            parsed.is_ok(),
            "{:?}: {parsed:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(
            iter.len(),
            0,
            "{:?} left bytes",
            String::from_utf8_lossy(line)
        );
    }
    let (stream, count) = command_stream(4096);
    let mut iter = stream.iter();
    let mut parsed = 0;
    while iter.len() > 0 {
        smtp_proto::Request::parse(&mut iter).expect("anchor parses the stream");
        parsed += 1;
    }
    assert_eq!(parsed, count);
}
