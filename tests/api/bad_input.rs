//! Junk sent to every operation of the published spec: each answer is a
//! JSON 4xx (or a success that changes nothing), never a 500, and the
//! server and its store are whole afterwards.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::{
    ADMIN_TOKEN, AUTH_TOKEN, TestApp, WEBHOOK_PATH, new_sid, sms, spawn_app, spawn_app_with_twilio, twilio_signature,
};
use sms_router::startup::Tuning;

const SPEC: &str = include_str!("../../openapi/openapi.json");
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Path parameters that are not ids: zero, negative, past i64, bad percent
/// escapes, words, a NUL.
const JUNK_PARAMS: [&str; 8] = [
    "0",
    "-1",
    "99999999999999999999999",
    "%FF",
    "abc",
    "1.5",
    "%00",
    "%27%3B%20DROP%20TABLE%20users%3B--",
];

/// Query values that no parameter accepts, or accepts and must still bound.
const JUNK_QUERY: [&str; 7] = [
    "",
    "-1",
    "99999999999999999999999",
    "%FF",
    "not-a-value",
    "%2B",
    "2026-13-45T99:99:99Z",
];

/// Operations of the spec: method, path template, parameter names by place,
/// and whether it takes a body.
struct Operation {
    method: String,
    path: String,
    query: Vec<String>,
    has_body: bool,
}

fn operations() -> Vec<Operation> {
    let spec: Value = serde_json::from_str(SPEC).unwrap();
    let mut operations = Vec::new();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            let query = parameters
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            operations.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                query,
                has_body: operation.get("requestBody").is_some(),
            });
        }
    }
    assert!(operations.len() >= 25, "the spec lists every operation");
    operations
}

/// The path with every `{param}` replaced by `value`.
fn fill(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A path whose parameters name things that exist: user and phone 1, a
/// setting that exists.
fn real(template: &str) -> String {
    template.replace("{id}", "1").replace("{key}", "help_reply")
}

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("no body", Vec::new()),
        ("cut JSON", b"{".to_vec()),
        ("invalid UTF-8", vec![b'{', b'"', 0xFF, 0xFE, b'"', b':', b'1', b'}']),
        ("an array", b"[]".to_vec()),
        (
            "wrong types",
            br#"{"full_name": 5, "phone_number": true, "value": [], "body": {}, "code": null, "is_active": "yes"}"#
                .to_vec(),
        ),
        ("deep nesting", "[".repeat(10_000).into_bytes()),
        (
            "300 KiB",
            format!("{{\"full_name\": \"{}\"}}", "x".repeat(300 * 1024)).into_bytes(),
        ),
    ]
}

const CONTENT_TYPES: [&str; 3] = ["application/json", "text/plain", "application/x-www-form-urlencoded"];

/// How many rows each table holds.
fn census(app: &TestApp) -> BTreeMap<&'static str, i64> {
    let db = app.db();
    [
        "users",
        "user_phone_mappings",
        "sms_usage_logs",
        "sms_router_configs",
        "sms_opt_outs",
        "sms_outbox",
        "sms_phone_verifications",
    ]
    .into_iter()
    .map(|table| {
        let count = db
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        (table, count)
    })
    .collect()
}

/// Sends one request; fails with what was sent when the answer is a 5xx or a
/// 4xx without a JSON error naming what is wrong.
async fn expect_no_server_error(
    app: &TestApp,
    method: &str,
    path: &str,
    body: &[u8],
    content_type: &str,
    what: &str,
) -> u16 {
    let response = app
        .client
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} with {what}: no answer: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert!(status < 500, "{method} {path} with {what}: {status} {text}");
    if (400..500).contains(&status) {
        let error: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path} with {what}: {status} is not JSON: {text}"));
        assert!(
            error["error"].is_string() && error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path} with {what}: {status} says nothing: {text}"
        );
    }
    status
}

