//! The store a configuration names, chosen in this one place for `serve`,
//! every command and the doctor: PostgreSQL when `SMS_ROUTER_DATABASE_URL`
//! is set, the SQLite file of `SMS_ROUTER_DATABASE_PATH` otherwise.

use crate::adapters::postgres::PgStore;
use crate::adapters::sqlite::backup::Sole;
use crate::adapters::sqlite::{SqliteStore, StoreObserver, migrations};
use crate::config::Config;

/// The store, opened and migrated.
// Opened once a process: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Whether a command needs a SQLite database to itself (`serve`, `migrate`,
/// `restore`) or works beside a server (`user`, `purge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Alone,
    Beside,
}

/// An opened store, and the SQLite database held alone while it lives.
pub struct Opened {
    pub database: Database,
    pub sole: Option<Sole>,
}

/// Opens (and migrates) the store `config` names; `observer` sees a
/// SQLite store's reads and commits.
///
/// # Errors
/// An `InUseError` when `Access::Alone` finds the SQLite file held by
/// another process; a `ConfigError` when PostgreSQL cannot be reached;
/// any other error when the store cannot be opened or migrated.
pub async fn open(config: &Config, access: Access, observer: Option<StoreObserver>) -> anyhow::Result<Opened> {
    match &config.database_url {
        Some(url) => {
            let store = PgStore::connect_with(
                url.expose(),
                config.database_ca_file.as_deref(),
                config.database_timeout,
            )
            .await?;
            Ok(Opened {
                database: Database::Postgres(store),
                sole: None,
            })
        }
        None => {
            let path = &config.database_path;
            // One server a database: a second would take the first's
            // messages for ones a dead run left.
            let sole = match access {
                Access::Alone => Some(Sole::take(path)?),
                Access::Beside => None,
            };
            let store = match observer {
                Some(observer) => SqliteStore::open_observed(path, observer)?,
                None => SqliteStore::open(path)?,
            };
            Ok(Opened {
                database: Database::Sqlite(store),
                sole,
            })
        }
    }
}

/// Where the store's schema stands, read without writing anything.
pub enum Schema {
    /// The SQLite file does not exist yet.
    Missing,
    /// At version `found` of the `known` this build has.
    At { found: i64, known: usize },
}

/// The schema of the store `config` names, read without migrating or
/// writing anything.
///
/// # Errors
/// When the store cannot be reached or read.
pub async fn schema(config: &Config) -> anyhow::Result<Schema> {
    match &config.database_url {
        Some(url) => {
            let (found, known) = PgStore::schema_version(url.expose(), config.database_ca_file.as_deref()).await?;
            Ok(Schema::At { found, known })
        }
        None => Ok(match migrations::version_of(&config.database_path)? {
            None => Schema::Missing,
            Some(found) => Schema::At {
                found,
                known: migrations::known(),
            },
        }),
    }
}

/// What waits in the outbox of the store `config` names, read without
/// migrating or writing anything (once `schema` says it is migrated).
///
/// # Errors
/// When the store cannot be reached or read.
pub async fn backlog(config: &Config) -> anyhow::Result<crate::ports::Backlog> {
    match &config.database_url {
        Some(url) => PgStore::read_backlog(url.expose(), config.database_ca_file.as_deref()).await,
        None => {
            let conn = migrations::open_read_only(&config.database_path)?;
            Ok(crate::adapters::sqlite::backlog_of(&conn)?)
        }
    }
}

/// Runs `$body` with `$store` bound to whichever store `$database` holds:
/// how a command generic over the ports serves both.
macro_rules! with_store {
    ($database:expr, $store:ident => $body:expr) => {
        match $database {
            $crate::database::Database::Sqlite($store) => $body,
            $crate::database::Database::Postgres($store) => $body,
        }
    };
}
pub(crate) use with_store;
