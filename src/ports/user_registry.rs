//! Users and their numbers, as administrators manage them.

use std::future::Future;

use super::StoreError;
use super::page::{Page, PageRequest};
use crate::domain::phone::PhoneNumber;
use crate::domain::user::{
    EmailAddress, NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, User, UserFilter, UserId, UserPatch,
};

/// A number or e-mail address that belongs to someone else already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Taken {
    #[error("e-mail address {} is already taken", .0.as_ref())]
    Email(EmailAddress),
    /// As a primary number or as an extra number of anyone.
    #[error("phone number {0} is already taken")]
    Number(PhoneNumber),
}

/// Why a user or number named by id cannot be read or removed.
#[derive(Debug, thiserror::Error)]
pub enum Missing {
    /// No user or number has that id.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a user cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Taken(Taken),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a user or number cannot be changed or added to a user.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No user (or number) has that id.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Taken(Taken),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Each method's error names exactly what can go wrong with it.
pub trait UserRegistry: Clone + Send + Sync + 'static {
    /// # Errors
    /// `Taken` naming the number or e-mail when either is taken.
    fn create_user(&self, user: NewUser) -> impl Future<Output = Result<User, CreateError>> + Send;

    fn get_user(&self, id: UserId) -> impl Future<Output = Result<User, Missing>> + Send;

    /// Users by ascending id.
    fn list_users(
        &self,
        filter: UserFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<User>, StoreError>> + Send;

    /// # Errors
    /// `Taken` as `create_user`.
    fn update_user(&self, id: UserId, patch: UserPatch) -> impl Future<Output = Result<User, ChangeError>> + Send;

    /// Deletes the user and its extra numbers; its log rows stay, unowned.
    fn delete_user(&self, id: UserId) -> impl Future<Output = Result<(), Missing>> + Send;

    /// A user's extra numbers by ascending id; `NotFound` names the user.
    fn list_phones(&self, user: UserId, page: PageRequest)
    -> impl Future<Output = Result<Page<Phone>, Missing>> + Send;

    /// Adds an extra number; made primary, it demotes the user's other one.
    ///
    /// # Errors
    /// `NotFound` names the user; `Taken` the number.
    fn add_phone(&self, user: UserId, phone: NewPhone) -> impl Future<Output = Result<Phone, ChangeError>> + Send;

    fn get_phone(&self, id: PhoneId) -> impl Future<Output = Result<Phone, Missing>> + Send;

    /// The number itself does not change, so nothing can collide.
    fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> impl Future<Output = Result<Phone, Missing>> + Send;

    fn delete_phone(&self, id: PhoneId) -> impl Future<Output = Result<(), Missing>> + Send;

    /// The user that owns `number` and where the number was found.
    ///
    fn owner_of(
        &self,
        number: &PhoneNumber,
    ) -> impl Future<Output = Result<Option<(User, NumberSource)>, StoreError>> + Send;
}
