//! The outbox in SQLite. A message is taken for sending by marking it
//! `sending` in the same statement that reads it, so two workers never send
//! one twice, and that mark is synced before the send; its outbound log row
//! is written with its final status, once.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::SqliteStore;
use crate::adapters::rows::outbox_status::{PENDING, SENDING, SENT, UNKNOWN};
use crate::adapters::rows::{INTERRUPTED_SEND, SEND_ROW_COLUMNS, SendRow};
use crate::domain::message::{MessageSid, RequestId};
use crate::domain::phone::PhoneNumber;
use crate::domain::usage::Outcome;
use crate::domain::user::UserId;
use crate::ports::outbox::{media_of, media_text};
use crate::ports::{Backlog, Due, NewOutboxItem, Outbox, OutboxEntry, OutboxId, OutboxItem, OutboxStatus, StoreError};

/// The columns `item_from_row` reads.
const ITEM_COLUMNS: &str = "id, user_id, to_number, body, outcome, attempts, media, request_id, in_reply_to";

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

fn number(row: &Row<'_>, index: usize) -> rusqlite::Result<PhoneNumber> {
    let text: String = row.get(index)?;
    PhoneNumber::from_stored(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e)))
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: OutboxId(row.get(0)?),
        user_id: row.get::<_, Option<i64>>(1)?.map(UserId),
        to: number(row, 2)?,
        status: OutboxStatus::parse(&row.get::<_, String>(3)?),
        attempts: row.get(4)?,
        message_sid: row.get(5)?,
        created_at: row.get(6)?,
    })
}

/// Writes the outbound log row of a message that left the outbox.
fn log_outbound(
    tx: &Transaction<'_>,
    item: &OutboxItem,
    message_sid: Option<&str>,
    error: Option<&str>,
    code: Option<i64>,
) -> rusqlite::Result<()> {
    let row = SendRow::of(item, message_sid, error, code);
    tx.prepare_cached(&format!(
        "INSERT INTO sms_usage_logs ({SEND_ROW_COLUMNS}) VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        row.user_id,
        row.phone_number,
        row.outcome,
        row.message_sid,
        row.length,
        row.segments,
        row.success,
        row.error,
        row.code,
        row.metadata,
        row.encoding,
        row.ucs2_code_point,
        row.in_reply_to,
    ])?;
    Ok(())
}

/// An item from `ITEM_COLUMNS`.
fn item_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxItem> {
    let outcome: String = row.get(4)?;
    Ok(OutboxItem {
        id: OutboxId(row.get(0)?),
        user_id: row.get::<_, Option<i64>>(1)?.map(UserId),
        to: number(row, 2)?,
        body: row.get(3)?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Proactive),
        attempts: row.get(5)?,
        media: media_of(row.get::<_, Option<String>>(6)?.as_deref()),
        request_id: row.get::<_, Option<String>>(7)?.map(RequestId),
        in_reply_to: row
            .get::<_, Option<String>>(8)?
            .and_then(|sid| MessageSid::parse(&sid).ok()),
    })
}

/// Stores messages to send, within the caller's transaction.
pub(super) fn insert_items(conn: &Connection, items: &[NewOutboxItem]) -> rusqlite::Result<Vec<OutboxEntry>> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO sms_outbox (user_id, to_number, body, outcome, media, request_id, in_reply_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         RETURNING id, user_id, to_number, status, attempts, message_sid, created_at",
    )?;
    items
        .iter()
        .map(|item| {
            insert.query_row(
                params![
                    item.user_id.map(|u| u.0),
                    item.to.to_string(),
                    item.body,
                    item.outcome.name(),
                    media_text(&item.media),
                    item.request_id.as_ref().map(|id| id.0.as_str()),
                    item.in_reply_to.as_ref().map(AsRef::<str>::as_ref),
                ],
                entry_from_row,
            )
        })
        .collect()
}

