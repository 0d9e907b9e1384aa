//! What a reply looks like once it is TwiML.

use crate::helpers::spawn_app;
use crate::helpers::spec::types::DirectionDto;

const ADA: &str = "+12015550123";

#[tokio::test]
async fn markup_emoji_and_control_characters_come_out_as_the_agent_meant() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.agent
        .replies("if a < b && c > d then ]]> \"quoted\" 'single' 😀\u{1}\u{b} done\r\nnext");

    let answer = app.send(ADA, "hi").await;

    assert_eq!(
        answer.messages(),
        ["if a < b && c > d then ]]> \"quoted\" 'single' 😀 done\r\nnext"]
    );
}

#[tokio::test]
async fn a_long_reply_is_cut_to_one_message_with_an_ellipsis() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.agent.replies(&"word ".repeat(1000));

    let messages = app.send(ADA, "hi").await.messages();

    assert_eq!(messages.len(), 1);
    assert!(messages[0].encode_utf16().count() <= 1600);
    assert!(
        messages[0].ends_with("word…"),
        "{}",
        &messages[0][messages[0].len() - 20..]
    );
    let outbound = app.log_rows(DirectionDto::Outbound).await;
    assert_eq!(outbound.len(), 1);
    assert_eq!(
        outbound[0].message_length,
        i64::try_from(messages[0].chars().count()).unwrap()
    );
    // The ellipsis is not GSM-7: the message is UCS-2, 67 characters a segment.
    assert_eq!(outbound[0].segments, 24);
}

#[tokio::test]
async fn a_long_reply_is_split_into_the_allowed_number_of_messages() {
    let app = spawn_app().await;
    app.set_config("max_reply_messages", "4").await;
    app.add_user("Ada", ADA, true).await;
    let text = "word ".repeat(1000);
    app.agent.replies(&text);

    let messages = app.send(ADA, "hi").await.messages();

    assert_eq!(messages.len(), 4);
    assert!(
        messages
            .iter()
            .all(|m| m.encode_utf16().count() <= 1600 && m.ends_with(' '))
    );
    assert_eq!(messages.concat(), text);
    assert_eq!(app.count_rows("outbound").await, 4);
}

/// `max_reply_segments` bounds what a reply costs, and the agent is told:
/// a 4-segment reply is cut to 3 at a segment boundary; unset, the reply
/// goes out whole, as before.
#[tokio::test]
async fn a_reply_over_max_reply_segments_is_cut_and_the_agent_knows_the_budget() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    // 600 GSM-7 characters: four segments of 153.
    let text = "word ".repeat(120);
    app.agent.replies(&text);

    let whole = app.send(ADA, "hi").await.messages();
    app.set_config("max_reply_segments", "3").await;
    let cut = app.send(ADA, "hi again").await.messages();

    assert_eq!(whole, [text.as_str()]);
    assert_eq!(cut.len(), 1);
    assert!(cut[0].ends_with("word…"), "{cut:?}");
    // The ellipsis makes it UCS-2: three segments of 67 UTF-16 units.
    let units = cut[0].encode_utf16().count();
    assert!((2 * 67 + 1..=3 * 67).contains(&units), "{units}");
    let outbound = app.log_rows(DirectionDto::Outbound).await;
    assert_eq!(outbound[0].segments, 3, "the cut reply's row");
    let asked = app.agent.received();
    assert_eq!(
        asked[0].0["reply"],
        serde_json::json!({"max_messages": 1, "max_segments": null, "encoding_hint": "gsm7"})
    );
    assert_eq!(asked[1].0["reply"]["max_segments"], 3);
}

/// With smart encoding (the default) a reply whose only characters outside
/// GSM-7 have look-alikes goes out as GSM-7 and is logged so; turned off,
/// it goes as written, logged UCS-2 with the code point that forced it.
#[tokio::test]
async fn a_reply_with_curly_quotes_goes_out_as_gsm7_and_is_logged_so() {
    use crate::helpers::spec::types::EncodingDto;

    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.agent
        .replies("\u{201C}See you at 5\u{201D} \u{2014} it\u{2019}s booked\u{2026}");

    let smart = app.send(ADA, "hi").await.messages();
    app.set_config("smart_encoding", "false").await;
    let plain = app.send(ADA, "hi again").await.messages();

    assert_eq!(smart, ["\"See you at 5\" - it's booked..."]);
    assert_eq!(
        plain,
        ["\u{201C}See you at 5\u{201D} \u{2014} it\u{2019}s booked\u{2026}"]
    );
    let outbound = app.log_rows(DirectionDto::Outbound).await;
    let cost = |n: usize| (outbound[n].encoding, outbound[n].ucs2_code_point);
    // Newest first.
    assert_eq!(cost(1), (Some(EncodingDto::Gsm7), None));
    assert_eq!(cost(0), (Some(EncodingDto::Ucs2), Some(0x201C)));
}
