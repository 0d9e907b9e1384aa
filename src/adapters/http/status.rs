//! `POST /sms-router/webhook/status`: Twilio's status callbacks for the
//! messages we sent.

use std::marker::PhantomData;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::errors::ErrorBody;
use super::form::TwilioForm;
use super::webhook::{WebhookError, WebhookSettings, forbidden, twilio_signed};
use crate::domain::delivery::{Deliveries, DeliveryReport, DeliveryStatus, Recorded};
use crate::domain::message::MessageSid;
use crate::domain::phone::PhoneNumber;
use crate::ports::{DeliveryLog, OptOutRegistry, SettingsStore};

pub struct StatusApi<S>(PhantomData<fn() -> S>);

impl<S> Default for StatusApi<S> {
    fn default() -> Self {
        StatusApi(PhantomData)
    }
}

#[derive(ApiResponse)]
pub enum ReceiveStatusOk {
    /// Recorded, ignored as stale, or about a message we do not know.
    #[oai(status = 204)]
    Recorded,
}

#[OpenApi]
impl<S: DeliveryLog + OptOutRegistry + SettingsStore> StatusApi<S> {
    /// Receive a delivery status
    ///
    /// Twilio's status callback for a message sent through its REST API.
    /// A status never moves backwards; an unknown `MessageSid` is logged.
    #[oai(
        path = "/sms-router/webhook/status",
        method = "post",
        operation_id = "receive_status",
        tag = "ApiTags::Webhook"
    )]
    async fn receive_status(
        &self,
        req: &Request,
        form: TwilioForm,
        /// Twilio's signature of the request.
        #[oai(name = "X-Twilio-Signature")]
        signature: Header<Option<String>>,
        deliveries: Data<&Deliveries<S, S>>,
        settings: Data<&WebhookSettings>,
    ) -> Result<ReceiveStatusOk, WebhookError> {
        if !twilio_signed(req, &form, signature.0.as_deref(), &settings) {
            return Err(WebhookError::Forbidden(forbidden()));
        }
        let bad = |field: &str, why: &str| {
            WebhookError::BadRequest(ErrorBody::json("bad_request", format!("`{field}` {why}")))
        };
        let sid = MessageSid::parse(form.get("MessageSid").unwrap_or_default())
            .map_err(|e| bad("MessageSid", &e.to_string()))?;
        let status = form
            .get("MessageStatus")
            .or_else(|| form.get("SmsStatus"))
            .and_then(DeliveryStatus::parse)
            .ok_or_else(|| bad("MessageStatus", "is missing or not a Twilio message status"))?;
        let report = DeliveryReport {
            sid,
            status,
            error_code: form.get("ErrorCode").and_then(|c| c.trim().parse().ok()),
            to: form
                .get("To")
                .and_then(|to| PhoneNumber::parse(to, settings.default_region).ok()),
        };
        match deliveries.record(&report).await {
            Ok(Recorded::Applied) => tracing::info!(sid = %report.sid, status = status.name(), "delivery status"),
            Ok(Recorded::Stale) => tracing::info!(sid = %report.sid, status = status.name(), "stale status ignored"),
            Ok(Recorded::UnknownMessage) => tracing::warn!(sid = %report.sid, "status for a message we did not send"),
            Err(e) => {
                tracing::error!(error = %e, "cannot record a delivery status");
                return Err(WebhookError::Unavailable(ErrorBody::json(
                    "service_unavailable",
                    "the store is unavailable",
                )));
            }
        }
        Ok(ReceiveStatusOk::Recorded)
    }
}
