//! What unit tests share: a clock that moves only when told, a random
//! source that always draws the same code, an agent that answers as the
//! test scripts it, the real SQLite store on a file in memory, and the
//! real in-process limiter, metrics and reply memory. The domain's tests
//! take their adapters from here, as `main` wires the service's: they name
//! no adapter themselves.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use crate::adapters::metrics::PrometheusMetrics;
use crate::adapters::rate_limit::SenderRateLimiter;
use crate::adapters::recent_replies::InProcessReplies;
use crate::adapters::sqlite::SqliteStore;
use crate::domain::user::AgentEndpoint;
use crate::domain::verification::VerificationCode;
use crate::ports::{
    Agent, AgentError, AgentReply, AgentRequest, Clock, EventNotifier, Metrics, NotifyError, QueuedEvent, Random,
    RateLimiter, RecentReplies, Sleep,
};

/// The store unit tests run on.
pub type TestStore = SqliteStore;

/// The in-process rate limiter, at 100 messages a minute a sender.
pub fn limiter() -> Arc<dyn RateLimiter> {
    Arc::new(SenderRateLimiter::per_minute(
        std::num::NonZeroU32::new(100).expect("not zero"),
    ))
}

/// The Prometheus metrics, unread.
pub fn metrics() -> Arc<dyn Metrics> {
    Arc::new(PrometheusMetrics::default())
}

/// The in-process memory of recent replies, on `clock`.
pub fn recent_replies(wait_limit: Duration, clock: &ManualClock) -> Arc<dyn RecentReplies> {
    Arc::new(InProcessReplies::new(wait_limit, Arc::new(clock.clone())))
}

/// A clock that moves only when `advance` is called; a sleep ends when the
/// clock has been moved past it.
#[derive(Clone)]
pub struct ManualClock {
    start: Instant,
    moved: Arc<watch::Sender<Duration>>,
}

/// The time of day a `ManualClock` starts at.
pub const START: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time");

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            moved: Arc::new(watch::Sender::new(Duration::ZERO)),
        }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock on by `by`, ending the sleeps it passes.
    pub fn advance(&self, by: Duration) {
        self.moved.send_modify(|moved| *moved += by);
    }

    fn moved(&self) -> Duration {
        *self.moved.borrow()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        START + self.moved()
    }

    fn instant(&self) -> Instant {
        self.start + self.moved()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let until = self.moved() + duration;
        let mut moved = self.moved.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; once it is gone no
            // sleep can end, as no time can pass.
            if moved.wait_for(|moved| *moved >= until).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Draws the same verification code every time.
pub struct FixedRandom(pub VerificationCode);

impl FixedRandom {
    pub fn code(code: &str) -> Self {
        FixedRandom(VerificationCode::parse(code).expect("six digits"))
    }
}

impl Random for FixedRandom {
    fn verification_code(&self) -> VerificationCode {
        self.0.clone()
    }
}

/// An agent that answers what the test set, and remembers what it was asked.
/// A held agent answers nothing until `release`.
#[derive(Clone)]
pub struct ScriptedAgent {
    answer: Arc<Mutex<Result<AgentReply, AgentError>>>,
    asked: Arc<Mutex<Vec<AgentRequest>>>,
    gate: Option<Arc<Semaphore>>,
}

impl ScriptedAgent {
    /// Answers `text` at once.
    pub fn replying(text: &str) -> Self {
        ScriptedAgent {
            answer: Arc::new(Mutex::new(Ok(AgentReply {
                text: text.to_owned(),
                media: Vec::new(),
            }))),
            asked: Arc::default(),
            gate: None,
        }
    }

    /// Fails with `error` at once.
    pub fn failing(error: AgentError) -> Self {
        ScriptedAgent {
            answer: Arc::new(Mutex::new(Err(error))),
            ..Self::replying("")
        }
    }

    /// Answers `text`, each time only once `release` lets it.
    pub fn held(text: &str) -> Self {
        ScriptedAgent {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..Self::replying(text)
        }
    }

    /// Lets one held answer go.
    pub fn release(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(1);
        }
    }

    /// What it was asked, in order.
    pub fn asked(&self) -> Vec<AgentRequest> {
        self.asked.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Agent for ScriptedAgent {
    async fn ask(&self, request: AgentRequest, _deadline: Duration) -> Result<AgentReply, AgentError> {
        self.asked.lock().unwrap_or_else(PoisonError::into_inner).push(request);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("the gate is never closed").forget();
        }
        self.answer.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// An agent told (`None`: the service's), and what.
pub type Told = (Option<AgentEndpoint>, QueuedEvent);

/// A notifier that answers each event as the test scripted it (then `Ok`),
/// and remembers which agent was told what.
#[derive(Clone, Default)]
pub struct ScriptedNotifier {
    answers: Arc<Mutex<std::collections::VecDeque<Result<(), NotifyError>>>>,
    told: Arc<Mutex<Vec<Told>>>,
}

impl ScriptedNotifier {
    /// The next answers, in order.
    pub fn answers(&self, answers: impl IntoIterator<Item = Result<(), NotifyError>>) {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(answers);
    }

    /// The agents told, and what, in order.
    pub fn told(&self) -> Vec<Told> {
        self.told.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl EventNotifier for ScriptedNotifier {
    async fn notify(&self, agent: Option<&AgentEndpoint>, event: &QueuedEvent) -> Result<(), NotifyError> {
        self.told
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((agent.cloned(), event.clone()));
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or(Ok(()))
    }
}

/// Waits until `condition` holds, for a minute at most (a busy machine's
/// worst, not a bound on speed); past that the test fails naming `what`.
pub async fn until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition().await {
        assert!(Instant::now() < deadline, "waited a minute for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The real SQLite store on a fresh file in memory (`/dev/shm`, where the
/// system has it; else the temp dir). The dir lives as long as the store.
pub fn in_memory_store() -> (TestStore, tempfile::TempDir) {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temp dir");
    let store = SqliteStore::open(&dir.path().join("unit.db")).expect("a fresh store");
    (store, dir)
}

mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_sleep_ends_only_once_the_clock_is_moved_past_it() {
        let clock = ManualClock::new();
        let mut sleep = clock.sleep(Duration::from_secs(10));
        clock.advance(Duration::from_secs(9));
        assert!((&mut sleep).now_or_never().is_none());
        clock.advance(Duration::from_secs(1));
        sleep.await;
        assert_eq!(clock.now(), START + Duration::from_secs(10));
    }
}
