//! How values are written into, and read back from, the columns both SQL
//! stores share: one encoding, whichever store writes it.

use std::time::Duration;

use crate::domain::delivery::DeliveryStatus;
use crate::domain::events::{AgentEvent, EventKind};
use crate::domain::message::MessageSid;
use crate::domain::phone::PhoneNumber;
use crate::domain::reply::Reply;
use crate::domain::settings::Settings;
use crate::domain::usage::TextShape;
use crate::domain::user::UserId;
use crate::ports::StoredSetting;
use crate::ports::outbox::OutboxStatus;
use crate::ports::outbox::{media_of, media_text};
use crate::ports::{EventEnd, OutboxItem};

/// The outbox's status names as both stores' statements write them: a
/// literal in the statement, not a parameter, where a partial index is
/// kept on that status (`sms_outbox_due`, `sms_outbox_sending`), so the
/// planner can use it.
pub mod outbox_status {
    use super::OutboxStatus;

    pub const PENDING: &str = OutboxStatus::Pending.name();
    pub const SENDING: &str = OutboxStatus::Sending.name();
    pub const SENT: &str = OutboxStatus::Sent.name();
    pub const UNKNOWN: &str = OutboxStatus::Unknown.name();
}

/// The error of a message whose process stopped before answering it.
pub const INTERRUPTED_MESSAGE: &str = "the process stopped before the message was answered";

/// The error of a send whose process stopped while sending it: it may have
/// gone out, so it is marked unknown and not sent again.
pub const INTERRUPTED_SEND: &str = "the process stopped while sending: not sent again, it may have gone out";

/// The columns of a send's usage-log row, in `SendRow`'s order after
/// `direction` (always `outbound`).
pub const SEND_ROW_COLUMNS: &str = "user_id, phone_number, direction, outcome, message_sid, message_length, segments, \
                                    success, error_message, error_code, metadata, encoding, ucs2_code_point, in_reply_to";

/// The usage-log row of an outbox item's send, however it ended: sent,
/// given up, or interrupted. Built here for both stores, which write it in
/// the transaction that moves the item; its text is measured as an in-time
/// reply's is (`TextShape`), and its metadata names the item and attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRow<'a> {
    pub user_id: Option<i64>,
    pub phone_number: &'a str,
    pub outcome: &'static str,
    pub message_sid: Option<&'a str>,
    pub length: u32,
    pub segments: u32,
    /// `gsm7` or `ucs2`.
    pub encoding: &'static str,
    /// The code point that made the text UCS-2.
    pub ucs2_code_point: Option<u32>,
    /// The message the send answers, which status callbacks read back.
    pub in_reply_to: Option<&'a str>,
    pub success: bool,
    pub error: Option<&'a str>,
    pub code: Option<i64>,
    pub metadata: String,
}

impl<'a> SendRow<'a> {
    /// The row of `item`'s send: sent as `message_sid`, or failed with
    /// `error` (and Twilio's `code`, if any).
    pub fn of(item: &'a OutboxItem, message_sid: Option<&'a str>, error: Option<&'a str>, code: Option<i64>) -> Self {
        let shape = TextShape::of(&item.body);
        SendRow {
            user_id: item.user_id.map(|u| u.0),
            phone_number: item.to.as_ref(),
            outcome: item.outcome.name(),
            message_sid,
            length: shape.length,
            segments: shape.segments,
            encoding: shape.encoding.name(),
            ucs2_code_point: shape.forced_by_code_point(),
            in_reply_to: item.in_reply_to.as_ref().map(AsRef::as_ref),
            success: error.is_none(),
            error,
            code,
            metadata: crate::adapters::log_metadata::outbox_send(item),
        }
    }
}

/// The columns of a queued event, in the order `event_from_columns` and the
/// stores' readers take them.
pub const EVENT_COLUMNS: &str = "id, idempotency_key, kind, user_id, phone_number, message_sid, reply_sid, status, \
                                 error_code, created_at, attempts";

/// The state of an event given up, or set aside.
pub const GIVEN_UP: &str = "given_up";

/// Why an event row was set aside unsent.
pub const UNREADABLE_EVENT: &str = "the row cannot be read by this sms-router";

