//! The routing policy: the outcome a message gets, decided from what is
//! known about it, in DESIGN's order of precedence (after `duplicate`, which
//! the store's claim decides). The router asks it for every message and
//! `lookup_number` for the next ordinary one, so the two cannot disagree.
//! Pure: it reads no store, no clock, and takes a rate-limit token only
//! when a message reaches that step: through the closure `decide` is given,
//! or between `first_look` and `UnlessLimited::decide`.

use super::keyword::Keyword;
use super::message::MediaLink;
use super::reply::Reply;
use super::settings::Settings;
use super::usage::{Answered, Outcome};
use super::user::{NumberSource, PhoneId, Recipient, UserId};
use crate::ports::{AgentError, AgentReply};

/// What is known about a message when its outcome is decided.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The keyword the text is, alone (or Twilio's `OptOutType`).
    pub keyword: Option<Keyword>,
    /// Whether the sender's number opted out.
    pub opted_out: bool,
    /// Who owns the sender's number: `None` for nobody, and for a sender
    /// that is not a number.
    pub recipient: Option<Recipient>,
    /// The extra number the text came from, when the text is a 6-digit
    /// code and a code is pending for that number; whether it is the right
    /// one is decided when it is tried.
    pub code_for: Option<PhoneId>,
}

/// What the policy says is to be done with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Record the sender's opt-out and answer nothing: Twilio confirms it.
    OptOut,
    /// Remove the sender's opt-out and answer nothing.
    OptIn,
    Help,
    /// The sender opted out: answer nothing.
    OptedOut,
    RateLimited,
    UnknownUser,
    InactiveUser(UserId),
    /// Try the text as the extra number's code. When it verifies the
    /// number, this is the verdict; when not, the message is decided again
    /// as an ordinary one.
    Verify {
        user: UserId,
        phone: PhoneId,
    },
    /// The user's agent answers.
    Route(UserId),
}

/// The verdict for a message. `rate_limited` is asked only when the message
/// gets as far as the rate limit, and says whether its sender is over it.
pub fn decide(facts: &Facts, settings: &Settings, rate_limited: impl FnOnce() -> bool) -> Verdict {
    match first_look(facts, settings) {
        FirstLook::Decided(verdict) => verdict,
        FirstLook::UnlessLimited(rest) => rest.decide(rate_limited()),
    }
}

/// How far a message gets before the rate limit: decided already, or to be
/// decided once the limiter has answered. How a caller whose limiter must
/// be awaited asks the policy.
#[derive(Debug, Clone, Copy)]
pub enum FirstLook<'a> {
    Decided(Verdict),
    UnlessLimited(UnlessLimited<'a>),
}

/// A message that reached the rate limit.
#[derive(Debug, Clone, Copy)]
pub struct UnlessLimited<'a> {
    facts: &'a Facts,
    settings: &'a Settings,
}

/// The verdict as far as the rate limit.
pub fn first_look<'a>(facts: &'a Facts, settings: &'a Settings) -> FirstLook<'a> {
    match facts.keyword {
        Some(Keyword::Stop) => return FirstLook::Decided(Verdict::OptOut),
        Some(Keyword::Start) => return FirstLook::Decided(Verdict::OptIn),
        // Carriers require that HELP always gets an answer.
        Some(Keyword::Help) => return FirstLook::Decided(Verdict::Help),
        None => {}
    }
    if facts.opted_out {
        return FirstLook::Decided(Verdict::OptedOut);
    }
    FirstLook::UnlessLimited(UnlessLimited { facts, settings })
}

impl UnlessLimited<'_> {
    /// The verdict, given whether the sender is over the rate limit.
    pub fn decide(self, rate_limited: bool) -> Verdict {
        let UnlessLimited { facts, settings } = self;
        if rate_limited {
            return Verdict::RateLimited;
        }
        let Some(recipient) = &facts.recipient else {
            return Verdict::UnknownUser;
        };
        if let Some(phone) = facts.code_for
            && recipient.source == NumberSource::Mapping
        {
            return Verdict::Verify {
                user: recipient.user_id,
                phone,
            };
        }
        if settings.require_verified_numbers && !recipient.verified {
            return Verdict::UnknownUser;
        }
        if !recipient.is_active {
            return Verdict::InactiveUser(recipient.user_id);
        }
        Verdict::Route(recipient.user_id)
    }
}

