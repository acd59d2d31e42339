//! # secmx-cli
//!
//! The `secmx` program's building blocks: a thin std-I/O driver (sockets,
//! threads, files) over the sans-IO SecMX crates, written as the example an
//! embedder would copy.
//!
//! | module | what it shows |
//! |---|---|
//! | [`net`] | TCP sockets and threads driving [`secmx_core::server::ServerSession`] (a bounded, thread-per-connection server) and [`secmx_core::client::ClientSession`] (one connection, to completion) |
//! | [`spool`] | storing a received message durably (temp file, fsync, rename, fsync of the directory) before the `250` |
//! | [`dns_udp`] | carrying [`secmx_dns::Discovery`]'s queries over UDP, and TCP after truncation |
//! | [`deliver`] | one message from discovery through the delivery plan and its attempts to a verdict per recipient |
//! | [`serve`], [`discover`], [`rr`], [`send`], [`demo`] | the subcommands of the same names |
//! | [`check`], [`policyd`] | the posture of a domain; a Postfix socketmap TLS policy service |
//! | [`exit`] | the program's exit codes (`sysexits.h`) |
//!
//! Nothing here is needed to embed SecMX: an MTA brings its own event loop,
//! queue and resolver. The code is kept plain (blocking sockets, one thread
//! per connection) so that the run loops of the sans-IO crates stay visible.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod deliver;
pub mod demo;
pub mod discover;
pub mod dns_udp;
pub mod exit;
pub mod net;
pub mod policyd;
pub mod rr;
pub mod send;
pub mod serve;
pub mod spool;
pub mod time;
