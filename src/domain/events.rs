//! What an agent is told after the fact, when the setting `agent_events`
//! is on: what became of a reply it wrote (delivered, undelivered, failed,
//! refused because its recipient opted out, given up), and a user's number
//! opting out or back in. Each event is queued durably where it happens,
//! keyed so that the agent can drop a second copy, and sent at least once
//! by `EventSender`, apart from the messages: a slow or failing agent delays
//! no message.

use super::delivery::{DeliveryReport, DeliveryStatus};
use super::message::MessageSid;
use super::phone::PhoneNumber;
use super::user::UserId;
use crate::ports::OutboxItem;

/// Twilio's error code for a recipient that opted out.
pub const OPTED_OUT_CODE: i64 = 21610;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Twilio says the reply reached the handset.
    ReplyDelivered,
    /// The carrier did not deliver it (`error_code` says why).
    ReplyUndelivered,
    /// Twilio could not send it.
    ReplyFailed,
    /// Refused: its recipient opted out (STOP, or Twilio's 21610).
    ReplyOptedOut,
    /// Given up: the sends failed until no attempt was left, or were refused.
    ReplyGivenUp,
    /// The user's number texted STOP (or the like).
    NumberOptedOut,
    /// The user's number texted START (or the like).
    NumberOptedIn,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::ReplyDelivered,
        EventKind::ReplyUndelivered,
        EventKind::ReplyFailed,
        EventKind::ReplyOptedOut,
        EventKind::ReplyGivenUp,
        EventKind::NumberOptedOut,
        EventKind::NumberOptedIn,
    ];

    /// The event's `type`, as the agent reads it.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::ReplyDelivered => "reply.delivered",
            EventKind::ReplyUndelivered => "reply.undelivered",
            EventKind::ReplyFailed => "reply.failed",
            EventKind::ReplyOptedOut => "reply.opted_out",
            EventKind::ReplyGivenUp => "reply.given_up",
            EventKind::NumberOptedOut => "number.opted_out",
            EventKind::NumberOptedIn => "number.opted_in",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One event for a user's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEvent {
    /// The same for every copy of one event: the agent dedupes on it.
    pub key: String,
    pub kind: EventKind,
    pub user_id: UserId,
    /// The user's number the event is about: the reply's recipient, or the
    /// number that opted out or in.
    pub phone_number: PhoneNumber,
    /// The inbound message the reply answered, or that said STOP or START.
    pub message_sid: Option<MessageSid>,
    /// Twilio's id of the reply, once it was sent.
    pub reply_sid: Option<String>,
    /// Twilio's status of the reply (`delivered`, `undelivered`, `failed`).
    pub status: Option<&'static str>,
    /// Twilio's error code.
    pub error_code: Option<i64>,
}

/// What a Twilio error code means, in plain words: the category an agent
/// can act on (write shorter, stop writing, tell someone), with a sentence.
pub fn failure_category(code: i64) -> (&'static str, &'static str) {
    match code {
        OPTED_OUT_CODE => ("opted_out", "the recipient opted out of messages from this number"),
        30007 | 30034 | 30032 | 30004 | 21408 | 30035 => (
            "carrier_filtered",
            "the carrier blocked it: filtered as spam, or the sending number is not registered for this traffic",
        ),
        30003 | 30005 | 30006 | 21211 | 21614 | 21612 => (
            "unreachable",
            "the recipient cannot be reached: switched off, unknown, a landline, or out of the carrier's reach",
        ),
        30001 | 30002 | 20003 | 21606 | 21608 => (
            "account",
            "the sending account or number cannot send this: suspended, over its queue, or not allowed",
        ),
        21617 | 30019 | 30018 => ("too_long", "the message was too long for the carrier"),
        _ => ("unknown", "the carrier gave no reason Twilio could name"),
    }
}

impl AgentEvent {
    /// The event of a status callback for a reply, when the status is final
    /// and the reply answered a user's message: `None` for the statuses on
    /// the way (`queued`, `sent`…) and for messages no agent wrote.
    pub fn of_delivery(
        report: &DeliveryReport,
        user_id: UserId,
        phone_number: PhoneNumber,
        in_reply_to: MessageSid,
    ) -> Option<Self> {
        let opted_out = report.error_code == Some(OPTED_OUT_CODE);
        let kind = match report.status {
            DeliveryStatus::Delivered => EventKind::ReplyDelivered,
            DeliveryStatus::Undelivered | DeliveryStatus::Failed if opted_out => EventKind::ReplyOptedOut,
            DeliveryStatus::Undelivered => EventKind::ReplyUndelivered,
            DeliveryStatus::Failed => EventKind::ReplyFailed,
            _ => return None,
        };
        Some(AgentEvent {
            key: format!("delivery:{}:{}", report.sid, report.status.name()),
            kind,
            user_id,
            phone_number,
            message_sid: Some(in_reply_to),
            reply_sid: Some(report.sid.to_string()),
            status: Some(report.status.name()),
            error_code: report.error_code,
        })
    }

    /// The event of a reply the outbox stopped trying: refused because its
    /// recipient opted out, or given up. `None` for a message that answered
    /// no user's message (the service's own notices, an administrator's).
    pub fn of_closed_send(item: &OutboxItem, opted_out: bool, error_code: Option<i64>) -> Option<Self> {
        Some(AgentEvent {
            key: format!("send:{}", item.id.0),
            kind: if opted_out {
                EventKind::ReplyOptedOut
            } else {
                EventKind::ReplyGivenUp
            },
            user_id: item.user_id?,
            phone_number: item.to.clone(),
            message_sid: Some(item.in_reply_to.clone()?),
            reply_sid: None,
            status: Some("failed"),
            error_code: if opted_out {
                Some(error_code.unwrap_or(OPTED_OUT_CODE))
            } else {
                error_code
            },
        })
    }

    /// A user's number opting out (`opted_out`) or back in with the message
    /// `message_sid`.
    pub fn of_opt_change(opted_out: bool, user_id: UserId, number: &PhoneNumber, message_sid: &MessageSid) -> Self {
        let (kind, name) = if opted_out {
            (EventKind::NumberOptedOut, "opt_out")
        } else {
            (EventKind::NumberOptedIn, "opt_in")
        };
        AgentEvent {
            key: format!("{name}:{message_sid}"),
            kind,
            user_id,
            phone_number: number.clone(),
            message_sid: Some(message_sid.clone()),
            reply_sid: None,
            status: None,
            error_code: None,
        }
    }

    /// The category of its error code, when it has one.
    pub fn category(&self) -> Option<(&'static str, &'static str)> {
        self.error_code.map(failure_category)
    }
}

mod sender;
pub use sender::{EVENT_LEASE, EVENT_RETRY, EventSender};

#[cfg(test)]
mod tests;
