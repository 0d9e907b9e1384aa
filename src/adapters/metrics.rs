//! Metrics with prometheus-client, rendered for `GET /metrics`.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::usage::Outcome;
use crate::ports::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabel {
    query: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

struct Inner {
    /// Locked only to add the pool's gauges and to render.
    registry: std::sync::Mutex<Registry>,
    messages: Family<OutcomeLabel, Counter>,
    agent_seconds: Family<ResultLabel, Histogram>,
    cache: Family<ResultLabel, Counter>,
    store_reads: Family<QueryLabel, Counter>,
    log_batches: Counter,
    log_rows: Counter,
    errors: Family<KindLabel, Counter>,
    pool_connections: Family<StateLabel, Gauge>,
    pool_waiting: Gauge,
    outbox_items: Family<StatusLabel, Gauge>,
    outbox_oldest: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone)]
pub struct PrometheusMetrics(Arc<Inner>);

impl Default for PrometheusMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sms_router");
        let messages = Family::<OutcomeLabel, Counter>::default();
        registry.register("messages", "Inbound messages by outcome", messages.clone());
        let agent_seconds = Family::<ResultLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register(
            "agent_duration_seconds",
            "Time the agent took to answer or fail",
            agent_seconds.clone(),
        );
        let cache = Family::<ResultLabel, Counter>::default();
        registry.register(
            "cache_lookups",
            "Number cache lookups by result (hit, miss)",
            cache.clone(),
        );
        let store_reads = Family::<QueryLabel, Counter>::default();
        registry.register(
            "store_reads",
            "Reads of the store the message path can make, by query; none for a cached number",
            store_reads.clone(),
        );
        let log_batches = Counter::default();
        registry.register("log_batches", "Commits of usage log rows", log_batches.clone());
        let log_rows = Counter::default();
        registry.register("log_rows", "Usage log rows committed", log_rows.clone());
        let errors = Family::<KindLabel, Counter>::default();
        registry.register("errors", "Failures by kind", errors.clone());
        let outbox_items = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "outbox_items",
            "Outbox items waiting, by status (pending, sending), as last read by /readyz or /metrics",
            outbox_items.clone(),
        );
        let outbox_oldest = Gauge::default();
        registry.register(
            "outbox_oldest_pending_seconds",
            "How long the oldest pending outbox item has waited (0: none pending)",
            outbox_oldest.clone(),
        );
        let pool_connections = Family::<StateLabel, Gauge>::default();
        let pool_waiting = Gauge::default();
        PrometheusMetrics(Arc::new(Inner {
            registry: std::sync::Mutex::new(registry),
            messages,
            agent_seconds,
            cache,
            store_reads,
            log_batches,
            log_rows,
            errors,
            pool_connections,
            pool_waiting,
            outbox_items,
            outbox_oldest,
        }))
    }
}

impl PrometheusMetrics {
    /// Shows the database connection pool from now on, sampled every
    /// second from `status` (connections in use, idle, and callers waiting
    /// for one). Only PostgreSQL's pool is shown.
    pub fn watch_pool(
        &self,
        status: impl Fn() -> (usize, usize, usize) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        if let Ok(mut registry) = self.0.registry.lock() {
            registry.register(
                "db_pool_connections",
                "PostgreSQL pool connections by state (in_use, idle)",
                self.0.pool_connections.clone(),
            );
            registry.register(
                "db_pool_waiting",
                "Callers waiting for a PostgreSQL pool connection",
                self.0.pool_waiting.clone(),
            );
        }
        let metrics = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let (in_use, idle, waiting) = status();
                let gauge = |state| metrics.0.pool_connections.get_or_create(&StateLabel { state }).clone();
                gauge("in_use").set(i64::try_from(in_use).unwrap_or(i64::MAX));
                gauge("idle").set(i64::try_from(idle).unwrap_or(i64::MAX));
                metrics.0.pool_waiting.set(i64::try_from(waiting).unwrap_or(i64::MAX));
            }
        })
    }
}

impl Metrics for PrometheusMetrics {
    fn message(&self, outcome: Outcome) {
        self.0
            .messages
            .get_or_create(&OutcomeLabel {
                outcome: outcome.name(),
            })
            .inc();
    }

    fn agent_call(&self, elapsed: Duration, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.0
            .agent_seconds
            .get_or_create(&ResultLabel { result })
            .observe(elapsed.as_secs_f64());
    }

    fn cache_lookup(&self, hit: bool) {
        self.0
            .cache
            .get_or_create(&ResultLabel {
                result: if hit { "hit" } else { "miss" },
            })
            .inc();
    }

    fn store_read(&self, query: &'static str) {
        self.0.store_reads.get_or_create(&QueryLabel { query }).inc();
    }

    fn log_batch(&self, rows: usize) {
        self.0.log_batches.inc();
        self.0.log_rows.inc_by(rows as u64);
    }

    fn error(&self, kind: &'static str) {
        self.0.errors.get_or_create(&KindLabel { kind }).inc();
    }

    fn outbox(&self, pending: u64, sending: u64, oldest_pending_age: Option<Duration>) {
        let gauge = |status| self.0.outbox_items.get_or_create(&StatusLabel { status }).clone();
        gauge("pending").set(i64::try_from(pending).unwrap_or(i64::MAX));
        gauge("sending").set(i64::try_from(sending).unwrap_or(i64::MAX));
        let oldest = oldest_pending_age.map_or(0, |age| age.as_secs());
        self.0.outbox_oldest.set(i64::try_from(oldest).unwrap_or(i64::MAX));
    }

    fn exposition(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        if let Ok(registry) = self.0.registry.lock() {
            let _ = prometheus_client::encoding::text::encode_registry(&mut text, &registry);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_exposition() {
        let metrics = PrometheusMetrics::default();
        metrics.message(Outcome::Duplicate);
        metrics.message(Outcome::Duplicate);
        metrics.cache_lookup(true);
        metrics.agent_call(Duration::from_millis(20), true);
        let text = metrics.exposition();
        assert!(
            text.contains(r#"sms_router_messages_total{outcome="duplicate"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"sms_router_cache_lookups_total{result="hit"} 1"#),
            "{text}"
        );
        assert!(text.contains("sms_router_agent_duration_seconds_bucket"), "{text}");
        assert!(!text.contains("# EOF"));
    }
}
