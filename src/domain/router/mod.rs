//! The routing use case: claim → facts → policy → agent (or defer) → settle.
//! It orchestrates only: the policy decides, the ports read and write. A
//! failure never strands a message: before the agent is asked the claim is
//! released, so a retry is handled as new; after, the answer is kept in
//! memory for the retry, which records and sends it without a second agent
//! call.
//!
//! `decide`: the facts read and the policy asked; `lead`: claiming a message and settling it once; `deferral`: asking the
//! agent, and replying later when it is slow.

mod decide;
mod deferral;
mod lead;
#[cfg(test)]
mod tests;

use deferral::Asked;
use lead::{Claimed, Joined};

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::message::InboundMessage;
use super::policy::Answer;
use super::reply::Reply;
use super::usage::InboundRecord;
use crate::ports::{
    Agent, AgentRequest, Clock, Interrupted, Metrics, RateLimiter, RecentReplies, RouterStore, Settled, StoreError,
    Unfinished,
};

/// How long the agent may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The agent's deadline when its reply goes into the webhook's answer.
    pub agent_timeout: Duration,
    /// When replies can also be sent later: how long the webhook waits.
    pub deferral: Option<Deferral>,
}

/// Replying later through the outbox, for agents slower than the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deferral {
    /// How long the webhook waits before it answers empty.
    pub budget: Duration,
    /// The agent's deadline when its reply is sent later.
    pub agent_timeout: Duration,
}

/// How often a late reply is tried into the outbox before it is left to
/// the next start's notice of interruption.
const LATE_REPLY_ATTEMPTS: u32 = 6;
/// How many failed leaders a duplicate outlasts before it gets the empty
/// answer: each takes a store failure, so more means the store is down.
const MAX_TAKEOVERS: usize = 8;

/// The store and the agent are what deployments and tests replace; the
/// rest has one implementation each.
#[derive(Clone)]
pub struct Router<S, A> {
    pub store: S,
    pub agent: A,
    pub limiter: Arc<dyn RateLimiter>,
    pub recent: Arc<dyn RecentReplies>,
    pub metrics: Arc<dyn Metrics>,
    pub clock: Arc<dyn Clock>,
    pub timing: Timing,
}

/// The webhook's answer: a reply, or why there is none now, after which
/// Twilio should try again.
pub type WebhookAnswer = Result<Reply, NotNow>;

/// Why a message cannot be answered now (the webhook answers 503, and
/// Twilio tries again or calls its fallback).
#[derive(Debug)]
pub enum NotNow {
    /// The store failed.
    Store(StoreError),
    /// Another instance is still answering the message, past the wait.
    StillAnswered,
}

/// Where the webhook's answer goes: given once, as soon as it is known,
/// while the message's work (a late reply) may go on after it.
pub struct Respond(Option<Box<dyn FnOnce(WebhookAnswer) + Send>>);

impl Respond {
    /// An answer handed to `to`.
    pub fn to(to: impl FnOnce(WebhookAnswer) + Send + 'static) -> Self {
        Respond(Some(Box::new(to)))
    }

    /// Gives the answer, unless one was given already.
    fn give(&mut self, answer: WebhookAnswer) {
        if let Some(to) = self.0.take() {
            to(answer);
        }
    }
}

impl From<StoreError> for NotNow {
    fn from(e: StoreError) -> Self {
        NotNow::Store(e)
    }
}

/// How long the agent's reply to a message is kept for the retries of the
/// message whose answer was lost: as long as Twilio may retry it.
pub const KEEP_REPLY_FOR: Duration = Duration::from_secs(10 * 60);
/// How often a duplicate asks the store again while another instance
/// answers the message.
const ASK_AGAIN_EVERY: Duration = Duration::from_millis(200);

impl Timing {
    /// How long a duplicate waits for the first delivery's answer: as long
    /// as the first delivery's webhook can take, and a little more.
    pub fn duplicate_wait(&self) -> Duration {
        self.deferral.map_or(self.agent_timeout, |d| d.budget) + Duration::from_secs(5)
    }
}

/// Where a message's time went: since its webhook arrived, and of that,
/// how long the agent was waited for (`None`: it was not asked).
#[derive(Debug, Clone, Copy)]
struct Spent {
    started: Instant,
    agent: Option<Duration>,
}

/// What is to be done once the facts are known.
enum Step {
    Answered(Answer),
    Ask(AgentRequest),
}

