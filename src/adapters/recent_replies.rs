//! Replies to recent messages, in process (tokio watch channels): a
//! duplicate waits for the first delivery's reply instead of calling the
//! agent again, and a delivery that failed leaves its claim (and its answer,
//! if it had one) for the retry to finish.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::domain::message::MessageSid;
use crate::domain::reply::Reply;
use crate::ports::{Clock, Flight, RecentReplies, Settled, Unfinished};

/// How long a reply is kept for duplicates.
const KEEP_FOR: Duration = Duration::from_secs(10 * 60);
/// The most replies kept, whatever the rate: past it the oldest go first
/// (their duplicates then get an empty answer; the store's claim still
/// stops a second agent call).
const MAX_KEPT: usize = 50_000;

#[derive(Clone, Debug)]
enum State {
    Pending,
    Settled(Reply),
    /// The leader failed; the next delivery leads with this.
    Unfinished(Unfinished),
}

struct Entry {
    started: Instant,
    state: watch::Sender<State>,
}

/// The entries, and their sids in the order they came, so that forgetting
/// the old ones looks only at the oldest.
#[derive(Default)]
struct Entries {
    by_sid: HashMap<MessageSid, Entry>,
    order: VecDeque<(Instant, MessageSid)>,
}

impl Entries {
    fn forget_old(&mut self, now: Instant) {
        while let Some((started, _)) = self.order.front() {
            if now.saturating_duration_since(*started) < KEEP_FOR && self.by_sid.len() <= MAX_KEPT {
                break;
            }
            let Some((started, sid)) = self.order.pop_front() else {
                break;
            };
            // The sid may have been abandoned and led again since.
            if self.by_sid.get(&sid).is_some_and(|e| e.started == started) {
                self.by_sid.remove(&sid);
            }
        }
    }
}

#[derive(Clone)]
pub struct InProcessReplies {
    entries: Arc<Mutex<Entries>>,
    /// How long a duplicate waits for the first delivery to be answered.
    wait_limit: Duration,
    clock: Arc<dyn Clock>,
}

impl InProcessReplies {
    pub fn new(wait_limit: Duration, clock: Arc<dyn Clock>) -> Self {
        InProcessReplies {
            entries: Arc::new(Mutex::new(Entries::default())),
            wait_limit,
            clock,
        }
    }
}

impl RecentReplies for InProcessReplies {
    fn join(&self, sid: &MessageSid) -> Flight {
        let Ok(mut entries) = self.entries.lock() else {
            // A poisoned lock only means a panic elsewhere; leading is the
            // safe choice, the store's claim still stops a second agent call.
            return Flight::Lead(None);
        };
        let now = self.clock.instant();
        entries.forget_old(now);
        if let Some(entry) = entries.by_sid.get_mut(sid) {
            let unfinished = match &*entry.state.borrow() {
                State::Unfinished(unfinished) => Some(unfinished.clone()),
                State::Pending | State::Settled(_) => None,
            };
            if let Some(unfinished) = unfinished {
                // Its followers were woken when it failed; new ones wait on
                // this delivery.
                entry.state = watch::channel(State::Pending).0;
                return Flight::Lead(Some(unfinished));
            }
            let mut state = entry.state.subscribe();
            let limit = self.wait_limit;
            return Flight::Follow(Box::pin(async move {
                let settled = tokio::time::timeout(limit, state.wait_for(|s| !matches!(s, State::Pending))).await;
                match settled {
                    Ok(Ok(state)) => match &*state {
                        State::Settled(reply) => Some(reply.clone()),
                        State::Pending | State::Unfinished(_) => None,
                    },
                    // Timed out, or the leader abandoned the message.
                    _ => None,
                }
            }));
        }
        let (state, _) = watch::channel(State::Pending);
        entries.by_sid.insert(sid.clone(), Entry { started: now, state });
        entries.order.push_back((now, sid.clone()));
        Flight::Lead(None)
    }

    fn settle(&self, sid: &MessageSid, settled: Settled) {
        let Ok(mut entries) = self.entries.lock() else { return };
        let state = match settled {
            Settled::Replied(reply) => State::Settled(reply),
            Settled::Unfinished(unfinished) => State::Unfinished(unfinished),
            // Dropping the sender wakes followers with an error: abandoned.
            Settled::Abandoned => {
                entries.by_sid.remove(sid);
                return;
            }
        };
        if let Some(entry) = entries.by_sid.get(sid) {
            entry.state.send_replace(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::domain::policy::Answer;
    use crate::domain::usage::Outcome;
    use crate::ports::{ClaimId, Sleep};

    /// A clock that moves only when told.
    #[derive(Clone)]
    struct ManualClock {
        start: Instant,
        offset: Arc<Mutex<Duration>>,
    }

    impl ManualClock {
        fn new() -> Self {
            ManualClock {
                start: Instant::now(),
                offset: Arc::default(),
            }
        }

        fn advance(&self, by: Duration) {
            *self.offset.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp(1_800_000_000, 0).unwrap()
        }

        fn instant(&self) -> Instant {
            self.start + *self.offset.lock().unwrap()
        }

        fn sleep(&self, _: Duration) -> Sleep {
            Box::pin(std::future::ready(()))
        }
    }

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
        assert_eq!(wait.await, Some(reply.clone()));
        clock.advance(KEEP_FOR - Duration::from_secs(1));
        let Flight::Follow(later) = memo.join(&sid("SM1")) else {
            panic!("late join led")
        };
        assert_eq!(later.await, Some(reply));
        clock.advance(Duration::from_secs(1));
        assert!(leads(&memo.join(&sid("SM1"))), "kept past ten minutes");
    }

    #[test]
    fn at_most_max_kept_replies_are_kept_the_oldest_forgotten_first() {
        let (memo, _) = memo();
        for n in 0..MAX_KEPT + 10 {
            assert!(leads(&memo.join(&sid(&format!("SM{n}")))));
        }
        memo.join(&sid("SMlast"));
        let entries = memo.entries.lock().unwrap();
        assert!(entries.by_sid.len() <= MAX_KEPT + 1);
        assert!(!entries.by_sid.contains_key(&sid("SM0")));
        assert!(entries.by_sid.contains_key(&sid(&format!("SM{}", MAX_KEPT + 9))));
    }

    #[tokio::test]
    async fn an_abandoned_message_leads_again() {
        let (memo, _) = memo();
        assert!(leads(&memo.join(&sid("SM2"))));
        let Flight::Follow(wait) = memo.join(&sid("SM2")) else {
            panic!("second join led")
        };
        memo.settle(&sid("SM2"), Settled::Abandoned);
        assert_eq!(wait.await, None);
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

        assert_eq!(wait.await, None, "a follower of a failed leader is told so");
        let Flight::Lead(Some(unfinished)) = memo.join(&sid("SM3")) else {
            panic!("the retry did not take over")
        };
        assert_eq!((unfinished.claim, unfinished.answer), (ClaimId(7), Some(answer)));
        assert!(matches!(memo.join(&sid("SM3")), Flight::Follow(_)), "taken over twice");
    }
}
