//! The tracing subscriber, set up once. Logs go to stderr so that commands
//! such as `simulate` keep stdout for their output; in colour only on a
//! terminal, and never when `NO_COLOR` is set (journald keeps escape codes
//! as bytes). Lines are written by a thread of their own, a batch at a
//! time, so that a request does not wait for stderr.

mod batched;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Writes what is still waiting when dropped: hold it until the process
/// ends.
#[must_use = "the log lines still waiting are lost when this is dropped"]
pub struct LogGuard {
    _flusher: Option<batched::Flusher>,
}

/// Installs the global subscriber; a second call does nothing.
///
/// Each line is formatted where it is logged and written to stderr by the
/// logs' own thread, a batch every few milliseconds (`batched`): written
/// one by one under stderr's lock, the two lines of a webhook were 9% of
/// the server's CPU under load (docs/performance.md). A line waits at most
/// that long; lines are never dropped for speed (a stalled stderr slows
/// the loggers, as it did before).
pub fn init(filter: &str, format: LogFormat) -> LogGuard {
    if tracing::dispatcher::has_been_set() {
        return LogGuard { _flusher: None };
    }
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, flusher) = batched::start(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        // A log that cannot be written (stderr on a full disk) is dropped:
        // reporting it on stderr would panic the request that logged.
        .log_internal_errors(false);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    LogGuard {
        _flusher: installed.ok().and(flusher),
    }
}

/// Whether logs are in colour: on a terminal, unless `NO_COLOR` is set to
/// anything but the empty string (no-color.org).
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_not_against_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None));
        assert!(!colour(true, Some(std::ffi::OsStr::new("1"))));
        assert!(colour(true, Some(std::ffi::OsStr::new(""))));
    }
}
