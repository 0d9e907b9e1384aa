//! Events to the agents over HTTP (reqwest): a POST of `{"event": …}` to
//! the agent's own URL with its bearer token and an `Idempotency-Key`, on a
//! client of its own, so that events never hold a connection a message
//! needs.

use std::time::Duration;

use serde::Serialize;

use crate::domain::user::AgentEndpoint;
use crate::ports::{EventNotifier, NotifyError, QueuedEvent};

/// How long an agent may take to take an event.
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct HttpNotifier {
    client: reqwest::Client,
    /// The service's agent and its token; `None`: the echo agent, which
    /// wants no event.
    service: Option<(reqwest::Url, Option<String>)>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    event: EventDto<'a>,
}

/// An event as the agent reads it (the README's agent contract).
#[derive(Serialize)]
struct EventDto<'a> {
    /// The same for every copy of one event: dedupe on it.
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    occurred_at: &'a str,
    user_id: i64,
    phone_number: &'a str,
    message_sid: Option<&'a str>,
    reply_sid: Option<&'a str>,
    status: Option<&'static str>,
    error_code: Option<i64>,
    category: Option<&'static str>,
    description: Option<&'static str>,
}

impl HttpNotifier {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(service: Option<(reqwest::Url, Option<String>)>) -> anyhow::Result<Self> {
        let client = crate::adapters::http_client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(DEADLINE)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(HttpNotifier { client, service })
    }
}

impl EventNotifier for HttpNotifier {
    async fn notify(&self, agent: Option<&AgentEndpoint>, queued: &QueuedEvent) -> Result<(), NotifyError> {
        let (url, token) = match agent {
            Some(endpoint) => (
                reqwest::Url::parse(endpoint.url.as_str())
                    .map_err(|_| NotifyError::Refused("the user's agent URL does not parse".to_owned()))?,
                endpoint.token.as_ref().map(|t| t.expose().to_owned()),
            ),
            None => self.service.clone().ok_or(NotifyError::NotWanted)?,
        };
        let event = &queued.event;
        let category = event.category();
        let body = Envelope {
            event: EventDto {
                id: &event.key,
                kind: event.kind.name(),
                occurred_at: &queued.occurred_at,
                user_id: event.user_id.0,
                phone_number: event.phone_number.as_ref(),
                message_sid: event.message_sid.as_ref().map(AsRef::as_ref),
                reply_sid: event.reply_sid.as_deref(),
                status: event.status,
                error_code: event.error_code,
                category: category.map(|(name, _)| name),
                description: category.map(|(_, says)| says),
            },
        };
        let mut call = self.client.post(url).header("Idempotency-Key", &event.key).json(&body);
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        let status = match call.send().await {
            Ok(answer) => answer.status(),
            Err(e) => {
                return Err(NotifyError::Failed(
                    crate::adapters::http_client::failure(&e).to_owned(),
                ));
            }
        };
        match status.as_u16() {
            200..=299 => Ok(()),
            404 | 410 => Err(NotifyError::NotWanted),
            // Busy, or too slow to read it: worth another try.
            code @ (408 | 429 | 500..=599) => Err(NotifyError::Failed(format!("the agent answered HTTP {code}"))),
            code => Err(NotifyError::Refused(format!("the agent answered HTTP {code}"))),
        }
    }
}
