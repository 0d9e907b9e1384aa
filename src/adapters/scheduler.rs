//! The scheduler on tokio.

use std::future::Future;
use std::time::Duration;

use tracing::Instrument;

use crate::ports::Scheduler;

#[derive(Clone, Copy, Default)]
pub struct TokioScheduler;

impl Scheduler for TokioScheduler {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        tokio::spawn(task.in_current_span());
    }
}
