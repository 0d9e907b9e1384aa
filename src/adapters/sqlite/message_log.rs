//! The usage log in SQLite. The inbound row is the claim on its message sid.
//! Both writes go through the single log writer, committed in groups.

use anyhow::Context;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::domain::usage::{InboundClaim, InboundRecord, OutboundRecord};
use crate::ports::{Claim, ClaimId, MessageLog, StoreError};

/// Inserts the inbound row of a message unless its sid has one.
fn claim_row(conn: &rusqlite::Connection, claim: &InboundClaim) -> anyhow::Result<Claim> {
    let id: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO sms_usage_logs (phone_number, direction, outcome, message_sid, message_length, segments)
             VALUES (?1, 'inbound', 'processing', ?2, ?3, ?4)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )?
        .query_row(
            params![
                claim.from.as_str(),
                claim.sid.as_ref(),
                claim.shape.length,
                claim.shape.segments
            ],
            |row| row.get(0),
        )
        .optional()
        .context("failed to claim a message")?;
    Ok(id.map_or(Claim::Seen, |id| Claim::New(ClaimId(id))))
}

impl MessageLog for SqliteStore {
    async fn claim(&self, claim: &InboundClaim) -> Result<Claim, StoreError> {
        let claim = claim.clone();
        self.log_writer.write(move |conn| claim_row(conn, &claim)).await
    }

    async fn settle(&self, id: ClaimId, record: InboundRecord, replies: Vec<OutboundRecord>) -> Result<(), StoreError> {
        self.log_writer.write(move |conn| {
            let mut metadata = serde_json::json!({
                "to": record.to,
                "num_media": record.num_media,
                "request_id": record.request_id.0,
            });
            if record.deferred {
                metadata["deferred"] = serde_json::Value::Bool(true);
            }
            let metadata = metadata.to_string();
            conn.prepare_cached(
                "UPDATE sms_usage_logs
                 SET outcome = ?2, user_id = ?3, success = ?4, error_message = ?5, processing_time_ms = ?6, metadata = ?7
                 WHERE id = ?1",
            )?
            .execute(params![
                id.0,
                record.outcome.name(),
                record.user_id.map(|u| u.0),
                record.outcome.is_success(),
                record.error,
                i64::try_from(record.processing_ms).unwrap_or(i64::MAX),
                metadata,
            ])?;
            {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO sms_usage_logs
                       (user_id, phone_number, direction, outcome, message_length, segments, success, metadata)
                     VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, 1, ?6)",
                )?;
                for reply in &replies {
                    insert.execute(params![
                        reply.user_id.map(|u| u.0),
                        reply.to.as_str(),
                        record.outcome.name(),
                        reply.shape.length,
                        reply.shape.segments,
                        serde_json::json!({ "request_id": record.request_id.0 }).to_string(),
                    ])?;
                }
            }
            Ok(())
        })
        .await
    }
}
