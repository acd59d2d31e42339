//! Exit codes of the `secmx` program, from BSD's `sysexits.h` (the codes
//! Postfix and sendmail use, so that a calling MTA or script can tell a
//! temporary failure from a permanent one).
//!
//! | code | name | when |
//! |---|---|---|
//! | 0 | `EX_OK` | done |
//! | 64 | `EX_USAGE` | bad command line (clap's own default, 2, is replaced) |
//! | 66 | `EX_NOINPUT` | an input file (certificate, key) cannot be read |
//! | 69 | `EX_UNAVAILABLE` | permanent failure (a message bounced) |
//! | 71 | `EX_OSERR` | the system refused a resource (a socket, a signal handler) |
//! | 73 | `EX_CANTCREAT` | the spool directory cannot be written |
//! | 74 | `EX_IOERR` | an I/O error while running |
//! | 75 | `EX_TEMPFAIL` | temporary failure: try again later (DNS failed, deferred) |
//! | 78 | `EX_CONFIG` | the configuration cannot work (a certificate rustls refuses) |

/// Success.
pub const OK: u8 = 0;
/// The command line is wrong.
pub const USAGE: u8 = 64;
/// An input file cannot be read.
pub const NOINPUT: u8 = 66;
/// Permanent failure.
pub const UNAVAILABLE: u8 = 69;
/// The operating system refused a resource.
pub const OSERR: u8 = 71;
/// An output file or directory cannot be created.
pub const CANTCREAT: u8 = 73;
/// An I/O error.
pub const IOERR: u8 = 74;
/// A temporary failure.
pub const TEMPFAIL: u8 = 75;
/// A configuration error.
pub const CONFIG: u8 = 78;

/// An error that ends the program: what to print and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One of the codes above.
    pub code: u8,
    /// The message for stderr, without the program name.
    pub message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
