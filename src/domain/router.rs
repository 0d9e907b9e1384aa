//! The routing use case: identify → gate → agent → reply → log.

use std::time::Instant;

use super::keyword::Keyword;
use super::message::{InboundMessage, MessageSid};
use super::reply::Reply;
use super::settings::Settings;
use super::usage::{InboundClaim, InboundRecord, OutboundRecord, Outcome, TextShape};
use super::user::UserId;
use crate::ports::{
    Agent, AgentError, AgentRequest, Claim, Flight, MessageLog, Metrics, OptOutRegistry, RateLimiter, RecentReplies,
    SettingsStore, StoreError, UserDirectory,
};

/// The adapters a router works with, named once.
pub trait RouterPorts: Send + Sync + 'static {
    type Directory: UserDirectory;
    type Log: MessageLog;
    type OptOuts: OptOutRegistry;
    type Settings: SettingsStore;
    type Agent: Agent;
    type Limiter: RateLimiter;
    type Recent: RecentReplies;
    type Metrics: Metrics;
}

pub struct Router<P: RouterPorts> {
    pub directory: P::Directory,
    pub log: P::Log,
    pub opt_outs: P::OptOuts,
    pub settings: P::Settings,
    pub agent: P::Agent,
    pub limiter: P::Limiter,
    pub recent: P::Recent,
    pub metrics: P::Metrics,
}

impl<P: RouterPorts> Clone for Router<P> {
    fn clone(&self) -> Self {
        Router {
            directory: self.directory.clone(),
            log: self.log.clone(),
            opt_outs: self.opt_outs.clone(),
            settings: self.settings.clone(),
            agent: self.agent.clone(),
            limiter: self.limiter.clone(),
            recent: self.recent.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// What a message got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub outcome: Outcome,
    pub reply: Reply,
}

/// A decision before logging: the outcome, the reply text, who it was for.
struct Decision {
    outcome: Outcome,
    text: String,
    user_id: Option<UserId>,
    error: Option<String>,
}

impl Decision {
    fn new(outcome: Outcome, text: &str) -> Self {
        Decision {
            outcome,
            text: text.to_owned(),
            user_id: None,
            error: None,
        }
    }
}

/// Abandons the message in `RecentReplies` unless it was settled, so that a
/// failure never leaves followers waiting for a reply that will not come.
struct Lead<'a, R: RecentReplies> {
    recent: &'a R,
    sid: &'a MessageSid,
    settled: bool,
}

impl<R: RecentReplies> Lead<'_, R> {
    fn settle(mut self, reply: &Reply) {
        self.recent.settle(self.sid, Some(reply.clone()));
        self.settled = true;
    }
}

impl<R: RecentReplies> Drop for Lead<'_, R> {
    fn drop(&mut self) {
        if !self.settled {
            self.recent.settle(self.sid, None);
        }
    }
}

impl<P: RouterPorts> Router<P> {
    /// Answers one inbound message. The reply is returned only once the
    /// message's log rows are committed.
    ///
    /// # Errors
    /// `StoreError` when the store cannot claim or log the message: nothing
    /// was answered, and the caller should ask the sender to retry.
    #[tracing::instrument(skip_all, fields(sid = %message.sid, from = %message.from.masked()))]
    pub async fn handle(&self, message: InboundMessage) -> Result<Handled, StoreError> {
        let handled = self.answer(message).await;
        match &handled {
            Ok(handled) => self.metrics.message(handled.outcome),
            Err(_) => self.metrics.error("store"),
        }
        handled
    }

