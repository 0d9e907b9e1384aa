//! The run-time settings an administrator can change.

use std::future::Future;

use super::StoreError;
use crate::domain::settings::Settings;

pub trait SettingsStore: Clone + Send + Sync + 'static {
    /// The effective settings: stored values over defaults. A change made by
    /// this process shows at once, one made by another within a second.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn current(&self) -> impl Future<Output = Result<Settings, StoreError>> + Send;
}