async fn assert_whole(app: &TestApp) {
    for path in ["/healthz", "/readyz"] {
        let status = app.client.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(status, 200, "{path} after the junk");
    }
    let check: String = app.db().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn junk_bodies_and_path_parameters_never_get_a_server_error_or_change_anything() {
    // With sending configured, so that its operations answer for their
    // input rather than for the missing configuration (a 503).
    let (app, _twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let (status, _) = app
        .admin(
            "POST",
            "/users",
            Some(serde_json::json!({ "full_name": "Ada", "phone_number": "+12015550100" })),
        )
        .await;
    assert_eq!(status, 201);
    let before = census(&app);

    let mut sent = 0;
    for operation in operations() {
        let mut paths: Vec<String> = if operation.path.contains('{') {
            JUNK_PARAMS.iter().map(|junk| fill(&operation.path, junk)).collect()
        } else {
            vec![operation.path.clone()]
        };
        // With real ids the junk body reaches the handler; only where the
        // body is all the operation takes, since a DELETE of a real id or a
        // body-less POST would rightly change something.
        if operation.has_body && operation.path.contains('{') {
            paths.push(real(&operation.path));
        }
        for path in &paths {
            for (what, body) in bodies() {
                for content_type in CONTENT_TYPES {
                    let what = format!("{what} as {content_type}");
                    expect_no_server_error(&app, &operation.method, path, &body, content_type, &what).await;
                    sent += 1;
                }
            }
        }
    }

    assert!(sent > 1000, "{sent} requests");
    assert_eq!(census(&app), before, "junk changed nothing");
    assert_whole(&app).await;
}

#[tokio::test]
async fn junk_query_values_never_get_a_server_error() {
    let app = spawn_app().await;
    let before = census(&app);

    for operation in operations().into_iter().filter(|o| o.method == "GET") {
        let path = real(&operation.path);
        for name in &operation.query {
            for junk in JUNK_QUERY {
                let url = format!("{path}?{name}={junk}");
                let status = expect_no_server_error(&app, "GET", &url, b"", "application/json", "a junk query").await;
                assert_ne!(status, 0);
            }
            let repeated = format!("{path}?{name}=1&{name}=2");
            expect_no_server_error(&app, "GET", &repeated, b"", "application/json", "a repeated query").await;
        }
        let unknown = format!("{path}?no_such_parameter=1");
        expect_no_server_error(&app, "GET", &unknown, b"", "application/json", "an unknown query").await;
    }

    assert_eq!(census(&app), before);
    assert_whole(&app).await;
}

#[tokio::test]
async fn a_method_the_spec_does_not_list_is_405() {
    let app = spawn_app().await;
    let spec: Value = serde_json::from_str(SPEC).unwrap();

    for (path, methods) in spec["paths"].as_object().unwrap() {
        let listed: Vec<String> = methods.as_object().unwrap().keys().map(|m| m.to_uppercase()).collect();
        for method in METHODS.iter().filter(|m| !listed.iter().any(|l| l == *m)) {
            let status =
                expect_no_server_error(&app, method, &real(path), b"", "application/json", "an unlisted method").await;
            assert_eq!(status, 405, "{method} {path}");
        }
    }
}

/// Posts raw bytes to the webhook signed over the form as Twilio decodes it.
async fn post_signed_bytes(app: &TestApp, body: &[u8]) -> crate::helpers::Answer {
    let decoded: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    let signature = twilio_signature(AUTH_TOKEN, &app.url(WEBHOOK_PATH), &decoded);
    app.post_bytes(
        WEBHOOK_PATH,
        body.to_vec(),
        Some(&signature),
        "application/x-www-form-urlencoded",
    )
    .await
}

fn with(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut params: Vec<_> = params.iter().filter(|(k, _)| k != name).cloned().collect();
    params.push((name.to_owned(), value.to_owned()));
    params
}

#[tokio::test]
async fn absurd_webhook_fields_are_answered_or_refused_by_name() {
    let app = spawn_app().await;
    app.add_user("Ada", "+12015550100", true).await;
    app.agent.replies("ok");
    let ada = sms("+12015550100", "hi");

    // Senders that are no number anyone owns: answered as strangers, kept
    // bounded in the log.
    for from in [
        format!("+{}", "9".repeat(5000)),
        "+0".to_owned(),
        "whatsapp:+12015550999".to_owned(),
        "\u{0}\u{202e}".to_owned(),
    ] {
        let params = with(&with(&ada, "From", &from), "MessageSid", &new_sid());
        let answer = app.post_sms(&params).await;
        assert_eq!(answer.status, 200, "From {from:.20}: {}", answer.body);
        let row = app.inbound_row(&crate::helpers::sid_of(&params)).await;
        assert_eq!(row.user_id, None, "From {from:.20} is nobody's");
        assert!(row.phone_number.unwrap_or_default().len() <= 64);
    }
    assert_eq!(app.agent.calls(), 0, "no stranger reached the agent");

    // Counts that overflow are read as no media; a 60 KiB text (under the
    // 64 KiB limit once encoded) is taken.
    let huge_media = with(
        &with(&ada, "NumMedia", "99999999999999999999"),
        "MessageSid",
        &new_sid(),
    );
    assert_eq!(app.post_sms(&huge_media).await.status, 200);
    let long_text = with(&with(&ada, "Body", &"a".repeat(60 * 1024)), "MessageSid", &new_sid());
    assert_eq!(app.post_sms(&long_text).await.status, 200);
    assert_eq!(app.agent.calls(), 2);

    // Empty names, values and separators are a form all the same.
    let sid = new_sid();
    let odd = format!("&&=&=x&From=%2B12015550100&MessageSid={sid}&Body=hi&&");
    assert_eq!(post_signed_bytes(&app, odd.as_bytes()).await.status, 200);

    // Bytes that are not UTF-8 once decoded: unsigned they are refused;
    // signed over what Twilio would have decoded, they are answered.
    let sid = new_sid();
    let not_utf8 = format!("From=%2B12015550100&MessageSid={sid}&Body=%FF%FE%C3");
    let unsigned = app
        .post_bytes(
            WEBHOOK_PATH,
            not_utf8.clone().into_bytes(),
            None,
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(unsigned.status, 403);
    assert_eq!(post_signed_bytes(&app, not_utf8.as_bytes()).await.status, 200);

    // A signed form whose sid is junk is refused by the field's name.
    for sid in ["x", &"S".repeat(5000), "SM\u{0}"] {
        let answer = app.post_sms(&with(&ada, "MessageSid", sid)).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(answer.json()["message"].as_str().unwrap().contains("MessageSid"));
    }
    assert_whole(&app).await;
}

/// Sends the head of a request that declares a body of `declared` bytes and
/// sends ten of them; answers the status line the server writes without
/// waiting for the rest (the rest never comes; the connection's header
/// timeout is ten seconds).
async fn answer_before_the_body(app: &TestApp, head: &str, declared: usize) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{\"full_na",
        app.address
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(crate::wait::PATIENCE, stream.read(&mut answer)).await;
    let n = read.ok()?.ok()?;
    String::from_utf8_lossy(&answer[..n]).lines().next().map(str::to_owned)
}

#[tokio::test]
async fn no_body_is_read_before_its_route_authenticates_it() {
    let app = spawn_app().await;

    for (head, status) in [
        ("POST /sms-router/admin/users HTTP/1.1", "401"),
        (
            "POST /sms-router/admin/users HTTP/1.1\r\nAuthorization: Bearer wrong-token-0123456789",
            "401",
        ),
        ("PATCH /sms-router/admin/configs/error_reply HTTP/1.1", "401"),
        ("POST /healthz HTTP/1.1", "405"),
        ("POST /nowhere HTTP/1.1", "404"),
    ] {
        let answer = answer_before_the_body(&app, head, 200_000).await;
        assert!(
            answer.as_deref().is_some_and(|line| line.contains(status)),
            "{head}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_json_value_of_the_wrong_type_is_400_naming_its_field_and_writes_nothing() {
    let (app, _twilio) = spawn_app_with_twilio(&[], Tuning::default()).await;
    let user = app.add_user("Ada", "+12015550123", true).await;
    let phone = app.add_phone(user, "+12015550177", false).await;
    let before = census(&app);

    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "/users".into(),
            serde_json::json!({ "full_name": 42 }),
            "full_name",
        ),
        (
            "POST",
            "/users".into(),
            serde_json::json!({ "full_name": "Bo", "email": true }),
            "email",
        ),
        (
            "POST",
            "/users".into(),
            serde_json::json!({ "full_name": "Bo", "phone_number": 12015550124_i64 }),
            "phone_number",
        ),
        (
            "PATCH",
            format!("/users/{user}"),
            serde_json::json!({ "full_name": 7 }),
            "full_name",
        ),
        (
            "PATCH",
            format!("/users/{user}"),
            serde_json::json!({ "email": 7 }),
            "email",
        ),
        (
            "POST",
            format!("/users/{user}/phones"),
            serde_json::json!({ "phone_number": 12015550125_i64 }),
            "phone_number",
        ),
        (
            "PUT",
            "/configs/error_reply".into(),
            serde_json::json!({ "value": 3 }),
            "value",
        ),
        (
            "PUT",
            "/configs/error_reply".into(),
            serde_json::json!({ "value": "x", "description": false }),
            "description",
        ),
        (
            "POST",
            format!("/users/{user}/messages"),
            serde_json::json!({ "body": 5 }),
            "body",
        ),
        (
            "POST",
            format!("/phones/{phone}/verification/confirm"),
            serde_json::json!({ "code": 123456 }),
            "code",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, error) = app.admin(method, &path, Some(body.clone())).await;
        assert_eq!(status, 400, "{method} {path} {body}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{method} {path} {body}: {message}");
    }
    assert_eq!(census(&app), before, "a refused body wrote something");
}
