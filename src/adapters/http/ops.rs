//! Liveness and readiness.

use std::marker::PhantomData;
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::errors::ErrorBody;
use crate::ports::{Metrics, Readiness};

pub struct OpsApi<R>(PhantomData<fn() -> R>);

impl<R> Default for OpsApi<R> {
    fn default() -> Self {
        OpsApi(PhantomData)
    }
}

#[derive(ApiResponse)]
pub enum ReadyzResponse {
    /// The store can be read and written.
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
impl<R: Readiness> OpsApi<R> {
    /// Liveness: the process answers
    #[oai(path = "/healthz", method = "get", operation_id = "healthz", tag = "ApiTags::Ops")]
    async fn healthz(&self) -> PlainText<&'static str> {
        PlainText("ok")
    }

    /// Readiness: the store can be read and written
    #[oai(path = "/readyz", method = "get", operation_id = "readyz", tag = "ApiTags::Ops")]
    async fn readyz(&self, store: Data<&R>) -> ReadyzResponse {
        match store.check().await {
            Ok(()) => ReadyzResponse::Ready(PlainText("ready".to_owned())),
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                ReadyzResponse::Unavailable(ErrorBody::json("service_unavailable", "the store is unavailable"))
            }
        }
    }

    /// Metrics for Prometheus
    #[oai(path = "/metrics", method = "get", operation_id = "metrics", tag = "ApiTags::Ops")]
    async fn metrics(&self, metrics: Data<&Arc<dyn Metrics>>) -> MetricsResponse {
        MetricsResponse::Text(PlainText(metrics.exposition()))
    }
}
