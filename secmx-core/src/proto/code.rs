//! Reply codes (RFC 5321 §4.2) and enhanced status codes (RFC 3463, with the
//! RFC 5248 registry).
//!
//! ```text
//! reply-code    = %x32-35 %x30-35 %x30-39      ; "2yz" .. "5yz"
//! status-code   = class "." subject "." detail   ; RFC 3463 §2
//! class         = "2" / "4" / "5"
//! subject       = 1*3digit
//! detail        = 1*3digit
//! ```

use core::fmt;

/// A three-digit SMTP reply code (RFC 5321 §4.2).
///
/// Only codes from 200 to 559 exist: the first digit is 2 to 5 and the second
/// 0 to 5 (RFC 5321 §4.2.1). [`ReplyCode::new`] enforces that range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220` service ready.
    pub const SERVICE_READY: Self = Self(220);
    /// `221` service closing transmission channel.
    pub const CLOSING: Self = Self(221);
    /// `250` requested mail action okay, completed.
    pub const OK: Self = Self(250);
    /// `354` start mail input.
    pub const START_MAIL_INPUT: Self = Self(354);
    /// `421` service not available, closing transmission channel.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// `451` requested action aborted: local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// `452` insufficient system storage.
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// `454` TLS not available due to temporary reason (RFC 3207 §4).
    pub const TLS_NOT_AVAILABLE: Self = Self(454);
    /// `500` syntax error, command unrecognized.
    pub const SYNTAX_ERROR: Self = Self(500);
    /// `501` syntax error in parameters or arguments.
    pub const PARAMETER_SYNTAX_ERROR: Self = Self(501);
    /// `502` command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// `503` bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// `504` command parameter not implemented.
    pub const PARAMETER_NOT_IMPLEMENTED: Self = Self(504);
    /// `530` must issue a STARTTLS command first (RFC 3207 §4).
    pub const MUST_STARTTLS: Self = Self(530);
    /// `550` requested action not taken: mailbox unavailable.
    pub const MAILBOX_UNAVAILABLE: Self = Self(550);
    /// `552` requested mail action aborted: exceeded storage allocation.
    pub const EXCEEDED_STORAGE: Self = Self(552);
    /// `554` transaction failed.
    pub const TRANSACTION_FAILED: Self = Self(554);
    /// `555` MAIL FROM/RCPT TO parameters not recognized or not implemented.
    pub const PARAMETERS_NOT_RECOGNIZED: Self = Self(555);

    /// A reply code, if `code` is one RFC 5321 §4.2.1 allows (200 to 559 with
    /// a second digit of 0 to 5).
    pub const fn new(code: u16) -> Option<Self> {
        let first = code / 100;
        let second = (code / 10) % 10;
        if first >= 2 && first <= 5 && second <= 5 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The kind of reply, from the first digit.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// True for `2yz`.
    pub const fn is_positive_completion(self) -> bool {
        self.0 / 100 == 2
    }

    /// True for `4yz`.
    pub const fn is_transient(self) -> bool {
        self.0 / 100 == 4
    }

    /// True for `5yz`.
    pub const fn is_permanent(self) -> bool {
        self.0 / 100 == 5
    }

    /// The three ASCII digits.
    pub const fn to_digits(self) -> [u8; 3] {
        [
            b'0' + (self.0 / 100) as u8,
            b'0' + ((self.0 / 10) % 10) as u8,
            b'0' + (self.0 % 10) as u8,
        ]
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The first digit of a reply code (RFC 5321 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// `2yz`: the action completed.
    PositiveCompletion,
    /// `3yz`: send more (the `354` to DATA).
    PositiveIntermediate,
    /// `4yz`: temporary failure; try again later.
    TransientNegative,
    /// `5yz`: permanent failure.
    PermanentNegative,
}

/// An enhanced mail system status code, `class.subject.detail`
/// (RFC 3463 §2; registry in RFC 5248).
///
/// Class is 2, 4 or 5; subject and detail are at most three digits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedCode {
    /// `2.0.0` success.
    pub const OK: Self = Self::new_unchecked(2, 0, 0);
    /// `4.7.0` other or undefined security status (temporary).
    pub const SECURITY_TEMPORARY: Self = Self::new_unchecked(4, 7, 0);
    /// `5.5.2` syntax error (RFC 3463 §3.6).
    pub const SYNTAX_ERROR: Self = Self::new_unchecked(5, 5, 2);
    /// `5.5.4` invalid command arguments (RFC 3463 §3.6).
    pub const INVALID_ARGUMENTS: Self = Self::new_unchecked(5, 5, 4);
    /// `5.5.1` invalid command (RFC 3463 §3.6).
    pub const INVALID_COMMAND: Self = Self::new_unchecked(5, 5, 1);
    /// `5.3.4` message too big for system (RFC 3463 §3.4).
    pub const MESSAGE_TOO_BIG: Self = Self::new_unchecked(5, 3, 4);
    /// `4.5.3` too many recipients (RFC 3463 §3.6).
    pub const TOO_MANY_RECIPIENTS: Self = Self::new_unchecked(4, 5, 3);
    /// `5.7.0` other or undefined security status.
    pub const SECURITY: Self = Self::new_unchecked(5, 7, 0);
    /// `5.7.4` security features not supported (RFC 3463 §3.8).
    pub const SECURITY_NOT_SUPPORTED: Self = Self::new_unchecked(5, 7, 4);
    /// `5.7.30` REQUIRETLS support required (RFC 8689 §5).
    pub const REQUIRETLS_NEEDED: Self = Self::new_unchecked(5, 7, 30);
    /// `5.1.10` recipient address has null MX (RFC 7505 §4.2).
    pub const NULL_MX: Self = Self::new_unchecked(5, 1, 10);
    /// `5.6.7` non-ASCII addresses not permitted (RFC 6531 §3.6).
    pub const NON_ASCII_NOT_PERMITTED: Self = Self::new_unchecked(5, 6, 7);

    /// An enhanced code, if `class` is 2, 4 or 5 and subject and detail fit in
    /// three digits (RFC 3463 §2).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        if (class == 2 || class == 4 || class == 5) && subject <= 999 && detail <= 999 {
            Some(Self::new_unchecked(class, subject, detail))
        } else {
            None
        }
    }

    const fn new_unchecked(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }

    /// The class digit: 2, 4 or 5.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject number.
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail number.
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// The code as a reply writes it, `class.subject.detail`: the first
    /// `len` octets of the array. Unlike `to_string`, nothing is allocated.
    pub(crate) fn to_text(self) -> ([u8; 9], usize) {
        let mut text = [0; 9];
        let mut len = 0;
        let mut put = |octet: u8| {
            if let Some(slot) = text.get_mut(len) {
                *slot = octet;
                len += 1;
            }
        };
        put(b'0' + self.class % 10);
        for number in [self.subject, self.detail] {
            put(b'.');
            // At most three digits (`new` checks), no leading zeros.
            for (divisor, shown) in [(100, number >= 100), (10, number >= 10), (1, true)] {
                if shown {
                    put(b'0' + (number / divisor % 10) as u8);
                }
            }
        }
        (text, len)
    }

    /// Parses `class.subject.detail` at the start of `text`, as it stands
    /// after a reply code (RFC 2034 §4). Returns the code and the number of
    /// bytes it took, not counting the space after it.
    pub fn parse_prefix(text: &[u8]) -> Option<(Self, usize)> {
        fn number(text: &[u8], at: usize) -> Option<(u16, usize)> {
            let digits = text[at..]
                .iter()
                .take(4)
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits == 0 || digits > 3 {
                return None;
            }
            let mut value = 0u16;
            for &b in &text[at..at + digits] {
                value = value * 10 + u16::from(b - b'0');
            }
            Some((value, at + digits))
        }
        let class = *text.first()?;
        if !matches!(class, b'2' | b'4' | b'5') || text.get(1) != Some(&b'.') {
            return None;
        }
        let (subject, at) = number(text, 2)?;
        if text.get(at) != Some(&b'.') {
            return None;
        }
        let (detail, end) = number(text, at + 1)?;
        // The code must end the text or be followed by a space.
        match text.get(end) {
            None | Some(b' ') => Some((Self::new_unchecked(class - b'0', subject, detail), end)),
            Some(_) => None,
        }
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A fixed reply that a server sends for an error of grammar or of limits:
/// code, enhanced code and text. Errors from the parsers carry one, so that a
/// server never has to invent the RFC's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorReply {
    /// The reply code.
    pub code: ReplyCode,
    /// The enhanced status code (RFC 3463).
    pub enhanced: EnhancedCode,
    /// The human-readable text.
    pub text: &'static str,
}

