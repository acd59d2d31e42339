//! Carrying [`Discovery`]'s queries to a recursive resolver: UDP
//! (RFC 1035 §4.2.1), and TCP (RFC 1035 §4.2.2, RFC 7766) for a question
//! whose UDP answer came back truncated.
//!
//! ```text
//! loop:
//!   poll_query ──► Udp: send on one connected UDP socket
//!              └─► Tcp: connect, write [len][query], read [len][answer]
//!                       ──► handle_response          (blocking, bounded)
//!   poll_result ──► done
//!   recv with a timeout of poll_timeout ──► handle_response / handle_timeout
//! ```
//!
//! The resolver is `--dns IP[:PORT]` or the first `nameserver` of
//! `/etc/resolv.conf` (resolv.conf(5): none means the local machine); the
//! port defaults to 53. Query ids come from 64 bits of `/dev/urandom`
//! (RFC 5452 §4.3), passed to the discovery as its seed.
//!
//! A connected UDP socket only accepts datagrams from the resolver's
//! address; the discovery itself checks the id and the question of each
//! answer and ignores anything else.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use secmx_dns::{Discovered, Discovery, Query, Transport};

/// The DNS port (RFC 1035 §4.2).
pub const DNS_PORT: u16 = 53;

/// Largest DNS message over TCP (RFC 1035 §4.2.2: a two-octet length).
pub const MAX_TCP_MESSAGE: usize = 65_535;

/// Parses a resolver address: `IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`;
/// without a port, 53.
pub fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .map_err(|_| format!("{text:?} is not IP or IP:PORT"))
}

/// The first `nameserver` line of a resolv.conf text, if any. A zone
/// index (`fe80::1%eth0`) is dropped.
pub fn resolv_conf_nameserver(text: &str) -> Option<IpAddr> {
    text.lines()
        .map(|line| line.split(['#', ';']).next().unwrap_or_default())
        .filter_map(|line| {
            let mut words = line.split_ascii_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .find_map(|addr| addr.split('%').next()?.parse().ok())
}

/// The resolver of `/etc/resolv.conf`, port 53; `127.0.0.1` when it names
/// none or cannot be read (resolv.conf(5)).
pub fn system_resolver() -> SocketAddr {
    let ip = std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|text| resolv_conf_nameserver(&text))
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, DNS_PORT)
}

/// 64 random bits for query ids: from `/dev/urandom`, else from std's
/// randomly keyed hasher (also seeded by the operating system).
pub fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    match read {
        Ok(()) => u64::from_ne_bytes(bytes),
        Err(_) => RandomState::new().build_hasher().finish(),
    }
}

/// Runs `discovery` to its end against `resolver` and returns the result.
///
/// Every wait is bounded by the discovery's own time-outs. `Err` only when
/// no socket can be made; a resolver that does not answer gives a result
/// whose look-ups are indeterminate.
pub fn run(mut discovery: Discovery, resolver: SocketAddr) -> io::Result<Discovered> {
    let local: SocketAddr = match resolver {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(resolver)?;
    let mut buf = vec![0u8; MAX_TCP_MESSAGE];
    loop {
        // Drain the queries (the TCP ones are answered at once).
        let mut sent = false;
        while let Some(query) = discovery.poll_query(Instant::now()) {
            sent = true;
            match query.transport {
                Transport::Tcp => {
                    let timeout = tcp_timeout(&discovery);
                    if let Ok(answer) = tcp_exchange(resolver, &query, timeout) {
                        let _ = discovery.handle_response(Instant::now(), &answer);
                    }
                    // On failure the look-up times out at its deadline.
                }
                // UDP, and any transport added later: one datagram.
                _ => {
                    // A send error (no route) is a look-up that will time out.
                    let _ = socket.send(&query.bytes);
                }
            }
        }
        if let Some(result) = discovery.poll_result() {
            return Ok(result);
        }
        let now = Instant::now();
        let Some(deadline) = discovery.poll_timeout() else {
            if sent {
                continue;
            }
            return Err(io::Error::other(
                "DNS discovery has nothing in flight and is not finished",
            ));
        };
        if deadline <= now {
            discovery.handle_timeout(now);
            continue;
        }
        socket.set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))?;
        match socket.recv(&mut buf) {
            Ok(n) => {
                // A packet that answers nothing is ignored by the discovery.
                let _ = discovery.handle_response(Instant::now(), buf.get(..n).unwrap_or_default());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                discovery.handle_timeout(Instant::now());
            }
            // ICMP port unreachable and the like: the look-ups time out.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// How long a TCP exchange may take: until the query's deadline.
fn tcp_timeout(discovery: &Discovery) -> Duration {
    discovery
        .poll_timeout()
        .map(|deadline| deadline.saturating_duration_since(Instant::now()))
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(5))
}

/// One query over TCP: the length-prefixed query out, one length-prefixed
/// answer back (RFC 1035 §4.2.2).
fn tcp_exchange(resolver: SocketAddr, query: &Query, timeout: Duration) -> io::Result<Vec<u8>> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&resolver, timeout)?;
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))?;
    stream.write_all(&query.tcp_frame())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_addresses_default_to_port_53() {
        let cases = [
            ("127.0.0.1", Some("127.0.0.1:53")),
            ("127.0.0.1:5353", Some("127.0.0.1:5353")),
            ("::1", Some("[::1]:53")),
            ("[::1]", Some("[::1]:53")),
            ("[::1]:10054", Some("[::1]:10054")),
            ("localhost", None),
            ("127.0.0.1:", None),
            ("127.0.0.1:70000", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = parse_resolver(text).ok().map(|a| a.to_string());
            assert_eq!(got.as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn resolv_conf_5_first_nameserver() {
        let cases = [
            (
                "nameserver 10.0.0.2\nnameserver 10.0.0.3\n",
                Some("10.0.0.2"),
            ),
            (
                "# generated\nsearch example.net\noptions edns0\nnameserver 127.0.0.53\n",
                Some("127.0.0.53"),
            ),
            ("nameserver fe80::1%eth0\n", Some("fe80::1")),
            ("  nameserver\t::1 ; comment\n", Some("::1")),
            (
                "#nameserver 10.0.0.9\nnameserver bogus\nnameserver 10.0.0.4\n",
                Some("10.0.0.4"),
            ),
            ("search example.net\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = resolv_conf_nameserver(text).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(random_seed(), random_seed());
    }

    /// A resolver that never answers: every look-up ends indeterminate,
    /// within the time-outs.
    #[test]
    fn rfc1035_4_2_1_silent_resolver_gives_indeterminate_result() {
        let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = silent.local_addr().expect("address");
        let mut config = secmx_dns::Config::default();
        config.query_timeout = Duration::from_millis(100);
        config.udp_attempts = 1;
        config.id_seed = random_seed();
        let discovery = Discovery::new("example.test", config).expect("domain");
        let started = Instant::now();
        let result = run(discovery, addr).expect("run");
        assert!(result.is_indeterminate());
        assert!(result.sors.is_empty());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
