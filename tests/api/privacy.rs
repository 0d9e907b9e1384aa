//! Error texts are written by us. An agent's reply quoted in a parse
//! error, a secret in the agent URL's query, a full number in a Twilio error
//! message, a query string or a long header on a refused webhook: none of
//! them reaches the logs at info, the database file or an admin API answer.
//! The real binary runs as a process, its log captured.

use crate::helpers::*;

const ADA: &str = "+12015550123";
const BOB: &str = "+12015550124";
const MARKER: &str = "MARKER-reply-7f3a9c";
const SECRET: &str = "SECRET-query-91c2d4";
/// A number only Twilio's error message names.
const QUOTED_NUMBER: &str = "+14155550199";
const QUERY_SECRET: &str = "QUERY-secret-55ab10";

/// The usage log's error messages, oldest first.
fn error_messages(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
    conn.prepare("SELECT error_message FROM sms_usage_logs WHERE error_message IS NOT NULL ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_secrets_and_numbers_from_other_systems_stay_out_of_logs_rows_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let bob = sms_router(&db)
        .args(["user", "add", "--phone", BOB, "--name", "Bob"])
        .output()
        .unwrap();
    assert!(bob.status.success());
    let agent = FakeAgent::start().await;
    agent.set_for(ADA, Behaviour::JsonString(format!("sure, {MARKER}")));
    agent.set_for(BOB, Behaviour::RedirectLoop(format!("key={SECRET}")));
    let twilio = FakeTwilio::start().await;
    twilio.script(&[TwilioAnswer::Refused(
        400,
        21612,
        "The 'To' phone number: +14155550199, is not currently reachable using the 'From' phone number",
    )]);
    let agent_url = format!("{}?key={SECRET}", agent.url);
    let mut envs = twilio.vars();
    envs.extend([
        ("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SMS_ROUTER_AGENT_URL", agent_url.as_str()),
    ]);
    let server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve"]));
    let client = reqwest::Client::new();
    let webhook = server.url(WEBHOOK_PATH);

    for from in [ADA, BOB] {
        let params = sms(from, "hello");
        let signature = twilio_signature(AUTH_TOKEN, &webhook, &params);
        let answer = client
            .post(&webhook)
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let queued = client
        .post(server.url("/sms-router/admin/users/1/messages"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "body": "your report" }))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);
    eventually("the refusal to be recorded", || twilio.received().len() == 1).await;
    let refused = client
        .post(format!("{webhook}?token={QUERY_SECRET}"))
        .header("X-Forwarded-Host", "h".repeat(5000))
        .header("X-Twilio-Signature", "bm9wZQ==")
        .form(&sms(ADA, "forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let lost = client
        .get(server.url(&format!("/{}", "h".repeat(5000))))
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
    eventually("the three failures to be recorded", || error_messages(&db).len() == 3).await;

    let mut answers = String::new();
    for path in ["/usage-logs", "/usage/summary", "/users", "/opt-outs"] {
        let answer = client
            .get(server.url(&format!("/sms-router/admin{path}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        answers.push_str(&answer.text().await.unwrap());
    }
    let logs = server.stop();
    let mut stored = Vec::new();
    for suffix in ["", "-wal"] {
        stored.extend(std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);

    let errors = error_messages(&db);
    assert_eq!(errors.len(), 3, "{errors:?}");
    for (place, text) in [
        ("logs", logs.as_str()),
        ("database", &stored),
        ("admin answers", &answers),
    ] {
        for private in [MARKER, SECRET, QUOTED_NUMBER, QUERY_SECRET] {
            assert!(!text.contains(private), "{private} in the {place}: {errors:?}\n{logs}");
        }
    }
    assert!(
        !logs.contains(&"h".repeat(101)),
        "a long header value or path in the logs"
    );
}
