//! Number verification: a code by REST, confirmed by SMS or by the API.

use serde_json::json;
use sms_router::startup::Tuning;

use crate::helpers::{FakeTwilio, TestApp, eventually, sid_of, sms, spawn_app, spawn_app_with_twilio};

const PRIMARY: &str = "+12015550123";
const EXTRA: &str = "+12015550177";

/// A user with an unverified extra number; answers the number's id.
async fn user_with_extra_number(app: &TestApp) -> i64 {
    let user = app.add_user("Ada", PRIMARY, true).await;
    let (status, phone) = app
        .admin(
            "POST",
            &format!("/users/{user}/phones"),
            Some(json!({ "phone_number": EXTRA })),
        )
        .await;
    assert_eq!(status, 201);
    phone["id"].as_i64().unwrap()
}

/// Starts a verification and reads the code off the message Twilio got.
async fn start(app: &TestApp, twilio: &FakeTwilio, phone: i64) -> String {
    let before = twilio.received().len();
    let (status, started) = app.admin("POST", &format!("/phones/{phone}/verification"), None).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["phone_id"], phone);
    eventually("the code to be texted", || twilio.received().len() > before).await;
    let request = twilio.received().pop().unwrap();
    assert_eq!(request.field("To"), Some(EXTRA));
    let body = request.field("Body").unwrap().to_owned();
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{body}");
    code
}

async fn confirm(app: &TestApp, phone: i64, code: &str) -> (u16, serde_json::Value) {
    app.admin(
        "POST",
        &format!("/phones/{phone}/verification/confirm"),
        Some(json!({ "code": code })),
    )
    .await
}

#[tokio::test]
async fn a_code_by_rest_confirmed_through_the_api() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;

    let code = start(&app, &twilio, phone).await;

    let stored: String = app
        .db()
        .query_row(
            "SELECT code_hash FROM sms_phone_verifications WHERE phone_id = ?1",
            [phone],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains(&code), "the code is stored hashed");
    let (status, confirmed) = confirm(&app, phone, &code).await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(
        (
            confirmed["is_verified"].clone(),
            confirmed["verification_method"].clone()
        ),
        (json!(true), json!("sms"))
    );
    let (status, _) = confirm(&app, phone, &code).await;
    assert_eq!(status, 422, "a code works once");
}

#[tokio::test]
async fn a_code_texted_back_from_the_number_verifies_it() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, phone).await;
    let params = sms(EXTRA, &format!(" {code} "));

    let answer = app.post_sms(&params).await;

    assert_eq!(answer.messages(), ["Your number is verified."]);
    assert_eq!(app.inbound_row(&sid_of(&params)).outcome, "verified");
    let (_, phones) = app
        .admin(
            "GET",
            &format!("/users/{}/phones", app.inbound_row(&sid_of(&params)).user_id.unwrap()),
            None,
        )
        .await;
    assert_eq!(phones["items"][0]["is_verified"], true);
    assert_eq!(phones["items"][0]["verification_method"], "sms");
    assert_eq!(app.agent.calls(), 0);
}

#[tokio::test]
async fn wrong_expired_and_too_many_codes_are_refused() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let (status, error) = confirm(&app, phone, wrong).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["message"].as_str().unwrap().contains("wrong"));
    let (status, _) = confirm(&app, phone, "12ab").await;
    assert_eq!(status, 422);
    for _ in 0..4 {
        confirm(&app, phone, wrong).await;
    }
    let (status, error) = confirm(&app, phone, &code).await;
    assert_eq!(status, 429, "even the right code, after five wrong ones: {error}");

    let code = start(&app, &twilio, phone).await;
    app.db()
        .execute(
            "UPDATE sms_phone_verifications SET expires_at = '2000-01-01T00:00:00+00:00' WHERE phone_id = ?1",
            [phone],
        )
        .unwrap();
    let (status, error) = confirm(&app, phone, &code).await;
    assert_eq!(status, 422);
    assert!(error["message"].as_str().unwrap().contains("expired"), "{error}");
    let (status, _) = confirm(&app, 999, &code).await;
    assert_eq!(status, 404);
    let (status, _) = app.admin("POST", "/phones/999/verification", None).await;
    assert_eq!(status, 404);
}

