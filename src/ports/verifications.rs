//! Pending number verifications.

use std::future::Future;

use super::StoreError;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{Phone, PhoneId};
use crate::domain::verification::PendingVerification;

/// Every method answers `StoreError` when the store fails.
pub trait Verifications: Clone + Send + Sync + 'static {
    /// Stores a code for a number, replacing any pending one.
    ///
    /// # Errors
    /// `StoreError`.
    fn save(&self, pending: &PendingVerification) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// # Errors
    /// `StoreError`.
    fn pending(&self, phone: PhoneId) -> impl Future<Output = Result<Option<PendingVerification>, StoreError>> + Send;

    /// The pending verification of the extra number `number`, if any.
    ///
    /// # Errors
    /// `StoreError`.
    fn pending_for_number(
        &self,
        number: &PhoneNumber,
    ) -> impl Future<Output = Result<Option<PendingVerification>, StoreError>> + Send;

    /// Counts a wrong code.
    ///
    /// # Errors
    /// `StoreError`.
    fn count_attempt(&self, phone: PhoneId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks the number verified by SMS and drops its pending code, in one
    /// transaction; `None` when the number is gone.
    ///
    /// # Errors
    /// `StoreError`.
    fn confirm(&self, phone: PhoneId) -> impl Future<Output = Result<Option<Phone>, StoreError>> + Send;
}
