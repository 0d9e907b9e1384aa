//! Time, for use cases that must not read the system's clock themselves:
//! tests move it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A pause, to be awaited.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    /// The time of day, for what is stored or compared with stored times.
    fn now(&self) -> DateTime<Utc>;

    /// A monotonic reading, for durations.
    fn instant(&self) -> Instant;

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}
