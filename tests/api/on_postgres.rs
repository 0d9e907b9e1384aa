//! The routing and admin paths end to end on a PostgreSQL-backed server:
//! the same answers as on SQLite, read through the API only. Skipped,
//! loudly, where PostgreSQL is missing (a failure under CI).

use sms_router::startup::Tuning;

use crate::helpers::spec::types::{
    AddPhoneRequest, ClearableUserField, CreateUserRequest, DeliveryStatusDto, DirectionDto, LookupReason,
    OutboxStatusDto, OutcomeDto, PutConfigRequest, SendMessageRequest, UpdatePhoneRequest, UpdateUserRequest,
    VerificationMethodDto,
};
use crate::helpers::spec::{ok, refused, status_of};
use crate::helpers::{AUTH_TOKEN, TestApp, eventually, found, sms_with_sid, spawn_app_with_twilio, twilio_signature};
use crate::postgres_cluster::fresh_database;

const ADA: &str = "+12015550123";
const STRANGER: &str = "+12015550199";

async fn app_on_postgres() -> Option<(TestApp, crate::helpers::FakeTwilio)> {
    let url = fresh_database().await?;
    Some(spawn_app_with_twilio(&[("SMS_ROUTER_DATABASE_URL", &url)], Tuning::default()).await)
}

#[tokio::test]
async fn messages_are_routed_refused_and_logged_as_on_sqlite() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };
    app.agent.replies("hi Ada");
    let ada = app.add_user("Ada", ADA, true).await;

    let routed = app
        .post_sms(&sms_with_sid("SMpg00000000000000000000000000001", ADA, "hello"))
        .await;
    let retried = app
        .post_sms(&sms_with_sid("SMpg00000000000000000000000000001", ADA, "hello"))
        .await;
    let help = app.send(ADA, "HELP").await;
    let stranger = app.send(STRANGER, "who is this").await;
    let stop = app.send(ADA, "STOP").await;
    let while_out = app.send(ADA, "hello?").await;
    let api = app.api();
    let lookup = ok(api.lookup_number().phone_number(ADA).send().await);
    let start = app.send(ADA, "START").await;

    assert_eq!(routed.messages(), ["hi Ada"]);
    assert_eq!(retried.messages(), ["hi Ada"], "a retry gets the same reply");
    assert_eq!(app.agent.calls(), 1, "and no second agent call");
    assert!(help.messages()[0].contains("STOP"));
    assert_eq!(
        stranger.messages(),
        ["This number is not registered with this service."]
    );
    assert!(stop.messages().is_empty());
    assert!(while_out.messages().is_empty());
    assert_eq!(lookup.reason, LookupReason::OptedOut);
    assert_eq!(lookup.user.map(|user| user.id), Some(ada));
    assert!(start.messages().is_empty());

    let inbound = ok(api
        .list_usage_logs()
        .direction(DirectionDto::Inbound)
        .limit(50)
        .send()
        .await);
    let outcomes: Vec<OutcomeDto> = inbound.items.iter().map(|row| row.outcome).collect();
    assert_eq!(
        outcomes,
        [
            OutcomeDto::OptedIn,
            OutcomeDto::OptedOut,
            OutcomeDto::OptedOut,
            OutcomeDto::UnknownUser,
            OutcomeDto::Help,
            OutcomeDto::Routed
        ],
        "newest first; the retry is not logged again"
    );
    let summary = ok(api.get_usage_summary().send().await);
    assert_eq!(summary.totals.inbound, 6);
    assert_eq!(summary.totals.by_outcome.routed, 1);
}

