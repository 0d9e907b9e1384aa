//! The schema, as embedded, versioned migrations (`PRAGMA user_version`).

use anyhow::{Context, bail};
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations, SchemaVersion};

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/0001_initial.sql")),
    M::up(include_str!("migrations/0002_outbox.sql")),
    M::up(include_str!("migrations/0003_verifications.sql")),
    M::up(include_str!("migrations/0004_store_probe.sql")),
    M::up(include_str!("migrations/0005_cached_tables_version.sql")),
    M::up(include_str!("migrations/0006_unanswered_senders.sql")),
    M::up(include_str!("migrations/0007_outbox_media.sql")),
    M::up(include_str!("migrations/0008_user_agents.sql")),
    M::up(include_str!("migrations/0009_kept_replies.sql")),
    M::up(include_str!("migrations/0010_outbox_request_id.sql")),
    M::up(include_str!("migrations/0011_text_cost_and_time.sql")),
    M::up(include_str!("migrations/0012_agent_events.sql")),
    M::up(include_str!("migrations/0013_kept_replies_by_log_row.sql")),
    M::up(include_str!("migrations/0014_usage_by_number.sql")),
];

/// The newest schema version this build knows.
pub fn known() -> usize {
    MIGRATIONS.len()
}

/// The schema version of the database at `path`, read without changing
/// it and without leaving a file behind; `None` when there is no file yet.
///
/// # Errors
/// When the file is not a database that can be read.
pub fn version_of(path: &std::path::Path) -> anyhow::Result<Option<i64>> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = open_read_only(path)?;
    let version = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("{} is not a SQLite database", path.display()))?;
    Ok(Some(version))
}

/// The database at `path` opened to read, creating nothing beside it: with
/// an empty or no write-ahead log (no server has it open, and the last one
/// closed it cleanly), as an immutable file, which SQLite reads without the
/// lock files; else read-only through the log and shared memory there.
///
/// # Errors
/// When the file cannot be opened.
pub fn open_read_only(path: &std::path::Path) -> anyhow::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let logged = std::fs::metadata(std::path::Path::new(&wal)).is_ok_and(|m| m.len() > 0);
    let conn = if logged {
        Connection::open_with_flags(path, flags)
    } else {
        let mut uri = url::Url::from_file_path(std::path::absolute(path)?)
            .map_err(|()| anyhow::anyhow!("{} cannot be named as a URI", path.display()))?;
        uri.set_query(Some("immutable=1"));
        Connection::open_with_flags(uri.as_str(), flags)
    };
    conn.with_context(|| format!("failed to open {}", path.display()))
}

/// Brings the database to the latest schema; a no-op when it is there.
///
/// # Errors
/// When the database was written by a newer sms-router (its schema version is
/// beyond ours) or a migration fails; nothing is changed then.
pub fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let migrations = Migrations::from_slice(MIGRATIONS);
    let known = MIGRATIONS.len();
    if let SchemaVersion::Outside(found) = migrations
        .current_version(conn)
        .context("failed to read the schema version")?
    {
        bail!(
            "the database has schema version {found}, written by a newer sms-router; this one knows versions up to \
             {known}: upgrade sms-router or use another database file"
        );
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .context("failed to switch the database to WAL")?;
    migrations.to_latest(conn).context("failed to migrate the database")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer sms-router"), "{err}");
    }

    #[test]
    fn a_reply_kept_before_version_13_is_found_by_its_log_row_after() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS).to_version(&mut conn, 12).unwrap();
        conn.execute_batch(
            "INSERT INTO sms_usage_logs (id, direction, outcome, message_sid) VALUES (7, 'inbound', 'routed', 'SM1');
             INSERT INTO sms_usage_logs (id, direction, outcome) VALUES (8, 'outbound', 'routed');
             INSERT INTO sms_kept_replies (message_sid, messages, media, kept_until)
                 VALUES ('SM1', '[\"hi\"]', NULL, '2099-01-01T00:00:00.000Z');",
        )
        .unwrap();

        migrate(&mut conn).unwrap();

        let kept: (i64, String) = conn
            .query_row("SELECT log_id, messages FROM sms_kept_replies", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(kept, (7, r#"["hi"]"#.to_owned()));
    }

    #[test]
    fn the_rows_logged_before_version_14_have_their_entries_by_number_after() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(MIGRATIONS).to_version(&mut conn, 13).unwrap();
        conn.execute_batch(
            "INSERT INTO sms_usage_logs (id, phone_number, direction, outcome) VALUES (3, '+15550101', 'inbound', 'routed');
             INSERT INTO sms_usage_logs (id, phone_number, direction, outcome) VALUES (4, NULL, 'inbound', 'routed');
             INSERT INTO sms_usage_logs (id, phone_number, direction, outcome) VALUES (5, '+15550100', 'outbound', 'routed');",
        )
        .unwrap();

        migrate(&mut conn).unwrap();

        let entries: Vec<(String, i64)> = conn
            .prepare("SELECT phone_number, log_id FROM sms_usage_by_number ORDER BY log_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(entries, [("+15550101".to_owned(), 3), ("+15550100".to_owned(), 5)]);
        let upto: i64 = conn
            .query_row("SELECT upto FROM sms_usage_by_number_upto", [], |r| r.get(0))
            .unwrap();
        assert_eq!(upto, 5);
    }

    #[test]
    fn the_outbox_keeps_every_status_the_port_names_and_no_other() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let insert = |status: &str| {
            conn.execute(
                "INSERT INTO sms_outbox (to_number, body, outcome, status) VALUES ('+15550100', '', 'sent', ?1)",
                [status],
            )
        };
        for status in crate::ports::OutboxStatus::ALL {
            insert(status.name()).unwrap();
        }
        assert!(insert("lost").is_err());
    }
}
