//! Command lines from a hostile client: framing with the session's line
//! reader, then the command parser with and without SMTPUTF8 in force. Every
//! command that parses must encode to a line that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmx_core::proto::command::{Command, ParseContext};
use secmx_core::proto::line::LineReader;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let ctx = ParseContext::new().with_smtputf8(flags & 1 == 1);
    let chunk = usize::from(flags >> 1) + 1;

    let mut reader = LineReader::for_commands();
    for mut piece in data.chunks(chunk) {
        loop {
            match reader.next(&mut piece) {
                Ok(Some(line)) => check(line.as_bytes(), ctx),
                Ok(None) => break,
                Err(error) => {
                    let _ = error.reply();
                }
            }
        }
    }
    // The parser also sees raw input that framing would have refused.
    check(data, ctx);
});

fn check(line: &[u8], ctx: ParseContext) {
    match Command::parse(line, ctx) {
        Ok(command) => {
            let mut encoded = Vec::new();
            command.encode(&mut encoded);
            assert!(encoded.ends_with(b"\r\n"));
            let again = Command::parse(&encoded[..encoded.len() - 2], ctx);
            assert_eq!(again.as_ref().ok(), Some(&command), "{encoded:?}");
            let _ = command.into_owned();
        }
        Err(error) => {
            let _ = error.reply();
        }
    }
}
