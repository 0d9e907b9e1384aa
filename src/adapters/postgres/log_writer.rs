//! The writer of the usage log's message-path rows in PostgreSQL: one
//! task per group in flight, each gathering writes into one transaction
//! whose statements are pipelined, each caller answered once the group's
//! commit is durable; a group that fails is written again one write at a
//! time, so that one bad write fails alone. What each write does is in
//! `message_log`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use deadpool_postgres::Transaction;
use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::batches::SharedQueue;
use super::life::Life;
use super::message_log::{
    OPEN, SETTLEABLE, answer_stands, claim_row, insert_items, keep_reply, log_replies, settle_row,
};
use crate::domain::usage::{InboundClaim, InboundRecord, OutboundRecord, Outcome};
use crate::ports::{Claim, ClaimId, KeptReply, NewOutboxItem, StoreError};

/// The most writes one transaction holds.
const MAX_GROUP: usize = 256;
/// Groups in flight at once: while one commits (waiting for the disk),
/// the next is gathered and sent.
const WRITERS: usize = 2;
/// Writes that may wait for the writer before callers wait to queue.
const QUEUE: usize = 4096;

/// One write of the message path, as data: the writer runs it in its group.
pub(super) enum Write {
    Claim(InboundClaim),
    Release(ClaimId),
    Defer(ClaimId),
    Settle(ClaimId, InboundRecord, Vec<OutboundRecord>, Option<KeptReply>),
    SettleDeferred(ClaimId, InboundRecord, Vec<NewOutboxItem>),
    Tell(ClaimId, Vec<OutboundRecord>),
}

pub(super) enum Done {
    Claimed(Claim),
    Told(bool),
    Settled(bool),
    Nothing,
}

type Job = (Write, oneshot::Sender<Result<Done, StoreError>>);

#[derive(Clone)]
pub(super) struct LogWriter {
    jobs: mpsc::Sender<Job>,
}

impl LogWriter {
    /// Starts the writer task, which ends when the last `LogWriter` is
    /// dropped.
    pub(super) fn start(pool: deadpool_postgres::Pool, instance: Uuid, life: Arc<Life>, timeout: Duration) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = SharedQueue::new(queue);
        let writer = Writer {
            pool,
            instance,
            life,
            timeout,
        };
        for _ in 0..WRITERS {
            tokio::spawn(run(writer.clone(), queue.clone()));
        }
        LogWriter { jobs }
    }

    pub(super) async fn write(&self, write: Write) -> Result<Done, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send((write, answer))
            .await
            .map_err(|_| StoreError::new("the usage log writer has stopped"))?;
        answered
            .await
            .map_err(|_| StoreError::new("the usage log writer stopped before answering"))?
    }
}

/// What a writer task writes with.
#[derive(Clone)]
struct Writer {
    pool: deadpool_postgres::Pool,
    instance: Uuid,
    life: Arc<Life>,
    /// How long a group may take, from waiting for a connection to its
    /// commit; past it the group fails and its connection is closed.
    timeout: Duration,
}

async fn run(writer: Writer, queue: SharedQueue<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    // One writer gathers a group while the other commits its own.
    while queue.next_batch(&mut group, MAX_GROUP).await {
        let (writes, answers): (Vec<Write>, Vec<_>) = group.drain(..).unzip();
        let results = match commit_group(&writer, &writes).await {
            Ok(done) => done.into_iter().map(Ok).collect(),
            // One bad write must not fail the others: each alone, then.
            // A lost connection or database fails them all at once: written
            // one by one, each would wait out the pool's timeout again.
            Err(e) if writes.len() > 1 && statement_failed(&e) => {
                tracing::warn!(error = %format!("{e:#}"), writes = writes.len(), "a group of usage log writes failed: writing them one by one");
                let mut results = Vec::with_capacity(writes.len());
                for write in &writes {
                    let alone = commit_group(&writer, std::slice::from_ref(write)).await;
                    results.push(alone.map(|mut done| done.remove(0)).map_err(StoreError::new));
                }
                results
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "a usage log write failed");
                vec![Err(StoreError::new(e))]
            }
        };
        for (answer, result) in answers.into_iter().zip(results) {
            let _ = answer.send(result);
        }
    }
}

