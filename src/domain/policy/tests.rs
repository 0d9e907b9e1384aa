//! Unit tests of `policy`.
//!
//! Over 300 lines: a test per rule of the policy, each keyword and outcome.

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
