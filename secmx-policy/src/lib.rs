//! # secmx-policy
//!
//! The SecMX policy engine: which messages must travel only over TLS (secure
//! only sender, SOS) and which may fall back to clear text (best effort
//! sender, BES); per message, which targets to try in what order and with
//! what TLS requirement; the verdict (delivered, defer, bounce) and the
//! bounce itself (RFC 3464 DSN). The receiving side decides between best
//! effort receiver (BER) and secure only receiver (SOR).
//!
//! Pure decisions over data: no I/O, and time is passed in.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod date;
pub mod dsn;
pub mod learned;
pub mod mta_sts;
pub mod plan;
pub mod receiver;
pub mod rules;
pub mod tlsrpt;
pub mod types;
pub mod verify;

pub use types::{CertCheck, Class};
