//! The rate limiter: a burst of the limit per sender, then refusal; asking
//! takes nothing. In memory and in PostgreSQL (shared by instances).

use std::num::NonZeroU32;

use sms_router::adapters::postgres::PgRateLimiter;
use sms_router::adapters::rate_limit::SenderRateLimiter;
use sms_router::ports::RateLimiter;

async fn a_burst_of_the_limit_then_refusal_per_sender(limiter: impl RateLimiter) {
    for _ in 0..3 {
        assert!(limiter.try_acquire("+12015550123").await.unwrap());
    }
    assert!(!limiter.try_acquire("+12015550123").await.unwrap());
    assert!(limiter.is_limited("+12015550123").await.unwrap());
    assert!(
        limiter.try_acquire("+12015550124").await.unwrap(),
        "another sender has its own bucket"
    );
}

async fn asking_takes_nothing(limiter: impl RateLimiter) {
    for _ in 0..10 {
        assert!(!limiter.is_limited("+12015550125").await.unwrap());
    }
    for _ in 0..3 {
        assert!(limiter.try_acquire("+12015550125").await.unwrap());
    }
    assert!(limiter.is_limited("+12015550125").await.unwrap());
}

async fn concurrent_takes_share_one_bucket(limiter: impl RateLimiter + Clone) {
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.try_acquire("+12015550126").await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.unwrap());
    }
    assert_eq!(taken, 3);
}

/// Many senders at once (taken together, in PostgreSQL in one
/// transaction): each has its own burst, no more, no less.
async fn senders_at_once_each_get_their_own_burst(limiter: impl RateLimiter + Clone) {
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let limiter = limiter.clone();
            let sender = format!("+1201555020{}", n % 4);
            tokio::spawn(async move { (n % 4, limiter.try_acquire(&sender).await.unwrap()) })
        })
        .collect();
    let mut taken = [0; 4];
    for task in tasks {
        let (sender, took) = task.await.unwrap();
        taken[sender] += usize::from(took);
    }
    assert_eq!(taken, [3; 4]);
}

const THREE: NonZeroU32 = NonZeroU32::new(3).unwrap();

macro_rules! for_each_limiter {
    ($($test:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::SenderRateLimiter::per_minute(super::THREE)).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(store) = crate::postgres().await {
                        super::$test(super::PgRateLimiter::per_minute(store, super::THREE)).await;
                    }
                }
            )*
        }
    };
}

for_each_limiter!(
    a_burst_of_the_limit_then_refusal_per_sender,
    asking_takes_nothing,
    concurrent_takes_share_one_bucket,
    senders_at_once_each_get_their_own_burst,
);

/// Two instances taking tokens for the same senders at once, each batch in
/// the opposite order to the other's: PostgreSQL must never find the two
/// transactions waiting for each other's rows (a deadlock aborts one batch,
/// and every message in it is answered 503). Seen under `bench/postgres`'s
/// load on two instances.
#[tokio::test]
async fn batches_of_two_instances_never_deadlock() {
    let Some(store) = crate::postgres().await else {
        return;
    };
    let per_minute = NonZeroU32::new(1_000_000).unwrap();
    let one = PgRateLimiter::per_minute(store.clone(), per_minute);
    let other = PgRateLimiter::per_minute(store, per_minute);
    let senders: Vec<String> = (0..40).map(|n| format!("+120155503{n:02}")).collect();
    for round in 0..20 {
        // Queued in turn, so that one's batch holds the senders forwards and
        // the other's backwards.
        let mut tasks = Vec::new();
        for (forwards, backwards) in senders.iter().zip(senders.iter().rev()) {
            for (limiter, sender) in [(&one, forwards), (&other, backwards)] {
                let (limiter, sender) = (limiter.clone(), sender.clone());
                tasks.push(tokio::spawn(async move { limiter.try_acquire(&sender).await }));
            }
        }
        for task in tasks {
            let taken = task.await.unwrap();
            assert!(matches!(taken, Ok(true)), "round {round}: {taken:?}");
        }
    }
}

/// The purge forgets a sender whose bucket is full again, and only such a
/// sender: one still limited stays limited.
#[tokio::test]
async fn the_purge_forgets_only_idle_senders() {
    let Some(store) = crate::postgres().await else {
        return;
    };
    // A token every 60 µs: this bucket is full again at once.
    let quick = PgRateLimiter::per_minute(store.clone(), NonZeroU32::new(1_000_000).unwrap());
    let slow = PgRateLimiter::per_minute(store, THREE);
    assert!(quick.try_acquire("+12015550401").await.unwrap());
    for _ in 0..3 {
        assert!(slow.try_acquire("+12015550402").await.unwrap());
    }
    crate::wait::until("the idle sender purged", async || slow.purge_idle().await.unwrap() > 0).await;
    assert_eq!(slow.purge_idle().await.unwrap(), 0, "nothing idle is left");
    assert!(
        slow.is_limited("+12015550402").await.unwrap(),
        "a limited sender is kept"
    );
}
