//! Asking the agent, and replying later through the outbox when it is
//! slower than the webhook may wait.

use std::pin::pin;
use std::time::Duration;

use futures_util::future::{Either, select};

use super::lead::Lead;
use super::{LATE_REPLY_ATTEMPTS, Respond, Router, Spent, since};
use crate::domain::message::InboundMessage;
use crate::domain::policy::Answer;
use crate::domain::reply::Reply;
use crate::domain::settings::Settings;
use crate::ports::{Agent, AgentError, AgentReply, AgentRequest, ClaimId, NewOutboxItem, RouterStore, Settled};

/// When the agent's answer came.
pub(super) enum Asked {
    /// In time for the webhook's answer, after waiting this long.
    InTime(Answer, Duration),
    /// After the webhook was answered empty: it goes through the outbox.
    Late(Answer, Duration),
}

impl<S: RouterStore, A: Agent> Router<S, A> {
    /// Asks the agent. With deferral, once the budget is spent the webhook
    /// is answered empty and the answer awaited up to the later deadline.
    pub(super) async fn ask_agent(
        &self,
        claim: ClaimId,
        request: AgentRequest,
        settings: &Settings,
        lead: &mut Lead<'_>,
        respond: &mut Respond,
    ) -> Asked {
        let user = request.user_id;
        let asked = self.clock.instant();
        let waited = || since(asked, self.clock.instant());
        let Some(deferral) = self.timing.deferral else {
            let answer = self.timed_ask(request, self.timing.agent_timeout).await;
            return Asked::InTime(Answer::of_agent(answer, user, settings), waited());
        };
        let mut asking = pin!(self.timed_ask(request, deferral.agent_timeout));
        if let Either::Left((answer, _)) = select(asking.as_mut(), self.clock.sleep(deferral.budget)).await {
            return Asked::InTime(Answer::of_agent(answer, user, settings), waited());
        }
        // Noted before the empty answer, so that a crash from here on tells
        // the sender through the outbox.
        if let Err(e) = self.store.defer(claim).await {
            tracing::warn!(error = %e, "cannot note the message as deferred");
        }
        lead.settle(Settled::Replied(Reply::empty()));
        respond.give(Ok(Reply::empty()));
        tracing::info!("the agent is slow: answered empty, its reply will be sent later");
        let answer = asking.await;
        Asked::Late(Answer::of_agent(answer, user, settings), waited())
    }

    pub(super) async fn timed_ask(&self, request: AgentRequest, deadline: Duration) -> Result<AgentReply, AgentError> {
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

    /// Queues the late reply (or `error_reply`) and settles the message,
    /// trying again for a while when the store fails. Given up, the message
    /// stays claimed and its sender is told at the next start.
    pub(super) async fn send_later(
        &self,
        claim: ClaimId,
        message: &InboundMessage,
        answer: Answer,
        settings: &Settings,
        spent: Spent,
    ) {
        let reply = Reply::with_media(&answer.text, &answer.media, settings.reply_budget());
        let items: Vec<NewOutboxItem> = match message.from.number() {
            Some(number) => reply
                .parts()
                .map(|(body, media)| NewOutboxItem {
                    user_id: answer.user_id,
                    to: number.clone(),
                    body: body.to_owned(),
                    media: media.to_vec(),
                    outcome: answer.outcome,
                    request_id: Some(message.request_id.clone()),
                    in_reply_to: Some(message.sid.clone()),
                })
                .collect(),
            None => Vec::new(),
        };
        let record = self.record(message, &answer, spent, true);
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
}
