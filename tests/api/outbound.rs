//! Messages sent through Twilio's REST API from the outbox, against a fake
//! Twilio on loopback that records what it receives.

use std::time::Duration;

use base64::Engine;
use sms_router::domain::outbound::RetryPolicy;
use sms_router::startup::Tuning;

use crate::helpers::spec::types::{AddPhoneRequest, CreateUserRequest, OutboxMessageDto, SendMessageRequest};
use crate::helpers::spec::{self, Answer, ok, refused};
use crate::helpers::{
    AUTH_TOKEN, Behaviour, FakeTwilio, TWILIO_ACCOUNT, TWILIO_NUMBER, TestApp, TwilioAnswer, eventually, spawn_app,
    spawn_app_with_twilio, spawn_faulty_app_with_twilio, until,
};

const ADA: &str = "+12015550123";
const EXTRA: &str = "+12015550177";

fn quick_retries(max_attempts: u32) -> Tuning {
    Tuning {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            max_attempts,
        },
        ..Tuning::default()
    }
}

async fn ada(app: &TestApp) -> i64 {
    app.add_user("Ada", ADA, true).await
}

async fn send(app: &TestApp, user: i64, body: &str) -> Answer<OutboxMessageDto> {
    let body = SendMessageRequest { body: body.to_owned() };
    app.api().send_user_message().id(user).body(body).send().await
}

/// An outbound log row: message_sid, success, error_message, error_code, outcome.
type OutboundRow = (Option<String>, bool, Option<String>, Option<i64>, String);

fn outbound_rows(app: &TestApp) -> Vec<OutboundRow> {
    let db = app.db();
    let mut stmt = db
        .prepare(
            "SELECT message_sid, success, error_message, error_code, outcome FROM sms_usage_logs
             WHERE direction = 'outbound' ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits until the outbox item of a `send` answer reaches `status`.
async fn wait_for_outbox(app: &TestApp, item: &OutboxMessageDto, status: &str) {
    let id = item.id;
    eventually(&format!("outbox item {id} to be {status}"), || {
        outbox_status(app, id).0 == status
    })
    .await;
}

/// Waits until no outbox item is pending or being sent: nothing more can
/// reach Twilio from here on.
async fn wait_for_quiet_outbox(app: &TestApp) {
    eventually("the outbox to have nothing pending", || {
        app.db()
            .query_row(
                "SELECT count(*) FROM sms_outbox WHERE status IN ('pending', 'sending')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 0
    })
    .await;
}

fn outbox_status(app: &TestApp, id: i64) -> (String, String) {
    app.db()
        .query_row("SELECT status, body FROM sms_outbox WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
}

#[tokio::test]
async fn a_message_to_a_user_goes_out_once_through_the_rest_api() {
    let (app, twilio) = spawn_app_with_twilio(
        &[("SMS_ROUTER_PUBLIC_URL", "https://sms.example.com")],
        Tuning::default(),
    )
    .await;
    let user = ada(&app).await;

    let answer = send(&app, user, "Your report is ready.").await;

    assert_eq!(spec::status(&answer), 202, "{answer:?}");
    let item = ok(answer);
    assert_eq!((item.to.as_str(), item.user_id), (ADA, Some(user)));
    wait_for_outbox(&app, &item, "sent").await;
    let requests = twilio.received();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json")
    );
    assert_eq!(request.field("To"), Some(ADA));
    assert_eq!(request.field("From"), Some(TWILIO_NUMBER));
    assert_eq!(request.field("Body"), Some("Your report is ready."));
    assert_eq!(
        request.field("StatusCallback"),
        Some("https://sms.example.com/sms-router/webhook/status")
    );
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_ACCOUNT}:{AUTH_TOKEN}"));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {credentials}").as_str())
    );
    let rows = outbound_rows(&app);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].0.as_deref().is_some_and(|sid| sid.starts_with("SMfake")));
    assert_eq!((rows[0].1, rows[0].4.as_str()), (true, "proactive"));
    assert_eq!(outbox_status(&app, item.id).1, "", "the text is not kept once sent");
}

