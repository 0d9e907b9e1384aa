//! The agent `--dev` uses when no agent URL is set: it echoes.

use crate::ports::{Agent, AgentError, AgentRequest};

#[derive(Clone, Copy, Default)]
pub struct EchoAgent;

impl Agent for EchoAgent {
    async fn ask(&self, request: AgentRequest) -> Result<String, AgentError> {
        Ok(format!("echo: {}", request.message))
    }
}
