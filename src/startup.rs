//! The composition root: builds every adapter from the configuration, hands
//! them to the domain, binds and serves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::EndpointExt;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapters::agent_echo::EchoAgent;
use crate::adapters::agent_http::{HttpAgent, OwnAgents};
use crate::adapters::cache::CachedStore;
use crate::adapters::deadline::Deadline;
use crate::adapters::http::server::{self, Limits};
use crate::adapters::http::{self, AdminToken, AppState, SenderNumbers, WebhookSettings};
use crate::adapters::metrics::PrometheusMetrics;
use crate::adapters::outbox_worker;
use crate::adapters::postgres::{self, PgRateLimiter, PgStore};
use crate::adapters::rate_limit::SenderRateLimiter;
use crate::adapters::recent_replies::InProcessReplies;
use crate::adapters::retention;
use crate::adapters::sqlite::backup::Sole;
use crate::adapters::sqlite::{SqliteStore, StoreEvent};
use crate::adapters::system::{self, SystemClock, SystemRandom};
use crate::adapters::twilio_rest::TwilioMessenger;
use crate::adapters::twiml::TwimlWriter;
use crate::config::{Config, ConfigErrors};
use crate::domain::admin::Admin;
use crate::domain::delivery::Deliveries;
use crate::domain::outbound::{Dispatcher, RetryPolicy};
use crate::domain::router::{Deferral, Router, Timing};
use crate::ports::{Agent, AgentError, AgentReply, AgentRequest, Clock, Metrics, Outbox, RateLimiter, Store};

/// The service's agent, chosen at start: the HTTP agent, or the echo agent
/// in `--dev` without an agent URL.
#[derive(Clone)]
pub enum DefaultAgent {
    Http(HttpAgent),
    Echo(EchoAgent),
}

/// Who answers a message: the user's own agent when they have one, else
/// the service's.
#[derive(Clone)]
pub struct AppAgent {
    default: DefaultAgent,
    own: OwnAgents,
}

impl Agent for AppAgent {
    async fn ask(&self, request: AgentRequest, deadline: Duration) -> Result<AgentReply, AgentError> {
        if let Some(endpoint) = request.endpoint.clone() {
            return self.own.ask(&endpoint, request, deadline).await;
        }
        match &self.default {
            DefaultAgent::Http(agent) => agent.ask(request, deadline).await,
            DefaultAgent::Echo(agent) => agent.ask(request, deadline).await,
        }
    }
}

