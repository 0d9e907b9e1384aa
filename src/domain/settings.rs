//! The settings an administrator can change at run time, with their rules.

use std::fmt;
use std::num::NonZeroU32;

use super::reply::ReplyBudget;

/// A known setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingKey {
    HelpReply,
    UnknownUserReply,
    InactiveUserReply,
    ErrorReply,
    MaxReplyMessages,
    MaxReplySegments,
    SmartEncoding,
    AgentEvents,
    RequireVerifiedNumbers,
    UsageLogRetentionDays,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting `{0}`")]
    UnknownKey(String),
    #[error("`{key}` {why}")]
    InvalidValue { key: SettingKey, why: &'static str },
}

impl SettingKey {
    pub const ALL: [SettingKey; 10] = [
        SettingKey::HelpReply,
        SettingKey::UnknownUserReply,
        SettingKey::InactiveUserReply,
        SettingKey::ErrorReply,
        SettingKey::MaxReplyMessages,
        SettingKey::MaxReplySegments,
        SettingKey::SmartEncoding,
        SettingKey::AgentEvents,
        SettingKey::RequireVerifiedNumbers,
        SettingKey::UsageLogRetentionDays,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SettingKey::HelpReply => "help_reply",
            SettingKey::UnknownUserReply => "unknown_user_reply",
            SettingKey::InactiveUserReply => "inactive_user_reply",
            SettingKey::ErrorReply => "error_reply",
            SettingKey::MaxReplyMessages => "max_reply_messages",
            SettingKey::MaxReplySegments => "max_reply_segments",
            SettingKey::SmartEncoding => "smart_encoding",
            SettingKey::AgentEvents => "agent_events",
            SettingKey::RequireVerifiedNumbers => "require_verified_numbers",
            SettingKey::UsageLogRetentionDays => "usage_log_retention_days",
        }
    }

    /// # Errors
    /// `UnknownKey` for a name that is not a known setting.
    pub fn parse(name: &str) -> Result<Self, SettingError> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| SettingError::UnknownKey(name.to_owned()))
    }

    /// What a value must be, in the words a refusal uses.
    pub fn rule(self) -> &'static str {
        match self {
            SettingKey::HelpReply => HELP_REPLY_RULE,
            SettingKey::UnknownUserReply | SettingKey::InactiveUserReply | SettingKey::ErrorReply => REPLY_RULE,
            SettingKey::MaxReplyMessages => MAX_REPLY_MESSAGES_RULE,
            SettingKey::MaxReplySegments => MAX_REPLY_SEGMENTS_RULE,
            SettingKey::SmartEncoding | SettingKey::AgentEvents | SettingKey::RequireVerifiedNumbers => TRUE_OR_FALSE,
            SettingKey::UsageLogRetentionDays => RETENTION_RULE,
        }
    }

    pub fn default_value(self) -> &'static str {
        match self {
            SettingKey::HelpReply => "Text your question and your assistant will answer. Reply STOP to unsubscribe.",
            SettingKey::UnknownUserReply => "This number is not registered with this service.",
            SettingKey::InactiveUserReply => "Your account is not active. Please contact your administrator.",
            SettingKey::ErrorReply => "Sorry, something went wrong. Please try again in a moment.",
            SettingKey::MaxReplyMessages => "1",
            SettingKey::MaxReplySegments => "0",
            SettingKey::SmartEncoding => "true",
            SettingKey::AgentEvents => "false",
            SettingKey::RequireVerifiedNumbers => "false",
            SettingKey::UsageLogRetentionDays => "400",
        }
    }
}

const TOO_LONG: &str = "may hold at most 16000 characters";
/// Why a text an administrator writes may not hold control characters:
/// no store need keep a NUL, and no handset shows the others.
pub const CONTROL_CHARACTERS: &str = "may not hold control characters (new lines and tabs are fine)";

/// `true` or `false`, as a setting writes them.
fn flag(value: &str) -> Option<bool> {
    match value.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether `text` holds a control character other than a new line or a tab.
pub fn has_control_characters(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}
const REPLY_RULE: &str = "may hold at most 16000 characters; empty answers nothing";
const HELP_REPLY_RULE: &str = "may not be empty: carriers require an answer to HELP (at most 16000 characters)";
const MAX_REPLY_MESSAGES_RULE: &str = "must be an integer from 1 to 10";
const MAX_REPLY_SEGMENTS_RULE: &str = "must be an integer from 0 (no bound but max_reply_messages) to 50";
const TRUE_OR_FALSE: &str = "must be true or false";
const RETENTION_RULE: &str = "must be a number of days from 0 (keep every row) to 36500";

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The effective settings: every key has a valid value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub help_reply: String,
    pub unknown_user_reply: String,
    pub inactive_user_reply: String,
    pub error_reply: String,
    pub max_reply_messages: usize,
    /// The most SMS segments a reply may cost in all; `None` (the value 0):
    /// no bound but `max_reply_messages`.
    pub max_reply_segments: Option<NonZeroU32>,
    /// GSM-7 look-alikes stand in for the characters that would make a
    /// reply UCS-2, when that makes all of it GSM-7.
    pub smart_encoding: bool,
    /// Agents are told what became of their replies, and of their users'
    /// opt-outs (`domain::events`).
    pub agent_events: bool,
    /// Extra numbers route only once verified; unverified ones are unknown.
    pub require_verified_numbers: bool,
    /// Usage-log rows older than this many days are purged daily; `None`
    /// (the value 0) keeps every row.
    pub usage_log_retention_days: Option<NonZeroU32>,
}