/// The event a queued row holds; `None` when it does not read (written by
/// hand, or by a newer sms-router).
#[allow(clippy::too_many_arguments)]
pub fn event_from_columns(
    key: String,
    kind: &str,
    user_id: i64,
    phone_number: &str,
    message_sid: Option<&str>,
    reply_sid: Option<String>,
    status: Option<&str>,
    error_code: Option<i64>,
) -> Option<AgentEvent> {
    Some(AgentEvent {
        key,
        kind: EventKind::parse(kind)?,
        user_id: UserId(user_id),
        phone_number: PhoneNumber::from_stored(phone_number).ok()?,
        message_sid: message_sid.and_then(|sid| MessageSid::parse(sid).ok()),
        reply_sid,
        status: status.and_then(DeliveryStatus::parse).map(DeliveryStatus::name),
        error_code,
    })
}

/// How an event's end is written: its state, its last error, and when it
/// is due again (for a retry; otherwise never read).
pub fn event_state(end: &EventEnd) -> (&'static str, Option<String>, Duration) {
    match end {
        EventEnd::Delivered => ("delivered", None, Duration::ZERO),
        EventEnd::Declined(why) => ("declined", Some((*why).to_owned()), Duration::ZERO),
        EventEnd::RetryAfter(after, why) => ("pending", Some(why.clone()), *after),
        EventEnd::GivenUp(why) => (GIVEN_UP, Some(why.clone()), Duration::ZERO),
    }
}

/// The settings in effect: the `stored` rows over the defaults, a row
/// that breaks its rule skipped with a warning.
pub fn settings(stored: &[StoredSetting]) -> Settings {
    let (settings, skipped) = Settings::from_stored(stored.iter().map(|s| (s.key, s.value.as_str())));
    for e in skipped {
        tracing::warn!(error = %e, "ignoring a stored setting");
    }
    settings
}

/// A kept reply's columns: its messages as a JSON array, and its files one
/// URL a line (`None` for none).
pub fn kept_reply_columns(reply: &Reply) -> (String, Option<String>) {
    let messages = serde_json::Value::from(reply.messages().to_vec()).to_string();
    (messages, media_text(reply.media()))
}

/// The reply `kept_reply_columns` wrote; `None` when its messages cannot be
/// read (written by hand), which a retry then takes for no reply kept.
pub fn kept_reply(messages: &str, media: Option<&str>) -> Option<Reply> {
    let messages: Vec<String> = serde_json::from_str(messages).ok()?;
    Some(Reply::stored(messages, media_of(media)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::MediaLink;
    use crate::domain::reply::ReplyBudget;

    #[test]
    fn a_kept_reply_reads_back_as_it_was_written() {
        let media = vec![MediaLink::parse("https://example.com/a.png").unwrap()];
        let reply = Reply::with_media("one \"two\"\nthree", &media, ReplyBudget::messages(1));
        let (messages, files) = kept_reply_columns(&reply);
        assert_eq!(kept_reply(&messages, files.as_deref()), Some(reply));
        assert_eq!(kept_reply("not json", None), None);
    }

    #[test]
    fn a_sends_row_measures_its_text_and_names_its_item_and_attempt() {
        use crate::domain::message::RequestId;
        use crate::domain::phone::{PhoneNumber, Region};
        use crate::domain::usage::Outcome;
        use crate::ports::OutboxId;

        let item = OutboxItem {
            id: OutboxId(7),
            user_id: None,
            to: PhoneNumber::parse("+12015550123", Region::default()).unwrap(),
            body: "héllo €".to_owned(),
            outcome: Outcome::Routed,
            attempts: 2,
            media: Vec::new(),
            request_id: Some(RequestId("req-1".to_owned())),
            in_reply_to: None,
        };
        let sent = SendRow::of(&item, Some("SM1"), None, None);
        let failed = SendRow::of(&item, None, Some("refused"), Some(21610));

        assert_eq!((sent.length, sent.segments, sent.success), (7, 1, true));
        assert_eq!((sent.encoding, sent.ucs2_code_point), ("gsm7", None));
        assert_eq!((sent.outcome, sent.phone_number), ("routed", "+12015550123"));
        let metadata: serde_json::Value = serde_json::from_str(&sent.metadata).unwrap();
        assert_eq!(
            metadata,
            serde_json::json!({"outbox_id": 7, "attempts": 3, "request_id": "req-1"})
        );
        assert_eq!(
            (failed.success, failed.error, failed.code),
            (false, Some("refused"), Some(21610))
        );
    }
}
