//! The composition root: builds every adapter from the configuration, hands
//! them to the domain, binds and serves.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapters::agent::AppAgent;
use crate::adapters::cache::CachedStore;
use crate::adapters::http::{self, server::Limits};
use crate::adapters::metrics::PrometheusMetrics;
use crate::adapters::sqlite::backup::Sole;
use crate::adapters::sqlite::{SqliteStore, StoreEvent, StoreObserver};
use crate::config::{Config, ConfigErrors};
use crate::database::{self, Access, Database};
use crate::domain::outbound::RetryPolicy;
use crate::ports::{Metrics, Store};

mod assemble;
mod serving;

/// A store seen through something of the caller's: tests' fault
/// injector, which wraps either store.
pub trait Wrap {
    type Wrapped<S: Store>: Store;
    fn wrap<S: Store>(self, store: S) -> Self::Wrapped<S>;
}

/// The store as it is.
pub struct AsItIs;

impl Wrap for AsItIs {
    type Wrapped<S: Store> = S;
    fn wrap<S: Store>(self, store: S) -> S {
        store
    }
}

/// What `assemble` builds around the store.
struct Parts<'a> {
    config: &'a Config,
    dev: bool,
    tuning: Tuning,
    agent: AppAgent,
    prometheus: PrometheusMetrics,
}

/// Knobs that are not configuration: tests turn them to make time pass faster.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// The outbox's retries.
    pub retry: RetryPolicy,
    /// The agents' events' retries.
    pub event_retry: RetryPolicy,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            retry: RetryPolicy::default(),
            event_retry: crate::domain::events::EVENT_RETRY,
        }
    }
}

/// The spec of this binary's HTTP surface.
pub fn openapi_spec() -> String {
    http::spec_json::<CachedStore<SqliteStore>, AppAgent>()
}

pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    endpoint: Arc<poem::endpoint::BoxEndpoint<'static>>,
    limits: Limits,
    /// Pollers and cleaners: stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Messages being handled, late replies included: a stop waits for them.
    tasks: TaskTracker,
    /// The outbox worker, when sending is set up.
    outbox: Option<tokio::task::JoinHandle<()>>,
    /// Tells the outbox worker to send what is due and end.
    drain_outbox: CancellationToken,
    grace: Duration,
    /// The SQLite database held by this server alone, while it lives.
    _sole: Option<Sole>,
}

impl Application {
    /// Opens and migrates the store, builds the adapters and binds.
    ///
    /// # Errors
    /// A `ConfigError` (in the chain) when a setting `serve` needs is
    /// missing; any other error when the store cannot be opened or the
    /// address bound.
    pub async fn build(config: &Config, dev: bool) -> anyhow::Result<Self> {
        Self::build_tuned(config, dev, Tuning::default()).await
    }

    /// As `build`, with `tuning` instead of the defaults.
    ///
    /// # Errors
    /// As `build`.
    pub async fn build_tuned(config: &Config, dev: bool, tuning: Tuning) -> anyhow::Result<Self> {
        Self::build_with(config, dev, tuning, AsItIs).await
    }

    /// As `build_tuned`, with the store seen through `wrap`: how tests put
    /// a fault injector between the service and the real store, SQLite or
    /// PostgreSQL.
    ///
    /// # Errors
    /// As `build`.
    pub async fn build_with(config: &Config, dev: bool, tuning: Tuning, wrap: impl Wrap) -> anyhow::Result<Self> {
        let problems = config.serve_problems(dev);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems).into());
        }
        for warning in config.serve_warnings(dev) {
            tracing::warn!("{warning}");
        }
        let agent = match &config.agent_url {
            Some(url) => AppAgent::http(url.clone(), config.agent_token.as_ref().map(|t| t.expose().to_owned()))?,
            None => AppAgent::echo(),
        };
        if dev {
            tracing::warn!("DEV MODE: Twilio signatures are NOT checked; do not expose this server to the internet");
            if agent.echoes() {
                tracing::warn!("DEV MODE: no SMS_ROUTER_AGENT_URL, the echo agent answers every message");
            }
        }
        let prometheus = PrometheusMetrics::default();
        let observer: StoreObserver = {
            let metrics = prometheus.clone();
            Arc::new(move |event| match event {
                StoreEvent::Read(query) => metrics.store_read(query),
                StoreEvent::LogCommit { rows, .. } => metrics.log_batch(rows),
            })
        };
        let opened = database::open(config, Access::Alone, Some(observer)).await?;
        let parts = Parts {
            config,
            dev,
            tuning,
            agent,
            prometheus,
        };
        let mut app = match opened.database {
            Database::Postgres(postgres) => {
                tracing::info!(instance = %postgres.instance(), "serving from PostgreSQL");
                let pool = postgres.clone();
                let watcher = parts.prometheus.watch_pool(move || pool.pool_status());
                match Self::assemble(parts, wrap.wrap(postgres.clone()), Some(postgres)).await {
                    Ok(mut app) => {
                        app.background.push(watcher);
                        app
                    }
                    Err(e) => {
                        watcher.abort();
                        return Err(e);
                    }
                }
            }
            Database::Sqlite(sqlite) => Self::assemble(parts, wrap.wrap(sqlite), None).await?,
        };
        app._sole = opened.sole;
        Ok(app)
    }
}
