//! Each outcome of DESIGN.md, through the real webhook.

use std::time::Duration;

use crate::helpers::{AGENT_TOKEN, Behaviour, found, sid_of, sms, sms_with_sid, spawn_app, spawn_app_with};

const ADA: &str = "+12015550123";

#[tokio::test]
async fn routed_message_gets_the_agents_reply_and_both_rows() {
    let app = spawn_app().await;
    let user_id = app.add_user("Ada", ADA, true).await;
    app.agent.replies("hello Ada");
    let params = sms(ADA, "what's up?");

    let answer = app.post_sms(&params).await;

    assert_eq!(answer.status, 200);
    assert!(
        answer.content_type.starts_with("application/xml"),
        "{}",
        answer.content_type
    );
    assert_eq!(answer.messages(), ["hello Ada"]);
    let (question, auth) = app.agent.received().remove(0);
    assert_eq!(auth.as_deref(), Some(format!("Bearer {AGENT_TOKEN}").as_str()));
    assert_eq!(question["user_id"], user_id);
    assert_eq!(question["phone_number"], ADA);
    assert_eq!(question["message"], "what's up?");
    assert_eq!(question["message_sid"], sid_of(&params));
    assert!(question["request_id"].as_str().is_some_and(|id| id.len() == 36));
    let row = app.inbound_row(&sid_of(&params)).await;
    assert_eq!(
        (row.outcome.as_str(), row.success, row.user_id),
        ("routed", true, Some(user_id))
    );
    assert_eq!((row.message_length, row.segments), (10, 1));
    assert!(row.processing_time_ms.is_some());
    let metadata: serde_json::Value = serde_json::from_str(row.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(metadata["to"], "+15005550006");
    assert_eq!(metadata["num_media"], 0);
    assert_eq!(metadata["request_id"], question["request_id"]);
    assert_eq!(app.count_rows("outbound").await, 1);
}

#[tokio::test]
async fn unknown_sender_gets_the_unknown_user_reply_and_a_row_without_user() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");

    let answer = app.post_sms(&params).await;

    assert_eq!(answer.messages(), ["This number is not registered with this service."]);
    let row = app.inbound_row(&sid_of(&params)).await;
    assert_eq!((row.outcome.as_str(), row.user_id), ("unknown_user", None));
    assert_eq!(row.phone_number.as_deref(), Some("+12015550199"));
    assert_eq!(app.agent.calls(), 0);
}

#[tokio::test]
async fn empty_unknown_user_reply_answers_nothing() {
    let app = spawn_app().await;
    app.set_config("unknown_user_reply", "").await;

    let answer = app.send("+12015550199", "hi").await;

    assert_eq!(answer.messages(), Vec::<String>::new());
    assert_eq!(app.count_rows("outbound").await, 0);
}

#[tokio::test]
async fn a_sender_that_is_not_a_number_is_an_unknown_user() {
    let app = spawn_app().await;
    let params = sms("TWILIO", "hi");

    let answer = app.post_sms(&params).await;

    assert_eq!(answer.status, 200);
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "unknown_user");
}

#[tokio::test]
async fn inactive_user_gets_the_inactive_reply() {
    let app = spawn_app().await;
    let user_id = app.add_user("Ada", ADA, false).await;
    let params = sms(ADA, "hi");

    let answer = app.post_sms(&params).await;

    assert_eq!(
        answer.messages(),
        ["Your account is not active. Please contact your administrator."]
    );
    let row = app.inbound_row(&sid_of(&params)).await;
    assert_eq!((row.outcome.as_str(), row.user_id), ("inactive_user", Some(user_id)));
    assert_eq!(app.agent.calls(), 0);
}

#[tokio::test]
async fn stop_opts_the_number_out_until_start() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;

    let stop = sms(ADA, "  Stop ");
    assert_eq!(app.post_sms(&stop).await.messages(), Vec::<String>::new());
    assert_eq!(app.inbound_row(&sid_of(&stop)).await.outcome, "opted_out");

    let blocked = sms(ADA, "are you there?");
    assert_eq!(app.post_sms(&blocked).await.messages(), Vec::<String>::new());
    assert_eq!(app.inbound_row(&sid_of(&blocked)).await.outcome, "opted_out");
    assert_eq!(app.agent.calls(), 0);

    let help = sms(ADA, "help");
    assert_eq!(app.post_sms(&help).await.messages().len(), 1, "HELP is always answered");
    assert_eq!(app.inbound_row(&sid_of(&help)).await.outcome, "help");

    let start = sms(ADA, "UNSTOP");
    assert_eq!(app.post_sms(&start).await.messages(), Vec::<String>::new());
    assert_eq!(app.inbound_row(&sid_of(&start)).await.outcome, "opted_in");

    assert_eq!(app.send(ADA, "back again").await.messages(), ["hi from the agent"]);
}

