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
mod tests;
