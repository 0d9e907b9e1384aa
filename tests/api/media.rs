//! Pictures (MMS): media sent to the number reach the agent, and files the
//! agent sends back go out in TwiML or through Twilio's REST API.

use std::time::Duration;

use sms_router::startup::Tuning;

use crate::helpers::spec::types::DirectionDto;
use crate::helpers::{Behaviour, eventually, sms, spawn_app, spawn_app_with_twilio};

const ADA: &str = "+12015550123";

fn with_media(from: &str, body: &str, media: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = sms(from, body).into_iter().filter(|(k, _)| k != "NumMedia").collect();
    params.push(("NumMedia".into(), media.len().to_string()));
    for (n, (url, kind)) in media.iter().enumerate() {
        params.push((format!("MediaUrl{n}"), (*url).to_owned()));
        params.push((format!("MediaContentType{n}"), (*kind).to_owned()));
    }
    params
}

const PICTURE: &str = "https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages/MM0123/Media/ME0001";
const DRAWING: &str = "https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages/MM0123/Media/ME0002";

#[tokio::test]
async fn two_pictures_without_text_reach_the_agent_with_their_types() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.agent.replies("nice pictures");

    let answer = app
        .post_sms(&with_media(ADA, "", &[(PICTURE, "image/jpeg"), (DRAWING, "image/png")]))
        .await;
    let plain = app.send(ADA, "no pictures").await;

    assert_eq!(answer.messages(), ["nice pictures"]);
    assert_eq!(plain.messages(), ["nice pictures"]);
    let received = app.agent.received();
    let (question, _) = &received[0];
    assert_eq!(question["message"], "");
    assert_eq!(
        question["media"],
        serde_json::json!([
            { "url": PICTURE, "content_type": "image/jpeg" },
            { "url": DRAWING, "content_type": "image/png" },
        ])
    );
    assert_eq!(received[1].0["media"], serde_json::json!([]), "always present");
}

#[tokio::test]
async fn media_the_form_cannot_hold_are_refused_by_name() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;

    let missing = app
        .post_sms(
            &with_media(ADA, "", &[(PICTURE, "image/jpeg")])
                .into_iter()
                .filter(|(k, _)| k != "MediaUrl0")
                .collect::<Vec<_>>(),
        )
        .await;
    let not_web = app
        .post_sms(&with_media(ADA, "", &[("file:///etc/passwd", "image/jpeg")]))
        .await;

    assert_eq!(missing.status, 400);
    assert!(missing.json()["message"].as_str().unwrap().contains("MediaUrl0"));
    assert_eq!(not_web.status, 400);
    assert!(not_web.json()["message"].as_str().unwrap().contains("MediaUrl0"));
    assert_eq!(app.agent.calls(), 0);
}

const CAT: &str = "https://example.com/cat.png?size=large&v=2";
const DOG: &str = "https://example.com/dog.jpg";

#[tokio::test]
async fn a_reply_with_files_renders_twiml_with_media_and_logs_their_count() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.agent.set(Behaviour::ReplyWithMedia(
        "two friends".into(),
        vec![CAT.into(), DOG.into()],
        Duration::ZERO,
    ));
    let params = sms(ADA, "pictures please");

    let answer = app.post_sms(&params).await;

    let doc = roxmltree::Document::parse(&answer.body).unwrap();
    let message = doc.root_element().first_element_child().unwrap();
    let parts: Vec<(String, String)> = message
        .children()
        .filter(|n| n.is_element())
        .map(|n| (n.tag_name().name().to_owned(), n.text().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        parts,
        [
            ("Body".to_owned(), "two friends".to_owned()),
            ("Media".to_owned(), CAT.to_owned()),
            ("Media".to_owned(), DOG.to_owned()),
        ]
    );
    let outbound = app.log_rows(DirectionDto::Outbound).await;
    let metadata = outbound[0].metadata.clone().unwrap_or_default();
    assert_eq!(metadata["num_media"], 2);
}

#[tokio::test]
async fn files_that_are_not_https_or_too_many_are_an_agent_error() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;

    app.agent.set(Behaviour::ReplyWithMedia(
        "x".into(),
        vec!["http://example.com/a.png".into()],
        Duration::ZERO,
    ));
    let plain_http = app.send(ADA, "one").await;
    app.agent.set(Behaviour::ReplyWithMedia(
        "x".into(),
        vec![DOG.to_owned(); 11],
        Duration::ZERO,
    ));
    let eleven = app.send(ADA, "two").await;

    for answer in [plain_http, eleven] {
        assert_eq!(
            answer.messages(),
            ["Sorry, something went wrong. Please try again in a moment."]
        );
    }
}

#[tokio::test]
async fn a_late_reply_with_files_is_sent_through_rest_with_a_media_url_each() {
    let (app, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "200")], Tuning::default()).await;
    app.add_user("Ada", ADA, true).await;
    app.agent.set(Behaviour::ReplyWithMedia(
        String::new(),
        vec![CAT.into(), DOG.into()],
        Duration::from_millis(600),
    ));

    let answer = app.send(ADA, "slow pictures").await;
    eventually("the late reply to reach Twilio", || twilio.received().len() == 1).await;

    assert!(answer.messages().is_empty());
    let sent = &twilio.received()[0];
    let urls: Vec<&str> = sent
        .form
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(urls, [CAT, DOG]);
    assert_eq!(sent.field("Body"), None, "files alone carry no Body");
}
