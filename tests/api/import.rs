//! `sms-router import`: a SQLite database copied into an empty PostgreSQL
//! one, as a self-hoster moving to several instances would.

use serde_json::{Value, json};
use sms_router::startup::Tuning;

use crate::helpers::{TestApp, sms_router, spawn_app_with, spawn_app_with_twilio};
use crate::postgres_cluster::fresh_database;

async fn ok(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, json) = app.admin(method, path, body).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {json}");
    json
}

/// What an administrator sees, without times that differ in form.
async fn what_admin_sees(app: &TestApp) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        "/users",
        "/users/1/phones",
        "/opt-outs",
        "/configs",
        "/usage-logs?limit=500",
        "/usage/summary?group_by=user",
    ] {
        let mut json = ok(app, "GET", path, None).await;
        strip_times(&mut json);
        seen.push(json);
    }
    seen
}

fn strip_times(json: &mut Value) {
    match json {
        Value::Object(map) => {
            for key in ["created_at", "updated_at", "opted_out_at"] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_times);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_times),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_database_is_copied_whole_into_an_empty_postgresql_one_and_only_an_empty_one() {
    let Some(url) = fresh_database().await else { return };
    // Without Twilio's settings: the message queued below stays queued while
    // the database is copied and compared, and is sent from PostgreSQL.
    let sqlite = spawn_app_with(&[]).await;
    sqlite.agent.replies("hi Ada");
    let ada = ok(
        &sqlite,
        "POST",
        "/users",
        Some(json!({"full_name": "Ada", "phone_number": "+12015550123", "email": "ada@example.com"})),
    )
    .await;
    ok(
        &sqlite,
        "POST",
        "/users",
        Some(json!({"full_name": "Bob", "phone_number": "+12015550124", "is_active": false})),
    )
    .await;
    ok(
        &sqlite,
        "POST",
        &format!("/users/{}/phones", ada["id"]),
        Some(json!({"phone_number": "+12015550177", "is_primary": true})),
    )
    .await;
    ok(
        &sqlite,
        "PUT",
        "/configs/help_reply",
        Some(json!({"value": "Ask away.", "description": "short"})),
    )
    .await;
    sqlite.send("+12015550123", "hello").await;
    sqlite.send("+12015550124", "hello").await;
    sqlite.send("+12015550199", "STOP").await;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let conn = sqlite.db();
    conn.execute(
        "INSERT INTO sms_outbox (user_id, to_number, body, outcome) VALUES (?1, '+12015550123', 'waiting for you', 'proactive')",
        [ada["id"].as_i64().unwrap()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sms_agent_events (idempotency_key, kind, user_id, phone_number, state)
         VALUES ('opt_out:SMx', 'number.opted_out', ?1, '+12015550123', 'delivered')",
        [ada["id"].as_i64().unwrap()],
    )
    .unwrap();
    conn.execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
    let before = what_admin_sees(&sqlite).await;
    drop(sqlite);

    let imported = sms_router(&copy)
        .env("SMS_ROUTER_DATABASE_URL", &url)
        .args(["import", "--from", copy.to_str().unwrap()])
        .output()
        .unwrap();
    let again = sms_router(&copy)
        .env("SMS_ROUTER_DATABASE_URL", &url)
        .args(["import", "--from", copy.to_str().unwrap()])
        .output()
        .unwrap();

    let out = String::from_utf8_lossy(&imported.stdout);
    assert!(
        imported.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(out.contains("users                    2 rows"), "{out}");
    assert!(out.contains(&format!("{:24} 1 rows", "sms_agent_events")), "{out}");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));

    // Without Twilio's settings first: nothing is sent while it is compared.
    let quiet = spawn_app_with(&[("SMS_ROUTER_DATABASE_URL", &url)]).await;
    let after = what_admin_sees(&quiet).await;
    assert_eq!(after, before);
    drop(quiet);
    let (postgres, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_DATABASE_URL", &url)], Tuning::default()).await;
    crate::helpers::eventually("the queued message to be sent", || twilio.received().len() == 1).await;
    assert_eq!(twilio.received()[0].field("Body"), Some("waiting for you"));
    let carol = ok(
        &postgres,
        "POST",
        "/users",
        Some(json!({"full_name": "Carol", "phone_number": "+12015550125"})),
    )
    .await;
    assert_eq!(carol["id"], 3, "new ids follow the copied ones");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_is_refused_while_a_server_still_serves_the_sqlite_database() {
    let Some(url) = fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    crate::helpers::add_user_with_cli(&db, "+12015550123");
    let server = tokio::task::block_in_place(|| crate::helpers::RunningServer::start(&db, &[], &["serve", "--dev"]));

    let refused = sms_router(&db)
        .env("SMS_ROUTER_DATABASE_URL", &url)
        .args(["import", "--from", db.to_str().unwrap()])
        .output()
        .unwrap();

    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use"));
    server.stop();
}

/// What the SQLite server left unfinished is resolved as a restart
/// resolves it, by the store's own recovery: a send in flight becomes
/// `unknown` with its outbound log row (the import wrote none), and a
/// deferred message cut short is answered with `error_reply`.
#[tokio::test(flavor = "multi_thread")]
async fn what_sqlite_left_unfinished_is_resolved_as_a_restart_would_with_its_log_rows() {
    let Some(url) = fresh_database().await else { return };
    let sqlite = spawn_app_with(&[]).await;
    let ada = ok(
        &sqlite,
        "POST",
        "/users",
        Some(json!({"full_name": "Ada", "phone_number": "+12015550123"})),
    )
    .await;
    let conn = sqlite.db();
    // As a process killed while it sent, and while its agent thought.
    conn.execute(
        "INSERT INTO sms_outbox (user_id, to_number, body, outcome, status)
         VALUES (?1, '+12015550123', 'in flight', 'proactive', 'sending')",
        [ada["id"].as_i64().unwrap()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sms_usage_logs (user_id, phone_number, direction, outcome, message_sid, deferred)
         VALUES (?1, '+12015550123', 'inbound', 'processing', 'SMcut', 1)",
        [ada["id"].as_i64().unwrap()],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    conn.execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
    drop(sqlite);

    let imported = sms_router(&copy)
        .env("SMS_ROUTER_DATABASE_URL", &url)
        .args(["import", "--from", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let (postgres, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_DATABASE_URL", &url)], Tuning::default()).await;

    crate::helpers::eventually("the sender cut short to be told", || !twilio.received().is_empty()).await;
    let bodies: Vec<String> = twilio
        .received()
        .iter()
        .filter_map(|r| r.field("Body").map(str::to_owned))
        .collect();
    assert!(!bodies.iter().any(|b| b == "in flight"), "sent again: {bodies:?}");
    let outbound = ok(&postgres, "GET", "/usage-logs?direction=outbound&success=false", None).await;
    let unknown: Vec<&Value> = outbound["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| {
            row["error_message"]
                .as_str()
                .is_some_and(|e| e.contains("may have gone out"))
        })
        .collect();
    assert_eq!(unknown.len(), 1, "the interrupted send's log row: {outbound}");
    let inbound = ok(&postgres, "GET", "/usage-logs?direction=inbound", None).await;
    assert_eq!(inbound["items"][0]["outcome"], "interrupted", "{inbound}");
}
