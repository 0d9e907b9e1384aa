//! The routing and admin paths end to end on a PostgreSQL-backed server:
//! the same answers as on SQLite, read through the API only. Skipped,
//! loudly, where PostgreSQL is missing (a failure under CI).

use serde_json::{Value, json};
use sms_router::startup::Tuning;

use crate::helpers::{AUTH_TOKEN, TestApp, eventually, found, sms_with_sid, spawn_app_with_twilio, twilio_signature};
use crate::postgres_cluster::fresh_database;

const ADA: &str = "+12015550123";
const STRANGER: &str = "+12015550199";

async fn app_on_postgres() -> Option<(TestApp, crate::helpers::FakeTwilio)> {
    let url = fresh_database().await?;
    Some(spawn_app_with_twilio(&[("SMS_ROUTER_DATABASE_URL", &url)], Tuning::default()).await)
}

async fn ok(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, json) = app.admin(method, path, body).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {json}");
    json
}

#[tokio::test]
async fn messages_are_routed_refused_and_logged_as_on_sqlite() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };
    app.agent.replies("hi Ada");
    let ada = ok(
        &app,
        "POST",
        "/users",
        Some(json!({"full_name": "Ada", "phone_number": ADA})),
    )
    .await;

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
    let lookup = ok(&app, "GET", "/lookup?phone_number=%2B12015550123", None).await;
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
    assert_eq!(lookup["reason"], "opted_out");
    assert_eq!(lookup["user"]["id"], ada["id"]);
    assert!(start.messages().is_empty());

    let inbound = ok(&app, "GET", "/usage-logs?direction=inbound&limit=50", None).await;
    let outcomes: Vec<&str> = inbound["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["opted_in", "opted_out", "opted_out", "unknown_user", "help", "routed"],
        "newest first; the retry is not logged again"
    );
    let summary = ok(&app, "GET", "/usage/summary?group_by=user", None).await;
    assert_eq!(summary["totals"]["inbound"], 6);
    assert_eq!(summary["totals"]["by_outcome"]["routed"], 1);
}

#[tokio::test]
async fn users_numbers_and_settings_are_managed_as_on_sqlite() {
    let Some((app, _twilio)) = app_on_postgres().await else {
        return;
    };

    let ada = ok(
        &app,
        "POST",
        "/users",
        Some(json!({"full_name": "Ada", "phone_number": ADA, "email": "ada@example.com"})),
    )
    .await;
    let id = ada["id"].as_i64().unwrap();
    let (taken, conflict) = app
        .admin(
            "POST",
            "/users",
            Some(json!({"full_name": "Bob", "email": "ADA@example.com"})),
        )
        .await;
    let phone = ok(
        &app,
        "POST",
        &format!("/users/{id}/phones"),
        Some(json!({"phone_number": "(201) 555-0177", "is_primary": true})),
    )
    .await;
    let (number_taken, _) = app
        .admin(
            "POST",
            "/users",
            Some(json!({"full_name": "Bob", "phone_number": "+12015550177"})),
        )
        .await;
    let updated = ok(
        &app,
        "PATCH",
        &format!("/phones/{}", phone["id"]),
        Some(json!({"verification_method": "manual", "is_verified": true})),
    )
    .await;
    let renamed = ok(
        &app,
        "PATCH",
        &format!("/users/{id}"),
        Some(json!({"full_name": "Ada King", "clear": ["email"]})),
    )
    .await;
    let listed = ok(&app, "GET", "/users?phone_number=%2B12015550177", None).await;
    let setting = ok(&app, "PUT", "/configs/max_reply_messages", Some(json!({"value": "3"}))).await;
    let (bad_setting, _) = app
        .admin("PUT", "/configs/max_reply_messages", Some(json!({"value": "11"})))
        .await;
    let restored = ok(&app, "DELETE", "/configs/max_reply_messages", None).await;
    let configs = ok(&app, "GET", "/configs/max_reply_messages", None).await;

    assert_eq!((taken, conflict["error"].as_str()), (409, Some("conflict")));
    assert_eq!(number_taken, 409);
    assert_eq!(phone["phone_number"], "+12015550177");
    assert_eq!(updated["verification_method"], "manual");
    assert_eq!(renamed["full_name"], "Ada King");
    assert_eq!(renamed["email"], Value::Null);
    assert_eq!(listed["items"][0]["id"], id);
    assert_eq!(
        (setting["value"].as_str(), setting["is_default"].as_bool()),
        (Some("3"), Some(false))
    );
    assert_eq!(bad_setting, 422);
    assert_eq!(restored, Value::Null);
    assert_eq!(configs["value"], "1");

    ok(&app, "DELETE", &format!("/phones/{}", phone["id"]), None).await;
    ok(&app, "DELETE", &format!("/users/{id}"), None).await;
    let (gone, _) = app.admin("GET", &format!("/users/{id}"), None).await;
    assert_eq!(gone, 404);
}

#[tokio::test]
async fn a_message_sent_through_the_outbox_gets_its_delivery_status() {
    let Some((app, twilio)) = app_on_postgres().await else {
        return;
    };
    let ada = ok(
        &app,
        "POST",
        "/users",
        Some(json!({"full_name": "Ada", "phone_number": ADA})),
    )
    .await;

    let item = ok(
        &app,
        "POST",
        &format!("/users/{}/messages", ada["id"]),
        Some(json!({"body": "hello"})),
    )
    .await;
    eventually("Twilio to get the message", || twilio.received().len() == 1).await;
    let sid = found("the sent message to be logged", async || {
        let rows = ok(&app, "GET", "/usage-logs?direction=outbound", None).await;
        rows["items"][0]["message_sid"].as_str().map(str::to_owned)
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

    assert_eq!(item["status"], "pending");
    assert_eq!(answer.status, 204);
    let rows = ok(&app, "GET", "/usage-logs?direction=outbound", None).await;
    assert_eq!(rows["items"][0]["delivery_status"], "delivered");
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
    ok(
        &app,
        "POST",
        "/users",
        Some(json!({"full_name": "Ada", "phone_number": ADA})),
    )
    .await;
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
    let logs = ok(&app, "GET", "/usage-logs?direction=inbound", None).await;
    assert_eq!(logs["items"][0]["phone_number"], "Acme", "{logs}");
}
