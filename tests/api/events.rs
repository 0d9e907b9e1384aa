//! Agents told what became of their replies and of their users' opt-outs
//! (the setting `agent_events`), through the real webhook, the fake agent
//! and the fake Twilio.

use std::time::Duration;

use sms_router::domain::outbound::RetryPolicy;
use sms_router::startup::Tuning;

use crate::helpers::{
    AUTH_TOKEN, Behaviour, TestApp, eventually, sid_of, sms, spawn_app, spawn_app_with_twilio, twilio_signature, until,
};

const ADA: &str = "+12015550123";

/// Events retried quickly, so that a test waits little for a retry.
fn quick_events() -> Tuning {
    Tuning {
        event_retry: RetryPolicy {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_attempts: 50,
        },
        ..Tuning::default()
    }
}

async fn status_callback(app: &TestApp, fields: &[(&str, &str)]) -> u16 {
    let params: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let path = "/sms-router/webhook/status";
    let signature = twilio_signature(AUTH_TOKEN, &app.url(path), &params);
    app.post_raw(path, &params, Some(&signature), "application/x-www-form-urlencoded")
        .await
        .status
}

/// A status callback `undelivered` 30007 for a late reply reaches its agent
/// as one event, however often Twilio sends it, and though the agent was
/// down until after a restart.
#[tokio::test]
async fn an_undelivered_reply_reaches_its_agent_once_across_a_restart() {
    let (mut app, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "100")], quick_events()).await;
    app.set_config("agent_events", "true").await;
    let user = app.add_user("Ada", ADA, true).await;
    app.agent.set(Behaviour::Held("thought about it".into()));
    let question = sms(ADA, "a hard question");
    app.post_sms(&question).await;
    app.agent.release();
    eventually("the late reply to be sent", || twilio.received().len() == 1).await;
    let reply_sid: String = crate::helpers::found("the reply's sid", async || {
        app.db()
            .query_row("SELECT message_sid FROM sms_outbox WHERE status = 'sent'", [], |r| {
                r.get(0)
            })
            .ok()
    })
    .await;
    // The agent cannot take events yet.
    app.agent.answer_events_with(503);

    let undelivered = [
        ("MessageSid", reply_sid.as_str()),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30007"),
        ("To", ADA),
    ];
    assert_eq!(status_callback(&app, &undelivered).await, 204);
    eventually("the agent to be tried", || !app.agent.events().is_empty()).await;
    app.restart().await;
    // Twilio sends it again; the agent is back.
    assert_eq!(status_callback(&app, &undelivered).await, 204);
    app.agent.answer_events_with(200);
    until("the event to be delivered", async || delivered_events(&app) == 1).await;
    // A later event (the number's STOP) is delivered after it: nothing of
    // the first is still to come.
    app.send(ADA, "STOP").await;
    until("the STOP's event", async || delivered_events(&app) == 2).await;

    let events = app.agent.events();
    let keys: Vec<&str> = events.iter().filter_map(|(_, key)| key.as_deref()).collect();
    let first = format!("delivery:{reply_sid}:undelivered");
    assert!(
        keys.iter().all(|k| *k == first || k.starts_with("opt_out:")),
        "{keys:?}"
    );
    let (event, _) = events.iter().find(|(e, _)| e["type"] == "reply.undelivered").unwrap();
    assert_eq!(event["id"], first.as_str());
    assert_eq!(event["user_id"], user);
    assert_eq!(event["phone_number"], ADA);
    assert_eq!(event["message_sid"], sid_of(&question).as_str());
    assert_eq!(event["reply_sid"], reply_sid.as_str());
    assert_eq!(
        (event["status"].as_str(), event["error_code"].as_i64()),
        (Some("undelivered"), Some(30007))
    );
    assert_eq!(event["category"], "carrier_filtered");
    assert!(event["occurred_at"].as_str().is_some_and(|t| t.ends_with('Z')));
}

/// Events the agent took (2xx), by the store's count.
fn delivered_events(app: &TestApp) -> i64 {
    app.db()
        .query_row(
            "SELECT count(*) FROM sms_agent_events WHERE state = 'delivered'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

/// A STOP reaches the user's agent as an event, not as a question; START
/// too. Off (the default), nothing is sent.
#[tokio::test]
async fn a_stop_reaches_the_agent_as_an_event() {
    let app = spawn_app().await;
    let user = app.add_user("Ada", ADA, true).await;
    let quiet = sms(ADA, "STOP");
    app.post_sms(&quiet).await;
    app.send(ADA, "START").await;
    app.set_config("agent_events", "true").await;
    let stop = sms(ADA, "STOP");

    app.post_sms(&stop).await;
    app.send(ADA, "START").await;

    eventually("two events", || app.agent.events().len() == 2).await;
    let events = app.agent.events();
    let (event, key) = &events[0];
    assert_eq!(event["type"], "number.opted_out");
    assert_eq!(event["user_id"], user);
    assert_eq!(event["phone_number"], ADA);
    assert_eq!(event["message_sid"], sid_of(&stop).as_str());
    assert_eq!(key.as_deref(), event["id"].as_str());
    assert_eq!(events[1].0["type"], "number.opted_in");
    assert_eq!(app.agent.calls(), 0, "neither was a question");
}

/// An agent that answers 404 to an event is not sent another until the
/// service restarts.
#[tokio::test]
async fn an_agent_that_answers_404_is_not_asked_again_until_restart() {
    let mut app = spawn_app().await;
    app.set_config("agent_events", "true").await;
    app.add_user("Ada", ADA, true).await;
    app.agent.answer_events_with(404);

    app.send(ADA, "STOP").await;
    eventually("the first event", || app.agent.events().len() == 1).await;
    app.send(ADA, "START").await;
    until("the second to be set aside", async || {
        app.db()
            .query_row(
                "SELECT count(*) FROM sms_agent_events WHERE state = 'declined'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
            == 2
    })
    .await;
    let before_restart = app.agent.events().len();
    app.restart().await;
    app.send(ADA, "STOP").await;
    eventually("an event after the restart", || app.agent.events().len() == 2).await;

    assert_eq!(before_restart, 1);
}
