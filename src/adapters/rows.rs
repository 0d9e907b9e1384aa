//! How values are written into, and read back from, the columns both SQL
//! stores share: one encoding, whichever store writes it.

use crate::domain::reply::Reply;
use crate::domain::settings::Settings;
use crate::ports::StoredSetting;
use crate::ports::outbox::OutboxStatus;
use crate::ports::outbox::{media_of, media_text};

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

    #[test]
    fn a_kept_reply_reads_back_as_it_was_written() {
        let media = vec![MediaLink::parse("https://example.com/a.png").unwrap()];
        let reply = Reply::with_media("one \"two\"\nthree", &media, 1);
        let (messages, files) = kept_reply_columns(&reply);
        assert_eq!(kept_reply(&messages, files.as_deref()), Some(reply));
        assert_eq!(kept_reply("not json", None), None);
    }
}
