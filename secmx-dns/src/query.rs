//! DNS queries (RFC 1035 §4.1) with EDNS0 and the DO bit (RFC 6891 §6.1,
//! RFC 3225 §3), built with hickory-proto.
//!
//! ```text
//! header   id | QR=0 OPCODE=QUERY RD=1 | QDCOUNT=1 ARCOUNT=1
//! question qname qtype CLASS=IN
//! additional  OPT: root, UDP payload 1232, DO=1
//! ```
//!
//! RD asks the resolver to recurse; DO asks it for DNSSEC records, which is
//! what makes a validating resolver set the AD bit on authenticated answers
//! (RFC 6840 §5.8). The query id comes from the caller's seed (see
//! [`Config::id_seed`](crate::Config::id_seed)); nothing here draws random
//! numbers.
//!
//! Over TCP each message is preceded by its length in two octets
//! (RFC 1035 §4.2.2); [`Query::tcp_frame`] adds it.

use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::limits::EDNS_UDP_PAYLOAD;

/// How a query must be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// One datagram to the resolver's port 53 (RFC 1035 §4.2.1).
    Udp,
    /// A TCP connection, the message framed by [`Query::tcp_frame`]
    /// (RFC 1035 §4.2.2, RFC 7766): used when a UDP answer came back
    /// truncated.
    Tcp,
}

/// One query to send to the resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// The message id; the answer must carry the same.
    pub id: u16,
    /// The question's name.
    pub name: Name,
    /// The question's type.
    pub record_type: RecordType,
    /// UDP, or TCP after a truncated answer.
    pub transport: Transport,
    /// The encoded DNS message (without the TCP length prefix).
    pub bytes: Vec<u8>,
}

impl Query {
    /// The message with its two-octet length prefix, for TCP
    /// (RFC 1035 §4.2.2).
    pub fn tcp_frame(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 2);
        // Queries are a header, one question of at most 255 + 4 octets and
        // an OPT record: far below 65535 octets.
        let len = u16::try_from(self.bytes.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.bytes);
        out
    }
}

/// Encodes a recursive query for `name`/`record_type` in class IN with
/// EDNS0 (payload [`EDNS_UDP_PAYLOAD`]) and the DO bit.
///
/// The message is written directly: it is 12 octets of header, the name,
/// 4 octets of type and class and an 11-octet OPT record, and building a
/// hickory `Message` for it costs more than decoding the answer. A test
/// checks the bytes are those hickory-proto writes for the same message.
pub fn encode_query(id: u16, name: &Name, record_type: RecordType) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + name.len() + 1 + 4 + 11);
    header(&mut out, id);
    for label in name.iter() {
        // hickory keeps labels at 63 octets or less
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    trailer(&mut out, record_type);
    out
}

/// [`encode_query`] for a name already in wire form (RFC 1035 §3.1,
/// ending in the root label).
pub(crate) fn encode_query_wire(id: u16, qname: &[u8], record_type: RecordType) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + qname.len() + 4 + 11);
    header(&mut out, id);
    out.extend_from_slice(qname);
    trailer(&mut out, record_type);
    out
}

fn header(out: &mut Vec<u8>, id: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    // QR=0, OPCODE=QUERY, RD=1; QDCOUNT=1, ANCOUNT=0, NSCOUNT=0, ARCOUNT=1
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
}

/// The question's type and class, and the OPT record.
fn trailer(out: &mut Vec<u8>, record_type: RecordType) {
    let [t0, t1] = u16::from(record_type).to_be_bytes();
    let [c0, c1] = u16::from(DNSClass::IN).to_be_bytes();
    let [o0, o1] = u16::from(RecordType::OPT).to_be_bytes();
    let [p0, p1] = EDNS_UDP_PAYLOAD.to_be_bytes();
    // OPT (RFC 6891 §6.1.2): root owner, type 41, class = UDP payload,
    // TTL = extended RCODE 0, version 0, DO (RFC 3225 §3), RDLENGTH 0.
    out.extend_from_slice(&[t0, t1, c0, c1, 0, o0, o1, p0, p1, 0, 0, 0x80, 0, 0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query as Question};

    /// The same query built with hickory-proto.
    fn hickory_query(id: u16, name: &Name, record_type: RecordType) -> Vec<u8> {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Question::query(name.clone(), record_type));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_UDP_PAYLOAD);
        edns.set_dnssec_ok(true);
        message.set_edns(edns);
        message.to_vec().expect("hickory encodes")
    }

    #[test]
    fn rfc1035_4_1_query_bytes_equal_hickorys() {
        for (name, rtype) in [
            (".", RecordType::NS),
            ("example.", RecordType::MX),
            ("_secmx._tcp.Example.TEST.", RecordType::SRV),
            ("_25._tcp.secmx.example.test.", RecordType::TLSA),
            ("example.test.", RecordType::Unknown(65482)),
        ] {
            let name = Name::from_ascii(name).expect("name");
            for id in [0, 1, 0xBEEF, 0xFFFF] {
                assert_eq!(
                    encode_query(id, &name, rtype),
                    hickory_query(id, &name, rtype),
                    "{name} {rtype} {id}"
                );
                let mut qname = Vec::new();
                crate::names::write_wire(&name.to_lowercase(), &mut qname);
                assert_eq!(
                    encode_query_wire(id, &qname, rtype),
                    hickory_query(id, &name.to_lowercase(), rtype),
                    "{name} {rtype} {id}"
                );
            }
        }
    }

    #[test]
    fn rfc1035_4_1_query_has_rd_edns_and_do() {
        let name = Name::from_ascii("_secmx._tcp.example.").expect("name");
        let bytes = encode_query(0xBEEF, &name, RecordType::SRV);
        let message = Message::from_vec(&bytes).expect("decodes");
        assert_eq!(message.metadata.id, 0xBEEF);
        assert_eq!(message.metadata.message_type, MessageType::Query);
        assert!(message.metadata.recursion_desired);
        assert!(!message.metadata.authentic_data);
        assert_eq!(message.queries.len(), 1);
        assert_eq!(message.queries[0].name(), &name);
        assert_eq!(message.queries[0].query_type(), RecordType::SRV);
        assert_eq!(message.queries[0].query_class(), DNSClass::IN);
        let edns = message.edns.expect("RFC 6891: OPT present");
        assert!(edns.flags().dnssec_ok, "RFC 3225: DO bit set");
        assert_eq!(edns.max_payload(), EDNS_UDP_PAYLOAD);
    }

    #[test]
    fn rfc1035_4_2_2_tcp_frame_has_length_prefix() {
        let name = Name::from_ascii("example.").expect("name");
        let bytes = encode_query(1, &name, RecordType::Unknown(65482));
        let query = Query {
            id: 1,
            name,
            record_type: RecordType::Unknown(65482),
            transport: Transport::Tcp,
            bytes: bytes.clone(),
        };
        let frame = query.tcp_frame();
        assert_eq!(
            usize::from(u16::from_be_bytes([frame[0], frame[1]])),
            bytes.len()
        );
        assert_eq!(&frame[2..], &bytes[..]);
    }
}
