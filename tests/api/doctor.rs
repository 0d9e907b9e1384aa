//! `sms-router doctor`: a good configuration passes; each kind of bad one
//! is named in plain words, and fails.

use crate::helpers::{AUTH_TOKEN, FakeAgent, FakeTwilio, add_user_with_cli, sms_router};

/// Variables set (`Some`) or removed (`None`) from the good configuration.
type Change<'a> = Vec<(&'a str, Option<&'a str>)>;

struct Setup {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    envs: Vec<(String, String)>,
}

async fn good() -> (Setup, FakeAgent, FakeTwilio) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, "+12015550123");
    let agent = FakeAgent::start().await;
    let twilio = FakeTwilio::start().await;
    let mut envs: Vec<(String, String)> = twilio
        .vars()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    envs.extend(
        [
            ("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
            ("SMS_ROUTER_PUBLIC_URL", "https://sms.example.com"),
            ("SMS_ROUTER_ADMIN_TOKEN", "doctor-admin-token-0123456789"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    (Setup { _dir: dir, db, envs }, agent, twilio)
}

fn doctor(setup: &Setup, change: &[(&str, Option<&str>)]) -> (Option<i32>, String) {
    let mut command = sms_router(&setup.db);
    command.arg("doctor");
    for (k, v) in &setup.envs {
        command.env(k, v);
    }
    for (k, v) in change {
        match v {
            Some(v) => command.env(k, v),
            None => command.env_remove(k),
        };
    }
    let out = command.output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_configuration_passes_and_each_bad_one_is_named() {
    let (setup, _agent, _twilio) = good().await;
    let missing_db = setup.db.with_file_name("missing.db");
    let old_db = setup.db.with_file_name("old.db");
    std::fs::copy(&setup.db, &old_db).unwrap();
    rusqlite::Connection::open(&old_db)
        .unwrap()
        .pragma_update(None, "user_version", 3)
        .unwrap();
    // A message queued ten minutes ago and never sent.
    let stalled_db = setup.db.with_file_name("stalled.db");
    std::fs::copy(&setup.db, &stalled_db).unwrap();
    rusqlite::Connection::open(&stalled_db)
        .unwrap()
        .execute(
            "INSERT INTO sms_outbox (to_number, body, outcome, created_at)
             VALUES ('+12015550123', 'waiting', 'proactive', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-600 seconds'))",
            [],
        )
        .unwrap();

    let (code, all_well) = tokio::task::block_in_place(|| doctor(&setup, &[]));
    assert_eq!(code, Some(0), "{all_well}");
    assert!(all_well.contains("all is well"), "{all_well}");
    assert!(all_well.contains("Twilio accepts"), "{all_well}");

    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "no database file",
            vec![("SMS_ROUTER_DATABASE_PATH", Some(missing_db.to_str().unwrap()))],
            "does not exist yet",
        ),
        (
            "a database not migrated",
            vec![("SMS_ROUTER_DATABASE_PATH", Some(old_db.to_str().unwrap()))],
            "run `sms-router migrate`",
        ),
        (
            "a stalled outbox",
            vec![("SMS_ROUTER_DATABASE_PATH", Some(stalled_db.to_str().unwrap()))],
            "degraded: the oldest message waiting to be sent has waited",
        ),
        (
            "PostgreSQL unreachable",
            vec![(
                "SMS_ROUTER_DATABASE_URL",
                Some("postgres://postgres@127.0.0.1:1/none?sslmode=disable"),
            )],
            "cannot use SMS_ROUTER_DATABASE_URL",
        ),
        (
            "an agent that does not answer",
            vec![("SMS_ROUTER_AGENT_URL", Some("http://127.0.0.1:1/agent"))],
            "does not answer",
        ),
        (
            "no agent",
            vec![("SMS_ROUTER_AGENT_URL", None)],
            "SMS_ROUTER_AGENT_URL is not set",
        ),
        (
            "credentials Twilio refuses",
            vec![("SMS_ROUTER_TWILIO_AUTH_TOKEN", Some("a-wrong-token"))],
            "Twilio refuses the account SID and auth token",
        ),
        (
            "sending half set up",
            vec![("SMS_ROUTER_TWILIO_FROM_NUMBER", None)],
            "half set up",
        ),
        (
            "no public URL",
            vec![("SMS_ROUTER_PUBLIC_URL", None)],
            "SMS_ROUTER_PUBLIC_URL is not set",
        ),
    ];
    for (name, change, says) in cases {
        let (code, out) = tokio::task::block_in_place(|| doctor(&setup, &change));
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(out.contains(says), "{name}: {out}");
        assert!(out.contains("FAIL"), "{name}: {out}");
    }
    assert!(!missing_db.exists(), "the doctor creates no database");
}
