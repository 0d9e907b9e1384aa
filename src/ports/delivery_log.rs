//! Delivery statuses of the messages we sent, on their outbound log rows.

use std::future::Future;

use super::StoreError;
use crate::domain::delivery::{DeliveryReport, Recorded};

pub trait DeliveryLog: Clone + Send + Sync + 'static {
    /// Sets the status and error code of the outbound row of `report.sid`
    /// when the status moves it forward (`DeliveryStatus::advances`); with
    /// `events`, queues in the same transaction the event its agent is to
    /// hear (`AgentEvent::of_delivery`), when the row answered a user's
    /// message.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read or written.
    fn record_delivery(
        &self,
        report: &DeliveryReport,
        events: bool,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}
