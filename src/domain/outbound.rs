//! Sending what waits in the outbox: retries with backoff where a retry can
//! help, never a blind second send where the first may have gone out.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::{Messenger, Metrics, OptOutRegistry, Outbox, OutboxItem, OutboxStatus, SendError, StoreError};

/// How often and how long to retry a send that may succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
            max_attempts: 6,
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt once `attempts` have failed;
    /// `None` when no attempt is left. Doubles each time, up to `max_delay`.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        Some(self.first_delay.saturating_mul(factor).min(self.max_delay))
    }
}

/// The store and the messenger are what deployments and tests replace.
pub struct Dispatcher<S, M> {
    pub store: S,
    pub messenger: M,
    pub metrics: Arc<dyn Metrics>,
    pub policy: RetryPolicy,
}

/// How many messages one round takes: one, so that each is marked in flight
/// just before its own send. A stop, a crash or a store error then leaves
/// at most the message being sent in doubt, never others taken with it.
const BATCH: u32 = 1;

impl<S: Outbox + OptOutRegistry, M: Messenger> Dispatcher<S, M> {
    /// Sends the next message due, if one is; answers how many were taken.
    ///
    /// # Errors
    /// `StoreError` when the outbox cannot be read or written.
    pub async fn dispatch_due(&self) -> Result<usize, StoreError> {
        let items = self.store.take_due(BATCH).await?;
        for item in &items {
            self.dispatch(item).await?;
        }
        Ok(items.len())
    }

    #[tracing::instrument(skip_all, fields(outbox_id = item.id.0, to = %item.to.masked(), attempt = item.attempts + 1))]
    async fn dispatch(&self, item: &OutboxItem) -> Result<(), StoreError> {
        let error = match self.messenger.send(&item.to, &item.body).await {
            Ok(sid) => {
                tracing::info!(message_sid = %sid, "message sent");
                return self.store.mark_sent(item, &sid).await;
            }
            Err(error) => error,
        };
        let reason = error.to_string();
        match &error {
            SendError::TooManyRequests | SendError::Unavailable(_) => {
                if let Some(delay) = self.policy.delay_after(item.attempts + 1) {
                    tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "send failed; will retry");
                    return self.store.retry_later(item, delay, &reason).await;
                }
                self.metrics.error("send_failed");
                tracing::error!(error = %reason, "send failed; no attempt left");
                let why = format!("{reason}; gave up after {} attempts", item.attempts + 1);
                self.store.give_up(item, OutboxStatus::Failed, &why, error.code()).await
            }
            SendError::OptedOut => {
                tracing::warn!("the recipient opted out: recorded, not retried");
                self.store.opt_out(&item.to).await?;
                self.store
                    .give_up(item, OutboxStatus::Failed, &reason, error.code())
                    .await
            }
            SendError::InvalidNumber | SendError::Rejected { .. } => {
                self.metrics.error("send_rejected");
                tracing::error!(error = %reason, "send refused");
                self.store
                    .give_up(item, OutboxStatus::Failed, &reason, error.code())
                    .await
            }
            SendError::Unknown(_) => {
                self.metrics.error("send_unknown");
                tracing::error!(error = %reason, "send outcome unknown: not repeated");
                self.store.give_up(item, OutboxStatus::Unknown, &reason, None).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_then_stop() {
        let policy = RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            max_attempts: 5,
        };
        let delays: Vec<_> = (1..=5).map(|a| policy.delay_after(a).map(|d| d.as_secs())).collect();
        assert_eq!(delays, [Some(1), Some(2), Some(4), Some(5), None]);
    }
}
