//! Backups of the SQLite database, and putting one back.
//!
//! A backup is `VACUUM INTO`: one read transaction, so a consistent copy of
//! every row committed before it began, while the server goes on writing
//! (the online backup API would start over at every write of another
//! connection, and under a steady load never finish). Its progress is the
//! copy's size against the database's.
//!
//! A restore checks the copy first (integrity, and a schema this sms-router
//! knows), refuses while anything holds the database open through a store
//! (each store holds a shared lock on the file: `flock`, apart from
//! SQLite's own locks), and replaces the file whole, its write-ahead log
//! with it.
//!
//! Over 300 lines: backup, the checks of a copy, and restore share the file's
//! locks and must agree on them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

use super::migrations;

/// A shared lock on the database file, held by every store that has it
/// open: a restore, which wants it alone, is refused meanwhile.
pub(super) struct InUse(#[allow(dead_code)] File);

impl InUse {
    /// Takes the shared lock, before the store reads or migrates anything
    /// (creating an empty file, which SQLite reads as an empty database).
    /// A restore in progress is waited for; the file it put in place is
    /// the one locked.
    pub(super) fn take(path: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        loop {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("failed to open {}", path.display()))?;
            flock(&file, libc::LOCK_SH).with_context(|| format!("failed to lock {}", path.display()))?;
            // Replaced by a restore while this waited: lock the new file.
            let locked = file.metadata()?.ino();
            if std::fs::metadata(path).is_ok_and(|now| now.ino() == locked) {
                return Ok(InUse(file));
            }
        }
    }
}

/// Why a command cannot have the database: another has it (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{path} is in use ({by}): stop it first", path = .path.display())]
pub struct InUseError {
    pub path: PathBuf,
    by: &'static str,
}

/// The database at `path` held alone, for as long as the answer lives;
/// refused while any store has it open.
pub(crate) fn alone(path: &Path) -> anyhow::Result<File> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
        return Err(InUseError {
            path: path.to_owned(),
            by: "a server, or another sms-router command, has it open",
        }
        .into());
    }
    Ok(file)
}

/// The right to change the database at `path` wholesale, held by one
/// process at a time: the server that serves it (a second would take the
/// first one's messages for interrupted ones), or `migrate`, `import` or
/// `restore`. Commands that only read or add (`user list`, `user add`,
/// `doctor`, `backup`) work beside it. A lock on a file of its own beside
/// the database, `FILE.lock`, which stays there.
pub struct Sole(#[allow(dead_code)] File);

impl Sole {
    /// # Errors
    /// `InUseError` while another process holds it; any other error when
    /// the lock file cannot be opened.
    pub fn take(path: &Path) -> anyhow::Result<Self> {
        let lock = sibling_dot(path, "lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .with_context(|| format!("failed to open {}", lock.display()))?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            return Err(InUseError {
                path: path.to_owned(),
                by: "another sms-router serves, migrates, imports or restores it",
            }
            .into());
        }
        Ok(Sole(file))
    }
}

fn flock(file: &File, operation: libc::c_int) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows; no memory involved.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Copies the database at `from` into the new file `to`, consistently while
/// it serves; tells `progress` the bytes written so far and the database's
/// size, every tenth of a second. The copy holds what the database holds,
/// agent tokens included: it is readable by its owner alone (0600), and
/// written whole or not at all, into a temporary file beside `to` that
/// takes its name only once complete and synced, and is removed on failure.
///
/// # Errors
/// When `to` exists, `from` is not a database, or the copy fails.
pub fn backup(from: &Path, to: &Path, progress: impl Fn(u64, u64)) -> anyhow::Result<()> {
    if to.exists() {
        bail!("{} exists already: a backup goes into a new file", to.display());
    }
    if !from.is_file() {
        bail!("{} is not a file", from.display());
    }
    let partial = Partial::create(to)?;
    let conn = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("failed to open {}", from.display()))?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    let size: i64 = conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )?;
    let size = u64::try_from(size).unwrap_or(0);
    let target = partial.path.display().to_string();
    let copying = std::thread::spawn(move || conn.execute("VACUUM INTO ?1", [target]).map(|_| ()));
    while !copying.is_finished() {
        let written = std::fs::metadata(&partial.path).map_or(0, |m| m.len());
        progress(written.min(size), size);
        std::thread::sleep(Duration::from_millis(100));
    }
    let copying = copying
        .join()
        .map_err(|_| anyhow::anyhow!("the backup's thread failed"))?;
    copying.with_context(|| format!("failed to copy {} into {}", from.display(), to.display()))?;
    partial.finish(to)?;
    progress(size, size);
    Ok(())
}

