//! Nothing is lost when the store fails mid-message: each step after the
//! claim fails once, through a fault injector around the real store; the
//! webhook answers 503, and Twilio's retry is answered as if nothing had
//! failed, with one agent call and one inbound row in all.

use sms_router::domain::settings::Settings;

use crate::helpers::*;

const ADA: &str = "+12015550123";
/// Ada's verified extra number.
const ADAS_EXTRA: &str = "+12015550177";

/// Sends `body` from `from` (Ada's number or her extra one) with `faults`
/// armed (each method failing once): the first delivery gets 503, the
/// retry is answered. Answers the app, the message and the retry's answer.
async fn fail_then_retry_from(
    from: &str,
    faults: &[&'static str],
    body: &str,
) -> (TestApp, Vec<(String, String)>, Answer) {
    let app = spawn_faulty_app(&[]).await;
    let ada = app.add_user("Ada", ADA, true).await;
    app.add_phone(ada, ADAS_EXTRA, true).await;
    let armed = app.faults.clone().unwrap();
    for method in faults {
        armed.arm(method, 1);
    }
    let params = sms(from, body);

    let first = app.post_sms(&params).await;

    assert_eq!(first.status, 503, "{faults:?}: {}", first.body);
    assert_eq!(first.json()["error"], "service_unavailable");
    assert!(armed.all_used(), "{faults:?}: a fault was not reached");
    let retry = app.post_sms(&params).await;
    (app, params, retry)
}

async fn fail_then_retry(faults: &[&'static str], body: &str) -> (TestApp, Vec<(String, String)>, Answer) {
    fail_then_retry_from(ADA, faults, body).await
}

#[tokio::test]
async fn a_failure_at_any_step_is_answered_on_the_retry_with_one_agent_call() {
    let agent = || vec!["hi from the agent".to_owned()];
    for (from, faults, body, replies, outcome, calls) in [
        (ADA, &["claim"][..], "hi", agent(), "routed", 1),
        (ADA, &["current"], "hi", agent(), "routed", 1),
        (ADA, &["is_opted_out"], "hi", agent(), "routed", 1),
        (ADA, &["recipient"], "hi", agent(), "routed", 1),
        // A text shaped like a verification code, from an extra number, is
        // looked up first.
        (ADAS_EXTRA, &["pending_for_number"], "123456", agent(), "routed", 1),
        // The agent has answered: the answer is kept for the retry.
        (ADA, &["settle"], "hi", agent(), "routed", 1),
        // The claim cannot be released either (a full disk): the retry takes it over.
        (ADA, &["recipient", "release"], "hi", agent(), "routed", 1),
        (ADA, &["opt_in"], "START", vec![], "opted_in", 0),
        (
            ADA,
            &["current"],
            "HELP",
            vec![Settings::default().help_reply],
            "help",
            0,
        ),
    ] {
        let (app, params, retry) = fail_then_retry_from(from, faults, body).await;

        assert_eq!(retry.messages(), replies, "{faults:?}");
        assert_eq!(app.agent.calls(), calls, "{faults:?}: the agent was asked again");
        assert_eq!(app.count_rows("inbound").await, 1, "{faults:?}");
        assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, outcome, "{faults:?}");
        assert_eq!(app.count_rows("outbound").await, replies.len(), "{faults:?}");
    }
}

#[tokio::test]
async fn a_failure_before_the_agent_releases_the_claim_at_once() {
    let app = spawn_faulty_app(&[]).await;
    app.add_user("Ada", ADA, true).await;
    app.faults.as_ref().unwrap().arm("recipient", 1);

    let first = app.send(ADA, "hi").await;

    assert_eq!(first.status, 503);
    assert_eq!(app.count_rows("inbound").await, 0, "the claim was kept");
    assert_eq!(app.agent.calls(), 0);
}

#[tokio::test]
async fn an_answer_that_cannot_be_recorded_waits_for_the_retry_that_can() {
    let app = spawn_faulty_app(&[]).await;
    app.add_user("Ada", ADA, true).await;
    app.faults.as_ref().unwrap().arm("settle", 3);
    let params = sms(ADA, "hi");

    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.post_sms(&params).await.status);
    }
    let answered = app.post_sms(&params).await;

    assert_eq!(statuses, [503, 503, 503]);
    assert_eq!(answered.messages(), ["hi from the agent"]);
    assert_eq!(app.agent.calls(), 1);
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "routed");
    assert_eq!(
        app.post_sms(&params).await.messages(),
        ["hi from the agent"],
        "a duplicate gets the same reply"
    );
}

#[tokio::test]
async fn a_stop_is_recorded_or_answered_503_never_answered_unrecorded() {
    for faults in [&["opt_out"][..], &["settle"], &["opt_out", "release"]] {
        let (app, params, retry) = fail_then_retry(faults, "STOP").await;

        assert_eq!(retry.messages(), Vec::<String>::new(), "{faults:?}");
        assert!(app.is_opted_out(ADA).await, "{faults:?}: the STOP was not recorded");
        assert_eq!(
            app.inbound_row(&sid_of(&params)).await.outcome,
            "opted_out",
            "{faults:?}"
        );
        assert_eq!(app.count_rows("inbound").await, 1, "{faults:?}");
        assert_eq!(app.agent.calls(), 0);
        let after = app.send(ADA, "hello?").await;
        assert_eq!(after.messages(), Vec::<String>::new(), "{faults:?}: texted after STOP");
    }
}

/// The same message twice at once, and the first delivery's answer cannot
/// be recorded: the duplicate, waiting for it, takes over and records and
/// sends that answer.
#[tokio::test]
async fn a_duplicate_waiting_for_a_failed_delivery_takes_it_over() {
    let app = spawn_faulty_app(&[]).await;
    app.add_user("Ada", ADA, true).await;
    app.agent.set(Behaviour::Held("thought it over".into()));
    app.faults.as_ref().unwrap().arm("settle", 1);
    let params = sms(ADA, "hi");

    // The duplicate arrives while the first delivery waits for the agent.
    let (first, second) = tokio::join!(app.post_sms(&params), async {
        eventually("the agent to have the message", || app.agent.calls() == 1).await;
        // Sent, then the agent answers: the duplicate either waits for
        // the first delivery or comes after it failed; either way it gets
        // the answer the first could not record.
        let second = app.post_sms(&params);
        let release = async { app.agent.release() };
        tokio::join!(second, release).0
    });

    assert_eq!(first.status, 503, "{}", first.body);
    assert_eq!(second.messages(), ["thought it over"]);
    assert_eq!(app.agent.calls(), 1);
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "routed");
}