#[tokio::test]
async fn too_many_requests_then_created_delivers_one_message() {
    let (app, twilio) = spawn_app_with_twilio(&[], quick_retries(5)).await;
    twilio.script(&[TwilioAnswer::Error(429, Some(20429))]);
    let user = ada(&app).await;

    let item = ok(send(&app, user, "hello").await);

    wait_for_outbox(&app, &item, "sent").await;
    let requests = twilio.received();
    assert_eq!(requests.iter().map(|r| r.created).collect::<Vec<_>>(), [false, true]);
    let rows = outbound_rows(&app);
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1);
}

#[tokio::test]
async fn an_opted_out_recipient_is_recorded_and_not_retried() {
    let (app, twilio) = spawn_app_with_twilio(&[], quick_retries(5)).await;
    twilio.script(&[TwilioAnswer::Error(400, Some(21610))]);
    let user = ada(&app).await;

    let item = ok(send(&app, user, "hello").await);

    wait_for_outbox(&app, &item, "failed").await;
    assert_eq!(twilio.received().len(), 1, "no retry");
    assert!(app.is_opted_out(ADA).await);
    let rows = outbound_rows(&app);
    assert_eq!((rows[0].1, rows[0].3), (false, Some(21610)));
    let status = spec::status(&send(&app, user, "again").await);
    assert_eq!(status, 409, "an opted-out user is not texted");
}

#[tokio::test]
async fn server_errors_beyond_the_retries_leave_a_failed_row() {
    let (app, twilio) = spawn_app_with_twilio(&[], quick_retries(3)).await;
    twilio.script(&[
        TwilioAnswer::Error(500, None),
        TwilioAnswer::Error(503, None),
        TwilioAnswer::Error(502, None),
    ]);
    let user = ada(&app).await;

    let item = ok(send(&app, user, "hello").await);

    wait_for_outbox(&app, &item, "failed").await;
    assert_eq!(twilio.received().len(), 3);
    let rows = outbound_rows(&app);
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].1);
    assert!(
        rows[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("gave up after 3 attempts")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_pending_message_is_sent_once_after_a_restart_and_an_interrupted_send_is_not_repeated() {
    let slow = Tuning {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(700),
            max_delay: Duration::from_millis(700),
            max_attempts: 5,
        },
        ..Tuning::default()
    };
    let (mut app, twilio) = spawn_app_with_twilio(&[], slow).await;
    twilio.script(&[TwilioAnswer::Error(503, None)]);
    let user = ada(&app).await;
    let pending = ok(send(&app, user, "survives a restart").await);
    eventually("the first attempt", || twilio.received().len() == 1).await;
    // A second message was being sent when the process died.
    let interrupted = ok(send(&app, user, "in flight").await);
    app.restart().await;
    app.db()
        .execute(
            "UPDATE sms_outbox SET status = 'sending' WHERE id = ?1",
            [interrupted.id],
        )
        .ok();

    app.restart().await;

    wait_for_outbox(&app, &pending, "sent").await;
    wait_for_quiet_outbox(&app).await;
    let created: Vec<_> = twilio.received().into_iter().filter(|r| r.created).collect();
    let bodies: Vec<_> = created.iter().filter_map(|r| r.field("Body")).collect();
    assert_eq!(bodies.iter().filter(|b| **b == "survives a restart").count(), 1);
    assert!(bodies.iter().filter(|b| **b == "in flight").count() <= 1);
    let interrupted_status = outbox_status(&app, interrupted.id).0;
    assert!(
        interrupted_status == "unknown" || bodies.contains(&"in flight"),
        "an interrupted send is marked unknown, unless it was sent before the stop: {interrupted_status}"
    );
}

#[tokio::test]
async fn a_message_to_a_user_that_cannot_be_texted_is_refused() {
    let (app, _twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let user = ada(&app).await;
    let inactive = app.add_user("Bob", "+12015550124", false).await;
    let cy = CreateUserRequest::builder().full_name("Cy");
    let numberless = ok(app.api().create_user().body(cy).send().await).id;
    app.send("+12015550123", "STOP").await;

    for (target, body, status) in [
        (user, "hi", 409),
        (inactive, "hi", 409),
        (numberless, "hi", 409),
        (999, "hi", 404),
        (user, " ", 422),
    ] {
        let answer = send(&app, target, body).await;
        assert_eq!(spec::status(&answer), status, "user {target}: {answer:?}");
    }
    let status = spec::status(&send(&app, user, &"x".repeat(1601)).await);
    assert_eq!(status, 422);
}

#[tokio::test]
async fn without_twilio_settings_sending_is_503() {
    let app = spawn_app().await;
    let user = ada(&app).await;

    let (status, error) = refused(send(&app, user, "hi").await);

    assert_eq!(status, 503);
    assert!(error.message.contains("SMS_ROUTER_TWILIO_ACCOUNT_SID"), "{error:?}");
}

#[tokio::test]
async fn a_fast_agent_is_answered_in_twiml_and_nothing_goes_through_rest() {
    let (app, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "2000")], Tuning::default()).await;
    ada(&app).await;

    let answer = app.send(ADA, "hi").await;

    assert_eq!(answer.messages(), ["hi from the agent"]);
    // The reply went in the answer, once its row was committed: nothing
    // was queued, so nothing can go out later.
    let queued: i64 = app
        .db()
        .query_row("SELECT count(*) FROM sms_outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 0);
    assert!(twilio.received().is_empty());
}

#[tokio::test]
async fn a_slow_agent_gets_an_empty_answer_in_time_and_its_reply_through_rest_once() {
    let (app, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "200")], Tuning::default()).await;
    let user = ada(&app).await;
    app.agent.set(Behaviour::Held("thought about it".into()));
    let params = crate::helpers::sms(ADA, "a hard question");

    // The agent has not answered yet: the webhook is answered in time all
    // the same.
    let answer = app.post_sms(&params).await;
    let retry = app.post_sms(&params).await;
    app.agent.release();

    assert_eq!(answer.messages(), Vec::<String>::new());
    assert_eq!(retry.messages(), Vec::<String>::new());
    let sid = crate::helpers::sid_of(&params);
    eventually("the late reply to be sent", || twilio.received().len() == 1).await;
    let request = &twilio.received()[0];
    assert_eq!(
        (request.field("To"), request.field("From")),
        (Some(ADA), Some(TWILIO_NUMBER))
    );
    assert_eq!(request.field("Body"), Some("thought about it"));
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_ACCOUNT}:{AUTH_TOKEN}"));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {credentials}").as_str())
    );
    until("the message's row to be settled", async || {
        app.inbound_row(&sid).await.outcome == "routed"
    })
    .await;
    let row = app.inbound_row(&sid).await;
    assert_eq!((row.user_id, row.success), (Some(user), true));
    assert!(row.metadata.unwrap().contains(r#""deferred":true"#));
    eventually("the outbound row", || outbound_rows(&app).len() == 1).await;
    assert_eq!(outbound_rows(&app)[0].4, "routed");
    // The late reply's row joins its message's by the request id, as an
    // answer in time does.
    let request_id = |metadata: Option<String>| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&metadata.unwrap_or_default()).unwrap_or_default()["request_id"]
            .clone()
    };
    let sent: Option<String> = app
        .db()
        .query_row(
            "SELECT metadata FROM sms_usage_logs WHERE direction = 'outbound'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let inbound = request_id(app.inbound_row(&sid).await.metadata);
    assert!(inbound.is_string(), "{inbound}");
    assert_eq!(request_id(sent), inbound);
    wait_for_quiet_outbox(&app).await;
    assert_eq!(twilio.received().len(), 1, "never both, never twice");
    assert_eq!(app.agent.calls(), 1);
}

