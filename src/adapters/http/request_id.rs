//! One tracing span per request, carrying a request id that handlers read
//! and the response echoes in `X-Request-Id`. The request id is the W3C
//! trace id, written as a UUID: the caller's `traceparent`'s when it sends
//! a valid one, else a new random one, so that a trace crosses the
//! caller's side, ours and the agent's. The span also names it as a
//! traceparent does (`trace_id`, 32 hex digits).

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument;

use crate::domain::message::RequestId;

pub struct RequestTracing;

/// The trace a request belongs to, beyond its id (`RequestId`, the trace
/// id): whether the caller samples it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub sampled: bool,
}

/// The trace id and `sampled` flag of a W3C `traceparent` header
/// (`00-<32 hex>-<16 hex>-<2 hex>`); `None` for anything else, an all-zero
/// id, or the invalid version `ff`. A later version may add fields after a
/// dash; only the first four are read, as the recommendation says.
fn parse_traceparent(header: &str) -> Option<(uuid::Uuid, bool)> {
    let mut parts = header.trim().split('-');
    let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace_id, 32)
        && hex(parent_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0');
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let trace_id = u128::from_str_radix(trace_id, 16).ok()?;
    valid.then(|| (uuid::Uuid::from_u128(trace_id), flags & 1 == 1))
}

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
        let (trace, sampled) = req
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent)
            .unwrap_or_else(|| (uuid::Uuid::new_v4(), true));
        let id = trace.hyphenated().to_string();
        let path = super::clipped(req.uri().path());
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            trace_id = %trace.simple(),
            method = %req.method(),
            path = %path
        );
        req.set_data(RequestId(id.clone()));
        req.set_data(TraceContext { sampled });
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

#[cfg(test)]
mod tests {
    use super::parse_traceparent;

    const ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn trace(id: &str) -> uuid::Uuid {
        uuid::Uuid::parse_str(id).unwrap()
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_id_and_flag() {
        let header = format!("00-{ID}-00f067aa0ba902b7-01");
        assert_eq!(parse_traceparent(&header), Some((trace(ID), true)));
        let header = format!("00-{ID}-00f067aa0ba902b7-00");
        assert_eq!(parse_traceparent(&header), Some((trace(ID), false)));
        // A later version may carry more.
        let header = format!("01-{ID}-00f067aa0ba902b7-01-more");
        assert_eq!(parse_traceparent(&header), Some((trace(ID), true)));
    }

    #[test]
    fn anything_else_is_ignored() {
        for bad in [
            String::new(),
            "garbage".to_owned(),
            format!("ff-{ID}-00f067aa0ba902b7-01"),
            format!("00-{ID}-00f067aa0ba902b7-01-extra"),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{ID}-0000000000000000-01"),
            format!("00-{}-00f067aa0ba902b7-01", ID.to_uppercase()),
            format!("00-{ID}-00f067aa0ba902b7-1"),
            format!("00-{ID}-00f067aa0ba902b7-+1"),
        ] {
            assert_eq!(parse_traceparent(&bad), None, "{bad}");
        }
    }
}
