//! What the usage log keeps of each message: never its text, only its
//! shape and what became of it.

use super::message::{InboundMessage, MessageSid, RequestId, Sender};
use super::reply::Reply;
use super::segments::{Encoding, measure};
use super::user::UserId;

/// What became of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Duplicate,
    OptedOut,
    OptedIn,
    Help,
    RateLimited,
    UnknownUser,
    InactiveUser,
    Routed,
    AgentError,
    /// Claimed and still being answered.
    Processing,
    /// Claimed, but the process stopped before it was answered.
    Interrupted,
    /// Outbound only: sent by an administrator or an agent, not in reply.
    Proactive,
    /// The message was the code that verifies the number it came from.
    Verified,
}

impl Outcome {
    pub const ALL: [Outcome; 13] = [
        Outcome::Duplicate,
        Outcome::OptedOut,
        Outcome::OptedIn,
        Outcome::Help,
        Outcome::RateLimited,
        Outcome::UnknownUser,
        Outcome::InactiveUser,
        Outcome::Routed,
        Outcome::AgentError,
        Outcome::Processing,
        Outcome::Interrupted,
        Outcome::Proactive,
        Outcome::Verified,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Duplicate => "duplicate",
            Outcome::OptedOut => "opted_out",
            Outcome::OptedIn => "opted_in",
            Outcome::Help => "help",
            Outcome::RateLimited => "rate_limited",
            Outcome::UnknownUser => "unknown_user",
            Outcome::InactiveUser => "inactive_user",
            Outcome::Routed => "routed",
            Outcome::AgentError => "agent_error",
            Outcome::Processing => "processing",
            Outcome::Interrupted => "interrupted",
            Outcome::Proactive => "proactive",
            Outcome::Verified => "verified",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Whether the service did what it is meant to do with the message:
    /// only a failure to answer counts against it.
    pub fn is_success(self) -> bool {
        !matches!(self, Outcome::AgentError | Outcome::Interrupted)
    }
}

/// The length and cost of a text, without the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextShape {
    /// In characters (Unicode scalar values).
    pub length: u32,
    pub segments: u32,
    pub encoding: Encoding,
    /// The first character outside GSM-7, which made the text UCS-2: its
    /// code point is logged, never the text.
    pub forced_by: Option<char>,
}

impl TextShape {
    pub fn of(text: &str) -> Self {
        let measure = measure(text);
        TextShape {
            length: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
            segments: measure.segments,
            encoding: measure.encoding,
            forced_by: measure.forced_by,
        }
    }

    /// The code point that made the text UCS-2, as a log row keeps it.
    pub fn forced_by_code_point(&self) -> Option<u32> {
        self.forced_by.map(u32::from)
    }
}

/// The inbound row written when a message is claimed.
#[derive(Debug, Clone)]
pub struct InboundClaim {
    pub sid: MessageSid,
    pub from: Sender,
    pub shape: TextShape,
}

impl InboundClaim {
    pub fn of(message: &InboundMessage) -> Self {
        InboundClaim {
            sid: message.sid.clone(),
            from: message.from.clone(),
            shape: TextShape::of(&message.body),
        }
    }
}

/// What is known once the message has been dealt with.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub outcome: Outcome,
    pub user_id: Option<UserId>,
    pub error: Option<String>,
    /// From the webhook's arrival to the answer's record.
    pub processing_ms: u64,
    /// Of `processing_ms`, the router's own time: all but the agent's.
    pub router_ms: u64,
    /// Of `processing_ms`, the time waiting for the agent; `None`: not asked.
    pub agent_ms: Option<u64>,
    pub to: Option<String>,
    pub num_media: u32,
    pub request_id: RequestId,
    /// The reply went out later through the outbox, not in the webhook's answer.
    pub deferred: bool,
}

/// How a message seen before was answered, as its row (and the reply kept
/// for its retries) tell: what a retry whose first answer was lost gets
/// again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub outcome: Outcome,
    /// Its webhook was answered empty, and its reply (or `error_reply`)
    /// went out later through the outbox.
    pub deferred: bool,
    /// The agent's reply as it was sent, while it is kept for retries.
    pub kept: Option<Reply>,
}

/// One message sent back.
#[derive(Debug, Clone)]
pub struct OutboundRecord {
    pub user_id: Option<UserId>,
    pub to: Sender,
    pub shape: TextShape,
    /// Files sent with the message.
    pub media: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.name()), Some(o));
        }
    }
}
