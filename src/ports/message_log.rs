//! The usage log, which is also the record of which messages were seen.

use std::future::Future;

use super::StoreError;
use crate::domain::usage::{InboundClaim, InboundRecord, OutboundRecord};

/// The log row of a claimed message, to settle once it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First sight of this message: this caller answers it.
    New(ClaimId),
    /// The message was claimed before, by this process or an earlier one.
    Seen,
}

pub trait MessageLog: Clone + Send + Sync + 'static {
    /// Claims a message atomically: an insert whose conflict means "seen".
    ///
    /// # Errors
    /// `StoreError` when the row cannot be written; nothing is claimed then.
    fn claim(&self, claim: &InboundClaim) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Records what became of a claimed message and one outbound row per
    /// reply message, in one transaction; returns once it is committed.
    ///
    /// # Errors
    /// `StoreError` when the transaction cannot be committed; nothing of it
    /// is written then.
    fn settle(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<OutboundRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
