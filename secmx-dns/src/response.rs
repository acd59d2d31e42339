//! Reading DNS responses (RFC 1035 §4.1) as untrusted input: decode with
//! hickory-proto after cheap bounds checks, match id and question, classify
//! the answer, follow CNAMEs.
//!
//! ```text
//! header      id | QR=1 OPCODE=QUERY TC AD RCODE | QD=1 AN NS AR
//! question    must equal the query's (name case-insensitively, type, IN)
//! answer      [CNAME chain from qname, at most 8 links] RRset of qtype
//! ```
//!
//! Before hickory sees a message, its header counts are checked against its
//! length (a question takes at least 5 octets, a record at least 11), so a
//! 12-octet packet cannot claim 65535 records, and the total is bounded by
//! [`MAX_RECORDS`]. hickory refuses compression pointers that do not point
//! strictly backwards (RFC 1035 §4.1.4), so `C0 00`-style loops end in an
//! error.
//!
//! Outcomes are kept apart (RFC 2308 §2, RFC 6604): an answer; NODATA (the
//! name exists, the type does not); NXDOMAIN (the name, or the last name of
//! the CNAME chain, does not exist); and everything else (SERVFAIL, REFUSED,
//! other RCODEs, time-outs, CNAME loops) is *indeterminate*: it says nothing
//! about what the domain publishes.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use crate::error::ResponseError;
use crate::limits::{HEADER_LEN, MAX_CNAME_CHAIN, MAX_MESSAGE, MAX_RECORDS};
use crate::names::same;

/// What one look-up found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// At least one record of the asked type (RFC 1035 §4.3.2).
    Answer,
    /// The name exists but has no record of the type (RFC 2308 §2.2).
    NoData,
    /// The name does not exist (RFC 2308 §2.1); after a CNAME chain, the
    /// chain's last name (RFC 6604 §2.1).
    NxDomain,
    /// Nothing can be concluded: the look-up must be counted as temporarily
    /// failed, never as "absent".
    Indeterminate(Indeterminate),
}

impl Outcome {
    /// Whether this outcome says nothing about the records.
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Self::Indeterminate(_))
    }
}

/// Why a look-up is indeterminate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Indeterminate {
    /// SERVFAIL (RFC 1035 §4.1.1); a validating resolver also answers so
    /// for DNSSEC-bogus data (RFC 4035 §5.5).
    ServFail,
    /// REFUSED (RFC 1035 §4.1.1).
    Refused,
    /// Another RCODE (FORMERR, NOTIMP, an extended RCODE, …).
    Rcode(u16),
    /// No usable answer before the last attempt timed out.
    Timeout,
    /// The CNAME chain in the answer loops (RFC 1034 §3.6.2).
    CnameLoop,
    /// The CNAME chain in the answer is longer than
    /// [`MAX_CNAME_CHAIN`].
    CnameChainTooLong,
    /// The discovery's query bound was reached before this look-up was
    /// sent.
    QueryLimit,
}

/// Checks the header counts against the message length and
/// [`MAX_RECORDS`], so decoding cost and allocation follow the message's
/// length, then decodes with hickory-proto and checks QR and the opcode.
pub(crate) fn decode(bytes: &[u8]) -> Result<Message, ResponseError> {
    if bytes.len() < HEADER_LEN {
        return Err(ResponseError::TooShort);
    }
    if bytes.len() > MAX_MESSAGE {
        return Err(ResponseError::TooLong);
    }
    let count = |i: usize| match bytes.get(i..i + 2) {
        Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
        _ => 0, // unreachable: the header is at least 12 octets
    };
    let (questions, records) = (count(4), count(6) + count(8) + count(10));
    if questions != 1 {
        return Err(ResponseError::QuestionCount);
    }
    // A question is at least a root name and type and class (5 octets), a
    // record at least a root name, type, class, TTL and RDLENGTH (11).
    if records > MAX_RECORDS || HEADER_LEN + 5 + 11 * records > bytes.len() {
        return Err(ResponseError::BadCounts);
    }
    let message = Message::from_vec(bytes).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    if message.metadata.message_type != MessageType::Response
        || message.metadata.op_code != OpCode::Query
    {
        return Err(ResponseError::NotAResponse);
    }
    Ok(message)
}

