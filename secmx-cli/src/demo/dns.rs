//! A tiny authoritative DNS responder for a zone held in memory, on UDP
//! (RFC 1035 §4.2.1) and TCP (RFC 1035 §4.2.2, RFC 7766) at the same
//! loopback port: enough to run a SecMX discovery against, with nothing
//! installed. Every message is read and written with hickory-proto.
//!
//! ```text
//! query ──► decode (hickory) ── not a standard query ──► FORMERR / NOTIMP
//!             │ one question, class IN
//!             ▼
//!   records of that name and type ──► NOERROR, answers
//!   the name (or a name below it) exists ──► NOERROR, no answer (NODATA)
//!   otherwise ──► NXDOMAIN
//!             │ flags: QR, AA, RA, RD copied; AD when `authenticated`
//!             ▼ EDNS: an OPT back when the query had one (RFC 6891 §7)
//!   UDP: larger than the client's payload (512 without EDNS)
//!        ──► TC set, answers dropped: the client asks again over TCP
//! ```
//!
//! It is not a resolver and does no DNSSEC: with `authenticated` set it
//! claims every answer was validated (the AD bit, RFC 4035 §3.2.3), which
//! a client may only believe of a resolver it trusts by construction, as
//! the demo's is. No CNAMEs, no wildcards, no delegations.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use secmx_dns::SecmxRdata;
use secmx_dns::hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use secmx_dns::hickory_proto::rr::rdata::{A, AAAA, MX, NULL, SRV, TXT};
use secmx_dns::hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// The TTL of every record served.
pub const TTL: u32 = 60;

/// The largest UDP answer without EDNS (RFC 1035 §4.2.1).
pub const UDP_PLAIN_MAX: usize = 512;

/// How long a blocked socket waits before the thread looks at the stop
/// flag again.
const POLL: Duration = Duration::from_millis(50);

/// How long a TCP client may take to send its query.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);

/// A name or record that cannot be put in a zone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// Not a domain name.
    #[error("bad domain name {0:?}")]
    Name(String),
}

/// Records in memory, answered by name and type.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: Vec<Record>,
}

fn name(text: &str) -> Result<Name, ZoneError> {
    let mut n = Name::from_ascii(text).map_err(|_| ZoneError::Name(text.to_owned()))?;
    n.set_fqdn(true);
    Ok(n.to_lowercase())
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record of `owner` (a domain name; a final dot is optional).
    pub fn add(&mut self, owner: &str, data: RData) -> Result<&mut Self, ZoneError> {
        self.records
            .push(Record::from_rdata(name(owner)?, TTL, data));
        Ok(self)
    }

    /// An A record.
    pub fn a(&mut self, owner: &str, ip: Ipv4Addr) -> Result<&mut Self, ZoneError> {
        self.add(owner, RData::A(A(ip)))
    }

    /// An AAAA record.
    pub fn aaaa(&mut self, owner: &str, ip: std::net::Ipv6Addr) -> Result<&mut Self, ZoneError> {
        self.add(owner, RData::AAAA(AAAA(ip)))
    }

    /// An MX record (RFC 5321 §5.1).
    pub fn mx(&mut self, owner: &str, preference: u16, host: &str) -> Result<&mut Self, ZoneError> {
        let host = name(host)?;
        self.add(owner, RData::MX(MX::new(preference, host)))
    }

    /// An SRV record (RFC 2782).
    pub fn srv(
        &mut self,
        owner: &str,
        priority: u16,
        weight: u16,
        port: u16,
        target: &str,
    ) -> Result<&mut Self, ZoneError> {
        let target = name(target)?;
        self.add(owner, RData::SRV(SRV::new(priority, weight, port, target)))
    }

    /// A TXT record of one string.
    pub fn txt(&mut self, owner: &str, text: &str) -> Result<&mut Self, ZoneError> {
        self.add(owner, RData::TXT(TXT::new(vec![text.to_owned()])))
    }

    /// A SECMX record (DESIGN.md: `preference | flags | port | target`,
    /// uncompressed) of record type `rtype`, served as opaque RDATA as an
    /// authoritative server that does not know the type does (RFC 3597).
    pub fn secmx(
        &mut self,
        owner: &str,
        rtype: u16,
        rdata: &SecmxRdata,
    ) -> Result<&mut Self, ZoneError> {
        self.add(
            owner,
            RData::Unknown {
                code: RecordType::Unknown(rtype),
                rdata: NULL::with(rdata.to_bytes()),
            },
        )
    }

    /// Every record, in the order added.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The answer to one DNS query message, or `None` for a packet that is
    /// not a query (it is dropped, as servers do). `udp_limit`: the answer
    /// goes over UDP, and is truncated past the client's payload size.
    pub fn respond(&self, query: &[u8], authenticated: bool, udp_limit: bool) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut reply = Message::new(
            request.metadata.id,
            MessageType::Response,
            request.metadata.op_code,
        );
        reply.metadata.recursion_desired = request.metadata.recursion_desired;
        reply.metadata.recursion_available = true;
        reply.metadata.authoritative = true;
        let payload = request.edns.as_ref().map_or(UDP_PLAIN_MAX, |e| {
            usize::from(e.max_payload()).max(UDP_PLAIN_MAX)
        });
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(secmx_dns::limits::EDNS_UDP_PAYLOAD);
            reply.set_edns(edns);
        }
        let question = match request.queries.as_slice() {
            [q] if request.metadata.op_code == OpCode::Query => q.clone(),
            [_] => {
                reply.metadata.response_code = ResponseCode::NotImp;
                return reply.to_vec().ok();
            }
            _ => {
                reply.metadata.response_code = ResponseCode::FormErr;
                return reply.to_vec().ok();
            }
        };
        reply.add_query(question.clone());
        let qname = question.name().to_lowercase();
        if question.query_class() != DNSClass::IN {
            reply.metadata.response_code = ResponseCode::Refused;
            return reply.to_vec().ok();
        }
        let answers: Vec<Record> = self
            .records
            .iter()
            .filter(|r| r.name == qname && r.record_type() == question.query_type())
            .cloned()
            .collect();
        let exists = self.records.iter().any(|r| qname.zone_of(&r.name));
        if answers.is_empty() && !exists {
            reply.metadata.response_code = ResponseCode::NXDomain;
        }
        reply.metadata.authentic_data = authenticated;
        reply.add_answers(answers);
        let bytes = reply.to_vec().ok()?;
        if udp_limit && bytes.len() > payload {
            let mut cut = reply.truncate();
            cut.metadata.id = reply.metadata.id;
            cut.metadata.message_type = MessageType::Response;
            return cut.to_vec().ok();
        }
        Some(bytes)
    }
}

