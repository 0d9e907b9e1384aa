//! Replies to recent messages, so that a retry of a message gets the answer
//! of the first delivery instead of a second agent call.

use std::future::Future;

use crate::domain::message::MessageSid;
use crate::domain::reply::Reply;

/// The caller's part in answering a message.
pub enum Flight<W> {
    /// No one answers this message now or did recently: the caller does,
    /// and must `settle` it.
    Lead,
    /// Someone else does or did: the future yields that reply, or `None`
    /// when it was abandoned or took too long.
    Follow(W),
}

pub trait RecentReplies: Clone + Send + Sync + 'static {
    type Wait: Future<Output = Option<Reply>> + Send;

    fn join(&self, sid: &MessageSid) -> Flight<Self::Wait>;

    /// Hands the leader's reply to every follower, now and for at least ten
    /// minutes; `None` abandons the message, so that a later delivery leads.
    fn settle(&self, sid: &MessageSid, reply: Option<Reply>);
}
