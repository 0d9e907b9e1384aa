//! Events for the agents: queued durably where they happen, sent at least
//! once (`domain::events`).

use std::future::Future;
use std::time::Duration;

use super::StoreError;
use crate::domain::events::AgentEvent;
use crate::domain::user::AgentEndpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId(pub i64);

/// An event taken for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: EventId,
    pub event: AgentEvent,
    /// When it was queued, RFC 3339 in UTC.
    pub occurred_at: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// What became of an attempt to send an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventEnd {
    /// The agent took it (2xx).
    Delivered,
    /// Not sent, and not to be: the agent does not want events, or it is no
    /// longer the user's.
    Declined(&'static str),
    /// Try again after this long; why it failed.
    RetryAfter(Duration, String),
    /// Not to be tried again; why.
    GivenUp(String),
}

/// Every method answers `StoreError` when the store fails.
pub trait EventQueue: Clone + Send + Sync + 'static {
    /// Queues `event` unless an event with its key was queued before: a
    /// second copy of one event is never queued.
    ///
    /// # Errors
    /// `StoreError`: nothing was queued.
    fn queue_event(&self, event: &AgentEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the event due first, if one is: counts the attempt and leaves
    /// it to this caller for `lease`, after which it is due again (a sender
    /// that stopped midway loses no event).
    ///
    /// # Errors
    /// `StoreError`: nothing was taken.
    fn take_event(&self, lease: Duration) -> impl Future<Output = Result<Option<QueuedEvent>, StoreError>> + Send;

    /// Records what became of the attempt.
    ///
    /// # Errors
    /// `StoreError`.
    fn end_event(&self, id: EventId, end: EventEnd) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why an agent did not take an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyError {
    /// 404: the agent does not want events.
    NotWanted,
    /// It will not take this one (a 4xx, a redirect); why, in our words.
    Refused(String),
    /// Not reached, too slow, or a 5xx: worth trying again. Our words.
    Failed(String),
}

pub trait EventNotifier: Clone + Send + Sync + 'static {
    /// POSTs the event to `agent` (`None`: the service's own agent).
    ///
    /// # Errors
    /// As `NotifyError` says.
    fn notify(
        &self,
        agent: Option<&AgentEndpoint>,
        event: &QueuedEvent,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}
