//! The HTTP surface (poem, poem-openapi): webhook and ops operations, the
//! generated spec and its UI.

mod admin;
mod body_limit;
mod dashboard;
mod errors;
pub mod form;
mod ops;
mod or_null;
mod request_id;
pub mod server;
pub mod signature;
mod status;
mod text;
mod webhook;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoResponse, Route};
use poem_openapi::{OpenApiService, Tags};
use tokio_util::task::TaskTracker;

use crate::domain::admin::Admin;
use crate::domain::delivery::Deliveries;
use crate::domain::router::Router;
use crate::ports::{Agent, Metrics, ReplyWriter, Store};
pub use admin::AdminToken;
pub use form::SenderNumbers;
pub use ops::Stall;
pub use webhook::WebhookSettings;

#[derive(Tags)]
#[oai(rename_all = "lowercase")]
enum ApiTags {
    /// Administration of users, numbers and settings; needs the admin token
    Admin,
    /// Called by Twilio
    Webhook,
    /// Health of the service
    Ops,
}

type Apis<S, A> = (
    webhook::WebhookApi<S, A>,
    status::StatusApi<S>,
    admin::UsersApi<S>,
    admin::PhonesApi<S>,
    admin::MessagesApi<S>,
    admin::VerificationApi<S>,
    admin::LookupApi<S>,
    admin::ConfigsApi<S>,
    admin::UsageApi<S>,
    ops::OpsApi<S>,
);

/// The OpenAPI service: the operations and their spec. Needs no state, so
/// the spec can be printed without a database.
pub fn api_service<S: Store, A: Agent>() -> OpenApiService<Apis<S, A>, ()> {
    OpenApiService::new(
        (
            webhook::WebhookApi::default(),
            status::StatusApi::default(),
            admin::UsersApi::default(),
            admin::PhonesApi::default(),
            admin::MessagesApi::default(),
            admin::VerificationApi::default(),
            admin::LookupApi::default(),
            admin::ConfigsApi::default(),
            admin::UsageApi::default(),
            ops::OpsApi::default(),
        ),
        "sms-router",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "One Twilio number, many users: routes each inbound SMS to its sender's AI agent and answers with TwiML. \
         Admin operations need `Authorization: Bearer <SMS_ROUTER_ADMIN_TOKEN>`.",
    )
}

/// The spec as `/openapi.json` serves it and `openapi/openapi.json` holds it.
pub fn spec_json<S: Store, A: Agent>() -> String {
    api_service::<S, A>().spec()
}

/// The longest text taken from a request into a log line.
const MAX_LOGGED_CHARS: usize = 100;

/// Text a client sent (a path, a URL rebuilt from its headers), as a log
/// line may show it: at most `MAX_LOGGED_CHARS` characters.
fn clipped(text: &str) -> String {
    let mut shown: String = text.chars().take(MAX_LOGGED_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// What the handlers read besides the request.
pub struct AppState<S, A> {
    pub router: Router<S, A>,
    pub admin: Admin<S>,
    pub admin_token: AdminToken,
    pub writer: Arc<dyn ReplyWriter>,
    /// The store, for readiness.
    pub store: S,
    pub metrics: Arc<dyn Metrics>,
    pub deliveries: Deliveries<S, S>,
    pub webhook: WebhookSettings,
    /// Where messages are handled, so that a stop can wait for them, their
    /// late replies included.
    pub tasks: TaskTracker,
    /// How long a request body may take to arrive once its route reads it.
    pub body_timeout: std::time::Duration,
    /// When `/readyz` says the outbox is stalled.
    pub stall: Stall,
}

/// Every route, with the state the handlers read.
pub fn app<S: Store, A: Agent>(state: AppState<S, A>) -> impl Endpoint {
    let api = api_service::<S, A>();
    let body_timeout = state.body_timeout;
    let admin_token_set = state.admin_token.0.is_some();
    let routes = Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .nest("/sms-router/dashboard", dashboard::routes())
        .nest("/", api)
        // `/` itself, which the API's routes under it would answer 404.
        .around(|ep, req| async move {
            if req.uri().path() == "/" && req.method() == poem::http::Method::GET {
                return Ok(dashboard::home());
            }
            ep.call(req).await.map(IntoResponse::into_response)
        })
        // Within the data, so that it can read the admin token.
        .with(body_limit::BodyLimit)
        .around(move |ep, mut req| async move {
            let body = req.take_body();
            req.set_body(server::deadline_body(body, body_timeout));
            ep.call(req).await
        });
    WithState { inner: routes, state }
        .with(errors::JsonErrors { admin_token_set })
        .with(request_id::RequestTracing)
}

/// Adds what the handlers read to each request, in one layer. A `.data`
/// layer for each (eleven) nested eleven futures, each holding the request
/// again: a request's future grew to ~20 KB, copied anew at each layer
/// (docs/performance.md).
struct WithState<E, S, A> {
    inner: E,
    state: AppState<S, A>,
}

impl<E: Endpoint, S: Store, A: Agent> Endpoint for WithState<E, S, A> {
    type Output = E::Output;

    async fn call(&self, mut req: poem::Request) -> poem::Result<E::Output> {
        let state = &self.state;
        req.set_data(state.webhook.default_region);
        req.set_data(state.router.clone());
        req.set_data(state.admin.clone());
        req.set_data(state.admin_token.clone());
        req.set_data(state.writer.clone());
        req.set_data(state.store.clone());
        req.set_data(state.metrics.clone());
        req.set_data(state.deliveries.clone());
        req.set_data(state.webhook.clone());
        req.set_data(state.tasks.clone());
        req.set_data(state.stall.clone());
        self.inner.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_in_logs_is_cut_at_a_hundred_characters() {
        assert_eq!(clipped("/sms-router/webhook/sms"), "/sms-router/webhook/sms");
        let shown = clipped(&"h".repeat(5000));
        assert_eq!(shown.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(shown.ends_with('…'));
    }
}
