//! The surface added last, as safe as the old: users' own agents (no
//! redirect followed, the URL shown where messages go, unusable URLs
//! refused, a token that stays with its server), backups, restore and the
//! doctor (modes, owners, files left behind).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::helpers::spec::types::{CreateUserRequest, UpdateUserRequest, UserDto};
use crate::helpers::spec::{Answer, ok, refused};
use crate::helpers::{
    ADMIN_TOKEN, Behaviour, FakeAgent, RunningServer, TestApp, add_user_with_cli, sms_router, spawn_app,
};

const ADA: &str = "+12015550123";
const ERROR_REPLY: &str = "Sorry, something went wrong. Please try again in a moment.";

/// A user named `name`, with `agent_url` and `agent_token` if given.
async fn create(app: &TestApp, name: &str, agent_url: Option<&str>, agent_token: Option<&str>) -> Answer<UserDto> {
    let user = CreateUserRequest::builder()
        .full_name(name)
        .agent_url(agent_url.map(str::to_owned))
        .agent_token(agent_token.map(str::to_owned));
    app.api().create_user().body(user).send().await
}

/// Changes `id`'s agent URL and token as `change` says.
async fn change(app: &TestApp, id: i64, change: UpdateUserRequest) -> Answer<UserDto> {
    app.api().update_user().id(id).body(change).send().await
}

fn agent_url(url: &str) -> UpdateUserRequest {
    UpdateUserRequest {
        agent_url: Some(url.to_owned()),
        ..Default::default()
    }
}

/// An agent answering a redirect is an agent error: the service asks the
/// place it points to nothing, and logs the status alone.
#[tokio::test]
async fn an_agents_redirect_is_an_agent_error_and_is_not_followed() {
    let app = spawn_app().await;
    let elsewhere = FakeAgent::start().await;
    for status in [307, 302, 301] {
        let sender = format!("+1201555{status:04}");
        app.add_user("Ada", &sender, true).await;
        app.agent.set(Behaviour::Redirect(elsewhere.url.clone(), status));
        let params = crate::helpers::sms(&sender, "hello");

        let answer = app.post_sms(&params).await;

        assert_eq!(answer.messages(), [ERROR_REPLY], "{status}");
        let row = app.inbound_row(&crate::helpers::sid_of(&params)).await;
        assert_eq!(
            row.error_message.as_deref(),
            Some(format!("the agent answered HTTP {status}").as_str())
        );
    }
    assert_eq!(elsewhere.calls(), 0, "a redirect was followed");
}

/// What the API shows of an agent URL is where messages go: its host is
/// the URL parser's, not whatever follows the last `@`.
#[tokio::test]
async fn an_agent_url_is_shown_as_the_host_messages_go_to() {
    let app = spawn_app().await;
    let (real, decoy) = (FakeAgent::start().await, FakeAgent::start().await);
    real.replies("from the real one");
    let decoy_host = decoy.url.trim_start_matches("http://").to_owned();
    for (n, url) in [
        format!("{}@{decoy_host}", real.url),
        format!("{}\\@{decoy_host}", real.url),
    ]
    .into_iter()
    .enumerate()
    {
        let phone = format!("+120155501{n:02}");
        let ada = CreateUserRequest::builder()
            .full_name("Ada")
            .phone_number(Some(phone.clone()))
            .agent_url(Some(url.clone()));
        let user = ok(app.api().create_user().body(ada).send().await);
        let lookup = ok(app.api().lookup_number().phone_number(phone.as_str()).send().await);

        let answer = app.send(&phone, "hello").await;

        let real_host = real
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let looked_up = lookup.user.and_then(|user| user.agent_url);
        for shown in [user.agent_url, looked_up] {
            let shown = shown.unwrap_or_default();
            assert!(shown.starts_with(&format!("http://{real_host}/")), "{shown}");
        }
        assert_eq!(answer.messages(), ["from the real one"]);
    }
    assert_eq!(decoy.calls(), 0);
}

