//! Every sender is told, whatever dies: an instance killed while its agent
//! thinks (its retry reaches another instance, or the same one restarted
//! at once), a database that goes silent, a change listener cut off in
//! silence, an answer lost on the wire. Real processes, real signals, a
//! real PostgreSQL behind a proxy that can go silent. Skipped, loudly,
//! where PostgreSQL is missing (a failure under CI).

use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, Behaviour, FakeAgent, RunningServer, WEBHOOK_PATH, eventually, found, sms_with_sid};
use crate::postgres_cluster::fresh_database;
use crate::proxy::Proxy;

const ADA: &str = "+12015550123";
const ERROR_REPLY: &str = "Sorry, something went wrong. Please try again in a moment.";

/// `url` with its host and port replaced by a proxy's, and the proxy.
async fn through_proxy(url: &str) -> (Proxy, String) {
    let rest = url.strip_prefix("postgres://postgres@").unwrap();
    let (host_port, tail) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(host_port.parse().unwrap()).await;
    (proxy.clone(), format!("postgres://postgres@{}/{tail}", proxy.address))
}

fn envs<'a>(url: &'a str, agent: &'a FakeAgent, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut envs = vec![
        ("SMS_ROUTER_DATABASE_URL", url),
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN),
        ("SMS_ROUTER_AGENT_URL", agent.url.as_str()),
        ("SMS_ROUTER_LOG_LEVEL", "warn"),
    ];
    envs.extend_from_slice(extra);
    envs
}

fn serve(dir: &tempfile::TempDir, name: &str, envs: &[(&str, &str)]) -> RunningServer {
    tokio::task::block_in_place(|| RunningServer::start(&dir.path().join(name), envs, &["serve", "--dev"]))
}

