//! Unit tests of `recent_replies`.

use super::*;
use crate::domain::policy::Answer;
use crate::domain::reply::ReplyBudget;
use crate::domain::usage::Outcome;
use crate::ports::ClaimId;
use crate::testing::ManualClock;

fn sid(s: &str) -> MessageSid {
    MessageSid::parse(s).unwrap()
}

fn memo() -> (InProcessReplies, ManualClock) {
    let clock = ManualClock::new();
    (
        InProcessReplies::new(Duration::from_secs(5), Arc::new(clock.clone())),
        clock,
    )
}

fn leads(flight: &Flight) -> bool {
    matches!(flight, Flight::Lead(None))
}

#[tokio::test]
async fn followers_get_the_leaders_reply_for_ten_minutes() {
    let (memo, clock) = memo();
    assert!(leads(&memo.join(&sid("SM1"))));
    let Flight::Follow(wait) = memo.join(&sid("SM1")) else {
        panic!("second join led")
    };
    let reply = Reply::compose("hello", ReplyBudget::messages(1));
    memo.settle(&sid("SM1"), Settled::Replied(reply.clone()));
    assert_eq!(wait.await, Waited::Replied(reply.clone()));
    clock.advance(KEEP_FOR - Duration::from_secs(1));
    let Flight::Follow(later) = memo.join(&sid("SM1")) else {
        panic!("late join led")
    };
    assert_eq!(later.await, Waited::Replied(reply));
    clock.advance(Duration::from_secs(1));
    assert!(leads(&memo.join(&sid("SM1"))), "kept past ten minutes");
}

#[test]
fn replies_hold_at_most_max_reply_bytes_the_oldest_forgotten_first() {
    let (memo, _) = memo();
    let long = Reply::compose(&"x".repeat(16_000), ReplyBudget::messages(10));
    let count = MAX_REPLY_BYTES / 16_000 + 100;
    for n in 0..count {
        let sid = sid(&format!("SM{n}"));
        assert!(leads(&memo.join(&sid)));
        memo.settle(&sid, Settled::Replied(long.clone()));
    }
    let memory = memo.memory.lock().unwrap();
    assert!(memory.replies.bytes <= MAX_REPLY_BYTES, "{}", memory.replies.bytes);
    let counted: usize = memory.replies.by_sid.values().map(|e| e.bytes).sum();
    assert_eq!(counted, memory.replies.bytes);
    assert!(!memory.replies.by_sid.contains_key(&sid("SM0")));
    assert!(memory.replies.by_sid.contains_key(&sid(&format!("SM{}", count - 1))));
}

#[test]
fn at_most_max_kept_replies_are_kept_the_oldest_forgotten_first() {
    let (memo, _) = memo();
    for n in 0..MAX_KEPT + 10 {
        assert!(leads(&memo.join(&sid(&format!("SM{n}")))));
    }
    memo.join(&sid("SMlast"));
    let memory = memo.memory.lock().unwrap();
    assert!(memory.replies.by_sid.len() <= MAX_KEPT + 1);
    assert!(!memory.replies.by_sid.contains_key(&sid("SM0")));
    assert!(memory.replies.by_sid.contains_key(&sid(&format!("SM{}", MAX_KEPT + 9))));
}

#[tokio::test]
async fn an_abandoned_message_leads_again() {
    let (memo, _) = memo();
    assert!(leads(&memo.join(&sid("SM2"))));
    let Flight::Follow(wait) = memo.join(&sid("SM2")) else {
        panic!("second join led")
    };
    memo.settle(&sid("SM2"), Settled::Abandoned);
    assert_eq!(wait.await, Waited::LeaderFailed);
    assert!(leads(&memo.join(&sid("SM2"))));
}

#[tokio::test]
async fn what_a_failed_leader_left_goes_to_the_next_delivery_once() {
    let (memo, _) = memo();
    assert!(leads(&memo.join(&sid("SM3"))));
    let Flight::Follow(wait) = memo.join(&sid("SM3")) else {
        panic!("second join led")
    };
    let answer = Answer {
        outcome: Outcome::Routed,
        text: "kept".into(),
        media: Vec::new(),
        user_id: None,
        error: None,
    };
    memo.settle(
        &sid("SM3"),
        Settled::Unfinished(Unfinished {
            claim: ClaimId(7),
            answer: Some(answer.clone()),
        }),
    );

    assert_eq!(
        wait.await,
        Waited::LeaderFailed,
        "a follower of a failed leader is told so"
    );
    let Flight::Lead(Some(unfinished)) = memo.join(&sid("SM3")) else {
        panic!("the retry did not take over")
    };
    assert_eq!((unfinished.claim, unfinished.answer), (ClaimId(7), Some(answer)));
    assert!(matches!(memo.join(&sid("SM3")), Flight::Follow(_)), "taken over twice");
}

#[test]
fn what_a_failed_leader_left_outlasts_a_flood_of_replies_but_not_ten_minutes() {
    let (memo, clock) = memo();
    let left = |n: i64| Unfinished {
        claim: ClaimId(n),
        answer: None,
    };
    for n in [1, 2] {
        memo.join(&sid(&format!("SMleft{n}")));
        memo.settle(&sid(&format!("SMleft{n}")), Settled::Unfinished(left(n)));
    }
    for n in 0..MAX_KEPT + 10 {
        memo.join(&sid(&format!("SM{n}")));
    }
    clock.advance(KEEP_FOR - Duration::from_secs(1));

    assert!(matches!(memo.join(&sid("SMleft1")), Flight::Lead(Some(u)) if u.claim == ClaimId(1)));
    clock.advance(Duration::from_secs(1));
    assert!(leads(&memo.join(&sid("SMleft2"))), "kept past ten minutes");
    assert_eq!(memo.memory.lock().unwrap().left.bytes, 0);
}

#[tokio::test]
async fn a_follower_past_the_wait_is_told_the_leader_is_still_at_it() {
    let clock = ManualClock::new();
    let memo = InProcessReplies::new(Duration::from_millis(20), Arc::new(clock));
    assert!(leads(&memo.join(&sid("SM4"))));
    let Flight::Follow(wait) = memo.join(&sid("SM4")) else {
        panic!("second join led")
    };
    assert_eq!(wait.await, Waited::TimedOut);
}
