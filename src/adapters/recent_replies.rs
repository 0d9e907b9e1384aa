//! Replies to recent messages, in process (tokio watch channels): a
//! duplicate waits for the first delivery's reply instead of calling the
//! agent again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::domain::message::MessageSid;
use crate::domain::reply::Reply;
use crate::ports::{Flight, RecentReplies};

/// How long a reply is kept for duplicates.
const KEEP_FOR: Duration = Duration::from_secs(10 * 60);

#[derive(Clone, Debug, PartialEq)]
enum State {
    Pending,
    Settled(Reply),
}

struct Entry {
    started: Instant,
    state: watch::Sender<State>,
}

#[derive(Clone)]
pub struct InProcessReplies {
    entries: Arc<Mutex<HashMap<MessageSid, Entry>>>,
    /// How long a duplicate waits for the first delivery to be answered.
    wait_limit: Duration,
}

impl InProcessReplies {
    pub fn new(wait_limit: Duration) -> Self {
        InProcessReplies {
            entries: Arc::new(Mutex::new(HashMap::new())),
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
        if let Some(entry) = entries.get(sid).filter(|e| e.started.elapsed() < KEEP_FOR) {
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
        if entries.len() >= 1024 {
            entries.retain(|_, e| e.started.elapsed() < KEEP_FOR);
        }
        let (state, _) = watch::channel(State::Pending);
        entries.insert(
            sid.clone(),
            Entry {
                started: Instant::now(),
                state,
            },
        );
        Flight::Lead
    }

    fn settle(&self, sid: &MessageSid, reply: Option<Reply>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        match reply {
            Some(reply) => {
                if let Some(entry) = entries.get(sid) {
                    entry.state.send_replace(State::Settled(reply));
                }
            }
            // Dropping the sender wakes followers with an error: abandoned.
            None => {
                entries.remove(sid);
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
