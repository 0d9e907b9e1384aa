//! The one error body every 4xx and 5xx answers with, and the middleware
//! that gives errors raised outside our handlers (routing, parsing) that
//! shape too.

use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::Object;
use poem_openapi::payload::Json;

/// `{"error": "<code>", "message": "<text>"}`
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct ErrorBody {
    /// A stable code: `bad_request`, `forbidden`, `unsupported_media_type`, …
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl ErrorBody {
    pub fn json(error: &str, message: impl Into<String>) -> Json<ErrorBody> {
        Json(ErrorBody {
            error: error.to_owned(),
            message: message.into(),
        })
    }
}

fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}

/// Renders errors that are not already one of our responses as `ErrorBody`.
/// A 5xx gets an opaque message; its cause goes to the log only. A 401
/// says whether the server has an admin token at all.
pub struct JsonErrors {
    pub admin_token_set: bool,
}

impl<E: Endpoint> Middleware<E> for JsonErrors {
    type Output = JsonErrorsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        JsonErrorsEndpoint(ep, self.admin_token_set)
    }
}

pub struct JsonErrorsEndpoint<E>(E, bool);

impl<E: Endpoint> Endpoint for JsonErrorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        match self.0.call(req).await {
            Ok(output) => Ok(output.into_response()),
            Err(err) if err.is_from_response() => Ok(err.into_response()),
            Err(err) => {
                let status = err.status();
                let message = if status.is_server_error() {
                    tracing::error!(error = %err, "request failed");
                    "internal error".to_owned()
                } else if status == StatusCode::UNAUTHORIZED && !self.1 {
                    "the server has no admin token: set SMS_ROUTER_ADMIN_TOKEN (at least 16 characters) and restart it"
                        .to_owned()
                } else if status == StatusCode::UNAUTHORIZED {
                    "a valid admin token is required: `Authorization: Bearer <SMS_ROUTER_ADMIN_TOKEN>`".to_owned()
                } else {
                    err.to_string()
                };
                Ok((status, ErrorBody::json(code_of(status), message)).into_response())
            }
        }
    }
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        ErrorBody {
            error: "conflict".into(),
            message: "phone number +12015550123 is already taken".into(),
        }
    }
}
