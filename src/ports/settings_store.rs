//! The run-time settings an administrator can change.

use std::future::Future;

use super::StoreError;
use crate::domain::settings::{SettingKey, Settings};

/// A value an administrator stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSetting {
    pub key: SettingKey,
    pub value: String,
    pub description: Option<String>,
    pub updated_at: String,
}

pub trait SettingsStore: Clone + Send + Sync + 'static {
    /// The effective settings: stored values over defaults. A change made by
    /// this process shows at once, one made by another within a second.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn current(&self) -> impl Future<Output = Result<Settings, StoreError>> + Send;

    /// The stored values of known keys.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn stored(&self) -> impl Future<Output = Result<Vec<StoredSetting>, StoreError>> + Send;

    /// Stores a value the caller has validated.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be written.
    fn put(
        &self,
        key: SettingKey,
        value: &str,
        description: Option<&str>,
    ) -> impl Future<Output = Result<StoredSetting, StoreError>> + Send;

    /// Removes a stored value, so the default applies; false when none was.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be written.
    fn delete(&self, key: SettingKey) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
