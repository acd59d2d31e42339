//! Reading DNS responses (RFC 1035 §4.1) as untrusted input: bounds checks,
//! the header, the question matched on the wire, the answer section decoded
//! with hickory-proto, CNAMEs followed, the outcome classified.
//!
//! ```text
//! header      id | QR=1 OPCODE=QUERY TC AD RCODE | QD=1 AN NS AR
//! question    must equal the query's (name case-insensitively, type, IN)
//! answer      [CNAME chain from qname, at most 8 links] RRset of qtype
//! authority   skipped
//! additional  skipped, except OPT's extended RCODE (RFC 6891 §6.1.3)
//! ```
//!
//! The message is read in stages, so that a packet for no outstanding query
//! costs only its header, and a truncated one only its question:
//! 1. the header: the counts are checked against the length (a question
//!    takes at least 5 octets, a record at least 11), so a 12-octet packet
//!    cannot claim 65535 records, and the total is bounded by
//!    [`MAX_RECORDS`]; then the twelve octets are read directly.
//! 2. the question: the question is compared with the query's on the
//!    wire.
//! 3. the answers: hickory reads the owner name of each answer record
//!    (`Name::read`; an owner written as a pointer to the question's name
//!    is that name and is not read) and its RDATA (`RData::read`); hickory
//!    refuses compression pointers that do not point strictly backwards
//!    (RFC 1035 §4.1.4): `C0 00`-style loops end in an error. Only records
//!    of the asked type and CNAMEs are decoded, after their names were
//!    walked here with at most [`MAX_POINTER_HOPS`] pointers each, so the
//!    cost stays linear in the message. The authority and additional
//!    sections are only walked, to find the OPT record; discovery uses none
//!    of their records (the AD bit, not the RRSIGs, carries DNSSEC here).
//!
//! Outcomes are kept apart (RFC 2308 §2, RFC 6604): an answer; NODATA (the
//! name exists, the type does not); NXDOMAIN (the name, or the last name of
//! the CNAME chain, does not exist); and everything else (SERVFAIL, REFUSED,
//! other RCODEs, time-outs, CNAME loops) is *indeterminate*: it says nothing
//! about what the domain publishes.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};

use crate::error::ResponseError;
use crate::limits::{
    HEADER_LEN, MAX_CNAME_CHAIN, MAX_MESSAGE, MAX_NAME, MAX_POINTER_HOPS, MAX_RECORDS,
};
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

/// The fields of a response's header (RFC 1035 §4.1.1) that discovery
/// reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// ID.
    pub(crate) id: u16,
    /// TC: the message was truncated.
    pub(crate) truncated: bool,
    /// AD: the resolver validated the answer (RFC 4035 §3.2.3).
    pub(crate) authentic_data: bool,
    /// The low four bits of the RCODE.
    pub(crate) rcode_low: u8,
    /// ANCOUNT, NSCOUNT and ARCOUNT.
    pub(crate) answers: u16,
    pub(crate) authorities: u16,
    pub(crate) additionals: u16,
}

/// Stage 1: checks the length and the header counts (against the length
/// and [`MAX_RECORDS`], so decoding cost and allocation follow the length),
/// reads the header and checks QR and the opcode:
///
/// ```text
///   ID (16) | QR | OPCODE (4) | AA | TC | RD | RA | Z | AD | CD | RCODE (4)
///   QDCOUNT (16) | ANCOUNT (16) | NSCOUNT (16) | ARCOUNT (16)
/// ```
pub(crate) fn header(bytes: &[u8]) -> Result<Header, ResponseError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(ResponseError::TooLong);
    }
    let Some(&[i0, i1, flags, more, q0, q1, a0, a1, n0, n1, r0, r1]) = bytes.first_chunk() else {
        return Err(ResponseError::TooShort);
    };
    if u16::from_be_bytes([q0, q1]) != 1 {
        return Err(ResponseError::QuestionCount);
    }
    let header = Header {
        id: u16::from_be_bytes([i0, i1]),
        truncated: flags & 0x02 != 0,
        authentic_data: more & 0x20 != 0,
        rcode_low: more & 0x0F,
        answers: u16::from_be_bytes([a0, a1]),
        authorities: u16::from_be_bytes([n0, n1]),
        additionals: u16::from_be_bytes([r0, r1]),
    };
    let records = usize::from(header.answers)
        + usize::from(header.authorities)
        + usize::from(header.additionals);
    if records > MAX_RECORDS || HEADER_LEN + 5 + 11 * records > bytes.len() {
        return Err(ResponseError::BadCounts);
    }
    // QR = 1 (a response), OPCODE = 0 (QUERY)
    if flags & 0xF8 != 0x80 {
        return Err(ResponseError::NotAResponse);
    }
    Ok(header)
}

