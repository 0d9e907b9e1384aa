//! The fake agent: an HTTP server on 127.0.0.1 that answers as told.

use super::*;

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

/// An event (the body's `event`) and its `Idempotency-Key` header.
pub type Event = (serde_json::Value, Option<String>);

#[derive(Clone)]
pub struct FakeAgent {
    pub url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Behaviours for particular senders, by their number.
    per_sender: Arc<Mutex<HashMap<String, Behaviour>>>,
    received: Arc<Mutex<Vec<Question>>>,
    /// The events received (`{"event": …}` bodies), with their
    /// `Idempotency-Key` headers, in order; apart from the questions.
    events: Arc<Mutex<Vec<Event>>>,
    /// The status events are answered with (200 unless told).
    event_status: Arc<Mutex<u16>>,
    /// Each question's `traceparent` header, in order.
    traceparents: Arc<Mutex<Vec<Option<String>>>>,
    /// Opened by `release`: held questions are answered.
    released: Arc<tokio::sync::watch::Sender<bool>>,
}

#[handler]
async fn agent_endpoint(req: &Request, body: Json<serde_json::Value>, agent: Data<&FakeAgent>) -> Response {
    if let Some(event) = body.0.get("event") {
        let key = req.header("idempotency-key").map(str::to_owned);
        agent.events.lock().unwrap().push((event.clone(), key));
        let status = *agent.event_status.lock().unwrap();
        return Response::builder()
            .status(poem::http::StatusCode::from_u16(status).unwrap())
            .finish();
    }
    let auth = req.header("authorization").map(str::to_owned);
    agent.received.lock().unwrap().push((body.0.clone(), auth));
    let traceparent = req.header("traceparent").map(str::to_owned);
    agent.traceparents.lock().unwrap().push(traceparent);
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
            traceparents: Arc::default(),
            events: Arc::default(),
            event_status: Arc::new(Mutex::new(200)),
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

    /// The events received and their `Idempotency-Key` headers, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Answers events with `status` from now on.
    pub fn answer_events_with(&self, status: u16) {
        *self.event_status.lock().unwrap() = status;
    }

    /// The `traceparent` header of each question, in order.
    pub fn traceparents(&self) -> Vec<Option<String>> {
        self.traceparents.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}
