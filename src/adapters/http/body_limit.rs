//! What a request body may cost before its route has said who may send it.
//! The webhooks read theirs themselves (their signature covers it; they
//! check its type and size first, as Twilio's contract orders). An admin
//! body is read, up to a limit, only once the admin token is accepted.
//! No other route reads a body, so none is read for them.

use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};

use super::admin::AdminToken;

/// The largest admin request body: ten times the longest setting value.
pub const MAX_ADMIN_BODY_BYTES: usize = 256 * 1024;

const ADMIN: &str = "/sms-router/admin/";

pub struct BodyLimit;

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        BodyLimitEndpoint(ep)
    }
}

pub struct BodyLimitEndpoint<E>(E);

fn too_large() -> poem::Error {
    poem::Error::from_string(
        format!("the body is over {MAX_ADMIN_BODY_BYTES} bytes"),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if req.uri().path().starts_with(ADMIN) {
            let accepted = req
                .data::<AdminToken>()
                .is_some_and(|token| token.accepts(req.header(poem::http::header::AUTHORIZATION)));
            if !accepted {
                return Err(poem::Error::from_status(StatusCode::UNAUTHORIZED));
            }
            let declared = req
                .header(poem::http::header::CONTENT_LENGTH)
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|len| len > MAX_ADMIN_BODY_BYTES) {
                return Err(too_large());
            }
            let bytes = match req.take_body().into_bytes_limit(MAX_ADMIN_BODY_BYTES).await {
                Ok(bytes) => bytes,
                Err(poem::error::ReadBodyError::PayloadTooLarge) => return Err(too_large()),
                Err(e) => return Err(e.into()),
            };
            req.set_body(Body::from(bytes));
        }
        self.0.call(req).await.map(IntoResponse::into_response)
    }
}
