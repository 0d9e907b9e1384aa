//! The real app on 127.0.0.1:0 with a fresh SQLite file, a fake agent that
//! is a real HTTP server on loopback, and typed request helpers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, Server, handler};
use sms_router::config::Config;
use sms_router::startup::{Application, Tuning};

use crate::faulty_store::Faults;

pub const AUTH_TOKEN: &str = "test-twilio-auth-token";
pub const AGENT_TOKEN: &str = "test-agent-token";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const WEBHOOK_PATH: &str = "/sms-router/webhook/sms";

/// What the fake agent does with a request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// `{"reply": <text>}` after the delay.
    Reply(String, Duration),
    Status(u16),
    NotJson,
    /// `{"reply": …}` of this many bytes, streamed.
    Huge(usize),
    /// A bare JSON string, not an object.
    JsonString(String),
    /// A redirect to the agent's own URL with this query, for ever.
    RedirectLoop(String),
    /// A redirect with this status to this URL.
    Redirect(String, u16),
    /// `{"reply": <text>, "media": [<urls>]}` after the delay.
    ReplyWithMedia(String, Vec<String>, Duration),
    /// `{"reply": <text>}` once the test calls `release`: an agent slower
    /// than anything, on any machine.
    Held(String),
    /// `{"reply": "re:<message_sid>"}` after the delay: a reply that says
    /// which message it answers.
    ReplySid(Duration),
}

/// A request's JSON body and its `Authorization` header.
pub type Question = (serde_json::Value, Option<String>);

#[derive(Clone)]
pub struct FakeAgent {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Behaviours for particular senders, by their number.
    per_sender: Arc<Mutex<HashMap<String, Behaviour>>>,
    received: Arc<Mutex<Vec<Question>>>,
    /// Opened by `release`: held questions are answered.
    released: Arc<tokio::sync::watch::Sender<bool>>,
}

#[handler]
async fn agent_endpoint(req: &Request, body: Json<serde_json::Value>, agent: Data<&FakeAgent>) -> Response {
    let auth = req.header("authorization").map(str::to_owned);
    agent.received.lock().unwrap().push((body.0.clone(), auth));
    let sender = body.0["phone_number"].as_str().unwrap_or_default();
    let behaviour = match agent.per_sender.lock().unwrap().get(sender) {
        Some(behaviour) => behaviour.clone(),
        None => agent.behaviour.lock().unwrap().clone(),
    };
    match behaviour {
        Behaviour::Reply(text, delay) => {
            tokio::time::sleep(delay).await;
            Json(serde_json::json!({ "reply": text })).into_response()
        }
        Behaviour::ReplySid(delay) => {
            tokio::time::sleep(delay).await;
            let sid = body.0["message_sid"].as_str().unwrap_or_default();
            Json(serde_json::json!({ "reply": format!("re:{sid}") })).into_response()
        }
        Behaviour::Held(text) => {
            let mut released = agent.released.subscribe();
            let _ = released.wait_for(|open| *open).await;
            Json(serde_json::json!({ "reply": text })).into_response()
        }
        Behaviour::ReplyWithMedia(text, media, delay) => {
            tokio::time::sleep(delay).await;
            Json(serde_json::json!({ "reply": text, "media": media })).into_response()
        }
        Behaviour::Status(code) => Response::builder()
            .status(poem::http::StatusCode::from_u16(code).unwrap())
            .body("agent failure"),
        Behaviour::NotJson => Response::builder().content_type("text/html").body("<html>oops</html>"),
        Behaviour::JsonString(text) => Json(serde_json::json!(text)).into_response(),
        Behaviour::Redirect(to, status) => Response::builder()
            .status(poem::http::StatusCode::from_u16(status).unwrap())
            .header("location", to)
            .finish(),
        Behaviour::RedirectLoop(query) => Response::builder()
            .status(poem::http::StatusCode::TEMPORARY_REDIRECT)
            .header("location", format!("/agent?{query}"))
            .finish(),
        Behaviour::Huge(bytes) => {
            let chunks = std::iter::once(b"{\"reply\": \"".to_vec())
                .chain(std::iter::repeat_n(vec![b'x'; 1024], bytes / 1024))
                .chain(std::iter::once(b"\"}".to_vec()))
                .map(Ok::<_, std::io::Error>);
            Response::builder()
                .content_type("application/json")
                .body(poem::Body::from_bytes_stream(futures_util::stream::iter(chunks)))
        }
    }
}

