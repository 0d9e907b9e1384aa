//! Replies to recent messages, in process (tokio watch channels): a
//! duplicate waits for the first delivery's reply instead of calling the
//! agent again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::domain::message::MessageSid;
use crate::domain::reply::Reply;
use crate::ports::{Flight, RecentReplies};

/// How long a reply is kept for duplicates.
const KEEP_FOR: Duration = Duration::from_secs(10 * 60);
/// The most replies kept, whatever the rate: past it the oldest go first
/// (their duplicates then get an empty answer; the store's claim still
/// stops a second agent call).
const MAX_KEPT: usize = 50_000;

#[derive(Clone, Debug, PartialEq)]
enum State {
    Pending,
    Settled(Reply),
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
    fn forget_old(&mut self) {
        while let Some((started, _)) = self.order.front() {
            if started.elapsed() < KEEP_FOR && self.by_sid.len() <= MAX_KEPT {
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
}

impl InProcessReplies {
    pub fn new(wait_limit: Duration) -> Self {
        InProcessReplies {
            entries: Arc::new(Mutex::new(Entries::default())),
            wait_limit,
        }
    }
}

impl RecentReplies for InProcessReplies {
    type Wait = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Reply>> + Send>>;

    fn join(&self, sid: &MessageSid) -> Flight<Self::Wait> {
        let Ok(mut entries) = self.entries.lock() else {
            // A poisoned lock only means a panic elsewhere; leading is the
            // safe choice, the store's claim still stops a second agent call.
            return Flight::Lead;
        };
        entries.forget_old();
        if let Some(entry) = entries.by_sid.get(sid) {
            let mut state = entry.state.subscribe();
            let limit = self.wait_limit;
            return Flight::Follow(Box::pin(async move {
                let settled = tokio::time::timeout(limit, state.wait_for(|s| *s != State::Pending)).await;
                match settled {
                    Ok(Ok(state)) => match &*state {
                        State::Settled(reply) => Some(reply.clone()),
                        State::Pending => None,
                    },
                    // Timed out, or the leader abandoned the message.
                    _ => None,
                }
            }));
        }
        let (state, _) = watch::channel(State::Pending);
        let started = Instant::now();
        entries.by_sid.insert(sid.clone(), Entry { started, state });
        entries.order.push_back((started, sid.clone()));
        Flight::Lead
    }

    fn settle(&self, sid: &MessageSid, reply: Option<Reply>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        match reply {
            Some(reply) => {
                if let Some(entry) = entries.by_sid.get(sid) {
                    entry.state.send_replace(State::Settled(reply));
                }
            }
            // Dropping the sender wakes followers with an error: abandoned.
            None => {
                entries.by_sid.remove(sid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> MessageSid {
        MessageSid::parse(s).unwrap()
    }

    #[tokio::test]
    async fn followers_get_the_leaders_reply() {
        let memo = InProcessReplies::new(Duration::from_secs(5));
        assert!(matches!(memo.join(&sid("SM1")), Flight::Lead));
        let Flight::Follow(wait) = memo.join(&sid("SM1")) else {
            panic!("second join led")
        };
        let reply = Reply::compose("hello", 1);
        memo.settle(&sid("SM1"), Some(reply.clone()));
        assert_eq!(wait.await, Some(reply.clone()));
        let Flight::Follow(later) = memo.join(&sid("SM1")) else {
            panic!("late join led")
        };
        assert_eq!(later.await, Some(reply));
    }

    #[test]
    fn at_most_max_kept_replies_are_kept_the_oldest_forgotten_first() {
        let memo = InProcessReplies::new(Duration::from_secs(5));
        for n in 0..MAX_KEPT + 10 {
            assert!(matches!(memo.join(&sid(&format!("SM{n}"))), Flight::Lead));
        }
        memo.join(&sid("SMlast"));
        let entries = memo.entries.lock().unwrap();
        assert!(entries.by_sid.len() <= MAX_KEPT + 1);
        assert!(!entries.by_sid.contains_key(&sid("SM0")));
        assert!(entries.by_sid.contains_key(&sid(&format!("SM{}", MAX_KEPT + 9))));
    }

    #[tokio::test]
    async fn an_abandoned_message_leads_again() {
        let memo = InProcessReplies::new(Duration::from_secs(5));
        assert!(matches!(memo.join(&sid("SM2")), Flight::Lead));
        let Flight::Follow(wait) = memo.join(&sid("SM2")) else {
            panic!("second join led")
        };
        memo.settle(&sid("SM2"), None);
        assert_eq!(wait.await, None);
        assert!(matches!(memo.join(&sid("SM2")), Flight::Lead));
    }
}
