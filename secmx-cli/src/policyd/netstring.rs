//! Netstrings, the framing of Postfix's socketmap protocol
//! (socketmap_table(5), after D. J. Bernstein's netstring definition).
//!
//! ```text
//! netstring = length ":" payload ","
//! length    = "0" / %x31-39 *DIGIT     ; decimal octet count of payload,
//!                                      ; no leading zeros
//! payload   = *OCTET                   ; exactly `length` octets
//!
//! "12:hello world!,"   "0:,"
//! ```
//!
//! [`parse`] reads one netstring from the front of a buffer: incomplete
//! input is [`Status::Partial`] (read more and call again), never an
//! error. The length is checked against the caller's limit as soon as its
//! digits say it is too long, so a peer cannot make the reader wait for
//! (or buffer) more than the limit.

use secmx_core::proto::Status;

/// Largest request payload policyd reads, in octets. Postfix's own
/// socketmap requests are `name key` with a domain or address key, far
/// shorter; 10000 is what Postfix's socketmap servers accept.
pub const MAX_REQUEST: usize = 10_000;

/// Largest reply payload Postfix reads (dict_sockmap's default reply
/// limit, socketmap_table(5)).
pub const MAX_REPLY: usize = 100_000;

/// Why a buffer does not start with a netstring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetstringError {
    /// The length is empty, has a leading zero, or holds something other
    /// than decimal digits before the `:`.
    #[error("netstring length is not a decimal number without leading zeros")]
    BadLength,
    /// The length is over the limit.
    #[error("netstring payload longer than {max} octets")]
    TooLong {
        /// The limit that was passed.
        max: usize,
    },
    /// The octet after the payload is not `,`.
    #[error("netstring payload is not followed by ','")]
    BadTerminator,
}

/// Reads one netstring from the front of `input`: the payload and the
/// octets consumed (the whole netstring), or [`Status::Partial`] when
/// `input` ends before it does.
///
/// # Errors
///
/// The framing is wrong or the payload would be longer than `max`; the
/// stream cannot be resynchronised after that.
pub fn parse(input: &[u8], max: usize) -> Result<Status<(&[u8], usize)>, NetstringError> {
    let mut len: usize = 0;
    let mut digits = 0usize;
    let mut colon = None;
    for (i, &b) in input.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                // "0" is the only length that starts with a zero.
                if digits == 1 && len == 0 {
                    return Err(NetstringError::BadLength);
                }
                len = len
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(b - b'0')))
                    .filter(|&l| l <= max)
                    .ok_or(NetstringError::TooLong { max })?;
                digits += 1;
            }
            b':' if digits > 0 => {
                colon = Some(i);
                break;
            }
            _ => return Err(NetstringError::BadLength),
        }
    }
    let Some(colon) = colon else {
        return Ok(Status::Partial);
    };
    let start = colon + 1;
    // len <= max, so these sums cannot overflow for any real buffer; use
    // checked arithmetic anyway, as the input decides them.
    let end = start
        .checked_add(len)
        .ok_or(NetstringError::TooLong { max })?;
    let Some(&terminator) = input.get(end) else {
        return Ok(Status::Partial);
    };
    if terminator != b',' {
        return Err(NetstringError::BadTerminator);
    }
    let payload = input.get(start..end).ok_or(NetstringError::BadLength)?;
    Ok(Status::Complete((payload, end + 1)))
}

/// Appends `payload` to `out` as a netstring.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(payload);
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Want = Result<Status<(&'static [u8], usize)>, NetstringError>;

    /// socketmap_table(5) framing: whole, partial and broken netstrings.
    #[test]
    fn socketmap_table_5_netstring_table() {
        let cases: &[(&[u8], usize, Want)] = &[
            (
                b"12:hello world!,",
                20,
                Ok(Status::Complete((b"hello world!", 16))),
            ),
            (b"0:,", 20, Ok(Status::Complete((b"", 3)))),
            (
                b"16:postfix sor.test,3:abc,",
                30,
                Ok(Status::Complete((b"postfix sor.test", 20))),
            ),
            // Partial: every proper prefix of a netstring.
            (b"", 20, Ok(Status::Partial)),
            (b"1", 20, Ok(Status::Partial)),
            (b"12", 20, Ok(Status::Partial)),
            (b"12:", 20, Ok(Status::Partial)),
            (b"12:hello", 20, Ok(Status::Partial)),
            (b"12:hello world!", 20, Ok(Status::Partial)),
            // Bad length.
            (b":abc,", 20, Err(NetstringError::BadLength)),
            (b"a:abc,", 20, Err(NetstringError::BadLength)),
            (b"3x:abc,", 20, Err(NetstringError::BadLength)),
            (b"-3:abc,", 20, Err(NetstringError::BadLength)),
            (b" 3:abc,", 20, Err(NetstringError::BadLength)),
            (b"03:abc,", 20, Err(NetstringError::BadLength)),
            (b"00:,", 20, Err(NetstringError::BadLength)),
            // Bad terminator.
            (b"3:abcd", 20, Err(NetstringError::BadTerminator)),
            (b"3:abc;", 20, Err(NetstringError::BadTerminator)),
            (b"0:x", 20, Err(NetstringError::BadTerminator)),
            // Oversize: refused from the digits alone.
            (b"11:", 10, Err(NetstringError::TooLong { max: 10 })),
            (b"100", 10, Err(NetstringError::TooLong { max: 10 })),
            (
                b"99999999999999999999999999",
                10,
                Err(NetstringError::TooLong { max: 10 }),
            ),
        ];
        for (input, max, want) in cases {
            assert_eq!(
                &parse(input, *max),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // The limit itself is allowed.
        assert_eq!(
            parse(b"10:0123456789,", 10),
            Ok(Status::Complete((&b"0123456789"[..], 14)))
        );
        assert_eq!(
            parse(&[b'9'; 6], MAX_REQUEST),
            Err(NetstringError::TooLong { max: MAX_REQUEST })
        );
    }

    #[test]
    fn encode_writes_length_colon_payload_comma() {
        let mut out = Vec::new();
        encode(b"OK encrypt", &mut out);
        encode(b"", &mut out);
        assert_eq!(out, b"10:OK encrypt,0:,");
    }

    proptest! {
        /// Round trip, whole and with every cut.
        #[test]
        fn round_trip_and_every_prefix_is_partial(
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            tail in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let mut wire = Vec::new();
            encode(&payload, &mut wire);
            let whole = wire.len();
            for cut in 0..whole {
                prop_assert_eq!(parse(&wire[..cut], 1000), Ok(Status::Partial));
            }
            wire.extend_from_slice(&tail);
            prop_assert_eq!(
                parse(&wire, 1000),
                Ok(Status::Complete((payload.as_slice(), whole)))
            );
        }

        /// Arbitrary input never panics, and a complete result is consistent.
        #[test]
        fn arbitrary_input(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Status::Complete((payload, used))) = parse(&input, 50) {
                prop_assert!(used <= input.len());
                prop_assert!(payload.len() <= 50);
                prop_assert_eq!(input[used - 1], b',');
            }
        }
    }
}
