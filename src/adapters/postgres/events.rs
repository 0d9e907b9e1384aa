//! Events for the agents, in PostgreSQL: queued once per key, taken under
//! a lease (`FOR UPDATE SKIP LOCKED`: instances never take one together),
//! their end written.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{PgStore, failed, stamp};
use crate::adapters::rows::{EVENT_COLUMNS, GIVEN_UP, UNREADABLE_EVENT, event_from_columns, event_state};
use crate::domain::events::AgentEvent;
use crate::ports::{EventEnd, EventId, EventQueue, QueuedEvent, StoreError};

/// Queues `event` unless its key was queued before, on `client` (a
/// transaction's, where the event goes with another write).
pub(super) async fn insert_event(client: &impl GenericClient, event: &AgentEvent) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO sms_agent_events
               (idempotency_key, kind, user_id, phone_number, message_sid, reply_sid, status, error_code)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (idempotency_key) DO NOTHING",
            &[
                &event.key,
                &event.kind.name(),
                &event.user_id.0,
                &event.phone_number.as_ref(),
                &event.message_sid.as_ref().map(AsRef::<str>::as_ref),
                &event.reply_sid,
                &event.status,
                &event.error_code,
            ],
        )
        .await?;
    Ok(())
}

/// A taken event and its id; `None` for a row this build cannot read.
fn queued_from_row(row: &Row) -> (i64, Option<QueuedEvent>) {
    let id: i64 = row.get(0);
    let event = event_from_columns(
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
        row.get(8),
    );
    let attempts = u32::try_from(row.get::<_, i32>(10)).unwrap_or(0);
    let occurred_at = stamp(row.get::<_, DateTime<Utc>>(9));
    (
        id,
        event.map(|event| QueuedEvent {
            id: EventId(id),
            event,
            occurred_at,
            attempts,
        }),
    )
}

/// A duration as an `interval` parameter's text.
fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl EventQueue for PgStore {
    async fn queue_event(&self, event: &AgentEvent) -> Result<(), StoreError> {
        let client = self.client().await?;
        insert_event(&client, event)
            .await
            .map_err(failed("failed to queue an event for an agent"))
    }

    async fn take_event(&self, lease: Duration) -> Result<Option<QueuedEvent>, StoreError> {
        let client = self.client().await?;
        loop {
            let taken = client
                .query_opt(
                    &format!(
                        "UPDATE sms_agent_events
                         SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1),
                             updated_at = now()
                         WHERE id = (SELECT id FROM sms_agent_events
                                     WHERE state = 'pending' AND next_attempt_at <= now()
                                     ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING {EVENT_COLUMNS}"
                    ),
                    &[&seconds(lease)],
                )
                .await
                .map_err(failed("failed to take an event for an agent"))?;
            match taken.as_ref().map(queued_from_row) {
                None => return Ok(None),
                Some((_, Some(queued))) => return Ok(Some(queued)),
                // A row this build cannot read (written by hand, or by a
                // newer sms-router): set aside, and the next one taken.
                Some((id, None)) => {
                    client
                        .execute(
                            &format!("UPDATE sms_agent_events SET state = '{GIVEN_UP}', last_error = $2 WHERE id = $1"),
                            &[&id, &UNREADABLE_EVENT],
                        )
                        .await
                        .map_err(failed("failed to set an event aside"))?;
                }
            }
        }
    }

    async fn end_event(&self, id: EventId, end: EventEnd) -> Result<(), StoreError> {
        let (state, error, retry_after) = event_state(&end);
        let client = self.client().await?;
        client
            .execute(
                "UPDATE sms_agent_events
                 SET state = $2, last_error = $3, updated_at = now(),
                     next_attempt_at = now() + make_interval(secs => $4)
                 WHERE id = $1",
                &[&id.0, &state, &error, &seconds(retry_after)],
            )
            .await
            .map_err(failed("failed to record what became of an event"))?;
        Ok(())
    }
}
