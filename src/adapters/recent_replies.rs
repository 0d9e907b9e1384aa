//! Replies to recent messages, in process (tokio watch channels): a
//! duplicate waits for the first delivery's reply instead of calling the
//! agent again. Apart from them, what a failed delivery left to finish (its
//! claim, and its answer if it had one) is kept for the retry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::domain::message::MessageSid;
use crate::domain::reply::Reply;
use crate::ports::{Clock, Flight, RecentReplies, Settled, Unfinished, Waited};

/// How long a reply is kept for duplicates, and what a failed delivery
/// left for its retry.
const KEEP_FOR: Duration = Duration::from_secs(10 * 60);
/// The most replies kept, and the most bytes they may hold, whatever the
/// rate: past either the oldest go first (their duplicates then get an
/// empty answer; the store's claim still stops a second agent call).
const MAX_KEPT: usize = 50_000;
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// What an entry costs besides its reply's text: its sid (at most 64
/// bytes), its place in the order, the channel.
const ENTRY_BYTES: usize = 256;
/// The most bytes that failed deliveries may leave (only store failures
/// make them); past it the oldest go first, and their rows wait for the
/// next start, which marks them interrupted.
const MAX_UNFINISHED_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq)]
enum State {
    Pending,
    Settled(Reply),
}

struct Entry {
    started: Instant,
    state: watch::Sender<State>,
    /// What it holds, `ENTRY_BYTES` and its reply's text.
    bytes: usize,
}

/// The entries, and their sids in the order they came, so that forgetting
/// the old ones looks only at the oldest.
#[derive(Default)]
struct Replies {
    by_sid: HashMap<MessageSid, Entry>,
    order: VecDeque<(Instant, MessageSid)>,
    /// The bytes of every entry in `by_sid`.
    bytes: usize,
}

impl Replies {
    fn forget_old(&mut self, now: Instant) {
        while let Some((started, _)) = self.order.front() {
            let over = self.by_sid.len() > MAX_KEPT || self.bytes > MAX_REPLY_BYTES;
            if now.saturating_duration_since(*started) < KEEP_FOR && !over {
                break;
            }
            let Some((started, sid)) = self.order.pop_front() else {
                break;
            };
            // The sid may have been abandoned and led again since.
            if self.by_sid.get(&sid).is_some_and(|e| e.started == started) {
                self.remove(&sid);
            }
        }
    }

    /// A new lead on `sid`, replacing whatever was there.
    fn lead(&mut self, sid: &MessageSid, now: Instant) {
        self.remove(sid);
        let (state, _) = watch::channel(State::Pending);
        self.by_sid.insert(
            sid.clone(),
            Entry {
                started: now,
                state,
                bytes: ENTRY_BYTES,
            },
        );
        self.bytes += ENTRY_BYTES;
        self.order.push_back((now, sid.clone()));
    }

    fn settle(&mut self, sid: &MessageSid, reply: Reply) {
        let Some(entry) = self.by_sid.get_mut(sid) else {
            return;
        };
        let text: usize = reply.messages().iter().map(String::len).sum();
        self.bytes = self.bytes - entry.bytes + ENTRY_BYTES + text;
        entry.bytes = ENTRY_BYTES + text;
        entry.state.send_replace(State::Settled(reply));
    }

    fn remove(&mut self, sid: &MessageSid) {
        if let Some(entry) = self.by_sid.remove(sid) {
            self.bytes -= entry.bytes;
        }
    }
}

/// What failed deliveries left, by sid, oldest first.
#[derive(Default)]
struct Left {
    by_sid: HashMap<MessageSid, (Instant, Unfinished)>,
    order: VecDeque<(Instant, MessageSid)>,
    bytes: usize,
}

impl Left {
    fn size(unfinished: &Unfinished) -> usize {
        let answer = unfinished
            .answer
            .as_ref()
            .map_or(0, |a| a.text.len() + a.error.as_ref().map_or(0, String::len));
        std::mem::size_of::<Unfinished>() + 64 + answer
    }

