//! Numbers that asked not to be texted.

use std::future::Future;

use super::StoreError;
use crate::domain::phone::PhoneNumber;

pub trait OptOutRegistry: Clone + Send + Sync + 'static {
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn is_opted_out(&self, number: &PhoneNumber) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records an opt-out; recording it twice is not an error.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be written.
    fn opt_out(&self, number: &PhoneNumber) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes an opt-out; removing a missing one is not an error.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be written.
    fn opt_in(&self, number: &PhoneNumber) -> impl Future<Output = Result<(), StoreError>> + Send;
}
