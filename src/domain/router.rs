//! The routing use case: claim → facts → policy → agent (or defer) → settle.
//! It orchestrates only: the policy decides, the ports read and write. A
//! failure never strands a message: before the agent is asked the claim is
//! released, so a retry is handled as new; after, the answer is kept in
//! memory for the retry, which records and sends it without a second agent
//! call.

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{Either, select};

use super::keyword::Keyword;
use super::message::{InboundMessage, MessageSid};
use super::phone::PhoneNumber;
use super::policy::{self, Answer, Facts, FirstLook, Verdict};
use super::reply::Reply;
use super::settings::Settings;
use super::usage::{InboundClaim, InboundRecord, OutboundRecord, Outcome, TextShape};
use super::user::{AgentEndpoint, NumberSource, PhoneId, UserId};
use super::verification::VerificationCode;
use crate::ports::{
    Agent, AgentError, AgentReply, AgentRequest, Claim, ClaimId, Clock, CodeAttempt, Flight, Interrupted, KeptReply,
    Metrics, NewOutboxItem, RateLimiter, RecentReplies, RouterStore, Settled, StoreError, Unfinished, Waited,
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

/// What the claim came to.
enum Claimed {
    /// This delivery answers the message with this claim; `true`: the
    /// message was interrupted, decided again.
    Lead(ClaimId, bool),
    /// The message was answered before: the same answer.
    Again(Reply),
}

/// What is to be done once the facts are known.
enum Step {
    Answered(Answer),
    Ask(AgentRequest),
}

/// When the agent's answer came.
enum Asked {
    /// In time for the webhook's answer.
    InTime(Answer),
    /// After the webhook was answered empty: it goes through the outbox.
    Late(Answer),
}

impl<S: RouterStore, A: Agent> Router<S, A> {
    /// Handles one inbound message and calls `respond`, once, with the
    /// webhook's answer: the reply once its log rows are committed, or a
    /// store error after which a retry is handled as new or gets the answer
    /// kept for it. When the agent is slower than the budget, `respond` gets
    /// an empty reply and this returns only once the late reply is queued.
    #[tracing::instrument(skip_all, fields(sid = %message.sid, from = %message.from.masked()))]
    pub async fn handle(&self, message: InboundMessage, respond: impl FnOnce(WebhookAnswer) + Send) {
        let mut respond = Some(respond);
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
        if let Some(respond) = respond.take() {
            respond(answer);
        }
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
                Reply::compose(&settings.error_reply, settings.max_reply_messages)
                    .messages()
                    .to_vec()
            }
            None => Vec::new(),
        };
        self.store.interrupt_unfinished(notice).await
    }

    async fn answer(
        &self,
        message: &InboundMessage,
        respond: &mut Option<impl FnOnce(WebhookAnswer) + Send>,
    ) -> WebhookAnswer {
        let started = self.clock.instant();
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
            }) => return self.finish(lead, message, claim, answer, started).await,
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
                Asked::InTime(answer) => answer,
                Asked::Late(answer) => {
                    self.send_later(claim, message, answer, &settings, started).await;
                    return Ok(Reply::empty());
                }
            },
        };
        self.settle(lead, message, claim, answer, &settings, started).await
    }

    /// Claims the message in the store. Seen before, it gets the answer it
    /// got then; being answered by another instance, its answer is waited
    /// for (the store asked again now and then), as long as a duplicate
    /// waits; then Twilio is asked to try again.
    async fn claim(&self, message: &InboundMessage) -> Result<Claimed, NotNow> {
        let claim = InboundClaim::of(message);
        let give_up_at = self.clock.instant() + self.timing.duplicate_wait();
        loop {
            match self.store.claim(&claim).await? {
                Claim::New(claim) => return Ok(Claimed::Lead(claim, false)),
                Claim::Interrupted(claim) => return Ok(Claimed::Lead(claim, true)),
                Claim::Answered(answered) => {
                    let settings = self.store.current().await?;
                    tracing::info!(
                        outcome = answered.outcome.name(),
                        "message answered before: the same answer again"
                    );
                    return Ok(Claimed::Again(policy::answer_again(&answered, &settings)));
                }
                Claim::Open if self.clock.instant() < give_up_at => self.clock.sleep(ASK_AGAIN_EVERY).await,
                Claim::Open => return Err(NotNow::StillAnswered),
            }
        }
    }

    /// Leads the message, or answers it as a duplicate: a follower gets the
    /// leader's reply, and when the leader failed, leads in its place or
    /// follows whoever does.
    async fn join<'a>(&'a self, sid: &'a MessageSid) -> Joined<'a> {
        for _ in 0..MAX_TAKEOVERS {
            let wait = match self.recent.join(sid) {
                Flight::Lead(unfinished) => {
                    return Joined::Lead(Lead {
                        recent: self.recent.as_ref(),
                        sid,
                        unfinished,
                        done: false,
                    });
                }
                Flight::Follow(wait) => wait,
            };
            match wait.await {
                Waited::Replied(reply) => return Joined::Duplicate(reply),
                // Still being answered, past the wait: the empty answer.
                Waited::TimedOut => return Joined::Duplicate(Reply::empty()),
                Waited::LeaderFailed => {}
            }
        }
        Joined::Duplicate(Reply::empty())
    }

    fn duplicate(&self, reply: Reply) -> Reply {
        self.metrics.message(Outcome::Duplicate);
        tracing::info!(outcome = "duplicate", "message seen before: no second agent call");
        reply
    }

    /// Reads what the policy needs, asks it, and does what its verdict
    /// calls for before the answer: records an opt-out or its end, or
    /// verifies a number.
    ///
    /// # Errors
    /// `StoreError` when a read or a write fails; nothing is answered then.
    async fn decide(&self, message: &InboundMessage) -> Result<(Settings, Step), StoreError> {
        let settings = self.store.current().await?;
        let number = message.from.number();
        let mut facts = Facts {
            keyword: Keyword::of_message(&message.body, message.opt_out_type),
            ..Facts::default()
        };
        if let Some(number) = number {
            facts.opted_out = self.store.is_opted_out(number).await?;
            facts.recipient = self.store.recipient(number).await?;
            // Only extra numbers have codes pending: no other sender's text
            // costs a read of the store.
            if facts
                .recipient
                .as_ref()
                .is_some_and(|r| r.source == NumberSource::Mapping)
            {
                facts.code_for = self.code_for(number, &message.body).await?;
            }
        }
        let mut verdict = match policy::first_look(&facts, &settings) {
            FirstLook::Decided(verdict) => verdict,
            FirstLook::UnlessLimited(rest) => rest.decide(!self.limiter.try_acquire(message.from.as_str()).await?),
        };
        if let Verdict::Verify { phone, .. } = verdict
            && !self.try_code(phone, &message.body).await?
        {
            // Not the right code, or no longer good: an ordinary message,
            // whose rate-limit token is already taken.
            facts.code_for = None;
            verdict = policy::decide(&facts, &settings, || false);
        }
        let verdict = match (verdict, number) {
            (Verdict::OptOut, Some(number)) => {
                self.store.opt_out(number).await?;
                verdict
            }
            (Verdict::OptIn, Some(number)) => {
                self.store.opt_in(number).await?;
                verdict
            }
            (Verdict::Route(user_id), Some(number)) => {
                let endpoint = facts.recipient.and_then(|r| r.agent);
                return Ok((settings, Step::Ask(agent_request(message, user_id, number, endpoint))));
            }
            // A sender that is not a number has no opt-out to record and
            // no owner: nothing routes it.
            _ => verdict,
        };
        let answer = Answer::of_verdict(verdict, &settings);
        Ok((settings, Step::Answered(answer)))
    }

    /// The extra number with a code pending, when the text is a code: the
    /// policy then decides whether it is tried.
    async fn code_for(&self, number: &PhoneNumber, text: &str) -> Result<Option<PhoneId>, StoreError> {
        if VerificationCode::parse(text).is_err() {
            return Ok(None);
        }
        let pending = self.store.pending_for_number(number).await?;
        Ok(pending.map(|pending| pending.phone_id))
    }

    /// Tries the text as the number's code; answers whether it verified
    /// the number. A wrong code counts as one attempt.
    async fn try_code(&self, phone: PhoneId, text: &str) -> Result<bool, StoreError> {
        let Ok(code) = VerificationCode::parse(text) else {
            return Ok(false);
        };
        let attempt = self.store.try_code(phone, &code, self.clock.now()).await?;
        tracing::info!(attempt = attempt.name(), "a verification code was texted");
        Ok(matches!(attempt, CodeAttempt::Verified(_)))
    }

    /// Asks the agent. With deferral, once the budget is spent the webhook
    /// is answered empty and the answer awaited up to the later deadline.
    async fn ask_agent(
        &self,
        claim: ClaimId,
        request: AgentRequest,
        settings: &Settings,
        lead: &mut Lead<'_>,
        respond: &mut Option<impl FnOnce(WebhookAnswer) + Send>,
    ) -> Asked {
        let user = request.user_id;
        let Some(deferral) = self.timing.deferral else {
            let answer = self.timed_ask(request, self.timing.agent_timeout).await;
            return Asked::InTime(Answer::of_agent(answer, user, settings));
        };
        let mut asking = pin!(self.timed_ask(request, deferral.agent_timeout));
        if let Either::Left((answer, _)) = select(asking.as_mut(), self.clock.sleep(deferral.budget)).await {
            return Asked::InTime(Answer::of_agent(answer, user, settings));
        }
        // Noted before the empty answer, so that a crash from here on tells
        // the sender through the outbox.
        if let Err(e) = self.store.defer(claim).await {
            tracing::warn!(error = %e, "cannot note the message as deferred");
        }
        lead.settle(Settled::Replied(Reply::empty()));
        if let Some(respond) = respond.take() {
            respond(Ok(Reply::empty()));
        }
        tracing::info!("the agent is slow: answered empty, its reply will be sent later");
        Asked::Late(Answer::of_agent(asking.await, user, settings))
    }

    async fn timed_ask(&self, request: AgentRequest, deadline: Duration) -> Result<AgentReply, AgentError> {
        let asked = self.clock.instant();
        let answer = self.agent.ask(request, deadline).await;
        self.metrics
            .agent_call(since(asked, self.clock.instant()), answer.is_ok());
        if let Err(e) = &answer {
            self.metrics.error(match e {
                AgentError::Timeout => "agent_timeout",
                AgentError::Unreachable(_) => "agent_unreachable",
                AgentError::Status(_) => "agent_status",
                AgentError::InvalidReply { .. } => "agent_invalid_reply",
            });
        }
        answer
    }

    /// Records the answer, then hands back the reply. When it cannot be
    /// recorded, it is kept for the retry.
    async fn settle(
        &self,
        mut lead: Lead<'_>,
        message: &InboundMessage,
        claim: ClaimId,
        answer: Answer,
        settings: &Settings,
        started: Instant,
    ) -> WebhookAnswer {
        let reply = Reply::with_media(&answer.text, &answer.media, settings.max_reply_messages);
        let record = self.record(message, &answer, started, false);
        let replies = outbound_records(&reply, answer.user_id, message);
        // The agent's reply is kept for a retry whose answer is lost; the
        // service's own texts follow from the outcome.
        let kept = (answer.outcome == Outcome::Routed && !reply.is_empty()).then(|| KeptReply {
            reply: reply.clone(),
            until: self.clock.now() + KEEP_REPLY_FOR,
        });
        let stands = match self.store.settle(claim, record, replies, kept).await {
            Ok(stands) => stands,
            Err(e) => {
                lead.keep(claim, Some(answer));
                return Err(e.into());
            }
        };
        if !stands {
            // Taken over meanwhile, and its sender told by another delivery.
            lead.settle(Settled::Replied(Reply::empty()));
            tracing::warn!("the message was taken over and its sender told meanwhile: not answered again");
            return Ok(self.duplicate(Reply::empty()));
        }
        lead.settle(Settled::Replied(reply.clone()));
        self.metrics.message(answer.outcome);
        tracing::info!(
            outcome = answer.outcome.name(),
            user_id = answer.user_id.map(|u| u.0),
            error = answer.error.as_deref(),
            messages = reply.messages().len(),
            "message answered"
        );
        tracing::debug!(body = %message.body, "message text");
        Ok(reply)
    }

    /// A retry of a message whose answer could not be recorded: records and
    /// sends that answer, asking the agent nothing.
    async fn finish(
        &self,
        mut lead: Lead<'_>,
        message: &InboundMessage,
        claim: ClaimId,
        answer: Answer,
        started: Instant,
    ) -> WebhookAnswer {
        tracing::info!("a retry finishes what its first delivery could not record");
        let settings = match self.store.current().await {
            Ok(settings) => settings,
            Err(e) => {
                lead.keep(claim, Some(answer));
                return Err(e.into());
            }
        };
        self.settle(lead, message, claim, answer, &settings, started).await
    }

    /// Gives the claim up after a failure before the agent was asked; when
    /// even that fails, the claim is kept for the retry.
    async fn release(&self, mut lead: Lead<'_>, claim: ClaimId) {
        match self.store.release(claim).await {
            Ok(()) => lead.settle(Settled::Abandoned),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the claim: a retry in this process takes it over");
                lead.keep(claim, None);
            }
        }
    }

    /// Queues the late reply (or `error_reply`) and settles the message,
    /// trying again for a while when the store fails. Given up, the message
    /// stays claimed and its sender is told at the next start.
    async fn send_later(
        &self,
        claim: ClaimId,
        message: &InboundMessage,
        answer: Answer,
        settings: &Settings,
        started: Instant,
    ) {
        let reply = Reply::with_media(&answer.text, &answer.media, settings.max_reply_messages);
        let items: Vec<NewOutboxItem> = match message.from.number() {
            Some(number) => reply
                .messages()
                .iter()
                .enumerate()
                .map(|(n, body)| NewOutboxItem {
                    user_id: answer.user_id,
                    to: number.clone(),
                    body: body.clone(),
                    // The files go with the first message, as in TwiML.
                    media: if n == 0 { reply.media().to_vec() } else { Vec::new() },
                    outcome: answer.outcome,
                })
                .collect(),
            None => Vec::new(),
        };
        let record = self.record(message, &answer, started, true);
        let mut pause = Duration::from_millis(500);
        for attempt in 1..=LATE_REPLY_ATTEMPTS {
            match self.store.settle_deferred(claim, record.clone(), items.clone()).await {
                Ok(()) => {
                    self.metrics.message(answer.outcome);
                    tracing::info!(
                        outcome = answer.outcome.name(),
                        error = answer.error.as_deref(),
                        "late reply queued"
                    );
                    return;
                }
                Err(e) => {
                    self.metrics.error("store");
                    tracing::warn!(error = %e, attempt, "cannot queue a late reply yet");
                }
            }
            if attempt < LATE_REPLY_ATTEMPTS {
                self.clock.sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
        }
        tracing::error!("cannot queue a late reply: its sender is told at the next start");
    }

    /// A retry of a message the policy routes, whose process stopped before
    /// answering it: `error_reply`, once, without asking the agent (it may
    /// have acted on the message).
    async fn tell_interrupted(
        &self,
        mut lead: Lead<'_>,
        message: &InboundMessage,
        claim: ClaimId,
        settings: &Settings,
    ) -> WebhookAnswer {
        let notice = Reply::compose(&settings.error_reply, settings.max_reply_messages);
        let told = self
            .store
            .tell_interrupted(claim, outbound_records(&notice, None, message))
            .await?;
        // Told once: later duplicates get the empty answer, as they would
        // from the store.
        lead.settle(Settled::Replied(Reply::empty()));
        if !told {
            return Ok(self.duplicate(Reply::empty()));
        }
        self.metrics.message(Outcome::Interrupted);
        tracing::info!(
            outcome = Outcome::Interrupted.name(),
            "a message the last run left unanswered: the sender is asked to try again"
        );
        Ok(notice)
    }

    /// The inbound log row of an answered message.
    fn record(&self, message: &InboundMessage, answer: &Answer, started: Instant, deferred: bool) -> InboundRecord {
        InboundRecord {
            outcome: answer.outcome,
            user_id: answer.user_id,
            error: answer.error.clone(),
            processing_ms: u64::try_from(since(started, self.clock.instant()).as_millis()).unwrap_or(u64::MAX),
            to: message.to.clone(),
            num_media: message.num_media,
            request_id: message.request_id.clone(),
            deferred,
        }
    }
}

