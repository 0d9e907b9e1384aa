//! The service's own proof that every sender is told, whatever dies: senders
//! whose webhooks are retried as Twilio's fallback retries them (the same
//! MessageSid, again on anything but 200, up to six tries), against
//! instances that are restarted, killed, cut off from a database that
//! restarts or goes silent, with a change listener cut off in silence and an
//! agent that fails for a while; and one box on SQLite killed, its disk
//! filled, its agent failing. Each run counts messages lost, asked of the
//! agent twice, sent twice, never answered, and answered 200 with nothing
//! (what Twilio takes as final): all must be 0.
//!
//! In `cargo test` each runs for `SMS_ROUTER_CHAOS_SECONDS` (default 40);
//! the README gives the figures of longer runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;

use crate::helpers::{
    ADMIN_TOKEN, Behaviour, FakeAgent, FakeTwilio, RunningServer, WEBHOOK_PATH, add_user_with_cli, found, sms_with_sid,
    until,
};
use crate::postgres_cluster::fresh_database;
use crate::proxy::Proxy;

const SENDERS: usize = 12;
const ERROR_REPLY: &str = "Sorry, something went wrong. Please try again in a moment.";
/// Twilio's fallback retries, as the issue measured them.
const TRIES: usize = 6;
const RETRY_AFTER: Duration = Duration::from_millis(1500);

fn seconds() -> Duration {
    let seconds = std::env::var("SMS_ROUTER_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    Duration::from_secs(seconds)
}

fn number(sender: usize) -> String {
    format!("+1201555{:04}", 1000 + sender)
}

/// The servers as the load balancer sees them: each slot's server, or
/// `None` while it is down.
type Pool = Arc<Mutex<Vec<Option<RunningServer>>>>;

/// What the senders saw.
#[derive(Default)]
struct Tally {
    /// Each message's final answer: `Some(body)` for a 200, `None` when
    /// every try failed.
    answers: std::sync::Mutex<HashMap<String, Option<String>>>,
    /// Proactive messages the admin API accepted (202), by body.
    proactive: std::sync::Mutex<Vec<String>>,
}

/// A random live server's URL for `path`, if any is up.
async fn any_url(pool: &Pool, path: &str, pick: usize) -> Option<String> {
    let servers = pool.lock().await;
    let live: Vec<&RunningServer> = servers.iter().flatten().collect();
    (!live.is_empty()).then(|| live[pick % live.len()].url(path))
}

/// One sender: a message after another, each tried as Twilio would.
async fn sender(pool: Pool, tally: Arc<Tally>, sender: usize, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let sid = format!("SMchaos{sender:03}{n:024}");
        let params = sms_with_sid(&sid, &number(sender), "hello");
        let mut answer = None;
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(RETRY_AFTER).await;
            }
            let Some(url) = any_url(&pool, WEBHOOK_PATH, sender + n + attempt).await else {
                continue;
            };
            if let Ok(response) = client.post(url).form(&params).send().await
                && response.status() == 200
                && let Ok(body) = response.text().await
            {
                answer = Some(body);
                break;
            }
        }
        tally.answers.lock().unwrap().insert(sid, answer);
    }
}

