//! # secmx-dns
//!
//! Discovery of SecMX secure only receivers (SORs) for a recipient domain by
//! the four conventions of the SecMX proposal: an `_secmx._tcp` SRV record,
//! an MX preference of 51966, the host `secmx.<domain>`, and the `SECMX`
//! record type; plus the ordinary MX list (RFC 5321 §5.1, null MX RFC 7505),
//! TLSA (RFC 7672) and MTA-STS / TLS-RPT TXT records.
//!
//! Sans-IO: it builds DNS queries and reads DNS responses with hickory-proto;
//! the embedder carries the packets and passes the time in.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
