//! # secmx-core
//!
//! SMTP (RFC 5321) for SecMX, sans-IO: the grammar of commands, replies, EHLO
//! capabilities, paths, parameters and the message body, and (to come) the
//! client and server session state machines with STARTTLS (RFC 3207) on
//! rustls. Bytes in, bytes and events out, time passed in: this crate opens no
//! socket, reads no clock and starts no thread.
//!
//! ```text
//!  network bytes ──► proto::line (CRLF framing, bounded)
//!                      ├─► proto::command ──► Command<'a> (paths, parameters)
//!                      ├─► proto::reply   ──► Reply<'a>   ──► proto::ehlo
//!                      └─► proto::data    ──► body chunks (dot-unstuffed)
//! ```
//!
//! Every buffer is bounded by a constant in [`limits`]; going over one is a
//! typed error that carries the reply a server should send
//! ([`ErrorReply`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod limits;
pub mod proto;
pub mod server;
pub mod time;
pub mod transport;

pub use rustls;

pub use proto::Status;
pub use proto::code::{EnhancedCode, ErrorReply, ReplyClass, ReplyCode};
pub use proto::command::{Command, CommandError, ParseContext, Verb};
pub use proto::data::{BdatReceiver, BodyReport, DotStuffer, DotUnstuffer, Unstuffed};
pub use proto::ehlo::{Capabilities, EhloError, Keyword, Size};
pub use proto::line::{LineError, LineReader};
pub use proto::param::{Body, MailParameters, Notify, Orcpt, RcptParameters, Ret};
pub use proto::path::{Domain, ForwardPath, LocalPart, Mailbox, PathError, ReversePath};
pub use proto::reply::{Reply, ReplyError, ReplyParser};
pub use time::{Deadline, Timeouts};
pub use transport::{Phase, StartTlsError, TlsInfo, Transport, TransportError};