/// Knobs that are not configuration: tests turn them to make time pass faster.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning {
    pub retry: RetryPolicy,
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
        Self::build_with(config, dev, tuning, |store| store).await
    }

    /// As `build_tuned`, with the SQLite store seen through `wrap`: how
    /// tests put a fault injector between the service and the real store.
    /// With `SMS_ROUTER_DATABASE_URL` set, the PostgreSQL store is served
    /// and `wrap` is not used.
    ///
    /// # Errors
    /// As `build`.
    pub async fn build_with<S: Store>(
        config: &Config,
        dev: bool,
        tuning: Tuning,
        wrap: impl FnOnce(SqliteStore) -> S,
    ) -> anyhow::Result<Self> {
        let problems = config.serve_problems(dev);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems).into());
        }
        for warning in config.serve_warnings(dev) {
            tracing::warn!("{warning}");
        }
        let default = match (&config.agent_url, dev) {
            (Some(url), _) => DefaultAgent::Http(HttpAgent::new(
                url.clone(),
                config.agent_token.as_ref().map(|t| t.expose().to_owned()),
            )?),
            (None, true) => DefaultAgent::Echo(EchoAgent),
            // `serve_problems` names it.
            (None, false) => return Err(ConfigErrors(config.serve_problems(dev)).into()),
        };
        if dev {
            tracing::warn!("DEV MODE: Twilio signatures are NOT checked; do not expose this server to the internet");
            if matches!(default, DefaultAgent::Echo(_)) {
                tracing::warn!("DEV MODE: no SMS_ROUTER_AGENT_URL, the echo agent answers every message");
            }
        }
        let agent = AppAgent {
            default,
            own: OwnAgents::default(),
        };

        let prometheus = PrometheusMetrics::default();
        match &config.database_url {
            Some(url) => {
                let postgres = PgStore::connect_with(
                    url.expose(),
                    config.database_ca_file.as_deref(),
                    config.database_timeout,
                )
                .await?;
                tracing::info!(instance = %postgres.instance(), "serving from PostgreSQL");
                let pool = postgres.clone();
                let watcher = prometheus.watch_pool(move || pool.pool_status());
                match Self::assemble(config, dev, tuning, agent, prometheus, postgres.clone(), Some(postgres)).await {
                    Ok(mut app) => {
                        app.background.push(watcher);
                        Ok(app)
                    }
                    Err(e) => {
                        watcher.abort();
                        Err(e)
                    }
                }
            }
            None => {
                // One server a database: a second would take the first's
                // messages for ones a dead run left.
                let sole = Sole::take(&config.database_path)?;
                let sqlite = SqliteStore::open_observed(&config.database_path, {
                    let metrics = prometheus.clone();
                    Arc::new(move |event| match event {
                        StoreEvent::Read(query) => metrics.store_read(query),
                        StoreEvent::LogCommit { rows, .. } => metrics.log_batch(rows),
                    })
                })?;
                let mut app = Self::assemble(config, dev, tuning, agent, prometheus, wrap(sqlite), None).await?;
                app._sole = Some(sole);
                Ok(app)
            }
        }
    }

    /// Builds the service around `store`. With `shared`, the PostgreSQL
    /// store that several instances serve from: this instance says it
    /// lives, and takes over the work of instances that stopped saying so.
    async fn assemble<S: Store>(
        config: &Config,
        dev: bool,
        tuning: Tuning,
        agent: AppAgent,
        prometheus: PrometheusMetrics,
        store: S,
        shared: Option<PgStore>,
    ) -> anyhow::Result<Self> {
        let metrics: Arc<dyn Metrics> = Arc::new(prometheus);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // Every call bounded by the database deadline; the cache in front.
        let store = CachedStore::new(
            Deadline::new(store, config.database_timeout),
            metrics.clone(),
            config.cache_ttl,
        );
        // Changes by other processes: announced by PostgreSQL; polled for
        // in SQLite.
        let mut background = vec![match &shared {
            Some(shared) => {
                let cache = store.clone();
                shared.spawn_change_listener(move || cache.invalidate_all())
            }
            None => store.spawn_version_poller(),
        }];
        // One bucket per sender for all instances when several share the
        // database; in memory otherwise.
        let limiter: Arc<dyn RateLimiter> = match &shared {
            Some(shared) => {
                let limiter = PgRateLimiter::per_minute(shared.clone(), config.rate_limit_per_minute);
                background.push(limiter.spawn_cleaner(Duration::from_secs(60)));
                Arc::new(limiter)
            }
            None => {
                let limiter = SenderRateLimiter::per_minute(config.rate_limit_per_minute);
                background.push(limiter.spawn_cleaner(Duration::from_secs(60)));
                Arc::new(limiter)
            }
        };
        let messenger = match (
            &config.twilio_account_sid,
            &config.twilio_auth_token,
            &config.twilio_from_number,
        ) {
            (Some(account), Some(token), Some(from)) => Some(TwilioMessenger::new(
                &config.twilio_api_base,
                account,
                token.expose(),
                from.clone(),
                config
                    .public_url
                    .as_ref()
                    .map(|url| format!("{url}/sms-router/webhook/status")),
            )?),
            _ => None,
        };
        let outbound_enabled = messenger.is_some();
        // With Twilio's REST settings a slow agent's reply is sent later.
        let timing = Timing {
            agent_timeout: config.agent_timeout,
            deferral: outbound_enabled.then_some(Deferral {
                budget: config.sync_reply_budget,
                agent_timeout: config.async_agent_timeout,
            }),
        };
        // A duplicate waits as long as the first delivery's webhook can.
        let duplicate_wait = timing.duplicate_wait();
        let router = Router {
            store: store.clone(),
            agent,
            limiter: limiter.clone(),
            recent: Arc::new(InProcessReplies::new(duplicate_wait, clock.clone())),
            metrics: metrics.clone(),
            clock: clock.clone(),
            timing,
        };
        let interrupted = router.recover_interrupted().await?;
        if interrupted.messages > 0 {
            tracing::warn!(
                count = interrupted.messages,
                told = interrupted.told,
                "messages were left unanswered by the last run"
            );
        }
        background.push(retention::spawn_daily(store.clone(), clock.clone()));
        background.push(retention::spawn_forgetting_replies(store.clone(), clock.clone()));
        if let Some(shared) = shared {
            background.push(spawn_heartbeat(shared));
            background.push(spawn_takeover(router.clone(), store.clone(), messenger.is_some()));
        }
        let drain_outbox = CancellationToken::new();
        let outbox = match messenger {
            Some(messenger) => {
                let unknown = store.recover_interrupted().await?;
                if unknown > 0 {
                    tracing::warn!(
                        count = unknown,
                        "messages were being sent when the last run stopped: marked unknown"
                    );
                }
                let dispatcher = Dispatcher {
                    store: store.clone(),
                    messenger,
                    metrics: metrics.clone(),
                    clock: clock.clone(),
                    policy: tuning.retry,
                };
                Some(outbox_worker::spawn(dispatcher, drain_outbox.clone()))
            }
            None => None,
        };
        let admin = Admin {
            store: store.clone(),
            limiter,
            clock,
            random: Arc::new(SystemRandom),
            outbound_enabled,
        };
        let webhook = WebhookSettings {
            auth_token: if dev {
                None
            } else {
                config.twilio_auth_token.as_ref().map(|t| t.expose().to_owned())
            },
            public_url: config.public_url.clone(),
            default_region: config.default_region,
            senders: SenderNumbers::new(config.default_region),
        };
        let tasks = TaskTracker::new();
        let state = AppState {
            router,
            admin,
            admin_token: AdminToken(config.admin_token.as_ref().map(|t| t.expose().to_owned())),
            writer: Arc::new(TwimlWriter),
            deliveries: Deliveries {
                log: store.clone(),
                opt_outs: store.clone(),
            },
            store,
            metrics,
            webhook,
            tasks: tasks.clone(),
            body_timeout: config.header_timeout,
        };
        let endpoint = Arc::new(http::app(state).map_to_response().boxed());

        let open_files = system::raise_open_file_limit();
        let limits = Limits {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config.max_connections.map_or_else(
                || server::default_max_connections(open_files),
                |n| usize::try_from(n.get()).unwrap_or(usize::MAX),
            ),
        };
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("failed to listen on {}", config.bind))?;
        let port = listener.local_addr().context("the listener has no address")?.port();
        tracing::info!(
            address = %config.bind,
            port,
            max_connections = limits.max_connections,
            open_files,
            "listening"
        );
        Ok(Application {
            listener,
            port,
            endpoint,
            limits,
            background,
            tasks,
            outbox,
            drain_outbox,
            grace: config.shutdown_grace,
            _sole: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `stop` completes. Then, within the grace period from
    /// that moment: lets in-flight requests finish, waits for the messages
    /// still being answered (their late replies queued), and sends what the
    /// outbox has due, those late replies included. What the grace leaves
    /// waits for the next start (or, on PostgreSQL, another instance); a
    /// send it cuts short is marked unknown then.
    ///
    /// # Errors
    /// None so far: a listener that fails to accept is waited on, not given
    /// up.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let grace = self.grace;
        let (stopped, stopped_at) = tokio::sync::oneshot::channel();
        let stop = async move {
            stop.await;
            let _ = stopped.send(tokio::time::Instant::now());
        };
        let (stop_serving, abort) = (CancellationToken::new(), CancellationToken::new());
        let connections = TaskTracker::new();
        let serving = server::serve(
            self.listener,
            self.endpoint,
            self.limits,
            stop_serving.clone(),
            abort.clone(),
            connections.clone(),
        );
        tokio::join!(serving, async move {
            stop.await;
            stop_serving.cancel();
        });
        let deadline = stopped_at.await.unwrap_or_else(|_| tokio::time::Instant::now()) + grace;
        // Requests in flight finish within the grace; then every connection closes.
        connections.close();
        if tokio::time::timeout_at(deadline, connections.wait()).await.is_err() {
            tracing::warn!("stopped with requests still in flight");
        }
        abort.cancel();
        self.tasks.close();
        if tokio::time::timeout_at(deadline, self.tasks.wait()).await.is_err() {
            tracing::warn!(
                waiting = self.tasks.len(),
                "stopped while agents were still thinking: their senders are told at the next start"
            );
        }
        // What came in is sent, within the grace.
        self.drain_outbox.cancel();
        if let Some(mut worker) = self.outbox
            && tokio::time::timeout_at(deadline, &mut worker).await.is_err()
        {
            worker.abort();
            tracing::warn!(
                "stopped with messages still to send: they go at the next start (one being sent is marked unknown)"
            );
        }
        for task in self.background {
            task.abort();
        }
        Ok(())
    }
}

