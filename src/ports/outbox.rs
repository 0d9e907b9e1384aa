//! Messages waiting to be sent: durable, so a restart loses none.

use std::future::Future;
use std::time::Duration;

use super::StoreError;
use crate::domain::message::MediaLink;
use crate::domain::message::{MessageSid, RequestId};
use crate::domain::phone::PhoneNumber;
use crate::domain::usage::Outcome;
use crate::domain::user::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxId(pub i64);

/// A message to send.
#[derive(Debug, Clone)]
pub struct NewOutboxItem {
    pub user_id: Option<UserId>,
    pub to: PhoneNumber,
    pub body: String,
    /// Files sent with it (an agent's reply).
    pub media: Vec<MediaLink>,
    /// The outcome its outbound log row will carry.
    pub outcome: Outcome,
    /// The request that queued it (a late reply's webhook), which its
    /// outbound log row names.
    pub request_id: Option<RequestId>,
    /// The message it answers (a late reply), whose agent hears what
    /// became of it.
    pub in_reply_to: Option<MessageSid>,
}

impl NewOutboxItem {
    /// The notice of an interrupted message, one item per text, to its
    /// sender.
    pub fn interruption_notices(user_id: Option<UserId>, to: &PhoneNumber, notice: &[String]) -> Vec<Self> {
        notice
            .iter()
            .map(|body| NewOutboxItem {
                user_id,
                to: to.clone(),
                body: body.clone(),
                media: Vec::new(),
                outcome: Outcome::Interrupted,
                request_id: None,
                in_reply_to: None,
            })
            .collect()
    }
}

/// Files as the outbox keeps them: one URL per line; `None` without any.
pub fn media_text(media: &[MediaLink]) -> Option<String> {
    (!media.is_empty()).then(|| media.iter().map(MediaLink::as_str).collect::<Vec<_>>().join("\n"))
}

/// Files from `media_text`; a line that is not an https URL (written by
/// hand) is dropped.
pub fn media_of(text: Option<&str>) -> Vec<MediaLink> {
    text.map(|t| t.lines().filter_map(MediaLink::parse).collect())
        .unwrap_or_default()
}

/// A message taken for sending.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub user_id: Option<UserId>,
    pub to: PhoneNumber,
    pub body: String,
    pub media: Vec<MediaLink>,
    pub outcome: Outcome,
    /// Attempts before this one.
    pub attempts: u32,
    pub request_id: Option<RequestId>,
    pub in_reply_to: Option<MessageSid>,
}

/// A message taken for sending, with its recipient's opt-out as it stood
/// when the message was taken.
#[derive(Debug, Clone)]
pub struct Due {
    pub item: OutboxItem,
    pub recipient_opted_out: bool,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    Failed,
    /// A send whose outcome is unknown: not repeated, reported.
    Unknown,
}

impl OutboxStatus {
    /// Every status, in the order a message can reach them.
    pub const ALL: [OutboxStatus; 5] = [
        OutboxStatus::Pending,
        OutboxStatus::Sending,
        OutboxStatus::Sent,
        OutboxStatus::Failed,
        OutboxStatus::Unknown,
    ];

    /// The name both stores keep it under.
    pub const fn name(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Unknown => "unknown",
        }
    }

    /// The status of a stored name; an unknown one reads as pending.
    pub fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|status| status.name() == name)
            .unwrap_or(OutboxStatus::Pending)
    }
}

/// What waits in the outbox now: the items pending and being sent, and
/// since when the oldest pending one has waited (`None`: none pending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    pub sending: u64,
    pub oldest_pending_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// An outbox item as reported to an administrator: never its text.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: OutboxId,
    pub user_id: Option<UserId>,
    pub to: PhoneNumber,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub message_sid: Option<String>,
    pub created_at: String,
}

/// Every method answers `StoreError` when the store fails.
pub trait Outbox: Clone + Send + Sync + 'static {
    /// Stores messages to send, in one transaction.
    ///
    /// # Errors
    /// `StoreError`: nothing was stored.
    fn enqueue(&self, items: Vec<NewOutboxItem>) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// Takes the message due first, if one is: marks it as being sent in
    /// its own write, durable before this answers, and reads in the same
    /// transaction whether its recipient opted out. Every other message
    /// stays pending.
    ///
    /// # Errors
    /// `StoreError`: nothing was taken.
    fn take_next(&self) -> impl Future<Output = Result<Option<Due>, StoreError>> + Send;

    /// Records a sent message and its outbound log row; clears its text.
    /// Only a message being sent is recorded, so writing it again after a
    /// failed answer adds nothing.
    ///
    /// # Errors
    /// `StoreError`.
    fn mark_sent(&self, item: &OutboxItem, message_sid: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Puts a message back to be tried again after `delay`.
    ///
    /// # Errors
    /// `StoreError`.
    fn retry_later(
        &self,
        item: &OutboxItem,
        delay: Duration,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives a message up as `Failed` or `Unknown`, with a failed outbound
    /// log row (of the item's outcome) saying why; clears its text. Only a
    /// message being sent is given up, as with `mark_sent`.
    ///
    /// # Errors
    /// `StoreError`.
    fn give_up(
        &self,
        item: &OutboxItem,
        status: OutboxStatus,
        error: &str,
        code: Option<i64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks messages left `Sending` by a process that stopped as `Unknown`,
    /// with failed log rows: they may or may not have gone out. Only the
    /// serving process calls this, once, before it sends.
    ///
    /// # Errors
    /// `StoreError`.
    fn recover_interrupted(&self) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// What waits: items pending and being sent, and the oldest pending
    /// one's time (read through the partial indexes on those two statuses,
    /// so it stays cheap however many items were sent).
    ///
    /// # Errors
    /// `StoreError`.
    fn backlog(&self) -> impl Future<Output = Result<Backlog, StoreError>> + Send;
}
