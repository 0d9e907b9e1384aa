//! The fake Twilio: its REST API on 127.0.0.1, answering as scripted
//! and keeping what it was sent.

use super::*;

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
