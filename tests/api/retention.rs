//! The usage log's retention: `sms-router purge` deletes exactly the rows
//! older than its window, in batches, while the server keeps answering.

use crate::helpers::{FakeAgent, RunningServer, WEBHOOK_PATH, add_user_with_cli, sms, sms_router};

const ADA: &str = "+12015550123";

/// Rows the purge should leave, of those the test wrote, as a reading
/// from outside the server.
fn old_rows(db: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
    conn.query_row(
        "SELECT count(*) FROM sms_usage_logs WHERE message_sid LIKE 'SMold%'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// How fast webhooks are answered during a purge is measured by
/// `bench/purge`; what holds on any machine is tested here: the purge
/// deletes exactly the rows past the window, every webhook sent meanwhile
/// is answered, and webhooks are answered while the purge is under way
/// (it yields between its batches instead of holding the store).
#[tokio::test(flavor = "multi_thread")]
async fn purge_deletes_exactly_the_old_rows_while_webhooks_are_answered_between_its_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let agent = FakeAgent::start().await;
    agent.replies("still here");
    let server = tokio::task::block_in_place(|| {
        RunningServer::start(
            &db,
            &[
                ("SMS_ROUTER_AGENT_URL", &agent.url),
                ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
            ],
            &["serve", "--dev"],
        )
    });
    // 50,000 rows of a year ago, 100 of forty days ago, 100 of yesterday:
    // fifty-one batches.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50200)
         INSERT INTO sms_usage_logs (phone_number, direction, outcome, message_sid, success, created_at)
         SELECT '+12015550123', 'inbound', 'routed', 'SMold' || i, 1,
                strftime('%Y-%m-%dT%H:%M:%fZ', 'now', CASE WHEN i <= 50000 THEN '-365 days'
                                                          WHEN i <= 50100 THEN '-40 days'
                                                          ELSE '-1 days' END)
         FROM n",
    )
    .unwrap();
    drop(conn);

    let purge = std::thread::spawn({
        let db = db.clone();
        move || sms_router(&db).args(["purge", "--older-than", "30"]).output().unwrap()
    });
    let client = reqwest::Client::new();
    // After each answer, how many old rows were left: strictly between
    // all and none, the webhook was answered in the middle of the purge.
    let mut left_after_answers = Vec::new();
    while !purge.is_finished() || left_after_answers.len() < 20 {
        let reply = client
            .post(server.url(WEBHOOK_PATH))
            .form(&sms(ADA, "hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(reply.contains("still here"), "{reply}");
        left_after_answers.push(old_rows(&db));
    }
    let purged = purge.join().unwrap();

    let out = String::from_utf8_lossy(&purged.stdout);
    assert!(
        purged.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&purged.stderr)
    );
    assert!(out.contains("purged 50100 usage-log rows older than 30 days"), "{out}");
    assert_eq!(old_rows(&db), 100, "yesterday's rows stay");
    assert!(
        left_after_answers.iter().any(|left| (101..50200).contains(left)),
        "no webhook was answered while the purge was under way: {left_after_answers:?}"
    );
    server.stop();
}

#[test]
fn purge_wants_a_window_of_at_least_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let out = sms_router(&dir.path().join("t.db"))
        .args(["purge", "--older-than", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--older-than"));
}