#[tokio::test]
async fn an_agent_past_the_late_deadline_gets_the_error_reply_through_rest() {
    let (app, twilio) = spawn_app_with_twilio(
        &[
            ("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "100"),
            ("SMS_ROUTER_ASYNC_AGENT_TIMEOUT_MS", "400"),
        ],
        Tuning::default(),
    )
    .await;
    ada(&app).await;
    app.agent.set(Behaviour::Held("too late".into()));
    let params = crate::helpers::sms(ADA, "hi");

    assert_eq!(app.post_sms(&params).await.messages(), Vec::<String>::new());

    eventually("the error reply to be sent", || twilio.received().len() == 1).await;
    assert_eq!(
        twilio.received()[0].field("Body"),
        Some("Sorry, something went wrong. Please try again in a moment.")
    );
    let sid = crate::helpers::sid_of(&params);
    until("the row to be settled", async || {
        app.inbound_row(&sid).await.outcome == "agent_error"
    })
    .await;
    let row = app.inbound_row(&sid).await;
    assert!(!row.success);
    assert!(row.error_message.unwrap().contains("deadline"));
}

fn delivery(app: &TestApp, sid: &str) -> (Option<String>, Option<i64>) {
    app.db()
        .query_row(
            "SELECT delivery_status, error_code FROM sms_usage_logs WHERE direction = 'outbound' AND message_sid = ?1",
            [sid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

async fn status_callback(app: &TestApp, fields: &[(&str, &str)], signed: bool) -> crate::helpers::Answer {
    let params: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let path = "/sms-router/webhook/status";
    let signature = crate::helpers::twilio_signature(AUTH_TOKEN, &app.url(path), &params);
    let signature = if signed { signature } else { "bm9wZQ==".to_owned() };
    app.post_raw(path, &params, Some(&signature), "application/x-www-form-urlencoded")
        .await
}

/// Sends Ada a message and answers Twilio's sid of it once it is sent.
async fn sent_message_sid(app: &TestApp) -> String {
    let user = ada(app).await;
    let item = ok(send(app, user, "hello").await);
    wait_for_outbox(app, &item, "sent").await;
    app.db()
        .query_row("SELECT message_sid FROM sms_outbox WHERE id = ?1", [item.id], |r| {
            r.get(0)
        })
        .unwrap()
}

#[tokio::test]
async fn status_callbacks_move_a_message_forward_only() {
    let (app, _twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let sid = sent_message_sid(&app).await;

    let sent = status_callback(&app, &[("MessageSid", &sid), ("MessageStatus", "sent")], true).await;
    assert_eq!(sent.status, 204, "{}", sent.body);
    assert_eq!(delivery(&app, &sid).0.as_deref(), Some("sent"));
    status_callback(&app, &[("MessageSid", &sid), ("MessageStatus", "delivered")], true).await;
    assert_eq!(delivery(&app, &sid).0.as_deref(), Some("delivered"));
    let late = status_callback(&app, &[("MessageSid", &sid), ("MessageStatus", "sent")], true).await;
    assert_eq!(late.status, 204);
    assert_eq!(
        delivery(&app, &sid).0.as_deref(),
        Some("delivered"),
        "a late `sent` is ignored"
    );

    let forged = status_callback(&app, &[("MessageSid", &sid), ("MessageStatus", "failed")], false).await;
    assert_eq!(forged.status, 403);
    assert_eq!(delivery(&app, &sid).0.as_deref(), Some("delivered"));
    let unknown = status_callback(
        &app,
        &[("MessageSid", "SMunknown"), ("MessageStatus", "delivered")],
        true,
    )
    .await;
    assert_eq!(unknown.status, 204);
    let no_status = status_callback(&app, &[("MessageSid", &sid)], true).await;
    assert_eq!(no_status.status, 400);
}

#[tokio::test]
async fn an_undelivered_status_keeps_its_error_code_and_21610_records_an_opt_out() {
    let (app, _twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let sid = sent_message_sid(&app).await;

    let answer = status_callback(
        &app,
        &[
            ("MessageSid", &sid),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "21610"),
            ("To", ADA),
        ],
        true,
    )
    .await;

    assert_eq!(answer.status, 204);
    assert_eq!(delivery(&app, &sid), (Some("undelivered".to_owned()), Some(21610)));
    let opt_outs = ok(app.api().list_opt_outs().send().await).items;
    let numbers: Vec<_> = opt_outs.iter().map(|o| o.phone_number.as_str()).collect();
    assert_eq!(numbers, [ADA]);
    let user = ok(app.api().list_users().send().await).items[0].id;
    let status = spec::status(&send(&app, user, "are you there?").await);
    assert_eq!(status, 409, "the number opted out at the carrier: not texted again");
}

/// How many times Twilio was asked to send each text.
fn sends_by_body(twilio: &FakeTwilio) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for request in twilio.received() {
        *counts.entry(request.field("Body").unwrap().to_owned()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_store_fault_on_one_item_leaves_every_other_item_to_be_sent_once() {
    let (app, twilio) = spawn_faulty_app_with_twilio(quick_retries(5)).await;
    let user = ada(&app).await;
    let faults = app.faults.clone().unwrap();
    // Recording the fifth send fails; the first is held while the rest queue.
    faults.arm_after("mark_sent", 4, 1);
    twilio.script(&[TwilioAnswer::Slow(Duration::from_millis(500))]);

    let mut items = Vec::new();
    for n in 0..20 {
        let answer = send(&app, user, &format!("message {n:02}")).await;
        assert_eq!(spec::status(&answer), 202, "{answer:?}");
        items.push(ok(answer));
    }

    eventually("twenty sends", || twilio.received().len() >= 20).await;
    for item in &items {
        wait_for_outbox(&app, item, "sent").await;
    }
    assert!(faults.all_used(), "the fault was not met");
    let counts = sends_by_body(&twilio);
    assert_eq!(counts.len(), 20, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "sent twice: {counts:?}");
    assert_eq!(outbound_rows(&app).len(), 20, "one outbound row each");
}

#[tokio::test]
async fn a_stop_texted_while_a_slow_agents_reply_is_pending_keeps_the_reply_from_being_sent() {
    let (app, twilio) = spawn_app_with_twilio(&[("SMS_ROUTER_SYNC_REPLY_BUDGET_MS", "200")], Tuning::default()).await;
    ada(&app).await;
    app.agent.set(Behaviour::Held("here is what I found".into()));

    let question = app.send(ADA, "a hard question").await;
    assert!(question.messages().is_empty(), "answered later");
    app.send(ADA, "STOP").await;
    app.agent.release();

    eventually("the late reply to be closed", || outbound_rows(&app).len() == 1).await;
    wait_for_quiet_outbox(&app).await;
    assert!(twilio.received().is_empty(), "texted after STOP");
    let rows = outbound_rows(&app);
    assert_eq!(
        (rows[0].0.as_deref(), rows[0].1, rows[0].4.as_str()),
        (None, false, "opted_out")
    );
    assert_eq!(app.agent.calls(), 1);
}

#[tokio::test]
async fn a_message_or_code_refused_with_429_is_not_retried_after_its_recipient_says_stop() {
    let slow_retry = Tuning {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(1500),
            max_delay: Duration::from_millis(1500),
            max_attempts: 5,
        },
        ..Tuning::default()
    };
    let (app, twilio) = spawn_app_with_twilio(&[], slow_retry).await;
    let user = ada(&app).await;
    let extra = AddPhoneRequest::builder().phone_number(EXTRA);
    let phone = ok(app.api().add_user_phone().id(user).body(extra).send().await);
    twilio.script(&[
        TwilioAnswer::Error(429, Some(20429)),
        TwilioAnswer::Error(429, Some(20429)),
    ]);

    let status = spec::status(&send(&app, user, "your report is ready").await);
    assert_eq!(status, 202);
    let started = app.api().start_phone_verification().id(phone.id).send().await;
    assert_eq!(spec::status(&started), 202);
    eventually("both first tries", || twilio.received().len() == 2).await;
    app.send(ADA, "STOP").await;
    app.send(EXTRA, "stop").await;

    eventually("both to be closed", || outbound_rows(&app).len() == 2).await;
    wait_for_quiet_outbox(&app).await;
    assert_eq!(twilio.received().len(), 2, "retried after STOP");
    for row in outbound_rows(&app) {
        assert_eq!((row.1, row.4.as_str()), (false, "opted_out"), "{row:?}");
    }
}

#[tokio::test]
async fn a_429s_retry_after_is_honoured_up_to_the_backoffs_maximum() {
    let tuning = Tuning {
        retry: RetryPolicy {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(4),
            max_attempts: 5,
        },
        ..Tuning::default()
    };
    let (app, twilio) = spawn_app_with_twilio(&[], tuning).await;
    let user = ada(&app).await;
    let waited = |twilio: &FakeTwilio| {
        let received = twilio.received();
        let n = received.len();
        received[n - 1].at - received[n - 2].at
    };

    twilio.script(&[TwilioAnswer::TooManyRetryAfter("3")]);
    let item = ok(send(&app, user, "in three seconds").await);
    wait_for_outbox(&app, &item, "sent").await;
    let first = waited(&twilio);
    assert!(first >= Duration::from_millis(2950), "retried after {first:?}");

    twilio.script(&[TwilioAnswer::TooManyRetryAfter("3600")]);
    let item = ok(send(&app, user, "not in an hour").await);
    wait_for_outbox(&app, &item, "sent").await;
    let capped = waited(&twilio);
    // Capped at the backoff's 4 s, not an hour (a busy machine may add to it).
    assert!(
        (Duration::from_millis(3950)..crate::wait::PATIENCE).contains(&capped),
        "retried after {capped:?}"
    );
}