impl Outbox for SqliteStore {
    async fn enqueue(&self, items: Vec<NewOutboxItem>) -> Result<Vec<OutboxEntry>, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let entries = insert_items(&tx, &items)?;
            tx.commit()?;
            Ok(entries)
        })
        .await
    }

    async fn take_next(&self) -> Result<Option<Due>, StoreError> {
        self.run_synced(move |conn| {
            let tx = conn.transaction()?;
            let item = tx
                .prepare_cached(&format!(
                    "UPDATE sms_outbox SET status = '{SENDING}', updated_at = {NOW}
                     WHERE id = (SELECT id FROM sms_outbox WHERE status = '{PENDING}' AND next_attempt_at <= {NOW}
                                 ORDER BY next_attempt_at, id LIMIT 1)
                     RETURNING {ITEM_COLUMNS}"
                ))?
                .query_row([], item_from_row)
                .optional()?;
            let Some(item) = item else {
                return Ok(None);
            };
            let recipient_opted_out = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_number = ?1)")?
                .query_row([item.to.to_string()], |row| row.get(0))?;
            tx.commit()?;
            Ok(Some(Due {
                item,
                recipient_opted_out,
            }))
        })
        .await
    }

    async fn mark_sent(&self, item: &OutboxItem, message_sid: &str) -> Result<(), StoreError> {
        let (item, sid) = (item.clone(), message_sid.to_owned());
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let taken = tx.execute(
                &format!(
                    "UPDATE sms_outbox SET status = '{SENT}', body = '', media = NULL, message_sid = ?2, attempts = attempts + 1,
                            error_message = NULL, updated_at = {NOW} WHERE id = ?1 AND status = '{SENDING}'"
                ),
                params![item.id.0, sid],
            )?;
            if taken == 1 {
                log_outbound(&tx, &item, Some(&sid), None, None)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn retry_later(&self, item: &OutboxItem, delay: Duration, error: &str) -> Result<(), StoreError> {
        let (id, error) = (item.id.0, error.to_owned());
        let seconds = format!("+{:.3} seconds", delay.as_secs_f64());
        self.run(move |conn| {
            conn.execute(
                &format!(
                    "UPDATE sms_outbox SET status = '{PENDING}', attempts = attempts + 1, error_message = ?2,
                            next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3), updated_at = {NOW}
                     WHERE id = ?1 AND status = '{SENDING}'"
                ),
                params![id, error, seconds],
            )?;
            Ok(())
        })
        .await
    }

    async fn give_up(
        &self,
        item: &OutboxItem,
        status: OutboxStatus,
        error: &str,
        code: Option<i64>,
    ) -> Result<(), StoreError> {
        let (item, error) = (item.clone(), error.to_owned());
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let taken = tx.execute(
                &format!(
                    "UPDATE sms_outbox SET status = ?2, body = '', media = NULL, attempts = attempts + 1, error_message = ?3,
                            error_code = ?4, updated_at = {NOW} WHERE id = ?1 AND status = '{SENDING}'"
                ),
                params![item.id.0, status.name(), error, code],
            )?;
            if taken == 1 {
                log_outbound(&tx, &item, None, Some(&error), code)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn recover_interrupted(&self) -> Result<usize, StoreError> {
        self.run(|conn| {
            let tx = conn.transaction()?;
            let items = tx
                .prepare(
                    &format!("SELECT {ITEM_COLUMNS} FROM sms_outbox WHERE status = '{SENDING}'"),
                )?
                .query_map([], item_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let why = INTERRUPTED_SEND;
            for item in &items {
                tx.execute(
                    &format!(
                        "UPDATE sms_outbox SET status = '{UNKNOWN}', body = '', media = NULL, error_message = ?2, updated_at = {NOW}
                         WHERE id = ?1"
                    ),
                    params![item.id.0, why],
                )?;
                log_outbound(&tx, item, None, Some(why), None)?;
            }
            tx.commit()?;
            Ok(items.len())
        })
        .await
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        self.run(|conn| Ok(backlog_of(conn)?)).await
    }
}

/// What waits in the outbox of the database `conn` reads (the store's, or
/// the doctor's read-only connection).
pub fn backlog_of(conn: &Connection) -> rusqlite::Result<Backlog> {
    let (pending, oldest): (i64, Option<String>) = conn
        .prepare_cached(&format!(
            "SELECT count(*), min(created_at) FROM sms_outbox WHERE status = '{PENDING}'"
        ))?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let sending: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM sms_outbox WHERE status = '{SENDING}'"))?
        .query_row([], |row| row.get(0))?;
    Ok(Backlog {
        pending: u64::try_from(pending).unwrap_or_default(),
        sending: u64::try_from(sending).unwrap_or_default(),
        oldest_pending_since: oldest
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
            .map(|at| at.with_timezone(&chrono::Utc)),
    })
}
