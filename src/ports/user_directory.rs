//! Who owns a phone number, and the users themselves.

use std::future::Future;

use super::StoreError;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{NewUser, Recipient, User};

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The number or e-mail address belongs to someone already.
    #[error("{0} is already taken")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub trait UserDirectory: Clone + Send + Sync + 'static {
    /// The user that owns `number`, as primary or as an extra number.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn recipient(&self, number: &PhoneNumber) -> impl Future<Output = Result<Option<Recipient>, StoreError>> + Send;

    /// # Errors
    /// `Conflict` naming the number or e-mail when either belongs to a user
    /// already (numbers: as primary or as an extra number); `Store` otherwise.
    fn create_user(&self, user: NewUser) -> impl Future<Output = Result<User, CreateUserError>> + Send;

    /// Every user, oldest first.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;

    /// A number that changes whenever any user or number changes, written by
    /// any process: lets a cache notice changes it did not make.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
}