impl ErrorReply {
    /// `500 5.5.2 Syntax error, command unrecognized`.
    pub const SYNTAX: Self = Self {
        code: ReplyCode::SYNTAX_ERROR,
        enhanced: EnhancedCode::SYNTAX_ERROR,
        text: "Syntax error, command unrecognized",
    };
    /// `500 5.5.2 Line too long` (RFC 5321 §4.5.3.1.4).
    pub const LINE_TOO_LONG: Self = Self {
        code: ReplyCode::SYNTAX_ERROR,
        enhanced: EnhancedCode::SYNTAX_ERROR,
        text: "Line too long",
    };
    /// `500 5.5.2 Bare CR or LF not allowed` (RFC 5321 §2.3.8).
    pub const BARE_LINE_END: Self = Self {
        code: ReplyCode::SYNTAX_ERROR,
        enhanced: EnhancedCode::SYNTAX_ERROR,
        text: "Bare CR or LF not allowed",
    };
    /// `501 5.5.4 Syntax error in parameters or arguments`.
    pub const ARGUMENTS: Self = Self {
        code: ReplyCode::PARAMETER_SYNTAX_ERROR,
        enhanced: EnhancedCode::INVALID_ARGUMENTS,
        text: "Syntax error in parameters or arguments",
    };
    /// `501 5.1.3 Bad address syntax` (RFC 3463 §3.2).
    pub const BAD_ADDRESS: Self = Self {
        code: ReplyCode::PARAMETER_SYNTAX_ERROR,
        enhanced: EnhancedCode::new_unchecked(5, 1, 3),
        text: "Bad address syntax",
    };
    /// `553 5.6.7 Non-ASCII address without SMTPUTF8` (RFC 6531 §3.6).
    pub const NON_ASCII: Self = Self {
        code: match ReplyCode::new(553) {
            Some(code) => code,
            None => ReplyCode::SYNTAX_ERROR,
        },
        enhanced: EnhancedCode::NON_ASCII_NOT_PERMITTED,
        text: "Non-ASCII address requires SMTPUTF8",
    };
    /// `555 5.5.4 Parameter not recognized` (RFC 5321 §4.1.1.11).
    pub const UNKNOWN_PARAMETER: Self = Self {
        code: ReplyCode::PARAMETERS_NOT_RECOGNIZED,
        enhanced: EnhancedCode::INVALID_ARGUMENTS,
        text: "Parameter not recognized",
    };
    /// `552 5.3.4 Message size exceeds fixed maximum` (RFC 1870 §6).
    pub const TOO_BIG: Self = Self {
        code: ReplyCode::EXCEEDED_STORAGE,
        enhanced: EnhancedCode::MESSAGE_TOO_BIG,
        text: "Message size exceeds fixed maximum message size",
    };
    /// `500 5.5.2 Line too long` for message text over 1000 octets
    /// (RFC 5321 §4.5.3.1.6).
    pub const TEXT_LINE_TOO_LONG: Self = Self {
        code: ReplyCode::SYNTAX_ERROR,
        enhanced: EnhancedCode::SYNTAX_ERROR,
        text: "Message text line too long",
    };
    /// `530 5.7.0 Must issue a STARTTLS command first` (RFC 3207 §4).
    pub const MUST_STARTTLS: Self = Self {
        code: ReplyCode::MUST_STARTTLS,
        enhanced: EnhancedCode::SECURITY,
        text: "Must issue a STARTTLS command first",
    };
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.enhanced, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_code_text_matches_display_rfc3463_2() {
        // Every subject and detail width, both ends of each (under miri a
        // sample: formatting is slow there).
        let stride = if cfg!(miri) { 37 } else { 1 };
        for class in [2, 4, 5] {
            for subject in (0..=999).step_by(stride).chain([999]) {
                for detail in [0, 1, 9, 10, 42, 99, 100, 555, 999] {
                    let code = EnhancedCode::new(class, subject, detail).expect("valid");
                    let (text, len) = code.to_text();
                    assert_eq!(&text[..len], code.to_string().as_bytes());
                }
            }
        }
    }

