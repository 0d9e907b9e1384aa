//! Events for the agents, in SQLite: queued once per key, taken under a
//! lease, their end written.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::adapters::rows::{EVENT_COLUMNS, GIVEN_UP, UNREADABLE_EVENT, event_from_columns, event_state};
use crate::domain::events::AgentEvent;
use crate::ports::{EventEnd, EventId, EventQueue, QueuedEvent, StoreError};

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Queues `event` unless its key was queued before, in the caller's
/// transaction.
pub(super) fn insert_event(conn: &Connection, event: &AgentEvent) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sms_agent_events
           (idempotency_key, kind, user_id, phone_number, message_sid, reply_sid, status, error_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )?
    .execute(params![
        event.key,
        event.kind.name(),
        event.user_id.0,
        event.phone_number.as_ref(),
        event.message_sid.as_ref().map(AsRef::<str>::as_ref),
        event.reply_sid,
        event.status,
        event.error_code,
    ])?;
    Ok(())
}

/// A taken event and its id; `None` for a row this build cannot read.
fn queued_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, Option<QueuedEvent>)> {
    let (id, attempts): (i64, u32) = (row.get(0)?, row.get(10)?);
    let event = event_from_columns(
        row.get::<_, String>(1)?,
        &row.get::<_, String>(2)?,
        row.get(3)?,
        &row.get::<_, String>(4)?,
        row.get::<_, Option<String>>(5)?.as_deref(),
        row.get(6)?,
        row.get::<_, Option<String>>(7)?.as_deref(),
        row.get(8)?,
    );
    let occurred_at: String = row.get(9)?;
    Ok((
        id,
        event.map(|event| QueuedEvent {
            id: EventId(id),
            event,
            occurred_at,
            attempts,
        }),
    ))
}

impl EventQueue for SqliteStore {
    async fn queue_event(&self, event: &AgentEvent) -> Result<(), StoreError> {
        let event = event.clone();
        // Synced as the outbox's takes are: a queued event survives a power cut.
        self.run_synced(move |conn| Ok(insert_event(conn, &event)?)).await
    }

    async fn take_event(&self, lease: Duration) -> Result<Option<QueuedEvent>, StoreError> {
        let lease = format!("+{} seconds", lease.as_secs());
        self.run(move |conn| {
            loop {
                let taken = conn
                    .prepare_cached(&format!(
                        "UPDATE sms_agent_events
                         SET attempts = attempts + 1, next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1),
                             updated_at = {NOW}
                         WHERE id = (SELECT id FROM sms_agent_events
                                     WHERE state = 'pending' AND next_attempt_at <= {NOW}
                                     ORDER BY next_attempt_at, id LIMIT 1)
                         RETURNING {EVENT_COLUMNS}"
                    ))?
                    .query_row([&lease], queued_from_row)
                    .optional()?;
                match taken {
                    None => return Ok(None),
                    Some((_, Some(queued))) => return Ok(Some(queued)),
                    // A row this build cannot read (written by hand): set
                    // aside, and the next one taken.
                    Some((id, None)) => {
                        conn.execute(
                            &format!("UPDATE sms_agent_events SET state = '{GIVEN_UP}', last_error = ?2 WHERE id = ?1"),
                            params![id, UNREADABLE_EVENT],
                        )?;
                    }
                }
            }
        })
        .await
    }

    async fn end_event(&self, id: EventId, end: EventEnd) -> Result<(), StoreError> {
        let (state, error, retry_after) = event_state(&end);
        let retry = format!("+{:.3} seconds", retry_after.as_secs_f64());
        self.run(move |conn| {
            conn.prepare_cached(&format!(
                "UPDATE sms_agent_events
                 SET state = ?2, last_error = ?3, updated_at = {NOW},
                     next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4)
                 WHERE id = ?1"
            ))?
            .execute(params![id.0, state, error, retry])?;
            Ok(())
        })
        .await
    }
}
