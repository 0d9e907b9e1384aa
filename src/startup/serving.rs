//! Serving, and stopping without losing what is in flight.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Application;
use crate::adapters::http::server;

impl Application {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `stop` completes. Then, within the grace period from
    /// that moment: lets in-flight requests finish, waits for the messages
    /// still being answered (their late replies queued), and sends what the
    /// outbox has due, those late replies included. What the grace leaves
    /// waits for the next start (or, on PostgreSQL, another instance); a
    /// send it cuts short is marked unknown then.
    ///
    /// # Errors
    /// None so far: a listener that fails to accept is waited on, not given
    /// up.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let grace = self.grace;
        let (stopped, stopped_at) = tokio::sync::oneshot::channel();
        let stop = async move {
            stop.await;
            let _ = stopped.send(tokio::time::Instant::now());
        };
        let (stop_serving, abort) = (CancellationToken::new(), CancellationToken::new());
        let connections = TaskTracker::new();
        let serving = server::serve(
            self.listener,
            self.endpoint,
            self.limits,
            stop_serving.clone(),
            abort.clone(),
            connections.clone(),
        );
        tokio::join!(serving, async move {
            stop.await;
            stop_serving.cancel();
        });
        let deadline = stopped_at.await.unwrap_or_else(|_| tokio::time::Instant::now()) + grace;
        // Requests in flight finish within the grace; then every connection closes.
        connections.close();
        if tokio::time::timeout_at(deadline, connections.wait()).await.is_err() {
            tracing::warn!("stopped with requests still in flight");
        }
        abort.cancel();
        self.tasks.close();
        if tokio::time::timeout_at(deadline, self.tasks.wait()).await.is_err() {
            tracing::warn!(
                waiting = self.tasks.len(),
                "stopped while agents were still thinking: their senders are told at the next start"
            );
        }
        // What came in is sent, within the grace.
        self.drain_outbox.cancel();
        if let Some(mut worker) = self.outbox
            && tokio::time::timeout_at(deadline, &mut worker).await.is_err()
        {
            worker.abort();
            tracing::warn!(
                "stopped with messages still to send: they go at the next start (one being sent is marked unknown)"
            );
        }
        for task in self.background {
            task.abort();
        }
        Ok(())
    }
}
