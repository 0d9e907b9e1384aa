//! Twilio's webhook body: a URL-encoded form read as raw pairs, because the
//! signature covers every field, repeated and unknown ones included.

use mini_moka::sync::Cache;
use poem::{Request, RequestBody};

use crate::domain::keyword::Keyword;
use crate::domain::message::{InboundMessage, MAX_MEDIA, Media, MessageSid, RequestId, Sender};
use crate::domain::phone::{PhoneNumber, Region};
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
    /// The Twilio account the message came to.
    pub account_sid: Option<String>,
    /// How many media (pictures) the message carries, each in `MediaUrl{N}`
    /// and `MediaContentType{N}` (N from 0; at most 10 are read).
    pub num_media: Option<String>,
    /// How many SMS segments the text came in.
    pub num_segments: Option<String>,
    /// Twilio's reading of an opt-out keyword: `STOP`, `START` or `HELP`.
    pub opt_out_type: Option<String>,
}

/// A field of the form that cannot be read, and why.
#[derive(Debug)]
pub struct BadField {
    pub field: &'static str,
    pub why: String,
}

/// Reads senders' numbers, remembering the last few thousand: the parser
/// checks a number against its country's patterns, a few regular
/// expressions, which made it a tenth of the CPU time of a message, and the
/// same people text again and again.
#[derive(Clone)]
pub struct SenderNumbers {
    region: Region,
    /// The raw `From` text, and the number it reads as (`None`: not one).
    known: Cache<String, Option<PhoneNumber>>,
}

impl SenderNumbers {
    /// How many senders' readings are kept.
    const CAPACITY: u64 = 10_000;
    /// The longest `From` text remembered: a number however written is
    /// shorter; a longer text is read each time, never kept.
    const MAX_KEY_BYTES: usize = 32;

    /// Numbers written without a country code are read in `region`.
    pub fn new(region: Region) -> Self {
        SenderNumbers {
            region,
            known: Cache::new(Self::CAPACITY),
        }
    }

    /// Who `from` is: a number, or a sender that has none.
    fn sender(&self, from: &str) -> Sender {
        let number = if from.len() > Self::MAX_KEY_BYTES {
            PhoneNumber::parse(from, self.region).ok()
        } else {
            let key = from.to_owned();
            self.known.get(&key).unwrap_or_else(|| {
                let number = PhoneNumber::parse(from, self.region).ok();
                self.known.insert(key, number.clone());
                number
            })
        };
        number.map_or_else(|| Sender::other(from), Sender::Number)
    }
}

/// Every name and value of the form, in the order received.
pub struct TwilioForm(pub Vec<(String, String)>);

impl TwilioForm {
    /// Reads a URL-encoded body. Bytes that are not UTF-8 after decoding
    /// become U+FFFD, so the signature check then fails rather than this.
    ///
    /// # Errors
    /// When the body is not a URL-encoded form.
    pub fn parse(body: &[u8]) -> Result<Self, serde_urlencoded::de::Error> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map(TwilioForm)
    }

    /// The message the form carries.
    ///
    /// # Errors
    /// When `From` is missing or empty, or `MessageSid` is not a message id.
    pub fn message(
        &self,
        senders: &SenderNumbers,
        request_id: RequestId,
        sampled: bool,
    ) -> Result<InboundMessage, BadField> {
        // `str::is_empty` by name: poem-openapi's `Type::is_empty`, in scope
        // here, takes `f.is_empty()` on a `&&str` and says false.
        let from = self.get("From").map(str::trim).filter(|f| !str::is_empty(f));
        let from = from.ok_or(BadField {
            field: "From",
            why: "is missing or empty".to_owned(),
        })?;
        let sid = MessageSid::parse(self.get("MessageSid").unwrap_or_default()).map_err(|e| BadField {
            field: "MessageSid",
            why: e.to_string(),
        })?;
        let num_media: u32 = self.get("NumMedia").and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        Ok(InboundMessage {
            sid,
            from: senders.sender(from),
            to: self.get("To").map(|t| t.chars().take(64).collect()),
            body: self.get("Body").unwrap_or_default().to_owned(),
            media: self.media(num_media)?,
            num_media,
            opt_out_type: self.get("OptOutType").and_then(Keyword::of_opt_out_type),
            request_id,
            sampled,
        })
    }

    /// `MediaUrl{N}` and `MediaContentType{N}` for the first `count` media
    /// (at most `MAX_MEDIA`).
    fn media(&self, count: u32) -> Result<Vec<Media>, BadField> {
        const URLS: [&str; MAX_MEDIA] = [
            "MediaUrl0",
            "MediaUrl1",
            "MediaUrl2",
            "MediaUrl3",
            "MediaUrl4",
            "MediaUrl5",
            "MediaUrl6",
            "MediaUrl7",
            "MediaUrl8",
            "MediaUrl9",
        ];
        const TYPES: [&str; MAX_MEDIA] = [
            "MediaContentType0",
            "MediaContentType1",
            "MediaContentType2",
            "MediaContentType3",
            "MediaContentType4",
            "MediaContentType5",
            "MediaContentType6",
            "MediaContentType7",
            "MediaContentType8",
            "MediaContentType9",
        ];
        let count = usize::try_from(count).unwrap_or(MAX_MEDIA).min(MAX_MEDIA);
        (0..count)
            .map(|n| {
                let url = self.get(URLS[n]).ok_or(BadField {
                    field: URLS[n],
                    why: "is missing: NumMedia counts it".to_owned(),
                })?;
                let content_type = self.get(TYPES[n]).unwrap_or("application/octet-stream");
                Media::parse(url, content_type).map_err(|(which, e)| BadField {
                    field: if which == "url" { URLS[n] } else { TYPES[n] },
                    why: e.to_string(),
                })
            })
            .collect()
    }

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
        TwilioForm::parse(&bytes).map_err(|e| {
            poem::Error::from_string(
                format!("the body is not a URL-encoded form: {e}"),
                poem::http::StatusCode::BAD_REQUEST,
            )
        })
    }
}

impl_apirequest_for_payload!(TwilioForm);

#[cfg(test)]
mod tests;
