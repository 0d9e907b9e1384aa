//! How instances know that another one died: each holds a session-level
//! advisory lock on a connection of its own (its life line) for as long as
//! its process lives. When the process dies, the kernel closes that
//! connection, PostgreSQL ends the session and frees the lock, and any
//! instance finds it free at once (`pg_try_advisory_xact_lock`). The lease
//! (heartbeats) remains for what a lock cannot see: a partition, a hung
//! process whose connection stays open.
//!
//! A live instance whose life line broke (PostgreSQL restarted, say) looks
//! dead until it takes its lock again, so an instance judges others only
//! once its own life line has held for a few seconds: after a restart of
//! the database every instance has had time to take its lock back. Taken
//! over by mistake all the same, nothing is answered twice: a claim taken
//! over is only settled while its sender has not been told.

use crate::adapters::rows::outbox_status::SENDING;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use deadpool_postgres::Transaction;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Client};
use tokio_postgres::{NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use super::LEASE;

/// The first key of every instance's advisory lock: "smsr" in ASCII.
const NAMESPACE: i32 = 0x736d_7372;
/// How long an instance's own life line must have held before it judges
/// others by theirs (after its first).
const SETTLED_AFTER: Duration = Duration::from_secs(3);
/// How often the life line is probed, and how long a probe may take.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The state of this instance's life line.
#[derive(Debug, Default)]
pub(super) struct Life {
    /// Since when the lock is held; `None` while the line is broken.
    held_since: Mutex<Option<(Instant, bool)>>,
}

impl Life {
    /// Whether others' locks tell anything now: this instance's own is
    /// held, since its first taking or for a few seconds.
    pub(super) fn judging(&self) -> bool {
        self.held_since
            .lock()
            .map(|held| held.is_some_and(|(since, first)| first || since.elapsed() >= SETTLED_AFTER))
            .unwrap_or(false)
    }

    fn held(&self, first: bool) {
        if let Ok(mut held) = self.held_since.lock() {
            *held = Some((Instant::now(), first));
        }
    }

    fn broken(&self) {
        if let Ok(mut held) = self.held_since.lock() {
            *held = None;
        }
    }
}

/// How to open a connection of this instance's own.
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: Option<MakeRustlsConnect>,
}

impl Connector {
    /// A connection, its driver spawned on the runtime.
    pub(super) async fn connect(&self) -> anyhow::Result<Client> {
        match &self.tls {
            Some(tls) => open(&self.config, tls.clone()).await,
            None => open(&self.config, NoTls).await,
        }
    }
}

impl Connector {
    /// A connection whose notifications come through the channel answered,
    /// its driver the task answered (ended, it closes the connection).
    pub(super) async fn connect_notified(
        &self,
    ) -> anyhow::Result<(Client, UnboundedReceiver<()>, tokio::task::JoinHandle<()>)> {
        match &self.tls {
            Some(tls) => open_notified(&self.config, tls.clone()).await,
            None => open_notified(&self.config, NoTls).await,
        }
    }
}

async fn open<T>(config: &tokio_postgres::Config, tls: T) -> anyhow::Result<Client>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await.context("cannot reach the database")?;
    tokio::spawn(connection);
    Ok(client)
}

async fn open_notified<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> anyhow::Result<(Client, UnboundedReceiver<()>, tokio::task::JoinHandle<()>)>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = config.connect(tls).await.context("cannot reach the database")?;
    let (notified, notifications) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if matches!(message, AsyncMessage::Notification(_)) && notified.send(()).is_err() {
                break;
            }
        }
    });
    Ok((client, notifications, driver))
}