/// Proactive messages through the admin API, one every half second.
async fn proactive(pool: Pool, tally: Arc<Tally>, users: Vec<i64>, stop: Arc<AtomicBool>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let body = format!("p:{n}");
        let user = users[n % users.len()];
        if let Some(url) = any_url(&pool, &format!("/sms-router/admin/users/{user}/messages"), n).await
            && let Ok(response) = client
                .post(url)
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({ "body": body }))
                .send()
                .await
            && response.status() == 202
        {
            tally.proactive.lock().unwrap().push(body);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The counts a run must keep at 0, and how much it did (shown).
#[derive(Debug, Default)]
#[allow(dead_code)]
struct Counts {
    messages: usize,
    proactive: usize,
    lost: usize,
    asked_twice: usize,
    sent_twice: usize,
    unanswered: usize,
    answered_in_silence: usize,
}

impl Counts {
    /// `logged`: each message's inbound outcome, by sid; `queued`: the
    /// proactive messages the outbox holds or held, whatever became of them.
    fn of(
        tally: &Tally,
        agent: &FakeAgent,
        twilio: &FakeTwilio,
        logged: &HashMap<String, String>,
        queued: usize,
    ) -> Counts {
        let answers = tally.answers.lock().unwrap();
        let mut asked: HashMap<String, usize> = HashMap::new();
        for (question, _) in agent.received() {
            *asked
                .entry(question["message_sid"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        let mut sent: HashMap<String, usize> = HashMap::new();
        for request in twilio.received().iter().filter(|r| r.created) {
            *sent
                .entry(request.field("Body").unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        let proactive = tally.proactive.lock().unwrap();
        let told = |sid: &str, body: &str| body.contains(&format!("re:{sid}")) || body.contains(ERROR_REPLY);
        Counts {
            messages: answers.len(),
            proactive: proactive.len(),
            // Answered, yet no settled row for it; accepted, yet not in the
            // outbox (sent, failed or unknown, each is there).
            lost: answers
                .iter()
                .filter(|(sid, body)| {
                    body.as_ref().is_some_and(|b| told(sid, b)) && logged.get(*sid).is_none_or(|o| o == "processing")
                })
                .count()
                + proactive.len().saturating_sub(queued),
            asked_twice: asked.values().filter(|n| **n > 1).count(),
            sent_twice: sent
                .iter()
                .filter(|(body, n)| body.starts_with("p:") && **n > 1)
                .count(),
            unanswered: answers.values().filter(|a| a.is_none()).count(),
            answered_in_silence: answers
                .iter()
                .filter(|(sid, body)| body.as_ref().is_some_and(|b| !told(sid, b)))
                .count(),
        }
    }

    fn assert_clean(&self, logs: &str) {
        println!("chaos: {self:?}");
        assert!(self.messages > 0, "no message was sent");
        assert_eq!(
            (
                self.lost,
                self.asked_twice,
                self.sent_twice,
                self.unanswered,
                self.answered_in_silence
            ),
            (0, 0, 0, 0, 0),
            "{self:?}\n{logs}"
        );
    }
}

/// Starts the server of `slot` again, once it can (the database may be
/// slow to come back).
fn start(dir: &std::path::Path, slot: usize, envs: &[(&str, &str)]) -> RunningServer {
    RunningServer::start(&dir.join(format!("i{slot}.db")), envs, &["serve", "--dev"])
}

/// Waits until a server in `slot` is up and answers `/healthz`.
async fn healthy(pool: &Pool, slot: usize) {
    until("the server to answer", async || {
        let url = pool.lock().await[slot].as_ref().map(|s| s.url("/healthz"));
        match url {
            Some(url) => reqwest::get(url).await.is_ok_and(|r| r.status() == 200),
            None => false,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_through_restarts_kills_and_silences_tell_every_sender_once() {
    let Some(direct) = fresh_database().await else { return };
    let rest = direct.strip_prefix("postgres://postgres@").unwrap();
    let (host_port, tail) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(host_port.parse().unwrap()).await;
    let url = format!("postgres://postgres@{}/{tail}", proxy.address);
    let agent = FakeAgent::start().await;
    agent.set(Behaviour::ReplySid(Duration::from_millis(200)));
    let twilio = FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut envs = twilio.vars();
    envs.extend_from_slice(&[
        ("SMS_ROUTER_DATABASE_URL", url.as_str()),
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
        ("SMS_ROUTER_TWILIO_AUTH_TOKEN", crate::helpers::AUTH_TOKEN),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "14000"),
        ("SMS_ROUTER_DATABASE_TIMEOUT_MS", "1000"),
        ("SMS_ROUTER_SHUTDOWN_GRACE_MS", "5000"),
        ("SMS_ROUTER_LOG_LEVEL", "warn"),
    ]);
    let servers = tokio::task::block_in_place(|| (0..3).map(|i| Some(start(dir.path(), i, &envs))).collect());
    let pool: Pool = Arc::new(Mutex::new(servers));
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for sender in 0..SENDERS {
        let url = any_url(&pool, "/sms-router/admin/users", sender).await.unwrap();
        let user: serde_json::Value = client
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"full_name": format!("Sender {sender}"), "phone_number": number(sender)}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        users.push(user["id"].as_i64().unwrap());
    }

    let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
    let mut load = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        load.spawn(sender(pool.clone(), tally.clone(), s, stop.clone()));
    }
    load.spawn(proactive(pool.clone(), tally.clone(), users, stop.clone()));

    // A fault every few seconds, in turn, for as long as the run lasts.
    let until_at = std::time::Instant::now() + seconds();
    let mut fault = 0;
    while std::time::Instant::now() < until_at {
        let slot = fault % 3;
        fault += 1;
        match (fault - 1) % 6 {
            // A rolling restart: each instance stopped with SIGTERM and
            // started again, one after the other.
            0 => {
                for slot in 0..3 {
                    let server = pool.lock().await[slot].take();
                    if let Some(mut server) = server {
                        server.signal("TERM");
                        tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));
                    }
                    let started = tokio::task::block_in_place(|| start(dir.path(), slot, &envs));
                    pool.lock().await[slot] = Some(started);
                    healthy(&pool, slot).await;
                }
            }
            // A SIGKILL, and the instance started again two seconds later.
            1 => {
                let server = pool.lock().await[slot].take();
                if let Some(server) = server {
                    server.signal("KILL");
                    drop(server);
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                let started = tokio::task::block_in_place(|| start(dir.path(), slot, &envs));
                pool.lock().await[slot] = Some(started);
            }
            // The database drops every connection, as a restart does.
            2 => proxy.reset(),
            // The database goes silent for three seconds.
            3 => {
                proxy.freeze();
                tokio::time::sleep(Duration::from_secs(3)).await;
                proxy.thaw();
            }
            // The change listeners go silent until the next fault.
            4 => proxy.freeze_marked(sms_router::adapters::postgres::LISTENER_NAME),
            // The agent fails for four seconds.
            _ => {
                proxy.thaw();
                agent.set(Behaviour::Status(500));
                tokio::time::sleep(Duration::from_secs(4)).await;
                agent.set(Behaviour::ReplySid(Duration::from_millis(200)));
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    proxy.thaw();
    stop.store(true, Ordering::SeqCst);
    load.join_all().await;
    for slot in 0..3 {
        if pool.lock().await[slot].is_none() {
            let started = tokio::task::block_in_place(|| start(dir.path(), slot, &envs));
            pool.lock().await[slot] = Some(started);
        }
    }

    // Every late reply and proactive message sent, then the rows counted.
    let (db, connection) = tokio_postgres::connect(&direct, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    until("the outboxes to be worked through", async || {
        let left: i64 = db
            .query_one(
                "SELECT count(*) FROM sms_outbox WHERE status IN ('pending', 'sending')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        left == 0
    })
    .await;
    let logged: HashMap<String, String> = db
        .query(
            "SELECT message_sid, outcome FROM sms_usage_logs WHERE direction = 'inbound' AND message_sid LIKE 'SMchaos%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let queued: i64 = db
        .query_one("SELECT count(*) FROM sms_outbox WHERE outcome = 'proactive'", &[])
        .await
        .unwrap()
        .get(0);
    let counts = Counts::of(&tally, &agent, &twilio, &logged, usize::try_from(queued).unwrap());
    let mut logs = String::new();
    for server in pool.lock().await.drain(..).flatten() {
        logs.push_str(&server.stop());
    }
    counts.assert_clean(&logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_box_through_kills_full_disks_and_agent_outages_tells_every_sender_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("box.db");
    for sender in 0..SENDERS {
        add_user_with_cli(&db, &number(sender));
    }
    let agent = FakeAgent::start().await;
    agent.set(Behaviour::ReplySid(Duration::from_millis(50)));
    let twilio = FakeTwilio::start().await;
    let mut envs = twilio.vars();
    envs.extend_from_slice(&[
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
        ("SMS_ROUTER_TWILIO_AUTH_TOKEN", crate::helpers::AUTH_TOKEN),
        ("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "14000"),
        ("SMS_ROUTER_LOG_LEVEL", "warn"),
    ]);
    let serve = || tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let pool: Pool = Arc::new(Mutex::new(vec![Some(serve())]));
    let users: Vec<i64> = (1..=i64::try_from(SENDERS).unwrap()).collect();

    let (stop, tally) = (Arc::new(AtomicBool::new(false)), Arc::new(Tally::default()));
    let mut load = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        load.spawn(sender(pool.clone(), tally.clone(), s, stop.clone()));
    }
    load.spawn(proactive(pool.clone(), tally.clone(), users, stop.clone()));

    let until_at = std::time::Instant::now() + seconds();
    let mut fault = 0;
    while std::time::Instant::now() < until_at {
        match fault % 3 {
            // A SIGKILL, and the server started again at once.
            0 => {
                let server = pool.lock().await[0].take();
                if let Some(mut server) = server {
                    server.signal("KILL");
                    tokio::task::block_in_place(|| server.wait_exit(crate::wait::PATIENCE));
                }
                pool.lock().await[0] = Some(serve());
            }
            // The disk is full for three seconds.
            1 => {
                let pid = pool.lock().await[0].as_ref().map(|s| s.child.id().to_string());
                if let Some(pid) = pid {
                    let limit = |bytes: &str| {
                        std::process::Command::new("prlimit")
                            .args(["--pid", &pid, &format!("--fsize={bytes}:unlimited")])
                            .status()
                            .unwrap()
                    };
                    limit("1");
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    limit("unlimited");
                }
            }
            // The agent fails for three seconds.
            _ => {
                agent.set(Behaviour::Status(500));
                tokio::time::sleep(Duration::from_secs(3)).await;
                agent.set(Behaviour::ReplySid(Duration::from_millis(50)));
            }
        }
        fault += 1;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    stop.store(true, Ordering::SeqCst);
    load.join_all().await;

    let conn = || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        conn
    };
    let left = async || {
        conn()
            .query_row(
                "SELECT count(*) FROM sms_outbox WHERE status IN ('pending', 'sending')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    found("the outbox to be worked through", async || {
        (left().await == 0).then_some(())
    })
    .await;
    let logged: HashMap<String, String> = conn()
        .prepare("SELECT message_sid, outcome FROM sms_usage_logs WHERE direction = 'inbound' AND message_sid LIKE 'SMchaos%'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let queued: i64 = conn()
        .query_row("SELECT count(*) FROM sms_outbox WHERE outcome = 'proactive'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let counts = Counts::of(&tally, &agent, &twilio, &logged, usize::try_from(queued).unwrap());
    let logs = pool.lock().await[0].take().map(RunningServer::stop).unwrap_or_default();
    counts.assert_clean(&logs);
}