/// Whether the response's only question is `name`/`record_type`/IN.
pub(crate) fn question_matches(message: &Message, name: &Name, record_type: RecordType) -> bool {
    match message.queries.as_slice() {
        [q] => {
            q.query_type() == record_type && q.query_class() == DNSClass::IN && same(q.name(), name)
        }
        _ => false,
    }
}

/// The outcome of a response. For [`Outcome::Answer`], `found` receives
/// the positions in `message.answers` of the records of `record_type` owned
/// by `name` or by the end of the CNAME chain that starts at `name`.
/// Records of another owner, type or class are ignored. Cost: at most
/// `MAX_CNAME_CHAIN + 1` passes over the answers.
pub(crate) fn classify(
    message: &Message,
    name: &Name,
    record_type: RecordType,
    found: &mut Vec<usize>,
) -> Outcome {
    found.clear();
    match message.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::ServFail => return Outcome::Indeterminate(Indeterminate::ServFail),
        ResponseCode::Refused => return Outcome::Indeterminate(Indeterminate::Refused),
        other => return Outcome::Indeterminate(Indeterminate::Rcode(u16::from(other))),
    }
    let mut chain: [Option<&Name>; MAX_CNAME_CHAIN + 1] = [None; MAX_CNAME_CHAIN + 1];
    let mut links = 0;
    let mut current = name;
    loop {
        let mut cname = None;
        for (i, record) in message.answers.iter().enumerate() {
            if record.dns_class != DNSClass::IN || !same(&record.name, current) {
                continue;
            }
            if record.record_type() == record_type {
                found.push(i);
            } else if let RData::CNAME(target) = &record.data {
                cname.get_or_insert(&target.0);
            }
        }
        if !found.is_empty() {
            return Outcome::Answer;
        }
        let Some(target) = cname else {
            break;
        };
        let seen = same(name, target) || chain.iter().flatten().any(|n| same(n, target));
        if seen {
            return Outcome::Indeterminate(Indeterminate::CnameLoop);
        }
        let Some(slot) = chain.get_mut(links) else {
            return Outcome::Indeterminate(Indeterminate::CnameChainTooLong);
        };
        if links == MAX_CNAME_CHAIN {
            return Outcome::Indeterminate(Indeterminate::CnameChainTooLong);
        }
        *slot = Some(target);
        links += 1;
        current = target;
    }
    if message.metadata.response_code == ResponseCode::NXDomain {
        Outcome::NxDomain
    } else {
        Outcome::NoData
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query as Question;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, CNAME, MX};
    use std::net::Ipv4Addr;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    fn response(
        rcode: ResponseCode,
        qname: &str,
        qtype: RecordType,
        answers: Vec<Record>,
    ) -> Message {
        let mut m = Message::response(7, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(Question::query(name(qname), qtype));
        m.add_answers(answers);
        m
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 60, RData::CNAME(CNAME(name(target))))
    }

    fn outcome(m: &Message, qname: &str, qtype: RecordType) -> (Outcome, usize) {
        let mut found = vec![99];
        let o = classify(m, &name(qname), qtype, &mut found);
        (o, found.len())
    }

    #[test]
    fn rfc2308_outcome_classes_are_kept_apart() {
        let cases = [
            (
                ResponseCode::NoError,
                vec![a("h.example.", 1)],
                Outcome::Answer,
                1,
            ),
            (ResponseCode::NoError, vec![], Outcome::NoData, 0),
            (ResponseCode::NXDomain, vec![], Outcome::NxDomain, 0),
            (
                ResponseCode::ServFail,
                vec![a("h.example.", 1)],
                Outcome::Indeterminate(Indeterminate::ServFail),
                0,
            ),
            (
                ResponseCode::Refused,
                vec![],
                Outcome::Indeterminate(Indeterminate::Refused),
                0,
            ),
            (
                ResponseCode::FormErr,
                vec![],
                Outcome::Indeterminate(Indeterminate::Rcode(1)),
                0,
            ),
            (
                ResponseCode::NotImp,
                vec![],
                Outcome::Indeterminate(Indeterminate::Rcode(4)),
                0,
            ),
        ];
        for (rcode, answers, want, n) in cases {
            let m = response(rcode, "h.example.", RecordType::A, answers);
            assert_eq!(
                outcome(&m, "h.example.", RecordType::A),
                (want, n),
                "{rcode:?}"
            );
        }
    }

    #[test]
    fn rfc1035_wrong_owner_type_or_class_is_ignored() {
        let mut other_class = a("h.example.", 3);
        other_class.dns_class = DNSClass::CH;
        let answers = vec![
            a("other.example.", 1),
            Record::from_rdata(name("h.example."), 60, RData::MX(MX::new(10, name("x.")))),
            other_class,
        ];
        let m = response(ResponseCode::NoError, "h.example.", RecordType::A, answers);
        assert_eq!(
            outcome(&m, "h.example.", RecordType::A),
            (Outcome::NoData, 0)
        );
        let m = response(
            ResponseCode::NoError,
            "h.example.",
            RecordType::A,
            vec![a("H.Example.", 1), a("h.example.", 2)],
        );
        assert_eq!(
            outcome(&m, "h.example.", RecordType::A),
            (Outcome::Answer, 2)
        );
    }

    #[test]
    fn rfc1034_3_6_2_cname_chains_loops_and_bound() {
        // chain of 3 to data
        let m = response(
            ResponseCode::NoError,
            "a.example.",
            RecordType::A,
            vec![
                cname("a.example.", "b.example."),
                cname("b.example.", "c.example."),
                cname("c.example.", "d.example."),
                a("d.example.", 4),
            ],
        );
        assert_eq!(
            outcome(&m, "a.example.", RecordType::A),
            (Outcome::Answer, 1)
        );
        // RFC 6604: NXDOMAIN is about the end of the chain
        let m = response(
            ResponseCode::NXDomain,
            "a.example.",
            RecordType::A,
            vec![cname("a.example.", "gone.example.")],
        );
        assert_eq!(
            outcome(&m, "a.example.", RecordType::A),
            (Outcome::NxDomain, 0)
        );
        let m = response(
            ResponseCode::NoError,
            "a.example.",
            RecordType::A,
            vec![cname("a.example.", "b.example.")],
        );
        assert_eq!(
            outcome(&m, "a.example.", RecordType::A),
            (Outcome::NoData, 0)
        );
        // loops
        for answers in [
            vec![cname("a.example.", "a.example.")],
            vec![
                cname("a.example.", "b.example."),
                cname("b.example.", "A.example."),
            ],
        ] {
            let m = response(ResponseCode::NoError, "a.example.", RecordType::A, answers);
            assert_eq!(
                outcome(&m, "a.example.", RecordType::A),
                (Outcome::Indeterminate(Indeterminate::CnameLoop), 0)
            );
        }
        // exactly 8 links is followed; 9 is too long
        for (links, want) in [
            (8, Outcome::Answer),
            (9, Outcome::Indeterminate(Indeterminate::CnameChainTooLong)),
        ] {
            let mut answers: Vec<Record> = (0..links)
                .map(|i| cname(&format!("n{i}.example."), &format!("n{}.example.", i + 1)))
                .collect();
            answers.push(a(&format!("n{links}.example."), 9));
            let m = response(ResponseCode::NoError, "n0.example.", RecordType::A, answers);
            assert_eq!(
                outcome(&m, "n0.example.", RecordType::A).0,
                want,
                "{links} links"
            );
        }
    }

    #[test]
    fn rfc1035_4_1_1_header_checks_come_before_decoding() {
        let m = response(
            ResponseCode::NoError,
            "h.example.",
            RecordType::A,
            vec![a("h.example.", 1)],
        );
        let good = m.to_vec().expect("encodes");
        assert!(decode(&good).is_ok());
        assert_eq!(decode(&good[..11]).err(), Some(ResponseError::TooShort));
        let mut many = good.clone();
        many[6] = 0xFF; // ANCOUNT 65280+
        assert_eq!(decode(&many).err(), Some(ResponseError::BadCounts));
        let mut noq = good.clone();
        noq[5] = 0;
        assert_eq!(decode(&noq).err(), Some(ResponseError::QuestionCount));
        let mut query = good.clone();
        query[2] &= 0x7F; // QR = 0
        assert_eq!(decode(&query).err(), Some(ResponseError::NotAResponse));
        assert_eq!(
            decode(&vec![0; MAX_MESSAGE + 1]).err(),
            Some(ResponseError::TooLong)
        );
    }

    /// The classic loop patterns, with pointer offsets relative to where
    /// the name starts: `C0 00` points at itself, `C0 01` into itself,
    /// `01 41 C0 00` is a label then a pointer back to it, `C0 02 C0 00` two
    /// pointers pointing at each other.
    const LOOPS: [&[u8]; 4] = [
        b"\xC0\x00",
        b"\xC0\x01",
        b"\x01\x41\xC0\x00",
        b"\xC0\x02\xC0\x00",
    ];

    fn relocate(pattern: &[u8], at: usize) -> Vec<u8> {
        let mut out = pattern.to_vec();
        let mut i = 0;
        while i + 1 < out.len() {
            if out[i] & 0xC0 == 0xC0 {
                let target = (usize::from(out[i] & 0x3F) << 8 | usize::from(out[i + 1])) + at;
                out[i] = 0xC0 | (target >> 8) as u8;
                out[i + 1] = target as u8;
                i += 2;
            } else {
                i += 1 + usize::from(out[i]);
            }
        }
        out
    }

    #[test]
    fn rfc1035_4_1_4_compression_loops_are_errors() {
        // header: id 7, response, QD=1, AN=1
        let header = [0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        let question = b"\x01h\x07example\x00\x00\x01\x00\x01";
        let answer_tail = [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
        for pattern in LOOPS {
            // as the question name, pointing into itself
            let mut m = header.to_vec();
            m.extend_from_slice(&relocate(pattern, m.len()));
            m.extend_from_slice(&[0, 1, 0, 1]);
            m.extend_from_slice(&[0; 14]);
            assert!(
                matches!(decode(&m), Err(ResponseError::Malformed(_))),
                "question {pattern:02x?}"
            );
            // as an answer owner, pointing into itself
            let mut m = header.to_vec();
            m.extend_from_slice(question);
            m.extend_from_slice(&relocate(pattern, m.len()));
            m.extend_from_slice(&answer_tail);
            assert!(
                matches!(decode(&m), Err(ResponseError::Malformed(_))),
                "owner {pattern:02x?}"
            );
            // unrelocated, the pointers aim into the header: whatever that
            // reads as, it must not panic
            let mut m = header.to_vec();
            m.extend_from_slice(question);
            m.extend_from_slice(pattern);
            m.extend_from_slice(&answer_tail);
            let _ = decode(&m);
        }
        // a forward pointer
        let mut m = header.to_vec();
        m.extend_from_slice(b"\xC0\xFF");
        m.extend_from_slice(&[0; 18]);
        assert!(matches!(decode(&m), Err(ResponseError::Malformed(_))));
        // an over-long name: five 63-octet labels
        let mut m = header.to_vec();
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m.extend_from_slice(&[0; 11]);
        assert!(matches!(decode(&m), Err(ResponseError::Malformed(_))));
    }

    #[test]
    fn rfc5452_question_must_match() {
        let m = response(ResponseCode::NoError, "h.example.", RecordType::A, vec![]);
        assert!(question_matches(&m, &name("H.EXAMPLE."), RecordType::A));
        assert!(!question_matches(&m, &name("h.example."), RecordType::AAAA));
        assert!(!question_matches(&m, &name("g.example."), RecordType::A));
    }
}
