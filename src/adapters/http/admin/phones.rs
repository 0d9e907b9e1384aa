//! A user's extra numbers: `/users/{id}/phones` and `/phones/{id}`.

use std::marker::PhantomData;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::failures::{ChangeUserFailed, PhoneListFailed, PhoneMissing, UpdatePhoneFailed};
use super::users::parse_number;
use super::{AdminAuth, DeletedOk, page_parts, page_request};
use crate::adapters::http::ApiTags;
use crate::adapters::http::or_null::OrNull;
use crate::adapters::http::text::{Text, field};
use crate::domain::admin::{Admin, Invalid};
use crate::domain::phone::Region;
use crate::domain::user::{NewPhone, Phone, PhoneId, PhonePatch, UserId, VerificationMethod};
use crate::ports::AdminStore;

/// How a number was shown to belong to its user.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum VerificationMethodDto {
    Sms,
    Manual,
    Oauth,
}

impl From<VerificationMethodDto> for VerificationMethod {
    fn from(m: VerificationMethodDto) -> Self {
        match m {
            VerificationMethodDto::Sms => VerificationMethod::Sms,
            VerificationMethodDto::Manual => VerificationMethod::Manual,
            VerificationMethodDto::Oauth => VerificationMethod::Oauth,
        }
    }
}

impl From<VerificationMethod> for VerificationMethodDto {
    fn from(m: VerificationMethod) -> Self {
        match m {
            VerificationMethod::Sms => VerificationMethodDto::Sms,
            VerificationMethod::Manual => VerificationMethodDto::Manual,
            VerificationMethod::Oauth => VerificationMethodDto::Oauth,
        }
    }
}

/// An extra number of a user.
#[derive(Object)]
pub struct PhoneDto {
    /// The number's id.
    pub id: i64,
    /// The id of the user it belongs to.
    pub user_id: i64,
    /// E.164.
    pub phone_number: String,
    /// Whether it is the user's primary extra number (at most one is).
    pub is_primary: bool,
    /// Whether it was shown to belong to the user.
    pub is_verified: bool,
    /// How it was verified; null when it was not, or not said.
    pub verification_method: OrNull<VerificationMethodDto>,
    /// When it was added, RFC 3339 in UTC.
    pub created_at: String,
    /// When it last changed, RFC 3339 in UTC.
    pub updated_at: String,
}

