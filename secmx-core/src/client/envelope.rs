//! The envelope of a message: `MAIL FROM:` and the `RCPT TO:`s
//! (RFC 5321 §4.1.1.2, §4.1.1.3), with their parameters.

use crate::proto::param::{MailParameters, RcptParameters};
use crate::proto::path::{ForwardPath, ReversePath};

/// One recipient: `RCPT TO:<path> [params]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Recipient {
    /// The forward-path.
    pub path: ForwardPath<'static>,
    /// NOTIFY, ORCPT (RFC 3461) and others.
    pub params: RcptParameters<'static>,
}

impl Recipient {
    /// A recipient without parameters.
    pub fn new(path: ForwardPath<'static>) -> Self {
        Self {
            path,
            params: RcptParameters::default(),
        }
    }

    /// The same recipient with these parameters.
    #[must_use]
    pub fn with_params(mut self, params: RcptParameters<'static>) -> Self {
        self.params = params;
        self
    }
}

impl From<ForwardPath<'static>> for Recipient {
    fn from(path: ForwardPath<'static>) -> Self {
        Self::new(path)
    }
}

/// Who a message is from and to, and how it is to be carried.
///
/// The session fills in or drops some MAIL parameters as the server's
/// capabilities require (see
/// [`ClientSession::send_message`](super::ClientSession::send_message)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// `MAIL FROM:` path; [`ReversePath::Null`] for bounces.
    pub reverse_path: ReversePath<'static>,
    /// MAIL parameters: SIZE, BODY, SMTPUTF8, REQUIRETLS, RET, ENVID,
    /// AUTH and others.
    pub params: MailParameters<'static>,
    /// The recipients, in the order their RCPT commands go out; events
    /// name them by index in this list.
    pub recipients: Vec<Recipient>,
}

impl Envelope {
    /// An envelope without parameters or recipients.
    pub fn new(reverse_path: ReversePath<'static>) -> Self {
        Self {
            reverse_path,
            params: MailParameters::default(),
            recipients: Vec::new(),
        }
    }

    /// The same envelope with these MAIL parameters.
    #[must_use]
    pub fn with_params(mut self, params: MailParameters<'static>) -> Self {
        self.params = params;
        self
    }

    /// The same envelope with one more recipient.
    #[must_use]
    pub fn with_recipient(mut self, recipient: impl Into<Recipient>) -> Self {
        self.recipients.push(recipient.into());
        self
    }
}
