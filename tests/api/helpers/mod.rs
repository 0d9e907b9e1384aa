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

pub mod browser;
mod fake_agent;
mod fake_twilio;
mod processes;
pub mod spec;

pub use fake_agent::*;
pub use fake_twilio::*;
pub use processes::*;

pub const AUTH_TOKEN: &str = "test-twilio-auth-token";
pub const AGENT_TOKEN: &str = "test-agent-token";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const WEBHOOK_PATH: &str = "/sms-router/webhook/sms";

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
        // Kept for the test process's life: its lines are written as they come.
        std::mem::forget(sms_router::telemetry::init(
            "debug",
            sms_router::config::LogFormat::Text,
        ));
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

    /// The admin API through the client generated from the spec, with the
    /// admin token: how tests set things up and read them back.
    pub fn api(&self) -> spec::Client {
        spec::client(&format!("http://{}", self.address), Some(ADMIN_TOKEN))
    }

    /// Calls the admin API with the admin token; answers status and JSON
    /// (null for an empty body): for tests of the wire itself.
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

    /// A user added through the admin API, as an administrator would;
    /// returns its id.
    pub async fn add_user(&self, name: &str, phone: &str, active: bool) -> i64 {
        let user = spec::types::CreateUserRequest::builder()
            .full_name(name)
            .phone_number(Some(phone.to_owned()))
            .is_active(Some(active));
        spec::ok(self.api().create_user().body(user).send().await).id
    }

    /// An extra number of `user`'s added through the admin API; returns
    /// its id.
    pub async fn add_phone(&self, user: i64, number: &str, verified: bool) -> i64 {
        let phone = spec::types::AddPhoneRequest::builder()
            .phone_number(number)
            .is_verified(Some(verified));
        spec::ok(self.api().add_user_phone().id(user).body(phone).send().await).id
    }

    /// Sets a setting through the admin API.
    pub async fn set_config(&self, key: &str, value: &str) {
        let value = spec::types::PutConfigRequest::builder().value(value);
        spec::ok(self.api().put_config().key(key).body(value).send().await);
    }

    /// Every row of the usage log in `direction`, newest first, as the
    /// admin API lists them.
    pub async fn log_rows(&self, direction: spec::types::DirectionDto) -> Vec<spec::types::UsageLogDto> {
        let api = self.api();
        let mut rows = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page = api.list_usage_logs().direction(direction).limit(500);
            if let Some(cursor) = &after {
                page = page.after(cursor.as_str());
            }
            let page = spec::ok(page.send().await);
            rows.extend(page.items);
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => return rows,
            }
        }
    }

    /// The inbound log row of a message, read through the admin API.
    pub async fn inbound_row(&self, sid: &str) -> LogRow {
        let rows = self.log_rows(spec::types::DirectionDto::Inbound).await;
        let row = rows
            .into_iter()
            .find(|row| row.message_sid.as_deref() == Some(sid))
            .unwrap_or_else(|| panic!("no inbound row for {sid}"));
        LogRow {
            user_id: row.user_id,
            phone_number: row.phone_number,
            outcome: row.outcome.to_string(),
            success: row.success,
            error_message: row.error_message,
            message_length: row.message_length,
            segments: row.segments,
            metadata: row.metadata.map(|m| serde_json::to_string(&m).expect("JSON")),
            processing_time_ms: row.processing_time_ms,
            router_time_ms: row.router_time_ms,
            agent_time_ms: row.agent_time_ms,
        }
    }

    /// Whether `number` is listed as opted out by the admin API.
    pub async fn is_opted_out(&self, number: &str) -> bool {
        let api = self.api();
        let mut after: Option<String> = None;
        loop {
            let mut page = api.list_opt_outs().limit(500);
            if let Some(cursor) = &after {
                page = page.after(cursor.as_str());
            }
            let page = spec::ok(page.send().await);
            if page.items.iter().any(|o| o.phone_number == number) {
                return true;
            }
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => return false,
            }
        }
    }

    /// How many usage log rows there are in `direction` (`inbound` or
    /// `outbound`).
    pub async fn count_rows(&self, direction: &str) -> usize {
        let direction = match direction {
            "inbound" => spec::types::DirectionDto::Inbound,
            _ => spec::types::DirectionDto::Outbound,
        };
        self.log_rows(direction).await.len()
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
    pub router_time_ms: Option<i64>,
    pub agent_time_ms: Option<i64>,
}

pub fn sid_of(params: &[(String, String)]) -> String {
    params.iter().find(|(k, _)| k == "MessageSid").unwrap().1.clone()
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