/// Tells the other instances, every third of a lease, that this one lives.
fn spawn_heartbeat(store: PgStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(postgres::LEASE / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = store.within(store.heartbeat()).await {
                tracing::warn!(error = %e, "failed to tell the other instances that this one lives");
            }
        }
    })
}

/// Every second, takes over what instances that died or went silent left
/// (see `adapters::postgres::life`): their unanswered messages (their
/// senders told, as after a restart) and, when this instance sends, their
/// sends in flight (marked unknown).
fn spawn_takeover<S, A>(router: Router<S, A>, store: S, sends: bool) -> tokio::task::JoinHandle<()>
where
    S: Store,
    A: Agent,
    Router<S, A>: Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut every = tokio::time::interval(postgres::TAKEOVER_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            match router.recover_interrupted().await {
                Ok(found) if found.messages > 0 => tracing::warn!(
                    count = found.messages,
                    told = found.told,
                    "took over messages left unanswered by an instance that stopped"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "failed to look for messages left by stopped instances"),
            }
            if sends {
                match store.recover_interrupted().await {
                    Ok(0) => {}
                    Ok(count) => tracing::warn!(
                        count,
                        "messages were being sent by an instance that stopped: marked unknown"
                    ),
                    Err(e) => tracing::warn!(error = %e, "failed to look for sends left by stopped instances"),
                }
            }
        }
    })
}
