//! Twilio's Messages API (reqwest): send a message, and read Twilio's error
//! bodies into the messenger's typed errors.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::domain::message::MediaLink;
use crate::domain::phone::PhoneNumber;
use crate::ports::{Messenger, SendError};

#[derive(Clone)]
pub struct TwilioMessenger {
    client: reqwest::Client,
    messages_url: reqwest::Url,
    account_url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    from: PhoneNumber,
    status_callback: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's error body; its message is not kept (it quotes numbers).
#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
}

impl TwilioMessenger {
    /// # Errors
    /// When the URL cannot be built from `api_base` or the client cannot be
    /// built.
    pub fn new(
        api_base: &reqwest::Url,
        account_sid: &str,
        auth_token: &str,
        from: PhoneNumber,
        status_callback: Option<String>,
    ) -> anyhow::Result<Self> {
        let base = api_base.as_str().trim_end_matches('/');
        let messages_url = reqwest::Url::parse(&format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"))?;
        let account_url = reqwest::Url::parse(&format!("{base}/2010-04-01/Accounts/{account_sid}.json"))?;
        let client = super::http_client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(TwilioMessenger {
            client,
            messages_url,
            account_url,
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            from,
            status_callback,
        })
    }
}

/// What Twilio said of the account's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Accepted,
    /// 401: the account SID and auth token do not match.
    Refused,
    /// Any other answer, or none: why.
    Unknown(String),
}

impl TwilioMessenger {
    /// Reads the account (`GET …/Accounts/{sid}.json`): a call that changes
    /// nothing and costs nothing, to see whether Twilio accepts the
    /// credentials.
    pub async fn check_credentials(&self) -> Credentials {
        let answer = self
            .client
            .get(self.account_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => Credentials::Accepted,
            Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => Credentials::Refused,
            Ok(r) => Credentials::Unknown(format!("Twilio answered {}", r.status().as_u16())),
            Err(e) => Credentials::Unknown(crate::adapters::http_client::failure(&e).to_owned()),
        }
    }
}

/// The wait a `Retry-After` header asks for: seconds, or a date (HTTP's
/// two forms); a date past is no wait.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// Reads a refusal: Twilio's code decides where it names one.
fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> SendError {
    let code = serde_json::from_slice::<TwilioError>(body).ok().and_then(|e| e.code);
    match (status, code) {
        (_, Some(21610)) => SendError::OptedOut,
        (_, Some(21211)) => SendError::InvalidNumber,
        (429, _) | (_, Some(20429)) => SendError::TooManyRequests { retry_after },
        (500..=599, _) => SendError::Unavailable("Twilio answered a server error"),
        _ => SendError::Rejected { status, code },
    }
}

impl Messenger for TwilioMessenger {
    async fn send(&self, to: &PhoneNumber, body: &str, media: &[MediaLink]) -> Result<String, SendError> {
        let mut form = vec![("To", to.as_ref()), ("From", self.from.as_ref())];
        // A message of files alone has no Body.
        if !body.is_empty() || media.is_empty() {
            form.push(("Body", body));
        }
        form.extend(media.iter().map(|link| ("MediaUrl", link.as_str())));
        if let Some(callback) = &self.status_callback {
            form.push(("StatusCallback", callback));
        }
        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                // Refused before anything was sent: safe to try again. Any
                // other failure may come after Twilio took the message.
                if e.is_connect() {
                    SendError::Unavailable("Twilio could not be reached")
                } else {
                    SendError::Unknown(super::http_client::failure(&e))
                }
            })?;
        let status = response.status().as_u16();
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, SystemTime::now()));
        let body = response
            .bytes()
            .await
            .map_err(|e| SendError::Unknown(super::http_client::failure(&e)))?;
        if !(200..300).contains(&status) {
            return Err(classify(status, wait, &body));
        }
        serde_json::from_slice::<Created>(&body)
            .map(|created| created.sid)
            .map_err(|_| SendError::Unknown("Twilio accepted the message but its answer is unreadable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_are_typed() {
        let body = |code: i64| format!(r#"{{"code": {code}, "message": "m", "status": 400}}"#).into_bytes();
        assert_eq!(classify(400, None, &body(21610)), SendError::OptedOut);
        assert_eq!(classify(400, None, &body(21211)), SendError::InvalidNumber);
        assert_eq!(
            classify(429, None, &body(20429)),
            SendError::TooManyRequests { retry_after: None }
        );
        let three = Some(Duration::from_secs(3));
        assert_eq!(
            classify(429, three, b"not json"),
            SendError::TooManyRequests { retry_after: three }
        );
        assert!(matches!(classify(503, None, b""), SendError::Unavailable(_)));
        assert!(matches!(
            classify(400, None, &body(21602)),
            SendError::Rejected { code: Some(21602), .. }
        ));
    }

    #[test]
    fn retry_after_in_both_of_its_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
