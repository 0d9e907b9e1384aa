//! Reading the usage log back: rows and summaries.

use std::future::Future;

use super::StoreError;
use super::page::{Page, PageRequest};
use crate::domain::report::{SummaryQuery, UsageFilter, UsageLogEntry, UsageSummary};

pub trait UsageReports: Clone + Send + Sync + 'static {
    /// Matching rows, newest first; a page's position is a row id, and
    /// `after` continues with older rows.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn list_usage_logs(
        &self,
        filter: UsageFilter,
        page: PageRequest,
    ) -> impl Future<Output = Result<Page<UsageLogEntry>, StoreError>> + Send;

    /// # Errors
    /// `StoreError` when the store cannot be read.
    fn summarize(&self, query: SummaryQuery) -> impl Future<Output = Result<UsageSummary, StoreError>> + Send;
}
