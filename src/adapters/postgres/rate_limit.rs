//! One rate-limit bucket per sender, shared by every instance, kept in
//! PostgreSQL as GCRA: one timestamp per sender (the theoretical arrival
//! time of its next message) and one upsert per message. A burst of
//! `per_minute` messages, refilled at `per_minute` a minute, as the
//! in-memory limiter. Rows whose time has passed say nothing a missing row
//! would not, and are purged.

use std::num::NonZeroU32;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{PgStore, failed};
use crate::ports::{RateLimiter, StoreError};

#[derive(Clone)]
pub struct PgRateLimiter {
    store: PgStore,
    /// Seconds between two messages at the sustained rate.
    interval: f64,
    /// How far ahead of now a sender's time may run: the burst.
    tolerance: f64,
}

impl PgRateLimiter {
    pub fn per_minute(store: PgStore, per_minute: NonZeroU32) -> Self {
        let interval = 60.0 / f64::from(per_minute.get());
        PgRateLimiter {
            store,
            interval,
            tolerance: interval * f64::from(per_minute.get() - 1),
        }
    }

    /// Forgets senders whose bucket is full again, every `every`.
    pub fn spawn_cleaner(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let purged = async {
                    let client = store.relaxed_client().await?;
                    client
                        .execute("DELETE FROM sms_rate_limits WHERE tat < now()", &[])
                        .await
                        .map_err(failed("failed to purge idle rate limits"))
                };
                if let Err(e) = store.within(purged).await {
                    tracing::warn!(error = %e, "failed to purge idle rate limits");
                }
            }
        })
    }

    async fn take(&self, sender: &str) -> Result<bool, StoreError> {
        // A token's write lost in a crash lets a sender one message more:
        // not worth waiting for the disk.
        let client = self.store.relaxed_client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO sms_rate_limits (sender, tat) VALUES ($1, now() + $2 * interval '1 second')
                 ON CONFLICT (sender) DO UPDATE
                    SET tat = greatest(sms_rate_limits.tat, now()) + $2 * interval '1 second'
                    WHERE greatest(sms_rate_limits.tat, now()) <= now() + $3 * interval '1 second'
                 RETURNING 1",
            )
            .await
            .map_err(failed("failed to take a rate-limit token"))?;
        let taken = client
            .query_opt(&statement, &[&sender, &self.interval, &self.tolerance])
            .await
            .map_err(failed("failed to take a rate-limit token"))?;
        Ok(taken.is_some())
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
