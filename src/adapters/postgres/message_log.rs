//! The usage log in PostgreSQL. The inbound row is the claim on its message
//! sid, across every instance, and says how far the message was answered;
//! a `processing` claim names the instance answering it. The message path's
//! writes go through `log_writer`, which commits them in groups; what each
//! does to the rows is here.
//!
//! Over 300 lines: the statements of every message-path write and of recovery,
//! which share the claim's states (`SETTLEABLE`, `OPEN`) and must agree on
//! them.

use anyhow::Context;
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::life;
use super::log_writer::{Done, Write};
use super::{PgStore, failed};
use crate::adapters::rows::INTERRUPTED_MESSAGE;
use crate::adapters::rows::{kept_reply, kept_reply_columns};
use crate::domain::phone::PhoneNumber;
use crate::domain::usage::{Answered, InboundClaim, InboundRecord, OutboundRecord, Outcome, TextShape};
use crate::domain::user::UserId;
use crate::ports::{Claim, ClaimId, Interrupted, KeptReply, MessageLog, NewOutboxItem, StoreError};

/// Inserts the inbound row of a message unless its sid has one, whichever
/// instance wrote it; then tells how the message was seen. A `processing`
/// claim of an instance that died, or of this one (no delivery here leads
/// it: the caller does), is taken over: marked interrupted.
pub(super) async fn claim_row(
    tx: &Transaction<'_>,
    instance: Uuid,
    judging: bool,
    claim: &InboundClaim,
) -> anyhow::Result<Claim> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO sms_usage_logs
               (phone_number, direction, outcome, message_sid, message_length, segments, claimed_by,
                encoding, ucs2_code_point)
             VALUES ($1, 'inbound', 'processing', $2, $3, $4, $5, $6, $7)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .await?;
    let length = i32::try_from(claim.shape.length).unwrap_or(i32::MAX);
    let segments = i32::try_from(claim.shape.segments).unwrap_or(i32::MAX);
    let code_point = code_point(&claim.shape);
    let inserted = tx
        .query_opt(
            &statement,
            &[
                &claim.from.as_str(),
                &claim.sid.as_ref(),
                &length,
                &segments,
                &instance,
                &claim.shape.encoding.name(),
                &code_point,
            ],
        )
        .await
        .context("failed to claim a message")?;
    if let Some(row) = inserted {
        return Ok(Claim::New(ClaimId(row.get(0))));
    }
    let statement = tx
        .prepare_cached(
            "SELECT l.id, l.outcome, l.deferred, l.sender_told, l.claimed_by, k.messages, k.media
             FROM sms_usage_logs l
             LEFT JOIN sms_kept_replies k ON k.log_id = l.id AND k.kept_until > now()
             WHERE l.message_sid = $1 AND l.direction = 'inbound'",
        )
        .await?;
    let row = tx
        .query_one(&statement, &[&claim.sid.as_ref()])
        .await
        .context("failed to read a claimed message")?;
    let (id, outcome, deferred, told): (ClaimId, String, bool, bool) =
        (ClaimId(row.get(0)), row.get(1), row.get(2), row.get(3));
    let claimed_by: Option<Uuid> = row.get(4);
    let (messages, media): (Option<String>, Option<String>) = (row.get(5), row.get(6));
    let outcome = Outcome::parse(&outcome).unwrap_or(Outcome::Processing);
    if outcome == Outcome::Processing {
        // A deferred message's sender is told through the outbox by
        // whoever takes its claim over; its webhook was answered empty.
        if deferred {
            return Ok(Claim::Answered(Answered {
                outcome,
                deferred,
                kept: None,
            }));
        }
        let left = match claimed_by {
            Some(owner) if owner == instance => true,
            Some(owner) => life::is_dead(tx, owner, judging).await?,
            None => true,
        };
        if !left {
            return Ok(Claim::Open);
        }
        let statement = tx
            .prepare_cached(
                "UPDATE sms_usage_logs SET outcome = 'interrupted', success = FALSE, claimed_by = NULL,
                        error_message = $2
                 WHERE id = $1 AND outcome = 'processing'",
            )
            .await?;
        tx.execute(&statement, &[&id.0, &INTERRUPTED_MESSAGE])
            .await
            .context("failed to take a claim over")?;
        return Ok(Claim::Interrupted(id));
    }
    if outcome == Outcome::Interrupted && !deferred && !told {
        return Ok(Claim::Interrupted(id));
    }
    Ok(Claim::Answered(Answered {
        outcome,
        deferred,
        kept: messages.and_then(|m| kept_reply(&m, media.as_deref())),
    }))
}

