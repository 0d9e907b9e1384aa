//! The composition root: builds every adapter from the configuration, hands
//! them to the domain, binds and serves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{EndpointExt, Server};

use crate::adapters::agent_echo::EchoAgent;
use crate::adapters::agent_http::HttpAgent;
use crate::adapters::cache::CachedStore;
use crate::adapters::http::{self, AdminToken, AppState, HttpPorts, SenderNumbers, WebhookSettings};
use crate::adapters::metrics::PrometheusMetrics;
use crate::adapters::outbox_worker;
use crate::adapters::rate_limit::SenderRateLimiter;
use crate::adapters::recent_replies::InProcessReplies;
use crate::adapters::scheduler::TokioScheduler;
use crate::adapters::sqlite::{SqliteStore, StoreEvent};
use crate::adapters::twilio_rest::TwilioMessenger;
use crate::adapters::twiml::TwimlWriter;
use crate::config::{Config, ConfigError};
use crate::domain::admin::{Admin, AdminPorts};
use crate::domain::delivery::Deliveries;
use crate::domain::outbound::{DispatchPorts, Dispatcher, RetryPolicy};
use crate::domain::router::{Deferral, Router, RouterPorts, Timing};
use crate::ports::{Agent, AgentError, AgentRequest};
use crate::ports::{Metrics, Outbox};

/// The agent chosen at start: the HTTP agent, or the echo agent in `--dev`
/// without an agent URL.
#[derive(Clone)]
pub enum AppAgent {
    Http(HttpAgent),
    Echo(EchoAgent),
}

impl Agent for AppAgent {
    async fn ask(&self, request: AgentRequest, deadline: Duration) -> Result<String, AgentError> {
        match self {
            AppAgent::Http(agent) => agent.ask(request, deadline).await,
            AppAgent::Echo(agent) => agent.ask(request, deadline).await,
        }
    }
}

/// The adapters this binary runs with.
pub struct AppPorts;

impl RouterPorts for AppPorts {
    type Directory = CachedStore<SqliteStore, PrometheusMetrics>;
    type Log = SqliteStore;
    type OptOuts = CachedStore<SqliteStore, PrometheusMetrics>;
    type Settings = CachedStore<SqliteStore, PrometheusMetrics>;
    type Agent = AppAgent;
    type Limiter = SenderRateLimiter;
    type Recent = InProcessReplies;
    type Metrics = PrometheusMetrics;
    type Scheduler = TokioScheduler;
    type Outbox = SqliteStore;
    type Verifications = CachedStore<SqliteStore, PrometheusMetrics>;
}

impl AdminPorts for AppPorts {
    type Registry = CachedStore<SqliteStore, PrometheusMetrics>;
    type Settings = CachedStore<SqliteStore, PrometheusMetrics>;
    type OptOuts = CachedStore<SqliteStore, PrometheusMetrics>;
    type Limiter = SenderRateLimiter;
    type Reports = SqliteStore;
    type Outbox = SqliteStore;
    type Verifications = CachedStore<SqliteStore, PrometheusMetrics>;
}

impl DispatchPorts for AppPorts {
    type Outbox = SqliteStore;
    type Messenger = TwilioMessenger;
    type OptOuts = CachedStore<SqliteStore, PrometheusMetrics>;
    type Metrics = PrometheusMetrics;
}

/// Knobs that are not configuration: tests turn them to make time pass faster.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning {
    pub retry: RetryPolicy,
}

impl HttpPorts for AppPorts {
    type Router = AppPorts;
    type Admin = AppPorts;
    type Writer = TwimlWriter;
    type Readiness = SqliteStore;
    type Metrics = PrometheusMetrics;
    type Deliveries = SqliteStore;
    type OptOuts = CachedStore<SqliteStore, PrometheusMetrics>;
}

/// The spec of this binary's HTTP surface.
pub fn openapi_spec() -> String {
    http::spec_json::<AppPorts>()
}

