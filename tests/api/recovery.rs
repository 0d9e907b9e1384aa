//! Nobody is left in silence: a stop waits for a slow agent and sends its
//! reply; after a crash, each message the crash cut short gets `error_reply`
//! once, without a second agent call. The server runs as its own process,
//! stopped with real signals; the agent and Twilio are fakes on loopback.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sms_router::domain::settings::Settings;

use crate::helpers::*;

const ADA: &str = "+12015550123";
const ERROR_REPLY: &str = "Sorry, something went wrong. Please try again in a moment.";

/// A database where Ada has a number, a fake agent and a fake Twilio, and
/// the variables that point `serve --dev` at them with a short budget.
struct Setup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    agent: FakeAgent,
    twilio: FakeTwilio,
    envs: Vec<(&'static str, String)>,
}

impl Setup {
    async fn new(extra: &[(&'static str, &str)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        add_user_with_cli(&db, ADA);
        let agent = FakeAgent::start().await;
        let twilio = FakeTwilio::start().await;
        let mut envs = vec![
            ("SMS_ROUTER_AGENT_URL", agent.url.clone()),
            ("SMS_ROUTER_TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT.to_owned()),
            ("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_owned()),
            ("SMS_ROUTER_TWILIO_FROM_NUMBER", TWILIO_NUMBER.to_owned()),
            ("SMS_ROUTER_TWILIO_API_BASE", twilio.base.clone()),
            ("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "200".to_owned()),
        ];
        envs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Setup {
            _dir: dir,
            db,
            agent,
            twilio,
            envs,
        }
    }

    /// Serves, and sends a question its agent takes `thinking` to answer
    /// with `reply`: the webhook answers empty when the budget runs out.
    async fn ask_slow_agent(&self, reply: &str, thinking: Duration) -> (RunningServer, Vec<(String, String)>) {
        self.agent.set(Behaviour::Reply(reply.into(), thinking));
        let server = self.serve();
        let params = sms(ADA, "a hard question");
        let (status, body) = post(&server, &params).await;
        assert_eq!((status, body.contains("<Message>")), (200, false), "{body}");
        (server, params)
    }

    fn serve(&self) -> RunningServer {
        let envs: Vec<(&str, &str)> = self.envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        tokio::task::block_in_place(|| RunningServer::start(&self.db, &envs, &["serve", "--dev"]))
    }
}

async fn post(server: &RunningServer, params: &[(String, String)]) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(server.url(WEBHOOK_PATH))
        .form(params)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn inbound_outcome(db: &Path, sid: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT outcome FROM sms_usage_logs WHERE message_sid = ?1 AND direction = 'inbound'",
        [sid],
        |r| r.get(0),
    )
    .ok()
}

fn bodies(twilio: &FakeTwilio) -> Vec<String> {
    twilio
        .received()
        .iter()
        .map(|r| r.field("Body").unwrap_or_default().to_owned())
        .collect()
}

/// A stop waits for an agent still thinking and sends its reply before it
/// exits; the next start has nothing left to send.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_waits_for_a_slow_agent_and_sends_its_reply_before_it_exits() {
    let setup = Setup::new(&[]).await;
    let (mut server, params) = setup.ask_slow_agent("worth the wait", Duration::from_secs(2)).await;
    server.signal("TERM");
    let exited = tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));

    assert_eq!(exited, Some(Some(0)), "{}", server.logs());
    assert_eq!(inbound_outcome(&setup.db, &sid_of(&params)).as_deref(), Some("routed"));
    assert_eq!(bodies(&setup.twilio), ["worth the wait"], "sent by the stopping server");
    assert_eq!(outbox_statuses(&setup.db), ["sent"]);
    let restarted = setup.serve();
    wait_for_quiet_outbox(&setup.db).await;
    restarted.stop();
    assert_eq!(bodies(&setup.twilio), ["worth the wait"]);
    assert_eq!(setup.agent.calls(), 1);
}

/// Waits until no outbox item is pending or being sent: nothing more goes
/// to Twilio from this database unless something queues it.
async fn wait_for_quiet_outbox(db: &Path) {
    eventually("the outbox to have nothing pending", || {
        outbox_statuses(db).iter().all(|s| s != "pending" && s != "sending")
    })
    .await;
}

/// The statuses of the outbox's items, oldest first.
fn outbox_statuses(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT status FROM sms_outbox ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Queues `count` messages to Ada through the admin API; answers their texts.
async fn queue_messages(server: &RunningServer, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut texts = Vec::new();
    for n in 0..count {
        let text = format!("news {n:02}");
        let response = client
            .post(server.url("/sms-router/admin/users/1/messages"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "body": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        texts.push(text);
    }
    texts
}

/// Each text's number of sends.
fn sends(twilio: &FakeTwilio) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for body in bodies(twilio) {
        *counts.entry(body).or_default() += 1;
    }
    counts
}

/// Serves, queues 20 messages while Twilio holds the first send for
/// `hang`, stops the server with SIGTERM once that send is under way and
/// waits for it to exit 0; answers the texts queued.
async fn queue_twenty_then_stop_during_a_hung_send(setup: &Setup, hang: Duration) -> Vec<String> {
    setup.twilio.script(&[TwilioAnswer::Slow(hang)]);
    let mut server = setup.serve();
    let texts = queue_messages(&server, 20).await;
    eventually("the first send", || !setup.twilio.received().is_empty()).await;
    server.signal("TERM");
    let exited = tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));
    assert_eq!(exited, Some(Some(0)), "{}", server.logs());
    texts
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_during_a_hung_send_finishes_it_and_sends_every_other_message_once_within_the_grace() {
    let setup = Setup::new(&[("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN)]).await;
    let texts = queue_twenty_then_stop_during_a_hung_send(&setup, Duration::from_secs(3)).await;

    let statuses = outbox_statuses(&setup.db);
    assert!(statuses.iter().all(|s| s == "sent"), "{statuses:?}");
    let restarted = setup.serve();
    wait_for_quiet_outbox(&setup.db).await;
    restarted.stop();
    let counts = sends(&setup.twilio);
    assert!(texts.iter().all(|t| counts.get(t) == Some(&1)), "{counts:?}");
    assert_eq!(setup.twilio.received().len(), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_still_hung_when_the_grace_ends_is_marked_unknown_and_every_other_message_is_sent_once() {
    let setup = Setup::new(&[
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SMS_ROUTER_SHUTDOWN_GRACE_MS", "500"),
    ])
    .await;
    let texts = queue_twenty_then_stop_during_a_hung_send(&setup, Duration::from_secs(4)).await;

    let restarted = setup.serve();
    eventually("every other message to go out", || setup.twilio.received().len() >= 20).await;
    wait_for_quiet_outbox(&setup.db).await;
    restarted.stop();

    let counts = sends(&setup.twilio);
    assert!(texts.iter().all(|t| counts.get(t) == Some(&1)), "{counts:?}");
    let statuses = outbox_statuses(&setup.db);
    assert_eq!(
        statuses[0], "unknown",
        "the send cut short is not repeated: {statuses:?}"
    );
    assert!(statuses[1..].iter().all(|s| s == "sent"), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_agent_cut_by_sigkill_gets_its_sender_error_reply_once_after_the_restart() {
    let setup = Setup::new(&[]).await;
    let (mut server, params) = setup.ask_slow_agent("never heard", Duration::from_secs(60)).await;

    server.signal("KILL");
    tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE)).expect("killed");
    let restarted = setup.serve();
    eventually("the error reply to go out", || !setup.twilio.received().is_empty()).await;
    let retry = post(&restarted, &params).await;
    wait_for_quiet_outbox(&setup.db).await;
    let logs = restarted.stop();
    // A start recovers what the last run left before it listens: once
    // this one listens, anything it queued shows.
    let again = setup.serve();
    wait_for_quiet_outbox(&setup.db).await;
    again.stop();

    assert_eq!(bodies(&setup.twilio), [ERROR_REPLY], "{logs}");
    assert_eq!(
        inbound_outcome(&setup.db, &sid_of(&params)).as_deref(),
        Some("interrupted")
    );
    assert_eq!(retry.0, 200);
    assert!(!retry.1.contains("<Message>"), "told twice: {}", retry.1);
    assert_eq!(setup.agent.calls(), 1);
}

/// SIGKILL while messages wait for the agent; then Twilio's retries of
/// those messages: each claimed one is answered `error_reply`, none reaches
/// the agent twice, none is answered empty. A second retry is a plain
/// duplicate.
#[tokio::test(flavor = "multi_thread")]
async fn retries_of_messages_cut_by_sigkill_get_error_reply_and_no_second_agent_call() {
    // No Twilio settings: the webhook waits for the agent.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    add_user_with_cli(&db, ADA);
    let agent = FakeAgent::start().await;
    agent.set(Behaviour::Reply("answered".into(), Duration::from_millis(300)));
    let envs = [
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("SMS_ROUTER_LOG_LEVEL", "warn"),
    ];
    let mut server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (url, stop, answered) = (server.url(WEBHOOK_PATH), stop.clone(), answered.clone());
        load.spawn(async move {
            let client = reqwest::Client::new();
            let mut cut = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let params = sms(ADA, "under load");
                let answer = match client.post(&url).form(&params).send().await {
                    Ok(response) => response.text().await.ok(),
                    Err(_) => None,
                };
                if answer.is_none() {
                    cut.push(params);
                    break;
                }
                answered.fetch_add(1, Ordering::SeqCst);
            }
            cut
        });
    }
    eventually("forty messages to be answered", || {
        answered.load(Ordering::SeqCst) >= 40
    })
    .await;
    server.signal("KILL");
    tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE)).expect("killed");
    stop.store(true, Ordering::SeqCst);
    let cut: Vec<Vec<(String, String)>> = load.join_all().await.into_iter().flatten().collect();

    let restarted = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let mut interrupted = 0;
    for params in &cut {
        let sid = sid_of(params);
        let before = inbound_outcome(&db, &sid);
        let (status, body) = post(&restarted, params).await;
        let (second_status, second) = post(&restarted, params).await;

        assert_eq!((status, second_status), (200, 200), "{body}");
        match before.as_deref() {
            Some("interrupted") => {
                interrupted += 1;
                assert!(body.contains(ERROR_REPLY), "{body}");
                assert!(
                    !second.contains("<Message>"),
                    "a later duplicate is told again: {second}"
                );
            }
            // Never claimed before the kill: a new message, answered now.
            None => assert!(body.contains("answered"), "answered empty: {body}"),
            // Settled, its answer lost with the connection: a duplicate.
            Some(settled) => assert_eq!(settled, "routed"),
        }
    }
    restarted.stop();

    assert!(interrupted > 0, "no message was cut while claimed: {} cut", cut.len());
    let mut calls: HashMap<String, usize> = HashMap::new();
    for (question, _) in agent.received() {
        *calls
            .entry(question["message_sid"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = calls.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "asked the agent twice: {twice:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_still_thinking_when_the_grace_ends_gets_its_sender_error_reply_at_the_next_start() {
    let setup = Setup::new(&[("SMS_ROUTER_SHUTDOWN_GRACE_MS", "500")]).await;
    let (mut server, params) = setup.ask_slow_agent("never heard", Duration::from_secs(60)).await;

    server.signal("TERM");
    let exited = tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));
    assert_eq!(exited, Some(Some(0)), "{}", server.logs());
    assert!(setup.twilio.received().is_empty());
    let restarted = setup.serve();
    eventually("the error reply to go out", || !setup.twilio.received().is_empty()).await;
    wait_for_quiet_outbox(&setup.db).await;
    restarted.stop();

    assert_eq!(bodies(&setup.twilio), [ERROR_REPLY]);
    assert_eq!(
        inbound_outcome(&setup.db, &sid_of(&params)).as_deref(),
        Some("interrupted")
    );
}

/// A keyword, or a message nobody's agent would see, that a crash cut
/// short is decided again on its retry: a STOP is recorded, HELP answered;
/// only what would reach the agent gets `error_reply`.
#[tokio::test]
async fn an_interrupted_keyword_is_decided_again_on_its_retry() {
    let mut app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    let cut = |body: &str| sms(ADA, body);
    let (stop, help, stranger, routed) = (cut("STOP"), cut("help"), sms("+12015550199", "hi"), cut("hi"));
    for params in [&stop, &help, &stranger, &routed] {
        // As a process killed mid-message leaves it.
        app.db()
            .execute(
                "INSERT INTO sms_usage_logs (phone_number, direction, outcome, message_sid)
                 VALUES (?1, 'inbound', 'processing', ?2)",
                [&params.iter().find(|(k, _)| k == "From").unwrap().1, &sid_of(params)],
            )
            .unwrap();
    }
    app.restart().await;

    assert_eq!(app.post_sms(&help).await.messages(), [Settings::default().help_reply]);
    assert_eq!(
        app.post_sms(&stranger).await.messages(),
        [Settings::default().unknown_user_reply]
    );
    assert_eq!(app.post_sms(&routed).await.messages(), [ERROR_REPLY]);
    assert_eq!(app.post_sms(&stop).await.messages(), Vec::<String>::new());

    assert!(app.is_opted_out(ADA).await, "the STOP was not recorded");
    let mut outcomes = Vec::new();
    for params in [&stop, &help, &stranger, &routed] {
        outcomes.push(app.inbound_row(&sid_of(params)).await.outcome);
    }
    assert_eq!(outcomes, ["opted_out", "help", "unknown_user", "interrupted"]);
    assert_eq!(app.agent.calls(), 0);
}