#[tokio::test]
async fn twilios_opt_out_type_counts_as_the_keyword() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    let mut params = sms(ADA, "arrêter");
    params.push(("OptOutType".into(), "STOP".into()));

    app.post_sms(&params).await;

    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "opted_out");
    let opted = crate::helpers::spec::ok(app.api().list_opt_outs().send().await).items;
    assert_eq!(opted.len(), 1);
}

#[tokio::test]
async fn help_answers_unknown_senders_too() {
    let app = spawn_app().await;

    let answer = app.send("+12015550199", "INFO").await;

    assert_eq!(
        answer.messages(),
        ["Text your question and your assistant will answer. Reply STOP to unsubscribe."]
    );
}

#[tokio::test]
async fn a_flood_from_one_number_is_rate_limited_and_others_are_not() {
    let app = spawn_app_with(&[("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "2")]).await;
    app.add_user("Ada", ADA, true).await;
    app.add_user("Bob", "+12015550124", true).await;

    assert_eq!(app.send(ADA, "1").await.messages().len(), 1);
    assert_eq!(app.send(ADA, "2").await.messages().len(), 1);
    let third = sms(ADA, "3");
    assert_eq!(app.post_sms(&third).await.messages(), Vec::<String>::new());
    assert_eq!(app.inbound_row(&sid_of(&third)).await.outcome, "rate_limited");

    assert_eq!(app.send("+12015550124", "hi").await.messages().len(), 1);
    assert_eq!(app.agent.calls(), 3);
}

#[tokio::test]
async fn a_retry_gets_the_same_reply_without_a_second_agent_call_or_row() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    let params = sms(ADA, "hi");

    let first = app.post_sms(&params).await;
    app.agent.replies("a different reply");
    let retry = app.post_sms(&params).await;

    assert_eq!(first.messages(), ["hi from the agent"]);
    assert_eq!(retry.messages(), first.messages());
    assert_eq!(app.agent.calls(), 1);
    assert_eq!(app.count_rows("inbound").await, 1);
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "routed");
}

#[tokio::test]
async fn the_same_sid_at_the_same_moment_reaches_the_agent_once() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.agent
        .set(Behaviour::Reply("only once".into(), Duration::from_millis(300)));
    let params = sms_with_sid("SM0000000000000000000000000000dupe", ADA, "hi");

    let answers = futures_join(&app, &params, 5).await;

    assert_eq!(app.agent.calls(), 1);
    for answer in answers {
        assert_eq!(answer.messages(), ["only once"]);
    }
    assert_eq!(app.count_rows("inbound").await, 1);
}

