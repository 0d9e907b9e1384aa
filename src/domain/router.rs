//! The routing use case: identify → gate → agent → reply → log.

use std::future::Future;
use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};

use super::keyword::Keyword;
use super::message::{InboundMessage, MessageSid};
use super::phone::PhoneNumber;
use super::reply::Reply;
use super::settings::Settings;
use super::usage::{InboundClaim, InboundRecord, OutboundRecord, Outcome, TextShape};
use super::user::{NumberSource, UserId};
use super::verification::{Check, VerificationCode};
use crate::ports::{
    Agent, AgentError, AgentRequest, Claim, ClaimId, Flight, MessageLog, Metrics, NewOutboxItem, OptOutRegistry,
    Outbox, RateLimiter, RecentReplies, Scheduler, SettingsStore, StoreError, UserDirectory, Verifications,
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
    type Scheduler: Scheduler;
    type Outbox: Outbox;
    type Verifications: Verifications;
}

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

pub struct Router<P: RouterPorts> {
    pub directory: P::Directory,
    pub log: P::Log,
    pub opt_outs: P::OptOuts,
    pub settings: P::Settings,
    pub agent: P::Agent,
    pub limiter: P::Limiter,
    pub recent: P::Recent,
    pub metrics: P::Metrics,
    pub scheduler: P::Scheduler,
    pub outbox: P::Outbox,
    pub verifications: P::Verifications,
    pub timing: Timing,
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
            scheduler: self.scheduler.clone(),
            outbox: self.outbox.clone(),
            verifications: self.verifications.clone(),
            timing: self.timing,
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

    /// What the agent's answer comes to.
    fn of_answer(answer: Result<String, AgentError>, user_id: UserId, settings: &Settings) -> Self {
        let (outcome, text, error) = match answer {
            Ok(text) if !text.trim().is_empty() => (Outcome::Routed, text, None),
            Ok(_) => (
                Outcome::AgentError,
                settings.error_reply.clone(),
                Some("the agent's reply is empty".to_owned()),
            ),
            Err(e) => (Outcome::AgentError, settings.error_reply.clone(), Some(e.to_string())),
        };
        Decision {
            outcome,
            text,
            user_id: Some(user_id),
            error,
        }
    }
}

/// What the gates decided: an answer now, or a question for the agent.
enum Step {
    Decided(Decision),
    Ask(AgentRequest),
}

/// The answer to a number verified by texting its code.
const VERIFIED_REPLY: &str = "Your number is verified.";

/// The agent's answer, still to come.
type PendingAnswer = Pin<Box<dyn Future<Output = Result<String, AgentError>> + Send>>;

/// Abandons the message in `RecentReplies` unless it was settled, so that a
/// failure never leaves followers waiting for a reply that will not come.
struct Lead<'a, R: RecentReplies> {
    recent: &'a R,
    sid: MessageSid,
    settled: bool,
}

impl<R: RecentReplies> Lead<'_, R> {
    fn settle(mut self, reply: &Reply) {
        self.recent.settle(&self.sid, Some(reply.clone()));
        self.settled = true;
    }
}

