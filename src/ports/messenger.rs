//! Sending a text message through the messaging provider's API.

use std::future::Future;
use std::time::Duration;

use crate::domain::message::MediaLink;
use crate::domain::phone::PhoneNumber;

/// Why a message was not sent, as far as the sender can tell. Its texts
/// are ours: a category, a status, a code; never the provider's message,
/// which may quote numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The recipient opted out of messages from our number.
    #[error("the recipient opted out (21610)")]
    OptedOut,
    /// The number cannot receive messages.
    #[error("the number is not valid for messaging (21211)")]
    InvalidNumber,
    /// Too many requests: worth retrying later, no sooner than the
    /// provider asked when it did.
    #[error("too many requests")]
    TooManyRequests { retry_after: Option<Duration> },
    /// The provider failed (5xx) or could not be reached: worth retrying.
    #[error("the provider is unavailable: {0}")]
    Unavailable(&'static str),
    /// Refused for another reason: not worth retrying.
    #[error("refused (HTTP {status}, code {})", code.map_or_else(|| "none".to_owned(), |c| c.to_string()))]
    Rejected { status: u16, code: Option<i64> },
    /// The request may or may not have been taken: sending it again could
    /// send the message twice.
    #[error("outcome unknown: {0}")]
    Unknown(&'static str),
}

impl SendError {
    /// The provider's error code, when it gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::OptedOut => Some(21610),
            SendError::InvalidNumber => Some(21211),
            SendError::Rejected { code, .. } => *code,
            _ => None,
        }
    }
}

pub trait Messenger: Clone + Send + Sync + 'static {
    /// Sends `body` to `to`; answers the provider's id of the message.
    ///
    /// # Errors
    /// A `SendError` saying whether a retry makes sense.
    fn send(
        &self,
        to: &PhoneNumber,
        body: &str,
        media: &[MediaLink],
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}
