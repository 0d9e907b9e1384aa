//! Changes made by any instance, announced by the database: the triggers
//! that bump the directory's version also `NOTIFY sms_router_changed`, and
//! each instance listens on a connection of its own. Notifications sent
//! while that connection is down are lost, so every (re)connection counts
//! as a change: the caches are read afresh.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, NoTls, Socket};

use super::PgStore;

/// The name the listening connection goes by in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "sms-router-listener";

impl PgStore {
    /// Calls `on_change` for every change any instance commits, and after
    /// every (re)connection of the listener, for as long as the runtime
    /// runs; reconnects a second after losing the database.
    pub fn spawn_change_listener(&self, on_change: impl Fn() + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
        let mut config = self.config.clone();
        config.application_name(LISTENER_NAME);
        let tls = self.tls.clone();
        tokio::spawn(async move {
            loop {
                let ended = match &tls {
                    Some(tls) => listen(&config, tls.clone(), &on_change).await,
                    None => listen(&config, NoTls, &on_change).await,
                };
                match ended {
                    Ok(()) => tracing::warn!("lost the database's change notifications: listening again"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot listen for the database's changes"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}

/// Listens until the connection ends.
async fn listen<T>(config: &tokio_postgres::Config, tls: T, on_change: &impl Fn()) -> anyhow::Result<()>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = config.connect(tls).await?;
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if notified.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute("LISTEN sms_router_changed").await?;
    // What changed before the listener listened was not announced to it.
    on_change();
    while notifications.recv().await.is_some() {
        on_change();
    }
    driver.await??;
    Ok(())
}
