//! The PostgreSQL store, for several instances sharing one database:
//! tokio-postgres behind a deadpool pool. The same ports as the SQLite
//! store, with every guarantee holding across instances.
//!
//! Over 300 lines: opening the store (the pool, migrations, the instance's
//! life line, the log writer, what the change listener connects with) is one
//! sequence whose order matters; connecting is in `connect`.

mod batches;
mod changes;
mod connect;
mod delivery;
mod directory;
mod events;
mod instances;
mod life;
mod log_writer;
mod message_log;
pub mod migrations;
mod opt_outs;
mod outbox;
mod rate_limit;
mod registry;
mod reports;
mod settings;
mod verifications;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::ports::{Readiness, StoreError};
use connect::{parse_url, tls, unreachable_database};

pub use changes::LISTENER_NAME;
pub use instances::{spawn_heartbeat, spawn_takeover};
pub use rate_limit::PgRateLimiter;

/// The deadline of a database call when none is configured
/// (`SMS_ROUTER_DATABASE_TIMEOUT_MS`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an instance counts as alive after its last heartbeat: its
/// claims and leases are taken over once it has been silent this long.
pub const LEASE: Duration = Duration::from_secs(15);

/// How often an instance looks for instances that died or went silent,
/// and takes over what they left.
pub const TAKEOVER_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// Connections whose commits do not wait for the disk: for writes whose
    /// loss in a crash costs nothing (rate-limit tokens, heartbeats).
    relaxed: Pool,
    /// How to open a connection of its own: the change listener's.
    connector: life::Connector,
    /// This instance, as its claims and leases name it.
    instance: Uuid,
    /// The key of this instance's life line (see `life`).
    lock_key: i32,
    /// Whether this instance's life line holds, so that it may judge others.
    life: Arc<life::Life>,
    /// The task holding the life line; stopped by `close`, and when the
    /// last clone of the store goes.
    holding: Arc<Holding>,
    /// The deadline of a database call.
    timeout: Duration,
    /// The single writer of the usage log's rows on the message path.
    log_writer: log_writer::LogWriter,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…` or
    /// `postgresql://…`) and brings it to the latest schema, once however
    /// many instances start together.
    ///
    /// # Errors
    /// When the URL cannot be read, the database cannot be reached or
    /// migrated, or it belongs to a newer sms-router.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_trusting(url, None).await
    }

    /// As `connect`, trusting the certificate authorities in the PEM file
    /// `ca_file` besides the usual public ones. With `sslmode=disable` the
    /// connection is plain; with `prefer` (the default) it is TLS when the
    /// server offers it, plain when not; with `require`, TLS or nothing.
    /// A server certificate is always verified: a private one needs its
    /// authority in `ca_file`.
    ///
    /// # Errors
    /// As `connect`, and when `ca_file` cannot be read.
    pub async fn connect_trusting(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        Self::connect_with(url, ca_file, DEFAULT_TIMEOUT).await
    }

    /// As `connect_trusting`, with `timeout` the deadline of every
    /// connection, pool wait and statement: a database that does not
    /// answer (refused, reset or silent) fails a call within it. Every
    /// connection has TCP keepalives, so that a silent peer is found.
    ///
    /// # Errors
    /// As `connect_trusting`.
    pub async fn connect_with(url: &str, ca_file: Option<&Path>, timeout: Duration) -> anyhow::Result<Self> {
        let mut config = parse_url(url)?;
        let probe = (timeout / 4).max(Duration::from_secs(1));
        config
            .connect_timeout(timeout)
            .tcp_user_timeout(timeout)
            .keepalives(true)
            .keepalives_idle(probe)
            .keepalives_interval(probe)
            .keepalives_retries(3);
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => Some(tls(ca_file)?),
        };
        let manager = |config: tokio_postgres::Config, recycling| match &tls {
            None => Manager::from_config(config, NoTls, recycling),
            Some(tls) => Manager::from_config(config, tls.clone(), recycling),
        };
        let mut relaxed_config = config.clone();
        // Added to the URL's own options (a search_path, say), not instead.
        let options = format!("{} -c synchronous_commit=off", config.get_options().unwrap_or(""));
        relaxed_config.options(options.trim());
        let relaxed = Pool::builder(manager(
            relaxed_config,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ))
        .max_size(8)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .context("failed to set up the database connection pool")?;
        let manager = manager(config.clone(), recycling);
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("failed to set up the database connection pool")?;
        let mut client = pool.get().await.map_err(|e| unreachable_database(&config, &e))?;
        migrations::migrate(&mut client).await?;
        drop(client);
        let instance = Uuid::new_v4();
        let connector = life::Connector { config, tls };
        let life = Arc::new(life::Life::default());
        let (holding, lock_key) = life::hold(connector.clone(), instance, timeout, life.clone())
            .await
            .context("failed to register this instance")?;
        let log_writer = log_writer::LogWriter::start(pool.clone(), instance, life.clone(), timeout);
        Ok(PgStore {
            pool,
            relaxed,
            connector,
            instance,
            lock_key,
            life,
            holding: Arc::new(Holding(holding)),
            timeout,
            log_writer,
        })
    }

    /// The schema version of the database at `url` and the newest this
    /// build knows, read without migrating or registering an instance.
    ///
    /// # Errors
    /// When the URL cannot be read or the database reached.
    pub async fn schema_version(url: &str, ca_file: Option<&Path>) -> anyhow::Result<(i64, usize)> {
        let client = Self::connect_once(url, ca_file).await?;
        Ok((migrations::version_of(&client).await?, migrations::known()))
    }

    /// What waits in the outbox, read on one connection of its own (for
    /// the doctor, which opens no pool and migrates nothing).
    ///
    /// # Errors
    /// When the database cannot be reached or read.
    pub async fn read_backlog(url: &str, ca_file: Option<&Path>) -> anyhow::Result<crate::ports::Backlog> {
        let client = Self::connect_once(url, ca_file).await?;
        outbox::backlog_of(&client)
            .await
            .context("cannot read what waits in the outbox")
    }

    async fn connect_once(url: &str, ca_file: Option<&Path>) -> anyhow::Result<tokio_postgres::Client> {
        let config = parse_url(url)?;
        let client = match config.get_ssl_mode() {
            SslMode::Disable => {
                let (client, connection) = config.connect(NoTls).await.context("cannot reach the database")?;
                tokio::spawn(connection);
                client
            }
            _ => {
                let (client, connection) = config
                    .connect(tls(ca_file)?)
                    .await
                    .context("cannot reach the database")?;
                tokio::spawn(connection);
                client
            }
        };
        Ok(client)
    }

    /// This instance's id.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    /// Says that this instance lives, so that the others leave its claims
    /// and leases alone; to be called well within every `LEASE`. Instances
    /// silent for a day are forgotten.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let client = self.relaxed_client().await?;
        client
            .execute(
                "INSERT INTO sms_instances (id, lock_key) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
                &[&self.instance, &self.lock_key],
            )
            .await
            .map_err(failed("failed to record a heartbeat"))?;
        client
            .execute(
                "DELETE FROM sms_instances WHERE heartbeat_at < now() - interval '1 day'",
                &[],
            )
            .await
            .map_err(failed("failed to forget old instances"))?;
        Ok(())
    }

    /// The pool now: connections in use, idle, and callers waiting.
    pub fn pool_status(&self) -> (usize, usize, usize) {
        let status = self.pool.status();
        (
            status.size.saturating_sub(status.available),
            status.available,
            status.waiting,
        )
    }

    /// Closes every pooled connection and lets the life line go (to the
    /// others, this instance is dead); calls after this fail.
    pub fn close(&self) {
        self.pool.close();
        self.relaxed.close();
        self.holding.0.abort();
    }

    /// `call`, failed when the database does not answer it in time: for
    /// the calls that do not go through the store's ports (whose deadline
    /// `adapters::deadline` keeps).
    pub(crate) async fn within<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call).await.unwrap_or_else(|_| {
            Err(StoreError::new(format!(
                "the database did not answer within {} ms",
                self.timeout.as_millis()
            )))
        })
    }

    /// How long a call may wait for the database.
    pub(crate) fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// A pooled connection whose commits do not wait for the disk.
    pub(crate) async fn relaxed_client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.relaxed
            .get()
            .await
            .context("failed to get a database connection")
            .map_err(StoreError::new)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .context("failed to get a database connection")
            .map_err(StoreError::new)
    }
}

/// The task that holds an instance's life line, ended with the store.
struct Holding(tokio::task::JoinHandle<()>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A query's failure as the store's.
fn failed(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |err| StoreError::new(anyhow::Error::new(err).context(context))
}

/// The name of the unique constraint or index a write broke, if that is
/// why it failed.
fn broken_unique(err: &tokio_postgres::Error) -> Option<&str> {
    let db = err.as_db_error()?;
    (db.code() == &SqlState::UNIQUE_VIOLATION).then(|| db.constraint().unwrap_or(""))
}

/// A time as the domain writes it: RFC 3339 in UTC, to the millisecond.
fn stamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Readiness for PgStore {
    async fn check(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        // A committed change, so that a read-only or full database shows.
        client
            .execute(
                "INSERT INTO sms_store_probe (id, probes) VALUES (1, 1)
                 ON CONFLICT (id) DO UPDATE SET probes = sms_store_probe.probes + 1",
                &[],
            )
            .await
            .map_err(failed("the store probe failed"))?;
        Ok(())
    }
}
