//! The task that drains the outbox (tokio): a round of sends, then a short
//! sleep when nothing was due. Told to drain, it sends what is due and ends.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::outbound::Dispatcher;
use crate::ports::{Messenger, OptOutRegistry, Outbox};

/// How long the worker sleeps when the outbox had nothing due.
const IDLE: Duration = Duration::from_millis(200);

/// Starts the worker; once `drain` is cancelled it ends as soon as nothing
/// is due (or the store fails).
pub fn spawn<S, M>(dispatcher: Dispatcher<S, M>, drain: CancellationToken) -> tokio::task::JoinHandle<()>
where
    S: Outbox + OptOutRegistry,
    M: Messenger,
{
    tokio::spawn(async move {
        loop {
            let pause = match dispatcher.dispatch_due().await {
                Ok(0) => IDLE,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read or write the outbox");
                    Duration::from_secs(1)
                }
            };
            if pause.is_zero() {
                continue;
            }
            if drain.is_cancelled() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = drain.cancelled() => {}
            }
        }
    })
}
