//! Waiting for a condition with a deadline: what a test does instead of
//! sleeping a fixed time and assuming that something happened by then.
//!
//! The deadline is generous on purpose: a debug build on two cores busy
//! compiling and running a hundred other tests is slow, and a test must
//! pass there too. Speed is measured by the benchmarks under `bench/`,
//! never by a test.

use std::time::{Duration, Instant};

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a condition is looked at.
pub const LOOK_EVERY: Duration = Duration::from_millis(25);

/// Waits until `done` holds, for at most `PATIENCE`; the failure names
/// `what` was awaited.
pub async fn eventually(what: &str, done: impl FnMut() -> bool) {
    eventually_within(what, PATIENCE, done).await;
}

/// `eventually`, with a deadline of its own.
pub async fn eventually_within(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Waits until `look` finds something, for at most `PATIENCE`, and answers
/// it; `look` may itself wait (an HTTP call, a query).
pub async fn found<T>(what: &str, mut look: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// `found` for a condition.
pub async fn until(what: &str, mut look: impl AsyncFnMut() -> bool) {
    found(what, async || look().await.then_some(())).await;
}

/// `eventually` off the async runtime, for plain threads and `#[test]`s.
pub fn eventually_blocking(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(LOOK_EVERY);
    }
}
