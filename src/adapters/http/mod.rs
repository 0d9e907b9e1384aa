//! The HTTP surface (poem, poem-openapi): webhook and ops operations, the
//! generated spec and its UI.

mod admin;
mod errors;
pub mod form;
mod ops;
mod request_id;
pub mod signature;
mod webhook;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::domain::admin::{Admin, AdminPorts};
use crate::domain::router::{Router, RouterPorts};
use crate::ports::{Metrics, Readiness, ReplyWriter};
pub use admin::AdminToken;
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

type Apis<P, AP, W, R, M> = (
    webhook::WebhookApi<P, W>,
    admin::UsersApi<AP>,
    admin::PhonesApi<AP>,
    admin::MessagesApi<AP>,
    admin::LookupApi<AP>,
    admin::ConfigsApi<AP>,
    admin::UsageApi<AP>,
    ops::OpsApi<R, M>,
);

/// The OpenAPI service: the operations and their spec. Needs no state, so
/// the spec can be printed without a database.
pub fn api_service<P: RouterPorts, AP: AdminPorts, W: ReplyWriter, R: Readiness, M: Metrics>()
-> OpenApiService<Apis<P, AP, W, R, M>, ()> {
    OpenApiService::new(
        (
            webhook::WebhookApi::default(),
            admin::UsersApi::default(),
            admin::PhonesApi::default(),
            admin::MessagesApi::default(),
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
pub fn spec_json<P: RouterPorts, AP: AdminPorts, W: ReplyWriter, R: Readiness, M: Metrics>() -> String {
    api_service::<P, AP, W, R, M>().spec()
}

/// What the handlers read besides the request.
pub struct AppState<P: RouterPorts, AP: AdminPorts, W, R, M> {
    pub router: Router<P>,
    pub admin: Admin<AP>,
    pub admin_token: AdminToken,
    pub writer: W,
    pub readiness: R,
    pub metrics: M,
    pub webhook: WebhookSettings,
}

/// Every route, with the state the handlers read.
pub fn app<P: RouterPorts, AP: AdminPorts, W: ReplyWriter, R: Readiness, M: Metrics>(
    state: AppState<P, AP, W, R, M>,
) -> impl Endpoint {
    let api = api_service::<P, AP, W, R, M>();
    Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .nest("/", api)
        .data(state.webhook.default_region)
        .data(state.router)
        .data(state.admin)
        .data(state.admin_token)
        .data(state.writer)
        .data(state.readiness)
        .data(state.metrics)
        .data(state.webhook)
        .with(errors::JsonErrors)
        .with(request_id::RequestTracing)
}