    fn put(&mut self, sid: &MessageSid, unfinished: Unfinished, now: Instant) {
        self.take(sid);
        self.bytes += Self::size(&unfinished);
        self.by_sid.insert(sid.clone(), (now, unfinished));
        self.order.push_back((now, sid.clone()));
    }

    fn take(&mut self, sid: &MessageSid) -> Option<Unfinished> {
        let (_, unfinished) = self.by_sid.remove(sid)?;
        self.bytes = self.bytes.saturating_sub(Self::size(&unfinished));
        Some(unfinished)
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some((left_at, _)) = self.order.front() {
            if now.saturating_duration_since(*left_at) < KEEP_FOR && self.bytes <= MAX_UNFINISHED_BYTES {
                break;
            }
            let Some((left_at, sid)) = self.order.pop_front() else {
                break;
            };
            if self.by_sid.get(&sid).is_some_and(|(at, _)| *at == left_at) {
                self.take(&sid);
                tracing::warn!(sid = %sid, "forgot what a failed delivery left: its retry is answered as a duplicate");
            }
        }
    }
}

#[derive(Default)]
struct Memory {
    replies: Replies,
    left: Left,
}

#[derive(Clone)]
pub struct InProcessReplies {
    memory: Arc<Mutex<Memory>>,
    /// How long a duplicate waits for the first delivery to be answered.
    wait_limit: Duration,
    clock: Arc<dyn Clock>,
}

impl InProcessReplies {
    pub fn new(wait_limit: Duration, clock: Arc<dyn Clock>) -> Self {
        InProcessReplies {
            memory: Arc::default(),
            wait_limit,
            clock,
        }
    }
}

impl RecentReplies for InProcessReplies {
    fn join(&self, sid: &MessageSid) -> Flight {
        let Ok(mut memory) = self.memory.lock() else {
            // A poisoned lock only means a panic elsewhere; leading is the
            // safe choice, the store's claim still stops a second agent call.
            return Flight::Lead(None);
        };
        let now = self.clock.instant();
        memory.replies.forget_old(now);
        memory.left.forget_old(now);
        if let Some(unfinished) = memory.left.take(sid) {
            memory.replies.lead(sid, now);
            return Flight::Lead(Some(unfinished));
        }
        let Some(entry) = memory.replies.by_sid.get(sid) else {
            memory.replies.lead(sid, now);
            return Flight::Lead(None);
        };
        let mut state = entry.state.subscribe();
        let limit = self.wait_limit;
        Flight::Follow(Box::pin(async move {
            let settled = tokio::time::timeout(limit, state.wait_for(|s| *s != State::Pending)).await;
            match settled {
                Ok(Ok(state)) => match &*state {
                    State::Settled(reply) => Waited::Replied(reply.clone()),
                    State::Pending => Waited::LeaderFailed,
                },
                // The leader dropped its entry: it failed.
                Ok(Err(_)) => Waited::LeaderFailed,
                Err(_) => Waited::TimedOut,
            }
        }))
    }

    fn settle(&self, sid: &MessageSid, settled: Settled) {
        let Ok(mut memory) = self.memory.lock() else { return };
        match settled {
            Settled::Replied(reply) => {
                memory.replies.settle(sid, reply);
                // A reply's bytes count at once, not at the next message.
                memory.replies.forget_old(self.clock.instant());
            }
            Settled::Unfinished(unfinished) => {
                let now = self.clock.instant();
                memory.left.put(sid, unfinished, now);
                // Dropping the sender wakes the followers: the leader failed.
                memory.replies.remove(sid);
            }
            Settled::Abandoned => {
                memory.replies.remove(sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::Answer;
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
        let reply = Reply::compose("hello", 1);
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
        let long = Reply::compose(&"x".repeat(16_000), 10);
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
}
