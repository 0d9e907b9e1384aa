//! The task that sends the agents' events (tokio): one after another, a
//! short sleep when none is due. It is stopped with the server: what it has
//! not sent stays queued for the next start (or another instance).

use std::time::Duration;

use crate::domain::events::EventSender;
use crate::ports::{EventNotifier, EventQueue, SettingsStore, UserDirectory};

/// How long the worker sleeps when no event was due.
const IDLE: Duration = Duration::from_millis(250);

pub fn spawn<S, N>(sender: EventSender<S, N>) -> tokio::task::JoinHandle<()>
where
    S: EventQueue + SettingsStore + UserDirectory,
    N: EventNotifier,
{
    tokio::spawn(async move {
        loop {
            let pause = match sender.send_next().await {
                Ok(true) => continue,
                Ok(false) => IDLE,
                Err(e) => {
                    tracing::error!(error = %e, "cannot take or close an event for an agent");
                    Duration::from_secs(1)
                }
            };
            tokio::time::sleep(pause).await;
        }
    })
}
