//! Faults injected into real parts: a fake agent that stalls or floods, a
//! database locked by another process or out of room, the server process
//! killed or stopped mid-request.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::helpers::*;

const ADA: &str = "+12015550123";
const BOB: &str = "+12015550124";

/// An answer lost on the wire (the process killed as it was written, say):
/// after the restart, Twilio's retry gets the same answer, the agent's
/// reply from where it was kept or the service's own text again, without
/// a second agent call.
#[tokio::test]
async fn a_retry_after_a_restart_gets_the_same_answer_without_a_second_agent_call() {
    let mut app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    let routed = sms(ADA, "hi");
    let failed = sms(ADA, "and this?");
    let help = sms(ADA, "HELP");
    let stranger = sms("+12015550199", "who?");
    assert_eq!(app.post_sms(&routed).await.messages(), ["hi from the agent"]);
    app.agent.set(Behaviour::Status(500));
    let error = app.post_sms(&failed).await.messages();
    let help_reply = app.post_sms(&help).await.messages();
    let unknown = app.post_sms(&stranger).await.messages();

    app.restart().await;

    assert_eq!(app.post_sms(&routed).await.messages(), ["hi from the agent"]);
    assert_eq!(app.post_sms(&failed).await.messages(), error);
    assert_eq!(app.post_sms(&help).await.messages(), help_reply);
    assert_eq!(app.post_sms(&stranger).await.messages(), unknown);
    assert_eq!(app.agent.calls(), 2, "the store's claim must stop a second agent call");
    assert_eq!(app.count_rows("inbound").await, 4);
    assert_eq!(app.inbound_row(&sid_of(&routed)).await.outcome, "routed");
}

