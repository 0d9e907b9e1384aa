//! Log lines gathered in memory and written by a thread of their own, a
//! batch every few milliseconds: a line costs its logger a lock and a copy,
//! never a system call or a wake-up of another thread. Warnings and errors
//! are written at once, with what waits before them. A channel of lines
//! (tracing-appender) woke the writing thread for nearly every line, and
//! under load those wake-ups cost more than the writing
//! (docs/performance.md).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait before it is written.
const EVERY: Duration = Duration::from_millis(5);
/// Bytes gathered that make the thread write at once rather than at its time.
const SOON: usize = 64 * 1024;
/// Bytes gathered past which a logger waits for the thread to write them:
/// a stalled stderr slows the loggers rather than losing lines or growing
/// without bound.
const FULL: usize = 1024 * 1024;

#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// A warning or an error waits: written without gathering more.
    urgent: bool,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    batch: Mutex<Batch>,
    /// The writing thread waits here for a first line, then for its time,
    /// `SOON`, or a stop.
    filled: Condvar,
    /// Loggers wait here while the batch is `FULL`.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // A logger that panicked mid-copy leaves at worst a cut line.
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where the subscriber writes: hands each line to the batch, or, when
/// the writing thread could not be started, writes it to stderr itself.
#[derive(Clone)]
pub struct Lines(Option<Arc<Shared>>);

/// Stops the writing thread once it has written every line handed over:
/// hold it until the process ends.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the thread that writes the lines to `out`; without one (no
/// thread could be started), lines go straight to stderr.
pub fn start<W: Write + Send + 'static>(out: W) -> (Lines, Option<Flusher>) {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new().name("sms-router-logs".to_owned()).spawn({
        let shared = shared.clone();
        move || run(&shared, out)
    });
    match thread {
        Ok(thread) => (
            Lines(Some(shared.clone())),
            Some(Flusher {
                shared,
                thread: Some(thread),
            }),
        ),
        Err(_) => (Lines(None), None),
    }
}

fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut writing = Vec::new();
    loop {
        let stopping = {
            let mut batch = shared.lock();
            // Asleep while there is nothing to write; then the lines of
            // the next few milliseconds are gathered into one write.
            while batch.bytes.is_empty() && !batch.stopping {
                batch = shared.filled.wait(batch).unwrap_or_else(PoisonError::into_inner);
            }
            if batch.bytes.len() < SOON && !batch.urgent && !batch.stopping {
                batch = shared
                    .filled
                    .wait_timeout(batch, EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut batch.bytes, &mut writing);
            batch.urgent = false;
            batch.stopping
        };
        shared.drained.notify_all();
        if !writing.is_empty() {
            // A line that cannot be written (stderr closed, a full disk)
            // is dropped: there is nowhere to report it.
            let _ = out.write_all(&writing).and_then(|()| out.flush());
            writing.clear();
        }
        if stopping && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

/// One line's writer: `urgent` for a warning or an error.
pub struct Line<'a> {
    lines: &'a Lines,
    urgent: bool,
}

impl Write for Line<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let Some(shared) = &self.lines.0 else {
            return std::io::stderr().write(line);
        };
        let mut batch = shared.lock();
        while batch.bytes.len() >= FULL && !batch.stopping {
            batch = shared.drained.wait(batch).unwrap_or_else(PoisonError::into_inner);
        }
        let was = batch.bytes.len();
        batch.bytes.extend_from_slice(line);
        batch.urgent |= self.urgent;
        if was == 0 || self.urgent || (was < SOON && batch.bytes.len() >= SOON) {
            shared.filled.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Lines {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            lines: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        Line {
            lines: self,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.filled.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// An output the test reads back.
    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<Vec<u8>>>);

    impl Write for Out {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_whole_and_in_each_loggers_order_by_the_stop() {
        let out = Out::default();
        let (lines, flusher) = start(out.clone());
        let loggers: Vec<_> = (0..4)
            .map(|logger| {
                let lines = lines.clone();
                std::thread::spawn(move || {
                    for n in 0..20_000 {
                        lines
                            .make_writer()
                            .write_all(format!("{logger} {n}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for logger in loggers {
            logger.join().unwrap();
        }
        drop(flusher);

        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut next = [0; 4];
        for line in written.lines() {
            let (logger, n) = line.split_once(' ').unwrap();
            let logger: usize = logger.parse().unwrap();
            assert_eq!(n.parse::<i32>().unwrap(), next[logger], "{line}");
            next[logger] += 1;
        }
        assert_eq!(next, [20_000; 4]);
    }

    #[test]
    fn a_line_is_written_without_waiting_for_more() {
        let out = Out::default();
        let (lines, _flusher) = start(out.clone());
        lines.make_writer().write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line was never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.0.lock().unwrap().as_slice(), b"alone\n");
    }
}
