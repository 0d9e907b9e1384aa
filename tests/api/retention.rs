//! The usage log's retention: `sms-router purge` deletes exactly the rows
//! older than its window, in batches, while the server keeps answering.

use std::time::{Duration, Instant};

use crate::helpers::{FakeAgent, RunningServer, WEBHOOK_PATH, add_user_with_cli, sms, sms_router};

const ADA: &str = "+12015550123";

#[tokio::test(flavor = "multi_thread")]
async fn purge_deletes_exactly_the_old_rows_while_webhooks_are_answered_within_a_second() {
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
    // 30,000 rows of a year ago, 100 of forty days ago, 100 of yesterday.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30200)
         INSERT INTO sms_usage_logs (phone_number, direction, outcome, message_sid, success, created_at)
         SELECT '+12015550123', 'inbound', 'routed', 'SMold' || i, 1,
                strftime('%Y-%m-%dT%H:%M:%fZ', 'now', CASE WHEN i <= 30000 THEN '-365 days'
                                                          WHEN i <= 30100 THEN '-40 days'
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
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while !purge.is_finished() || answered < 20 {
        let started = Instant::now();
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
        slowest = slowest.max(started.elapsed());
        answered += 1;
    }
    let purged = purge.join().unwrap();

    let out = String::from_utf8_lossy(&purged.stdout);
    assert!(
        purged.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&purged.stderr)
    );
    assert!(out.contains("purged 30100 usage-log rows older than 30 days"), "{out}");
    assert!(
        slowest < Duration::from_secs(1),
        "a webhook took {slowest:?} during the purge"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sms_usage_logs WHERE message_sid LIKE 'SMold%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 100, "yesterday's rows stay");
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