/// What `settle` may settle: a message being answered, or an interrupted
/// one being decided again whose sender no one has told.
pub(super) const SETTLEABLE: &str =
    "outcome = 'processing' OR (outcome = 'interrupted' AND NOT sender_told AND NOT deferred)";
/// What `settle_deferred` may settle: a message still being answered.
pub(super) const OPEN: &str = "outcome = 'processing'";

/// Records what became of a claimed message that is still open (`open`:
/// SQL over the row); false when it is not: settled already by an attempt
/// whose commit was reported failed but landed, or interrupted and told.
pub(super) async fn settle_row(
    tx: &Transaction<'_>,
    id: ClaimId,
    record: &InboundRecord,
    open: &str,
) -> anyhow::Result<bool> {
    let metadata = crate::adapters::log_metadata::inbound(record);
    let processing_ms = i64::try_from(record.processing_ms).unwrap_or(i64::MAX);
    let router_ms = i64::try_from(record.router_ms).unwrap_or(i64::MAX);
    let agent_ms = record.agent_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX));
    let params: [&(dyn ToSql + Sync); 10] = [
        &id.0,
        &record.outcome.name(),
        &record.user_id.map(|u| u.0),
        &record.outcome.is_success(),
        &record.error,
        &processing_ms,
        &metadata.to_string(),
        &record.deferred,
        &router_ms,
        &agent_ms,
    ];
    let statement = tx
        .prepare_cached(&format!(
            "UPDATE sms_usage_logs
             SET outcome = $2, user_id = $3, success = $4, error_message = $5, processing_time_ms = $6,
                 metadata = $7, deferred = deferred OR $8, claimed_by = NULL, router_time_ms = $9, agent_time_ms = $10
             WHERE id = $1 AND ({open})"
        ))
        .await?;
    let changed = tx
        .execute(&statement, &params)
        .await
        .context("failed to settle a message")?;
    Ok(changed == 1)
}

/// Whether the row of a claim that `settle` found closed holds an answer
/// that stands, rather than a notice given in its place.
pub(super) async fn answer_stands(tx: &Transaction<'_>, id: ClaimId) -> anyhow::Result<bool> {
    let statement = tx
        .prepare_cached("SELECT outcome FROM sms_usage_logs WHERE id = $1")
        .await?;
    let outcome: Option<String> = tx
        .query_opt(&statement, &[&id.0])
        .await
        .context("failed to read a settled message")?
        .map(|row| row.get(0));
    Ok(outcome.is_some_and(|o| o != Outcome::Interrupted.name()))
}

/// Keeps the agent's reply for the retries of its message.
pub(super) async fn keep_reply(tx: &Transaction<'_>, id: ClaimId, kept: &KeptReply) -> anyhow::Result<()> {
    let (messages, media) = kept_reply_columns(&kept.reply);
    let statement = tx
        .prepare_cached(
            "INSERT INTO sms_kept_replies (log_id, messages, media, kept_until) VALUES ($1, $2, $3, $4)
             ON CONFLICT (log_id) DO UPDATE SET
                 messages = excluded.messages, media = excluded.media, kept_until = excluded.kept_until",
        )
        .await?;
    tx.execute(&statement, &[&id.0, &messages, &media, &kept.until])
        .await
        .context("failed to keep a reply for retries")?;
    Ok(())
}

/// The code point that made a text UCS-2, as an `INTEGER` column holds it.
fn code_point(shape: &TextShape) -> Option<i32> {
    shape.forced_by_code_point().and_then(|c| i32::try_from(c).ok())
}

/// The outbound rows of the replies sent in the webhook's answer.
pub(super) async fn log_replies(
    tx: &Transaction<'_>,
    outcome: Outcome,
    replies: &[OutboundRecord],
    request_id: Option<&str>,
) -> anyhow::Result<()> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO sms_usage_logs
               (user_id, phone_number, direction, outcome, message_length, segments, success, metadata,
                encoding, ucs2_code_point)
             VALUES ($1, $2, 'outbound', $3, $4, $5, TRUE, $6, $7, $8)",
        )
        .await?;
    for reply in replies {
        let metadata = crate::adapters::log_metadata::outbound(request_id, reply.media);
        let length = i32::try_from(reply.shape.length).unwrap_or(i32::MAX);
        let segments = i32::try_from(reply.shape.segments).unwrap_or(i32::MAX);
        let code_point = code_point(&reply.shape);
        tx.execute(
            &insert,
            &[
                &reply.user_id.map(|u| u.0),
                &reply.to.as_str(),
                &outcome.name(),
                &length,
                &segments,
                &metadata,
                &reply.shape.encoding.name(),
                &code_point,
            ],
        )
        .await
        .context("failed to log a reply")?;
    }
    Ok(())
}