/// How long in-flight requests may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    background: Vec<tokio::task::JoinHandle<()>>,
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
        if !dev && config.twilio_auth_token.is_none() {
            return Err(ConfigError {
                variable: "SMS_ROUTER_TWILIO_AUTH_TOKEN".into(),
                why: "is required to check Twilio's signatures (or run `serve --dev`)".into(),
            }
            .into());
        }
        let agent = match (&config.agent_url, dev) {
            (Some(url), _) => AppAgent::Http(HttpAgent::new(
                url.clone(),
                config.agent_token.as_ref().map(|t| t.expose().to_owned()),
            )?),
            (None, true) => AppAgent::Echo(EchoAgent),
            (None, false) => {
                return Err(ConfigError {
                    variable: "SMS_ROUTER_AGENT_URL".into(),
                    why: "is required (or run `serve --dev` for the echo agent)".into(),
                }
                .into());
            }
        };
        if dev {
            tracing::warn!("DEV MODE: Twilio signatures are NOT checked; do not expose this server to the internet");
            if matches!(agent, AppAgent::Echo(_)) {
                tracing::warn!("DEV MODE: no SMS_ROUTER_AGENT_URL, the echo agent answers every message");
            }
        }

        let metrics = PrometheusMetrics::default();
        let store = SqliteStore::open_observed(&config.database_path, {
            let metrics = metrics.clone();
            Arc::new(move |event| match event {
                StoreEvent::Read(query) => metrics.store_read(query),
                StoreEvent::LogCommit { rows, .. } => metrics.log_batch(rows),
            })
        })?;
        let interrupted = store.mark_interrupted().await?;
        if interrupted > 0 {
            tracing::warn!(count = interrupted, "messages were left unanswered by the last run");
        }
        let directory = CachedStore::new(store.clone(), metrics.clone(), config.cache_ttl);
        let limiter = SenderRateLimiter::per_minute(config.rate_limit_per_minute);
        let mut background = vec![
            directory.spawn_version_poller(),
            limiter.spawn_cleaner(Duration::from_secs(60)),
        ];
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
        if let Some(messenger) = messenger {
            let unknown = store.recover_interrupted().await?;
            if unknown > 0 {
                tracing::warn!(
                    count = unknown,
                    "messages were being sent when the last run stopped: marked unknown"
                );
            }
            let dispatcher: Dispatcher<AppPorts> = Dispatcher {
                outbox: store.clone(),
                messenger,
                opt_outs: directory.clone(),
                metrics: metrics.clone(),
                policy: tuning.retry,
            };
            background.push(outbox_worker::spawn(dispatcher));
        }
        // With Twilio's REST settings a slow agent's reply is sent later.
        let timing = Timing {
            agent_timeout: config.agent_timeout,
            deferral: outbound_enabled.then_some(Deferral {
                budget: config.sync_reply_budget,
                agent_timeout: config.async_agent_timeout,
            }),
        };
        // A duplicate waits as long as the first delivery's webhook can.
        let duplicate_wait = timing.deferral.map_or(config.agent_timeout, |d| d.budget) + Duration::from_secs(5);
        let admin: Admin<AppPorts> = Admin {
            registry: directory.clone(),
            settings: directory.clone(),
            opt_outs: directory.clone(),
            limiter: limiter.clone(),
            reports: store.clone(),
            outbox: store.clone(),
            verifications: directory.clone(),
            outbound_enabled,
        };
        let router: Router<AppPorts> = Router {
            directory: directory.clone(),
            log: store.clone(),
            opt_outs: directory.clone(),
            settings: directory.clone(),
            agent,
            limiter,
            recent: InProcessReplies::new(duplicate_wait),
            metrics: metrics.clone(),
            scheduler: TokioScheduler,
            outbox: store.clone(),
            verifications: directory.clone(),
            timing,
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
        let state: AppState<AppPorts> = AppState {
            router,
            admin,
            admin_token: AdminToken(config.admin_token.as_ref().map(|t| t.expose().to_owned())),
            writer: TwimlWriter,
            deliveries: Deliveries {
                log: store.clone(),
                opt_outs: directory.clone(),
            },
            readiness: store,
            metrics,
            webhook,
        };
        let endpoint = http::app(state).map_to_response().boxed();

        let acceptor = TcpListener::bind(config.bind)
            .into_acceptor()
            .await
            .with_context(|| format!("failed to listen on {}", config.bind))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .context("the listener has no address")?;
        tracing::info!(address = %config.bind, port, "listening");
        Ok(Application {
            acceptor,
            port,
            endpoint,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `stop` completes, then lets in-flight requests finish
    /// for a bounded time.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(self.endpoint, stop, Some(SHUTDOWN_GRACE))
            .await;
        for task in self.background {
            task.abort();
        }
        served.context("the server failed")
    }
}
