//! Who owns a phone number: what routing asks of the users' store.

use std::future::Future;

use super::StoreError;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::Recipient;

pub trait UserDirectory: Clone + Send + Sync + 'static {
    /// The user that owns `number`, as primary or as an extra number.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn recipient(&self, number: &PhoneNumber) -> impl Future<Output = Result<Option<Recipient>, StoreError>> + Send;

    /// A number that changes whenever any user or number changes, written by
    /// any process: lets a cache notice changes it did not make.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
}
