//! The task that works the outbox (tokio): one message after another, a
//! short sleep when nothing is due. Told to stop, it finishes the send in
//! flight and ends, leaving every other message pending for the next start.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::outbound::Dispatcher;
use crate::ports::{Messenger, OptOutRegistry, Outbox};

/// How long the worker sleeps when the outbox had nothing due.
const IDLE: Duration = Duration::from_millis(200);

/// Starts the worker; once `stop` is cancelled it ends as soon as the send
/// in flight, if any, is recorded.
pub fn spawn<S, M>(dispatcher: Dispatcher<S, M>, stop: CancellationToken) -> tokio::task::JoinHandle<()>
where
    S: Outbox + OptOutRegistry,
    M: Messenger,
{
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            let pause = match dispatcher.dispatch_next().await {
                Ok(true) => continue,
                Ok(false) => IDLE,
                Err(e) => {
                    tracing::error!(error = %e, "cannot take a message from the outbox");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => {}
            }
        }
    })
}