async fn futures_join(
    app: &crate::helpers::TestApp,
    params: &[(String, String)],
    n: usize,
) -> Vec<crate::helpers::Answer> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url(crate::helpers::WEBHOOK_PATH);
        let params = params.to_vec();
        let signature = crate::helpers::twilio_signature(crate::helpers::AUTH_TOKEN, &url, &params);
        tasks.spawn(async move {
            let response = client
                .post(&url)
                .header("X-Twilio-Signature", signature)
                .form(&params)
                .send()
                .await
                .unwrap();
            crate::helpers::Answer {
                status: response.status().as_u16(),
                content_type: String::new(),
                body: response.text().await.unwrap(),
            }
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn a_user_stored_in_national_format_is_found_from_e164_and_whatsapp() {
    let app = spawn_app().await;
    let status = crate::helpers::sms_router(&app.db_path)
        .args(["user", "add", "--phone", "(201) 555-0123", "--name", "Ada"])
        .status()
        .unwrap();
    assert!(status.success());

    assert_eq!(app.send("+12015550123", "one").await.messages(), ["hi from the agent"]);
    assert_eq!(
        app.send("whatsapp:+12015550123", "two").await.messages(),
        ["hi from the agent"]
    );
    assert_eq!(app.agent.calls(), 2);
}

#[tokio::test]
async fn an_extra_number_routes_to_its_user() {
    let app = spawn_app().await;
    let user_id = app.add_user("Ada", ADA, true).await;
    app.add_phone(user_id, "+12015550177", false).await;

    let answer = app.send("+12015550177", "from my other phone").await;

    assert_eq!(answer.messages(), ["hi from the agent"]);
    let (question, _) = app.agent.received().remove(0);
    assert_eq!(question["user_id"], user_id);
    assert_eq!(question["phone_number"], "+12015550177");
}

#[tokio::test]
async fn a_user_deactivated_in_the_database_stops_being_routed() {
    let app = spawn_app().await;
    let user_id = app.add_user("Ada", ADA, true).await;
    assert_eq!(app.send(ADA, "one").await.messages(), ["hi from the agent"]);

    app.db()
        .execute("UPDATE users SET is_active = 0 WHERE id = ?1", [user_id])
        .unwrap();
    // DESIGN: a change by another process shows within 2 seconds; here,
    // before the cache's hour is out.
    let params = found("the deactivation to show", async || {
        let params = sms(ADA, "two");
        let answer = app.post_sms(&params).await;
        (answer.messages() != ["hi from the agent"]).then_some(params)
    })
    .await;

    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "inactive_user");
}

async fn assert_agent_error(behaviour: Behaviour, extra: &[(&str, &str)], cause: &str) {
    let app = spawn_app_with(extra).await;
    app.add_user("Ada", ADA, true).await;
    app.agent.set(behaviour);
    let params = sms(ADA, "hi");

    let answer = app.post_sms(&params).await;

    assert_eq!(
        answer.messages(),
        ["Sorry, something went wrong. Please try again in a moment."]
    );
    let row = app.inbound_row(&sid_of(&params)).await;
    assert_eq!((row.outcome.as_str(), row.success), ("agent_error", false));
    let error = row.error_message.unwrap();
    assert!(error.contains(cause), "{error}");
}

#[tokio::test]
async fn an_agent_past_its_deadline_gives_the_error_reply() {
    assert_agent_error(
        Behaviour::Held("too late".into()),
        &[("SMS_ROUTER_AGENT_TIMEOUT_MS", "300")],
        "deadline",
    )
    .await;
}

#[tokio::test]
async fn an_agent_answering_500_gives_the_error_reply() {
    assert_agent_error(Behaviour::Status(500), &[], "HTTP 500").await;
}

#[tokio::test]
async fn an_agent_answering_html_gives_the_error_reply() {
    assert_agent_error(Behaviour::NotJson, &[], "not JSON").await;
}

#[tokio::test]
async fn an_agent_that_is_down_gives_the_error_reply() {
    assert_agent_error(
        Behaviour::Status(200),
        &[("SMS_ROUTER_AGENT_URL", "http://127.0.0.1:9/")],
        "reached",
    )
    .await;
}

#[tokio::test]
async fn an_empty_agent_reply_gives_the_error_reply() {
    assert_agent_error(Behaviour::Reply("  ".into(), Duration::ZERO), &[], "empty").await;
}

#[tokio::test]
async fn an_agent_answering_over_64_kib_gives_the_error_reply() {
    assert_agent_error(Behaviour::Huge(1024 * 1024), &[], "over its limit of 65536 bytes").await;
}

/// An opt-out made by mistake is cleared by an administrator: the very
/// next message is routed (the cache forgets the opt-out at once), and
/// clearing a number that has not opted out is 404.
#[tokio::test]
async fn an_opt_out_cleared_by_an_administrator_is_served_again_at_once() {
    use crate::helpers::spec::{ok, status_of};

    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    app.send(ADA, "stop").await;
    assert!(app.send(ADA, "hello?").await.messages().is_empty());

    ok(app.api().clear_opt_out().phone_number(ADA).send().await);

    assert_eq!(app.send(ADA, "hello again").await.messages(), ["hi from the agent"]);
    assert!(!app.is_opted_out(ADA).await);
    assert_eq!(status_of(app.api().clear_opt_out().phone_number(ADA).send().await), 404);
    assert_eq!(
        status_of(app.api().clear_opt_out().phone_number("12").send().await),
        422
    );
}
