//! Writes whose loss on power failure would double a send or forget an
//! opt-out are synced to disk before they count. Seen from outside: the
//! real process runs under `strace`, which shows its calls that sync the
//! database's write-ahead log. The pool's other writes sync only at
//! checkpoints, so without the full sync neither of these writes calls one.
//! Under `strace` too: a stop is handled before the port opens.

use std::path::Path;

use crate::helpers::*;

const ADA: &str = "+12015550123";

/// The calls so far that synced the write-ahead log of `db`.
fn wal_syncs(trace: &Path, db: &Path) -> usize {
    let wal = format!("{}-wal>", db.display());
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|line| (line.contains("fdatasync(") || line.contains("fsync(")) && line.contains(&wal))
        .count()
}

fn sent_count(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM sms_outbox WHERE status = 'sent'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

fn outbox(db: &Path) -> Option<(String, Option<String>)> {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT status, message_sid FROM sms_outbox LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok()
}

/// Whether strace can run here. Without it the test says so and passes,
/// so that `cargo test` works on a fresh machine; CI installs strace and
/// sets `SMS_ROUTER_TEST_NEEDS_STRACE`, which makes its absence a failure.
fn strace_available() -> bool {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("SMS_ROUTER_TEST_NEEDS_STRACE").is_none(),
            "strace is missing: apt-get install strace"
        );
        eprintln!("SKIPPED: strace is missing (apt-get install strace): syncs not checked");
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn the_in_flight_mark_and_an_opt_out_are_synced_before_they_count() {
    if !strace_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let twilio = FakeTwilio::start().await;
    let trace = dir.path().join("syscalls");
    let mut envs = twilio.vars();
    envs.push(("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN));
    envs.push(("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN));
    let trace_arg = trace.display().to_string();
    let runner = [
        "strace",
        "-f",
        "-qq",
        "-y",
        "-e",
        "trace=fsync,fdatasync",
        "-o",
        &trace_arg,
    ];
    let server = tokio::task::block_in_place(|| RunningServer::start_under(&runner, &db, &envs, &["serve", "--dev"]));
    let client = reqwest::Client::new();

    // Syncs so far, then after each message sent.
    let mut syncs = vec![wal_syncs(&trace, &db)];
    for n in 1..=3 {
        let queued = client
            .post(server.url("/sms-router/admin/users/1/messages"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "body": "hello" }))
            .send()
            .await
            .unwrap();
        assert_eq!(queued.status().as_u16(), 202);
        eventually("the message to be sent", || sent_count(&db) == n).await;
        syncs.push(wal_syncs(&trace, &db));
    }
    // The first write after the start syncs the log's new header whatever
    // the setting; each later send's mark must sync on its own.
    assert!(
        syncs[1] < syncs[2] && syncs[2] < syncs[3],
        "the in-flight mark was not synced: {syncs:?}"
    );
    let sent = syncs[3];
    let sid = outbox(&db).and_then(|(_, sid)| sid).unwrap();
    let callback = client
        .post(server.url("/sms-router/webhook/status"))
        .form(&[
            ("MessageSid", sid.as_str()),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "21610"),
            ("To", ADA),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status().as_u16(), 204);
    let opted_out = wal_syncs(&trace, &db);
    let logs = server.stop();
    assert!(
        opted_out > sent,
        "the opt-out was not synced: {sent} then {opted_out}\n{logs}"
    );
}

/// A stop sent as soon as the port accepts is a stop: SIGTERM and SIGINT
/// are handled before the listener is bound (they were handled only once
/// serving began, a moment after: a SIGTERM in between killed the process,
/// seen once in a full CI run as a stop that did not exit 0).
#[test]
fn stop_signals_are_handled_before_the_port_opens() {
    if !strace_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let trace = dir.path().join("syscalls");
    let trace_arg = trace.display().to_string();
    let runner = ["strace", "-f", "-qq", "-e", "trace=rt_sigaction,bind", "-o", &trace_arg];
    let mut server = RunningServer::start_under(
        &runner,
        &db,
        &[("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN)],
        &["serve", "--dev"],
    );
    // The server's own process, the first strace names (strace exits as it
    // does).
    let traced = std::fs::read_to_string(&trace).unwrap();
    let pid = traced.split_whitespace().next().unwrap().to_owned();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(
        server.wait_exit(crate::wait::PATIENCE),
        Some(Some(0)),
        "{}",
        server.logs()
    );

    let calls = std::fs::read_to_string(&trace).unwrap();
    let port = server.url("").rsplit(':').next().unwrap().to_owned();
    let first = |what: &dyn Fn(&str) -> bool| calls.lines().position(what);
    let bound = first(&|l| l.contains(" bind(") && l.contains(&format!("htons({port})")));
    let term = first(&|l| l.contains("rt_sigaction(SIGTERM, {sa_handler=0x"));
    let int = first(&|l| l.contains("rt_sigaction(SIGINT, {sa_handler=0x"));
    assert!(
        bound.is_some() && term < bound && int < bound && term.is_some() && int.is_some(),
        "{calls}"
    );
}
