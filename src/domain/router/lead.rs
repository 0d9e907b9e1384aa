//! Leading a message: claiming it, answering it as a duplicate, and
//! settling it exactly once, whatever fails.

use super::{ASK_AGAIN_EVERY, KEEP_REPLY_FOR, MAX_TAKEOVERS, NotNow, Router, Spent, WebhookAnswer};
use crate::domain::message::{InboundMessage, MessageSid};
use crate::domain::policy::{self, Answer};
use crate::domain::reply::Reply;
use crate::domain::settings::Settings;
use crate::domain::usage::{InboundClaim, OutboundRecord, Outcome, TextShape};
use crate::domain::user::UserId;
use crate::ports::{Agent, Claim, ClaimId, Flight, KeptReply, RecentReplies, RouterStore, Settled, Unfinished, Waited};

/// What the claim came to.
pub(super) enum Claimed {
    /// This delivery answers the message with this claim; `true`: the
    /// message was interrupted, decided again.
    Lead(ClaimId, bool),
    /// The message was answered before: the same answer.
    Again(Reply),
}

impl<S: RouterStore, A: Agent> Router<S, A> {
    /// Claims the message in the store. Seen before, it gets the answer it
    /// got then; being answered by another instance, its answer is waited
    /// for (the store asked again now and then), as long as a duplicate
    /// waits; then Twilio is asked to try again.
    pub(super) async fn claim(&self, message: &InboundMessage) -> Result<Claimed, NotNow> {
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
    pub(super) async fn join<'a>(&'a self, sid: &'a MessageSid) -> Joined<'a> {
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

    pub(super) fn duplicate(&self, reply: Reply) -> Reply {
        self.metrics.message(Outcome::Duplicate);
        tracing::info!(outcome = "duplicate", "message seen before: no second agent call");
        reply
    }

    /// Records the answer, then hands back the reply. When it cannot be
    /// recorded, it is kept for the retry.
    pub(super) async fn settle(
        &self,
        mut lead: Lead<'_>,
        message: &InboundMessage,
        claim: ClaimId,
        answer: Answer,
        settings: &Settings,
        spent: Spent,
    ) -> WebhookAnswer {
        let reply = Reply::with_media(&answer.text, &answer.media, settings.reply_budget());
        let record = self.record(message, &answer, spent, false);
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
    pub(super) async fn finish(
        &self,
        mut lead: Lead<'_>,
        message: &InboundMessage,
        claim: ClaimId,
        answer: Answer,
        spent: Spent,
    ) -> WebhookAnswer {
        tracing::info!("a retry finishes what its first delivery could not record");
        let settings = match self.store.current().await {
            Ok(settings) => settings,
            Err(e) => {
                lead.keep(claim, Some(answer));
                return Err(e.into());
            }
        };
        self.settle(lead, message, claim, answer, &settings, spent).await
    }

    /// Gives the claim up after a failure before the agent was asked; when
    /// even that fails, the claim is kept for the retry.
    pub(super) async fn release(&self, mut lead: Lead<'_>, claim: ClaimId) {
        match self.store.release(claim).await {
            Ok(()) => lead.settle(Settled::Abandoned),
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the claim: a retry in this process takes it over");
                lead.keep(claim, None);
            }
        }
    }

    /// A retry of a message the policy routes, whose process stopped before
    /// answering it: `error_reply`, once, without asking the agent (it may
    /// have acted on the message).
    pub(super) async fn tell_interrupted(
        &self,
        mut lead: Lead<'_>,
        message: &InboundMessage,
        claim: ClaimId,
        settings: &Settings,
    ) -> WebhookAnswer {
        let notice = Reply::compose(&settings.error_reply, settings.reply_budget());
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
}

/// What `join` found: the lead, or the answer of a duplicate.
pub(super) enum Joined<'a> {
    Lead(Lead<'a>),
    Duplicate(Reply),
}

/// The lead on a message: settled exactly once, and abandoned when dropped
/// unsettled (a panic, a cancelled task), so that followers never wait for
/// a reply that will not come.
pub(super) struct Lead<'a> {
    recent: &'a dyn RecentReplies,
    sid: &'a MessageSid,
    pub(super) unfinished: Option<Unfinished>,
    done: bool,
}

impl Lead<'_> {
    pub(super) fn settle(&mut self, settled: Settled) {
        if !self.done {
            self.recent.settle(self.sid, settled);
            self.done = true;
        }
    }

    /// Leaves the claim, and the answer if there is one, to the retry.
    pub(super) fn keep(&mut self, claim: ClaimId, answer: Option<Answer>) {
        self.settle(Settled::Unfinished(Unfinished { claim, answer }));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.settle(Settled::Abandoned);
    }
}

/// One outbound row for each message of a reply.
pub(super) fn outbound_records(
    reply: &Reply,
    user_id: Option<UserId>,
    message: &InboundMessage,
) -> Vec<OutboundRecord> {
    reply
        .parts()
        .map(|(text, media)| OutboundRecord {
            user_id,
            to: message.from.clone(),
            shape: TextShape::of(text),
            media: u32::try_from(media.len()).unwrap_or(u32::MAX),
        })
        .collect()
}
