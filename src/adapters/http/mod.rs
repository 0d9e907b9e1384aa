//! The HTTP surface (poem, poem-openapi): webhook and ops operations, the
//! generated spec and its UI.

mod errors;
pub mod form;
mod ops;
mod request_id;
pub mod signature;
mod webhook;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::domain::router::{Router, RouterPorts};
use crate::ports::{Readiness, ReplyWriter};
pub use webhook::WebhookSettings;

#[derive(Tags)]
#[oai(rename_all = "lowercase")]
enum ApiTags {
    /// Called by Twilio
    Webhook,
    /// Health of the service
    Ops,
}

type Apis<P, W, R> = (webhook::WebhookApi<P, W>, ops::OpsApi<R>);

/// The OpenAPI service: the operations and their spec. Needs no state, so
/// the spec can be printed without a database.
pub fn api_service<P: RouterPorts, W: ReplyWriter, R: Readiness>() -> OpenApiService<Apis<P, W, R>, ()> {
    OpenApiService::new(
        (webhook::WebhookApi::default(), ops::OpsApi::default()),
        "sms-router",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "One Twilio number, many users: routes each inbound SMS to its sender's AI agent and answers with TwiML. \
         Admin operations need `Authorization: Bearer <SMS_ROUTER_ADMIN_TOKEN>`.",
    )
}

/// The spec as `/openapi.json` serves it and `openapi/openapi.json` holds it.
pub fn spec_json<P: RouterPorts, W: ReplyWriter, R: Readiness>() -> String {
    api_service::<P, W, R>().spec()
}

/// Every route, with the state the handlers read.
pub fn app<P: RouterPorts, W: ReplyWriter, R: Readiness>(
    router: Router<P>,
    writer: W,
    readiness: R,
    webhook: WebhookSettings,
) -> impl Endpoint {
    let api = api_service::<P, W, R>();
    Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .nest("/docs", api.swagger_ui())
        .nest("/", api)
        .data(router)
        .data(writer)
        .data(readiness)
        .data(webhook)
        .with(errors::JsonErrors)
        .with(request_id::RequestTracing)
}