#[tokio::test]
async fn users_numbers_and_settings_are_managed_as_on_sqlite() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };
    let api = app.api();

    let ada = CreateUserRequest::builder()
        .full_name("Ada")
        .phone_number(Some(ADA.to_owned()))
        .email(Some("ada@example.com".to_owned()));
    let id = ok(api.create_user().body(ada).send().await).id;
    let same_email = CreateUserRequest::builder()
        .full_name("Bob")
        .email(Some("ADA@example.com".to_owned()));
    let (taken, conflict) = refused(api.create_user().body(same_email).send().await);
    let extra = AddPhoneRequest::builder()
        .phone_number("(201) 555-0177")
        .is_primary(Some(true));
    let phone = ok(api.add_user_phone().id(id).body(extra).send().await);
    let same_number = CreateUserRequest::builder()
        .full_name("Bob")
        .phone_number(Some("+12015550177".to_owned()));
    let number_taken = status_of(api.create_user().body(same_number).send().await);
    let verified = UpdatePhoneRequest {
        verification_method: Some(VerificationMethodDto::Manual),
        is_verified: Some(true),
        ..Default::default()
    };
    let updated = ok(api.update_phone().id(phone.id).body(verified).send().await);
    let rename = UpdateUserRequest {
        full_name: Some("Ada King".to_owned()),
        clear: vec![ClearableUserField::Email],
        ..Default::default()
    };
    let renamed = ok(api.update_user().id(id).body(rename).send().await);
    let listed = ok(api.list_users().phone_number("+12015550177").send().await);
    let three = PutConfigRequest::builder().value("3");
    let setting = ok(api.put_config().key("max_reply_messages").body(three).send().await);
    let eleven = PutConfigRequest::builder().value("11");
    let bad_setting = status_of(api.put_config().key("max_reply_messages").body(eleven).send().await);
    ok(api.delete_config().key("max_reply_messages").send().await);
    let configs = ok(api.get_config().key("max_reply_messages").send().await);

    assert_eq!((taken, conflict.error.as_str()), (409, "conflict"));
    assert_eq!(number_taken, 409);
    assert_eq!(phone.phone_number, "+12015550177");
    assert_eq!(updated.verification_method, Some(VerificationMethodDto::Manual));
    assert_eq!(renamed.full_name, "Ada King");
    assert_eq!(renamed.email, None);
    assert_eq!(listed.items[0].id, id);
    assert_eq!((setting.value.as_str(), setting.is_default), ("3", false));
    assert_eq!(bad_setting, 422);
    assert_eq!(configs.value, "1");

    ok(api.delete_phone().id(phone.id).send().await);
    ok(api.delete_user().id(id).send().await);
    assert_eq!(status_of(api.get_user().id(id).send().await), 404);
}

#[tokio::test]
async fn a_message_sent_through_the_outbox_gets_its_delivery_status() {
    let Some((app, twilio)) = app_on_postgres().await else {
        return;
    };
    let ada = app.add_user("Ada", ADA, true).await;
    let api = app.api();
    let outbound = async || ok(api.list_usage_logs().direction(DirectionDto::Outbound).send().await).items;

    let hello = SendMessageRequest {
        body: "hello".to_owned(),
    };
    let item = ok(api.send_user_message().id(ada).body(hello).send().await);
    eventually("Twilio to get the message", || twilio.received().len() == 1).await;
    let sid = found("the sent message to be logged", async || {
        outbound().await.first().and_then(|row| row.message_sid.clone())
    })
    .await;
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "delivered"),
        ("To", ADA),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let path = "/sms-router/webhook/status";
    let signature = twilio_signature(AUTH_TOKEN, &app.url(path), &params);
    let answer = app
        .post_raw(path, &params, Some(&signature), "application/x-www-form-urlencoded")
        .await;

    assert_eq!(item.status, OutboxStatusDto::Pending);
    assert_eq!(answer.status, 204);
    assert_eq!(outbound().await[0].delivery_status, Some(DeliveryStatusDto::Delivered));
}

#[tokio::test]
async fn readyz_checks_postgresql_and_metrics_show_its_pool() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap().status();
    let text = found("the pool's figures in /metrics", async || {
        let text = app.get_text("/metrics").await;
        text.contains("sms_router_db_pool_connections{state=\"idle\"}")
            .then_some(text)
    })
    .await;

    assert_eq!(ready, 200);
    assert!(
        text.contains("sms_router_db_pool_connections{state=\"in_use\"}"),
        "{text}"
    );
    assert!(text.contains("sms_router_db_pool_waiting 0"), "{text}");
}

