//! Number verification: `POST /phones/{id}/verification` and `…/confirm`.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::phones::PhoneDto;
use super::{AdminAuth, error_body};
use crate::adapters::http::ApiTags;
use crate::adapters::http::errors::ErrorBody;
use crate::adapters::http::text::{Text, field};
use crate::domain::admin::{Admin, AdminError};
use crate::domain::user::PhoneId;
use crate::ports::AdminStore;

/// A verification under way.
#[derive(Object)]
pub struct VerificationStarted {
    /// The extra number's id.
    pub phone_id: i64,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

/// A code to confirm.
#[derive(Object)]
#[oai(example)]
pub struct ConfirmVerificationRequest {
    /// The 6-digit code texted to the number.
    pub code: Text<field::Code>,
}

#[derive(ApiResponse)]
pub enum VerificationStartedOk {
    /// A code is on its way to the number.
    #[oai(status = 202)]
    Started(Json<VerificationStarted>),
}

#[derive(ApiResponse)]
pub enum VerificationConfirmedOk {
    /// The number, now verified by SMS.
    #[oai(status = 200)]
    Confirmed(Json<PhoneDto>),
}

#[derive(ApiResponse)]
pub enum VerificationError {
    /// The body cannot be parsed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// No such number.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The number opted out.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// A wrong, expired or unsent code.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many wrong codes: start a new verification.
    #[oai(status = 429)]
    TooManyAttempts(Json<ErrorBody>),
    /// The store is unavailable, or Twilio's REST settings are missing.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl From<AdminError> for VerificationError {
    fn from(err: AdminError) -> Self {
        let body = error_body(&err);
        match err {
            AdminError::NotFound(_) => VerificationError::NotFound(body),
            AdminError::Conflict(_) | AdminError::Refused(_) => VerificationError::Conflict(body),
            AdminError::Invalid { .. } => VerificationError::Unprocessable(body),
            AdminError::TooManyAttempts(_) => VerificationError::TooManyAttempts(body),
            AdminError::Store(_) | AdminError::NotConfigured(_) => VerificationError::Unavailable(body),
        }
    }
}

pub struct VerificationApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for VerificationApi<AP> {
    fn default() -> Self {
        VerificationApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> VerificationApi<AP> {
    /// Text a verification code to an extra number
    ///
    /// The code expires in 10 minutes and allows 5 wrong tries. The user
    /// confirms it by texting it back from that number, or an administrator
    /// with `confirm_phone_verification`.
    #[oai(
        path = "/phones/:id/verification",
        method = "post",
        operation_id = "start_phone_verification"
    )]
    async fn start_phone_verification(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        admin: Data<&Admin<AP>>,
    ) -> Result<VerificationStartedOk, VerificationError> {
        let pending = admin.start_phone_verification(PhoneId(id.0)).await?;
        Ok(VerificationStartedOk::Started(Json(VerificationStarted {
            phone_id: pending.phone_id.0,
            expires_at: pending.expires_at,
        })))
    }

    /// Confirm a verification code
    #[oai(
        path = "/phones/:id/verification/confirm",
        method = "post",
        operation_id = "confirm_phone_verification"
    )]
    async fn confirm_phone_verification(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        body: Json<ConfirmVerificationRequest>,
        admin: Data<&Admin<AP>>,
    ) -> Result<VerificationConfirmedOk, VerificationError> {
        let phone = admin.confirm_phone_verification(PhoneId(id.0), &body.code).await?;
        Ok(VerificationConfirmedOk::Confirmed(Json(phone.into())))
    }
}

impl poem_openapi::types::Example for ConfirmVerificationRequest {
    fn example() -> Self {
        ConfirmVerificationRequest { code: "123456".into() }
    }
}