#[tokio::test]
async fn unusable_agent_urls_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let bob = ok(create(&app, "Bob", None, None).await);
    for url in [
        "http://127.0.0.1:99999/agent",
        "http://[::1/agent",
        "ftp://agent.example",
        "agent.example",
    ] {
        let (created, refusal) = refused(create(&app, "Ada", Some(url), None).await);
        let (updated, refusal_too) = refused(change(&app, bob.id, agent_url(url)).await);
        assert_eq!((created, updated), (422, 422), "{url}");
        for refusal in [&refusal, &refusal_too] {
            assert!(refusal.message.contains("agent_url"), "{refusal:?}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = sms_router(&dir.path().join("t.db"))
        .args([
            "user",
            "add",
            "--phone",
            ADA,
            "--name",
            "Ada",
            "--agent-url",
            "http://127.0.0.1:99999/agent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agent-url"));
}

/// A token is meant for one server: moved to another origin, the user's
/// agent loses it unless the same update sets a new one; a token without a
/// URL is refused on update as on create.
#[tokio::test]
async fn a_token_does_not_follow_its_user_to_another_host() {
    let app = spawn_app().await;
    let (old, new) = (FakeAgent::start().await, FakeAgent::start().await);
    new.replies("from the new host");
    let ada = CreateUserRequest::builder()
        .full_name("Ada")
        .phone_number(Some(ADA.to_owned()))
        .agent_url(Some(old.url.clone()))
        .agent_token(Some("meant-for-the-old-one".to_owned()));
    let ada = ok(app.api().create_user().body(ada).send().await).id;
    let same_host = ok(change(&app, ada, agent_url(&format!("{}?v=2", old.url))).await);

    let moved = ok(change(&app, ada, agent_url(&new.url)).await);
    app.send(ADA, "hello").await;
    let bob = ok(create(&app, "Bob", None, None).await);
    let lonely_token = UpdateUserRequest {
        agent_token: Some("no-url-for-me".to_owned()),
        ..Default::default()
    };
    let (lonely, refusal) = refused(change(&app, bob.id, lonely_token).await);

    assert!(same_host.has_agent_token, "a path or query change keeps it");
    assert!(!moved.has_agent_token, "{moved:?}");
    assert_eq!(new.received()[0].1, None, "the new host got the old host's token");
    assert_eq!(lonely, 422, "{refusal:?}");
    assert!(refusal.message.contains("agent_token"), "{refusal:?}");
    let back_with_token = UpdateUserRequest {
        agent_url: Some(old.url.clone()),
        agent_token: Some("for-the-old-one-again".to_owned()),
        ..Default::default()
    };
    let with_token = ok(change(&app, ada, back_with_token).await);
    assert!(with_token.has_agent_token);
}

/// The files in `dir`, but SQLite's own log and shared memory beside a
/// database: a reader stopped by its file-size limit was once seen to leave
/// them, under the whole suite's load; they are the database's, not a
/// backup's (`a_command_leaves_no_log_or_shared_memory_beside_the_database`
/// holds the commands that write to leaving none).
fn listing(dir: &std::path::Path) -> Vec<String> {
    every_file(dir)
        .into_iter()
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect()
}

/// Every file in `dir`, sorted.
fn every_file(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A backup holds agent tokens: readable by its owner alone, written whole
/// or not at all; a failed one (a full disk) leaves nothing, and the retry
/// goes through.
#[test]
fn a_backup_is_private_and_whole_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let copy = dir.path().join("copy.db");
    let before = listing(dir.path());

    let full = std::process::Command::new("prlimit")
        .arg("--fsize=4096")
        .arg(env!("CARGO_BIN_EXE_sms-router"))
        .args(["backup", copy.to_str().unwrap()])
        .env("SMS_ROUTER_DATABASE_PATH", &db)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let after_failure = listing(dir.path());
    let backed_up = sms_router(&db)
        .args(["backup", copy.to_str().unwrap()])
        .output()
        .unwrap();

    assert_eq!(full.status.code(), Some(1), "{}", String::from_utf8_lossy(&full.stderr));
    assert_eq!(after_failure, before, "a failed backup left a file");
    assert!(
        backed_up.status.success(),
        "{}",
        String::from_utf8_lossy(&backed_up.stderr)
    );
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(listing(dir.path()).len(), before.len() + 1);
}

fn is_root() -> bool {
    // SAFETY: geteuid reads the process's id.
    unsafe { libc::geteuid() == 0 }
}

/// A restore run as root over a service's database keeps it the
/// service's: its owner, group and mode; the database it replaced is kept
/// beside it.
#[test]
fn a_restore_keeps_the_databases_owner_and_mode_and_the_replaced_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let copy = dir.path().join("copy.db");
    assert!(
        sms_router(&db)
            .args(["backup", copy.to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    );
    add_user_with_cli(&db, "+12015550124");
    let service = if is_root() { Some((65534, 65534)) } else { None };
    if let Some((uid, gid)) = service {
        std::os::unix::fs::chown(&db, Some(uid), Some(gid)).unwrap();
    } else {
        eprintln!("not root: the owner is not changed, only the mode is checked");
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner = std::fs::metadata(&db).map(|m| (m.uid(), m.gid())).unwrap();

    let restored = sms_router(&db)
        .args(["restore", copy.to_str().unwrap()])
        .output()
        .unwrap();

    let out = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let meta = std::fs::metadata(&db).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.permissions().mode() & 0o777),
        (owner.0, owner.1, 0o600)
    );
    let kept: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("t.db.replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "{:?}", listing(dir.path()));
    assert!(out.contains(&kept[0]), "{out}");
    let users = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(users(&db), 1, "the backup's");
    assert_eq!(users(&dir.path().join(&kept[0])), 2, "the replaced database, whole");
}

/// The doctor reads without writing: beside a stopped server's database,
/// no file appears.
#[test]
fn the_doctor_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let mut server = RunningServer::start(&db, &[("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN)], &["serve", "--dev"]);
    server.signal("TERM");
    assert_eq!(server.wait_exit(crate::wait::PATIENCE), Some(Some(0)));
    let logs: Vec<String> = listing(dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    for log in logs {
        std::fs::remove_file(dir.path().join(log)).unwrap();
    }
    let before = every_file(dir.path());

    let doctor = sms_router(&db).args(["doctor", "--dev"]).output().unwrap();

    assert!(String::from_utf8_lossy(&doctor.stdout).contains("schema version"));
    assert_eq!(every_file(dir.path()), before);
}

/// A command that wrote the database leaves nothing beside it once it has
/// exited: its connections are closed before it exits, so no write-ahead
/// log or shared memory stays (a command run as root would own them, and
/// the service could not open its database).
#[test]
fn a_command_leaves_no_log_or_shared_memory_beside_the_database() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");

        add_user_with_cli(&db, ADA);

        assert_eq!(every_file(dir.path()), ["t.db"]);
    }
}