/// A backup being written: an empty file beside its target, readable by its
/// owner alone, removed unless it is finished.
struct Partial {
    path: PathBuf,
    done: bool,
}

impl Partial {
    fn create(to: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let name = to
            .file_name()
            .with_context(|| format!("{} names no file", to.display()))?
            .to_string_lossy();
        let path = to.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("failed to create {}", path.display()))?;
        Ok(Partial { path, done: false })
    }

    /// Syncs the copy and gives it its name, refusing to replace a file
    /// that appeared there meanwhile.
    fn finish(mut self, to: &Path) -> anyhow::Result<()> {
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("failed to sync {}", self.path.display()))?;
        std::fs::hard_link(&self.path, to).with_context(|| format!("failed to name the backup {}", to.display()))?;
        sync_dir(to);
        self.done = true;
        let _ = std::fs::remove_file(&self.path);
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Syncs the directory holding `path`, so that a new name in it lasts.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).ok();
    }
}

/// Checks that `file` is a whole sms-router database this build can serve.
fn check(file: &Path) -> anyhow::Result<()> {
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("failed to open {}", file.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not a SQLite database", file.display()))?;
    if integrity != "ok" {
        bail!("{} is damaged (integrity check: {integrity})", file.display());
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = i64::try_from(migrations::known()).unwrap_or(i64::MAX);
    if version == 0 {
        bail!("{} is not an sms-router database", file.display());
    }
    if version > known {
        bail!(
            "{} has schema version {version}, written by a newer sms-router; this one knows versions up to {known}",
            file.display()
        );
    }
    Ok(())
}

/// Puts the backup `file` in place of the database at `path`, once it is
/// checked and nothing has the database open. The database it replaces is
/// kept beside it, whole (its write-ahead log checkpointed into it), as
/// `path.replaced-<time>`, whose name it answers; the backup takes the
/// replaced file's owner, group and mode (a restore run as root over a
/// service's database leaves it the service's).
///
/// # Errors
/// When the backup fails its checks, a server (or any store) has the
/// database open, or the files cannot be written; the database is left as
/// it was then.
pub fn restore(file: &Path, path: &Path) -> anyhow::Result<Option<PathBuf>> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    check(file)?;
    let alone = if path.exists() { Some(alone(path)?) } else { None };
    let staged = sibling(path, "restoring");
    std::fs::copy(file, &staged).with_context(|| format!("failed to copy {}", file.display()))?;
    let replaced = std::fs::metadata(path).ok();
    let (mode, owner) = match &replaced {
        Some(old) => (old.mode() & 0o7777, Some((old.uid(), old.gid()))),
        None => (0o600, None),
    };
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("failed to set the mode of {}", staged.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&staged, Some(uid), Some(gid))
            .with_context(|| format!("failed to give {} the replaced database's owner", staged.display()))?;
    }
    File::open(&staged)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("failed to sync {}", staged.display()))?;
    let kept = match &replaced {
        Some(_) => {
            // Whole before it is kept: what its log holds goes into it.
            Connection::open(path)
                .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
                .with_context(|| format!("failed to checkpoint {}", path.display()))?;
            let kept = sibling_dot(
                path,
                &format!("replaced-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")),
            );
            std::fs::hard_link(path, &kept).with_context(|| format!("failed to keep {}", path.display()))?;
            Some(kept)
        }
        None => None,
    };
    // The old database's write-ahead log would be replayed over the new one.
    for stale in [sibling(path, "wal"), sibling(path, "shm")] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("failed to remove {}", stale.display())),
        }
    }
    std::fs::rename(&staged, path).with_context(|| format!("failed to put {} in place", path.display()))?;
    sync_dir(path);
    drop(alone);
    Ok(kept)
}

/// `path` with `.suffix` appended.
fn sibling_dot(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

/// `path` with `-suffix` appended, as SQLite names its own files.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!("-{suffix}"));
    PathBuf::from(name)
}