impl From<Phone> for PhoneDto {
    fn from(p: Phone) -> Self {
        PhoneDto {
            id: p.id.0,
            user_id: p.user_id.0,
            phone_number: p.phone_number.to_string(),
            is_primary: p.is_primary,
            is_verified: p.is_verified,
            verification_method: OrNull(p.verification_method.map(Into::into)),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// An extra number to add to a user.
#[derive(Object)]
#[oai(example)]
pub struct AddPhoneRequest {
    /// Any common format; stored in E.164. Unique across all users' numbers.
    pub phone_number: Text<field::PhoneNumber>,
    /// Default false; true demotes the user's other primary extra number.
    #[oai(nullable)]
    pub is_primary: Option<bool>,
    /// Default false.
    #[oai(nullable)]
    pub is_verified: Option<bool>,
    /// How it was verified; default null.
    pub verification_method: OrNull<VerificationMethodDto>,
}

/// A field of an extra number that `clear` empties.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ClearablePhoneField {
    VerificationMethod,
}

/// Fields left out stay as they are; `null`, or naming the field in
/// `clear`, empties `verification_method`.
#[derive(Object)]
#[oai(example)]
pub struct UpdatePhoneRequest {
    /// True demotes the user's other primary extra number.
    #[oai(nullable)]
    pub is_primary: Option<bool>,
    /// Whether it was shown to belong to the user.
    #[oai(nullable)]
    pub is_verified: Option<bool>,
    /// How it was verified; null empties it.
    pub verification_method: MaybeUndefined<OrNull<VerificationMethodDto>>,
    /// Fields to empty, for clients that cannot send `null`. A field both
    /// given a value and named here is 422.
    #[oai(default)]
    pub clear: Vec<ClearablePhoneField>,
}

/// A page of a user's extra numbers.
#[derive(Object)]
pub struct PhonePage {
    /// The numbers, by ascending id.
    pub items: Vec<PhoneDto>,
    /// Pass as `after` for the next page; null on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum PhoneFound {
    /// The number.
    #[oai(status = 200)]
    Found(Json<PhoneDto>),
}

#[derive(ApiResponse)]
pub enum PhoneCreated {
    /// The number, added.
    #[oai(status = 201)]
    Created(Json<PhoneDto>),
}

#[derive(ApiResponse)]
pub enum PhonePageOk {
    /// A page of the user's extra numbers by ascending id.
    #[oai(status = 200)]
    Page(Json<PhonePage>),
}

pub struct PhonesApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for PhonesApi<AP> {
    fn default() -> Self {
        PhonesApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> PhonesApi<AP> {
    /// List a user's extra numbers
    #[oai(path = "/users/:id/phones", method = "get", operation_id = "list_user_phones")]
    async fn list_user_phones(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        /// 1 to 500, default 50.
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        after: Query<Option<String>>,
        admin: Data<&Admin<AP>>,
    ) -> Result<PhonePageOk, PhoneListFailed> {
        let page = page_request(limit.0, after.0.as_deref())?;
        let (items, next_cursor) = page_parts(admin.list_phones(UserId(id.0), page).await?, PhoneDto::from);
        Ok(PhonePageOk::Page(Json(PhonePage { items, next_cursor })))
    }

    /// Add an extra number to a user
    #[oai(path = "/users/:id/phones", method = "post", operation_id = "add_user_phone")]
    async fn add_user_phone(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        body: Json<AddPhoneRequest>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<PhoneCreated, ChangeUserFailed> {
        let phone = NewPhone {
            phone_number: parse_number("phone_number", &body.phone_number, **region)?,
            is_primary: body.is_primary.unwrap_or(false),
            is_verified: body.is_verified.unwrap_or(false),
            verification_method: body.verification_method.0.map(Into::into),
        };
        Ok(PhoneCreated::Created(Json(
            admin.add_phone(UserId(id.0), phone).await?.into(),
        )))
    }

    /// Update an extra number (partial)
    #[oai(path = "/phones/:id", method = "patch", operation_id = "update_phone")]
    async fn update_phone(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        body: Json<UpdatePhoneRequest>,
        admin: Data<&Admin<AP>>,
    ) -> Result<PhoneFound, UpdatePhoneFailed> {
        let patch = PhonePatch {
            is_primary: body.is_primary,
            is_verified: body.is_verified,
            verification_method: match (
                body.0.verification_method,
                body.0.clear.contains(&ClearablePhoneField::VerificationMethod),
            ) {
                (MaybeUndefined::Value(OrNull(Some(_))), true) => {
                    return Err(
                        Invalid::new("verification_method", "is both given a value and named in `clear`").into(),
                    );
                }
                (_, true) | (MaybeUndefined::Null | MaybeUndefined::Value(OrNull(None)), false) => Some(None),
                (MaybeUndefined::Undefined, false) => None,
                (MaybeUndefined::Value(OrNull(Some(m))), false) => Some(Some(m.into())),
            },
        };
        Ok(PhoneFound::Found(Json(
            admin.update_phone(PhoneId(id.0), patch).await?.into(),
        )))
    }

    /// Delete an extra number
    #[oai(path = "/phones/:id", method = "delete", operation_id = "delete_phone")]
    async fn delete_phone(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        admin: Data<&Admin<AP>>,
    ) -> Result<DeletedOk, PhoneMissing> {
        admin.delete_phone(PhoneId(id.0)).await?;
        Ok(DeletedOk::Deleted)
    }
}

impl poem_openapi::types::Example for UpdatePhoneRequest {
    fn example() -> Self {
        UpdatePhoneRequest {
            is_primary: Some(true),
            is_verified: None,
            verification_method: MaybeUndefined::Undefined,
            clear: vec![ClearablePhoneField::VerificationMethod],
        }
    }
}

impl poem_openapi::types::Example for AddPhoneRequest {
    fn example() -> Self {
        AddPhoneRequest {
            phone_number: "+1 201 555 0177".into(),
            is_primary: Some(false),
            is_verified: Some(true),
            verification_method: OrNull(Some(VerificationMethodDto::Manual)),
        }
    }
}
