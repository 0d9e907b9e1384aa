//! An agent failing repeatedly is left alone for a cool-down: its users get
//! `error_reply` at once, without the agent being called.

use crate::helpers::spec::ok;
use crate::helpers::spec::types::DirectionDto;
use crate::helpers::{Behaviour, spawn_app_with};

const ADA: &str = "+12015550123";
const ERROR_REPLY: &str = "Sorry, something went wrong. Please try again in a moment.";

#[tokio::test]
async fn after_five_failures_in_a_row_the_agent_is_not_called_and_the_answer_is_at_once() {
    let app = spawn_app_with(&[("SMS_ROUTER_AGENT_TIMEOUT_MS", "300")]).await;
    app.add_user("Ada", ADA, true).await;
    app.agent.set(Behaviour::Held("too slow".into()));

    for _ in 0..5 {
        assert_eq!(app.send(ADA, "hello").await.messages(), [ERROR_REPLY]);
    }
    let sixth = app.send(ADA, "hello again").await;

    assert_eq!(sixth.messages(), [ERROR_REPLY]);
    assert_eq!(app.agent.calls(), 5, "the sixth message did not reach the agent");
    let rows = ok(app
        .api()
        .list_usage_logs()
        .direction(DirectionDto::Inbound)
        .limit(1)
        .send()
        .await);
    let why = rows.items[0].error_message.as_deref().unwrap_or_default();
    assert!(why.contains("cooling down"), "{why}");
}

#[tokio::test]
async fn a_bad_answer_now_and_then_does_not_open_the_circuit() {
    let app = spawn_app_with(&[]).await;
    app.add_user("Ada", ADA, true).await;

    for _ in 0..6 {
        app.agent.set(Behaviour::NotJson);
        app.send(ADA, "hello").await;
    }
    app.agent.replies("fine");

    assert_eq!(app.send(ADA, "hello").await.messages(), ["fine"]);
    assert_eq!(app.agent.calls(), 7);
}