/// Queues items in the outbox, in the caller's transaction.
pub(super) async fn insert_items(tx: &Transaction<'_>, items: &[NewOutboxItem]) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let row = tx
            .query_one(
                "INSERT INTO sms_outbox (user_id, to_number, body, outcome, media, request_id, in_reply_to)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING id",
                &[
                    &item.user_id.map(|u| u.0),
                    &item.to.as_ref(),
                    &item.body,
                    &item.outcome.name(),
                    &crate::ports::outbox::media_text(&item.media),
                    &item.request_id.as_ref().map(|id| id.0.as_str()),
                    &item.in_reply_to.as_ref().map(AsRef::<str>::as_ref),
                ],
            )
            .await?;
        ids.push(row.get(0));
    }
    Ok(ids)
}

impl MessageLog for PgStore {
    async fn claim(&self, claim: &InboundClaim) -> Result<Claim, StoreError> {
        match self.log_writer.write(Write::Claim(claim.clone())).await? {
            Done::Claimed(claim) => Ok(claim),
            _ => Err(StoreError::new("the usage log writer answered out of turn")),
        }
    }

    async fn release(&self, id: ClaimId) -> Result<(), StoreError> {
        self.log_writer.write(Write::Release(id)).await.map(|_| ())
    }

    async fn defer(&self, id: ClaimId) -> Result<(), StoreError> {
        self.log_writer.write(Write::Defer(id)).await.map(|_| ())
    }

    async fn settle(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<OutboundRecord>,
        kept: Option<KeptReply>,
    ) -> Result<bool, StoreError> {
        match self.log_writer.write(Write::Settle(id, record, replies, kept)).await? {
            Done::Settled(stands) => Ok(stands),
            _ => Err(StoreError::new("the usage log writer answered out of turn")),
        }
    }

    async fn settle_deferred(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<NewOutboxItem>,
    ) -> Result<(), StoreError> {
        self.log_writer
            .write(Write::SettleDeferred(id, record, replies))
            .await
            .map(|_| ())
    }

    async fn tell_interrupted(&self, id: ClaimId, replies: Vec<OutboundRecord>) -> Result<bool, StoreError> {
        match self.log_writer.write(Write::Tell(id, replies)).await? {
            Done::Told(told) => Ok(told),
            _ => Err(StoreError::new("the usage log writer answered out of turn")),
        }
    }

    /// Marks interrupted the claims of instances that no longer live (see
    /// `life`): this one's earlier runs, any other whose process died, and
    /// any silent past its lease. The claims of live instances are theirs
    /// to settle.
    async fn interrupt_unfinished(&self, notice: Vec<String>) -> Result<Interrupted, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(failed("failed to begin"))?;
        let dead = life::dead_instances(&tx, self.instance, self.life.judging())
            .await
            .map_err(StoreError::new)?;
        let messages = tx
            .execute(
                "UPDATE sms_usage_logs SET outcome = 'interrupted', success = FALSE, claimed_by = NULL,
                    error_message = $2
                 WHERE outcome = 'processing'
                   AND (claimed_by IS NULL OR claimed_by = ANY($1)
                        OR NOT EXISTS (SELECT 1 FROM sms_instances i WHERE i.id = claimed_by))",
                &[&dead, &INTERRUPTED_MESSAGE],
            )
            .await
            .map_err(failed("failed to mark interrupted messages"))?;
        let mut told = 0;
        if !notice.is_empty() {
            let senders = tx
                .query(
                    "SELECT id, user_id, phone_number FROM sms_usage_logs
                     WHERE outcome = 'interrupted' AND NOT sender_told AND deferred AND direction = 'inbound'
                     FOR UPDATE SKIP LOCKED",
                    &[],
                )
                .await
                .map_err(failed("failed to read interrupted messages"))?;
            for row in senders {
                let (id, user_id, number): (i64, Option<i64>, Option<String>) = (row.get(0), row.get(1), row.get(2));
                // Only a number can be texted; the row is stored in E.164.
                if let Some(to) = number.and_then(|n| PhoneNumber::from_stored(&n).ok()) {
                    let items = NewOutboxItem::interruption_notices(user_id.map(UserId), &to, &notice);
                    insert_items(&tx, &items).await.map_err(StoreError::new)?;
                    told += 1;
                }
                tx.execute("UPDATE sms_usage_logs SET sender_told = TRUE WHERE id = $1", &[&id])
                    .await
                    .map_err(failed("failed to note a sender told"))?;
            }
        }
        life::forget(&tx, &dead).await.map_err(StoreError::new)?;
        tx.commit()
            .await
            .map_err(failed("failed to commit interrupted messages"))?;
        Ok(Interrupted {
            messages: usize::try_from(messages).unwrap_or(usize::MAX),
            told,
        })
    }
}
