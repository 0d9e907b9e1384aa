//! Number verification: a code by REST, confirmed by SMS or by the API.

use sms_router::startup::Tuning;

use crate::helpers::spec::types::{
    AddPhoneRequest, ConfigDto, ConfirmVerificationRequest, PhoneDto, PutConfigRequest, VerificationMethodDto,
};
use crate::helpers::spec::{Answer, ok, refused, status, status_of};
use crate::helpers::{FakeTwilio, TestApp, eventually, sid_of, sms, spawn_app, spawn_app_with_twilio};

const PRIMARY: &str = "+12015550123";
const EXTRA: &str = "+12015550177";

/// A user with an unverified extra number; answers the number.
async fn user_with_extra_number(app: &TestApp) -> PhoneDto {
    let user = app.add_user("Ada", PRIMARY, true).await;
    let extra = AddPhoneRequest::builder().phone_number(EXTRA);
    ok(app.api().add_user_phone().id(user).body(extra).send().await)
}

/// Starts a verification and reads the code off the message Twilio got.
async fn start(app: &TestApp, twilio: &FakeTwilio, phone: &PhoneDto) -> String {
    let before = twilio.received().len();
    let started = ok(app.api().start_phone_verification().id(phone.id).send().await);
    assert_eq!(started.phone_id, phone.id);
    eventually("the code to be texted", || twilio.received().len() > before).await;
    let request = twilio.received().pop().unwrap();
    assert_eq!(request.field("To"), Some(EXTRA));
    let body = request.field("Body").unwrap().to_owned();
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{body}");
    code
}

async fn confirm(app: &TestApp, phone: i64, code: &str) -> Answer<PhoneDto> {
    let code = ConfirmVerificationRequest { code: code.to_owned() };
    app.api().confirm_phone_verification().id(phone).body(code).send().await
}

#[tokio::test]
async fn a_code_by_rest_confirmed_through_the_api() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;

    let code = start(&app, &twilio, &phone).await;

    let stored: String = app
        .db()
        .query_row(
            "SELECT code_hash FROM sms_phone_verifications WHERE phone_id = ?1",
            [phone.id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains(&code), "the code is stored hashed");
    let confirmed = ok(confirm(&app, phone.id, &code).await);
    assert_eq!(
        (confirmed.is_verified, confirmed.verification_method),
        (true, Some(VerificationMethodDto::Sms))
    );
    assert_eq!(
        status_of(confirm(&app, phone.id, &code).await),
        422,
        "a code works once"
    );
}

#[tokio::test]
async fn a_code_texted_back_from_the_number_verifies_it() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, &phone).await;
    let params = sms(EXTRA, &format!(" {code} "));

    let answer = app.post_sms(&params).await;

    assert_eq!(answer.messages(), ["Your number is verified."]);
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "verified");
    assert_eq!(app.inbound_row(&sid_of(&params)).await.user_id, Some(phone.user_id));
    let phones = ok(app.api().list_user_phones().id(phone.user_id).send().await).items;
    assert_eq!(
        (phones[0].is_verified, phones[0].verification_method),
        (true, Some(VerificationMethodDto::Sms))
    );
    assert_eq!(app.agent.calls(), 0);
}

#[tokio::test]
async fn wrong_expired_and_too_many_codes_are_refused() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, &phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let (status, error) = refused(confirm(&app, phone.id, wrong).await);
    assert_eq!(status, 422, "{error:?}");
    assert!(error.message.contains("wrong"));
    assert_eq!(status_of(confirm(&app, phone.id, "12ab").await), 422);
    for _ in 0..4 {
        let _ = confirm(&app, phone.id, wrong).await;
    }
    let (status, error) = refused(confirm(&app, phone.id, &code).await);
    assert_eq!(status, 429, "even the right code, after five wrong ones: {error:?}");

    let code = start(&app, &twilio, &phone).await;
    app.db()
        .execute(
            "UPDATE sms_phone_verifications SET expires_at = '2000-01-01T00:00:00+00:00' WHERE phone_id = ?1",
            [phone.id],
        )
        .unwrap();
    let (status, error) = refused(confirm(&app, phone.id, &code).await);
    assert_eq!(status, 422);
    assert!(error.message.contains("expired"), "{error:?}");
    assert_eq!(status_of(confirm(&app, 999, &code).await), 404);
    assert_eq!(
        status_of(app.api().start_phone_verification().id(999).send().await),
        404
    );
}

async fn require_verified_numbers(app: &TestApp, value: &str) -> Answer<ConfigDto> {
    let value = PutConfigRequest::builder().value(value);
    app.api()
        .put_config()
        .key("require_verified_numbers")
        .body(value)
        .send()
        .await
}

/// A code that is not `code`.
fn other_than(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

async fn is_verified(app: &TestApp, phone: &PhoneDto) -> bool {
    let phones = ok(app.api().list_user_phones().id(phone.user_id).send().await).items;
    phones.iter().any(|p| p.id == phone.id && p.is_verified)
}

#[tokio::test]
async fn five_wrong_codes_texted_from_the_number_kill_the_code() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, &phone).await;

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
    assert_eq!(app.inbound_row(&sid_of(&right)).await.outcome, "routed");
    assert!(!is_verified(&app, &phone).await);
    assert_eq!(
        status_of(confirm(&app, phone.id, &code).await),
        429,
        "the texted wrong codes counted"
    );
}

#[tokio::test]
async fn wrong_codes_by_text_and_by_the_api_count_together() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, &phone).await;

    for _ in 0..3 {
        app.send(EXTRA, other_than(&code)).await;
    }
    for _ in 0..2 {
        assert_eq!(status_of(confirm(&app, phone.id, other_than(&code)).await), 422);
    }

    assert_eq!(status_of(confirm(&app, phone.id, &code).await), 429);
    assert!(!is_verified(&app, &phone).await);
}

#[tokio::test]
async fn concurrent_wrong_confirms_cannot_together_pass_five() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    let code = start(&app, &twilio, &phone).await;

    let answers = futures_util::future::join_all((0..10).map(|_| confirm(&app, phone.id, other_than(&code)))).await;

    let statuses: Vec<u16> = answers.iter().map(status).collect();
    let weighed = statuses.iter().filter(|s| **s == 422).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((weighed, locked), (5, 5), "{statuses:?}");
    assert_eq!(status_of(confirm(&app, phone.id, &code).await), 429);
}

#[tokio::test]
async fn with_require_verified_numbers_an_unverified_extra_number_is_unknown() {
    let (app, twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let phone = user_with_extra_number(&app).await;
    ok(require_verified_numbers(&app, "true").await);

    let before = sms(EXTRA, "hello");
    app.post_sms(&before).await;
    assert_eq!(app.inbound_row(&sid_of(&before)).await.outcome, "unknown_user");
    assert_eq!(
        app.send(PRIMARY, "from my primary").await.messages(),
        ["hi from the agent"]
    );

    let code = start(&app, &twilio, &phone).await;
    assert_eq!(app.send(EXTRA, &code).await.messages(), ["Your number is verified."]);
    let after = sms(EXTRA, "hello again");
    app.post_sms(&after).await;
    assert_eq!(
        app.inbound_row(&sid_of(&after)).await.outcome,
        "routed",
        "verified: routed on the very next message"
    );
    assert_eq!(status_of(require_verified_numbers(&app, "maybe").await), 422);
}

#[tokio::test]
async fn without_twilio_settings_no_code_can_be_sent() {
    let app = spawn_app().await;
    let phone = user_with_extra_number(&app).await;

    let answer = app.api().start_phone_verification().id(phone.id).send().await;

    assert_eq!(status_of(answer), 503);
}
