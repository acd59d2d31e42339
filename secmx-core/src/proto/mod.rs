//! The SMTP grammar: framing, commands, paths, parameters, replies, EHLO
//! capabilities and the message body. Grammar only: no state, no I/O.
//!
//! Every parser borrows from its input and reports incomplete input as
//! [`Status::Partial`], never as an error; `Err` means the input is wrong.

pub mod code;
pub mod command;
pub mod data;
pub mod ehlo;
pub mod line;
pub mod param;
pub mod path;
pub mod reply;

/// The result of a parser that may need more input (as httparse does it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// The input held a whole item.
    Complete(T),
    /// The input ends before the item does; call again with more.
    Partial,
}

impl<T> Status<T> {
    /// True for [`Status::Complete`].
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }

    /// True for [`Status::Partial`].
    pub fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }

    /// The complete value, if there is one.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(value) => Some(value),
            Status::Partial => None,
        }
    }

    /// Maps the complete value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Status<U> {
        match self {
            Status::Complete(value) => Status::Complete(f(value)),
            Status::Partial => Status::Partial,
        }
    }
}
