//! The usage log's retention in SQLite: rows before a moment deleted in
//! batches, the oldest first, with their entries by number; the kept
//! replies past their time.

use chrono::{DateTime, Utc};

use super::reports::stamp;
use super::{SqliteStore, by_number};
use crate::ports::StoreError;

impl crate::ports::Retention for SqliteStore {
    async fn count_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let count: i64 = conn.query_row(
                "SELECT count(*) FROM sms_usage_logs WHERE created_at < ?1",
                [stamp(&cutoff)],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        self.run(move |conn| {
            // The agents' events closed before the cutoff go with the rows.
            conn.execute(
                "DELETE FROM sms_agent_events WHERE state <> 'pending' AND updated_at < ?1",
                [stamp(&cutoff)],
            )?;
            // The rows' entries by number go with them (`by_number`).
            let tx = conn.transaction()?;
            let purged = tx
                .prepare(
                    "DELETE FROM sms_usage_logs WHERE id IN (
                         SELECT id FROM sms_usage_logs
                         WHERE created_at < ?1 AND outcome <> 'processing'
                         ORDER BY created_at, id LIMIT ?2)
                     RETURNING id, phone_number",
                )?
                .query_map(rusqlite::params![stamp(&cutoff), batch], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            for (id, number) in &purged {
                if let Some(number) = number {
                    by_number::forget(&tx, number, *id)?;
                }
            }
            by_number::after_purge(&tx)?;
            tx.commit()?;
            Ok(purged.len() as u64)
        })
        .await
    }

    async fn forget_replies(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let deleted = conn.execute("DELETE FROM sms_kept_replies WHERE kept_until < ?1", [stamp(&now)])?;
            Ok(deleted as u64)
        })
        .await
    }
}
