//! Users and their numbers, as administrators manage them.

use std::future::Future;

use super::StoreError;
use super::page::{Page, PageRequest};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{
    NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, User, UserFilter, UserId, UserPatch,
};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The user or number named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A number or e-mail address belongs to someone else already; says which.
    #[error("{0} is already taken")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every method answers `RegistryError::Store` when the store fails; the
/// other variants are listed per method.
pub trait UserRegistry: Clone + Send + Sync + 'static {
    /// # Errors
    /// `Conflict` naming the number or e-mail when either is taken (numbers:
    /// as primary or as an extra number of anyone).
    fn create_user(&self, user: NewUser) -> impl Future<Output = Result<User, RegistryError>> + Send;

    /// # Errors
    /// `NotFound("user")`.
    fn get_user(&self, id: UserId) -> impl Future<Output = Result<User, RegistryError>> + Send;

    /// Users by ascending id.
    ///
    /// # Errors
    /// Only `Store`.
    fn list_users(
        &self,
        filter: UserFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<User>, RegistryError>> + Send;

    /// # Errors
    /// `NotFound("user")`; `Conflict` as `create_user`.
    fn update_user(&self, id: UserId, patch: UserPatch) -> impl Future<Output = Result<User, RegistryError>> + Send;

    /// Deletes the user and its extra numbers; its log rows stay, unowned.
    ///
    /// # Errors
    /// `NotFound("user")`.
    fn delete_user(&self, id: UserId) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// A user's extra numbers by ascending id.
    ///
    /// # Errors
    /// `NotFound("user")`.
    fn list_phones(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<Phone>, RegistryError>> + Send;

    /// Adds an extra number; made primary, it demotes the user's other one.
    ///
    /// # Errors
    /// `NotFound("user")`; `Conflict` naming the number when it is taken.
    fn add_phone(&self, user: UserId, phone: NewPhone) -> impl Future<Output = Result<Phone, RegistryError>> + Send;

    /// # Errors
    /// `NotFound("phone")`.
    fn get_phone(&self, id: PhoneId) -> impl Future<Output = Result<Phone, RegistryError>> + Send;

    /// # Errors
    /// `NotFound("phone")`.
    fn update_phone(&self, id: PhoneId, patch: PhonePatch)
    -> impl Future<Output = Result<Phone, RegistryError>> + Send;

    /// # Errors
    /// `NotFound("phone")`.
    fn delete_phone(&self, id: PhoneId) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// The user that owns `number` and where the number was found.
    ///
    /// # Errors
    /// Only `Store`.
    fn owner_of(
        &self,
        number: &PhoneNumber,
    ) -> impl Future<Output = Result<Option<(User, NumberSource)>, RegistryError>> + Send;
}
