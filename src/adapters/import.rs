//! `sms-router import`: copies a SQLite database into an empty PostgreSQL
//! one, in one transaction (all or nothing), keeping every id. Users,
//! numbers, settings, opt-outs, verification codes, the usage log, the
//! outbox and the agents' events go across, as they are. What the SQLite server left unfinished (a
//! message still `processing`, a send in flight) goes across unowned, and
//! the first PostgreSQL instance to start resolves it with the store's own
//! recovery, as a restart would: `interrupted` (its sender told), `unknown`
//! (with its log row).
//!
//! Over 300 lines: the checks before the copy (an empty target, a known
//! schema), the table list and the copy itself, and the sequences set after it:
//! one all-or-nothing transaction.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::{Connection, OpenFlags};
use tokio_postgres::types::ToSql;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;

/// Rows sent to PostgreSQL together (pipelined).
const CHUNK: usize = 1000;

/// The tables copied, in an order that keeps foreign keys whole.
const TABLES: [&str; 8] = [
    "users",
    "user_phone_mappings",
    "sms_router_configs",
    "sms_opt_outs",
    "sms_phone_verifications",
    "sms_usage_logs",
    "sms_outbox",
    "sms_agent_events",
];

/// How many rows of each table went across.
#[derive(Debug, Default)]
pub struct Imported {
    pub tables: Vec<(&'static str, u64)>,
}

/// A SQLite value, as PostgreSQL's column wants it.
enum Value {
    Int(Option<i64>),
    Int32(Option<i32>),
    Bool(bool),
    Text(Option<String>),
    Time(Option<DateTime<Utc>>),
}

impl Value {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Value::Int(v) => v,
            Value::Int32(v) => v,
            Value::Bool(v) => v,
            Value::Text(v) => v,
            Value::Time(v) => v,
        }
    }
}

/// How a column is read from SQLite.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Int32,
    Bool,
    Text,
    Time,
}

struct Table {
    name: &'static str,
    /// The SELECT that reads the rows, in the order of `columns`.
    select: &'static str,
    columns: &'static [(&'static str, Kind)],
}

const USERS: Table = Table {
    name: "users",
    select: "SELECT id, full_name, email, phone_number, is_active, created_at, updated_at, agent_url, agent_token
             FROM users ORDER BY id",
    columns: &[
        ("id", Kind::Int),
        ("full_name", Kind::Text),
        ("email", Kind::Text),
        ("phone_number", Kind::Text),
        ("is_active", Kind::Bool),
        ("created_at", Kind::Time),
        ("updated_at", Kind::Time),
        ("agent_url", Kind::Text),
        ("agent_token", Kind::Text),
    ],
};

const PHONES: Table = Table {
    name: "user_phone_mappings",
    select: "SELECT id, user_id, phone_number, is_primary, is_verified, verification_method, created_at, updated_at
             FROM user_phone_mappings ORDER BY id",
    columns: &[
        ("id", Kind::Int),
        ("user_id", Kind::Int),
        ("phone_number", Kind::Text),
        ("is_primary", Kind::Bool),
        ("is_verified", Kind::Bool),
        ("verification_method", Kind::Text),
        ("created_at", Kind::Time),
        ("updated_at", Kind::Time),
    ],
};

const CONFIGS: Table = Table {
    name: "sms_router_configs",
    select: "SELECT key, value, description, updated_at FROM sms_router_configs ORDER BY key",
    columns: &[
        ("key", Kind::Text),
        ("value", Kind::Text),
        ("description", Kind::Text),
        ("updated_at", Kind::Time),
    ],
};

const OPT_OUTS: Table = Table {
    name: "sms_opt_outs",
    select: "SELECT phone_number, opted_out_at FROM sms_opt_outs ORDER BY rowid",
    columns: &[("phone_number", Kind::Text), ("opted_out_at", Kind::Time)],
};

const VERIFICATIONS: Table = Table {
    name: "sms_phone_verifications",
    select: "SELECT phone_id, code_hash, expires_at, attempts, created_at FROM sms_phone_verifications ORDER BY phone_id",
    columns: &[
        ("phone_id", Kind::Int),
        ("code_hash", Kind::Text),
        ("expires_at", Kind::Time),
        ("attempts", Kind::Int32),
        ("created_at", Kind::Time),
    ],
};

const USAGE_LOGS: Table = Table {
    name: "sms_usage_logs",
    select: "SELECT id, user_id, phone_number, direction,
                    outcome, message_sid, message_length, segments, processing_time_ms, success, error_message,
                    metadata, created_at, delivery_status, error_code, deferred, sender_told,
                    encoding, ucs2_code_point, router_time_ms, agent_time_ms, in_reply_to
             FROM sms_usage_logs ORDER BY id",
    columns: &[
        ("id", Kind::Int),
        ("user_id", Kind::Int),
        ("phone_number", Kind::Text),
        ("direction", Kind::Text),
        ("outcome", Kind::Text),
        ("message_sid", Kind::Text),
        ("message_length", Kind::Int32),
        ("segments", Kind::Int32),
        ("processing_time_ms", Kind::Int),
        ("success", Kind::Bool),
        ("error_message", Kind::Text),
        ("metadata", Kind::Text),
        ("created_at", Kind::Time),
        ("delivery_status", Kind::Text),
        ("error_code", Kind::Int),
        ("deferred", Kind::Bool),
        ("sender_told", Kind::Bool),
        ("encoding", Kind::Text),
        ("ucs2_code_point", Kind::Int32),
        ("router_time_ms", Kind::Int),
        ("agent_time_ms", Kind::Int),
        ("in_reply_to", Kind::Text),
    ],
};

