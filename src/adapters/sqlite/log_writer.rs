//! The usage log's single writer: one thread, one connection, and group
//! commit. Every write waiting when the thread is free goes into one
//! transaction, each in a savepoint of its own, so that one disk sync covers
//! them all; each caller gets its answer only once that transaction is
//! committed, and a write that fails is rolled back alone. Now and then,
//! after answering, it runs the store's upkeep (the usage log's entries by
//! number) in a transaction of its own.
//!
//! Over 300 lines: the thread's loop, the group's transaction and the
//! upkeep share the one connection and its order of work; the tests drive
//! the thread through all three.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::checkpointer::Checkpointer;
use super::{BUSY_TIMEOUT, StoreEvent, StoreObserver};
use crate::ports::StoreError;

/// The most writes one transaction holds.
const MAX_GROUP: usize = 256;
/// Writes that may wait for the writer before callers wait to queue.
const QUEUE: usize = 4096;
/// Rows written, or time passed, from one run of the upkeep to the next
/// (the usage log's entries by number, `by_number.rs`): enough rows that a
/// message's two rows are in one batch and a page of entries takes several,
/// few enough that the writes waiting meanwhile wait a millisecond or two
/// (4,096 rows: p99 at 32 connections 14 -> 16 ms) and the rows read from the
/// log itself until the next run stay few.
const UPKEEP_ROWS: usize = 1024;
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// Work the writer does in a transaction of its own, now and then, after
/// answering the writes before it.
pub(super) type Upkeep = fn(&Connection) -> rusqlite::Result<usize>;

/// Called once the group's transaction is committed, or not (then with why).
type Answer = Box<dyn FnOnce(Option<&anyhow::Error>) + Send>;
/// Runs a write on the writer's connection, or is told why it cannot run;
/// says whether it succeeded and how to answer its caller.
type Job = Box<dyn FnOnce(Result<&Connection, &anyhow::Error>) -> (bool, Answer) + Send>;

#[derive(Clone)]
pub(super) struct LogWriter {
    // Dropped first: with the last sender gone, the thread ends.
    jobs: mpsc::Sender<Job>,
    _thread: std::sync::Arc<Joined>,
}

/// The writer's thread, joined when the last `LogWriter` is dropped: its
/// connection (and the checkpointer's) closed before the store's owner goes
/// on, so that a command that exits right after leaves no write-ahead log or
/// shared memory beside the database (files a command run as root would own).
struct Joined(std::sync::Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for Joined {
    fn drop(&mut self) {
        if let Some(thread) = self.0.get_mut().ok().and_then(Option::take) {
            let _ = thread.join();
        }
    }
}

impl LogWriter {
    /// Opens the writer's own connection and starts its thread, which ends
    /// when the last `LogWriter` is dropped.
    pub(super) fn start(path: &Path, observer: StoreObserver, upkeep: Upkeep) -> anyhow::Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("failed to open the database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Each commit reaches the disk before its messages are answered:
        // with group commit that is one sync per group, not per message.
        // Each write's savepoint keeps what it would undo in memory, not in
        // a temporary file.
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;")?;
        let checkpointer = Checkpointer::start(path)?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("sms-router-log-writer".to_owned())
            .spawn(move || run(conn, queue, &checkpointer, observer, upkeep))
            .context("failed to start the log writer")?;
        Ok(LogWriter {
            jobs,
            _thread: std::sync::Arc::new(Joined(std::sync::Mutex::new(Some(thread)))),
        })
    }

    /// Runs `work` in the next group; answers its result once the group is
    /// committed.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => work(conn),
                Err(why) => Err(anyhow!("{why:#}")),
            };
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |commit_error| {
                let result = match (result, commit_error) {
                    (Ok(value), None) => Ok(value),
                    (Ok(_), Some(e)) => Err(anyhow!("{e:#}")),
                    (Err(e), _) => Err(e),
                };
                let _ = answer.send(result);
            });
            (ok, answer)
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::new("the usage log writer has stopped"))?;
        answered
            .await
            .map_err(|_| StoreError::new("the usage log writer stopped before answering"))?
            .map_err(StoreError::new)
    }
}

fn run(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Job>,
    checkpointer: &Checkpointer,
    observer: StoreObserver,
    upkeep: Upkeep,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    // What an earlier run left.
    keep_up(&mut conn, upkeep);
    let (mut rows_since, mut last) = (0, Instant::now());
    while let Some(first) = queue.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP
            && let Ok(job) = queue.try_recv()
        {
            group.push(job);
        }
        let writes = group.len();
        let before = conn.total_changes();
        let (answers, committed) = commit_group(&mut conn, group.drain(..));
        match &committed {
            Ok(()) => {
                checkpointer.nudge();
                let rows = usize::try_from(conn.total_changes().saturating_sub(before)).unwrap_or(0);
                rows_since += rows;
                observer(StoreEvent::LogCommit { writes, rows });
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), writes, "a group of usage log writes failed"),
        }
        for answer in answers {
            answer(committed.as_ref().err());
        }
        if rows_since >= UPKEEP_ROWS || (rows_since > 0 && last.elapsed() >= UPKEEP_EVERY) {
            keep_up(&mut conn, upkeep);
            (rows_since, last) = (0, Instant::now());
        }
    }
}

