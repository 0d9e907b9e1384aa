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
        outcome => Reply::compose(own_text(outcome, settings), settings.max_reply_messages),
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
mod tests {
    use std::cell::Cell;

    use super::*;

    const ADA: UserId = UserId(1);
    const PHONE: PhoneId = PhoneId(9);

    fn owner(source: NumberSource, is_active: bool, verified: bool) -> Option<Recipient> {
        Some(Recipient {
            user_id: ADA,
            is_active,
            source,
            verified,
            agent: None,
        })
    }

    fn primary() -> Option<Recipient> {
        owner(NumberSource::Primary, true, true)
    }

    fn unverified_extra() -> Option<Recipient> {
        owner(NumberSource::Mapping, true, false)
    }

    struct Row {
        rule: &'static str,
        facts: Facts,
        require_verified: bool,
        limited: bool,
        verdict: Verdict,
        /// Whether the message reaches the rate limit (and so takes a token).
        counted: bool,
    }

    fn row(rule: &'static str, facts: Facts, limited: bool, verdict: Verdict, counted: bool) -> Row {
        Row {
            rule,
            facts,
            require_verified: false,
            limited,
            verdict,
            counted,
        }
    }

    fn stop() -> Option<Keyword> {
        Some(Keyword::Stop)
    }

    /// One row per rule of DESIGN's precedence, each against the facts that
    /// would let a lower rule win.
    fn table() -> Vec<Row> {
        let opted_out_owner = Facts {
            opted_out: true,
            recipient: primary(),
            ..Facts::default()
        };
        vec![
            row(
                "STOP is recorded, even when opted out and limited",
                Facts {
                    keyword: stop(),
                    ..opted_out_owner.clone()
                },
                true,
                Verdict::OptOut,
                false,
            ),
            row(
                "STOP from nobody's number",
                Facts {
                    keyword: stop(),
                    ..Facts::default()
                },
                true,
                Verdict::OptOut,
                false,
            ),
            row(
                "START lifts an opt-out",
                Facts {
                    keyword: Some(Keyword::Start),
                    ..opted_out_owner.clone()
                },
                true,
                Verdict::OptIn,
                false,
            ),
            row(
                "HELP is answered even when opted out and limited",
                Facts {
                    keyword: Some(Keyword::Help),
                    ..opted_out_owner.clone()
                },
                true,
                Verdict::Help,
                false,
            ),
            row(
                "HELP from a stranger",
                Facts {
                    keyword: Some(Keyword::Help),
                    ..Facts::default()
                },
                false,
                Verdict::Help,
                false,
            ),
            row(
                "an opted-out number takes no token",
                opted_out_owner.clone(),
                true,
                Verdict::OptedOut,
                false,
            ),
            row(
                "over the limit before anything about the owner",
                Facts {
                    recipient: primary(),
                    ..Facts::default()
                },
                true,
                Verdict::RateLimited,
                true,
            ),
            row(
                "a stranger over the limit",
                Facts::default(),
                true,
                Verdict::RateLimited,
                true,
            ),
            row("nobody's number", Facts::default(), false, Verdict::UnknownUser, true),
            row(
                "a code for nobody's number is just text",
                Facts {
                    code_for: Some(PHONE),
                    ..Facts::default()
                },
                false,
                Verdict::UnknownUser,
                true,
            ),
            row(
                "an extra number's code verifies it",
                Facts {
                    recipient: owner(NumberSource::Mapping, false, false),
                    code_for: Some(PHONE),
                    ..Facts::default()
                },
                false,
                Verdict::Verify {
                    user: ADA,
                    phone: PHONE,
                },
                true,
            ),
            row(
                "a code from a primary number is just text",
                Facts {
                    recipient: primary(),
                    code_for: Some(PHONE),
                    ..Facts::default()
                },
                false,
                Verdict::Route(ADA),
                true,
            ),
            Row {
                require_verified: true,
                ..row(
                    "an unverified extra number when verification is required",
                    Facts {
                        recipient: unverified_extra(),
                        ..Facts::default()
                    },
                    false,
                    Verdict::UnknownUser,
                    true,
                )
            },
            Row {
                require_verified: true,
                ..row(
                    "its code still verifies it",
                    Facts {
                        recipient: unverified_extra(),
                        code_for: Some(PHONE),
                        ..Facts::default()
                    },
                    false,
                    Verdict::Verify {
                        user: ADA,
                        phone: PHONE,
                    },
                    true,
                )
            },
            row(
                "an unverified extra number when it is not",
                Facts {
                    recipient: unverified_extra(),
                    ..Facts::default()
                },
                false,
                Verdict::Route(ADA),
                true,
            ),
            Row {
                require_verified: true,
                ..row(
                    "an inactive owner's verified number",
                    Facts {
                        recipient: owner(NumberSource::Mapping, false, true),
                        ..Facts::default()
                    },
                    false,
                    Verdict::InactiveUser(ADA),
                    true,
                )
            },
            Row {
                require_verified: true,
                ..row(
                    "an inactive owner's unverified number is unknown first",
                    Facts {
                        recipient: owner(NumberSource::Mapping, false, false),
                        ..Facts::default()
                    },
                    false,
                    Verdict::UnknownUser,
                    true,
                )
            },
            row(
                "an inactive owner",
                Facts {
                    recipient: owner(NumberSource::Primary, false, true),
                    ..Facts::default()
                },
                false,
                Verdict::InactiveUser(ADA),
                true,
            ),
            row(
                "an active owner is routed",
                Facts {
                    recipient: primary(),
                    ..Facts::default()
                },
                false,
                Verdict::Route(ADA),
                true,
            ),
        ]
    }

