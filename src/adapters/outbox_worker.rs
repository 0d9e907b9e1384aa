//! The task that drains the outbox (tokio): a round of sends, then a short
//! sleep when nothing was due.

use std::time::Duration;

use crate::domain::outbound::{DispatchPorts, Dispatcher};

/// How long the worker sleeps when the outbox had nothing due.
const IDLE: Duration = Duration::from_millis(200);

pub fn spawn<P: DispatchPorts>(dispatcher: Dispatcher<P>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match dispatcher.dispatch_due().await {
                Ok(0) => tokio::time::sleep(IDLE).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot read or write the outbox");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}
