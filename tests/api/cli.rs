//! The real binary: its commands and exit codes.

use std::process::Command;

use crate::helpers::{RunningServer, sms_router};

fn output(command: &mut Command) -> (i32, String, String) {
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `output` of a command that should exit at once: one still running after
/// the tests' patience is killed, and its code is -1.
fn output_soon(command: &mut Command) -> (i32, String, String) {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && started.elapsed() < crate::wait::PATIENCE {
        std::thread::sleep(crate::wait::LOOK_EVERY);
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_twice_is_fine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    assert_eq!(output(sms_router(&db).arg("migrate")).0, 0);
    assert_eq!(output(sms_router(&db).arg("migrate")).0, 0);
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 42)
        .unwrap();

    let (code, _, stderr) = output(sms_router(&db).arg("migrate"));

    assert_eq!(code, 1);
    assert!(stderr.contains("newer sms-router"), "{stderr}");
}

#[test]
fn openapi_prints_the_committed_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = output(sms_router(&dir.path().join("t.db")).arg("openapi"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    assert_eq!(code, 0);
    assert_eq!(stdout.trim_end(), committed.trim_end());
}

#[test]
fn user_add_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");

    let added = output(sms_router(&db).args(["user", "add", "--phone", "201-555-0123", "--name", "Ada Lovelace"]));
    let taken = output(sms_router(&db).args(["user", "add", "--phone", "+1 (201) 555-0123", "--name", "Bob"]));
    let bad_number = output(sms_router(&db).args(["user", "add", "--phone", "555", "--name", "Bob"]));
    let bad_email = output(sms_router(&db).args([
        "user",
        "add",
        "--phone",
        "+12015550124",
        "--name",
        "Bob",
        "--email",
        "x",
    ]));
    let (code, table, _) = output(sms_router(&db).args(["user", "list"]));

    assert_eq!(added.0, 0, "{}", added.2);
    assert_eq!(taken.0, 1);
    assert!(taken.2.contains("+12015550123 is already taken"), "{}", taken.2);
    assert_eq!(bad_number.0, 2);
    assert!(bad_number.2.contains("--phone"), "{}", bad_number.2);
    assert_eq!(bad_email.0, 2);
    assert_eq!(code, 0);
    assert!(table.lines().next().unwrap().starts_with("ID"));
    assert!(
        table.contains("Ada Lovelace") && table.contains("+12015550123"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2);
}

#[test]
fn bad_configuration_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");

    let bind = output(
        sms_router(&db)
            .env("SMS_ROUTER_BIND", "nowhere")
            .args(["serve", "--dev"]),
    );
    let no_token = output(sms_router(&db).arg("serve"));
    let usage = output(sms_router(&db).arg("frobnicate"));

    assert_eq!(bind.0, 2);
    assert!(bind.2.contains("SMS_ROUTER_BIND"), "{}", bind.2);
    assert_eq!(no_token.0, 2);
    assert!(no_token.2.contains("SMS_ROUTER_TWILIO_AUTH_TOKEN"), "{}", no_token.2);
    assert_eq!(usage.0, 2);
}

#[test]
fn every_numeric_variable_out_of_its_range_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    for (variable, value) in [
        ("SMS_ROUTER_AGENT_TIMEOUT_MS", "0"),
        ("SMS_ROUTER_AGENT_TIMEOUT_MS", "600001"),
        ("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "14001"),
        ("SMS_ROUTER_ASYNC_AGENT_TIMEOUT_MS", "3600001"),
        ("SMS_ROUTER_SHUTDOWN_GRACE_MS", "99999999999999999999"),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000001"),
        ("SMS_ROUTER_CACHE_TTL_SECS", "99999999999"),
        ("SMS_ROUTER_CACHE_TTL_SECS", "0"),
        ("SMS_ROUTER_HEADER_TIMEOUT_MS", "600001"),
        ("SMS_ROUTER_IDLE_TIMEOUT_MS", "0"),
        ("SMS_ROUTER_MAX_CONNECTIONS", "0"),
        ("SMS_ROUTER_MAX_CONNECTIONS", "-5"),
    ] {
        let (code, _, stderr) = output_soon(
            sms_router(&db)
                .env("SMS_ROUTER_BIND", "127.0.0.1:0")
                .env(variable, value)
                .args(["serve", "--dev"]),
        );
        assert_eq!(code, 2, "{variable}={value}: {stderr}");
        assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn dev_mode_refuses_to_listen_beyond_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");

    for bind in ["0.0.0.0:0", "[::]:0"] {
        let (code, _, stderr) = output_soon(sms_router(&db).env("SMS_ROUTER_BIND", bind).args(["serve", "--dev"]));
        assert_eq!(code, 2, "{bind}: {stderr}");
        assert!(
            stderr.contains("SMS_ROUTER_BIND") && stderr.contains("loopback"),
            "{stderr}"
        );
    }
}

#[test]
fn dot_env_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    std::fs::write(
        dir.path().join(".env"),
        "SMS_ROUTER_BIND=nowhere\nSMS_ROUTER_LOG_FORMAT=xml\n",
    )
    .unwrap();

    let from_file = output(sms_router(&db).arg("migrate"));
    let overridden = output(
        sms_router(&db)
            .env("SMS_ROUTER_BIND", "127.0.0.1:1")
            .env("SMS_ROUTER_LOG_FORMAT", "json")
            .arg("migrate"),
    );

    assert_eq!(from_file.0, 2);
    assert_eq!(overridden.0, 0, "{}", overridden.2);
}

/// A newcomer's path: serve in --dev, add a user, simulate a message.
#[test]
fn serve_dev_then_user_add_then_simulate_gets_the_echo() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let server = RunningServer::start(&db, &[], &["serve", "--dev"]);
    let bind = server.bind.clone();

    let added = output(sms_router(&db).args(["user", "add", "--phone", "+12015550123", "--name", "Ada"]));
    let simulated = output(sms_router(&db).env("SMS_ROUTER_BIND", &bind).args([
        "simulate",
        "--from",
        "+12015550123",
        "hello",
        "there",
    ]));
    let signed = output(sms_router(&db).env("SMS_ROUTER_TWILIO_AUTH_TOKEN", "anything").args([
        "simulate",
        "--url",
        &format!("http://{bind}"),
        "--from",
        "+12015550123",
        "again",
    ]));
    let logs = server.stop();

    assert_eq!(added.0, 0, "{}", added.2);
    assert_eq!(simulated.0, 0, "{}", simulated.2);
    assert_eq!(simulated.1.trim(), "echo: hello there");
    assert_eq!(signed.1.trim(), "echo: again");
    assert!(logs.contains("DEV MODE"), "{logs}");
    assert!(!logs.contains("+12015550123"), "a full number reached the logs: {logs}");
}