    #[test]
    fn every_rule_of_the_precedence() {
        for row in table() {
            let settings = Settings {
                require_verified_numbers: row.require_verified,
                ..Settings::default()
            };
            let asked = Cell::new(false);
            let verdict = decide(&row.facts, &settings, || {
                asked.set(true);
                row.limited
            });
            assert_eq!(verdict, row.verdict, "{}", row.rule);
            assert_eq!(asked.get(), row.counted, "{}: the rate limit asked", row.rule);
        }
    }

    #[test]
    fn each_verdict_answers_with_its_setting() {
        let settings = Settings::default();
        let answer = |verdict| Answer::of_verdict(verdict, &settings);
        assert_eq!(answer(Verdict::Help).text, settings.help_reply);
        assert_eq!(answer(Verdict::UnknownUser).text, settings.unknown_user_reply);
        assert_eq!(answer(Verdict::InactiveUser(ADA)).text, settings.inactive_user_reply);
        assert_eq!(answer(Verdict::InactiveUser(ADA)).user_id, Some(ADA));
        assert_eq!(
            answer(Verdict::Verify {
                user: ADA,
                phone: PHONE
            })
            .outcome,
            Outcome::Verified
        );
        for silent in [Verdict::OptOut, Verdict::OptIn, Verdict::OptedOut, Verdict::RateLimited] {
            assert_eq!(answer(silent).text, "", "{silent:?}");
        }
        assert_eq!(answer(Verdict::OptOut).outcome, Outcome::OptedOut);
    }

    #[test]
    fn an_agent_that_fails_or_says_nothing_gives_error_reply() {
        let settings = Settings::default();
        let said = |text: &str| AgentReply {
            text: text.to_owned(),
            media: Vec::new(),
        };
        let routed = Answer::of_agent(Ok(said("hi")), ADA, &settings);
        assert_eq!(
            (routed.outcome, routed.text.as_str(), routed.error),
            (Outcome::Routed, "hi", None)
        );
        let picture = AgentReply {
            text: String::new(),
            media: vec![MediaLink::parse("https://example.com/cat.png").unwrap()],
        };
        let pictured = Answer::of_agent(Ok(picture), ADA, &settings);
        assert_eq!(
            (pictured.outcome, pictured.media.len()),
            (Outcome::Routed, 1),
            "files alone are a reply"
        );
        for failed in [Ok(said("  ")), Err(AgentError::Timeout), Err(AgentError::Status(500))] {
            let answer = Answer::of_agent(failed, ADA, &settings);
            assert_eq!(
                (answer.outcome, answer.text.as_str()),
                (Outcome::AgentError, settings.error_reply.as_str())
            );
            assert!(answer.error.is_some());
        }
    }
}