/// Registers `instance` with a lock key of its own and takes its lock on
/// a new connection, then holds it in a task: probed every second, taken
/// again whenever the connection breaks, for as long as the runtime runs.
/// Answers the task and the lock's key.
///
/// # Errors
/// When the first connection, lock or registration fails.
pub(super) async fn hold(
    connector: Connector,
    instance: Uuid,
    timeout: Duration,
    life: std::sync::Arc<Life>,
) -> anyhow::Result<(tokio::task::JoinHandle<()>, i32)> {
    let client = connector.connect().await?;
    let key: i32 = client
        .query_one("SELECT nextval('sms_instance_lock_keys')::integer", &[])
        .await
        .context("failed to choose this instance's lock")?
        .get(0);
    take(&client, instance, key, timeout).await?;
    life.held(true);
    let holding = tokio::spawn(async move {
        let mut client = client;
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let probe = tokio::time::timeout(timeout.max(PROBE_EVERY), client.simple_query("SELECT 1")).await;
            if matches!(probe, Ok(Ok(_))) {
                continue;
            }
            life.broken();
            tracing::warn!("lost this instance's life line to the database: taking it again");
            client = loop {
                tokio::time::sleep(PROBE_EVERY).await;
                match again(&connector, instance, key, timeout).await {
                    Ok(client) => break client,
                    Err(e) => tracing::debug!(error = %format!("{e:#}"), "cannot take the life line yet"),
                }
            };
            life.held(false);
            tracing::info!("holding this instance's life line again");
        }
    });
    Ok((holding, key))
}

/// A new connection holding the lock again (refused while a session of
/// the old connection, not yet ended by the database, still holds it).
async fn again(connector: &Connector, instance: Uuid, key: i32, timeout: Duration) -> anyhow::Result<Client> {
    let client = tokio::time::timeout(timeout, connector.connect())
        .await
        .context("the database did not answer in time")??;
    take(&client, instance, key, timeout).await?;
    Ok(client)
}

/// Takes the lock on `client`'s session and says, in `sms_instances`,
/// which lock is this instance's (registering it again if another
/// instance forgot it meanwhile).
async fn take(client: &Client, instance: Uuid, key: i32, timeout: Duration) -> anyhow::Result<()> {
    let taking = async {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&NAMESPACE, &key])
            .await?
            .get(0);
        if !taken {
            anyhow::bail!("the lock is still held by an earlier session");
        }
        client
            .execute(
                "INSERT INTO sms_instances (id, lock_key) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET lock_key = excluded.lock_key, heartbeat_at = now()",
                &[&instance, &key],
            )
            .await?;
        Ok(())
    };
    tokio::time::timeout(timeout, taking)
        .await
        .context("the database did not answer in time")?
        .context("failed to take this instance's life line")
}

/// The instances other than `me` that no longer live: silent past the
/// lease, or (when `judging`) whose life line's lock is free. The locks of
/// the dead are held until the transaction ends, so that two instances do
/// not both take one over.
pub(super) async fn dead_instances(tx: &Transaction<'_>, me: Uuid, judging: bool) -> anyhow::Result<Vec<Uuid>> {
    let rows = tx
        .query(
            "SELECT id FROM sms_instances
             WHERE id <> $1
               AND (heartbeat_at < now() - $2 * interval '1 second'
                    OR ($3 AND pg_try_advisory_xact_lock($4, lock_key)))",
            &[&me, &LEASE.as_secs_f64(), &judging, &NAMESPACE],
        )
        .await
        .context("failed to look for instances that stopped")?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Whether `instance`, which claimed a message, no longer lives (see
/// `dead_instances`); an instance no longer registered is dead.
pub(super) async fn is_dead(tx: &Transaction<'_>, instance: Uuid, judging: bool) -> anyhow::Result<bool> {
    let statement = tx
        .prepare_cached(
            "SELECT NOT EXISTS (
                 SELECT 1 FROM sms_instances
                 WHERE id = $1 AND heartbeat_at >= now() - $2 * interval '1 second'
                   AND NOT ($3 AND pg_try_advisory_xact_lock($4, lock_key)))",
        )
        .await?;
    Ok(tx
        .query_one(&statement, &[&instance, &LEASE.as_secs_f64(), &judging, &NAMESPACE])
        .await
        .context("failed to tell whether an instance lives")?
        .get(0))
}

/// Forgets the dead instances that left nothing to take over.
pub(super) async fn forget(tx: &Transaction<'_>, dead: &[Uuid]) -> anyhow::Result<()> {
    tx.execute(
        &format!(
            "DELETE FROM sms_instances i WHERE i.id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM sms_outbox o WHERE o.status = '{SENDING}' AND o.lease_owner = i.id)
           AND NOT EXISTS (SELECT 1 FROM sms_usage_logs l WHERE l.outcome = 'processing' AND l.claimed_by = i.id)"
        ),
        &[&dead],
    )
    .await
    .context("failed to forget instances that stopped")?;
    Ok(())
}
