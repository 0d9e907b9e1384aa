//! The agents that answer messages: a user's own over HTTP, the service's
//! over HTTP, or, in `--dev` without an agent URL, one that echoes.

pub mod echo;
pub mod events;
pub mod http;

use std::time::Duration;

use crate::ports::{Agent, AgentError, AgentReply, AgentRequest};
use echo::EchoAgent;
use http::{HttpAgent, OwnAgents};

/// The service's agent, chosen at start.
#[derive(Clone)]
enum DefaultAgent {
    Http(HttpAgent),
    Echo(EchoAgent),
}

/// Who answers a message: the user's own agent when they have one, else
/// the service's.
#[derive(Clone)]
pub struct AppAgent {
    default: DefaultAgent,
    own: OwnAgents,
}

impl AppAgent {
    /// The service's agent at `url` (with `token`), behind users' own.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn http(url: reqwest::Url, token: Option<String>) -> anyhow::Result<Self> {
        Ok(Self::with(DefaultAgent::Http(HttpAgent::new(url, token)?)))
    }

    /// The echo agent behind users' own: `--dev` without an agent URL.
    pub fn echo() -> Self {
        Self::with(DefaultAgent::Echo(EchoAgent))
    }

    fn with(default: DefaultAgent) -> Self {
        AppAgent {
            default,
            own: OwnAgents::default(),
        }
    }

    /// Whether the service's own agent echoes.
    pub fn echoes(&self) -> bool {
        matches!(self.default, DefaultAgent::Echo(_))
    }
}

impl Agent for AppAgent {
    async fn ask(&self, request: AgentRequest, deadline: Duration) -> Result<AgentReply, AgentError> {
        if let Some(endpoint) = request.endpoint.clone() {
            return self.own.ask(&endpoint, request, deadline).await;
        }
        match &self.default {
            DefaultAgent::Http(agent) => agent.ask(request, deadline).await,
            DefaultAgent::Echo(agent) => agent.ask(request, deadline).await,
        }
    }
}
