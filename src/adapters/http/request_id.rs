//! One tracing span per request, carrying a fresh request id that handlers
//! read and the response echoes in `X-Request-Id`.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use crate::domain::message::RequestId;

pub struct RequestTracing;

impl<E: Endpoint> Middleware<E> for RequestTracing {
    type Output = RequestTracingEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        RequestTracingEndpoint(ep)
    }
}

pub struct RequestTracingEndpoint<E>(E);

impl<E: Endpoint> Endpoint for RequestTracingEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let id = uuid::Uuid::new_v4().to_string();
        let path = super::clipped(req.uri().path());
        let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %path);
        req.set_data(RequestId(id.clone()));
        let started = Instant::now();
        async move {
            let result = self.0.call(req).await.map(IntoResponse::into_response);
            let status = match &result {
                Ok(resp) => resp.status(),
                Err(err) => err.status(),
            };
            tracing::info!(
                status = status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "answered"
            );
            result.map(|mut resp| {
                if let Ok(value) = id.parse() {
                    resp.headers_mut().insert("x-request-id", value);
                }
                resp
            })
        }
        .instrument(span)
        .await
    }
}
