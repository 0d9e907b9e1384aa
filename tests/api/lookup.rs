//! `lookup_number` and the router decide by one policy: for every reason,
//! what lookup says is what the next ordinary message from the number gets.

use crate::helpers::spec::ok;
use crate::helpers::spec::types::UpdateUserRequest;
use crate::helpers::*;

/// Looks `number` up, then sends it an ordinary message; answers lookup's
/// reason and the message's outcome.
async fn lookup_then_send(app: &TestApp, number: &str) -> (String, String) {
    let lookup = ok(app.api().lookup_number().phone_number(number).send().await);
    let reason = lookup.reason.to_string();
    assert_eq!(lookup.would_route, reason == "routed", "{lookup:?}");
    let params = sms(number, "an ordinary message");
    let answer = app.post_sms(&params).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (reason, app.inbound_row(&sid_of(&params)).await.outcome)
}

#[tokio::test]
async fn lookup_and_routing_agree_for_every_reason() {
    let app = spawn_app_with(&[("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let ada = app.add_user("Ada", "+12015550123", true).await;
    app.add_phone(ada, "+12015550177", true).await;
    app.add_phone(ada, "+12015550178", false).await;
    let bob = app.add_user("Bob", "+12015550124", true).await;
    app.add_user("Cy", "+12015550125", false).await;
    app.add_user("Dee", "+12015550127", true).await;
    app.send("+12015550126", "STOP").await;
    // Two of Dee's three messages a minute spent: a lookup takes none, the
    // message after it the last one.
    app.send("+12015550127", "one").await;
    app.send("+12015550127", "two").await;

    let mut cases = vec![
        ("+12015550123", "routed", "primary"),
        ("+12015550177", "routed", "verified extra number"),
        (
            "+12015550178",
            "routed",
            "unverified extra number, verification not required",
        ),
        ("+12015550199", "unknown_user", "nobody's number"),
        ("+12015550125", "inactive_user", "inactive owner"),
        ("+12015550126", "opted_out", "opted out"),
        ("+12015550127", "routed", "the last token"),
        ("+12015550127", "rate_limited", "no token left"),
    ];
    for (number, expected, what) in cases.drain(..) {
        let (reason, outcome) = lookup_then_send(&app, number).await;
        assert_eq!((reason.as_str(), outcome.as_str()), (expected, expected), "{what}");
    }

    app.set_config("require_verified_numbers", "true").await;
    let (reason, outcome) = lookup_then_send(&app, "+12015550178").await;
    assert_eq!(
        (reason.as_str(), outcome.as_str()),
        ("unknown_user", "unknown_user"),
        "an unverified extra number when verification is required"
    );
    let (reason, outcome) = lookup_then_send(&app, "+12015550177").await;
    assert_eq!((reason.as_str(), outcome.as_str()), ("routed", "routed"));

    let inactive = UpdateUserRequest {
        is_active: Some(false),
        ..Default::default()
    };
    ok(app.api().update_user().id(bob).body(inactive).send().await);
    let (reason, outcome) = lookup_then_send(&app, "+12015550124").await;
    assert_eq!(
        (reason.as_str(), outcome.as_str()),
        ("inactive_user", "inactive_user"),
        "an owner deactivated a moment ago"
    );
}
