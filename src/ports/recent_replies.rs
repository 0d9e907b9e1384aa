//! Replies to recent messages, so that a retry of a message gets the answer
//! of the first delivery instead of a second agent call, and takes over
//! what a failed first delivery left unfinished.

use std::future::Future;
use std::pin::Pin;

use super::message_log::ClaimId;
use crate::domain::message::MessageSid;
use crate::domain::policy::Answer;
use crate::domain::reply::Reply;

/// What a follower's wait for the leader came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// The leader's reply.
    Replied(Reply),
    /// The leader failed: the next to join leads in its place.
    LeaderFailed,
    /// The leader is still at it, past the wait's limit.
    TimedOut,
}

/// A follower's wait for the leader.
pub type Wait = Pin<Box<dyn Future<Output = Waited> + Send>>;

/// The caller's part in answering a message.
pub enum Flight {
    /// No one answers this message now: the caller does, and must
    /// `settle` it. `Some` carries what a failed earlier delivery of it, in
    /// this process, left to finish.
    Lead(Option<Unfinished>),
    /// Someone else does or did.
    Follow(Wait),
}

/// What a delivery that failed left for the next one: its claim on the
/// message, and the answer it could not record, if it had one.
#[derive(Debug, Clone)]
pub struct Unfinished {
    pub claim: ClaimId,
    pub answer: Option<Answer>,
}

/// How a leader leaves a message.
#[derive(Debug, Clone)]
pub enum Settled {
    /// Answered with this reply: followers, now and for at least ten
    /// minutes, get it.
    Replied(Reply),
    /// Given up with nothing left to finish: the next delivery leads afresh.
    Abandoned,
    /// Failed with something left to finish: the next delivery leads with
    /// it, for at least ten minutes, however many other messages come.
    Unfinished(Unfinished),
}

pub trait RecentReplies: Send + Sync + 'static {
    fn join(&self, sid: &MessageSid) -> Flight;

    fn settle(&self, sid: &MessageSid, settled: Settled);
}