async fn add_ada(server: &RunningServer) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(server.url("/sms-router/admin/users"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"full_name": "Ada", "phone_number": ADA}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn post(server: &RunningServer, params: &[(String, String)]) -> (u16, String) {
    match reqwest::Client::new()
        .post(server.url(WEBHOOK_PATH))
        .form(params)
        .timeout(crate::wait::PATIENCE)
        .send()
        .await
    {
        Ok(response) => (response.status().as_u16(), response.text().await.unwrap()),
        Err(e) => panic!("no answer: {e}\n{}", server.logs()),
    }
}

/// Twilio's retries of a message, as its fallback makes them: again on
/// anything but 200, until a 200; answers that 200's body. A 200 is final
/// to Twilio: whatever it holds is what the sender gets.
async fn retry_until_answered(server: &RunningServer, params: &[(String, String)]) -> String {
    found("an answer of 200", async || {
        let (status, body) = post(server, params).await;
        (status == 200).then_some(body)
    })
    .await
}

/// The instance answering a message is killed while its agent thinks;
/// Twilio's retry reaches another instance at once: it is told
/// `error_reply` as soon as the death is known (the life line's lock, not
/// the 15 s lease), never answered empty, and the agent is not asked again.
#[tokio::test(flavor = "multi_thread")]
async fn the_retry_of_a_message_whose_instance_was_killed_is_told_by_another() {
    let agent = FakeAgent::start().await;
    agent.set(Behaviour::Held("too late".into()));
    let Some(url) = fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let envs = envs(&url, &agent, &[]);
    let (doomed, other) = (serve(&dir, "a.db", &envs), serve(&dir, "b.db", &envs));
    add_ada(&doomed).await;
    let params = sms_with_sid("SMkilled00000000000000000000000001", ADA, "hello");
    let first = tokio::spawn({
        let (url, params) = (doomed.url(WEBHOOK_PATH), params.clone());
        async move { reqwest::Client::new().post(url).form(&params).send().await }
    });
    eventually("the agent to be asked", || agent.calls() == 1).await;

    doomed.signal("KILL");
    assert!(first.await.unwrap().is_err(), "the killed instance answered nothing");
    let told = retry_until_answered(&other, &params).await;
    let later = post(&other, &params).await;

    assert!(
        told.contains(ERROR_REPLY),
        "answered in silence: {told}\n{}",
        other.logs()
    );
    assert_eq!(
        later,
        (200, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".into())
    );
    assert_eq!(agent.calls(), 1, "the agent is not asked again");
}

/// A crash and an immediate restart (systemd's `Restart=`): the restarted
/// instance takes over what its dead predecessor left before it serves, and
/// the retry is told `error_reply`; the empty answer of a duplicate is never
/// remembered before it.
#[tokio::test(flavor = "multi_thread")]
async fn the_retry_of_a_message_cut_by_a_crash_is_told_by_the_instance_restarted_at_once() {
    let agent = FakeAgent::start().await;
    agent.set(Behaviour::Held("too late".into()));
    let Some(url) = fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let envs = envs(&url, &agent, &[]);
    let mut crashed = serve(&dir, "a.db", &envs);
    add_ada(&crashed).await;
    let params = sms_with_sid("SMcrashed0000000000000000000000001", ADA, "hello");
    let first = tokio::spawn({
        let (url, params) = (crashed.url(WEBHOOK_PATH), params.clone());
        async move { reqwest::Client::new().post(url).form(&params).send().await }
    });
    eventually("the agent to be asked", || agent.calls() == 1).await;

    crashed.signal("KILL");
    tokio::task::block_in_place(|| crashed.wait_exit(crate::wait::PATIENCE)).expect("killed");
    assert!(first.await.unwrap().is_err());
    let restarted = serve(&dir, "a.db", &envs);
    let told = retry_until_answered(&restarted, &params).await;

    assert!(
        told.contains(ERROR_REPLY),
        "answered in silence: {told}\n{}",
        restarted.logs()
    );
    assert_eq!(agent.calls(), 1);
}

/// The database goes silent (packets dropped, nothing closed): a webhook
/// costs at most the database deadline, then 503, so that Twilio can call
/// its fallback; when the database answers again, the service recovers by
/// itself and the retry is answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_database_costs_a_webhook_its_deadline_and_then_503_and_the_service_recovers() {
    let agent = FakeAgent::start().await;
    agent.replies("hi Ada");
    let Some(direct) = fresh_database().await else { return };
    let (proxy, url) = through_proxy(&direct).await;
    let dir = tempfile::tempdir().unwrap();
    let envs = envs(&url, &agent, &[("SMS_ROUTER_DATABASE_TIMEOUT_MS", "1000")]);
    let server = serve(&dir, "a.db", &envs);
    add_ada(&server).await;
    let routed = post(
        &server,
        &sms_with_sid("SMsilent0000000000000000000000001", ADA, "hello"),
    )
    .await;
    assert!(routed.1.contains("hi Ada"), "{routed:?}");

    proxy.freeze();
    let params = sms_with_sid("SMsilent0000000000000000000000002", ADA, "are you there?");
    let (status, body) = post(&server, &params).await;
    let ready = reqwest::Client::new()
        .get(server.url("/readyz"))
        .timeout(crate::wait::PATIENCE)
        .send()
        .await
        .unwrap()
        .status();
    proxy.thaw();
    let retried = retry_until_answered(&server, &params).await;

    assert_eq!(status, 503, "{body}\n{}", server.logs());
    assert_eq!(ready, 503);
    assert!(retried.contains("hi Ada"), "{retried}\n{}", server.logs());
}

/// The change listener's connection dies in silence (a middlebox forgot
/// it): the listener's probe finds it and replaces it, and a change made
/// through another instance is obeyed long before the cache's hour.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_change_listener_is_replaced_and_changes_are_obeyed() {
    let agent = FakeAgent::start().await;
    agent.replies("hi Ada");
    let Some(direct) = fresh_database().await else { return };
    let (proxy, url) = through_proxy(&direct).await;
    let dir = tempfile::tempdir().unwrap();
    let unlimited = [("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1000000")];
    let router = serve(&dir, "a.db", &envs(&url, &agent, &unlimited));
    let changer = serve(&dir, "b.db", &envs(&direct, &agent, &unlimited));
    let ada = add_ada(&changer).await;
    let params = |n: u32| sms_with_sid(&format!("SMlisten{n:026}"), ADA, "hello");
    // Ada is in the router's cache.
    assert!(post(&router, &params(0)).await.1.contains("hi Ada"));

    proxy.freeze_marked(sms_router::adapters::postgres::LISTENER_NAME);
    let deactivated = reqwest::Client::new()
        .patch(changer.url(&format!("/sms-router/admin/users/{}", ada["id"])))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);

    let mut n = 0;
    let refused = found("the deactivation to be obeyed", async || {
        n += 1;
        let answer = post(&router, &params(n)).await;
        (!answer.1.contains("hi Ada")).then_some(answer)
    })
    .await;
    assert!(refused.1.contains("Your account is not active"), "{refused:?}");
    assert!(router.logs().contains("stopped answering"), "{}", router.logs());
}
