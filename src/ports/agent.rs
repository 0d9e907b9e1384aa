//! A user's AI agent, which answers the user's messages.

use std::future::Future;
use std::time::Duration;

use crate::domain::message::{Media, MediaLink, MessageSid, RequestId};
use crate::domain::phone::PhoneNumber;
use crate::domain::reply::ReplyBudget;
use crate::domain::user::{AgentEndpoint, UserId};

/// What the agent is told of a message.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    pub user_id: UserId,
    pub phone_number: PhoneNumber,
    pub message: String,
    /// Pictures sent with the message; fetching them needs Twilio's basic auth.
    pub media: Vec<Media>,
    /// The user's own agent; `None`: the service's.
    pub endpoint: Option<AgentEndpoint>,
    pub message_sid: MessageSid,
    /// Also the trace id of the agent request's `traceparent`.
    pub request_id: RequestId,
    /// The trace's `sampled` flag, passed on.
    pub sampled: bool,
    /// What the reply may cost: longer is cut.
    pub budget: ReplyBudget,
}

/// What the agent answered: a text (possibly empty) and files to send
/// with it (at most `MAX_MEDIA`, https).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentReply {
    pub text: String,
    pub media: Vec<MediaLink>,
}

/// Why the agent gave no usable reply. Its texts are ours: a category and
/// sizes, never the agent's words or its URL, since they are logged and
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("the agent did not answer within its deadline")]
    Timeout,
    #[error("the agent could not be reached: {0}")]
    Unreachable(&'static str),
    #[error("the agent answered HTTP {0}")]
    Status(u16),
    #[error("the agent's answer is not usable: {why} ({bytes} bytes)")]
    InvalidReply { why: &'static str, bytes: usize },
}

pub trait Agent: Clone + Send + Sync + 'static {
    /// The agent's reply, possibly empty, within `deadline`.
    ///
    /// # Errors
    /// `Timeout` past the deadline, `Unreachable` when no connection could be
    /// made, `Status` for a non-2xx answer, `InvalidReply` for an answer that
    /// is not JSON with a string `reply` (and, if any, `media` of at most
    /// ten https URLs) or is too large.
    fn ask(
        &self,
        request: AgentRequest,
        deadline: Duration,
    ) -> impl Future<Output = Result<AgentReply, AgentError>> + Send;
}
