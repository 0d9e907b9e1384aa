//! Whether the service can do its work right now.

use std::future::Future;

use super::StoreError;

pub trait Readiness: Clone + Send + Sync + 'static {
    /// # Errors
    /// `StoreError` when the store cannot be read and written.
    fn check(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}
