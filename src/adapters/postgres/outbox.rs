//! The outbox in PostgreSQL, worked by every instance. A message is taken
//! with `FOR UPDATE SKIP LOCKED` and marked `sending` under this instance's
//! lease in the same statement, so no two instances send it; its result is
//! written only while the lease is this instance's. An item left `sending`
//! by an instance whose heartbeat stopped is resolved by another as
//! `unknown`: it may have gone out, so it is not sent again.

use crate::adapters::rows::outbox_status::{PENDING, SENDING, SENT, UNKNOWN};
use crate::adapters::rows::{SEND_ROW_COLUMNS, SendRow};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::life;
use super::message_log::insert_items;
use super::{PgStore, failed, stamp};
use crate::adapters::rows::INTERRUPTED_SEND;
use crate::domain::message::{MessageSid, RequestId};
use crate::domain::phone::PhoneNumber;
use crate::domain::usage::Outcome;
use crate::domain::user::UserId;
use crate::ports::outbox::media_of;
use crate::ports::{Backlog, Due, NewOutboxItem, Outbox, OutboxEntry, OutboxId, OutboxItem, OutboxStatus, StoreError};

fn number(text: &str) -> Result<PhoneNumber, StoreError> {
    PhoneNumber::from_stored(text).map_err(|_| StoreError::new("a stored outbox number is not in E.164"))
}

const ENTRY_COLUMNS: &str = "id, user_id, to_number, status, attempts, message_sid, created_at";

fn entry_from_row(row: &Row) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        id: OutboxId(row.get(0)),
        user_id: row.get::<_, Option<i64>>(1).map(UserId),
        to: number(row.get(2))?,
        status: OutboxStatus::parse(row.get(3)),
        attempts: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
        message_sid: row.get(5),
        created_at: stamp(row.get::<_, DateTime<Utc>>(6)),
    })
}

const ITEM_COLUMNS: &str = "id, user_id, to_number, body, outcome, attempts, media, request_id, in_reply_to";

fn item_from_row(row: &Row) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: OutboxId(row.get(0)),
        user_id: row.get::<_, Option<i64>>(1).map(UserId),
        to: number(row.get(2))?,
        body: row.get(3),
        outcome: Outcome::parse(row.get(4)).unwrap_or(Outcome::Proactive),
        attempts: u32::try_from(row.get::<_, i32>(5)).unwrap_or(0),
        media: media_of(row.get::<_, Option<&str>>(6)),
        request_id: row.get::<_, Option<String>>(7).map(RequestId),
        in_reply_to: row
            .get::<_, Option<&str>>(8)
            .and_then(|sid| MessageSid::parse(sid).ok()),
    })
}

