//! The webhook's error statuses, and their order.

use crate::helpers::{AUTH_TOKEN, WEBHOOK_PATH, sms, spawn_app, twilio_signature};

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_body_that_is_not_a_form_is_415_even_when_it_is_too_large() {
    let app = spawn_app().await;

    let json = app
        .post_bytes(WEBHOOK_PATH, b"{}".to_vec(), None, "application/json")
        .await;
    let huge = app
        .post_bytes(WEBHOOK_PATH, vec![b'a'; 100_000], None, "text/plain")
        .await;

    assert_eq!(json.status, 415);
    assert_eq!(json.json()["error"], "unsupported_media_type");
    assert_eq!(huge.status, 415);
}

#[tokio::test]
async fn a_form_with_a_charset_is_accepted() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");
    let signature = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &params);

    let answer = app
        .post_raw(
            WEBHOOK_PATH,
            &params,
            Some(&signature),
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .await;

    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_before_the_signature_is_checked() {
    let app = spawn_app().await;
    let mut params = sms("+12015550199", "hi");
    params.push(("Padding".into(), "x".repeat(70 * 1024)));

    let answer = app.post_raw(WEBHOOK_PATH, &params, None, FORM).await;

    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"], "payload_too_large");
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_403_before_fields_are_checked() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");
    let no_from: Vec<_> = params.iter().filter(|(k, _)| k != "From").cloned().collect();

    let missing = app.post_raw(WEBHOOK_PATH, &params, None, FORM).await;
    let wrong = app.post_raw(WEBHOOK_PATH, &params, Some("bm9wZQ=="), FORM).await;
    let unsigned_bad = app.post_raw(WEBHOOK_PATH, &no_from, None, FORM).await;

    for answer in [&missing, &wrong, &unsigned_bad] {
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(answer.json()["error"], "forbidden");
    }
    assert_eq!(app.count_rows("inbound").await, 0);
}

#[tokio::test]
async fn a_missing_from_or_message_sid_is_400_naming_the_field() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");
    let without = |name: &str| -> Vec<(String, String)> { params.iter().filter(|(k, _)| k != name).cloned().collect() };
    let with = |name: &str, value: &str| {
        let mut params = without(name);
        params.push((name.into(), value.into()));
        params
    };

    for (params, field) in [
        (without("From"), "From"),
        (without("MessageSid"), "MessageSid"),
        (with("MessageSid", ""), "MessageSid"),
        (with("MessageSid", "  "), "MessageSid"),
        (with("From", ""), "From"),
        (with("From", " \t "), "From"),
    ] {
        let answer = app.post_sms(&params).await;
        assert_eq!(answer.status, 400, "{field} {params:?}: {}", answer.body);
        let error = answer.json();
        assert_eq!(error["error"], "bad_request");
        assert!(error["message"].as_str().unwrap().contains(field), "{error}");
    }
    assert_eq!(app.count_rows("inbound").await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = spawn_app().await;

    let missing = app.client.get(app.url("/nowhere")).send().await.unwrap();
    let wrong_method = app.client.get(app.url(WEBHOOK_PATH)).send().await.unwrap();

    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<serde_json::Value>().await.unwrap()["error"], "not_found");
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.json::<serde_json::Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
}
