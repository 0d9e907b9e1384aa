//! The usage log in SQLite. The inbound row is the claim on its message sid
//! and says how far the message was answered. The message path's writes go
//! through the single log writer, committed in groups.
//!
//! Over 300 lines: the statements of every message-path write and of recovery,
//! which share the claim's states and must agree on them.

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::outbox::insert_items;
use crate::adapters::rows::{INTERRUPTED_MESSAGE, kept_reply, kept_reply_columns};
use crate::domain::phone::PhoneNumber;
use crate::domain::usage::{Answered, InboundClaim, InboundRecord, OutboundRecord, Outcome};
use crate::domain::user::UserId;
use crate::ports::{Claim, ClaimId, Interrupted, KeptReply, MessageLog, NewOutboxItem, StoreError};

/// Inserts the inbound row of a message unless its sid has one; then tells
/// how the message was seen. A `processing` row here is this process's
/// (the database is served by one process at a time) and no delivery of it
/// leads (the caller does): a claim a failed delivery left, taken over.
fn claim_row(conn: &Connection, claim: &InboundClaim) -> anyhow::Result<Claim> {
    let id: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO sms_usage_logs
               (phone_number, direction, outcome, message_sid, message_length, segments, encoding, ucs2_code_point)
             VALUES (?1, 'inbound', 'processing', ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )?
        .query_row(
            params![
                claim.from.as_str(),
                claim.sid.as_ref(),
                claim.shape.length,
                claim.shape.segments,
                claim.shape.encoding.name(),
                claim.shape.forced_by_code_point(),
            ],
            |row| row.get(0),
        )
        .optional()
        .context("failed to claim a message")?;
    if let Some(id) = id {
        return Ok(Claim::New(ClaimId(id)));
    }
    let seen = conn
        .prepare_cached(
            "SELECT l.id, l.outcome, l.deferred, l.sender_told, k.messages, k.media
             FROM sms_usage_logs l
             LEFT JOIN sms_kept_replies k
               ON k.log_id = l.id AND k.kept_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE l.message_sid = ?1 AND l.direction = 'inbound'",
        )?
        .query_row([claim.sid.as_ref()], |row| {
            let (messages, media): (Option<String>, Option<String>) = (row.get(4)?, row.get(5)?);
            Ok(Seen {
                id: ClaimId(row.get(0)?),
                outcome: row.get(1)?,
                deferred: row.get(2)?,
                told: row.get(3)?,
                kept: messages.and_then(|m| kept_reply(&m, media.as_deref())),
            })
        })
        .context("failed to read a claimed message")?;
    if seen.outcome == Outcome::Processing.name() && !seen.deferred {
        interrupt(conn, seen.id)?;
        return Ok(Claim::Interrupted(seen.id));
    }
    Ok(seen.claim())
}

/// A claimed message's row, as `claim_row` finds it.
struct Seen {
    id: ClaimId,
    outcome: String,
    deferred: bool,
    told: bool,
    kept: Option<crate::domain::reply::Reply>,
}

impl Seen {
    /// What a claim of the message is: interrupted and untold, it is
    /// decided again; else answered as its row says (being answered with
    /// its reply deferred, it was answered empty).
    fn claim(self) -> Claim {
        let outcome = Outcome::parse(&self.outcome).unwrap_or(Outcome::Processing);
        if outcome == Outcome::Interrupted && !self.deferred && !self.told {
            return Claim::Interrupted(self.id);
        }
        Claim::Answered(Answered {
            outcome,
            deferred: self.deferred,
            kept: self.kept,
        })
    }
}

/// Marks one claim interrupted, as a restart would.
fn interrupt(conn: &Connection, id: ClaimId) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE sms_usage_logs SET outcome = 'interrupted', success = 0, error_message = ?2
         WHERE id = ?1 AND outcome = 'processing'",
    )?
    .execute(params![id.0, INTERRUPTED_MESSAGE])?;
    Ok(())
}

/// Records what became of a claimed message that is still open (`open`:
/// SQL over the row); false when it is not: settled already by an earlier
/// attempt whose commit was reported failed but landed, or interrupted and
/// told otherwise.
fn settle_row(conn: &Connection, id: ClaimId, record: &InboundRecord, open: &str) -> rusqlite::Result<bool> {
    let metadata = crate::adapters::log_metadata::inbound(record);
    let changed = conn
        .prepare_cached(&format!(
            "UPDATE sms_usage_logs
             SET outcome = ?2, user_id = ?3, success = ?4, error_message = ?5, processing_time_ms = ?6, metadata = ?7,
                 deferred = deferred OR ?8, router_time_ms = ?9, agent_time_ms = ?10
             WHERE id = ?1 AND ({open})"
        ))?
        .execute(params![
            id.0,
            record.outcome.name(),
            record.user_id.map(|u| u.0),
            record.outcome.is_success(),
            record.error,
            i64::try_from(record.processing_ms).unwrap_or(i64::MAX),
            metadata.to_string(),
            record.deferred,
            i64::try_from(record.router_ms).unwrap_or(i64::MAX),
            record.agent_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        ])?;
    Ok(changed == 1)
}

/// What `settle` may settle: a message being answered, or an interrupted
/// one being decided again whose sender no one has told.
const SETTLEABLE: &str = "outcome = 'processing' OR (outcome = 'interrupted' AND sender_told = 0 AND deferred = 0)";

/// Whether the row of a claim that `settle` found closed holds an answer
/// that stands (settled as the caller meant), rather than a notice given
/// in its place.
fn answer_stands(conn: &Connection, id: ClaimId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT outcome FROM sms_usage_logs WHERE id = ?1")?
        .query_row([id.0], |row| row.get::<_, String>(0))
        .optional()
        .map(|outcome| outcome.is_some_and(|o| o != Outcome::Interrupted.name()))
}

