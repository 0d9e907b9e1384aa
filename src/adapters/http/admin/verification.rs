//! Number verification: `POST /phones/{id}/verification` and `…/confirm`.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::AdminAuth;
use super::failures::{ConfirmFailed, StartVerificationFailed};
use super::phones::PhoneDto;
use crate::adapters::http::ApiTags;
use crate::adapters::http::text::{Text, field};
use crate::domain::admin::Admin;
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
    ) -> Result<VerificationStartedOk, StartVerificationFailed> {
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
    ) -> Result<VerificationConfirmedOk, ConfirmFailed> {
        let phone = admin.confirm_phone_verification(PhoneId(id.0), &body.code).await?;
        Ok(VerificationConfirmedOk::Confirmed(Json(phone.into())))
    }
}

impl poem_openapi::types::Example for ConfirmVerificationRequest {
    fn example() -> Self {
        ConfirmVerificationRequest { code: "123456".into() }
    }
}
