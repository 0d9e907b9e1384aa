//! How long the usage log keeps its rows.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;

pub trait Retention: Clone + Send + Sync + 'static {
    /// How many usage-log rows were created before `cutoff`.
    ///
    /// # Errors
    /// `StoreError`.
    fn count_before(&self, cutoff: DateTime<Utc>) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes at most `batch` usage-log rows created before `cutoff`, the
    /// oldest first, in one short transaction; answers how many. A message
    /// still being answered is never deleted.
    ///
    /// # Errors
    /// `StoreError`: nothing was deleted.
    fn purge_before(&self, cutoff: DateTime<Utc>, batch: u32) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Erases the replies kept for retries (`KeptReply`) whose time ran out
    /// before `now`; answers how many.
    ///
    /// # Errors
    /// `StoreError`: nothing was erased.
    fn forget_replies(&self, now: DateTime<Utc>) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
