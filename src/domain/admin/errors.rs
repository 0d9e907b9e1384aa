//! Why an administration use case refuses or fails: one type per use
//! case, each naming only what can happen to it.

use super::super::phone::PhoneNumber;
use super::super::user::UserId;
use crate::ports::{ChangeError, Missing, StoreError};

/// A value that parsed but breaks a rule: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {why}")]
pub struct Invalid {
    pub field: &'static str,
    pub why: String,
}

impl Invalid {
    pub fn new(field: &'static str, why: impl std::fmt::Display) -> Self {
        Invalid {
            field,
            why: why.to_string(),
        }
    }
}

/// Why a user cannot be changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateUserError {
    #[error(transparent)]
    Invalid(Invalid),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

impl From<Invalid> for UpdateUserError {
    fn from(invalid: Invalid) -> Self {
        UpdateUserError::Invalid(invalid)
    }
}

/// Why a setting cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum PutSettingError {
    #[error("no such setting")]
    UnknownKey,
    #[error(transparent)]
    Invalid(Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a report cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `until` before `since`.
    #[error(transparent)]
    Invalid(Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the service cannot text someone: the state of things forbids it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("user {0} is not active")]
    Inactive(UserId),
    #[error("user {0} has no number to text")]
    NoNumber(UserId),
    #[error("{0} opted out")]
    OptedOut(PhoneNumber),
}

/// The sending settings this needs are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sending needs SMS_ROUTER_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM_NUMBER")]
pub struct NotConfigured;

/// Why a message to a user cannot be queued.
#[derive(Debug, thiserror::Error)]
pub enum SendMessageError {
    #[error(transparent)]
    NotConfigured(NotConfigured),
    /// The body breaks a rule.
    #[error(transparent)]
    Invalid(Invalid),
    /// No such user.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a verification code cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum StartVerificationError {
    #[error(transparent)]
    NotConfigured(NotConfigured),
    /// No such number.
    #[error("not found")]
    NotFound,
    /// Only `Refusal::OptedOut`.
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a number is not verified by the code given.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Malformed, wrong, expired, or none pending.
    #[error(transparent)]
    Invalid(Invalid),
    /// No such number.
    #[error("not found")]
    NotFound,
    #[error("too many wrong codes: start a new verification")]
    TooManyAttempts,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Missing> for SendMessageError {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => SendMessageError::NotFound,
            Missing::Store(e) => SendMessageError::Store(e),
        }
    }
}

impl From<Missing> for StartVerificationError {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => StartVerificationError::NotFound,
            Missing::Store(e) => StartVerificationError::Store(e),
        }
    }
}

impl From<Missing> for ConfirmError {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => ConfirmError::NotFound,
            Missing::Store(e) => ConfirmError::Store(e),
        }
    }
}