/// The longest retention: a hundred years.
const MAX_RETENTION_DAYS: u32 = 36_500;

/// The longest text a reply setting may hold: ten full messages.
const MAX_REPLY_SETTING_CHARS: usize = 16_000;

impl Default for Settings {
    fn default() -> Self {
        let mut settings = Settings {
            help_reply: String::new(),
            unknown_user_reply: String::new(),
            inactive_user_reply: String::new(),
            error_reply: String::new(),
            max_reply_messages: 1,
            max_reply_segments: None,
            smart_encoding: true,
            agent_events: false,
            require_verified_numbers: false,
            usage_log_retention_days: None,
        };
        for key in SettingKey::ALL {
            // Defaults are valid by construction; the test below holds them to it.
            let _ = settings.apply(key, key.default_value());
        }
        settings
    }
}

impl Settings {
    /// What a reply may cost, as these settings bound it.
    pub fn reply_budget(&self) -> ReplyBudget {
        ReplyBudget {
            max_messages: self.max_reply_messages,
            max_segments: self.max_reply_segments,
            smart_encoding: self.smart_encoding,
        }
    }

    /// The defaults with the `stored` values over them; a stored value that
    /// breaks its rule (written by hand) is skipped and answered with why.
    pub fn from_stored<'a>(stored: impl IntoIterator<Item = (SettingKey, &'a str)>) -> (Self, Vec<SettingError>) {
        let mut settings = Settings::default();
        let skipped = stored
            .into_iter()
            .filter_map(|(key, value)| settings.apply(key, value).err())
            .collect();
        (settings, skipped)
    }

    /// Sets `key` to `value` when the value keeps its rule.
    ///
    /// # Errors
    /// `InvalidValue` saying which rule the value breaks; nothing changes.
    pub fn apply(&mut self, key: SettingKey, value: &str) -> Result<(), SettingError> {
        let invalid = |why| SettingError::InvalidValue { key, why };
        if value.chars().count() > MAX_REPLY_SETTING_CHARS {
            return Err(invalid(TOO_LONG));
        }
        if has_control_characters(value) {
            return Err(invalid(CONTROL_CHARACTERS));
        }
        match key {
            SettingKey::HelpReply if value.trim().is_empty() => {
                return Err(invalid(HELP_REPLY_RULE));
            }
            SettingKey::HelpReply => self.help_reply = value.to_owned(),
            SettingKey::UnknownUserReply => self.unknown_user_reply = value.to_owned(),
            SettingKey::InactiveUserReply => self.inactive_user_reply = value.to_owned(),
            SettingKey::ErrorReply => self.error_reply = value.to_owned(),
            SettingKey::MaxReplyMessages => {
                self.max_reply_messages = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=10).contains(n))
                    .ok_or_else(|| invalid(MAX_REPLY_MESSAGES_RULE))?;
            }
            SettingKey::MaxReplySegments => {
                let segments = value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 50)
                    .ok_or_else(|| invalid(MAX_REPLY_SEGMENTS_RULE))?;
                self.max_reply_segments = NonZeroU32::new(segments);
            }
            SettingKey::UsageLogRetentionDays => {
                let days = value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= MAX_RETENTION_DAYS)
                    .ok_or_else(|| invalid(RETENTION_RULE))?;
                self.usage_log_retention_days = NonZeroU32::new(days);
            }
            SettingKey::SmartEncoding => self.smart_encoding = flag(value).ok_or_else(|| invalid(TRUE_OR_FALSE))?,
            SettingKey::AgentEvents => self.agent_events = flag(value).ok_or_else(|| invalid(TRUE_OR_FALSE))?,
            SettingKey::RequireVerifiedNumbers => {
                self.require_verified_numbers = flag(value).ok_or_else(|| invalid(TRUE_OR_FALSE))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_go_over_the_defaults_and_a_broken_one_is_skipped() {
        let (settings, skipped) = Settings::from_stored([
            (SettingKey::MaxReplyMessages, "3"),
            (SettingKey::HelpReply, " "),
            (SettingKey::ErrorReply, "oops"),
        ]);
        assert_eq!(settings.max_reply_messages, 3);
        assert_eq!(settings.help_reply, Settings::default().help_reply);
        assert_eq!(settings.error_reply, "oops");
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn defaults_keep_their_own_rules() {
        let mut settings = Settings::default();
        for key in SettingKey::ALL {
            assert_eq!(settings.apply(key, key.default_value()), Ok(()), "{key}");
        }
        assert_eq!(settings.max_reply_messages, 1);
        assert!(settings.help_reply.starts_with("Text your question"));
    }

    #[test]
    fn invalid_values_are_refused_and_change_nothing() {
        let mut settings = Settings::default();
        assert!(settings.apply(SettingKey::HelpReply, "  ").is_err());
        assert!(settings.apply(SettingKey::MaxReplyMessages, "11").is_err());
        assert!(settings.apply(SettingKey::MaxReplyMessages, "two").is_err());
        assert_eq!(settings, Settings::default());
        assert!(settings.apply(SettingKey::UnknownUserReply, "").is_ok());
        assert!(SettingKey::parse("nope").is_err());
        assert_eq!(SettingKey::parse("error_reply"), Ok(SettingKey::ErrorReply));
    }
}