/// Writes the outbound log row of a message that left the outbox.
async fn log_outbound(
    tx: &deadpool_postgres::Transaction<'_>,
    item: &OutboxItem,
    message_sid: Option<&str>,
    error: Option<&str>,
    code: Option<i64>,
) -> Result<(), StoreError> {
    let row = SendRow::of(item, message_sid, error, code);
    let length = i32::try_from(row.length).unwrap_or(i32::MAX);
    let segments = i32::try_from(row.segments).unwrap_or(i32::MAX);
    let code_point = row.ucs2_code_point.and_then(|c| i32::try_from(c).ok());
    tx.execute(
        &format!(
            "INSERT INTO sms_usage_logs ({SEND_ROW_COLUMNS}) VALUES ($1, $2, 'outbound', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
        &[
            &row.user_id,
            &row.phone_number,
            &row.outcome,
            &row.message_sid,
            &length,
            &segments,
            &row.success,
            &row.error,
            &row.code,
            &row.metadata,
            &row.encoding,
            &code_point,
            &row.in_reply_to,
        ],
    )
    .await
    .map_err(failed("failed to log a message sent"))?;
    Ok(())
}

impl Outbox for PgStore {
    async fn enqueue(&self, items: Vec<NewOutboxItem>) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let ids = insert_items(&tx, &items).await.map_err(StoreError::new)?;
        let rows = tx
            .query(
                &format!("SELECT {ENTRY_COLUMNS} FROM sms_outbox WHERE id = ANY($1) ORDER BY id"),
                &[&ids],
            )
            .await
            .map_err(failed("failed to read the outbox"))?;
        tx.commit().await.map_err(failed("failed to commit the outbox"))?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn take_next(&self) -> Result<Option<Due>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE sms_outbox SET status = '{SENDING}', lease_owner = $1, updated_at = now()
                     WHERE id = (SELECT id FROM sms_outbox WHERE status = '{PENDING}' AND next_attempt_at <= now()
                                 ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                     RETURNING {ITEM_COLUMNS}"
                ),
                &[&self.instance],
            )
            .await
            .map_err(failed("failed to take an outbox item"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let item = item_from_row(&row)?;
        let recipient_opted_out: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_number = $1)",
                &[&item.to.as_ref()],
            )
            .await
            .map_err(failed("failed to read an opt-out"))?
            .get(0);
        tx.commit()
            .await
            .map_err(failed("failed to commit an outbox item taken"))?;
        Ok(Some(Due {
            item,
            recipient_opted_out,
        }))
    }

    async fn mark_sent(&self, item: &OutboxItem, message_sid: &str) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let taken = tx
            .execute(
                &format!("UPDATE sms_outbox SET status = '{SENT}', body = '', media = NULL, message_sid = $2, attempts = attempts + 1,
                        error_message = NULL, lease_owner = NULL, updated_at = now()
                 WHERE id = $1 AND status = '{SENDING}' AND lease_owner = $3"),
                &[&item.id.0, &message_sid, &self.instance],
            )
            .await
            .map_err(failed("failed to record a message sent"))?;
        if taken == 1 {
            log_outbound(&tx, item, Some(message_sid), None, None).await?;
        }
        tx.commit().await.map_err(failed("failed to commit a message sent"))?;
        Ok(())
    }

    async fn retry_later(&self, item: &OutboxItem, delay: Duration, error: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "UPDATE sms_outbox SET status = '{PENDING}', attempts = attempts + 1, error_message = $2,
                        next_attempt_at = now() + $3 * interval '1 second', lease_owner = NULL, updated_at = now()
                 WHERE id = $1 AND status = '{SENDING}' AND lease_owner = $4"
                ),
                &[&item.id.0, &error, &delay.as_secs_f64(), &self.instance],
            )
            .await
            .map_err(failed("failed to put a message back"))?;
        Ok(())
    }

    async fn give_up(
        &self,
        item: &OutboxItem,
        status: OutboxStatus,
        error: &str,
        code: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let taken = tx
            .execute(
                &format!("UPDATE sms_outbox SET status = $2, body = '', media = NULL, attempts = attempts + 1, error_message = $3,
                        error_code = $4, lease_owner = NULL, updated_at = now()
                 WHERE id = $1 AND status = '{SENDING}' AND lease_owner = $5"),
                &[&item.id.0, &status.name(), &error, &code, &self.instance],
            )
            .await
            .map_err(failed("failed to give a message up"))?;
        if taken == 1 {
            log_outbound(&tx, item, None, Some(error), code).await?;
        }
        tx.commit()
            .await
            .map_err(failed("failed to commit a message given up"))?;
        Ok(())
    }

    /// Resolves the items left `sending` by instances that no longer live
    /// (see `life`): this one's earlier runs, any other whose process died,
    /// and any silent past its lease.
    async fn recover_interrupted(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let dead = life::dead_instances(&tx, self.instance, self.life.judging())
            .await
            .map_err(StoreError::new)?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {ITEM_COLUMNS} FROM sms_outbox
                     WHERE status = '{SENDING}'
                       AND (lease_owner IS NULL OR lease_owner = ANY($1)
                            OR NOT EXISTS (SELECT 1 FROM sms_instances i WHERE i.id = lease_owner))
                     FOR UPDATE SKIP LOCKED"
                ),
                &[&dead],
            )
            .await
            .map_err(failed("failed to read interrupted sends"))?;
        let items = rows.iter().map(item_from_row).collect::<Result<Vec<_>, _>>()?;
        let why = INTERRUPTED_SEND;
        for item in &items {
            tx.execute(
                &format!("UPDATE sms_outbox SET status = '{UNKNOWN}', body = '', media = NULL, error_message = $2, lease_owner = NULL,
                        updated_at = now()
                 WHERE id = $1"),
                &[&item.id.0, &why],
            )
            .await
            .map_err(failed("failed to resolve an interrupted send"))?;
            log_outbound(&tx, item, None, Some(why), None).await?;
        }
        life::forget(&tx, &dead).await.map_err(StoreError::new)?;
        tx.commit()
            .await
            .map_err(failed("failed to commit interrupted sends"))?;
        Ok(items.len())
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let client = self.client().await?;
        backlog_of(&client)
            .await
            .map_err(failed("failed to read what waits in the outbox"))
    }
}

/// What waits in the outbox of the database `client` reads (the store's,
/// or the doctor's connection).
pub async fn backlog_of(client: &tokio_postgres::Client) -> Result<Backlog, tokio_postgres::Error> {
    let row = client
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM sms_outbox WHERE status = '{PENDING}'),
                        (SELECT min(created_at) FROM sms_outbox WHERE status = '{PENDING}'),
                        (SELECT count(*) FROM sms_outbox WHERE status = '{SENDING}')"
            ),
            &[],
        )
        .await?;
    let (pending, sending): (i64, i64) = (row.get(0), row.get(2));
    Ok(Backlog {
        pending: u64::try_from(pending).unwrap_or_default(),
        sending: u64::try_from(sending).unwrap_or_default(),
        oldest_pending_since: row.get(1),
    })
}
