//! Pictures (MMS): media sent to the number reach the agent.

use crate::helpers::{sms, spawn_app};

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
    app.add_user("Ada", ADA, true);
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
    app.add_user("Ada", ADA, true);

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