/// One number floods while its agent stalls; another user is answered in
/// the meantime, and the flood beyond the burst is refused at once.
#[tokio::test]
async fn a_flood_from_one_number_with_a_stalled_agent_holds_up_no_one_else() {
    let app = spawn_app_with(&[("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "5")]).await;
    app.add_user("Ada", ADA, true).await;
    app.add_user("Bob", BOB, true).await;
    app.agent.set_for(ADA, Behaviour::Held("late".into()));
    let floods: Vec<_> = (0..40).map(|n| sms(ADA, &format!("flood {n}"))).collect();
    let flood_done = Arc::new(AtomicBool::new(false));
    let flood = {
        let (client, url, done) = (app.client.clone(), app.url(WEBHOOK_PATH), flood_done.clone());
        let floods = floods.clone();
        tokio::spawn(async move {
            let sends = floods.iter().map(|params| {
                let signature = twilio_signature(AUTH_TOKEN, &url, params);
                client
                    .post(&url)
                    .header("X-Twilio-Signature", signature)
                    .form(params)
                    .send()
            });
            let answers = futures_util::future::join_all(sends).await;
            done.store(true, Ordering::SeqCst);
            answers
                .into_iter()
                .map(|a| a.unwrap().status().as_u16())
                .collect::<Vec<_>>()
        })
    };
    eventually("the stalled agent holds five of the flood", || app.agent.calls() == 5).await;

    let bob = app.send(BOB, "still there?").await;

    assert_eq!(bob.messages(), ["hi from the agent"]);
    assert!(
        !flood_done.load(Ordering::SeqCst),
        "Bob was answered only after the flood"
    );
    app.agent.release();
    let statuses = flood.await.unwrap();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let mut outcomes = Vec::new();
    for params in &floods {
        outcomes.push(app.inbound_row(&sid_of(params)).await.outcome);
    }
    assert_eq!(outcomes.iter().filter(|o| *o == "routed").count(), 5, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| *o == "rate_limited").count(),
        35,
        "{outcomes:?}"
    );
    assert_eq!(app.agent.calls(), 6);
}

#[tokio::test]
async fn a_locked_database_is_waited_for_within_the_request() {
    let app = spawn_faulty_app(&[]).await;
    app.add_user("Ada", ADA, true).await;
    let blocker = app.db();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let params = sms(ADA, "hi");
    let answer = {
        let app_url = app.url(WEBHOOK_PATH);
        let (client, params) = (app.client.clone(), params.clone());
        tokio::spawn(async move {
            let signature = twilio_signature(AUTH_TOKEN, &app_url, &params);
            let response = client
                .post(&app_url)
                .header("X-Twilio-Signature", signature)
                .form(&params)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };

    // The message is being claimed, behind the lock: a store that did not
    // wait for it would answer 503.
    let faults = app.faults.clone().unwrap();
    eventually("the message to be claimed", || faults.calls("claim") == 1).await;
    assert!(!answer.is_finished(), "the webhook did not wait for the lock");
    blocker.execute_batch("ROLLBACK").unwrap();
    let (status, body) = answer.await.unwrap();

    assert_eq!(status, 200);
    assert!(body.contains("hi from the agent"), "{body}");
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "routed");
}

/// The store runs out of room (the server's file-size limit lowered to one
/// byte, as a full disk would): the webhook answers 503 without asking the
/// agent, `/readyz` fails, the process stays up; with room again it
/// recovers by itself and Twilio's retry is answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_answers_503_then_recovers_by_itself() {
    let (_dir, db, agent, server) = serve_ada_with_fake_agent().await;
    let client = reqwest::Client::new();
    let post = |params: Vec<(String, String)>| {
        let request = client.post(server.url(WEBHOOK_PATH)).form(&params).send();
        async move {
            let response = request.await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let get = |path: &str| {
        let request = client.get(server.url(path)).send();
        async move { request.await.unwrap().status().as_u16() }
    };
    assert_eq!(post(sms(ADA, "before")).await.0, 200);

    set_file_size_limit(&server, "1");
    let params = sms(ADA, "while full");
    let (status, body) = post(params.clone()).await;
    let (ready, healthy) = (get("/readyz").await, get("/healthz").await);

    assert_eq!(status, 503, "{body}");
    assert!(body.contains("service_unavailable"), "{body}");
    assert_eq!((ready, healthy), (503, 200));
    assert_eq!(agent.calls(), 1, "the agent was asked without a log row");

    set_file_size_limit(&server, "unlimited");
    until("/readyz to answer 200 again", async || get("/readyz").await == 200).await;
    let (status, body) = post(params.clone()).await;
    let logs = server.stop();

    assert_eq!(status, 200, "{body}\n{logs}");
    assert!(body.contains("hi from the agent"), "{body}");
    assert_eq!(agent.calls(), 2);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let outcome: String = conn
        .query_row(
            "SELECT outcome FROM sms_usage_logs WHERE message_sid = ?1 AND direction = 'inbound'",
            [sid_of(&params)],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "routed");
}

/// Killed with SIGKILL under load: the database passes its integrity check,
/// every message answered 200 has its settled log row, and the server
/// starts again on it.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_under_load_loses_no_answered_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let envs = [
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("SMS_ROUTER_LOG_LEVEL", "warn"),
    ];
    let mut server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url, stop, count) = (client.clone(), server.url(WEBHOOK_PATH), stop.clone(), count.clone());
        load.spawn(async move {
            let mut answered = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let params = sms(ADA, "under load");
                let Ok(response) = client.post(&url).form(&params).send().await else {
                    break;
                };
                let ok = response.status() == 200;
                if matches!(response.text().await, Ok(body) if ok && body.contains("echo: under load")) {
                    answered.push(sid_of(&params));
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
            answered
        });
    }

    // Killed mid-stream once enough has been answered, however slow the
    // machine.
    eventually("a hundred answers", || count.load(Ordering::SeqCst) >= 100).await;
    server.signal("KILL");
    let killed = tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));
    stop.store(true, Ordering::SeqCst);
    let answered: Vec<String> = load.join_all().await.into_iter().flatten().collect();

    assert!(killed.is_some(), "the server survived SIGKILL");
    assert!(
        answered.len() > 20,
        "too little load to prove anything: {}",
        answered.len()
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let settled: HashSet<String> = conn
        .prepare("SELECT message_sid FROM sms_usage_logs WHERE direction = 'inbound' AND outcome = 'routed'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|sid| !settled.contains(*sid)).collect();
    assert!(missing.is_empty(), "answered 200 without a settled row: {missing:?}");
    drop(conn);

    let restarted = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let ready = client.get(restarted.url("/readyz")).send().await.unwrap().status();
    restarted.stop();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let processing: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sms_usage_logs WHERE outcome = 'processing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ready, 200);
    assert_eq!(
        processing, 0,
        "claims of the killed process were not marked interrupted"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RunningServer::start(&dir.path().join("t.db"), &[], &["serve", "--dev"]);

    server.signal("TERM");
    let exited = server.wait_exit(crate::wait::PATIENCE);

    assert_eq!(exited, Some(Some(0)), "{}", server.logs());
}

/// SIGINT while a message waits for its agent: no new connection is
/// accepted, the message still gets its reply, and the process exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_finishes_the_message_in_flight_then_exits_0() {
    let (_dir, _db, agent, mut server) = serve_ada_with_fake_agent().await;
    agent.set(Behaviour::Held("worth the wait".into()));
    let in_flight = tokio::spawn(
        reqwest::Client::new()
            .post(server.url(WEBHOOK_PATH))
            .form(&sms(ADA, "slow one"))
            .send(),
    );
    eventually("the agent has the message", || agent.calls() == 1).await;

    server.signal("INT");
    eventually("new connections to be refused", || {
        std::net::TcpStream::connect(&server.bind).is_err()
    })
    .await;
    let still_waiting = !in_flight.is_finished();
    agent.release();
    let response = in_flight.await.unwrap().unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let exited = tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));

    assert!(still_waiting, "the agent answered before the test could look");
    assert_eq!(status, 200);
    assert!(body.contains("worth the wait"), "{body}");
    assert_eq!(exited, Some(Some(0)), "{}", server.logs());
}

/// `serve --dev` as its own process, on a new database (in the returned
/// directory) where Ada has a number, with the fake agent as its agent.
async fn serve_ada_with_fake_agent() -> (tempfile::TempDir, std::path::PathBuf, FakeAgent, RunningServer) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let agent = FakeAgent::start().await;
    let server = tokio::task::block_in_place(|| {
        RunningServer::start(&db, &[("SMS_ROUTER_AGENT_URL", &agent.url)], &["serve", "--dev"])
    });
    (dir, db, agent, server)
}

/// Sets the server's limit on the size of files it writes (`prlimit`).
fn set_file_size_limit(server: &RunningServer, bytes: &str) {
    let limit = format!("--fsize={bytes}:unlimited");
    let set = std::process::Command::new("prlimit")
        .args(["--pid", &server.child.id().to_string(), &limit])
        .status()
        .unwrap();
    assert!(set.success(), "prlimit {limit} failed");
}