const OUTBOX: Table = Table {
    name: "sms_outbox",
    select: "SELECT id, user_id, to_number, body, outcome, status, attempts, next_attempt_at, message_sid,
                    error_message, error_code, created_at, updated_at, media, request_id, in_reply_to
             FROM sms_outbox ORDER BY id",
    columns: &[
        ("id", Kind::Int),
        ("user_id", Kind::Int),
        ("to_number", Kind::Text),
        ("body", Kind::Text),
        ("outcome", Kind::Text),
        ("status", Kind::Text),
        ("attempts", Kind::Int32),
        ("next_attempt_at", Kind::Time),
        ("message_sid", Kind::Text),
        ("error_message", Kind::Text),
        ("error_code", Kind::Int),
        ("created_at", Kind::Time),
        ("updated_at", Kind::Time),
        ("media", Kind::Text),
        ("request_id", Kind::Text),
        ("in_reply_to", Kind::Text),
    ],
};

const EVENTS: Table = Table {
    name: "sms_agent_events",
    select: "SELECT id, idempotency_key, kind, user_id, phone_number, message_sid, reply_sid, status, error_code,
                    state, attempts, next_attempt_at, last_error, created_at, updated_at
             FROM sms_agent_events ORDER BY id",
    columns: &[
        ("id", Kind::Int),
        ("idempotency_key", Kind::Text),
        ("kind", Kind::Text),
        ("user_id", Kind::Int),
        ("phone_number", Kind::Text),
        ("message_sid", Kind::Text),
        ("reply_sid", Kind::Text),
        ("status", Kind::Text),
        ("error_code", Kind::Int),
        ("state", Kind::Text),
        ("attempts", Kind::Int32),
        ("next_attempt_at", Kind::Time),
        ("last_error", Kind::Text),
        ("created_at", Kind::Time),
        ("updated_at", Kind::Time),
    ],
};

fn read_value(row: &rusqlite::Row<'_>, index: usize, kind: Kind) -> anyhow::Result<Value> {
    Ok(match kind {
        Kind::Int => Value::Int(row.get(index)?),
        Kind::Int32 => Value::Int32(row.get(index)?),
        Kind::Bool => Value::Bool(row.get(index)?),
        Kind::Text => Value::Text(row.get(index)?),
        Kind::Time => Value::Time(
            row.get::<_, Option<String>>(index)?
                .map(|text| {
                    DateTime::parse_from_rfc3339(&text)
                        .map(|t| t.with_timezone(&Utc))
                        .with_context(|| format!("`{text}` is not a time"))
                })
                .transpose()?,
        ),
    })
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database
/// `to`, showing a progress bar on a terminal.
///
/// # Errors
/// When `from` is not an sms-router database, `to` already holds data, or
/// either cannot be read or written; nothing is written then.
pub async fn import(from: &Path, to: &PgStore) -> anyhow::Result<Imported> {
    if !from.is_file() {
        bail!("{} is not a file", from.display());
    }
    // Brought to the latest schema first, as any start of the server would.
    drop(SqliteStore::open(from)?);
    // Held alone while it is copied: a server still running on it would
    // send its queued messages too.
    let _alone = super::sqlite::backup::alone(from)?;
    let sqlite = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("failed to open {}", from.display()))?;
    // One snapshot for every table.
    sqlite.execute_batch("BEGIN")?;
    let mut client = to.client().await?;
    let tx = client.transaction().await.context("failed to begin the import")?;
    for table in TABLES {
        let held: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await
            .context("failed to read the PostgreSQL database")?
            .get(0);
        if held {
            bail!("the PostgreSQL database already holds data (in {table}): import only into an empty one");
        }
    }
    let tables = [
        USERS,
        PHONES,
        CONFIGS,
        OPT_OUTS,
        VERIFICATIONS,
        USAGE_LOGS,
        OUTBOX,
        EVENTS,
    ];
    let mut total = 0;
    for table in &tables {
        let count: i64 = sqlite.query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| r.get(0))?;
        total += u64::try_from(count).unwrap_or(0);
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:40}] {pos}/{len} rows, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut imported = Imported::default();
    for table in &tables {
        bar.set_message(table.name);
        let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} ({}) VALUES ({})",
                table.name,
                columns.join(", "),
                placeholders.join(", ")
            ))
            .await
            .with_context(|| format!("failed to prepare the copy of {}", table.name))?;
        let mut statement = sqlite.prepare(table.select)?;
        let mut rows = statement.query([])?;
        let mut copied = 0u64;
        loop {
            let mut chunk: Vec<Vec<Value>> = Vec::with_capacity(CHUNK);
            while chunk.len() < CHUNK {
                let Some(row) = rows.next()? else { break };
                let values = table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| read_value(row, i, *kind))
                    .collect::<anyhow::Result<Vec<_>>>()
                    .with_context(|| format!("a row of {} cannot be read", table.name))?;
                chunk.push(values);
            }
            if chunk.is_empty() {
                break;
            }
            let params: Vec<Vec<&(dyn ToSql + Sync)>> = chunk
                .iter()
                .map(|values| values.iter().map(Value::as_sql).collect())
                .collect();
            // Sent together: tokio-postgres pipelines concurrent queries.
            try_join_all(params.iter().map(|p| tx.execute(&insert, p)))
                .await
                .with_context(|| format!("failed to copy {}", table.name))?;
            copied += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
        }
        imported.tables.push((table.name, copied));
    }
    // New rows get ids after the copied ones.
    for table in [
        "users",
        "user_phone_mappings",
        "sms_usage_logs",
        "sms_outbox",
        "sms_agent_events",
    ] {
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            ),
            &[],
        )
        .await
        .with_context(|| format!("failed to move {table}'s ids on"))?;
    }
    tx.commit().await.context("failed to commit the import")?;
    sqlite.execute_batch("COMMIT")?;
    bar.finish_and_clear();
    Ok(imported)
}
