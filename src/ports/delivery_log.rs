//! Delivery statuses of the messages we sent, on their outbound log rows.

use std::future::Future;

use super::StoreError;
use crate::domain::delivery::{DeliveryReport, Recorded};

pub trait DeliveryLog: Clone + Send + Sync + 'static {
    /// Sets the status and error code of the outbound row of `report.sid`
    /// when the status moves it forward (`DeliveryStatus::advances`).
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read or written.
    fn record_delivery(&self, report: &DeliveryReport) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}