/// A code that is not `code`.
fn other_than(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

async fn is_verified(app: &TestApp, phone: i64) -> bool {
    let user: i64 = app
        .db()
        .query_row("SELECT user_id FROM user_phone_mappings WHERE id = ?1", [phone], |r| {
            r.get(0)
        })
        .unwrap();
    let (_, phones) = app.admin("GET", &format!("/users/{user}/phones"), None).await;
    phones["items"][0]["is_verified"].as_bool().unwrap()
}

#[tokio::test]
async fn five_wrong_codes_texted_from_the_number_kill_the_code() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, phone).await;

    for _ in 0..5 {
        let wrong = app.send(EXTRA, other_than(&code)).await;
        assert_eq!(
            wrong.messages(),
            ["hi from the agent"],
            "a wrong code goes on to the agent"
        );
    }
    let right = sms(EXTRA, &code);
    let answer = app.post_sms(&right).await;

    assert_eq!(
        answer.messages(),
        ["hi from the agent"],
        "a dead code is an ordinary message"
    );
    assert_eq!(app.inbound_row(&sid_of(&right)).outcome, "routed");
    assert!(!is_verified(&app, phone).await);
    let (status, _) = confirm(&app, phone, &code).await;
    assert_eq!(status, 429, "the texted wrong codes counted");
}

#[tokio::test]
async fn wrong_codes_by_text_and_by_the_api_count_together() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, phone).await;

    for _ in 0..3 {
        app.send(EXTRA, other_than(&code)).await;
    }
    for _ in 0..2 {
        let (status, _) = confirm(&app, phone, other_than(&code)).await;
        assert_eq!(status, 422);
    }

    let (status, _) = confirm(&app, phone, &code).await;
    assert_eq!(status, 429);
    assert!(!is_verified(&app, phone).await);
}

#[tokio::test]
async fn concurrent_wrong_confirms_cannot_together_pass_five() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, phone).await;

    let answers = futures_util::future::join_all((0..10).map(|_| confirm(&app, phone, other_than(&code)))).await;

    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    let weighed = statuses.iter().filter(|s| **s == 422).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((weighed, locked), (5, 5), "{statuses:?}");
    let (status, _) = confirm(&app, phone, &code).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn with_require_verified_numbers_an_unverified_extra_number_is_unknown() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let (status, _) = app
        .admin(
            "PUT",
            "/configs/require_verified_numbers",
            Some(json!({ "value": "true" })),
        )
        .await;
    assert_eq!(status, 200);

    let before = sms(EXTRA, "hello");
    app.post_sms(&before).await;
    assert_eq!(app.inbound_row(&sid_of(&before)).outcome, "unknown_user");
    assert_eq!(
        app.send(PRIMARY, "from my primary").await.messages(),
        ["hi from the agent"]
    );

    let code = start(&app, &twilio, phone).await;
    assert_eq!(app.send(EXTRA, &code).await.messages(), ["Your number is verified."]);
    let after = sms(EXTRA, "hello again");
    app.post_sms(&after).await;
    assert_eq!(
        app.inbound_row(&sid_of(&after)).outcome,
        "routed",
        "verified: routed on the very next message"
    );
    let (status, _) = app
        .admin(
            "PUT",
            "/configs/require_verified_numbers",
            Some(json!({ "value": "maybe" })),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn without_twilio_settings_no_code_can_be_sent() {
    let app = spawn_app().await;
    let phone = user_with_extra_number(&app).await;

    let (status, _) = app.admin("POST", &format!("/phones/{phone}/verification"), None).await;

    assert_eq!(status, 503);
}
