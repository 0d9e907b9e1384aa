//! The wiring: every adapter built from the configuration and handed to
//! the domain.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::EndpointExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Application, Parts};
use crate::adapters::agent::events::HttpNotifier;
use crate::adapters::cache::CachedStore;
use crate::adapters::deadline::Deadline;
use crate::adapters::http::server::{self, Limits};
use crate::adapters::http::{self, AdminToken, AppState, SenderNumbers, WebhookSettings};
use crate::adapters::postgres::{self, PgRateLimiter, PgStore};
use crate::adapters::rate_limit::SenderRateLimiter;
use crate::adapters::recent_replies::InProcessReplies;
use crate::adapters::retention;
use crate::adapters::system::{self, SystemClock, SystemRandom};
use crate::adapters::twilio_rest::TwilioMessenger;
use crate::adapters::twiml::TwimlWriter;
use crate::adapters::{events_worker, outbox_worker};
use crate::domain::admin::Admin;
use crate::domain::delivery::Deliveries;
use crate::domain::events::EventSender;
use crate::domain::outbound::Dispatcher;
use crate::domain::router::{Deferral, Router, Timing};
use crate::ports::{Clock, Metrics, Outbox, RateLimiter, Store};

impl Application {
    /// Builds the service around `store`. With `shared`, the PostgreSQL
    /// store that several instances serve from: this instance says it
    /// lives, and takes over the work of instances that stopped saying so.
    pub(super) async fn assemble<S: Store>(
        parts: Parts<'_>,
        store: S,
        shared: Option<PgStore>,
    ) -> anyhow::Result<Self> {
        let Parts {
            config,
            dev,
            tuning,
            agent,
            prometheus,
        } = parts;
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
            background.push(postgres::spawn_heartbeat(shared));
            background.push(postgres::spawn_takeover(
                router.clone(),
                store.clone(),
                messenger.is_some(),
            ));
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
        // The agents' events, sent apart from the messages.
        let notifier = HttpNotifier::new(
            config
                .agent_url
                .clone()
                .map(|url| (url, config.agent_token.as_ref().map(|t| t.expose().to_owned()))),
        )?;
        background.push(events_worker::spawn(EventSender::new(
            store.clone(),
            notifier,
            tuning.event_retry,
        )));
        let admin = Admin {
            store: store.clone(),
            limiter,
            clock: clock.clone(),
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
            stall: http::Stall::new(config.outbox_stall, clock.clone()),
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
}