/// At the default level no phone number, message text, token or signature
/// reaches the logs of a full request cycle.
#[tokio::test]
async fn info_logs_keep_numbers_texts_tokens_and_signatures_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (twilio_token, agent_token, admin_token) = ("twilio-secret-42", "agent-secret-42", "admin-secret-0123456789");
    let added = output(sms_router(&db).args(["user", "add", "--phone", "+12015550123", "--name", "Ada"]));
    assert_eq!(added.0, 0);
    let server = RunningServer::start(
        &db,
        &[
            ("SMS_ROUTER_TWILIO_AUTH_TOKEN", twilio_token),
            // Nobody listens there: the agent fails, and that is logged too.
            ("SMS_ROUTER_AGENT_URL", "http://127.0.0.1:9/agent"),
            ("SMS_ROUTER_AGENT_TOKEN", agent_token),
            ("SMS_ROUTER_ADMIN_TOKEN", admin_token),
        ],
        &["serve"],
    );
    let bind = server.bind.clone();

    let client = reqwest::Client::new();
    let url = format!("http://{bind}/sms-router/webhook/sms");
    let params = crate::helpers::sms("+12015550123", "my very private message");
    let signature = crate::helpers::twilio_signature(twilio_token, &url, &params);
    let answered = client
        .post(&url)
        .header("X-Twilio-Signature", &signature)
        .form(&params)
        .send()
        .await
        .unwrap();
    let forged = client
        .post(&url)
        .header("X-Twilio-Signature", "Zm9yZ2Vk")
        .form(&params)
        .send()
        .await
        .unwrap();
    let admin = client
        .get(format!(
            "http://{bind}/sms-router/admin/users?phone_number=%2B12015550123"
        ))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap();
    let (answered, forged, admin) = (answered.status(), forged.status(), admin.status());
    let logs = server.stop();

    assert_eq!((answered.as_u16(), forged.as_u16(), admin.as_u16()), (200, 403, 200));
    assert!(
        logs.contains("+1201***0123"),
        "the masked number is there to correlate: {logs}"
    );
    for secret in [
        "+12015550123",
        "2015550123",
        "my very private message",
        twilio_token,
        agent_token,
        admin_token,
        &signature,
    ] {
        assert!(!logs.contains(secret), "`{secret}` reached the logs:\n{logs}");
    }
}

/// A container's health check needs no shell or curl: `healthcheck` asks
/// the server on SMS_ROUTER_BIND (on loopback when it listens everywhere).
#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exits_0_while_the_server_answers_and_1_when_none_does() {
    let app = crate::helpers::spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let check = |bind: String| {
        let db = db.clone();
        tokio::task::spawn_blocking(move || {
            sms_router(&db)
                .env("SMS_ROUTER_BIND", bind)
                .arg("healthcheck")
                .output()
                .unwrap()
        })
    };

    let up = check(format!("0.0.0.0:{}", app.address.port())).await.unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = check(free.to_string()).await.unwrap();

    assert_eq!(up.status.code(), Some(0), "{}", String::from_utf8_lossy(&up.stderr));
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("/healthz cannot be reached"));
}
