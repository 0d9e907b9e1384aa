//! Numbers that asked not to be texted.

use std::future::Future;

use super::StoreError;
use super::page::{Page, PageRequest};
use crate::domain::phone::PhoneNumber;

/// A number that opted out, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    pub position: i64,
    pub phone_number: String,
    pub opted_out_at: String,
}

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

    /// The numbers opted out now, oldest first.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn list(&self, page: PageRequest) -> impl Future<Output = Result<Page<OptOut>, StoreError>> + Send;
}
