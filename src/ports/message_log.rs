//! The usage log, which is also the record of which messages were seen and
//! of how far each was answered.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::outbox::NewOutboxItem;
use crate::domain::reply::Reply;
use crate::domain::usage::{Answered, InboundClaim, InboundRecord, OutboundRecord};

/// The log row of a claimed message, to settle once it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimId(pub i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First sight of this message: this caller answers it.
    New(ClaimId),
    /// Being answered now by a process that lives (another instance): the
    /// caller waits for its answer, or asks again later.
    Open,
    /// Answered before: how, so that a retry gets the same answer.
    Answered(Answered),
    /// A process stopped (or died, or left it) while answering the message,
    /// before its webhook was answered, and its sender has not been told.
    /// The caller decides it again; what would reach the agent, it must not
    /// ask again, and tells the sender instead (`tell_interrupted`).
    Interrupted(ClaimId),
}

/// The agent's reply to a message, kept so that a retry of the message
/// whose answer was lost gets it again: until `until`, then erased
/// (`Retention::forget_replies`). With the outbox, the only place a reply's
/// text is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReply {
    pub reply: Reply,
    pub until: DateTime<Utc>,
}

/// What `interrupt_unfinished` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interrupted {
    /// Claims marked interrupted.
    pub messages: usize,
    /// Senders told through the outbox, their reply having been deferred.
    pub told: usize,
}

/// Every write returns once it is durably committed.
pub trait MessageLog: Clone + Send + Sync + 'static {
    /// Claims a message atomically: an insert whose conflict means "seen".
    /// Seen, the message is `Open` while a live process answers it;
    /// `Interrupted` when the process that claimed it stopped or died
    /// without answering (a claim of this very process that no delivery
    /// here leads is one: the caller leads every delivery of its sid), and
    /// then taken over: marked interrupted; else `Answered`.
    ///
    /// # Errors
    /// `StoreError` when the row cannot be written; nothing is claimed then.
    fn claim(&self, claim: &InboundClaim) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Gives up the claim of a message that was not answered, so that a
    /// retry of it is handled as new.
    ///
    /// # Errors
    /// `StoreError` when the row cannot be removed; the claim stands then.
    fn release(&self, id: ClaimId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Notes that the webhook of a claimed message is answered empty and
    /// its reply goes out later: should the process stop first, its sender
    /// is told through the outbox, not in a retry's answer.
    ///
    /// # Errors
    /// `StoreError` when the note cannot be written.
    fn defer(&self, id: ClaimId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records what became of a claimed message (being answered, or
    /// interrupted and not yet told) and one outbound row per reply
    /// message, with the reply to keep for retries, in one transaction.
    /// Answers whether the answer stands: true when recorded now or by an
    /// earlier attempt whose commit was reported failed; false when the
    /// sender was told otherwise in the meantime (the message interrupted
    /// and its sender told by another delivery), and nothing is written.
    ///
    /// # Errors
    /// `StoreError` when the transaction cannot be committed; nothing of it
    /// is written then.
    fn settle(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<OutboundRecord>,
        kept: Option<KeptReply>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records what became of a deferred message and queues its reply in
    /// the outbox, in one transaction, only while the message is still
    /// being answered: the reply is never queued twice, nor both queued
    /// and replaced by the notice of an interruption.
    ///
    /// # Errors
    /// As `settle`.
    fn settle_deferred(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<NewOutboxItem>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that the sender of an interrupted message is told, with the
    /// outbound rows of what they are told, in one transaction; false when
    /// they were told already.
    ///
    /// # Errors
    /// `StoreError` when the transaction cannot be committed.
    fn tell_interrupted(
        &self,
        id: ClaimId,
        replies: Vec<OutboundRecord>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks interrupted the claims of processes that no longer live (for
    /// several instances: those whose process died, known at once, and
    /// those silent past their lease) and, for each whose reply was
    /// deferred, queues `notice` (one outbox item a message) to its sender
    /// and records them told, in one transaction. An empty `notice` queues
    /// nothing. The serving process calls this before it serves and, where
    /// several instances share the store, every second after.
    ///
    /// # Errors
    /// `StoreError` when the transaction cannot be committed.
    fn interrupt_unfinished(&self, notice: Vec<String>)
    -> impl Future<Output = Result<Interrupted, StoreError>> + Send;
}
