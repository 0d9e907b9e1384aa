//! Time and background work, for use cases that must not block on either.

use std::future::Future;
use std::time::Duration;

pub trait Scheduler: Clone + Send + Sync + 'static {
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;

    /// Runs `task` to completion in the background, apart from the caller.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F);
}