/// A running responder; stopped when dropped.
#[derive(Debug)]
pub struct Responder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Responder {
    /// Serves `zone` on 127.0.0.1 at a free port, UDP and TCP. With
    /// `authenticated`, answers carry the AD bit.
    pub fn start(zone: Zone, authenticated: bool) -> io::Result<Self> {
        let (udp, tcp) = bind_pair()?;
        let addr = udp.local_addr()?;
        udp.set_read_timeout(Some(POLL))?;
        tcp.set_nonblocking(true)?;
        let zone = Arc::new(zone);
        let stop = Arc::new(AtomicBool::new(false));
        let udp_thread = {
            let (zone, stop) = (Arc::clone(&zone), Arc::clone(&stop));
            thread::Builder::new()
                .name("dns udp".into())
                .spawn(move || serve_udp(&udp, &zone, authenticated, &stop))?
        };
        let tcp_thread = {
            let (zone, stop) = (Arc::clone(&zone), Arc::clone(&stop));
            thread::Builder::new()
                .name("dns tcp".into())
                .spawn(move || serve_tcp(&tcp, &zone, authenticated, &stop))?
        };
        Ok(Self {
            addr,
            stop,
            threads: vec![udp_thread, tcp_thread],
        })
    }

    /// The address to send queries to (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
fn bind_pair() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = io::Error::other("no free port");
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn serve_udp(socket: &UdpSocket, zone: &Zone, authenticated: bool, stop: &AtomicBool) {
    let mut buf = vec![0u8; secmx_dns::limits::MAX_MESSAGE];
    while !stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let query = buf.get(..n).unwrap_or_default();
                if let Some(answer) = zone.respond(query, authenticated, true) {
                    // A lost answer is a time-out for the client.
                    let _ = socket.send_to(&answer, from);
                }
            }
            Err(e) if is_wait(&e) => {}
            // ICMP errors from earlier sends and the like: keep serving.
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn serve_tcp(listener: &TcpListener, zone: &Zone, authenticated: bool, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                // One client at a time is plenty for one discovery.
                let _ = answer_tcp(stream, zone, authenticated);
            }
            Err(e) if is_wait(&e) => thread::sleep(POLL),
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// Answers length-prefixed queries on one connection until the client
/// closes it (RFC 7766 §6.2.1 allows several).
fn answer_tcp(mut stream: TcpStream, zone: &Zone, authenticated: bool) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TCP_TIMEOUT))?;
    stream.set_write_timeout(Some(TCP_TIMEOUT))?;
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return Ok(());
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut query)?;
        let Some(answer) = zone.respond(&query, authenticated, false) else {
            return Ok(());
        };
        let len = u16::try_from(answer.len()).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(answer.len() + 2);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&answer);
        stream.write_all(&frame)?;
    }
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use secmx_dns::hickory_proto::op::Query;

    fn ask(zone: &Zone, qname: &str, rtype: RecordType, edns: bool) -> Message {
        let mut q = Message::new(0x1234, MessageType::Query, OpCode::Query);
        q.metadata.recursion_desired = true;
        q.add_query(Query::query(name(qname).expect("name"), rtype));
        if edns {
            q.set_edns(Edns::new());
        }
        let bytes = q.to_vec().expect("query");
        let answer = zone.respond(&bytes, true, true).expect("an answer");
        Message::from_vec(&answer).expect("decodes")
    }

    fn zone() -> Zone {
        let mut z = Zone::new();
        z.mx("d.test", 10, "mx.d.test")
            .and_then(|z| z.a("mx.d.test", Ipv4Addr::LOCALHOST))
            .and_then(|z| z.srv("_secmx._tcp.d.test", 0, 0, 2525, "sor.d.test"))
            .and_then(|z| {
                let target = name("sor.d.test").expect("name");
                z.secmx("d.test", 65482, &SecmxRdata::new(10, false, 2525, target))
            })
            .expect("zone");
        z
    }

    /// RFC 1035 §4.1.1 (rcode), RFC 2308 §2.1/§2.2 (NXDOMAIN vs NODATA).
    #[test]
    fn rfc2308_answers_nodata_and_nxdomain() {
        let z = zone();
        let cases = [
            ("d.test", RecordType::MX, ResponseCode::NoError, 1),
            ("D.TEST.", RecordType::MX, ResponseCode::NoError, 1),
            (
                "d.test",
                RecordType::Unknown(65482),
                ResponseCode::NoError,
                1,
            ),
            ("d.test", RecordType::A, ResponseCode::NoError, 0),
            ("_tcp.d.test", RecordType::SRV, ResponseCode::NoError, 0),
            (
                "_secmx._tcp.d.test",
                RecordType::SRV,
                ResponseCode::NoError,
                1,
            ),
            ("nothing.d.test", RecordType::A, ResponseCode::NXDomain, 0),
            ("mx.d.test", RecordType::AAAA, ResponseCode::NoError, 0),
        ];
        for (qname, rtype, rcode, count) in cases {
            let m = ask(&z, qname, rtype, false);
            assert_eq!(m.metadata.response_code, rcode, "{qname} {rtype}");
            assert_eq!(m.answers.len(), count, "{qname} {rtype}");
            assert_eq!(m.metadata.id, 0x1234);
            assert!(m.metadata.authentic_data);
            assert!(m.metadata.recursion_desired);
            assert_eq!(m.queries.len(), 1);
        }
    }

    /// RFC 6891 §7: an OPT back for an OPT; none otherwise.
    #[test]
    fn rfc6891_7_edns_is_echoed() {
        let z = zone();
        assert!(ask(&z, "d.test", RecordType::MX, true).edns.is_some());
        assert!(ask(&z, "d.test", RecordType::MX, false).edns.is_none());
    }

    /// RFC 1035 §4.2.1: over 512 octets without EDNS, TC and no answers.
    #[test]
    fn rfc1035_4_2_1_large_udp_answers_are_truncated() {
        let mut z = zone();
        for i in 0..8 {
            z.txt("big.d.test", &format!("{i}{}", "x".repeat(200)))
                .expect("txt");
        }
        let m = ask(&z, "big.d.test", RecordType::TXT, false);
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.metadata.id, 0x1234);
    }

    /// The same zone over the wire, UDP then TCP, at one port.
    #[test]
    fn rfc7766_udp_and_tcp_at_one_port() {
        let responder = Responder::start(zone(), false).expect("start");
        let mut q = Message::new(7, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(name("d.test").expect("name"), RecordType::MX));
        let bytes = q.to_vec().expect("query");

        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        udp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        udp.send_to(&bytes, responder.addr()).expect("send");
        let mut buf = [0u8; 512];
        let n = udp.recv(&mut buf).expect("answer");
        let m = Message::from_vec(&buf[..n]).expect("decodes");
        assert_eq!(m.answers.len(), 1);
        assert!(!m.metadata.authentic_data);

        let mut tcp = TcpStream::connect(responder.addr()).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        for _ in 0..2 {
            let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(&bytes);
            tcp.write_all(&frame).expect("write");
            let mut len = [0u8; 2];
            tcp.read_exact(&mut len).expect("length");
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
            tcp.read_exact(&mut answer).expect("answer");
            let m = Message::from_vec(&answer).expect("decodes");
            assert_eq!(m.answers.len(), 1);
        }
    }
}