/// Whether the database refused a statement (as opposed to being out of
/// reach): then the writes are worth trying one by one.
fn statement_failed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(|e| e.as_db_error().is_some())
    })
}

/// Runs the writes in one transaction, sent together (tokio-postgres
/// pipelines the statements of concurrent futures): one round trip for the
/// group, not one per write, and one commit. Answers each write's result
/// once the transaction is committed; any failure fails them all. A group
/// that takes longer than the deadline fails (a transaction is committed
/// whole or not at all), and its connection, which may be silent, is
/// closed rather than given to the next group.
async fn commit_group(writer: &Writer, writes: &[Write]) -> anyhow::Result<Vec<Done>> {
    let deadline = tokio::time::Instant::now() + writer.timeout;
    let mut client = writer.pool.get().await.context("failed to get a database connection")?;
    let judging = writer.life.judging();
    let committing = async {
        let tx = client
            .transaction()
            .await
            .context("failed to begin writing the usage log")?;
        let done = try_join_all(writes.iter().map(|write| apply(&tx, writer.instance, judging, write))).await?;
        tx.commit().await.context("failed to commit the usage log")?;
        Ok(done)
    };
    match tokio::time::timeout_at(deadline, committing).await {
        Ok(done) => done,
        Err(_) => {
            drop(deadpool_postgres::Object::take(client));
            Err(anyhow::anyhow!(
                "the database did not commit the usage log within {} ms",
                writer.timeout.as_millis()
            ))
        }
    }
}

async fn apply(tx: &Transaction<'_>, instance: Uuid, judging: bool, write: &Write) -> anyhow::Result<Done> {
    Ok(match write {
        Write::Claim(claim) => Done::Claimed(claim_row(tx, instance, judging, claim).await?),
        Write::Release(id) => {
            let statement = tx
                .prepare_cached(
                    "DELETE FROM sms_usage_logs WHERE id = $1 AND direction = 'inbound' AND outcome = 'processing'",
                )
                .await?;
            tx.execute(&statement, &[&id.0])
                .await
                .context("failed to release a claim")?;
            Done::Nothing
        }
        Write::Defer(id) => {
            let statement = tx
                .prepare_cached("UPDATE sms_usage_logs SET deferred = TRUE WHERE id = $1")
                .await?;
            tx.execute(&statement, &[&id.0])
                .await
                .context("failed to note a deferred reply")?;
            Done::Nothing
        }
        Write::Settle(id, record, replies, kept) => {
            if !settle_row(tx, *id, record, SETTLEABLE).await? {
                return Ok(Done::Settled(answer_stands(tx, *id).await?));
            }
            log_replies(tx, record.outcome, replies, Some(&record.request_id.0)).await?;
            if let Some(kept) = kept {
                keep_reply(tx, *id, kept).await?;
            }
            Done::Settled(true)
        }
        Write::SettleDeferred(id, record, replies) => {
            // Only while still being answered: once the message is settled,
            // or interrupted (its sender told so), the reply is not queued
            // again.
            if settle_row(tx, *id, record, OPEN).await? {
                insert_items(tx, replies)
                    .await
                    .context("failed to queue a late reply")?;
            }
            Done::Nothing
        }
        Write::Tell(id, replies) => {
            let statement = tx
                .prepare_cached(
                    "UPDATE sms_usage_logs SET sender_told = TRUE
                     WHERE id = $1 AND outcome = 'interrupted' AND NOT sender_told",
                )
                .await?;
            let marked = tx
                .execute(&statement, &[&id.0])
                .await
                .context("failed to note a sender told")?;
            if marked > 0 {
                log_replies(tx, Outcome::Interrupted, replies, None).await?;
            }
            Done::Told(marked > 0)
        }
    })
}
