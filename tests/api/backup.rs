//! Backups while the server writes, and putting one back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::atomic::AtomicUsize;

use crate::helpers::{FakeAgent, RunningServer, WEBHOOK_PATH, add_user_with_cli, eventually, sms, sms_router};

const ADA: &str = "+12015550123";

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_under_load_is_whole_and_restored_it_serves_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let agent = FakeAgent::start().await;
    agent.replies("hi Ada");
    let envs = [
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
    ];
    let server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop, answered) = (server.url(WEBHOOK_PATH), stop.clone(), answered.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::SeqCst) {
                    let answer = client.post(&url).form(&sms(ADA, "hello")).send().await.unwrap();
                    assert_eq!(answer.status(), 200);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually("webhooks to be answered before the backup", || {
        answered.load(Ordering::SeqCst) >= 20
    })
    .await;

    let before = count(&db, "SELECT max(id) FROM sms_usage_logs");
    let copy = dir.path().join("backup.db");
    let backed_up = tokio::task::spawn_blocking({
        let (db, copy) = (db.clone(), copy.clone());
        move || {
            sms_router(&db)
                .args(["backup", copy.to_str().unwrap()])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    // The load goes on after the backup, too.
    let after_backup = answered.load(Ordering::SeqCst);
    eventually("webhooks to be answered after the backup", || {
        answered.load(Ordering::SeqCst) >= after_backup + 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    let refused = sms_router(&db)
        .args(["restore", copy.to_str().unwrap()])
        .output()
        .unwrap();

    assert!(
        backed_up.status.success(),
        "{}",
        String::from_utf8_lossy(&backed_up.stderr)
    );
    assert!(before > 0);
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let kept: i64 = conn
        .query_row("SELECT count(*) FROM sms_usage_logs WHERE id <= ?1", [before], |r| {
            r.get(0)
        })
        .unwrap();
    let original = count(
        &db,
        &format!("SELECT count(*) FROM sms_usage_logs WHERE id <= {before}"),
    );
    assert_eq!(kept, original, "every row committed before the backup began is in it");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use"));
    server.stop();

    let fresh = dir.path().join("fresh.db");
    let restored = sms_router(&fresh)
        .args(["restore", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let again = tokio::task::block_in_place(|| RunningServer::start(&fresh, &envs, &["serve", "--dev"]));
    let answer = reqwest::Client::new()
        .post(again.url(WEBHOOK_PATH))
        .form(&sms(ADA, "after the restore"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains("hi Ada"), "{answer}");
    assert!(count(&fresh, "SELECT count(*) FROM sms_usage_logs") > kept);
}

#[test]
fn a_restore_checks_the_file_first_and_a_backup_wants_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, just text").unwrap();
    let newer = dir.path().join("newer.db");
    std::fs::copy(&db, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();

    let from_garbage = sms_router(&db)
        .args(["restore", garbage.to_str().unwrap()])
        .output()
        .unwrap();
    let from_newer = sms_router(&db)
        .args(["restore", newer.to_str().unwrap()])
        .output()
        .unwrap();
    let onto_existing = sms_router(&db)
        .args(["backup", newer.to_str().unwrap()])
        .output()
        .unwrap();

    assert_eq!(from_garbage.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&from_garbage.stderr).contains("not a SQLite database"));
    assert_eq!(from_newer.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&from_newer.stderr).contains("newer sms-router"));
    assert_eq!(onto_existing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&onto_existing.stderr).contains("exists already"));
    assert_eq!(count(&db, "SELECT count(*) FROM users"), 1, "the database is as it was");
}

#[test]
fn on_postgresql_backup_and_restore_point_to_its_own_tools() {
    let dir = tempfile::tempdir().unwrap();
    for args in [["backup", "x.db"], ["restore", "x.db"]] {
        let out = sms_router(&dir.path().join("t.db"))
            .env("SMS_ROUTER_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    }
}
