//! A token bucket per sender (governor), with idle senders forgotten, and
//! at most `MAX_SENDERS` remembered however many write: past it, after idle
//! ones are forgotten, every sender starts afresh. Governor cannot be asked
//! without taking a token, so the limiter also remembers until when each
//! emptied bucket stays empty, for `empty` (the port's `is_limited`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

use futures_util::future::BoxFuture;

use crate::ports::{RateLimiter, StoreError};

type Buckets = Governor<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The most senders remembered. A key is a number (at most 16 bytes) or a
/// sender that is not one (at most 64 characters): with a bucket's state,
/// under 400 bytes each, so under 40 MB in all.
pub const MAX_SENDERS: usize = 100_000;

/// How many messages pass between two counts of the senders remembered.
const COUNT_EVERY: u64 = 1024;

#[derive(Clone)]
pub struct SenderRateLimiter {
    buckets: Arc<RwLock<Arc<Buckets>>>,
    quota: Quota,
    /// Messages seen, for `COUNT_EVERY`.
    seen: Arc<AtomicU64>,
    clock: DefaultClock,
    /// Senders whose bucket is empty, and until when it stays so at most.
    empty_until: Arc<Mutex<HashMap<String, Instant>>>,
    refill: Duration,
}

impl SenderRateLimiter {
    /// A burst of `per_minute` messages, refilled at `per_minute` a minute.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_minute(per_minute))
    }

    fn with_quota(quota: Quota) -> Self {
        let clock = DefaultClock::default();
        SenderRateLimiter {
            buckets: Arc::new(RwLock::new(Self::fresh(quota))),
            quota,
            seen: Arc::default(),
            clock,
            empty_until: Arc::default(),
            refill: quota.replenish_interval(),
        }
    }

    fn fresh(quota: Quota) -> Arc<Buckets> {
        Arc::new(Governor::keyed(quota).with_middleware::<StateInformationMiddleware>())
    }

    fn buckets(&self) -> Arc<Buckets> {
        match self.buckets.read() {
            Ok(buckets) => buckets.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Keeps at most `MAX_SENDERS`: forgets the idle ones, and when that is
    /// not enough, all of them.
    fn bound(&self) {
        if self.buckets().len() <= MAX_SENDERS {
            return;
        }
        self.forget_idle();
        if self.buckets().len() > MAX_SENDERS {
            tracing::warn!(
                senders = MAX_SENDERS,
                "too many senders to remember: every one starts afresh"
            );
            if let Ok(mut buckets) = self.buckets.write() {
                *buckets = Self::fresh(self.quota);
            }
            if let Ok(mut empty) = self.empty_until.lock() {
                empty.clear();
            }
        }
    }

    /// Forgets senders whose bucket is full again, every `every`.
    pub fn spawn_cleaner(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                limiter.forget_idle();
            }
        })
    }

    /// Forgets senders whose bucket is full again: they would start afresh.
    fn forget_idle(&self) {
        let buckets = self.buckets();
        buckets.retain_recent();
        buckets.shrink_to_fit();
        if let Ok(mut empty) = self.empty_until.lock() {
            let now = Instant::now();
            empty.retain(|_, until| *until > now);
        }
    }

    /// How many senders the limiter remembers.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.buckets().len() + self.empty_until.lock().map_or(0, |empty| empty.len())
    }

    fn note(&self, sender: &str, empty_until: Option<Instant>) {
        let Ok(mut empty) = self.empty_until.lock() else { return };
        match empty_until {
            Some(until) => {
                empty.insert(sender.to_owned(), until);
            }
            None => {
                empty.remove(sender);
            }
        }
    }
}

impl RateLimiter for SenderRateLimiter {
    fn try_acquire<'a>(&'a self, sender: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.take(sender))))
    }

    fn is_limited<'a>(&'a self, sender: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(self.empty(sender))))
    }
}

impl SenderRateLimiter {
    /// Takes one token of `sender`'s bucket; false when it is empty.
    pub fn take(&self, sender: &str) -> bool {
        if self.seen.fetch_add(1, Ordering::Relaxed) % COUNT_EVERY == COUNT_EVERY - 1 {
            self.bound();
        }
        match self.buckets().check_key(&sender.to_owned()) {
            Ok(state) => {
                let empty = (state.remaining_burst_capacity() == 0).then(|| Instant::now() + self.refill);
                self.note(sender, empty);
                true
            }
            Err(not_until) => {
                self.note(
                    sender,
                    Some(Instant::now() + not_until.wait_time_from(self.clock.now())),
                );
                false
            }
        }
    }

    /// Whether `sender`'s bucket is empty now; takes nothing.
    pub fn empty(&self, sender: &str) -> bool {
        self.empty_until
            .lock()
            .is_ok_and(|empty| empty.get(sender).is_some_and(|until| *until > Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_per_sender() {
        let limiter = SenderRateLimiter::per_minute(NonZeroU32::new(3).unwrap());
        assert!((0..3).all(|_| limiter.take("+12015550123")));
        assert!(!limiter.take("+12015550123"));
        assert!(limiter.take("+12015550124"));
    }

    #[test]
    fn idle_senders_are_forgotten_so_memory_stays_bounded() {
        let limiter = SenderRateLimiter::with_quota(
            Quota::with_period(Duration::from_millis(1))
                .unwrap()
                .allow_burst(NonZeroU32::new(1).unwrap()),
        );
        for n in 0..10_000 {
            assert!(limiter.take(&format!("+1201555{n:04}")));
        }
        assert_eq!(limiter.remembered(), 20_000);

        std::thread::sleep(Duration::from_millis(20));
        limiter.forget_idle();

        assert_eq!(limiter.remembered(), 0);
        assert!(
            limiter.take("+12015550000"),
            "a forgotten sender starts with a full bucket"
        );
    }

    #[test]
    fn at_most_max_senders_are_remembered() {
        let limiter = SenderRateLimiter::per_minute(NonZeroU32::new(60).unwrap());
        for n in 0..MAX_SENDERS + 2 * COUNT_EVERY as usize {
            limiter.take(&format!("+1{n:010}"));
        }
        assert!(
            limiter.remembered() <= MAX_SENDERS + COUNT_EVERY as usize,
            "{}",
            limiter.remembered()
        );
    }

    #[test]
    fn is_limited_tells_without_taking() {
        let limiter = SenderRateLimiter::per_minute(NonZeroU32::new(2).unwrap());
        assert!(!limiter.empty("a"));
        assert!(limiter.take("a"));
        assert!(!limiter.empty("a"));
        assert!(!limiter.empty("a"), "asking took a token");
        assert!(limiter.take("a"));
        assert!(limiter.empty("a"));
        assert!(!limiter.take("a"));
        assert!(limiter.empty("a"));
        assert!(!limiter.empty("b"));
    }
}
