//! Liveness and readiness.

use std::marker::PhantomData;
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::errors::ErrorBody;
use crate::domain::outbound::{stall_notice, stalled};
use crate::ports::{Backlog, Clock, Metrics, Outbox, Readiness};

/// When `/readyz` says the outbox is stalled: its oldest pending message
/// has waited longer than `after` (`SMS_ROUTER_OUTBOX_STALL_SECS`).
#[derive(Clone)]
pub struct Stall {
    after: std::time::Duration,
    clock: Arc<dyn Clock>,
    /// The last backlog read, and when: a flood of `/readyz` reads the
    /// outbox once a second at most, as it probes the store.
    last: Arc<tokio::sync::Mutex<Option<(std::time::Instant, Backlog)>>>,
}

/// How long a backlog read stands for every caller.
const BACKLOG_STANDS: std::time::Duration = std::time::Duration::from_secs(1);

impl Stall {
    pub fn new(after: std::time::Duration, clock: Arc<dyn Clock>) -> Self {
        Stall {
            after,
            clock,
            last: Arc::default(),
        }
    }

    /// What waits in the outbox, read at most once a second.
    async fn backlog(&self, store: &impl Outbox) -> Result<Backlog, crate::ports::StoreError> {
        let mut last = self.last.lock().await;
        match *last {
            Some((at, backlog)) if self.clock.instant().saturating_duration_since(at) < BACKLOG_STANDS => Ok(backlog),
            _ => {
                let backlog = store.backlog().await?;
                *last = Some((self.clock.instant(), backlog));
                Ok(backlog)
            }
        }
    }
}

pub struct OpsApi<R>(PhantomData<fn() -> R>);

impl<R> Default for OpsApi<R> {
    fn default() -> Self {
        OpsApi(PhantomData)
    }
}

#[derive(ApiResponse)]
pub enum ReadyzResponse {
    /// The store can be read and written: `ready`, or `degraded: …` when
    /// the outbox's oldest pending message has waited longer than
    /// `SMS_ROUTER_OUTBOX_STALL_SECS` (the service still answers; every
    /// instance shares the outbox, so this is not a reason to take one out).
    #[oai(status = 200)]
    Ready(PlainText<String>),
    /// The store cannot be read or written.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
pub enum MetricsResponse {
    /// Prometheus text exposition format.
    #[oai(status = 200, content_type = "text/plain; version=0.0.4; charset=utf-8")]
    Text(PlainText<String>),
}

#[OpenApi]
impl<R: Readiness + Outbox> OpsApi<R> {
    /// Liveness: the process answers
    #[oai(path = "/healthz", method = "get", operation_id = "healthz", tag = "ApiTags::Ops")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }

    /// Readiness: the store can be read and written, and the outbox moves
    #[oai(path = "/readyz", method = "get", operation_id = "readyz", tag = "ApiTags::Ops")]
    async fn readyz(&self, store: Data<&R>, stall: Data<&Stall>, metrics: Data<&Arc<dyn Metrics>>) -> ReadyzResponse {
        let checked = match store.check().await {
            Ok(()) => stall.backlog(*store).await,
            Err(e) => Err(e),
        };
        match checked {
            Ok(backlog) => match outbox_seen(&backlog, &stall, metrics.as_ref()) {
                Some(waited) => ReadyzResponse::Ready(PlainText(stall_notice(waited, stall.after))),
                None => ReadyzResponse::Ready(PlainText("ready".to_owned())),
            },
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                ReadyzResponse::Unavailable(ErrorBody::json("service_unavailable", "the store is unavailable"))
            }
        }
    }

    /// Metrics for Prometheus
    #[oai(path = "/metrics", method = "get", operation_id = "metrics", tag = "ApiTags::Ops")]
    async fn metrics(&self, store: Data<&R>, stall: Data<&Stall>, metrics: Data<&Arc<dyn Metrics>>) -> MetricsResponse {
        // The outbox's gauges as of now; a store that cannot be read leaves
        // them as last seen.
        if let Ok(backlog) = stall.backlog(*store).await {
            outbox_seen(&backlog, &stall, metrics.as_ref());
        }
        MetricsResponse::Text(PlainText(metrics.exposition()))
    }
}

/// Shows `backlog` in the metrics; answers how long the oldest pending
/// message has waited when the outbox is stalled.
fn outbox_seen(backlog: &Backlog, stall: &Stall, metrics: &dyn Metrics) -> Option<std::time::Duration> {
    let now = stall.clock.now();
    let age = backlog
        .oldest_pending_since
        .and_then(|since| (now - since).to_std().ok());
    metrics.outbox(backlog.pending, backlog.sending, age);
    stalled(backlog, now, stall.after)
}
