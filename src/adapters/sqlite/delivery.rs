//! Delivery statuses on outbound log rows, in SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::events::insert_event;
use crate::domain::delivery::{DeliveryReport, DeliveryStatus, Recorded};
use crate::domain::events::AgentEvent;
use crate::domain::message::MessageSid;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::UserId;
use crate::ports::{DeliveryLog, StoreError};

impl DeliveryLog for SqliteStore {
    async fn record_delivery(&self, report: &DeliveryReport, events: bool) -> Result<Recorded, StoreError> {
        let report = report.clone();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            type Current = (Option<String>, Option<i64>, Option<String>, Option<String>);
            let current: Option<Current> = tx
                .query_row(
                    "SELECT delivery_status, user_id, phone_number, in_reply_to FROM sms_usage_logs
                     WHERE direction = 'outbound' AND message_sid = ?1",
                    [report.sid.as_ref()],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            let Some((current, user_id, phone_number, in_reply_to)) = current else {
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
            if events
                && let (Some(user_id), Some(number), Some(in_reply_to)) = (
                    user_id,
                    phone_number.and_then(|n| PhoneNumber::from_stored(&n).ok()),
                    in_reply_to.and_then(|sid| MessageSid::parse(&sid).ok()),
                )
                && let Some(event) = AgentEvent::of_delivery(&report, UserId(user_id), number, in_reply_to)
            {
                insert_event(&tx, &event)?;
            }
            tx.commit()?;
            Ok(Recorded::Applied)
        })
        .await
    }
}
