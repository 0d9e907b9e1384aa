//! The SQLite store: rusqlite behind an r2d2 pool, every call off the async
//! runtime.

pub mod backup;
mod by_number;
mod checkpointer;
mod delivery;
mod directory;
mod events;
mod log_writer;
mod message_log;
pub mod migrations;
mod opt_outs;
mod outbox;
pub use outbox::backlog_of;
mod registry;
mod reports;
mod retention;
mod settings;
mod verifications;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use tracing::Instrument;

use crate::ports::{Readiness, StoreError};

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// How long a writer waits for another to finish before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the store tells whoever counts its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    /// One of the reads the message path can make, by name (`recipient`,
    /// `opt_out`, `settings`, `pending_verification`, `directory_version`).
    Read(&'static str),
    /// A group of usage log writes committed, changing `rows` rows.
    LogCommit { writes: usize, rows: usize },
}

pub type StoreObserver = Arc<dyn Fn(StoreEvent) + Send + Sync>;

#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool,
    /// Held while the store lives: a restore waits for no store to have it.
    _in_use: Arc<backup::InUse>,
    /// The single writer of the usage log's rows on the message path.
    log_writer: log_writer::LogWriter,
    observer: StoreObserver,
}

impl SqliteStore {
    /// Opens (creating it if need be) and migrates the database at `path`.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated, or belongs to a newer
    /// sms-router.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_observed(path, Arc::new(|_| {}))
    }

    /// As `open`, telling `observer` of the store's work: how `/metrics`
    /// shows that a cached message reads nothing, and how writes are grouped.
    ///
    /// # Errors
    /// As `open`.
    pub fn open_observed(path: &Path, observer: StoreObserver) -> anyhow::Result<Self> {
        // Locked before anything is read: a restore does not replace the
        // file under a store that has begun to use it.
        let in_use = Arc::new(backup::InUse::take(path)?);
        let mut conn =
            Connection::open(path).with_context(|| format!("failed to open the database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrations::migrate(&mut conn)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            // A transaction that reads, then writes, must hold the write lock
            // from its start: begun deferred, it cannot wait for another
            // writer (SQLITE_BUSY_SNAPSHOT and deadlocked upgrades are not
            // retried by the busy handler) and fails at once under load.
            c.set_transaction_behavior(TransactionBehavior::Immediate);
            c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)
            .context("failed to open the database connection pool")?;
        let log_writer = log_writer::LogWriter::start(path, observer.clone(), by_number::catch_up)?;
        Ok(SqliteStore {
            pool,
            _in_use: in_use,
            log_writer,
            observer,
        })
    }

    /// `run` for one of the reads the message path can make, named.
    async fn read<T, F>(&self, query: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        (self.observer)(StoreEvent::Read(query));
        self.run(work).await
    }

    /// Runs `work` on a pooled connection on the blocking pool, in the
    /// caller's tracing span.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get().context("failed to get a database connection")?;
            work(&mut conn)
        })
        .in_current_span()
        .await
        .context("a database task failed")
        .and_then(|r| r)
        .map_err(StoreError::new)
    }

    /// `run` for a write whose loss on power failure would double a send
    /// or forget an opt-out: committed with a full sync of the log, where
    /// the pool's other writes only sync at checkpoints.
    async fn run_synced<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    {
        self.run(|conn| {
            conn.execute_batch("PRAGMA synchronous = FULL")?;
            let done = work(conn);
            // Back to the pool's setting whatever happened: the connection
            // is reused.
            conn.execute_batch("PRAGMA synchronous = NORMAL")?;
            done
        })
        .await
    }
}

/// Whether an error is a broken uniqueness rule: a unique index (2067), a
/// primary key (1555) or one of our triggers (1811).
fn is_conflict(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ConstraintViolation
        && matches!(e.extended_code, 2067 | 1555 | 1811))
}

impl Readiness for SqliteStore {
    async fn check(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            // A committed change, so that a full disk shows, not only a lock.
            conn.execute(
                "INSERT INTO sms_store_probe (id, probes) VALUES (1, 1)
                 ON CONFLICT (id) DO UPDATE SET probes = probes + 1",
                [],
            )?;
            Ok(())
        })
        .await
    }
}
