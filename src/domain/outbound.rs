//! Sending what waits in the outbox: retries with backoff where a retry can
//! help, never a blind second send where the first may have gone out.

use std::sync::Arc;
use std::time::Duration;

use super::events::AgentEvent;
use super::usage::Outcome;
use crate::ports::{
    Backlog, Clock, Due, EventQueue, Messenger, Metrics, OptOutRegistry, Outbox, OutboxItem, OutboxStatus, SendError,
    SettingsStore, StoreError,
};

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
    /// `None` when no attempt is left. Doubles each time, up to `max_delay`;
    /// longer when the provider `asked` for a longer wait, but never past
    /// `max_delay`.
    pub fn delay_after(&self, attempts: u32, asked: Option<Duration>) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        let backoff = self.first_delay.saturating_mul(factor).min(self.max_delay);
        Some(asked.map_or(backoff, |asked| backoff.max(asked.min(self.max_delay))))
    }
}

/// The store, the messenger and the clock are what deployments and tests
/// replace.
pub struct Dispatcher<S, M> {
    pub store: S,
    pub messenger: M,
    pub metrics: Arc<dyn Metrics>,
    pub clock: Arc<dyn Clock>,
    pub policy: RetryPolicy,
}

/// The pauses before writing a send's result again when the store fails
/// to: the send itself is never repeated. A result still unwritten after
/// them leaves its message in flight, `unknown` at the next start.
const WRITE_AGAIN_AFTER: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(4),
];

/// What becomes of a message once it was tried, or found not to be sent.
#[derive(Debug)]
enum Fate {
    Sent(String),
    RetryLater { delay: Duration, error: String },
    Closed(Closing),
}

/// A message not to be tried again, and why.
#[derive(Debug)]
struct Closing {
    status: OutboxStatus,
    /// The outcome its outbound log row carries.
    outcome: Outcome,
    error: String,
    code: Option<i64>,
    /// Whether the recipient's opt-out is to be recorded.
    record_opt_out: bool,
}

impl<S: Outbox + OptOutRegistry + EventQueue + SettingsStore, M: Messenger> Dispatcher<S, M> {
    /// Sends the message due first, if one is, and records what came of
    /// it; answers whether there was one. Each message is marked in flight
    /// in its own write just before its own send, so a failure, a stop or
    /// a crash leaves every other message pending.
    ///
    /// # Errors
    /// `StoreError` when no message could be taken.
    pub async fn dispatch_next(&self) -> Result<bool, StoreError> {
        let Some(due) = self.store.take_next().await? else {
            return Ok(false);
        };
        self.dispatch(due).await;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(outbox_id = due.item.id.0, to = %due.item.to.masked(), attempt = due.item.attempts + 1))]
    async fn dispatch(&self, due: Due) {
        let fate = if due.recipient_opted_out {
            tracing::info!("the recipient opted out before the message was sent: not sent");
            Fate::Closed(Closing {
                status: OutboxStatus::Failed,
                outcome: Outcome::OptedOut,
                error: "the recipient opted out before it was sent".to_owned(),
                code: None,
                record_opt_out: false,
            })
        } else {
            self.send(&due.item).await
        };
        self.write(&due.item, fate).await;
    }

    /// Sends a message once and reads what came of it.
    async fn send(&self, item: &OutboxItem) -> Fate {
        let error = match self.messenger.send(&item.to, &item.body, &item.media).await {
            Ok(sid) => {
                tracing::info!(message_sid = %sid, "message sent");
                return Fate::Sent(sid);
            }
            Err(error) => error,
        };
        let reason = error.to_string();
        let closing = |status, outcome| Closing {
            status,
            outcome,
            error: reason.clone(),
            code: error.code(),
            record_opt_out: false,
        };
        match &error {
            SendError::TooManyRequests { .. } | SendError::Unavailable(_) => {
                let asked = match &error {
                    SendError::TooManyRequests { retry_after } => *retry_after,
                    _ => None,
                };
                if let Some(delay) = self.policy.delay_after(item.attempts + 1, asked) {
                    tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "send failed; will retry");
                    return Fate::RetryLater { delay, error: reason };
                }
                self.metrics.error("send_failed");
                tracing::error!(error = %reason, "send failed; no attempt left");
                Fate::Closed(Closing {
                    error: format!("{reason}; gave up after {} attempts", item.attempts + 1),
                    ..closing(OutboxStatus::Failed, item.outcome)
                })
            }
            SendError::OptedOut => {
                tracing::warn!("the recipient opted out: recorded, not retried");
                Fate::Closed(Closing {
                    record_opt_out: true,
                    ..closing(OutboxStatus::Failed, Outcome::OptedOut)
                })
            }
            SendError::InvalidNumber | SendError::Rejected { .. } => {
                self.metrics.error("send_rejected");
                tracing::error!(error = %reason, "send refused");
                Fate::Closed(closing(OutboxStatus::Failed, item.outcome))
            }
            SendError::Unknown(_) => {
                self.metrics.error("send_unknown");
                tracing::error!(error = %reason, "send outcome unknown: not repeated");
                Fate::Closed(Closing {
                    code: None,
                    ..closing(OutboxStatus::Unknown, item.outcome)
                })
            }
        }
    }

    /// Writes what came of a message, again after a pause when the store
    /// fails; never sends again.
    async fn write(&self, item: &OutboxItem, fate: Fate) {
        let mut pauses = WRITE_AGAIN_AFTER.iter();
        loop {
            let Err(e) = self.write_once(item, &fate).await else {
                return;
            };
            let Some(pause) = pauses.next() else {
                self.metrics.error("send_unrecorded");
                tracing::error!(error = %e, "cannot record what came of a send: left in flight, marked unknown at the next start");
                return;
            };
            tracing::warn!(error = %e, "cannot record what came of a send; trying again");
            self.clock.sleep(*pause).await;
        }
    }

    async fn write_once(&self, item: &OutboxItem, fate: &Fate) -> Result<(), StoreError> {
        match fate {
            Fate::Sent(sid) => self.store.mark_sent(item, sid).await,
            Fate::RetryLater { delay, error } => self.store.retry_later(item, *delay, error).await,
            Fate::Closed(closing) => {
                if closing.record_opt_out {
                    self.store.opt_out(&item.to).await?;
                }
                // Queued before the item is closed, so that a stop between
                // the two loses no event (written again, it is queued once).
                if closing.status == OutboxStatus::Failed
                    && let Some(event) =
                        AgentEvent::of_closed_send(item, closing.outcome == Outcome::OptedOut, closing.code)
                    && self.store.current().await?.agent_events
                {
                    self.store.queue_event(&event).await?;
                }
                let item = OutboxItem {
                    outcome: closing.outcome,
                    ..item.clone()
                };
                self.store
                    .give_up(&item, closing.status, &closing.error, closing.code)
                    .await
            }
        }
    }
}

