//! Copies the write-ahead log back into the database file on a thread of its
//! own. Left to SQLite, the connection that commits does this every 1000
//! pages, and the log writer would stop taking writes while it copies and
//! syncs; here the copying overlaps the writer's commits. The writer keeps
//! SQLite's own checkpoint as well: it finds the pages already copied, and
//! it is what lets the log start over from its beginning, so that the file
//! stays small.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;

use super::BUSY_TIMEOUT;

/// The least time between two checkpoints, so that under load each copies
/// a good number of pages rather than a few.
const PAUSE: Duration = Duration::from_millis(20);

pub(super) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    /// Stops the thread and waits for it: its connection is closed when this
    /// returns.
    fn drop(&mut self) {
        drop(self.wake.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Checkpointer {
    /// Opens the checkpointer's own connection and starts its thread, which
    /// ends when the `Checkpointer` is dropped.
    pub(super) fn start(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("failed to open the database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sms-router-checkpoint".to_owned())
            .spawn(move || run(&conn, &woken))
            .context("failed to start the checkpointer")?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Asks for a checkpoint soon; many asks before it runs make one.
    pub(super) fn nudge(&self) {
        match self.wake.as_ref().map(|wake| wake.try_send(())) {
            Some(Ok(()) | Err(TrySendError::Full(()))) => {}
            Some(Err(TrySendError::Disconnected(()))) | None => tracing::error!("the checkpointer has stopped"),
        }
    }
}

fn run(conn: &Connection, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        // PASSIVE: copy what no reader still needs, never wait for anyone.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "a checkpoint of the database failed; SQLite's own will do it");
        }
        std::thread::sleep(PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_nudge_copies_the_log_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (n INTEGER PRIMARY KEY, b BLOB);
                 WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000)
                 INSERT INTO t SELECT n, zeroblob(1000) FROM s;",
            )
            .unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        assert!(size() < 100_000, "the rows are still only in the log");

        let checkpointer = Checkpointer::start(&path).unwrap();
        checkpointer.nudge();
        let started = Instant::now();
        while size() < 1_000_000 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }

        assert!(size() >= 1_000_000, "the database file has the rows: {} bytes", size());
    }
}
