//! Sending the queued events to the agents, one after another, each at
//! least once: retried with backoff, never to an agent that said 404 (until
//! restart), never to another user's agent.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::outbound::RetryPolicy;
use crate::domain::user::AgentEndpoint;
use crate::ports::{
    EventEnd, EventNotifier, EventQueue, NotifyError, QueuedEvent, SettingsStore, StoreError, UserDirectory,
};

/// How events are retried: about a day in all, so an agent down
/// for a night still hears of the replies of the evening.
pub const EVENT_RETRY: RetryPolicy = RetryPolicy {
    first_delay: Duration::from_secs(5),
    max_delay: Duration::from_secs(60 * 60),
    max_attempts: 32,
};

/// How long a taken event is left to its sender before another may take
/// it: well past the notifier's deadline.
pub const EVENT_LEASE: Duration = Duration::from_secs(120);

/// Sends queued events to the agents, one after another.
#[derive(Clone)]
pub struct EventSender<S, N> {
    pub store: S,
    pub notifier: N,
    pub policy: RetryPolicy,
    /// The agents that answered 404 to an event (`None`: the service's
    /// own): not asked again until the process restarts.
    declined: Arc<Mutex<HashSet<Option<AgentEndpoint>>>>,
}

impl<S: EventQueue + SettingsStore + UserDirectory, N: EventNotifier> EventSender<S, N> {
    pub fn new(store: S, notifier: N, policy: RetryPolicy) -> Self {
        EventSender {
            store,
            notifier,
            policy,
            declined: Arc::default(),
        }
    }

    /// Sends the event due first, if one is, and records what came of it;
    /// answers whether there was one.
    ///
    /// # Errors
    /// `StoreError` when no event could be taken, or its end not written
    /// (it is then sent again once its lease ends: at least once).
    pub async fn send_next(&self) -> Result<bool, StoreError> {
        let Some(queued) = self.store.take_event(EVENT_LEASE).await? else {
            return Ok(false);
        };
        let end = self.send(&queued).await;
        self.store.end_event(queued.id, end).await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all, fields(event = queued.event.kind.name(), attempt = queued.attempts))]
    async fn send(&self, queued: &QueuedEvent) -> EventEnd {
        let event = &queued.event;
        let settings = match self.store.current().await {
            Ok(settings) => settings,
            Err(e) => return self.retry(queued, &e.to_string()),
        };
        if !settings.agent_events {
            return EventEnd::Declined("agent_events was turned off before it was sent");
        }
        // Sent to whoever's agent the number reaches now, only when that is
        // still the user the event is about: never another user's agent.
        let agent = match self.store.recipient(&event.phone_number).await {
            Ok(Some(recipient)) if recipient.user_id == event.user_id && recipient.is_active => recipient.agent,
            Ok(Some(recipient)) if recipient.user_id == event.user_id => {
                return EventEnd::Declined("the user is not active");
            }
            Ok(_) => return EventEnd::Declined("the number no longer belongs to the user"),
            Err(e) => return self.retry(queued, &e.to_string()),
        };
        if self.has_declined(&agent) {
            return EventEnd::Declined("the agent answered 404 to an event: not asked again until restart");
        }
        match self.notifier.notify(agent.as_ref(), queued).await {
            Ok(()) => EventEnd::Delivered,
            Err(NotifyError::NotWanted) => {
                tracing::info!("the agent does not want events (404): not asked again until restart");
                if let Ok(mut declined) = self.declined.lock() {
                    declined.insert(agent);
                }
                EventEnd::Declined("the agent answered 404: it does not want events")
            }
            Err(NotifyError::Refused(why)) => {
                tracing::warn!(error = %why, "the agent refused an event: not sent again");
                EventEnd::GivenUp(why)
            }
            Err(NotifyError::Failed(why)) => self.retry(queued, &why),
        }
    }

    fn has_declined(&self, agent: &Option<AgentEndpoint>) -> bool {
        self.declined.lock().is_ok_and(|declined| declined.contains(agent))
    }

    fn retry(&self, queued: &QueuedEvent, why: &str) -> EventEnd {
        match self.policy.delay_after(queued.attempts, None) {
            Some(delay) => {
                tracing::warn!(
                    error = why,
                    retry_in_s = delay.as_secs(),
                    "an event could not be sent; will retry"
                );
                EventEnd::RetryAfter(delay, why.to_owned())
            }
            None => {
                tracing::error!(error = why, "an event could not be sent; no attempt left");
                EventEnd::GivenUp(format!("{why}; gave up after {} attempts", queued.attempts))
            }
        }
    }
}
