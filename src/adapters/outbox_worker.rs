//! The task that works the outbox (tokio): one message after another, a
//! short sleep when nothing is due. Told to drain, it sends what is due and
//! ends once nothing is; its owner aborts it when there is no more time
//! (a send cut short is marked unknown at the next start).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::outbound::Dispatcher;
use crate::ports::{EventQueue, Messenger, OptOutRegistry, Outbox, SettingsStore};

/// How long the worker sleeps when the outbox had nothing due.
const IDLE: Duration = Duration::from_millis(200);

/// Starts the worker; once `drain` is cancelled it ends as soon as nothing
/// is due.
pub fn spawn<S, M>(dispatcher: Dispatcher<S, M>, drain: CancellationToken) -> tokio::task::JoinHandle<()>
where
    S: Outbox + OptOutRegistry + EventQueue + SettingsStore,
    M: Messenger,
{
    tokio::spawn(async move {
        loop {
            let pause = match dispatcher.dispatch_next().await {
                Ok(true) => continue,
                Ok(false) if drain.is_cancelled() => return,
                Ok(false) => IDLE,
                Err(e) if drain.is_cancelled() => {
                    tracing::error!(error = %e, "cannot take a message from the outbox: the rest waits for the next start");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot take a message from the outbox");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = drain.cancelled() => {}
            }
        }
    })
}
