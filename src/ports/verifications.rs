//! Pending number verifications.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{Phone, PhoneId};
use crate::domain::verification::{PendingVerification, VerificationCode};

/// What a code offered for a number came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeAttempt {
    /// The right code: the number is verified by SMS (as it is now), and
    /// its code is used up.
    Verified(Phone),
    /// A wrong code, counted.
    Wrong,
    Expired,
    /// The code died of too many wrong attempts.
    TooManyAttempts,
    /// No code is pending for the number.
    NotPending,
}

impl CodeAttempt {
    /// Its name, for logs: never the number.
    pub fn name(&self) -> &'static str {
        match self {
            CodeAttempt::Verified(_) => "verified",
            CodeAttempt::Wrong => "wrong",
            CodeAttempt::Expired => "expired",
            CodeAttempt::TooManyAttempts => "too_many_attempts",
            CodeAttempt::NotPending => "not_pending",
        }
    }
}

/// Every method answers `StoreError` when the store fails.
pub trait Verifications: Clone + Send + Sync + 'static {
    /// Stores a code for a number, replacing any pending one.
    ///
    /// # Errors
    /// `StoreError`.
    fn save(&self, pending: &PendingVerification) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The pending verification of the extra number `number`, if any.
    ///
    /// # Errors
    /// `StoreError`.
    fn pending_for_number(
        &self,
        number: &PhoneNumber,
    ) -> impl Future<Output = Result<Option<PendingVerification>, StoreError>> + Send;

    /// Checks `code` against the number's pending code at `now` (the
    /// domain's `PendingVerification::check`) and records what that comes
    /// to, in one step that no other attempt can interleave with: a wrong
    /// code is counted, the right one verifies the number and is used up.
    ///
    /// # Errors
    /// `StoreError`: nothing was counted or verified.
    fn try_code(
        &self,
        phone: PhoneId,
        code: &VerificationCode,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CodeAttempt, StoreError>> + Send;
}