/// How long the oldest pending message has waited, when that is longer than
/// `after`: the outbox is stalled (Twilio refusing, the worker stuck),
/// though the service still answers.
pub fn stalled(backlog: &Backlog, now: chrono::DateTime<chrono::Utc>, after: Duration) -> Option<Duration> {
    let waited = (now - backlog.oldest_pending_since?).to_std().ok()?;
    (waited > after).then_some(waited)
}

/// What `/readyz` and `doctor` say of a stalled outbox.
pub fn stall_notice(waited: Duration, after: Duration) -> String {
    format!(
        "degraded: the oldest message waiting to be sent has waited {} s, more than SMS_ROUTER_OUTBOX_STALL_SECS ({} s)",
        waited.as_secs(),
        after.as_secs()
    )
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
        let delays: Vec<_> = (1..=5)
            .map(|a| policy.delay_after(a, None).map(|d| d.as_secs()))
            .collect();
        assert_eq!(delays, [Some(1), Some(2), Some(4), Some(5), None]);
    }

    #[test]
    fn a_wait_the_provider_asks_for_is_kept_up_to_the_cap() {
        let policy = RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_attempts: 5,
        };
        let secs = |attempts, asked: u64| {
            policy
                .delay_after(attempts, Some(Duration::from_secs(asked)))
                .map(|d| d.as_secs())
        };
        assert_eq!(secs(1, 3), Some(3), "longer than the backoff: asked");
        assert_eq!(secs(4, 3), Some(8), "shorter than the backoff: the backoff");
        assert_eq!(secs(1, 3600), Some(60), "capped");
        assert_eq!(secs(5, 3), None, "no attempt left");
    }

    #[test]
    fn an_outbox_is_stalled_once_its_oldest_pending_message_waited_past_the_threshold() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let since = |secs| Backlog {
            pending: 1,
            sending: 0,
            oldest_pending_since: Some(now - chrono::Duration::seconds(secs)),
        };
        let five_minutes = Duration::from_secs(300);
        assert_eq!(stalled(&Backlog::default(), now, five_minutes), None);
        assert_eq!(stalled(&since(300), now, five_minutes), None);
        assert_eq!(stalled(&since(301), now, five_minutes), Some(Duration::from_secs(301)));
        // A clock behind the store's: not stalled.
        assert_eq!(stalled(&since(-60), now, five_minutes), None);
    }
}