    #[test]
    fn reply_code_range_rfc5321_4_2_1() {
        assert!(ReplyCode::new(199).is_none());
        assert!(ReplyCode::new(260).is_none());
        assert!(ReplyCode::new(600).is_none());
        assert_eq!(ReplyCode::new(250), Some(ReplyCode::OK));
        assert_eq!(ReplyCode::new(559).map(ReplyCode::get), Some(559));
        assert_eq!(ReplyCode::OK.to_digits(), *b"250");
        assert!(ReplyCode::TLS_NOT_AVAILABLE.is_transient());
        assert!(ReplyCode::MUST_STARTTLS.is_permanent());
        assert_eq!(
            ReplyCode::START_MAIL_INPUT.class(),
            ReplyClass::PositiveIntermediate
        );
    }

    #[test]
    fn enhanced_code_prefix_rfc3463_2() {
        assert_eq!(
            EnhancedCode::parse_prefix(b"5.7.30 REQUIRETLS needed"),
            Some((EnhancedCode::REQUIRETLS_NEEDED, 6))
        );
        assert_eq!(
            EnhancedCode::parse_prefix(b"2.0.0"),
            Some((EnhancedCode::OK, 5))
        );
        assert_eq!(EnhancedCode::parse_prefix(b"3.0.0 x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"2.0000.0 x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"2.0.0x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"2..0 x"), None);
        assert_eq!(EnhancedCode::parse_prefix(b"Ok"), None);
        assert_eq!(EnhancedCode::REQUIRETLS_NEEDED.to_string(), "5.7.30");
        assert_eq!(
            ErrorReply::MUST_STARTTLS.to_string(),
            "530 5.7.0 Must issue a STARTTLS command first"
        );
    }
}
