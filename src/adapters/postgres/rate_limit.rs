//! One rate-limit bucket per sender, shared by every instance, kept in
//! PostgreSQL as GCRA: one timestamp per sender (the theoretical arrival
//! time of its next message) and one upsert per message. A burst of
//! `per_minute` messages, refilled at `per_minute` a minute, as the
//! in-memory limiter. Rows whose time has passed say nothing a missing row
//! would not, and are purged. The tokens of messages arriving together are
//! taken in one transaction, their upserts sent together: a transaction of
//! its own for each token was a quarter of PostgreSQL's work a message
//! (docs/performance.md).

use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::Context;
use futures_util::future::{BoxFuture, try_join_all};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use super::batches::SharedQueue;
use super::{PgStore, failed};
use crate::ports::{RateLimiter, StoreError};

/// The most tokens one transaction takes.
const MAX_BATCH: usize = 256;
/// Batches in flight at once: while one commits, the next is gathered.
const TAKERS: usize = 2;
/// Tokens that may wait for a taker before callers wait to queue.
const QUEUE: usize = 4096;

const TAKE: &str = "INSERT INTO sms_rate_limits (sender, tat) VALUES ($1, now() + $2 * interval '1 second')
     ON CONFLICT (sender) DO UPDATE
        SET tat = greatest(sms_rate_limits.tat, now()) + $2 * interval '1 second'
        WHERE greatest(sms_rate_limits.tat, now()) <= now() + $3 * interval '1 second'
     RETURNING 1";

/// A sender's token asked for, and where to answer whether it was taken.
type Take = (String, oneshot::Sender<Result<bool, StoreError>>);

#[derive(Clone)]
pub struct PgRateLimiter {
    store: PgStore,
    /// How far ahead of now a sender's time may run: the burst.
    tolerance: f64,
    takes: mpsc::Sender<Take>,
}

/// What the takers need to take tokens.
#[derive(Clone)]
struct Bucket {
    store: PgStore,
    /// Seconds between two messages at the sustained rate.
    interval: f64,
    tolerance: f64,
}

impl PgRateLimiter {
    /// The limiter, and its takers' tasks, which end with its last clone.
    /// Call it within a tokio runtime: the tasks are spawned on it.
    pub fn per_minute(store: PgStore, per_minute: NonZeroU32) -> Self {
        let interval = 60.0 / f64::from(per_minute.get());
        let bucket = Bucket {
            store: store.clone(),
            interval,
            tolerance: interval * f64::from(per_minute.get() - 1),
        };
        let (takes, queue) = mpsc::channel(QUEUE);
        let queue = SharedQueue::new(queue);
        for _ in 0..TAKERS {
            tokio::spawn(take_in_batches(bucket.clone(), queue.clone()));
        }
        PgRateLimiter {
            store,
            tolerance: bucket.tolerance,
            takes,
        }
    }

    /// Forgets senders whose bucket is full again, every `every`.
    pub fn spawn_cleaner(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = limiter.purge_idle().await {
                    tracing::warn!(error = %e, "failed to purge idle rate limits");
                }
            }
        })
    }

    /// Forgets the senders whose bucket is full again; answers how many.
    /// Rows a batch holds are skipped, left for the next purge: the purge
    /// never waits, so it never closes a circle of waits with a batch.
    ///
    /// # Errors
    /// `StoreError` when the database fails or does not answer in time.
    pub async fn purge_idle(&self) -> Result<u64, StoreError> {
        let purging = async {
            let client = self.store.relaxed_client().await?;
            client
                .execute(
                    "DELETE FROM sms_rate_limits WHERE sender IN (
                         SELECT sender FROM sms_rate_limits WHERE tat < now() FOR UPDATE SKIP LOCKED)",
                    &[],
                )
                .await
                .map_err(failed("failed to purge idle rate limits"))
        };
        self.store.within(purging).await
    }

    async fn take(&self, sender: &str) -> Result<bool, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.takes
            .send((sender.to_owned(), answer))
            .await
            .map_err(|_| StoreError::new("the rate limiter has stopped"))?;
        answered
            .await
            .map_err(|_| StoreError::new("the rate limiter stopped before answering"))?
    }

    async fn limited(&self, sender: &str) -> Result<bool, StoreError> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(
                "SELECT tat > now() + $2 * interval '1 second' FROM sms_rate_limits WHERE sender = $1",
                &[&sender, &self.tolerance],
            )
            .await
            .map_err(failed("failed to read a rate limit"))?;
        Ok(row.is_some_and(|r| r.get(0)))
    }
}

impl RateLimiter for PgRateLimiter {
    fn try_acquire<'a>(&'a self, sender: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.store.within(self.take(sender)))
    }

    fn is_limited<'a>(&'a self, sender: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.store.within(self.limited(sender)))
    }
}

/// Takes the tokens asked for, a batch at a time, until the limiter is gone.
async fn take_in_batches(bucket: Bucket, queue: SharedQueue<Take>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // One taker gathers a batch while the other commits its own.
    while queue.next_batch(&mut batch, MAX_BATCH).await {
        let (senders, answers): (Vec<String>, Vec<_>) = batch.drain(..).unzip();
        match bucket.take_all(&senders).await {
            Ok(taken) => {
                for (answer, taken) in answers.into_iter().zip(taken) {
                    let _ = answer.send(Ok(taken));
                }
            }
            Err(e) => {
                for answer in answers {
                    let _ = answer.send(Err(StoreError::new(format!("{e}"))));
                }
            }
        }
    }
}

impl Bucket {
    /// Takes a token for each sender (a sender twice takes two, the first
    /// asked first), in one transaction whose commit does not wait for the
    /// disk: a token lost in a crash lets a sender one message more.
    ///
    /// The senders' rows are taken in the order of their numbers, whatever
    /// the order they were asked in: every batch, of this instance or
    /// another, then locks rows in one order, and two batches never wait
    /// for each other (PostgreSQL would abort one as a deadlock, and each
    /// of its messages be answered 503).
    async fn take_all(&self, senders: &[String]) -> Result<Vec<bool>, StoreError> {
        let mut order: Vec<usize> = (0..senders.len()).collect();
        order.sort_by(|&a, &b| senders[a].cmp(&senders[b]));
        let mut client = self.store.relaxed_client().await?;
        let taking = async {
            let tx = client
                .transaction()
                .await
                .context("failed to begin taking rate-limit tokens")?;
            let statement = tx
                .prepare_cached(TAKE)
                .await
                .context("failed to take a rate-limit token")?;
            // Sent together, answered in order: one round trip for the batch.
            let params: Vec<[&(dyn ToSql + Sync); 3]> = order
                .iter()
                .map(|&i| [&senders[i] as &(dyn ToSql + Sync), &self.interval, &self.tolerance])
                .collect();
            let rows = try_join_all(params.iter().map(|params| tx.query_opt(&statement, params)))
                .await
                .context("failed to take a rate-limit token")?;
            tx.commit().await.context("failed to take rate-limit tokens")?;
            let mut taken = vec![false; senders.len()];
            for (&i, row) in order.iter().zip(&rows) {
                taken[i] = row.is_some();
            }
            anyhow::Ok(taken)
        };
        // Past the store's deadline the batch fails, and its connection,
        // which may be silent, is not given to another.
        let timeout = self.store.timeout();
        match tokio::time::timeout(timeout, taking).await {
            Ok(taken) => taken.map_err(StoreError::new),
            Err(_) => {
                drop(deadpool_postgres::Object::take(client));
                Err(StoreError::new(format!(
                    "the database did not answer within {} ms",
                    timeout.as_millis()
                )))
            }
        }
    }
}