/// The answer to a number verified by texting its code.
pub const VERIFIED_REPLY: &str = "Your number is verified.";

impl Verdict {
    pub fn outcome(self) -> Outcome {
        match self {
            Verdict::OptOut | Verdict::OptedOut => Outcome::OptedOut,
            Verdict::OptIn => Outcome::OptedIn,
            Verdict::Help => Outcome::Help,
            Verdict::RateLimited => Outcome::RateLimited,
            Verdict::UnknownUser => Outcome::UnknownUser,
            Verdict::InactiveUser(_) => Outcome::InactiveUser,
            Verdict::Verify { .. } => Outcome::Verified,
            Verdict::Route(_) => Outcome::Routed,
        }
    }

    /// The user the message is for, when it is known to be for one.
    pub fn user(self) -> Option<UserId> {
        match self {
            Verdict::InactiveUser(user) | Verdict::Verify { user, .. } | Verdict::Route(user) => Some(user),
            _ => None,
        }
    }
}

/// What a message gets back, before it is split into messages and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    /// The text to send back; empty for nothing.
    pub text: String,
    /// Files to send with it (from the agent).
    pub media: Vec<MediaLink>,
    pub user_id: Option<UserId>,
    /// Why the message was not answered as meant, in the service's words.
    pub error: Option<String>,
}

/// The service's own text for a message of `outcome`: empty where the
/// answer is nothing, or the agent's.
pub fn own_text(outcome: Outcome, settings: &Settings) -> &str {
    match outcome {
        Outcome::Help => &settings.help_reply,
        Outcome::UnknownUser => &settings.unknown_user_reply,
        Outcome::InactiveUser => &settings.inactive_user_reply,
        Outcome::Verified => VERIFIED_REPLY,
        Outcome::AgentError | Outcome::Interrupted => &settings.error_reply,
        Outcome::Duplicate
        | Outcome::OptedOut
        | Outcome::OptedIn
        | Outcome::RateLimited
        | Outcome::Routed
        | Outcome::Processing
        | Outcome::Proactive => "",
    }
}

/// What a retry of a message answered before gets, when the first answer
/// may have been lost on the wire: the same answer. The service's own
/// texts follow from the outcome; the agent's reply is the one kept for
/// the retry, while it is kept. A reply that went out later through the
/// outbox, and the notice of an interruption, were given once: the retry
/// gets nothing.
pub fn answer_again(answered: &Answered, settings: &Settings) -> Reply {
    if answered.deferred {
        return Reply::empty();
    }
    match answered.outcome {
        Outcome::Routed => answered.kept.clone().unwrap_or_default(),
        Outcome::Interrupted => Reply::empty(),
        outcome => Reply::compose(own_text(outcome, settings), settings.reply_budget()),
    }
}

impl Answer {
    /// The answer of a verdict the agent has no part in (not `Route`).
    pub fn of_verdict(verdict: Verdict, settings: &Settings) -> Self {
        let text = match verdict {
            Verdict::Route(_) => "",
            verdict => own_text(verdict.outcome(), settings),
        };
        Answer {
            outcome: verdict.outcome(),
            text: text.to_owned(),
            media: Vec::new(),
            user_id: verdict.user(),
            error: None,
        }
    }

    /// What the agent's answer comes to: its reply, or `error_reply` when
    /// it failed or said nothing.
    /// A reply of files alone is a reply.
    pub fn of_agent(answer: Result<AgentReply, AgentError>, user: UserId, settings: &Settings) -> Self {
        let (outcome, text, media, error) = match answer {
            Ok(reply) if !reply.text.trim().is_empty() || !reply.media.is_empty() => {
                (Outcome::Routed, reply.text, reply.media, None)
            }
            Ok(_) => (
                Outcome::AgentError,
                settings.error_reply.clone(),
                Vec::new(),
                Some("the agent's reply is empty".to_owned()),
            ),
            Err(e) => (
                Outcome::AgentError,
                settings.error_reply.clone(),
                Vec::new(),
                Some(e.to_string()),
            ),
        };
        Answer {
            outcome,
            text,
            media,
            user_id: Some(user),
            error,
        }
    }
}

#[cfg(test)]
mod tests;