#[test]
fn the_command_line_migrates_adds_and_lists_users_on_postgresql_and_refuses_another_url() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = runtime.block_on(crate::postgres_cluster::empty_database()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let run = |args: &[&str], url: &str| {
        crate::helpers::sms_router(&db)
            .env("SMS_ROUTER_DATABASE_URL", url)
            .args(args)
            .output()
            .unwrap()
    };

    let migrated = run(&["migrate"], &url);
    let added = run(&["user", "add", "--phone", ADA, "--name", "Ada"], &url);
    let listed = run(&["user", "list"], &url);
    let wrong = run(&["migrate"], "mysql://root@localhost/sms");

    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("PostgreSQL database is up to date"));
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert!(String::from_utf8_lossy(&listed.stdout).contains(ADA));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("SMS_ROUTER_DATABASE_URL"));
    assert!(!db.exists(), "no SQLite file is made");
}

/// An answer lost on the wire: after a restart (a new instance), the retry
/// gets the same reply, kept in the database for Twilio's retries.
#[tokio::test]
async fn a_retry_after_a_restart_gets_the_kept_reply() {
    let Some((mut app, _twilio)) = app_on_postgres().await else {
        return;
    };
    app.agent.replies("hi Ada");
    app.add_user("Ada", ADA, true).await;
    let params = sms_with_sid("SMpgkept000000000000000000000001", ADA, "hello");
    assert_eq!(app.post_sms(&params).await.messages(), ["hi Ada"]);

    app.restart().await;

    assert_eq!(app.post_sms(&params).await.messages(), ["hi Ada"]);
    assert_eq!(app.agent.calls(), 1);
}

/// PostgreSQL's text holds no NUL byte: a sender that is not a number,
/// with control characters in it, is answered as on SQLite, not 503.
#[tokio::test(flavor = "multi_thread")]
async fn a_sender_with_control_characters_is_answered_as_on_sqlite() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };

    let answer = app.send("\u{1e}\u{0}Acme\u{7}", "hi").await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let logs = ok(app
        .api()
        .list_usage_logs()
        .direction(DirectionDto::Inbound)
        .send()
        .await);
    assert_eq!(logs.items[0].phone_number.as_deref(), Some("Acme"), "{logs:?}");
}

/// PostgreSQL's text holds no NUL byte: a setting's value or description,
/// or a message's body, with a control character in it is refused by name
/// (422) on either store, never a 503 (found by schemathesis).
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_in_settings_and_messages_are_refused_by_name_not_a_503() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };
    let ada = app.add_user("Ada", ADA, true).await;
    let api = app.api();

    let value = PutConfigRequest::builder().value("hello\u{0}there");
    let (value_status, value_error) = refused(api.put_config().key("help_reply").body(value).send().await);
    let description = PutConfigRequest::builder()
        .value("3")
        .description(Some("three\u{0}".to_owned()));
    let (description_status, description_error) = refused(
        api.put_config()
            .key("max_reply_messages")
            .body(description)
            .send()
            .await,
    );
    let body = SendMessageRequest {
        body: "hi\u{1}".to_owned(),
    };
    let (body_status, body_error) = refused(api.send_user_message().id(ada).body(body).send().await);
    let fine = PutConfigRequest::builder().value("line one\nline two\ttabbed");

    assert_eq!((value_status, description_status, body_status), (422, 422, 422));
    assert!(value_error.message.starts_with("`value`"), "{value_error:?}");
    assert!(
        description_error.message.starts_with("`description`"),
        "{description_error:?}"
    );
    assert!(body_error.message.starts_with("`body`"), "{body_error:?}");
    ok(api.put_config().key("help_reply").body(fine).send().await);
}