/// What `join` found: the lead, or the answer of a duplicate.
enum Joined<'a> {
    Lead(Lead<'a>),
    Duplicate(Reply),
}

/// The lead on a message: settled exactly once, and abandoned when dropped
/// unsettled (a panic, a cancelled task), so that followers never wait for
/// a reply that will not come.
struct Lead<'a> {
    recent: &'a dyn RecentReplies,
    sid: &'a MessageSid,
    unfinished: Option<Unfinished>,
    done: bool,
}

impl Lead<'_> {
    fn settle(&mut self, settled: Settled) {
        if !self.done {
            self.recent.settle(self.sid, settled);
            self.done = true;
        }
    }

    /// Leaves the claim, and the answer if there is one, to the retry.
    fn keep(&mut self, claim: ClaimId, answer: Option<Answer>) {
        self.settle(Settled::Unfinished(Unfinished { claim, answer }));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.settle(Settled::Abandoned);
    }
}

fn agent_request(
    message: &InboundMessage,
    user_id: UserId,
    number: &PhoneNumber,
    endpoint: Option<AgentEndpoint>,
) -> AgentRequest {
    AgentRequest {
        user_id,
        phone_number: number.clone(),
        message: message.body.clone(),
        media: message.media.clone(),
        endpoint,
        message_sid: message.sid.clone(),
        request_id: message.request_id.clone(),
    }
}

/// One outbound row for each message of a reply.
fn outbound_records(reply: &Reply, user_id: Option<UserId>, message: &InboundMessage) -> Vec<OutboundRecord> {
    reply
        .messages()
        .iter()
        .enumerate()
        .map(|(n, m)| OutboundRecord {
            user_id,
            to: message.from.clone(),
            shape: TextShape::of(m),
            media: if n == 0 {
                u32::try_from(reply.media().len()).unwrap_or(u32::MAX)
            } else {
                0
            },
        })
        .collect()
}

fn since(earlier: Instant, now: Instant) -> Duration {
    now.saturating_duration_since(earlier)
}
