//! A newcomer's first hour: one SQLite file served twice, connection
//! strings pasted from a cloud provider, logs under systemd, a server
//! started with half its settings, the page at `/`.

use crate::helpers::{
    ADMIN_TOKEN, AUTH_TOKEN, Behaviour, FakeAgent, RunningServer, WEBHOOK_PATH, add_user_with_cli, eventually, sms,
    sms_router, spawn_app_with,
};
use crate::postgres_cluster::{cluster, fresh_database};

const ADA: &str = "+12015550123";

fn run(command: &mut std::process::Command) -> (i32, String, String) {
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A second `serve` on a file a server serves (a systemd service and a
/// hand-run one, say) exits 2 naming the file, and leaves the first one's
/// messages alone; so do `migrate` and `restore`. Commands that read or
/// add work beside the server.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_one_sqlite_file_is_refused_and_the_first_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let agent = FakeAgent::start().await;
    agent.set(Behaviour::Held("worth the wait".into()));
    let envs = [("SMS_ROUTER_AGENT_URL", agent.url.as_str())];
    let first = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let answer = tokio::spawn({
        let url = first.url(WEBHOOK_PATH);
        async move { reqwest::Client::new().post(url).form(&sms(ADA, "hello")).send().await }
    });
    eventually("the agent to have the message", || agent.calls() == 1).await;

    let second = run(sms_router(&db)
        .env("SMS_ROUTER_BIND", "127.0.0.1:0")
        .args(["serve", "--dev"]));
    let migrate = run(sms_router(&db).arg("migrate"));
    let listed = run(sms_router(&db).args(["user", "list"]));
    let doctor = run(sms_router(&db).args(["doctor", "--dev"]));
    let backup = run(sms_router(&db).args(["backup", dir.path().join("b.db").to_str().unwrap()]));
    agent.release();
    let body = answer.await.unwrap().unwrap().text().await.unwrap();

    assert_eq!(second.0, 2, "{second:?}");
    assert!(second.2.contains("t.db is in use"), "{}", second.2);
    assert_eq!(migrate.0, 2, "{migrate:?}");
    assert_eq!(listed.0, 0, "{listed:?}");
    assert!(listed.1.contains(ADA), "{}", listed.1);
    assert!(doctor.1.contains("schema version"), "{doctor:?}");
    assert_eq!(backup.0, 0, "{backup:?}");
    assert!(
        body.contains("worth the wait"),
        "the first server's message was taken from it: {body}"
    );
    let outcome: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT outcome FROM sms_usage_logs WHERE direction = 'inbound'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "routed");
    first.stop();
}

#[test]
fn serve_names_every_missing_setting_at_once_and_points_at_the_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(sms_router(&dir.path().join("t.db")).arg("serve"));

    assert_eq!(code, 2, "{stderr}");
    for named in [
        "SMS_ROUTER_TWILIO_AUTH_TOKEN",
        "SMS_ROUTER_AGENT_URL",
        "sms-router doctor",
    ] {
        assert!(stderr.contains(named), "{named} not named: {stderr}");
    }
    assert!(
        !dir.path().join("t.db").exists(),
        "nothing is created for a server that does not start"
    );
}

/// Off a terminal (a file, journald) logs carry no colour codes; a server
/// without `SMS_ROUTER_PUBLIC_URL` says it will miss it.
#[tokio::test(flavor = "multi_thread")]
async fn logs_off_a_terminal_have_no_colour_and_a_missing_public_url_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let agent = FakeAgent::start().await;
    let envs = [
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
        ("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN),
    ];
    let server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve"]));
    let logs = server.stop();

    assert!(!logs.contains('\u{1b}'), "colour codes in {logs:?}");
    assert!(logs.contains("SMS_ROUTER_PUBLIC_URL is not set"), "{logs}");
}

#[test]
fn doctor_dev_without_an_auth_token_says_signatures_are_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stdout, _) = run(sms_router(&dir.path().join("t.db")).args(["doctor", "--dev"]));

    assert!(stdout.contains("signatures are NOT checked"), "{stdout}");
    assert!(!stdout.contains("signatures are checked"), "{stdout}");
}

#[tokio::test]
async fn the_front_page_points_to_the_docs_and_the_dashboard_and_a_401_says_no_token_is_set() {
    let app = spawn_app_with(&[("SMS_ROUTER_ADMIN_TOKEN", "")]).await;

    let front = app.client.get(app.url("/")).send().await.unwrap();
    let content_type = front.headers()["content-type"].to_str().unwrap().to_owned();
    let page = front.text().await.unwrap();
    let (status, refused) = app.admin_as(Some(ADMIN_TOKEN), "GET", "/users", None).await;

    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.contains("href=\"/docs\"") && page.contains("href=\"/sms-router/dashboard\""),
        "{page}"
    );
    assert_eq!(status, 401);
    assert!(
        refused["message"].as_str().unwrap().contains("no admin token"),
        "{refused}"
    );
}

/// What people paste: `verify-full` (a cloud provider's) connects; a wrong
/// port or a password with `@` is told in plain words, once, exit 2; a
/// normal run prints no NOTICE.
#[tokio::test(flavor = "multi_thread")]
async fn postgresql_connection_strings_people_paste() {
    let Some(url) = fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let migrate = |url: &str| run(sms_router(&db).env("SMS_ROUTER_DATABASE_URL", url).arg("migrate"));

    let plain = migrate(&url);
    let wrong_port = migrate("postgres://postgres@127.0.0.1:1/sms?sslmode=disable");
    let at_sign = migrate("postgres://postgres:p@ss@127.0.0.1:1/sms");

    assert_eq!(plain.0, 0, "{plain:?}");
    assert!(!plain.2.contains("NOTICE"), "{}", plain.2);
    assert_eq!(wrong_port.0, 2, "{wrong_port:?}");
    assert!(
        wrong_port
            .2
            .contains("PostgreSQL at 127.0.0.1:1 refused the connection"),
        "{}",
        wrong_port.2
    );
    assert_eq!(wrong_port.2.matches("refused").count(), 1, "{}", wrong_port.2);
    assert_eq!(at_sign.0, 2, "{at_sign:?}");
    assert!(
        at_sign.2.contains("%40") && !at_sign.2.contains("p@ss"),
        "{}",
        at_sign.2
    );
    let Some((tls, ca)) = cluster().and_then(|c| {
        let name = url.rsplit('/').next()?.split('?').next()?.to_owned();
        c.tls_url(&name)
    }) else {
        return;
    };
    let verify_full = run(sms_router(&db)
        .env(
            "SMS_ROUTER_DATABASE_URL",
            tls.replace("sslmode=require", "sslmode=verify-full"),
        )
        .env("SMS_ROUTER_DATABASE_CA_FILE", &ca)
        .arg("migrate"));
    assert_eq!(verify_full.0, 0, "{verify_full:?}");
}
