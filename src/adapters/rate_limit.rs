//! A token bucket per sender (governor), with idle senders forgotten so
//! memory stays bounded however many numbers write. Governor cannot be
//! asked without taking a token, so the limiter also remembers until when
//! each emptied bucket stays empty, for `is_limited`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};

use crate::ports::RateLimiter;

type Buckets = Governor<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

#[derive(Clone)]
pub struct SenderRateLimiter {
    buckets: Arc<Buckets>,
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
            buckets: Arc::new(Governor::keyed(quota).with_middleware::<StateInformationMiddleware>()),
            clock,
            empty_until: Arc::default(),
            refill: quota.replenish_interval(),
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
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
        if let Ok(mut empty) = self.empty_until.lock() {
            let now = Instant::now();
            empty.retain(|_, until| *until > now);
        }
    }

    /// How many senders the limiter remembers.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.buckets.len() + self.empty_until.lock().map_or(0, |empty| empty.len())
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
    fn try_acquire(&self, sender: &str) -> bool {
        match self.buckets.check_key(&sender.to_owned()) {
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

    fn is_limited(&self, sender: &str) -> bool {
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
        assert!((0..3).all(|_| limiter.try_acquire("+12015550123")));
        assert!(!limiter.try_acquire("+12015550123"));
        assert!(limiter.try_acquire("+12015550124"));
    }

    #[test]
    fn idle_senders_are_forgotten_so_memory_stays_bounded() {
        let limiter = SenderRateLimiter::with_quota(
            Quota::with_period(Duration::from_millis(1))
                .unwrap()
                .allow_burst(NonZeroU32::new(1).unwrap()),
        );
        for n in 0..10_000 {
            assert!(limiter.try_acquire(&format!("+1201555{n:04}")));
        }
        assert_eq!(limiter.remembered(), 20_000);

        std::thread::sleep(Duration::from_millis(20));
        limiter.forget_idle();

        assert_eq!(limiter.remembered(), 0);
        assert!(
            limiter.try_acquire("+12015550000"),
            "a forgotten sender starts with a full bucket"
        );
    }

    #[test]
    fn is_limited_tells_without_taking() {
        let limiter = SenderRateLimiter::per_minute(NonZeroU32::new(2).unwrap());
        assert!(!limiter.is_limited("a"));
        assert!(limiter.try_acquire("a"));
        assert!(!limiter.is_limited("a"));
        assert!(!limiter.is_limited("a"), "asking took a token");
        assert!(limiter.try_acquire("a"));
        assert!(limiter.is_limited("a"));
        assert!(!limiter.try_acquire("a"));
        assert!(limiter.is_limited("a"));
        assert!(!limiter.is_limited("b"));
    }
}