/// One answer record of class IN, as far as discovery reads it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The owner, or `None` when it is written as a pointer to the
    /// question's name (`C0 0C`): then it is that name, octet for octet,
    /// and is not decoded.
    pub(crate) owner: Option<Name>,
    /// The record's type, as on the wire.
    pub(crate) record_type: RecordType,
    /// The record's data; [`RData::Update0`] when it is empty.
    pub(crate) data: RData,
    /// The name in the data (of a CNAME, MX or SRV record) has an
    /// upper-case letter.
    pub(crate) upper_case: bool,
}

/// Stage 3: the answer records of `record_type` and CNAME records in
/// class IN, decoded with hickory-proto, and the RCODE with the OPT
/// record's extended bits (RFC 6891 §6.1.3). Other answer records are
/// skipped undecoded. `question_end` is where the question ends (from
/// [`question_matches`]).
///
/// Before hickory reads a record, every name in it that hickory will read
/// (the owner, and the name in MX, SRV and CNAME data) is walked here with
/// at most [`MAX_POINTER_HOPS`] compression pointers: hickory accepts any
/// chain of backward pointers, so without this bound a crafted message
/// could make each name cost thousands of hops.
pub(crate) fn answers(
    bytes: &[u8],
    header: &Header,
    question_end: usize,
    record_type: RecordType,
    out: &mut Vec<Answer>,
) -> Result<ResponseCode, ResponseError> {
    out.clear();
    let malformed = |what: &str| ResponseError::Malformed(what.to_owned());
    let mut i = question_end;
    for _ in 0..header.answers {
        let start = i;
        let (owner_end, _) = check_name(bytes, start).ok_or_else(|| malformed("bad owner name"))?;
        let fixed = bytes
            .get(owner_end..owner_end + 10)
            .ok_or_else(|| malformed("record cut short"))?;
        let rtype = RecordType::from(u16::from_be_bytes([fixed[0], fixed[1]]));
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rdata = owner_end + 10;
        let end = rdata + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if end > bytes.len() {
            return Err(malformed("record cut short"));
        }
        i = end;
        let wanted = (rtype == record_type || rtype == RecordType::CNAME)
            && class == u16::from(DNSClass::IN);
        if !wanted {
            continue;
        }
        let name_in_rdata = match rtype {
            RecordType::CNAME => Some(0),
            RecordType::MX => Some(2),
            RecordType::SRV => Some(6),
            _ => None,
        };
        let mut upper_case = false;
        if let Some(offset) = name_in_rdata {
            (_, upper_case) =
                check_name(bytes, rdata + offset).ok_or_else(|| malformed("bad name in RDATA"))?;
        }
        let owner_is_question = bytes.get(start..start + 2) == Some(&[0xC0, 0x0C][..]);
        let owner = if owner_is_question {
            None
        } else {
            // `start` is inside the message, so below 65536.
            let at = u16::try_from(start).map_err(|_| malformed("offset"))?;
            let mut decoder = BinDecoder::new(bytes).clone(at);
            let owner =
                Name::read(&mut decoder).map_err(|e| ResponseError::Malformed(e.to_string()))?;
            if decoder.index() != owner_end {
                return Err(malformed("owner name"));
            }
            Some(owner)
        };
        // As hickory's `Record::read`: empty RDATA is an update's "any".
        let data = if end == rdata {
            RData::Update0(rtype)
        } else {
            let at = u16::try_from(rdata).map_err(|_| malformed("offset"))?;
            let length = u16::try_from(end - rdata).map_err(|_| malformed("offset"))?;
            let mut decoder = BinDecoder::new(bytes).clone(at);
            let data = RData::read(&mut decoder, rtype, Restrict::new(length))
                .map_err(|e| ResponseError::Malformed(e.to_string()))?;
            if decoder.index() != end {
                return Err(malformed("record length"));
            }
            data
        };
        out.push(Answer {
            owner,
            record_type: rtype,
            data,
            upper_case,
        });
    }
    // Walk the other two sections without decoding them.
    let mut extended = None;
    for n in 0..usize::from(header.authorities) + usize::from(header.additionals) {
        i = skip_name(bytes, i).ok_or_else(|| malformed("bad owner name"))?;
        let fixed = bytes
            .get(i..i + 10)
            .ok_or_else(|| malformed("record cut short"))?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let in_additional = n >= usize::from(header.authorities);
        if rtype == u16::from(RecordType::OPT) && in_additional {
            // RFC 6891 §6.1.1: more than one OPT is a format error.
            if extended.replace(fixed[4]).is_some() {
                return Err(malformed("two OPT records"));
            }
        }
        i += 10 + rdlength;
        if i > bytes.len() {
            return Err(malformed("record cut short"));
        }
    }
    Ok(ResponseCode::from(extended.unwrap_or(0), header.rcode_low))
}

