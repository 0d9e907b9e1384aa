//! What the service answers a message with: zero or more SMS, each within
//! Twilio's 1600-character limit.

use super::message::MediaLink;

/// Twilio's limit for one message, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 1600;
/// Marks a reply that was cut short.
const ELLIPSIS: char = '…';

/// The messages of one answer, in order, and the files sent with the
/// first. Empty: answer nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    messages: Vec<String>,
    media: Vec<MediaLink>,
}

impl Reply {
    pub fn empty() -> Self {
        Reply::default()
    }

    /// `compose`, with `media` sent with the first message: a reply of files
    /// alone is one message without text.
    pub fn with_media(text: &str, media: &[MediaLink], max_messages: usize) -> Self {
        let mut reply = Self::compose(text, max_messages);
        if !media.is_empty() {
            if reply.messages.is_empty() {
                reply.messages.push(String::new());
            }
            reply.media = media.to_vec();
        }
        reply
    }

    /// A reply as it was composed and kept: its messages and files, read
    /// back as they were written.
    pub fn stored(messages: Vec<String>, media: Vec<MediaLink>) -> Self {
        Reply { messages, media }
    }

    /// The files sent with the first message.
    pub fn media(&self) -> &[MediaLink] {
        &self.media
    }

    /// Each message with the files it carries: every file goes with the
    /// first message (as in TwiML), none with the others.
    pub fn parts(&self) -> impl Iterator<Item = (&str, &[MediaLink])> {
        self.messages.iter().enumerate().map(|(n, message)| {
            let media: &[MediaLink] = if n == 0 { &self.media } else { &[] };
            (message.as_str(), media)
        })
    }

    /// Splits `text` into at most `max_messages` messages of at most
    /// [`MAX_MESSAGE_UNITS`] UTF-16 units each. Characters a message cannot
    /// carry are removed first. A split falls after the last white space in
    /// the final fifth of a chunk where there is one, else between two code
    /// points; what does not fit is cut and the last message ends with `…`.
    pub fn compose(text: &str, max_messages: usize) -> Self {
        let clean: String = text.chars().filter(|&c| is_sendable(c)).collect();
        let mut rest = clean.as_str();
        let mut messages = Vec::new();
        while !rest.is_empty() && messages.len() < max_messages.max(1) {
            if units(rest) <= MAX_MESSAGE_UNITS {
                messages.push(rest.to_owned());
                break;
            }
            if messages.len() + 1 == max_messages.max(1) {
                let cut = split_point(rest, MAX_MESSAGE_UNITS - ELLIPSIS.len_utf16());
                let mut last = rest[..cut].trim_end().to_owned();
                last.push(ELLIPSIS);
                messages.push(last);
                break;
            }
            let at = split_point(rest, MAX_MESSAGE_UNITS);
            messages.push(rest[..at].to_owned());
            rest = &rest[at..];
        }
        Reply {
            messages,
            media: Vec::new(),
        }
    }

    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// XML 1.0 cannot carry most C0 controls nor U+FFFE/U+FFFF, and no handset
/// would show them.
pub fn is_sendable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The byte index where a chunk of at most `limit` units ends.
fn split_point(text: &str, limit: usize) -> usize {
    let mut used = 0;
    let mut end = 0;
    let mut last_space = None;
    for (i, c) in text.char_indices() {
        if used + c.len_utf16() > limit {
            break;
        }
        used += c.len_utf16();
        end = i + c.len_utf8();
        if c.is_whitespace() && used > limit - limit / 5 {
            last_space = Some(end);
        }
    }
    last_space.unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_file_goes_with_the_first_message_only() {
        let media = vec![crate::domain::message::MediaLink::parse("https://example.com/a.png").unwrap()];
        let reply = Reply::stored(vec!["one".into(), "two".into()], media.clone());
        let parts: Vec<_> = reply.parts().collect();
        assert_eq!(parts, [("one", media.as_slice()), ("two", &[][..])]);
    }

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(Reply::compose("hi", 1).messages(), ["hi"]);
        assert!(Reply::compose("", 3).is_empty());
        assert!(Reply::compose("\u{1}\u{2}", 3).is_empty());
    }

    #[test]
    fn control_characters_are_removed() {
        assert_eq!(Reply::compose("a\u{0}b\u{1b}c\tD\u{FFFE}", 1).messages(), ["abc\tD"]);
    }

    #[test]
    fn long_text_splits_at_white_space_in_the_final_fifth() {
        let text = format!("{} {}", "a".repeat(1500), "b".repeat(500));
        let reply = Reply::compose(&text, 3);
        assert_eq!(reply.messages().len(), 2);
        assert_eq!(reply.messages()[0], format!("{} ", "a".repeat(1500)));
        assert_eq!(reply.messages()[1], "b".repeat(500));
    }

    #[test]
    fn white_space_before_the_final_fifth_is_not_used() {
        let text = format!("{} {}", "a".repeat(100), "b".repeat(3000));
        let reply = Reply::compose(&text, 3);
        assert_eq!(units(&reply.messages()[0]), 1600);
    }

    #[test]
    fn text_beyond_the_last_message_is_cut_with_an_ellipsis() {
        let reply = Reply::compose(&"x".repeat(5000), 1);
        assert_eq!(reply.messages().len(), 1);
        assert_eq!(units(&reply.messages()[0]), 1600);
        assert!(reply.messages()[0].ends_with('…'));

        let reply = Reply::compose(&"x".repeat(5000), 10);
        assert_eq!(reply.messages().len(), 4);
        assert_eq!(reply.messages().concat(), "x".repeat(5000));
    }

    #[test]
    fn emoji_are_never_split() {
        let reply = Reply::compose(&"😀".repeat(1000), 2);
        for m in reply.messages() {
            assert!(units(m) <= 1600);
        }
        assert_eq!(units(&reply.messages()[0]), 1600);
    }

    proptest! {
        #[test]
        fn every_message_fits_and_nothing_is_lost_unless_cut(
            text in "(\\PC|\\s){0,4000}",
            max in 1usize..6,
        ) {
            let clean: String = text.chars().filter(|&c| is_sendable(c)).collect();
            let reply = Reply::compose(&text, max);
            prop_assert!(reply.messages().len() <= max);
            for m in reply.messages() {
                prop_assert!(units(m) <= MAX_MESSAGE_UNITS);
                prop_assert!(!m.is_empty());
            }
            let joined = reply.messages().concat();
            if joined != clean {
                let last = reply.messages().last().unwrap();
                prop_assert!(last.ends_with('…'));
                prop_assert_eq!(reply.messages().len(), max);
            }
        }
    }
}