    async fn answer(&self, message: InboundMessage) -> Result<Handled, StoreError> {
        let started = Instant::now();
        let wait = match self.recent.join(&message.sid) {
            Flight::Follow(wait) => {
                let reply = wait.await.unwrap_or_default();
                tracing::info!(outcome = "duplicate", "message seen before: no second agent call");
                return Ok(Handled {
                    outcome: Outcome::Duplicate,
                    reply,
                });
            }
            Flight::Lead => Lead {
                recent: &self.recent,
                sid: &message.sid,
                settled: false,
            },
        };
        let claim = InboundClaim {
            sid: message.sid.clone(),
            from: message.from.clone(),
            shape: TextShape::of(&message.body),
        };
        let Claim::New(claim_id) = self.log.claim(&claim).await? else {
            let handled = Handled {
                outcome: Outcome::Duplicate,
                reply: Reply::empty(),
            };
            wait.settle(&handled.reply);
            tracing::info!(
                outcome = "duplicate",
                "message claimed before this process last started"
            );
            return Ok(handled);
        };

        let settings = self.settings.current().await?;
        let decision = self.decide(&message, &settings).await?;
        let reply = Reply::compose(&decision.text, settings.max_reply_messages);
        let record = InboundRecord {
            outcome: decision.outcome,
            user_id: decision.user_id,
            error: decision.error.clone(),
            processing_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            to: message.to.clone(),
            num_media: message.num_media,
            request_id: message.request_id.clone(),
        };
        let replies: Vec<_> = reply
            .messages()
            .iter()
            .map(|m| OutboundRecord {
                user_id: decision.user_id,
                to: message.from.clone(),
                shape: TextShape::of(m),
            })
            .collect();
        let rows = 1 + replies.len();
        self.log.settle(claim_id, record, replies).await?;
        self.metrics.log_batch(rows);
        wait.settle(&reply);
        tracing::info!(
            outcome = decision.outcome.name(),
            user_id = decision.user_id.map(|u| u.0),
            error = decision.error.as_deref(),
            messages = reply.messages().len(),
            "message answered"
        );
        tracing::debug!(body = %message.body, "message text");
        Ok(Handled {
            outcome: decision.outcome,
            reply,
        })
    }

    /// The outcome, in DESIGN's order of precedence after `duplicate`.
    async fn decide(&self, message: &InboundMessage, settings: &Settings) -> Result<Decision, StoreError> {
        let number = message.from.number();
        match (Keyword::of_message(&message.body, message.opt_out_type), number) {
            (Some(Keyword::Stop), Some(number)) => {
                self.opt_outs.opt_out(number).await?;
                return Ok(Decision::new(Outcome::OptedOut, ""));
            }
            (Some(Keyword::Start), Some(number)) => {
                self.opt_outs.opt_in(number).await?;
                return Ok(Decision::new(Outcome::OptedIn, ""));
            }
            // A sender that is not a number cannot be recorded as opted out.
            (Some(Keyword::Stop), None) => return Ok(Decision::new(Outcome::OptedOut, "")),
            (Some(Keyword::Start), None) => return Ok(Decision::new(Outcome::OptedIn, "")),
            (Some(Keyword::Help), _) => return Ok(Decision::new(Outcome::Help, &settings.help_reply)),
            (None, _) => {}
        }
        if let Some(number) = number
            && self.opt_outs.is_opted_out(number).await?
        {
            return Ok(Decision::new(Outcome::OptedOut, ""));
        }
        if !self.limiter.try_acquire(message.from.as_str()) {
            return Ok(Decision::new(Outcome::RateLimited, ""));
        }
        let Some(number) = number else {
            return Ok(Decision::new(Outcome::UnknownUser, &settings.unknown_user_reply));
        };
        let Some(recipient) = self.directory.recipient(number).await? else {
            return Ok(Decision::new(Outcome::UnknownUser, &settings.unknown_user_reply));
        };
        let user_id = Some(recipient.user_id);
        if !recipient.is_active {
            return Ok(Decision {
                user_id,
                ..Decision::new(Outcome::InactiveUser, &settings.inactive_user_reply)
            });
        }
        let request = AgentRequest {
            user_id: recipient.user_id,
            phone_number: number.clone(),
            message: message.body.clone(),
            message_sid: message.sid.clone(),
            request_id: message.request_id.clone(),
        };
        let asked = Instant::now();
        let answer = self.agent.ask(request).await;
        self.metrics.agent_call(asked.elapsed(), answer.is_ok());
        if let Err(e) = &answer {
            self.metrics.error(match e {
                AgentError::Timeout => "agent_timeout",
                AgentError::Unreachable(_) => "agent_unreachable",
                AgentError::Status(_) => "agent_status",
                AgentError::InvalidReply(_) => "agent_invalid_reply",
            });
        }
        Ok(match answer {
            Ok(text) if !text.trim().is_empty() => Decision {
                user_id,
                ..Decision::new(Outcome::Routed, &text)
            },
            Ok(_) => Decision {
                user_id,
                error: Some("the agent's reply is empty".to_owned()),
                ..Decision::new(Outcome::AgentError, &settings.error_reply)
            },
            Err(e) => Decision {
                user_id,
                error: Some(e.to_string()),
                ..Decision::new(Outcome::AgentError, &settings.error_reply)
            },
        })
    }
}
