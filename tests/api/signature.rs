//! Twilio's signature, computed here from its published algorithm.

use crate::helpers::{AUTH_TOKEN, WEBHOOK_PATH, sms, spawn_app, spawn_app_with, twilio_signature};

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn repeated_media_urls_and_unknown_fields_validate() {
    let app = spawn_app().await;
    let mut params = sms("+12015550199", "look");
    params.extend([
        ("NumMedia".to_owned(), "2".to_owned()),
        ("MediaUrl0".to_owned(), "https://api.twilio.com/b".to_owned()),
        ("MediaUrl0".to_owned(), "https://api.twilio.com/a".to_owned()),
        ("SomethingTwilioAddsNextYear".to_owned(), "ü & =".to_owned()),
    ]);

    let answer = app.post_sms(&params).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn a_changed_parameter_or_another_url_fails() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");
    let signature = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &params);
    let mut changed = params.clone();
    changed.iter_mut().find(|(k, _)| k == "Body").unwrap().1 = "hi!".into();
    let other_url = twilio_signature(AUTH_TOKEN, &app.url("/sms-router/webhook/other"), &params);
    let other_token = twilio_signature("another-token", &app.url(WEBHOOK_PATH), &params);

    assert_eq!(
        app.post_raw(WEBHOOK_PATH, &changed, Some(&signature), FORM)
            .await
            .status,
        403
    );
    assert_eq!(
        app.post_raw(WEBHOOK_PATH, &params, Some(&other_url), FORM).await.status,
        403
    );
    assert_eq!(
        app.post_raw(WEBHOOK_PATH, &params, Some(&other_token), FORM)
            .await
            .status,
        403
    );
    assert_eq!(
        app.post_raw(WEBHOOK_PATH, &params, Some(&signature), FORM).await.status,
        200
    );
}

#[tokio::test]
async fn the_query_string_is_part_of_the_signed_url() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");
    let path = format!("{WEBHOOK_PATH}?tenant=a%20b&x=1");
    let signature = twilio_signature(AUTH_TOKEN, &app.url(&path), &params);
    let without_query = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &params);

    assert_eq!(app.post_raw(&path, &params, Some(&signature), FORM).await.status, 200);
    assert_eq!(
        app.post_raw(&path, &params, Some(&without_query), FORM).await.status,
        403
    );
}

#[tokio::test]
async fn behind_a_proxy_the_public_url_is_signed_with_or_without_its_default_port() {
    let app = spawn_app_with(&[("SMS_ROUTER_PUBLIC_URL", "https://sms.example.com/prefix/")]).await;
    let params = sms("+12015550199", "hi");

    for base in ["https://sms.example.com/prefix", "https://sms.example.com:443/prefix"] {
        let signature = twilio_signature(AUTH_TOKEN, &format!("{base}{WEBHOOK_PATH}"), &params);
        let answer = app.post_raw(WEBHOOK_PATH, &params, Some(&signature), FORM).await;
        assert_eq!(answer.status, 200, "{base}: {}", answer.body);
    }
    let local = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &params);
    assert_eq!(
        app.post_raw(WEBHOOK_PATH, &params, Some(&local), FORM).await.status,
        403
    );
}

#[tokio::test]
async fn without_a_public_url_forwarded_headers_name_scheme_and_host() {
    let app = spawn_app().await;
    let params = sms("+12015550199", "hi");
    let signature = twilio_signature(
        AUTH_TOKEN,
        &format!("https://tunnel.example.net{WEBHOOK_PATH}"),
        &params,
    );

    let response = app
        .client
        .post(app.url(WEBHOOK_PATH))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "tunnel.example.net")
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
}
