//! Delivery statuses on outbound log rows, in PostgreSQL.

use super::events::insert_event;
use super::{PgStore, failed};
use crate::domain::delivery::{DeliveryReport, DeliveryStatus, Recorded};
use crate::domain::events::AgentEvent;
use crate::domain::message::MessageSid;
use crate::domain::phone::PhoneNumber;
use crate::domain::user::UserId;
use crate::ports::{DeliveryLog, StoreError};

impl DeliveryLog for PgStore {
    async fn record_delivery(&self, report: &DeliveryReport, events: bool) -> Result<Recorded, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        // The row locked: callbacks for one message, at any instance, are
        // weighed one after another, so a status never moves backwards.
        let current = tx
            .query_opt(
                "SELECT delivery_status, user_id, phone_number, in_reply_to FROM sms_usage_logs
                 WHERE direction = 'outbound' AND message_sid = $1 FOR UPDATE",
                &[&report.sid.as_ref()],
            )
            .await
            .map_err(failed("failed to read a delivery status"))?;
        let Some(current) = current else {
            return Ok(Recorded::UnknownMessage);
        };
        let status: Option<&str> = current.get(0);
        if !report.status.advances(status.and_then(DeliveryStatus::parse)) {
            return Ok(Recorded::Stale);
        }
        tx.execute(
            "UPDATE sms_usage_logs SET delivery_status = $2, error_code = coalesce($3, error_code)
             WHERE direction = 'outbound' AND message_sid = $1",
            &[&report.sid.as_ref(), &report.status.name(), &report.error_code],
        )
        .await
        .map_err(failed("failed to record a delivery status"))?;
        if events
            && let (Some(user_id), Some(number), Some(in_reply_to)) = (
                current.get::<_, Option<i64>>(1),
                current
                    .get::<_, Option<&str>>(2)
                    .and_then(|n| PhoneNumber::from_stored(n).ok()),
                current
                    .get::<_, Option<&str>>(3)
                    .and_then(|sid| MessageSid::parse(sid).ok()),
            )
            && let Some(event) = AgentEvent::of_delivery(report, UserId(user_id), number, in_reply_to)
        {
            insert_event(&tx, &event)
                .await
                .map_err(failed("failed to queue an event for an agent"))?;
        }
        tx.commit()
            .await
            .map_err(failed("failed to commit a delivery status"))?;
        Ok(Recorded::Applied)
    }
}
