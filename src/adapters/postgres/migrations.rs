//! The schema, as embedded, versioned migrations. All pending migrations run
//! in one transaction under a transaction-level advisory lock: instances
//! starting together wait for the first, then find nothing left to do, and
//! a failed migration leaves the database as it was (PostgreSQL's DDL is
//! transactional). A database of a newer schema is refused.

use anyhow::{Context, bail};
use tokio_postgres::Client;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_outbox_media.sql"),
    include_str!("migrations/0003_user_agents.sql"),
    include_str!("migrations/0004_lives_and_kept_replies.sql"),
    include_str!("migrations/0005_outbox_request_id.sql"),
    include_str!("migrations/0006_text_cost_and_time.sql"),
    include_str!("migrations/0007_agent_events.sql"),
    include_str!("migrations/0008_kept_replies_by_log_row.sql"),
];

/// The advisory lock's key: "sms-rout" in ASCII, unlikely to be another
/// application's.
const LOCK_KEY: i64 = 0x736d_732d_726f_7574;

/// The newest schema version this build knows.
pub fn known() -> usize {
    MIGRATIONS.len()
}

/// The database's schema version, read without changing it (0: never
/// migrated).
///
/// # Errors
/// When it cannot be read.
pub async fn version_of(client: &Client) -> anyhow::Result<i64> {
    let exists: bool = client
        .query_one("SELECT to_regclass('sms_schema_version') IS NOT NULL", &[])
        .await
        .context("failed to read the schema version")?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: i32 = client
        .query_one("SELECT coalesce(max(version), 0) FROM sms_schema_version", &[])
        .await
        .context("failed to read the schema version")?
        .get(0);
    Ok(i64::from(version))
}

/// Brings the database to the latest schema; a no-op when it is there.
///
/// # Errors
/// When the database was written by a newer sms-router or a migration
/// fails; nothing is changed then.
pub async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let tx = client.transaction().await.context("failed to begin migrating")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .context("failed to take the migration lock")?;
    // `IF NOT EXISTS` says NOTICE when it does: nothing to tell anyone.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .context("failed to begin migrating")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sms_schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .context("failed to create the schema version table")?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM sms_schema_version", &[])
        .await
        .context("failed to read the schema version")?
        .get(0);
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if found > known {
        bail!(
            "the database has schema version {found}, written by a newer sms-router; this one knows versions up to \
             {known}: upgrade sms-router or use another database"
        );
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("migration {version} failed"))?;
        tx.execute("INSERT INTO sms_schema_version (version) VALUES ($1)", &[&version])
            .await
            .context("failed to record the schema version")?;
    }
    tx.commit().await.context("failed to commit the migrations")?;
    Ok(())
}
