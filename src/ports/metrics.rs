//! Counters and timings for operators, in the domain's words.

use std::time::Duration;

use crate::domain::usage::Outcome;

pub trait Metrics: Send + Sync + 'static {
    /// An inbound message got `outcome` (duplicates included).
    fn message(&self, outcome: Outcome);

    /// The agent answered, or failed, after `elapsed`.
    fn agent_call(&self, elapsed: Duration, ok: bool);

    /// The number cache answered from memory (`hit`) or had to ask the store.
    fn cache_lookup(&self, hit: bool);

    /// The store was read on the message path, by `query` (`recipient`,
    /// `opt_out`, `settings`, …): a cached message makes no such read.
    fn store_read(&self, query: &'static str);

    /// One commit of usage log writes, changing `rows` rows.
    fn log_batch(&self, rows: usize);

    /// A failure worth counting, by kind: `store`, `agent_timeout`, `agent_status`, …
    fn error(&self, kind: &'static str);

    /// What waits in the outbox now: items by status (`pending`,
    /// `sending`), and how long the oldest pending one has waited.
    fn outbox(&self, pending: u64, sending: u64, oldest_pending_age: Option<Duration>);

    /// Everything counted, in the Prometheus text exposition format.
    fn exposition(&self) -> String;
}
