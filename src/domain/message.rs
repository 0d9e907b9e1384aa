//! An inbound text message as the domain sees it.

use std::fmt;

use super::keyword::Keyword;
use super::phone::{Masked, PhoneNumber};

/// Twilio's id of a message (`SM…`, `MM…`): ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageSid(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageSidError {
    #[error("is empty")]
    Empty,
    #[error("must be 2 to 64 ASCII letters and digits")]
    Malformed,
}

impl MessageSid {
    /// # Errors
    /// `Empty` for an empty text, `Malformed` for anything but 2–64 ASCII
    /// letters and digits.
    pub fn parse(text: &str) -> Result<Self, MessageSidError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MessageSidError::Empty);
        }
        if !(2..=64).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(MessageSidError::Malformed);
        }
        Ok(MessageSid(text.to_owned()))
    }
}

impl AsRef<str> for MessageSid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who sent a message: a phone number, or a sender that is not one (a short
/// code, an alphanumeric id). The latter is never a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Number(PhoneNumber),
    Other(String),
}

impl Sender {
    /// The most a stored or logged non-number sender keeps.
    const MAX_OTHER_LEN: usize = 64;

    /// A sender that is not a number, as it is kept and logged: without
    /// control characters (no store need hold a NUL), trimmed, bounded.
    pub fn other(raw: &str) -> Self {
        let printable: String = raw.chars().filter(|c| !c.is_control()).collect();
        Sender::Other(printable.trim().chars().take(Self::MAX_OTHER_LEN).collect())
    }

    /// The text that identifies the sender: E.164 for a number.
    pub fn as_str(&self) -> &str {
        match self {
            Sender::Number(n) => n.as_ref(),
            Sender::Other(s) => s,
        }
    }

    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            Sender::Number(n) => Some(n),
            Sender::Other(_) => None,
        }
    }

    pub fn masked(&self) -> Masked<'_> {
        Masked(self.as_str())
    }
}

/// Correlates everything one HTTP request causes, in logs and for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most media one message carries (Twilio's own limit).
pub const MAX_MEDIA: usize = 10;

/// A picture (or other file) sent with a message: where Twilio keeps it
/// (fetching it needs Twilio's basic auth) and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    url: String,
    content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("is not an http(s) URL of at most 2048 characters")]
    Url,
    #[error("is not a media type (`type/subtype`, at most 127 characters)")]
    ContentType,
}

impl Media {
    /// # Errors
    /// Which of the two cannot be a media's.
    pub fn parse(url: &str, content_type: &str) -> Result<Self, (&'static str, MediaError)> {
        let url = url.trim();
        let lower = url.to_ascii_lowercase();
        if url.len() > 2048
            || !(lower.starts_with("https://") || lower.starts_with("http://"))
            || url.contains(char::is_whitespace)
        {
            return Err(("url", MediaError::Url));
        }
        let content_type = content_type.trim();
        let well_formed = content_type.len() < 128
            && content_type.split_once('/').is_some_and(|(kind, sub)| {
                !kind.is_empty() && !sub.is_empty() && content_type.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            });
        if !well_formed {
            return Err(("content_type", MediaError::ContentType));
        }
        Ok(Media {
            url: url.to_owned(),
            content_type: content_type.to_owned(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn content_type(&self) -> &str {
        &self.content_type
    }
}

/// A file an agent sends back with its reply: an https URL Twilio fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink(String);

impl MediaLink {
    /// An https URL of at most 2048 characters, without white space.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        (text.len() <= 2048
            && text
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
            && text.len() > 8
            && !text.contains(char::is_whitespace))
        .then(|| MediaLink(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An inbound SMS, parsed at the edge.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub sid: MessageSid,
    pub from: Sender,
    /// The number the message was sent to, as Twilio gave it.
    pub to: Option<String>,
    pub body: String,
    /// As many as Twilio's `NumMedia` says, at most `MAX_MEDIA`.
    pub media: Vec<Media>,
    pub num_media: u32,
    /// Twilio's own reading of an opt-out keyword (`OptOutType`), if any.
    pub opt_out_type: Option<Keyword>,
    /// Also the id of the trace the message belongs to (W3C Trace Context):
    /// the webhook caller's, or a new one.
    pub request_id: RequestId,
    /// The trace's `sampled` flag: the caller records it.
    pub sampled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_sent_back_are_https_urls() {
        assert!(MediaLink::parse("https://example.com/cat.png").is_some());
        assert!(MediaLink::parse("http://example.com/cat.png").is_none());
        assert!(MediaLink::parse("https://").is_none());
        assert!(MediaLink::parse("https://example.com/a cat.png").is_none());
        assert!(MediaLink::parse(&format!("https://example.com/{}", "x".repeat(2100))).is_none());
    }

    #[test]
    fn media_are_web_urls_with_a_type() {
        assert!(
            Media::parse(
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                "image/jpeg"
            )
            .is_ok()
        );
        assert_eq!(Media::parse("ftp://x/y", "image/png").unwrap_err().0, "url");
        assert_eq!(Media::parse("javascript:alert(1)", "image/png").unwrap_err().0, "url");
        assert_eq!(Media::parse("https://x/y", "jpeg").unwrap_err().0, "content_type");
        assert_eq!(Media::parse("https://x/y", "image/\n").unwrap_err().0, "content_type");
    }

    #[test]
    fn sids_are_letters_and_digits() {
        assert!(MessageSid::parse("SM0123456789abcdef0123456789abcdef").is_ok());
        assert_eq!(MessageSid::parse("  "), Err(MessageSidError::Empty));
        assert_eq!(MessageSid::parse("SM 1"), Err(MessageSidError::Malformed));
        assert_eq!(MessageSid::parse(&"S".repeat(65)), Err(MessageSidError::Malformed));
    }

    #[test]
    fn other_senders_are_bounded() {
        assert_eq!(Sender::other(&"x".repeat(500)).as_str().len(), 64);
        assert_eq!(Sender::other("\u{1e}\u{0}Acme\u{7} ").as_str(), "Acme");
    }
}