/// Runs the upkeep in a transaction of its own; a failure is tried again
/// at the next run.
fn keep_up(conn: &mut Connection, upkeep: Upkeep) {
    let done = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .and_then(|tx| {
            upkeep(&tx)?;
            tx.commit()
        });
    if let Err(e) = done {
        tracing::warn!(error = %e, "the usage log writer's upkeep failed; it is tried again later");
    }
}

/// Runs the jobs in one transaction, each in a savepoint of its own: a job
/// that fails is rolled back alone. Answers every job's answer, and whether
/// the transaction was committed.
fn commit_group(conn: &mut Connection, mut jobs: impl Iterator<Item = Job>) -> (Vec<Answer>, anyhow::Result<()>) {
    let refuse_all = |jobs: &mut dyn Iterator<Item = Job>, answers: &mut Vec<Answer>, why: anyhow::Error| {
        answers.extend(jobs.map(|job| job(Err(&why)).1));
        Err(why)
    };
    let mut answers = Vec::new();
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let why = anyhow::Error::from(e).context("failed to begin writing the usage log");
            let result = refuse_all(&mut jobs, &mut answers, why);
            return (answers, result);
        }
    };
    while let Some(job) = jobs.next() {
        if let Err(e) = tx.prepare_cached("SAVEPOINT job").and_then(|mut s| s.execute([])) {
            let why = anyhow::Error::from(e).context("failed to write the usage log");
            let result = refuse_all(&mut std::iter::once(job).chain(jobs), &mut answers, why);
            return (answers, result);
        }
        let (ok, answer) = job(Ok(&tx));
        answers.push(answer);
        let end = if ok {
            tx.prepare_cached("RELEASE job").and_then(|mut s| s.execute([]))
        } else {
            tx.execute_batch("ROLLBACK TO job; RELEASE job").map(|()| 0)
        };
        if let Err(e) = end {
            let why = anyhow::Error::from(e).context("failed to write the usage log");
            let result = refuse_all(&mut jobs, &mut answers, why);
            return (answers, result);
        }
    }
    let committed = tx.commit().context("failed to commit the usage log");
    (answers, committed)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    fn writer() -> (LogWriter, Arc<Mutex<Vec<StoreEvent>>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY);")
            .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let writer = LogWriter::start(&path, Arc::new(move |e| seen.lock().unwrap().push(e)), |_| Ok(0)).unwrap();
        (writer, events, dir)
    }

    fn count(dir: &tempfile::TempDir) -> i64 {
        Connection::open(dir.path().join("t.db"))
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn writes_that_wait_together_are_committed_together() {
        let (writer, events, dir) = writer();
        // A slow first write keeps the writer busy while the others queue.
        let slow = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(|conn| {
                        std::thread::sleep(Duration::from_millis(200));
                        Ok(conn.execute("INSERT INTO t (n) VALUES (0)", [])?)
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued: Vec<_> = (1..=40)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |conn| Ok(conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?))
                        .await
                })
            })
            .collect();

        slow.await.unwrap().unwrap();
        for write in queued {
            assert_eq!(write.await.unwrap().unwrap(), 1);
        }

        assert_eq!(count(&dir), 41, "every answered write is committed");
        let events = events.lock().unwrap();
        let writes: usize = events
            .iter()
            .map(|e| match *e {
                StoreEvent::LogCommit { writes, .. } => writes,
                StoreEvent::Read(_) => 0,
            })
            .sum();
        assert_eq!(writes, 41);
        assert!(events.len() <= 3, "41 writes in {} commits", events.len());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_write_is_rolled_back_alone() {
        let (writer, _, dir) = writer();
        let writes = (0..10).map(|n| {
            let writer = writer.clone();
            async move {
                writer
                    .write(move |conn| {
                        conn.execute("INSERT INTO t (n) VALUES (?1)", [n + 100])?;
                        // Every third write fails after its insert.
                        anyhow::ensure!(n % 3 != 0, "write {n} fails");
                        Ok(())
                    })
                    .await
            }
        });
        let results = futures_util::future::join_all(writes).await;

        let failed = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(failed, 4);
        assert_eq!(count(&dir), 6, "only the failed writes were rolled back");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_that_cannot_commit_answers_every_write_with_an_error() {
        let (writer, _, dir) = writer();
        let blocker = Connection::open(dir.path().join("t.db")).unwrap();
        blocker.busy_timeout(Duration::ZERO).unwrap();
        // A write lock held past the writer's busy timeout.
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        let result = writer
            .write(|conn| Ok(conn.execute("INSERT INTO t (n) VALUES (1)", [])?))
            .await;
        blocker.execute_batch("ROLLBACK").unwrap();

        let error = result.unwrap_err().to_string();
        assert!(error.contains("locked") || error.contains("busy"), "{error}");
        assert!(started.elapsed() >= BUSY_TIMEOUT);
        assert_eq!(count(&dir), 0);
    }
}
