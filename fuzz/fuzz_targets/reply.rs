//! Replies from a hostile server: the whole-buffer parser, the incremental
//! parser fed in the chunks the input's first byte chooses, and the EHLO
//! capability reader. The two parsers must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secmx_core::Status;
use secmx_core::proto::ehlo::Capabilities;
use secmx_core::proto::reply::{Reply, ReplyParser};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 17) + 1;

    // Whole-buffer parsing, reply after reply.
    let mut whole = Vec::new();
    let mut rest = data;
    let whole_error = loop {
        match Reply::parse(rest) {
            Ok(Status::Complete((reply, used))) => {
                assert!(used > 0 && used <= rest.len());
                if reply.code().get() == 250 {
                    let _ = Capabilities::from_reply(&reply);
                }
                let mut encoded = Vec::new();
                reply.encode(&mut encoded);
                whole.push(reply.into_owned());
                rest = &rest[used..];
            }
            Ok(Status::Partial) => break false,
            Err(_) => break true,
        }
    };

    // The same bytes in pieces.
    let mut parser = ReplyParser::new();
    let mut pieces = Vec::new();
    let mut error = false;
    'outer: for mut piece in data.chunks(chunk) {
        while !piece.is_empty() {
            match parser.feed(piece) {
                Ok(Status::Complete((reply, used))) => {
                    assert!(used > 0 && used <= piece.len());
                    pieces.push(reply);
                    piece = &piece[used..];
                }
                Ok(Status::Partial) => break,
                Err(_) => {
                    error = true;
                    break 'outer;
                }
            }
        }
    }
    assert_eq!(whole, pieces);
    assert_eq!(whole_error, error);
});