/// Keeps the agent's reply for the retries of its message.
fn keep_reply(conn: &Connection, id: ClaimId, kept: &KeptReply) -> rusqlite::Result<()> {
    let (messages, media) = kept_reply_columns(&kept.reply);
    conn.prepare_cached(
        "INSERT INTO sms_kept_replies (log_id, messages, media, kept_until) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (log_id) DO UPDATE SET
             messages = excluded.messages, media = excluded.media, kept_until = excluded.kept_until",
    )?
    .execute(params![id.0, messages, media, stamp(kept.until)])?;
    Ok(())
}

/// A time as the store writes it: RFC 3339 in UTC, to the millisecond.
fn stamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The outbound rows of the replies sent in the webhook's answer.
fn log_replies(
    conn: &Connection,
    outcome: Outcome,
    replies: &[OutboundRecord],
    request_id: Option<&str>,
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO sms_usage_logs
           (user_id, phone_number, direction, outcome, message_length, segments, success, metadata,
            encoding, ucs2_code_point)
         VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, 1, ?6, ?7, ?8)",
    )?;
    for reply in replies {
        let metadata = crate::adapters::log_metadata::outbound(request_id, reply.media);
        insert.execute(params![
            reply.user_id.map(|u| u.0),
            reply.to.as_str(),
            outcome.name(),
            reply.shape.length,
            reply.shape.segments,
            metadata,
            reply.shape.encoding.name(),
            reply.shape.forced_by_code_point(),
        ])?;
    }
    Ok(())
}

impl MessageLog for SqliteStore {
    async fn claim(&self, claim: &InboundClaim) -> Result<Claim, StoreError> {
        let claim = claim.clone();
        self.log_writer.write(move |conn| claim_row(conn, &claim)).await
    }

    async fn release(&self, id: ClaimId) -> Result<(), StoreError> {
        self.log_writer
            .write(move |conn| {
                conn.prepare_cached(
                    "DELETE FROM sms_usage_logs WHERE id = ?1 AND direction = 'inbound' AND outcome = 'processing'",
                )?
                .execute([id.0])
                .context("failed to release a claim")?;
                Ok(())
            })
            .await
    }

    async fn defer(&self, id: ClaimId) -> Result<(), StoreError> {
        self.log_writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE sms_usage_logs SET deferred = 1 WHERE id = ?1")?
                    .execute([id.0])
                    .context("failed to note a deferred reply")?;
                Ok(())
            })
            .await
    }

    async fn settle(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<OutboundRecord>,
        kept: Option<KeptReply>,
    ) -> Result<bool, StoreError> {
        self.log_writer
            .write(move |conn| {
                if !settle_row(conn, id, &record, SETTLEABLE)? {
                    return Ok(answer_stands(conn, id)?);
                }
                log_replies(conn, record.outcome, &replies, Some(&record.request_id.0))?;
                if let Some(kept) = &kept {
                    keep_reply(conn, id, kept)?;
                }
                Ok(true)
            })
            .await
    }

    async fn settle_deferred(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<NewOutboxItem>,
    ) -> Result<(), StoreError> {
        self.log_writer
            .write(move |conn| {
                // Only while still being answered: once the message is
                // settled, or interrupted (its sender told so), the reply
                // is not queued again.
                if settle_row(conn, id, &record, "outcome = 'processing'")? {
                    insert_items(conn, &replies).context("failed to queue a late reply")?;
                }
                Ok(())
            })
            .await
    }

    async fn tell_interrupted(&self, id: ClaimId, replies: Vec<OutboundRecord>) -> Result<bool, StoreError> {
        self.log_writer
            .write(move |conn| {
                let marked = conn
                    .prepare_cached(
                        "UPDATE sms_usage_logs SET sender_told = 1
                         WHERE id = ?1 AND outcome = 'interrupted' AND sender_told = 0",
                    )?
                    .execute([id.0])?;
                if marked == 0 {
                    return Ok(false);
                }
                log_replies(conn, Outcome::Interrupted, &replies, None)?;
                Ok(true)
            })
            .await
    }

    async fn interrupt_unfinished(&self, notice: Vec<String>) -> Result<Interrupted, StoreError> {
        // Through the log writer, in its transaction and with its full sync:
        // a notice queued is never queued again.
        self.log_writer
            .write(move |conn| {
                let messages = conn.execute(
                    "UPDATE sms_usage_logs SET outcome = 'interrupted', success = 0, error_message = ?1
                     WHERE outcome = 'processing'",
                    [INTERRUPTED_MESSAGE],
                )?;
                let mut told = 0;
                if !notice.is_empty() {
                    let senders = conn
                        .prepare(
                            "SELECT id, user_id, phone_number FROM sms_usage_logs
                         WHERE outcome = 'interrupted' AND sender_told = 0 AND deferred = 1 AND direction = 'inbound'",
                        )?
                        .query_map([], |row| {
                            Ok((
                                row.get::<_, i64>(0)?,
                                row.get::<_, Option<i64>>(1)?,
                                row.get::<_, Option<String>>(2)?,
                            ))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    for (id, user_id, number) in senders {
                        // Only a number can be texted; the row is stored in E.164.
                        if let Some(to) = number.and_then(|n| PhoneNumber::from_stored(&n).ok()) {
                            let items = NewOutboxItem::interruption_notices(user_id.map(UserId), &to, &notice);
                            insert_items(conn, &items)?;
                            told += 1;
                        }
                        conn.execute("UPDATE sms_usage_logs SET sender_told = 1 WHERE id = ?1", [id])?;
                    }
                }
                Ok(Interrupted { messages, told })
            })
            .await
    }
}
