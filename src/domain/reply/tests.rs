//! Unit tests of `reply`: splitting, cutting and the budget.

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
    assert_eq!(Reply::compose("hi", ReplyBudget::messages(1)).messages(), ["hi"]);
    assert!(Reply::compose("", ReplyBudget::messages(3)).is_empty());
    assert!(Reply::compose("\u{1}\u{2}", ReplyBudget::messages(3)).is_empty());
}

#[test]
fn control_characters_are_removed() {
    assert_eq!(
        Reply::compose("a\u{0}b\u{1b}c\tD\u{FFFE}", ReplyBudget::messages(1)).messages(),
        ["abc\tD"]
    );
}

#[test]
fn long_text_splits_at_white_space_in_the_final_fifth() {
    let text = format!("{} {}", "a".repeat(1500), "b".repeat(500));
    let reply = Reply::compose(&text, ReplyBudget::messages(3));
    assert_eq!(reply.messages().len(), 2);
    assert_eq!(reply.messages()[0], format!("{} ", "a".repeat(1500)));
    assert_eq!(reply.messages()[1], "b".repeat(500));
}

#[test]
fn white_space_before_the_final_fifth_is_not_used() {
    let text = format!("{} {}", "a".repeat(100), "b".repeat(3000));
    let reply = Reply::compose(&text, ReplyBudget::messages(3));
    assert_eq!(units(&reply.messages()[0]), 1600);
}

#[test]
fn text_beyond_the_last_message_is_cut_with_an_ellipsis() {
    let reply = Reply::compose(&"x".repeat(5000), ReplyBudget::messages(1));
    assert_eq!(reply.messages().len(), 1);
    assert_eq!(units(&reply.messages()[0]), 1600);
    assert!(reply.messages()[0].ends_with('…'));

    let reply = Reply::compose(&"x".repeat(5000), ReplyBudget::messages(10));
    assert_eq!(reply.messages().len(), 4);
    assert_eq!(reply.messages().concat(), "x".repeat(5000));
}

#[test]
fn emoji_are_never_split() {
    let reply = Reply::compose(&"😀".repeat(1000), ReplyBudget::messages(2));
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
        let reply = Reply::compose(&text, ReplyBudget::messages(max));
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

fn budget(max_messages: usize, max_segments: u32) -> ReplyBudget {
    ReplyBudget {
        max_messages,
        max_segments: NonZeroU32::new(max_segments),
        smart_encoding: false,
    }
}

fn smart(max_messages: usize) -> ReplyBudget {
    ReplyBudget {
        smart_encoding: true,
        ..ReplyBudget::messages(max_messages)
    }
}

#[test]
fn smart_encoding_sends_curly_quotes_as_straight_ones() {
    let text = "\u{201C}Sure\u{201D} \u{2014} it\u{2019}s at 5";
    assert_eq!(Reply::compose(text, smart(1)).messages(), ["\"Sure\" - it's at 5"]);
    assert_eq!(Reply::compose(text, ReplyBudget::messages(1)).messages(), [text]);
    // An emoji keeps it UCS-2 anyway: sent exactly as written.
    let emoji = "it\u{2019}s \u{1F600}";
    assert_eq!(Reply::compose(emoji, smart(1)).messages(), [emoji]);
}

fn segments(reply: &Reply) -> u32 {
    reply.messages().iter().map(|m| count_segments(m).1).sum()
}

#[test]
fn a_reply_over_its_segments_is_cut_at_a_segment_boundary_with_an_ellipsis() {
    // Four GSM-7 segments' worth, in one message of 600 characters.
    let text = "word ".repeat(120);
    assert_eq!(segments(&Reply::compose(&text, budget(1, 0))), 4);

    let cut = Reply::compose(&text, budget(1, 3));

    assert_eq!(segments(&cut), 3);
    assert!(cut.messages()[0].ends_with("word…"), "{:?}", cut.messages());
    // With the ellipsis the message is UCS-2: three segments of 67.
    assert!(cut.messages()[0].encode_utf16().count() <= 3 * 67);
    assert!(cut.messages()[0].encode_utf16().count() > 2 * 67);
}

#[test]
fn a_reply_within_its_segments_is_sent_as_it_is() {
    let text = "short and sweet";
    assert_eq!(Reply::compose(text, budget(3, 1)), Reply::compose(text, budget(3, 0)));
}

#[test]
fn later_messages_are_left_out_and_the_last_kept_says_so() {
    // Two full messages of 1600 GSM-7 characters each: 11 segments each.
    let text = "x".repeat(3200);
    let cut = Reply::compose(&text, budget(2, 11));
    assert_eq!(cut.messages().len(), 1);
    assert!(cut.messages()[0].ends_with('…'));
    assert!(segments(&cut) <= 11);
}

proptest! {
    #[test]
    fn a_budget_is_never_overspent_and_what_is_kept_is_the_text_s_beginning(
        text in "[a-z €😀\n]{0,2500}",
        max_messages in 1usize..4,
        max_segments in 1u32..12,
    ) {
        let whole = Reply::compose(&text, budget(max_messages, 0));
        let cut = Reply::compose(&text, budget(max_messages, max_segments));
        prop_assert!(segments(&cut) <= max_segments);
        if segments(&whole) <= max_segments {
            prop_assert_eq!(&cut, &whole);
        } else {
            let kept: String = cut.messages().concat();
            let kept = kept.trim_end_matches('…');
            prop_assert!(whole.messages().concat().starts_with(kept.trim_end()));
            prop_assert!(cut.messages().last().is_some_and(|m| m.ends_with('…')));
        }
    }
}

proptest! {
    /// Smart encoding never makes a reply cost more, however it is split.
    #[test]
    fn smart_encoding_never_costs_more_segments(
        text in "[a-z \u{2019}\u{201C}\u{201D}\u{2014}\u{2026}\u{00A0}\u{1F600}]{0,4000}",
        max_messages in 1usize..4,
    ) {
        let plain = Reply::compose(&text, ReplyBudget::messages(max_messages));
        let smart = Reply::compose(&text, smart(max_messages));
        prop_assert!(segments(&smart) <= segments(&plain), "{} > {}", segments(&smart), segments(&plain));
    }
}
