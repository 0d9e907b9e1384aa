//! Twilio's webhook body: a URL-encoded form read as raw pairs, because the
//! signature covers every field, repeated and unknown ones included.

use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{Object, impl_apirequest_for_payload};

/// The largest webhook body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The fields of Twilio's webhook that sms-router reads. Twilio sends many
/// more (`MediaUrl0…`, `SmsStatus`, …): all are accepted and signed over.
#[derive(Object)]
#[oai(rename_all = "PascalCase")]
pub struct TwilioWebhookFields {
    /// Twilio's id of the message: a retry carries the same one.
    pub message_sid: String,
    /// The sender: an E.164 number, `whatsapp:+…`, a short code or a name.
    pub from: String,
    /// The number the message was sent to.
    pub to: Option<String>,
    /// The text.
    pub body: Option<String>,
    pub account_sid: Option<String>,
    pub num_media: Option<String>,
    pub num_segments: Option<String>,
    /// Twilio's reading of an opt-out keyword: `STOP`, `START` or `HELP`.
    pub opt_out_type: Option<String>,
}

/// Every name and value of the form, in the order received.
pub struct TwilioForm(pub Vec<(String, String)>);

impl TwilioForm {
    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Payload for TwilioForm {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(Self::CONTENT_TYPE))
    }

    fn schema_ref() -> MetaSchemaRef {
        TwilioWebhookFields::schema_ref()
    }

    fn register(registry: &mut Registry) {
        TwilioWebhookFields::register(registry);
    }
}

impl ParsePayload for TwilioForm {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let too_large = || {
            poem::Error::from_string(
                format!("the body is over {MAX_BODY_BYTES} bytes"),
                poem::http::StatusCode::PAYLOAD_TOO_LARGE,
            )
        };
        let declared = req
            .header(poem::http::header::CONTENT_LENGTH)
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let bytes = match body.take()?.into_bytes_limit(MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(poem::error::ReadBodyError::PayloadTooLarge) => return Err(too_large()),
            Err(e) => return Err(e.into()),
        };
        let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).map_err(|e| {
            poem::Error::from_string(
                format!("the body is not a URL-encoded form: {e}"),
                poem::http::StatusCode::BAD_REQUEST,
            )
        })?;
        Ok(TwilioForm(pairs))
    }
}

impl_apirequest_for_payload!(TwilioForm);
