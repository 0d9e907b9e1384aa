//! `lookup_number` and the router decide by one policy: for every reason,
//! what lookup says is what the next ordinary message from the number gets.

use serde_json::{Value, json};

use crate::helpers::*;

/// Looks `number` up, then sends it an ordinary message; answers lookup's
/// reason and the message's outcome.
async fn lookup_then_send(app: &TestApp, number: &str) -> (String, String) {
    let (status, lookup) = app
        .admin(
            "GET",
            &format!("/lookup?phone_number={}", number.replace('+', "%2B")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{lookup}");
    let reason = lookup["reason"].as_str().unwrap().to_owned();
    assert_eq!(lookup["would_route"], reason == "routed", "{lookup}");
    let params = sms(number, "an ordinary message");
    let answer = app.post_sms(&params).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (reason, app.inbound_row(&sid_of(&params)).outcome)
}

async fn create_user(app: &TestApp, body: Value) -> i64 {
    let (status, user) = app.admin("POST", "/users", Some(body)).await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_i64().unwrap()
}

async fn add_phone(app: &TestApp, user: i64, body: Value) {
    let (status, phone) = app.admin("POST", &format!("/users/{user}/phones"), Some(body)).await;
    assert_eq!(status, 201, "{phone}");
}

#[tokio::test]
async fn lookup_and_routing_agree_for_every_reason() {
    let app = spawn_app_with(&[("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let ada = create_user(&app, json!({"full_name": "Ada", "phone_number": "+12015550123"})).await;
    add_phone(&app, ada, json!({"phone_number": "+12015550177", "is_verified": true})).await;
    add_phone(&app, ada, json!({"phone_number": "+12015550178"})).await;
    let bob = create_user(&app, json!({"full_name": "Bob", "phone_number": "+12015550124"})).await;
    create_user(
        &app,
        json!({"full_name": "Cy", "phone_number": "+12015550125", "is_active": false}),
    )
    .await;
    create_user(&app, json!({"full_name": "Dee", "phone_number": "+12015550127"})).await;
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

    let (status, _) = app
        .admin(
            "PUT",
            "/configs/require_verified_numbers",
            Some(json!({"value": "true"})),
        )
        .await;
    assert_eq!(status, 200);
    let (reason, outcome) = lookup_then_send(&app, "+12015550178").await;
    assert_eq!(
        (reason.as_str(), outcome.as_str()),
        ("unknown_user", "unknown_user"),
        "an unverified extra number when verification is required"
    );
    let (reason, outcome) = lookup_then_send(&app, "+12015550177").await;
    assert_eq!((reason.as_str(), outcome.as_str()), ("routed", "routed"));

    let (status, _) = app
        .admin("PATCH", &format!("/users/{bob}"), Some(json!({"is_active": false})))
        .await;
    assert_eq!(status, 200);
    let (reason, outcome) = lookup_then_send(&app, "+12015550124").await;
    assert_eq!(
        (reason.as_str(), outcome.as_str()),
        ("inactive_user", "inactive_user"),
        "an owner deactivated a moment ago"
    );
}