/// Walks a name as hickory will read it: labels, and compression pointers
/// that each point before the part of the name that holds them (RFC 1035
/// §4.1.4), at most [`MAX_POINTER_HOPS`] of them, the labels within 255
/// octets. Returns where the name ends in place. Cost: at most 255 octets
/// and `MAX_POINTER_HOPS` hops. Also says whether the name has an
/// upper-case letter.
fn check_name(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start;
    let mut segment = start;
    let mut end = None;
    let mut hops = 0;
    let mut length = 0;
    let mut upper = false;
    loop {
        let len = *bytes.get(i)?;
        match len & 0xC0 {
            0xC0 => {
                let target = usize::from(len & 0x3F) << 8 | usize::from(*bytes.get(i + 1)?);
                end.get_or_insert(i + 2);
                hops += 1;
                if target >= segment || hops > MAX_POINTER_HOPS {
                    return None;
                }
                segment = target;
                i = target;
            }
            0x00 if len == 0 => return Some((end.unwrap_or(i + 1), upper)),
            0x00 => {
                length += 1 + usize::from(len);
                if length > MAX_NAME {
                    return None;
                }
                let label = bytes.get(i + 1..i + 1 + usize::from(len))?;
                upper |= label.iter().any(u8::is_ascii_uppercase);
                i += 1 + usize::from(len);
            }
            _ => return None,
        }
    }
}

/// Skips a name on the wire (labels up to a root label or a pointer) and
/// returns where it ends. Cost: one step per label.
fn skip_name(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *bytes.get(i)?;
        match len & 0xC0 {
            0xC0 => return Some(i + 2).filter(|&end| end <= bytes.len()),
            0x00 if len == 0 => return Some(i + 1),
            0x00 => i += 1 + usize::from(len),
            _ => return None,
        }
    }
}

/// Stage 2: whether the response's only question is
/// `qname`/`record_type`/IN, checked on the wire: the question follows the
/// header, and its name must be `qname` (the name in wire form, RFC 1035
/// §3.1, ending in the root label) octet for octet but for the case of
/// letters (RFC 4343 §3). Length octets (at most 63) are never letters, so
/// the labels must line up. A question name written as a compression
/// pointer (which could only point into the header) does not match.
/// Returns where the question ends.
pub(crate) fn question_matches(
    bytes: &[u8],
    qname: &[u8],
    record_type: RecordType,
) -> Option<usize> {
    let end = HEADER_LEN + qname.len();
    if !bytes.get(HEADER_LEN..end)?.eq_ignore_ascii_case(qname) {
        return None;
    }
    let [hi, lo] = u16::from(record_type).to_be_bytes();
    (bytes.get(end..end + 4) == Some(&[hi, lo, 0, 1][..])).then_some(end + 4)
}

