//! Where a message's time went: the router's and the agent's apart in its
//! row, and one W3C trace from the webhook's caller through to the agent.

use crate::helpers::{AUTH_TOKEN, WEBHOOK_PATH, sid_of, sms, spawn_app, twilio_signature};

const ADA: &str = "+12015550123";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The webhook's `traceparent` reaches the agent: same trace, a span of
/// ours, the caller's flag; the request id is the trace id.
#[tokio::test]
async fn the_webhooks_trace_reaches_the_agent_and_is_the_request_id() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    let params = sms(ADA, "hi");
    let signature = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &params);

    let response = app
        .client
        .post(app.url(WEBHOOK_PATH))
        .header("X-Twilio-Signature", signature)
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-00"))
        .form(&params)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(request_id.replace('-', ""), TRACE);
    let (question, _) = app.agent.received().remove(0);
    assert_eq!(question["request_id"], request_id.as_str());
    let traceparent = app.agent.traceparents().remove(0).expect("a traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", TRACE, "00"), "{traceparent}");
    assert_eq!(parts[2].len(), 16);
    assert_ne!(parts[2], "00f067aa0ba902b7", "our own span, not the caller's");
}

/// Without one, a new trace starts: its id is the request id.
#[tokio::test]
async fn without_a_traceparent_a_new_trace_starts_with_the_request_id() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;

    app.send(ADA, "hi").await;

    let (question, _) = app.agent.received().remove(0);
    let request_id = question["request_id"].as_str().unwrap().replace('-', "");
    let traceparent = app.agent.traceparents().remove(0).expect("a traceparent");
    assert_eq!(traceparent, format!("00-{request_id}-{}-01", &traceparent[36..52]));
}

/// The inbound row splits its processing time into the router's own and
/// the agent's; a message the agent never saw has no agent time.
#[tokio::test]
async fn an_inbound_row_records_the_routers_time_and_the_agents_apart() {
    let app = spawn_app().await;
    app.add_user("Ada", ADA, true).await;
    let routed = sms(ADA, "hi");
    let unknown = sms("+12015550199", "hi");

    app.post_sms(&routed).await;
    app.post_sms(&unknown).await;

    let row = app.inbound_row(&sid_of(&routed)).await;
    let (total, router, agent) = (row.processing_time_ms, row.router_time_ms, row.agent_time_ms);
    let (total, router, agent) = (total.unwrap(), router.unwrap(), agent.unwrap());
    assert_eq!(router + agent, total, "{router} + {agent}");
    let row = app.inbound_row(&sid_of(&unknown)).await;
    assert_eq!(row.agent_time_ms, None);
    assert_eq!(row.router_time_ms, row.processing_time_ms);
}
