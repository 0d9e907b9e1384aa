//! The user's agent over HTTP (reqwest): one pooled client, a deadline, a
//! bearer token, a bounded answer, and a circuit breaker: an agent failing
//! repeatedly is left alone for a cool-down.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::adapters::breaker::Breaker;
use crate::domain::message::{MAX_MEDIA, MediaLink};
use crate::domain::user::AgentEndpoint;
use crate::ports::{Agent, AgentError, AgentReply, AgentRequest};

/// The largest answer read from an agent.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
// The error text below names it.
const _: () = assert!(MAX_ANSWER_BYTES == 65536);

#[derive(Clone)]
pub struct HttpAgent {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    breaker: std::sync::Arc<Breaker>,
}

#[derive(Serialize)]
struct Question<'a> {
    user_id: i64,
    phone_number: &'a str,
    message: &'a str,
    /// Always present, empty without media.
    media: Vec<MediaDto<'a>>,
    message_sid: &'a str,
    request_id: &'a str,
    /// What the reply may cost.
    reply: ReplyLimits,
}

/// What a reply may cost: longer is cut at the last whole segment with `…`.
#[derive(Serialize)]
struct ReplyLimits {
    max_messages: usize,
    /// Null: no bound but `max_messages` (each at most 1600 characters).
    max_segments: Option<u32>,
    /// Write GSM-7 characters where you can: one character outside it makes
    /// the whole reply UCS-2, 67 characters a segment instead of 153.
    encoding_hint: &'static str,
}

#[derive(Serialize)]
struct MediaDto<'a> {
    url: &'a str,
    content_type: &'a str,
}

#[derive(Deserialize)]
struct Answer {
    reply: String,
    #[serde(default)]
    media: Vec<String>,
}

impl HttpAgent {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(url: reqwest::Url, token: Option<String>) -> anyhow::Result<Self> {
        let client = crate::adapters::http_client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(HttpAgent {
            client,
            url,
            token,
            breaker: std::sync::Arc::default(),
        })
    }
}

/// The W3C `traceparent` of a call to the agent: the message's trace (its
/// request id, a UUID, is the trace id), a new span of ours, and the
/// caller's `sampled` flag. A request id that is not a UUID (made by hand)
/// starts a trace of its own.
fn traceparent(request_id: &str, sampled: bool) -> String {
    let trace = uuid::Uuid::parse_str(request_id)
        .ok()
        .filter(|t| !t.is_nil())
        .unwrap_or_else(uuid::Uuid::new_v4);
    let span = uuid::Uuid::new_v4().as_u64_pair().0.max(1);
    format!("00-{}-{span:016x}-{:02x}", trace.simple(), u8::from(sampled))
}

fn transport_error(e: &reqwest::Error) -> AgentError {
    if e.is_timeout() {
        AgentError::Timeout
    } else {
        AgentError::Unreachable(crate::adapters::http_client::failure(e))
    }
}

/// Whether a failure says the agent is unwell (not that one answer was bad).
fn unwell(result: &Result<AgentReply, AgentError>) -> bool {
    matches!(
        result,
        Err(AgentError::Timeout | AgentError::Unreachable(_)) | Err(AgentError::Status(500..=599))
    )
}

impl Agent for HttpAgent {
    async fn ask(&self, request: AgentRequest, deadline: Duration) -> Result<AgentReply, AgentError> {
        let Some(permit) = self.breaker.allow(Instant::now()) else {
            return Err(AgentError::Unreachable(
                "not called: it failed repeatedly and is cooling down",
            ));
        };
        let result = self.call(request, deadline).await;
        self.breaker.record(permit, Instant::now(), !unwell(&result));
        result
    }
}

impl HttpAgent {
    async fn call(&self, request: AgentRequest, deadline: Duration) -> Result<AgentReply, AgentError> {
        let question = Question {
            user_id: request.user_id.0,
            phone_number: request.phone_number.as_ref(),
            message: &request.message,
            media: request
                .media
                .iter()
                .map(|m| MediaDto {
                    url: m.url(),
                    content_type: m.content_type(),
                })
                .collect(),
            message_sid: request.message_sid.as_ref(),
            request_id: &request.request_id.0,
            reply: ReplyLimits {
                max_messages: request.budget.max_messages,
                max_segments: request.budget.max_segments.map(std::num::NonZeroU32::get),
                encoding_hint: "gsm7",
            },
        };
        let mut call = self
            .client
            .post(self.url.clone())
            .timeout(deadline)
            .header("traceparent", traceparent(&request.request_id.0, request.sampled))
            .json(&question);
        if let Some(token) = &self.token {
            call = call.bearer_auth(token);
        }
        let mut response = call.send().await.map_err(|e| transport_error(&e))?;
        if !response.status().is_success() {
            return Err(AgentError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(AgentError::InvalidReply {
                    why: "over its limit of 65536 bytes",
                    bytes: body.len() + chunk.len(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        // serde's message would quote the answer: only its category is kept.
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| AgentError::InvalidReply {
            why: match e.classify() {
                serde_json::error::Category::Data => "JSON, but not an object with a string `reply`",
                _ => "not JSON",
            },
            bytes: body.len(),
        })?;
        let media: Option<Vec<MediaLink>> = (answer.media.len() <= MAX_MEDIA)
            .then(|| answer.media.iter().map(|url| MediaLink::parse(url)).collect())
            .flatten();
        let media = media.ok_or(AgentError::InvalidReply {
            why: "its `media` is not a list of at most 10 https URLs",
            bytes: body.len(),
        })?;
        Ok(AgentReply {
            text: answer.reply,
            media,
        })
    }
}

/// Users' own agents: one `HttpAgent` per endpoint (its own connection pool
/// and circuit breaker), made on first use and kept. An agent failing does
/// not slow the others: each has its own connections and breaker.
#[derive(Clone, Default)]
pub struct OwnAgents(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<AgentEndpoint, HttpAgent>>>);

/// More endpoints than this, and they are all forgotten (and made again as
/// their users write): a bound, not a limit anyone meets.
const MAX_OWN_AGENTS: usize = 10_000;

impl OwnAgents {
    fn agent(&self, endpoint: &AgentEndpoint) -> Result<HttpAgent, AgentError> {
        let mut agents = self
            .0
            .lock()
            .map_err(|_| AgentError::Unreachable("the agents' table is unusable"))?;
        if let Some(agent) = agents.get(endpoint) {
            return Ok(agent.clone());
        }
        let url = reqwest::Url::parse(endpoint.url.as_str())
            .map_err(|_| AgentError::Unreachable("the user's agent URL does not parse"))?;
        let agent = HttpAgent::new(url, endpoint.token.as_ref().map(|t| t.expose().to_owned()))
            .map_err(|_| AgentError::Unreachable("no HTTP client could be made"))?;
        if agents.len() >= MAX_OWN_AGENTS {
            agents.clear();
        }
        agents.insert(endpoint.clone(), agent.clone());
        Ok(agent)
    }

    /// Asks `request.endpoint`'s agent.
    ///
    /// # Errors
    /// As `Agent::ask`.
    pub async fn ask(
        &self,
        endpoint: &AgentEndpoint,
        request: AgentRequest,
        deadline: Duration,
    ) -> Result<AgentReply, AgentError> {
        let agent = self.agent(endpoint)?;
        agent.ask(request, deadline).await
    }
}
