//! A token bucket per sender (governor), with idle senders forgotten so
//! memory stays bounded however many numbers write.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::ports::RateLimiter;

#[derive(Clone)]
pub struct SenderRateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl SenderRateLimiter {
    /// A burst of `per_minute` messages, refilled at `per_minute` a minute.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        SenderRateLimiter {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute))),
        }
    }

    /// Forgets senders whose bucket is full again, every `every`.
    pub fn spawn_cleaner(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let limiter = self.limiter.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        })
    }
}

impl RateLimiter for SenderRateLimiter {
    fn try_acquire(&self, sender: &str) -> bool {
        self.limiter.check_key(&sender.to_owned()).is_ok()
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
}
