//! What the service answers a message with: zero or more SMS, each within
//! Twilio's 1600-character limit.

use std::num::NonZeroU32;

use super::message::MediaLink;
use super::segments::{count_segments, smart_encoded};

/// Twilio's limit for one message, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 1600;
/// Marks a reply that was cut short.
const ELLIPSIS: char = '…';

/// What one answer may cost: how many messages, how many SMS segments in
/// all (`None`: no bound but the messages'), and whether GSM-7 look-alikes
/// may stand in for the characters that would make it UCS-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBudget {
    pub max_messages: usize,
    pub max_segments: Option<NonZeroU32>,
    pub smart_encoding: bool,
}

impl ReplyBudget {
    /// At most `max_messages` messages, however many segments they take.
    pub fn messages(max_messages: usize) -> Self {
        ReplyBudget {
            max_messages,
            max_segments: None,
            smart_encoding: false,
        }
    }
}

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
    pub fn with_media(text: &str, media: &[MediaLink], budget: ReplyBudget) -> Self {
        let mut reply = Self::compose(text, budget);
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

    /// Splits `text` into at most the budget's messages of at most
    /// [`MAX_MESSAGE_UNITS`] UTF-16 units each, and, when the budget bounds
    /// them, at most its segments in all. Characters a message cannot carry
    /// are removed first; then, with smart encoding, look-alikes replace the
    /// characters that would make the text UCS-2 when that makes all of it
    /// GSM-7 (`segments::smart_encoded`). A split falls after the last white space in the
    /// final fifth of a chunk where there is one, else between two code
    /// points; what does not fit is cut and the last message ends with `…`.
    pub fn compose(text: &str, budget: ReplyBudget) -> Self {
        let clean: String = text.chars().filter(|&c| is_sendable(c)).collect();
        let text = if budget.smart_encoding {
            smart_encoded(&clean).unwrap_or(clean)
        } else {
            clean
        };
        let mut reply = Self::split(&text, budget.max_messages);
        if let Some(max) = budget.max_segments {
            reply.messages = within_segments(reply.messages, max.get());
        }
        reply
    }

    fn split(text: &str, max_messages: usize) -> Self {
        let mut rest = text;
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

/// The messages, cut so that they cost at most `max` segments in all: the
/// last one kept ends with `…` when anything was left out.
fn within_segments(messages: Vec<String>, max: u32) -> Vec<String> {
    let mut left = max;
    let mut kept = Vec::new();
    let count = messages.len();
    for (n, message) in messages.into_iter().enumerate() {
        let (_, segments) = count_segments(&message);
        let more_follow = n + 1 < count;
        if segments < left || (segments == left && !more_follow) {
            left -= segments;
            kept.push(message);
            continue;
        }
        // What is kept always leaves at least one segment: this message is
        // cut to what is left, and says that more was meant.
        kept.push(cut_to_segments(&message, left));
        break;
    }
    kept
}

/// The longest beginning of `text` that, with `…` after it, costs at most
/// `segments` segments; cut after a white space in its final fifth where
/// there is one.
fn cut_to_segments(text: &str, segments: u32) -> String {
    let with_ellipsis = |prefix: &str| {
        let mut cut = prefix.trim_end().to_owned();
        cut.push(ELLIPSIS);
        cut
    };
    let ends: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .skip(1)
        .chain([text.len()])
        .collect();
    let fits = |chars: usize| chars == 0 || count_segments(&with_ellipsis(&text[..ends[chars - 1]])).1 <= segments;
    // The most characters that fit: a longer beginning never costs less.
    let (mut low, mut high) = (0, ends.len());
    while low < high {
        let mid = (low + high).div_ceil(2);
        if fits(mid) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let end = if low == 0 { 0 } else { ends[low - 1] };
    let prefix = &text[..end];
    let floor = prefix.len() - prefix.len() / 5;
    let at = prefix
        .char_indices()
        .rev()
        .take_while(|&(i, _)| i >= floor)
        .find(|&(_, c)| c.is_whitespace())
        .map_or(end, |(i, _)| i);
    with_ellipsis(&text[..at])
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
mod tests;