impl<R: RecentReplies> Drop for Lead<'_, R> {
    fn drop(&mut self) {
        if !self.settled {
            self.recent.settle(&self.sid, None);
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
            // A deferred message is counted when its reply is known.
            Ok(handled) if handled.outcome == Outcome::Processing => {}
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
                sid: message.sid.clone(),
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
        let decision = match self.decide(&message, &settings).await? {
            Step::Decided(decision) => decision,
            Step::Ask(request) => match self.ask_agent(request, &settings).await {
                Either::Left(decision) => decision,
                Either::Right((request, pending)) => {
                    self.defer(claim_id, message, settings, request.user_id, pending, started);
                    let reply = Reply::empty();
                    wait.settle(&reply);
                    tracing::info!("the agent is slow: answered empty, its reply will be sent later");
                    return Ok(Handled {
                        outcome: Outcome::Processing,
                        reply,
                    });
                }
            },
        };
        let reply = Reply::compose(&decision.text, settings.max_reply_messages);
        let record = inbound_record(&message, &decision, started, false);
        let replies: Vec<_> = reply
            .messages()
            .iter()
            .map(|m| OutboundRecord {
                user_id: decision.user_id,
                to: message.from.clone(),
                shape: TextShape::of(m),
            })
            .collect();
        self.log.settle(claim_id, record, replies).await?;
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
    async fn decide(&self, message: &InboundMessage, settings: &Settings) -> Result<Step, StoreError> {
        Ok(match self.gate(message, settings).await? {
            Ok(request) => Step::Ask(request),
            Err(decision) => Step::Decided(decision),
        })
    }

    /// The gates before the agent: a decision, or the question to ask.
    async fn gate(
        &self,
        message: &InboundMessage,
        settings: &Settings,
    ) -> Result<Result<AgentRequest, Decision>, StoreError> {
        let decided = |outcome, text: &str| Ok(Err(Decision::new(outcome, text)));
        let number = message.from.number();
        match (Keyword::of_message(&message.body, message.opt_out_type), number) {
            (Some(Keyword::Stop), Some(number)) => {
                self.opt_outs.opt_out(number).await?;
                return decided(Outcome::OptedOut, "");
            }
            (Some(Keyword::Start), Some(number)) => {
                self.opt_outs.opt_in(number).await?;
                return decided(Outcome::OptedIn, "");
            }
            // A sender that is not a number cannot be recorded as opted out.
            (Some(Keyword::Stop), None) => return decided(Outcome::OptedOut, ""),
            (Some(Keyword::Start), None) => return decided(Outcome::OptedIn, ""),
            (Some(Keyword::Help), _) => return decided(Outcome::Help, &settings.help_reply),
            (None, _) => {}
        }
        if let Some(number) = number
            && self.opt_outs.is_opted_out(number).await?
        {
            return decided(Outcome::OptedOut, "");
        }
        if !self.limiter.try_acquire(message.from.as_str()) {
            return decided(Outcome::RateLimited, "");
        }
        let Some(number) = number else {
            return decided(Outcome::UnknownUser, &settings.unknown_user_reply);
        };
        let Some(recipient) = self.directory.recipient(number).await? else {
            return decided(Outcome::UnknownUser, &settings.unknown_user_reply);
        };
        if recipient.source == NumberSource::Mapping && self.confirms_verification(message, number).await? {
            return Ok(Err(Decision {
                user_id: Some(recipient.user_id),
                ..Decision::new(Outcome::Verified, VERIFIED_REPLY)
            }));
        }
        if settings.require_verified_numbers && !recipient.verified {
            return decided(Outcome::UnknownUser, &settings.unknown_user_reply);
        }
        if !recipient.is_active {
            return Ok(Err(Decision {
                user_id: Some(recipient.user_id),
                ..Decision::new(Outcome::InactiveUser, &settings.inactive_user_reply)
            }));
        }
        Ok(Ok(AgentRequest {
            user_id: recipient.user_id,
            phone_number: number.clone(),
            message: message.body.clone(),
            message_sid: message.sid.clone(),
            request_id: message.request_id.clone(),
        }))
    }

    /// Whether the message is the pending code of the extra number it came
    /// from; then the number is verified. Any other text is an ordinary
    /// message, whatever its shape.
    async fn confirms_verification(&self, message: &InboundMessage, number: &PhoneNumber) -> Result<bool, StoreError> {
        let Ok(code) = VerificationCode::parse(&message.body) else {
            return Ok(false);
        };
        let Some(pending) = self.verifications.pending_for_number(number).await? else {
            return Ok(false);
        };
        if pending.check(&code, chrono::Utc::now()) != Check::Confirmed {
            return Ok(false);
        }
        Ok(self.verifications.confirm(pending.phone_id).await?.is_some())
    }

    /// Asks the agent. Without deferral, waits for its answer up to its
    /// deadline. With it, waits up to the budget: past that, hands back the
    /// answer still to come.
    async fn ask_agent(
        &self,
        request: AgentRequest,
        settings: &Settings,
    ) -> Either<Decision, (AgentRequest, PendingAnswer)> {
        let user_id = request.user_id;
        let Some(deferral) = self.timing.deferral else {
            let answer = self.timed_ask(request, self.timing.agent_timeout).await;
            return Either::Left(Decision::of_answer(answer, user_id, settings));
        };
        let this = self.clone();
        let question = request.clone();
        let pending: PendingAnswer = Box::pin(async move { this.timed_ask(question, deferral.agent_timeout).await });
        match select(pending, pin!(self.scheduler.sleep(deferral.budget))).await {
            Either::Left((answer, _)) => Either::Left(Decision::of_answer(answer, user_id, settings)),
            Either::Right(((), pending)) => Either::Right((request, pending)),
        }
    }

    async fn timed_ask(&self, request: AgentRequest, deadline: Duration) -> Result<String, AgentError> {
        let asked = Instant::now();
        let answer = self.agent.ask(request, deadline).await;
        self.metrics.agent_call(asked.elapsed(), answer.is_ok());
        if let Err(e) = &answer {
            self.metrics.error(match e {
                AgentError::Timeout => "agent_timeout",
                AgentError::Unreachable(_) => "agent_unreachable",
                AgentError::Status(_) => "agent_status",
                AgentError::InvalidReply(_) => "agent_invalid_reply",
            });
        }
        answer
    }

    /// Waits for the agent in the background, then puts its reply (or
    /// `error_reply`) into the outbox and settles the message's log row.
    fn defer(
        &self,
        claim: ClaimId,
        message: InboundMessage,
        settings: Settings,
        user_id: UserId,
        pending: PendingAnswer,
        started: Instant,
    ) {
        let this = self.clone();
        self.scheduler.spawn(async move {
            let decision = Decision::of_answer(pending.await, user_id, &settings);
            let outcome = decision.outcome;
            match this.send_later(claim, &message, &settings, decision, started).await {
                Ok(()) => this.metrics.message(outcome),
                Err(e) => {
                    // The row stays `processing` and becomes `interrupted`,
                    // with its reason, when the service next starts.
                    this.metrics.error("store");
                    tracing::error!(error = %e, sid = %message.sid, "cannot queue a late reply");
                }
            }
        });
    }

    async fn send_later(
        &self,
        claim: ClaimId,
        message: &InboundMessage,
        settings: &Settings,
        decision: Decision,
        started: Instant,
    ) -> Result<(), StoreError> {
        let reply = Reply::compose(&decision.text, settings.max_reply_messages);
        if let Some(number) = message.from.number() {
            let items = reply
                .messages()
                .iter()
                .map(|body| NewOutboxItem {
                    user_id: decision.user_id,
                    to: number.clone(),
                    body: body.clone(),
                    outcome: decision.outcome,
                })
                .collect();
            // Queued before the row is settled: a crash in between loses no reply.
            self.outbox.enqueue(items).await?;
        }
        self.log
            .settle(claim, inbound_record(message, &decision, started, true), Vec::new())
            .await?;
        tracing::info!(
            outcome = decision.outcome.name(),
            error = decision.error.as_deref(),
            "late reply queued"
        );
        Ok(())
    }
}

/// The inbound log row of a decided message.
fn inbound_record(message: &InboundMessage, decision: &Decision, started: Instant, deferred: bool) -> InboundRecord {
    InboundRecord {
        outcome: decision.outcome,
        user_id: decision.user_id,
        error: decision.error.clone(),
        processing_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        to: message.to.clone(),
        num_media: message.num_media,
        request_id: message.request_id.clone(),
        deferred,
    }
}
