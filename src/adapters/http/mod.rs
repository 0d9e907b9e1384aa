//! The HTTP surface (poem, poem-openapi): webhook and ops operations, the
//! generated spec and its UI.

mod admin;
mod body_limit;
mod errors;
pub mod form;
mod ops;
mod request_id;
pub mod signature;
mod status;
mod webhook;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::domain::admin::{Admin, AdminPorts};
use crate::domain::delivery::Deliveries;
use crate::domain::router::{Router, RouterPorts};
use crate::ports::{DeliveryLog, Metrics, OptOutRegistry, Readiness, ReplyWriter};
pub use admin::AdminToken;
pub use form::SenderNumbers;
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

/// The adapters the HTTP surface works with, named once.
pub trait HttpPorts: Send + Sync + 'static {
    type Router: RouterPorts;
    type Admin: AdminPorts;
    type Writer: ReplyWriter;
    type Readiness: Readiness;
    type Metrics: Metrics;
    type Deliveries: DeliveryLog;
    type OptOuts: OptOutRegistry;
}

type Apis<H> = (
    webhook::WebhookApi<<H as HttpPorts>::Router, <H as HttpPorts>::Writer>,
    status::StatusApi<<H as HttpPorts>::Deliveries, <H as HttpPorts>::OptOuts>,
    admin::UsersApi<<H as HttpPorts>::Admin>,
    admin::PhonesApi<<H as HttpPorts>::Admin>,
    admin::MessagesApi<<H as HttpPorts>::Admin>,
    admin::VerificationApi<<H as HttpPorts>::Admin>,
    admin::LookupApi<<H as HttpPorts>::Admin>,
    admin::ConfigsApi<<H as HttpPorts>::Admin>,
    admin::UsageApi<<H as HttpPorts>::Admin>,
    ops::OpsApi<<H as HttpPorts>::Readiness, <H as HttpPorts>::Metrics>,
);

/// The OpenAPI service: the operations and their spec. Needs no state, so
/// the spec can be printed without a database.
pub fn api_service<H: HttpPorts>() -> OpenApiService<Apis<H>, ()> {
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
pub fn spec_json<H: HttpPorts>() -> String {
    api_service::<H>().spec()
}

/// What the handlers read besides the request.
pub struct AppState<H: HttpPorts> {
    pub router: Router<H::Router>,
    pub admin: Admin<H::Admin>,
    pub admin_token: AdminToken,
    pub writer: H::Writer,
    pub readiness: H::Readiness,
    pub metrics: H::Metrics,
    pub deliveries: Deliveries<H::Deliveries, H::OptOuts>,
    pub webhook: WebhookSettings,
}

/// Every route, with the state the handlers read.
pub fn app<H: HttpPorts>(state: AppState<H>) -> impl Endpoint {
    let api = api_service::<H>();
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
        .data(state.deliveries)
        .data(state.webhook)
        .with(body_limit::BodyLimit)
        .with(errors::JsonErrors)
        .with(request_id::RequestTracing)
}