impl FakeAgent {
    pub async fn start() -> FakeAgent {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let agent = FakeAgent {
            url: format!("http://{addr}/agent"),
            behaviour: Arc::new(Mutex::new(Behaviour::Reply("hi from the agent".into(), Duration::ZERO))),
            per_sender: Arc::default(),
            received: Arc::default(),
            released: Arc::new(tokio::sync::watch::channel(false).0),
        };
        let app = Route::new()
            // Any path: an agent URL whose path holds more is still its.
            .at("/*path", poem::post(agent_endpoint))
            .data(agent.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        agent
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// What the agent does for messages from `number` only.
    pub fn set_for(&self, number: &str, behaviour: Behaviour) {
        self.per_sender.lock().unwrap().insert(number.to_owned(), behaviour);
    }

    /// Answers every question held (`Behaviour::Held`), now and later.
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    pub fn replies(&self, text: &str) {
        self.set(Behaviour::Reply(text.to_owned(), Duration::ZERO));
    }

    /// The JSON bodies and `Authorization` headers received, in order.
    pub fn received(&self) -> Vec<Question> {
        self.received.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

pub struct TestApp {
    pub address: SocketAddr,
    pub db_path: PathBuf,
    pub agent: FakeAgent,
    pub client: reqwest::Client,
    config: Config,
    tuning: Tuning,
    /// The fault injector between the app and its store, when there is one.
    pub faults: Option<Faults>,
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
    _dir: tempfile::TempDir,
}

/// Starts the app; answers its address and how to stop it.
async fn start(
    config: &Config,
    tuning: Tuning,
    faults: Option<&Faults>,
) -> (
    SocketAddr,
    (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ),
) {
    let app = match faults {
        None => Application::build_tuned(config, false, tuning).await.unwrap(),
        Some(faults) => Application::build_with(config, false, tuning, faults.clone())
            .await
            .unwrap(),
    };
    let address = SocketAddr::from(([127, 0, 0, 1], app.port()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    (address, (stop, server))
}

/// A webhook answer: status, content type and body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    /// The texts of the TwiML `<Message>` elements, as an XML parser reads them.
    pub fn messages(&self) -> Vec<String> {
        assert_eq!(self.status, 200, "not a TwiML answer: {}", self.body);
        let doc = roxmltree::Document::parse(&self.body).expect("TwiML parses");
        assert_eq!(doc.root_element().tag_name().name(), "Response");
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .map(|n| {
                assert_eq!(n.tag_name().name(), "Message");
                n.text().unwrap_or_default().to_owned()
            })
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with extra configuration variables.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_tuned(extra, Tuning::default()).await
}

pub async fn spawn_app_tuned(extra: &[(&str, &str)], tuning: Tuning) -> TestApp {
    spawn(extra, tuning, None).await
}

/// Starts the app on its real store seen through a fault injector.
pub async fn spawn_faulty_app(extra: &[(&str, &str)]) -> TestApp {
    spawn(extra, Tuning::default(), Some(Faults::default())).await
}

/// `spawn_app_with_twilio` with a fault injector before the store.
pub async fn spawn_faulty_app_with_twilio(tuning: Tuning) -> (TestApp, FakeTwilio) {
    let twilio = FakeTwilio::start().await;
    let vars = twilio.vars();
    (spawn(&vars, tuning, Some(Faults::default())).await, twilio)
}

async fn spawn(extra: &[(&str, &str)], tuning: Tuning, faults: Option<Faults>) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        sms_router::telemetry::init("debug", sms_router::config::LogFormat::Text);
    }
    let agent = FakeAgent::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("sms-router.db");
    let mut vars: HashMap<String, String> = [
        ("SMS_ROUTER_BIND", "127.0.0.1:0".to_owned()),
        ("SMS_ROUTER_DATABASE_PATH", db_path.display().to_string()),
        ("SMS_ROUTER_TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_owned()),
        ("SMS_ROUTER_AGENT_URL", agent.url.clone()),
        ("SMS_ROUTER_AGENT_TOKEN", AGENT_TOKEN.to_owned()),
        ("SMS_ROUTER_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        if v.is_empty() {
            vars.remove(*k);
        } else {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    let config = Config::from_vars(&vars).unwrap();
    let (address, stop) = start(&config, tuning, faults.as_ref()).await;
    TestApp {
        address,
        db_path,
        agent,
        client: reqwest::Client::new(),
        config,
        tuning,
        faults,
        stop: Some(stop),
        _dir: dir,
    }
}

/// Twilio's algorithm, written here from its documentation and apart from
/// the production code: HMAC-SHA1 over the URL and the sorted parameters.
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in params {
        sorted.entry(k.as_str()).or_default().insert(v.as_str());
    }
    let mut data = url.to_owned();
    for (k, values) in sorted {
        for v in values {
            data.push_str(k);
            data.push_str(v);
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

static SID_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A fresh message sid.
pub fn new_sid() -> String {
    let n = SID_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("SM{:032x}", (u128::from(std::process::id()) << 64) | u128::from(n))
}

/// The parameters Twilio sends for an inbound SMS.
pub fn sms(from: &str, body: &str) -> Vec<(String, String)> {
    sms_with_sid(&new_sid(), from, body)
}

pub fn sms_with_sid(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("MessageSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", from),
        ("To", "+15005550006"),
        ("Body", body),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestApp {
    /// Stops the server and starts a new one on the same database, as a
    /// restart of the process would.
    pub async fn restart(&mut self) {
        if let Some((stop, server)) = self.stop.take() {
            let _ = stop.send(());
            server.await.unwrap().unwrap();
        }
        let (address, stop) = start(&self.config, self.tuning, self.faults.as_ref()).await;
        self.address = address;
        self.stop = Some(stop);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The body of a plain GET.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Posts a webhook signed as Twilio would.
    pub async fn post_sms(&self, params: &[(String, String)]) -> Answer {
        let signature = twilio_signature(AUTH_TOKEN, &self.url(WEBHOOK_PATH), params);
        self.post_raw(
            WEBHOOK_PATH,
            params,
            Some(&signature),
            "application/x-www-form-urlencoded",
        )
        .await
    }

    pub async fn send(&self, from: &str, body: &str) -> Answer {
        self.post_sms(&sms(from, body)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        params: &[(String, String)],
        signature: Option<&str>,
        content_type: &str,
    ) -> Answer {
        let body = serde_urlencoded::to_string(params).unwrap();
        self.post_bytes(path, body.into_bytes(), signature, content_type).await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>, signature: Option<&str>, content_type: &str) -> Answer {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: response.text().await.unwrap(),
        }
    }

    /// Calls the admin API with the admin token; answers status and JSON
    /// (null for an empty body).
    pub async fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        self.admin_as(Some(ADMIN_TOKEN), method, path, body).await
    }

    pub async fn admin_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, self.url(&format!("/sms-router/admin{path}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, json)
    }

    pub fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.db_path).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    }

    /// Inserts a user straight into the store; returns its id.
    pub fn add_user(&self, name: &str, phone: &str, active: bool) -> i64 {
        self.db()
            .query_row(
                "INSERT INTO users (full_name, phone_number, is_active) VALUES (?1, ?2, ?3) RETURNING id",
                rusqlite::params![name, phone, active],
                |r| r.get(0),
            )
            .unwrap()
    }

    pub fn set_config(&self, key: &str, value: &str) {
        self.db()
            .execute(
                "INSERT INTO sms_router_configs (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .unwrap();
    }

    /// The inbound log row of a message.
    pub fn inbound_row(&self, sid: &str) -> LogRow {
        self.db()
            .query_row(
                "SELECT user_id, phone_number, outcome, success, error_message, message_length, segments, metadata,
                        processing_time_ms
                 FROM sms_usage_logs WHERE message_sid = ?1 AND direction = 'inbound'",
                [sid],
                |r| {
                    Ok(LogRow {
                        user_id: r.get(0)?,
                        phone_number: r.get(1)?,
                        outcome: r.get(2)?,
                        success: r.get(3)?,
                        error_message: r.get(4)?,
                        message_length: r.get(5)?,
                        segments: r.get(6)?,
                        metadata: r.get(7)?,
                        processing_time_ms: r.get(8)?,
                    })
                },
            )
            .unwrap()
    }

    /// Whether `number` is recorded as opted out.
    pub fn is_opted_out(&self, number: &str) -> bool {
        self.db()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sms_opt_outs WHERE phone_number = ?1)",
                [number],
                |r| r.get(0),
            )
            .unwrap()
    }

    pub fn count_rows(&self, direction: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT count(*) FROM sms_usage_logs WHERE direction = ?1",
                [direction],
                |r| r.get(0),
            )
            .unwrap()
    }
}

#[derive(Debug)]
pub struct LogRow {
    pub user_id: Option<i64>,
    pub phone_number: Option<String>,
    pub outcome: String,
    pub success: bool,
    pub error_message: Option<String>,
    pub message_length: i64,
    pub segments: i64,
    pub metadata: Option<String>,
    pub processing_time_ms: Option<i64>,
}

pub fn sid_of(params: &[(String, String)]) -> String {
    params.iter().find(|(k, _)| k == "MessageSid").unwrap().1.clone()
}

/// What the fake Twilio answers next.
#[derive(Clone, Debug)]
pub enum TwilioAnswer {
    Created,
    Error(u16, Option<i64>),
    /// 201, after holding the request this long.
    Slow(Duration),
    /// 429 with this `Retry-After` header.
    TooManyRetryAfter(&'static str),
    /// A refusal with this status, code and message.
    Refused(u16, i64, &'static str),
}

/// A request the fake Twilio received.
#[derive(Clone, Debug)]
pub struct TwilioRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
    /// Whether it was answered 201.
    pub created: bool,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl TwilioRequest {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Twilio's Messages API on loopback: answers from a script, then 201.
#[derive(Clone)]
pub struct FakeTwilio {
    pub base: String,
    script: Arc<Mutex<std::collections::VecDeque<TwilioAnswer>>>,
    received: Arc<Mutex<Vec<TwilioRequest>>>,
}

#[handler]
async fn twilio_endpoint(req: &Request, body: poem::Body, twilio: Data<&FakeTwilio>) -> Response {
    let bytes = body.into_vec().await.unwrap();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap();
    let answer = twilio
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(TwilioAnswer::Created);
    let count = {
        let mut received = twilio.received.lock().unwrap();
        received.push(TwilioRequest {
            path: req.uri().path().to_owned(),
            authorization: req.header("authorization").map(str::to_owned),
            form,
            created: matches!(answer, TwilioAnswer::Created | TwilioAnswer::Slow(_)),
            at: std::time::Instant::now(),
        });
        received.len()
    };
    match answer {
        TwilioAnswer::Created | TwilioAnswer::Slow(_) => {
            if let TwilioAnswer::Slow(delay) = answer {
                tokio::time::sleep(delay).await;
            }
            let sid = format!("SMfake{count:026}");
            Response::builder()
                .status(poem::http::StatusCode::CREATED)
                .content_type("application/json")
                .body(serde_json::json!({ "sid": sid, "status": "queued" }).to_string())
        }
        TwilioAnswer::Error(status, code) => Response::builder()
            .status(poem::http::StatusCode::from_u16(status).unwrap())
            .content_type("application/json")
            .body(serde_json::json!({ "code": code, "message": "scripted failure", "status": status }).to_string()),
        TwilioAnswer::Refused(status, code, message) => Response::builder()
            .status(poem::http::StatusCode::from_u16(status).unwrap())
            .content_type("application/json")
            .body(serde_json::json!({ "code": code, "message": message, "status": status }).to_string()),
        TwilioAnswer::TooManyRetryAfter(after) => Response::builder()
            .status(poem::http::StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", after)
            .content_type("application/json")
            .body(serde_json::json!({ "code": 20429, "message": "Too Many Requests", "status": 429 }).to_string()),
    }
}

/// `GET /Accounts/{sid}.json`: 200 for the test account's credentials,
/// 401 for any other.
#[handler]
async fn twilio_account(req: &Request) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_ACCOUNT}:{AUTH_TOKEN}"))
    );
    if req.header("authorization") == Some(expected.as_str()) {
        Response::builder()
            .content_type("application/json")
            .body(serde_json::json!({ "sid": TWILIO_ACCOUNT, "status": "active" }).to_string())
    } else {
        Response::builder()
            .status(poem::http::StatusCode::UNAUTHORIZED)
            .content_type("application/json")
            .body(serde_json::json!({ "code": 20003, "message": "Authenticate", "status": 401 }).to_string())
    }
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let twilio = FakeTwilio {
            base: format!("http://{addr}"),
            script: Arc::default(),
            received: Arc::default(),
        };
        let app = Route::new()
            .at(
                "/2010-04-01/Accounts/:account/Messages.json",
                poem::post(twilio_endpoint),
            )
            .at("/2010-04-01/Accounts/:account", poem::get(twilio_account))
            .data(twilio.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        twilio
    }

    pub fn script(&self, answers: &[TwilioAnswer]) {
        self.script.lock().unwrap().extend(answers.iter().cloned());
    }

    pub fn received(&self) -> Vec<TwilioRequest> {
        self.received.lock().unwrap().clone()
    }
}

pub const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_NUMBER: &str = "+15005550006";

impl FakeTwilio {
    /// The variables that point sms-router's REST settings at this fake.
    pub fn vars(&self) -> Vec<(&str, &str)> {
        vec![
            ("SMS_ROUTER_TWILIO_ACCOUNT_SID", TWILIO_ACCOUNT),
            ("SMS_ROUTER_TWILIO_FROM_NUMBER", TWILIO_NUMBER),
            ("SMS_ROUTER_TWILIO_API_BASE", self.base.as_str()),
        ]
    }
}

/// The app with Twilio's REST settings pointed at a fake Twilio.
pub async fn spawn_app_with_twilio(extra: &[(&str, &str)], tuning: Tuning) -> (TestApp, FakeTwilio) {
    let twilio = FakeTwilio::start().await;
    let mut vars = twilio.vars();
    vars.extend_from_slice(extra);
    (spawn_app_tuned(&vars, tuning).await, twilio)
}

#[allow(unused_imports)]
pub use crate::wait::{eventually, found, until};

/// The binary with a clean environment, a database, and a working directory
/// without `.env`.
pub fn sms_router(db_path: &Path) -> std::process::Command {
    sms_router_under(&[], db_path)
}

/// `sms_router`, run by a program that runs others (`strace …`, say).
pub fn sms_router_under(runner: &[&str], db_path: &Path) -> std::process::Command {
    let bin = env!("CARGO_BIN_EXE_sms-router");
    let mut command = match runner.split_first() {
        None => std::process::Command::new(bin),
        Some((program, args)) => {
            let mut command = std::process::Command::new(program);
            command.args(args).arg(bin);
            command
        }
    };
    for (key, _) in std::env::vars() {
        if key.starts_with("SMS_ROUTER_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("SMS_ROUTER_DATABASE_PATH", db_path);
    command.current_dir(db_path.parent().unwrap());
    command
}

/// The real binary serving on a free loopback port, its log in a file.
pub struct RunningServer {
    pub child: std::process::Child,
    pub bind: String,
    log: PathBuf,
}

impl RunningServer {
    /// Starts `sms-router <args>` with `envs` and waits until it listens.
    pub fn start(db: &Path, envs: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_under(&[], db, envs, args)
    }

    /// `start`, run by `runner` (see `sms_router_under`).
    pub fn start_under(runner: &[&str], db: &Path, envs: &[(&str, &str)], args: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let log = db.with_extension(format!("{port}.log"));
        let mut command = sms_router_under(runner, db);
        // A group of its own: stopping it stops a runner's child too (a
        // process traced by a killed strace would run on, detached).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
            .env("SMS_ROUTER_BIND", &bind)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut server = RunningServer {
            child: command.spawn().unwrap(),
            bind,
            log,
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&server.bind).is_err() {
            let exited = server.child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > crate::wait::PATIENCE {
                panic!("the server did not start ({exited:?}): {}", server.stop());
            }
            std::thread::sleep(crate::wait::LOOK_EVERY);
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bind)
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) to the server.
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits up to `limit` for the server to exit; answers its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<i32>> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code());
            }
            std::thread::sleep(crate::wait::LOOK_EVERY);
        }
        None
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server (and its runner); answers its log.
    pub fn stop(mut self) -> String {
        self.kill_group();
        self.child.wait().unwrap();
        self.logs()
    }

    /// SIGKILL to every process of the server's group.
    fn kill_group(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling a process group we created; no memory involved.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
    }
}

impl Drop for RunningServer {
    /// A test that fails midway leaves no server running.
    fn drop(&mut self) {
        // The group, even when the runner has exited: its child may not have.
        self.kill_group();
        let _ = self.child.wait();
    }
}

/// Adds a user with this number through the command line, as a newcomer would.
pub fn add_user_with_cli(db: &std::path::Path, phone: &str) {
    let added = sms_router(db)
        .args(["user", "add", "--phone", phone, "--name", "Ada"])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
}

/// Raises this process's soft limit on open files to its hard limit: tests
/// that open a thousand connections need more than the usual 1024.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
