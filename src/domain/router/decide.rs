//! Deciding a message: the facts the policy needs read from the store,
//! the policy asked, and what its verdict calls for done.

use super::{Router, Step};
use crate::domain::events::AgentEvent;
use crate::domain::keyword::Keyword;
use crate::domain::message::InboundMessage;
use crate::domain::phone::PhoneNumber;
use crate::domain::policy::{self, Answer, Facts, FirstLook, Verdict};
use crate::domain::reply::ReplyBudget;
use crate::domain::settings::Settings;
use crate::domain::user::{AgentEndpoint, NumberSource, PhoneId, UserId};
use crate::domain::verification::VerificationCode;
use crate::ports::{Agent, AgentRequest, CodeAttempt, RouterStore, StoreError};

impl<S: RouterStore, A: Agent> Router<S, A> {
    /// Reads what the policy needs, asks it, and does what its verdict
    /// calls for before the answer: records an opt-out or its end, or
    /// verifies a number.
    ///
    /// # Errors
    /// `StoreError` when a read or a write fails; nothing is answered then.
    pub(super) async fn decide(&self, message: &InboundMessage) -> Result<(Settings, Step), StoreError> {
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
            (Verdict::OptOut | Verdict::OptIn, Some(number)) => {
                let opted_out = verdict == Verdict::OptOut;
                if opted_out {
                    self.store.opt_out(number).await?;
                } else {
                    self.store.opt_in(number).await?;
                }
                // Before the answer: a failure here is answered 503, and
                // Twilio's retry queues it (once: the event has its key).
                if settings.agent_events
                    && let Some(recipient) = &facts.recipient
                {
                    let event = AgentEvent::of_opt_change(opted_out, recipient.user_id, number, &message.sid);
                    self.store.queue_event(&event).await?;
                }
                verdict
            }
            (Verdict::Route(user_id), Some(number)) => {
                let endpoint = facts.recipient.and_then(|r| r.agent);
                let request = agent_request(message, user_id, number, endpoint, settings.reply_budget());
                return Ok((settings, Step::Ask(request)));
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
    pub(super) async fn code_for(&self, number: &PhoneNumber, text: &str) -> Result<Option<PhoneId>, StoreError> {
        if VerificationCode::parse(text).is_err() {
            return Ok(None);
        }
        let pending = self.store.pending_for_number(number).await?;
        Ok(pending.map(|pending| pending.phone_id))
    }

    /// Tries the text as the number's code; answers whether it verified
    /// the number. A wrong code counts as one attempt.
    pub(super) async fn try_code(&self, phone: PhoneId, text: &str) -> Result<bool, StoreError> {
        let Ok(code) = VerificationCode::parse(text) else {
            return Ok(false);
        };
        let attempt = self.store.try_code(phone, &code, self.clock.now()).await?;
        tracing::info!(attempt = attempt.name(), "a verification code was texted");
        Ok(matches!(attempt, CodeAttempt::Verified(_)))
    }
}

fn agent_request(
    message: &InboundMessage,
    user_id: UserId,
    number: &PhoneNumber,
    endpoint: Option<AgentEndpoint>,
    budget: ReplyBudget,
) -> AgentRequest {
    AgentRequest {
        user_id,
        phone_number: number.clone(),
        message: message.body.clone(),
        media: message.media.clone(),
        endpoint,
        message_sid: message.sid.clone(),
        request_id: message.request_id.clone(),
        sampled: message.sampled,
        budget,
    }
}
