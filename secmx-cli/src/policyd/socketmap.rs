//! Requests and replies of Postfix's socketmap protocol
//! (socketmap_table(5), the protocol of Sendmail's socketmap and of
//! postfix-mta-sts-resolver). Each is one [netstring](super::netstring).
//!
//! ```text
//! request = name SP key                 e.g. "postfix example.com"
//! reply   = "OK" SP value               the key was found
//!         / "NOTFOUND" SP               it was not
//!         / "TEMP" SP reason            temporary failure: Postfix defers
//!         / "TIMEOUT" SP reason         time-out: Postfix defers
//!         / "PERM" SP reason            permanent failure: Postfix treats
//!                                       it as a configuration error
//! ```
//!
//! `name` is the last field of the Postfix map name
//! (`socketmap:inet:127.0.0.1:8461:postfix` asks with `postfix`).

use std::fmt;

/// One look-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The socketmap name.
    pub name: &'a str,
    /// The key.
    pub key: &'a str,
}

impl<'a> Request<'a> {
    /// Splits a request payload at its first space. `None` when it is not
    /// UTF-8, has no space, or the name is empty.
    pub fn parse(payload: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(payload).ok()?;
        let (name, key) = text.split_once(' ')?;
        (!name.is_empty()).then_some(Self { name, key })
    }
}

/// A reply to one look-up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `OK value`.
    Ok(String),
    /// `NOTFOUND `: Postfix goes on as if the table had no entry.
    NotFound,
    /// `TEMP reason`.
    Temp(String),
    /// `TIMEOUT reason`.
    Timeout(String),
    /// `PERM reason`.
    Perm(String),
}

impl Reply {
    /// The payload on the wire. Line breaks and other control characters
    /// in a value or reason are replaced by spaces, and the payload is cut
    /// to [`MAX_REPLY`](super::netstring::MAX_REPLY) octets (at a character
    /// boundary).
    pub fn payload(&self) -> String {
        let (word, text) = match self {
            Self::Ok(value) => ("OK", value.as_str()),
            Self::NotFound => ("NOTFOUND", ""),
            Self::Temp(reason) => ("TEMP", reason.as_str()),
            Self::Timeout(reason) => ("TIMEOUT", reason.as_str()),
            Self::Perm(reason) => ("PERM", reason.as_str()),
        };
        let mut out = String::with_capacity(word.len() + 1 + text.len());
        out.push_str(word);
        out.push(' ');
        for c in text.chars() {
            if out.len() + c.len_utf8() > super::netstring::MAX_REPLY {
                break;
            }
            out.push(if c.is_control() { ' ' } else { c });
        }
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.payload())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// socketmap_table(5): request and reply forms.
    #[test]
    fn socketmap_table_5_requests() {
        type Case = (&'static [u8], Option<(&'static str, &'static str)>);
        let cases: &[Case] = &[
            (b"postfix example.com", Some(("postfix", "example.com"))),
            (b"transport a@b.example", Some(("transport", "a@b.example"))),
            (b"postfix ", Some(("postfix", ""))),
            (b"postfix a b", Some(("postfix", "a b"))),
            (b"postfix", None),
            (b" example.com", None),
            (b"postfix \xff", None),
        ];
        for (payload, want) in cases {
            let got = Request::parse(payload).map(|r| (r.name, r.key));
            assert_eq!(got, *want, "{payload:?}");
        }
    }

    #[test]
    fn socketmap_table_5_replies() {
        let cases = [
            (Reply::Ok("encrypt".into()), "OK encrypt"),
            (Reply::NotFound, "NOTFOUND "),
            (Reply::Temp("DNS failed".into()), "TEMP DNS failed"),
            (Reply::Timeout("slow".into()), "TIMEOUT slow"),
            (Reply::Perm("bad\r\nrequest".into()), "PERM bad  request"),
        ];
        for (reply, want) in cases {
            assert_eq!(reply.payload(), want);
        }
        let long = Reply::Ok("é".repeat(60_000)).payload();
        assert!(long.len() <= super::super::netstring::MAX_REPLY);
        assert!(long.starts_with("OK é"));
    }
}
