//! Each admin operation documents exactly the statuses it can answer: every
//! status the committed spec lists for an operation is provoked here by a
//! real request (schemathesis, in `tests/spec_clients.sh`, checks the other
//! way: that nothing undocumented is answered).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use sms_router::startup::Tuning;

use crate::helpers::{ADMIN_TOKEN, FakeTwilio, TestApp, eventually, spawn_faulty_app_with_twilio};

/// A request; `{user}`, `{phone}`, `{opted_phone}` (`{opted_q}`: its number
/// for a path), `{inactive}`, `{number}` (a fresh number; `{number_q}` for a
/// path), `{taken}` (a number someone has; `{taken_q}` for a query), `{other}` (another user's) and `{code}` (the
/// code texted to `{phone}`) are filled in from a fresh fixture.
#[derive(Clone, Copy)]
struct Call {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
}

const fn call(method: &'static str, path: &'static str, body: Option<&'static str>) -> Call {
    Call { method, path, body }
}

/// Each admin operation as it succeeds.
const OPERATIONS: &[(&str, Call)] = &[
    (
        "create_user",
        call(
            "POST",
            "/users",
            Some(r#"{"full_name": "Grace", "phone_number": "{number}"}"#),
        ),
    ),
    ("list_users", call("GET", "/users", None)),
    ("get_user", call("GET", "/users/{user}", None)),
    (
        "update_user",
        call("PATCH", "/users/{user}", Some(r#"{"full_name": "Ada King"}"#)),
    ),
    ("delete_user", call("DELETE", "/users/{user}", None)),
    ("list_user_phones", call("GET", "/users/{user}/phones", None)),
    (
        "add_user_phone",
        call("POST", "/users/{user}/phones", Some(r#"{"phone_number": "{number}"}"#)),
    ),
    (
        "update_phone",
        call("PATCH", "/phones/{phone}", Some(r#"{"is_verified": true}"#)),
    ),
    ("delete_phone", call("DELETE", "/phones/{phone}", None)),
    (
        "send_user_message",
        call("POST", "/users/{user}/messages", Some(r#"{"body": "hello"}"#)),
    ),
    (
        "start_phone_verification",
        call("POST", "/phones/{phone}/verification", None),
    ),
    (
        "confirm_phone_verification",
        call(
            "POST",
            "/phones/{phone}/verification/confirm",
            Some(r#"{"code": "{code}"}"#),
        ),
    ),
    ("lookup_number", call("GET", "/lookup?phone_number={taken_q}", None)),
    ("list_opt_outs", call("GET", "/opt-outs", None)),
    ("clear_opt_out", call("DELETE", "/opt-outs/{opted_q}", None)),
    ("list_configs", call("GET", "/configs", None)),
    ("get_config", call("GET", "/configs/help_reply", None)),
    (
        "put_config",
        call("PUT", "/configs/max_reply_messages", Some(r#"{"value": "2"}"#)),
    ),
    ("delete_config", call("DELETE", "/configs/max_reply_messages", None)),
    ("list_usage_logs", call("GET", "/usage-logs", None)),
    ("get_usage_summary", call("GET", "/usage/summary", None)),
];

/// The statuses no generic change of an operation's call provokes.
const PARTICULAR: &[(&str, u16, Call)] = &[
    (
        "create_user",
        409,
        call(
            "POST",
            "/users",
            Some(r#"{"full_name": "Grace", "phone_number": "{taken}"}"#),
        ),
    ),
    (
        "create_user",
        422,
        call(
            "POST",
            "/users",
            Some(r#"{"full_name": "Grace", "email": "not-an-address"}"#),
        ),
    ),
    ("create_user", 400, call("POST", "/users", Some(r#"{"full_name": 42}"#))),
    ("list_users", 400, call("GET", "/users?is_active=maybe", None)),
    ("list_users", 422, call("GET", "/users?limit=0", None)),
    (
        "update_user",
        409,
        call("PATCH", "/users/{user}", Some(r#"{"phone_number": "{other}"}"#)),
    ),
    (
        "update_user",
        422,
        call("PATCH", "/users/{user}", Some(r#"{"phone_number": "12"}"#)),
    ),
    (
        "list_user_phones",
        422,
        call("GET", "/users/{user}/phones?limit=501", None),
    ),
    (
        "add_user_phone",
        409,
        call("POST", "/users/{user}/phones", Some(r#"{"phone_number": "{taken}"}"#)),
    ),
    (
        "add_user_phone",
        422,
        call("POST", "/users/{user}/phones", Some(r#"{"phone_number": "12"}"#)),
    ),
    (
        "update_phone",
        422,
        call(
            "PATCH",
            "/phones/{phone}",
            Some(r#"{"verification_method": "sms", "clear": ["verification_method"]}"#),
        ),
    ),
    (
        "send_user_message",
        409,
        call("POST", "/users/{inactive}/messages", Some(r#"{"body": "hello"}"#)),
    ),
    (
        "send_user_message",
        422,
        call("POST", "/users/{user}/messages", Some(r#"{"body": "  "}"#)),
    ),
    (
        "start_phone_verification",
        409,
        call("POST", "/phones/{opted_phone}/verification", None),
    ),
    (
        "confirm_phone_verification",
        422,
        call(
            "POST",
            "/phones/{phone}/verification/confirm",
            Some(r#"{"code": "12"}"#),
        ),
    ),
    ("lookup_number", 400, call("GET", "/lookup", None)),
    ("lookup_number", 422, call("GET", "/lookup?phone_number=12", None)),
    ("list_opt_outs", 400, call("GET", "/opt-outs?after=!!", None)),
    ("list_opt_outs", 422, call("GET", "/opt-outs?limit=0", None)),
    ("clear_opt_out", 404, call("DELETE", "/opt-outs/{number_q}", None)),
    ("clear_opt_out", 422, call("DELETE", "/opt-outs/12", None)),
    ("get_config", 404, call("GET", "/configs/no_such_setting", None)),
    (
        "put_config",
        400,
        call("PUT", "/configs/max_reply_messages", Some(r#"{"value": 2}"#)),
    ),
    (
        "put_config",
        404,
        call("PUT", "/configs/no_such_setting", Some(r#"{"value": "2"}"#)),
    ),
    (
        "put_config",
        422,
        call("PUT", "/configs/max_reply_messages", Some(r#"{"value": "eleven"}"#)),
    ),
    ("delete_config", 404, call("DELETE", "/configs/no_such_setting", None)),
    (
        "list_usage_logs",
        400,
        call("GET", "/usage-logs?direction=sideways", None),
    ),
    (
        "list_usage_logs",
        422,
        call(
            "GET",
            "/usage-logs?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            None,
        ),
    ),
    (
        "get_usage_summary",
        400,
        call("GET", "/usage/summary?group_by=week", None),
    ),
    (
        "get_usage_summary",
        422,
        call(
            "GET",
            "/usage/summary?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            None,
        ),
    ),
];

/// How a status is provoked from an operation's successful call.
enum Provoke {
    Succeed,
    /// A particular call.
    Call(Call),
    WithoutToken,
    /// Ids that are not integers.
    IdNotAnInteger,
    /// Ids that name nothing.
    IdOfNothing,
    BodyOver256KiB,
    BodyAsText,
    StoreDown,
    /// Five wrong codes first.
    TooManyWrongCodes,
}

fn provoke(op: &str, status: u16, success: Call) -> Option<Provoke> {
    if let Some((_, _, call)) = PARTICULAR.iter().find(|(o, s, _)| *o == op && *s == status) {
        return Some(Provoke::Call(*call));
    }
    let has_id = success.path.contains("/{");
    Some(match status {
        200..=299 => Provoke::Succeed,
        401 => Provoke::WithoutToken,
        400 if has_id => Provoke::IdNotAnInteger,
        404 if has_id => Provoke::IdOfNothing,
        413 => Provoke::BodyOver256KiB,
        415 => Provoke::BodyAsText,
        429 if op == "confirm_phone_verification" => Provoke::TooManyWrongCodes,
        503 => Provoke::StoreDown,
        _ => return None,
    })
}

static NUMBERS: AtomicU32 = AtomicU32::new(1000);

fn fresh_number() -> String {
    format!("+1201555{:04}", NUMBERS.fetch_add(1, Ordering::Relaxed))
}

/// What a call's placeholders stand for.
struct Fixture {
    values: BTreeMap<&'static str, String>,
}

impl Fixture {
    async fn new(app: &TestApp) -> Fixture {
        let (taken, other) = (fresh_number(), fresh_number());
        let user = app.add_user("Ada", &taken, true).await;
        app.add_user("Babbage", &other, true).await;
        let inactive = app.add_user("Charles", &fresh_number(), false).await;
        let phone = app.add_phone(user, &fresh_number(), false).await;
        let opted_number = fresh_number();
        let opted_phone = app.add_phone(user, &opted_number, false).await;
        app.send(&opted_number, "STOP").await;
        let mut values = BTreeMap::new();
        values.insert("{user}", user.to_string());
        values.insert("{inactive}", inactive.to_string());
        values.insert("{phone}", phone.to_string());
        values.insert("{opted_phone}", opted_phone.to_string());
        values.insert("{taken_q}", taken.replace('+', "%2B"));
        values.insert("{opted_q}", opted_number.replace('+', "%2B"));
        values.insert("{taken}", taken);
        values.insert("{other}", other);
        Fixture { values }
    }

    fn fill(&self, text: &str) -> String {
        let mut text = text
            .replace("{number_q}", &fresh_number().replace('+', "%2B"))
            .replace("{number}", &fresh_number());
        for (name, value) in &self.values {
            text = text.replace(name, value);
        }
        text
    }
}

/// Starts a verification of `{phone}` and reads the code Twilio was asked
/// to text.
async fn texted_code(app: &TestApp, twilio: &FakeTwilio, fixture: &Fixture) -> String {
    let before = twilio.received().len();
    let (status, _) = app
        .admin("POST", &fixture.fill("/phones/{phone}/verification"), None)
        .await;
    assert_eq!(status, 202);
    eventually("the code to be texted", || twilio.received().len() > before).await;
    let body = twilio.received().pop().unwrap().field("Body").unwrap().to_owned();
    body.chars().filter(char::is_ascii_digit).take(6).collect()
}

struct Request {
    method: String,
    path: String,
    body: Option<Vec<u8>>,
    content_type: &'static str,
    token: bool,
}

async fn send(app: &TestApp, request: Request) -> (u16, String) {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = app
        .client
        .request(method, app.url(&format!("/sms-router/admin{}", request.path)));
    if request.token {
        builder = builder.bearer_auth(ADMIN_TOKEN);
    }
    if let Some(body) = request.body {
        builder = builder.header("content-type", request.content_type).body(body);
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Every admin operation in the committed spec with its documented statuses.
fn documented() -> BTreeMap<String, BTreeSet<u16>> {
    let spec: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    let mut ops = BTreeMap::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op["tags"][0] != "admin" {
                continue;
            }
            let statuses = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            ops.insert(op["operationId"].as_str().unwrap().to_owned(), statuses);
        }
    }
    ops
}

#[tokio::test]
async fn every_status_an_admin_operation_documents_can_be_provoked() {
    let (app, twilio) = spawn_faulty_app_with_twilio(Tuning::default()).await;
    let faults = app.faults.clone().unwrap();
    let documented = documented();
    let listed: BTreeSet<_> = OPERATIONS.iter().map(|(op, _)| (*op).to_owned()).collect();
    assert_eq!(
        documented.keys().cloned().collect::<BTreeSet<_>>(),
        listed,
        "every admin operation is tried"
    );

    let mut wrong = Vec::new();
    for (op, statuses) in &documented {
        let success = OPERATIONS.iter().find(|(o, _)| o == op).unwrap().1;
        for &status in statuses {
            let Some(how) = provoke(op, status, success) else {
                wrong.push(format!("{op} {status}: no way to provoke it is known"));
                continue;
            };
            let fixture = Fixture::new(&app).await;
            let mut chosen = success;
            if let Provoke::Call(call) = how {
                chosen = call;
            }
            let mut path = fixture.fill(chosen.path);
            let mut body = chosen.body.map(|b| fixture.fill(b));
            if op == "confirm_phone_verification" && matches!(how, Provoke::Succeed) {
                let code = texted_code(&app, &twilio, &fixture).await;
                body = body.map(|b| b.replace("{code}", &code));
            }
            let mut request = Request {
                method: chosen.method.to_owned(),
                path: String::new(),
                body: body.map(|b| b.replace("{code}", "000000").into_bytes()),
                content_type: "application/json",
                token: true,
            };
            match how {
                Provoke::WithoutToken => request.token = false,
                Provoke::IdNotAnInteger => path = fixture.fill(&id_like(chosen.path, "x")),
                Provoke::IdOfNothing => path = fixture.fill(&id_like(chosen.path, "999999")),
                Provoke::BodyOver256KiB => {
                    let padding = "a".repeat(300 * 1024);
                    request.body = Some(format!(r#"{{"padding": "{padding}"}}"#).into_bytes());
                }
                Provoke::BodyAsText => request.content_type = "text/plain",
                Provoke::StoreDown => {
                    // Clearing an opt-out writes through the message path's
                    // port, which "admin" does not fail.
                    faults.arm("admin", 1000);
                    faults.arm("opt_in", 1000);
                }
                Provoke::TooManyWrongCodes => {
                    texted_code(&app, &twilio, &fixture).await;
                    for _ in 0..5 {
                        let wrong_code = Request {
                            method: "POST".into(),
                            path: path.clone(),
                            body: Some(br#"{"code": "000000"}"#.to_vec()),
                            content_type: "application/json",
                            token: true,
                        };
                        assert_eq!(send(&app, wrong_code).await.0, 422);
                    }
                }
                Provoke::Succeed | Provoke::Call(_) => {}
            }
            request.path = path;
            let (answered, text) = send(&app, request).await;
            faults.arm("admin", 0);
            faults.arm("opt_in", 0);
            if answered != status {
                let text: String = text.chars().take(200).collect();
                wrong.push(format!("{op} {status}: answered {answered} {text}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The path with its ids replaced.
fn id_like(path: &str, id: &str) -> String {
    ["{user}", "{phone}", "{opted_phone}", "{inactive}"]
        .iter()
        .fold(path.to_owned(), |p, name| p.replace(name, id))
}
