//! The agent `--dev` uses when no agent URL is set: it echoes.

use std::time::Duration;

use crate::ports::{Agent, AgentError, AgentReply, AgentRequest};

#[derive(Clone, Copy, Default)]
pub struct EchoAgent;

impl Agent for EchoAgent {
    async fn ask(&self, request: AgentRequest, _deadline: Duration) -> Result<AgentReply, AgentError> {
        Ok(AgentReply {
            text: format!("echo: {}", request.message),
            media: Vec::new(),
        })
    }
}