/// The outcome of a response with RCODE `rcode` and answer records
/// `answers`. For [`Outcome::Answer`], `found` receives the positions in
/// `answers` of the records of `record_type` owned by `name` or by the end
/// of the CNAME chain that starts at `name`. Records of another owner, type
/// or class are ignored. Cost: at most `MAX_CNAME_CHAIN + 1` passes over the
/// answers.
pub(crate) fn classify(
    rcode: ResponseCode,
    answers: &[Answer],
    name: &Name,
    record_type: RecordType,
    found: &mut Vec<usize>,
) -> Outcome {
    found.clear();
    match rcode {
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
        for (i, answer) in answers.iter().enumerate() {
            // The question's name is `name` (the question matched); later
            // links of the chain are never `name` (that would be a loop).
            let owner_matches = match (&answer.owner, links) {
                (None, 0) => true,
                (None, _) => false,
                (Some(owner), _) => same(owner, current),
            };
            if !owner_matches {
                continue;
            }
            if answer.record_type == record_type {
                found.push(i);
            } else if let RData::CNAME(target) = &answer.data {
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
    if rcode == ResponseCode::NXDomain {
        Outcome::NxDomain
    } else {
        Outcome::NoData
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, OpCode, Query as Question};
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

    /// All three stages, with hickory reading the question (whatever it
    /// is) in place of the match against an outstanding query.
    fn decode(bytes: &[u8]) -> Result<(ResponseCode, Vec<Answer>), ResponseError> {
        let h = header(bytes)?;
        let mut d = BinDecoder::new(bytes).clone(HEADER_LEN as u16);
        let q = Question::read(&mut d).map_err(|e| ResponseError::Malformed(e.to_string()))?;
        let mut out = Vec::new();
        let rcode = answers(bytes, &h, d.index(), q.query_type(), &mut out)?;
        Ok((rcode, out))
    }

    fn outcome(m: &Message, qname: &str, qtype: RecordType) -> (Outcome, usize) {
        let bytes = m.to_vec().expect("encodes");
        let (rcode, answers) = decode(&bytes).expect("decodes");
        let mut found = vec![99];
        let o = classify(rcode, &answers, &name(qname), qtype, &mut found);
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
    fn rfc6891_6_1_3_extended_rcode_and_skipped_sections() {
        use hickory_proto::op::Edns;
        use hickory_proto::rr::rdata::SOA;
        // BADVERS (16): 0 in the header, 1 in OPT's extended RCODE
        let mut m = response(ResponseCode::BADVERS, "h.example.", RecordType::A, vec![]);
        m.set_edns(Edns::new());
        let bytes = m.to_vec().expect("encodes");
        let (rcode, _) = decode(&bytes).expect("decodes");
        assert_eq!(u16::from(rcode), 16);
        assert_eq!(
            outcome(&m, "h.example.", RecordType::A).0,
            Outcome::Indeterminate(Indeterminate::Rcode(16))
        );
        // NXDOMAIN with an SOA in authority and OPT in additional
        let mut m = response(ResponseCode::NXDomain, "h.example.", RecordType::A, vec![]);
        let soa = SOA::new(name("ns.example."), name("h.example."), 1, 2, 3, 4, 5);
        m.add_authority(Record::from_rdata(name("example."), 60, RData::SOA(soa)));
        m.set_edns(Edns::new());
        assert_eq!(
            outcome(&m, "h.example.", RecordType::A),
            (Outcome::NxDomain, 0)
        );
        // two OPT records: a format error (RFC 6891 §6.1.1)
        let mut bytes = m.to_vec().expect("encodes");
        let opt = bytes[bytes.len() - 11..].to_vec();
        bytes.extend_from_slice(&opt);
        bytes[11] += 1;
        assert!(matches!(decode(&bytes), Err(ResponseError::Malformed(_))));
        // a record in the skipped sections running past the end
        let mut cut = m.to_vec().expect("encodes");
        cut.truncate(cut.len() - 1);
        assert!(decode(&cut).is_err());
    }

    #[test]
    fn rfc5452_question_must_match() {
        let m = response(ResponseCode::NoError, "h.Example.", RecordType::A, vec![]);
        let bytes = m.to_vec().expect("encodes");
        let end = 12 + "h.example.".len() + 1 + 4;
        let matches = |b: &[u8], n: &str, t| {
            let mut qname = Vec::new();
            crate::names::write_wire(&name(n), &mut qname);
            question_matches(b, &qname, t)
        };
        assert_eq!(matches(&bytes, "H.EXAMPLE.", RecordType::A), Some(end));
        assert_eq!(matches(&bytes, "h.example.", RecordType::A), Some(end));
        assert_eq!(matches(&bytes, "h.example.", RecordType::AAAA), None);
        assert_eq!(matches(&bytes, "g.example.", RecordType::A), None);
        assert_eq!(matches(&bytes, "h.example.com.", RecordType::A), None);
        assert_eq!(matches(&bytes, "example.", RecordType::A), None);
        assert_eq!(matches(&bytes[..20], "h.example.", RecordType::A), None);
        // class CH instead of IN
        let mut ch = bytes.clone();
        ch[end - 1] = 3;
        assert_eq!(matches(&ch, "h.example.", RecordType::A), None);
    }
}