impl<S: RouterStore, A: Agent> Router<S, A> {
    /// Handles one inbound message and calls `respond`, once, with the
    /// webhook's answer: the reply once its log rows are committed, or a
    /// store error after which a retry is handled as new or gets the answer
    /// kept for it. When the agent is slower than the budget, `respond` gets
    /// an empty reply and this returns only once the late reply is queued.
    #[tracing::instrument(skip_all, fields(sid = %message.sid, from = %message.from.masked()))]
    pub async fn handle(&self, message: InboundMessage, mut respond: Respond) {
        let answer = self.answer(&message, &mut respond).await;
        match &answer {
            Err(NotNow::Store(e)) => {
                self.metrics.error("store");
                tracing::error!(error = %e, "cannot answer the message now: the store is unavailable");
            }
            Err(NotNow::StillAnswered) => {
                tracing::warn!("another instance is still answering the message: asked to try again");
            }
            Ok(_) => {}
        }
        respond.give(answer);
    }

    /// Once, before serving: marks what the last run left unanswered as
    /// interrupted and, when late replies can be sent, queues `error_reply`
    /// to each sender whose reply was deferred.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be read or written.
    pub async fn recover_interrupted(&self) -> Result<Interrupted, StoreError> {
        let notice = match self.timing.deferral {
            Some(_) => {
                let settings = self.store.current().await?;
                Reply::compose(&settings.error_reply, settings.reply_budget())
                    .messages()
                    .to_vec()
            }
            None => Vec::new(),
        };
        self.store.interrupt_unfinished(notice).await
    }

    async fn answer(&self, message: &InboundMessage, respond: &mut Respond) -> WebhookAnswer {
        let mut spent = Spent {
            started: self.clock.instant(),
            agent: None,
        };
        let mut lead = match self.join(&message.sid).await {
            Joined::Lead(lead) => lead,
            Joined::Duplicate(reply) => return Ok(self.duplicate(reply)),
        };
        // An interrupted message was claimed by a process that stopped
        // before answering it: it is decided again, but never routed.
        let (claim, interrupted) = match lead.unfinished.take() {
            Some(Unfinished {
                claim,
                answer: Some(answer),
            }) => return self.finish(lead, message, claim, answer, spent).await,
            Some(Unfinished { claim, answer: None }) => (claim, false),
            None => match self.claim(message).await? {
                Claimed::Lead(claim, interrupted) => (claim, interrupted),
                Claimed::Again(reply) => {
                    lead.settle(Settled::Replied(reply.clone()));
                    return Ok(self.duplicate(reply));
                }
            },
        };
        let (settings, step) = match self.decide(message).await {
            Ok(decided) => decided,
            Err(e) if interrupted => return Err(e.into()),
            Err(e) => {
                self.release(lead, claim).await;
                return Err(e.into());
            }
        };
        let answer = match step {
            Step::Answered(answer) => answer,
            // The agent may have acted on it already.
            Step::Ask(_) if interrupted => return self.tell_interrupted(lead, message, claim, &settings).await,
            Step::Ask(request) => match self.ask_agent(claim, request, &settings, &mut lead, respond).await {
                Asked::InTime(answer, waited) => {
                    spent.agent = Some(waited);
                    answer
                }
                Asked::Late(answer, waited) => {
                    spent.agent = Some(waited);
                    self.send_later(claim, message, answer, &settings, spent).await;
                    return Ok(Reply::empty());
                }
            },
        };
        self.settle(lead, message, claim, answer, &settings, spent).await
    }

    /// The inbound log row of an answered message.
    fn record(&self, message: &InboundMessage, answer: &Answer, spent: Spent, deferred: bool) -> InboundRecord {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let processing_ms = millis(since(spent.started, self.clock.instant()));
        let agent_ms = spent.agent.map(millis);
        InboundRecord {
            outcome: answer.outcome,
            user_id: answer.user_id,
            error: answer.error.clone(),
            processing_ms,
            agent_ms,
            // In whole milliseconds, so that the two add up to the total.
            router_ms: processing_ms.saturating_sub(agent_ms.unwrap_or(0)),
            to: message.to.clone(),
            num_media: message.num_media,
            request_id: message.request_id.clone(),
            deferred,
        }
    }
}

fn since(earlier: Instant, now: Instant) -> Duration {
    now.saturating_duration_since(earlier)
}
