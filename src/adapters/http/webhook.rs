//! `POST /sms-router/webhook/sms`: Twilio's inbound message webhook.

use std::marker::PhantomData;
use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::ApiTags;
use super::errors::ErrorBody;
use super::form::{SenderNumbers, TwilioForm};
use super::request_id::TraceContext;
use super::signature;
use crate::domain::message::RequestId;
use crate::domain::phone::Region;
use crate::domain::router::{NotNow, Respond, Router};
use crate::ports::{Agent, ReplyWriter, RouterStore};

/// How the webhook authenticates Twilio and reads numbers.
#[derive(Clone)]
pub struct WebhookSettings {
    /// `None` only in `--dev`: signatures are not checked then.
    pub auth_token: Option<String>,
    /// The base URL Twilio calls, without a trailing `/`.
    pub public_url: Option<String>,
    pub default_region: Region,
    /// Reads `From`, in `default_region`.
    pub senders: SenderNumbers,
}

pub struct WebhookApi<S, A>(PhantomData<fn() -> (S, A)>);

impl<S, A> Default for WebhookApi<S, A> {
    fn default() -> Self {
        WebhookApi(PhantomData)
    }
}

#[derive(ApiResponse)]
pub enum ReceiveSmsOk {
    /// TwiML: the reply, as zero or more `<Message>` elements.
    #[oai(status = 200, content_type = "application/xml")]
    Twiml(PlainText<String>),
}

/// The failures of Twilio's webhooks.
#[derive(ApiResponse)]
pub enum WebhookError {
    /// A required field is missing, empty or malformed; the message names it.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// `X-Twilio-Signature` is missing or wrong.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The body is over 64 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/x-www-form-urlencoded`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The store cannot take the request now; Twilio's fallback URL or a
    /// retry should.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl WebhookError {
    fn bad_field(field: &str, why: impl std::fmt::Display) -> Self {
        WebhookError::BadRequest(ErrorBody::json("bad_request", format!("`{field}` {why}")))
    }
}

#[OpenApi]
impl<S: RouterStore, A: Agent> WebhookApi<S, A> {
    /// Receive an inbound SMS
    ///
    /// Twilio's messaging webhook. Answers TwiML with the reply of the
    /// sender's agent, or the reply the outcome calls for.
    #[oai(
        path = "/sms-router/webhook/sms",
        method = "post",
        operation_id = "receive_sms",
        tag = "ApiTags::Webhook"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn receive_sms(
        &self,
        req: &Request,
        form: TwilioForm,
        /// Twilio's signature of the request.
        #[oai(name = "X-Twilio-Signature")]
        signature: Header<Option<String>>,
        router: Data<&Router<S, A>>,
        writer: Data<&Arc<dyn ReplyWriter>>,
        settings: Data<&WebhookSettings>,
        request_id: Data<&RequestId>,
        trace: Data<&TraceContext>,
        tasks: Data<&TaskTracker>,
    ) -> Result<ReceiveSmsOk, WebhookError> {
        if !twilio_signed(req, &form, signature.0.as_deref(), &settings) {
            return Err(WebhookError::Forbidden(forbidden()));
        }
        let message = form
            .message(&settings.senders, request_id.0.clone(), trace.sampled)
            .map_err(|bad| WebhookError::bad_field(bad.field, bad.why))?;
        let router = router.0.clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        // A task of its own, tracked: the message is handled to its end,
        // late reply included, even when the client goes away, and a stop
        // waits for it.
        tasks.spawn(
            async move {
                router
                    .handle(
                        message,
                        Respond::to(move |reply| {
                            let _ = answer.send(reply);
                        }),
                    )
                    .await;
            }
            .in_current_span(),
        );
        let unavailable = |why: &str| WebhookError::Unavailable(ErrorBody::json("service_unavailable", why));
        let reply = answered
            .await
            .map_err(|_| {
                tracing::error!("the message's task ended without an answer");
                unavailable("the message could not be handled")
            })?
            .map_err(|why| match why {
                NotNow::Store(_) => unavailable("the store is unavailable"),
                NotNow::StillAnswered => unavailable("the message is still being answered: try again"),
            })?;
        Ok(ReceiveSmsOk::Twiml(PlainText(writer.render(&reply))))
    }
}

/// Whether the request carries Twilio's signature, or signatures are not
/// checked (`--dev`). A failure is logged without the body.
pub(super) fn twilio_signed(
    req: &Request,
    form: &TwilioForm,
    signature: Option<&str>,
    settings: &WebhookSettings,
) -> bool {
    let Some(token) = &settings.auth_token else {
        return true;
    };
    let url = signed_url(req, settings.public_url.as_deref());
    let valid = signature.is_some_and(|s| signature::is_valid(token, &url, &form.0, s));
    if !valid {
        tracing::warn!(signed_url = %super::clipped(url.split(['?', '#']).next().unwrap_or_default()), present = signature.is_some(), "rejected a webhook: bad signature");
    }
    valid
}

pub(super) fn forbidden() -> Json<ErrorBody> {
    ErrorBody::json(
        "forbidden",
        "X-Twilio-Signature is missing or does not match the request",
    )
}

/// The URL Twilio signed: the public URL when set, else rebuilt from the
/// proxy's forwarded headers or `Host`; then path and raw query.
fn signed_url(req: &Request, public_url: Option<&str>) -> String {
    let base = match public_url {
        Some(url) => url.to_owned(),
        None => {
            let first = |name: &str| req.header(name).and_then(|v| v.split(',').next()).map(str::trim);
            let scheme = first("x-forwarded-proto").unwrap_or("http");
            let host = first("x-forwarded-host")
                .or_else(|| req.header("host"))
                .unwrap_or_default();
            format!("{scheme}://{host}")
        }
    };
    match req.uri().query() {
        Some(query) => format!("{base}{}?{query}", req.uri().path()),
        None => format!("{base}{}", req.uri().path()),
    }
}
