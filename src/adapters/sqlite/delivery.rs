//! Delivery statuses on outbound log rows, in SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::domain::delivery::{DeliveryReport, DeliveryStatus, Recorded};
use crate::ports::{DeliveryLog, StoreError};

impl DeliveryLog for SqliteStore {
    async fn record_delivery(&self, report: &DeliveryReport) -> Result<Recorded, StoreError> {
        let report = report.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let current: Option<Option<String>> = tx
                .query_row(
                    "SELECT delivery_status FROM sms_usage_logs WHERE direction = 'outbound' AND message_sid = ?1",
                    [report.sid.as_ref()],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(current) = current else {
                return Ok(Recorded::UnknownMessage);
            };
            if !report
                .status
                .advances(current.as_deref().and_then(DeliveryStatus::parse))
            {
                return Ok(Recorded::Stale);
            }
            tx.execute(
                "UPDATE sms_usage_logs SET delivery_status = ?2, error_code = coalesce(?3, error_code)
                 WHERE direction = 'outbound' AND message_sid = ?1",
                params![report.sid.as_ref(), report.status.name(), report.error_code],
            )?;
            tx.commit()?;
            Ok(Recorded::Applied)
        })
        .await
    }
}
