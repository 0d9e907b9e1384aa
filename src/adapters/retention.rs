//! Applying the usage log's retention: in small batches with a pause
//! between them, so that the store's write lock is never held long and the
//! message path is answered meanwhile. The server does so daily; `sms-router
//! purge` once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::retention::cutoff;
use crate::ports::{Clock, Retention, SettingsStore, StoreError};

/// Rows deleted per transaction.
pub const BATCH: u32 = 1_000;
/// The pause between two batches: the message path's writes go between.
pub const PAUSE: Duration = Duration::from_millis(20);
/// How often the server applies the retention; the first time a minute
/// after it starts.
const EVERY: Duration = Duration::from_secs(24 * 60 * 60);
const FIRST_AFTER: Duration = Duration::from_secs(60);

/// Deletes every usage-log row created before `cutoff`, `BATCH` at a time;
/// tells `progress` of each batch; answers how many went.
///
/// # Errors
/// `StoreError` from a batch; the batches before it stay deleted.
pub async fn purge<S: Retention>(
    store: &S,
    cutoff: DateTime<Utc>,
    mut progress: impl FnMut(u64),
) -> Result<u64, StoreError> {
    let mut purged = 0;
    loop {
        let deleted = store.purge_before(cutoff, BATCH).await?;
        purged += deleted;
        progress(deleted);
        if deleted < u64::from(BATCH) {
            return Ok(purged);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// How often the replies kept for retries are looked at, and erased once
/// their time is out.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Erases the replies kept for retries once their time is out, every
/// minute, for as long as the runtime runs.
pub fn spawn_forgetting_replies<S: Retention>(
    store: S,
    clock: std::sync::Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FORGET_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = store.forget_replies(clock.now()).await {
                tracing::warn!(error = %e, "cannot erase the replies kept for retries; trying again in a minute");
            }
        }
    })
}

/// Applies the setting `usage_log_retention_days` daily, for as long as the
/// runtime runs.
pub fn spawn_daily<S: Retention + SettingsStore>(
    store: S,
    clock: std::sync::Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_AFTER).await;
        let mut every = tokio::time::interval(EVERY);
        loop {
            every.tick().await;
            let days = match store.current().await {
                Ok(settings) => settings.usage_log_retention_days,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the retention setting: no purge today");
                    continue;
                }
            };
            let Some(days) = days else { continue };
            match purge(&store, cutoff(clock.now(), days), |_| {}).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, days = days.get(), "purged usage-log rows past their retention"),
                Err(e) => tracing::warn!(error = %e, "the daily purge of the usage log failed; it runs again tomorrow"),
            }
        }
    })
}
