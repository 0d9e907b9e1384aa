//! Changes made by any instance, announced by the database: the triggers
//! that bump the directory's version also `NOTIFY sms_router_changed`, and
//! each instance listens on a connection of its own. Notifications sent
//! while that connection is down are lost, so every (re)connection counts
//! as a change: the caches are read afresh. A connection can also die in
//! silence (a middlebox forgets it, nothing is closed): the listener asks
//! the database something every few seconds, and one that does not answer
//! in time is replaced.

use std::time::Duration;

use anyhow::Context;

use super::PgStore;
use super::life::Connector;

/// The name the listening connection goes by in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "sms-router-listener";

/// How often the listening connection is asked whether it still lives, and
/// how long it may take to answer: a silent one is replaced within the sum.
const PROBE_EVERY: Duration = Duration::from_secs(4);
const PROBE_WITHIN: Duration = Duration::from_secs(4);

impl PgStore {
    /// Calls `on_change` for every change any instance commits, and after
    /// every (re)connection of the listener, for as long as the runtime
    /// runs; reconnects a second after losing the database.
    pub fn spawn_change_listener(&self, on_change: impl Fn() + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
        let mut connector = self.connector.clone();
        connector.config.application_name(LISTENER_NAME);
        tokio::spawn(async move {
            loop {
                match listen(&connector, &on_change).await {
                    Ok(()) => tracing::warn!("lost the database's change notifications: listening again"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot listen for the database's changes"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

/// Listens until the connection ends or stops answering.
async fn listen(connector: &Connector, on_change: &impl Fn()) -> anyhow::Result<()> {
    let (client, mut notifications, driver) = tokio::time::timeout(PROBE_WITHIN, connector.connect_notified())
        .await
        .context("the database did not answer in time")??;
    let listening = async {
        tokio::time::timeout(PROBE_WITHIN, client.batch_execute("LISTEN sms_router_changed"))
            .await
            .context("the database did not answer in time")??;
        // What changed before the listener listened was not announced to it.
        on_change();
        let mut probe = tokio::time::interval(PROBE_EVERY);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                notification = notifications.recv() => match notification {
                    Some(()) => on_change(),
                    None => return Ok(()),
                },
                _ = probe.tick() => {
                    tokio::time::timeout(PROBE_WITHIN, client.simple_query("SELECT 1"))
                        .await
                        .context("the listening connection stopped answering")??;
                }
            }
        }
    };
    let ended: anyhow::Result<()> = listening.await;
    // Ending the driver and the client closes the connection, silent or not.
    driver.abort();
    drop(client);
    // Notifications lost with it may have been changes.
    on_change();
    ended
}
