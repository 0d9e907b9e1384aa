//! What each admin operation can fail with: one response type per operation,
//! or per few operations that truly share their failures, holding exactly
//! the statuses they can answer. The spec is drawn from these types, and
//! each conversion below is exhaustive, so a new failure in the domain does
//! not compile until an operation says what it answers.
//!
//! Statuses answered before a handler runs are listed too: 400 (poem cannot
//! parse a path, query or body into its declared type), 401 (the security
//! scheme), 413 and 415 (the body). 503 is a store failure; its cause is
//! logged and not answered.
//!
//! Over 300 lines on purpose: one response type per operation is the point, and
//! they read best side by side, as a table of what each operation answers.

use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

use super::PageError;
use crate::adapters::http::errors::ErrorBody;
use crate::domain::admin::{
    ConfirmError, Invalid, NotConfigured, PutSettingError, ReportError, SendMessageError, StartVerificationError,
    UpdateUserError,
};
use crate::ports::{ChangeError, CreateError, Missing, StoreError};

/// The body of a 503 for a failed store: the cause goes to the log only.
fn unavailable(err: &StoreError) -> Json<ErrorBody> {
    tracing::error!(error = %err, "admin operation failed");
    ErrorBody::json("service_unavailable", "the store is unavailable")
}

fn not_configured(err: NotConfigured) -> Json<ErrorBody> {
    ErrorBody::json("service_unavailable", err.to_string())
}

fn unprocessable(err: &Invalid) -> Json<ErrorBody> {
    ErrorBody::json("unprocessable_entity", err.to_string())
}

fn not_found(what: &str) -> Json<ErrorBody> {
    ErrorBody::json("not_found", format!("{what} not found"))
}

fn conflict(why: impl std::fmt::Display) -> Json<ErrorBody> {
    ErrorBody::json("conflict", why.to_string())
}

/// `From<StoreError>` (503) for each type named.
macro_rules! store_fails_as_503 {
    ($($failure:ty),* $(,)?) => {$(
        impl From<StoreError> for $failure {
            fn from(err: StoreError) -> Self {
                Self::Unavailable(unavailable(&err))
            }
        }
    )*};
}

/// `From<Invalid>` (422) for each type named: a value parsed at the edge
/// breaks a rule.
macro_rules! invalid_is_422 {
    ($($failure:ty),* $(,)?) => {$(
        impl From<Invalid> for $failure {
            fn from(err: Invalid) -> Self {
                Self::Unprocessable(unprocessable(&err))
            }
        }
    )*};
}

/// `From<PageError>` for each paged list: a cursor this server did not give
/// is 400, a limit outside 1–500 is 422.
macro_rules! page_error_is_400_or_422 {
    ($($failure:ty),* $(,)?) => {$(
        impl From<PageError> for $failure {
            fn from(err: PageError) -> Self {
                match err {
                    PageError::Cursor => Self::BadRequest(err.body()),
                    PageError::Limit => Self::Unprocessable(err.body()),
                }
            }
        }
    )*};
}

/// The failures of `get_user` and `delete_user`.
#[derive(ApiResponse)]
pub enum UserMissing {
    /// The id is not an integer.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such user.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `delete_phone`.
#[derive(ApiResponse)]
pub enum PhoneMissing {
    /// The id is not an integer.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such number.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `clear_opt_out`.
#[derive(ApiResponse)]
pub enum OptOutMissing {
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The number has not opted out.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The number is impossible.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl From<Missing> for OptOutMissing {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => OptOutMissing::NotFound(ErrorBody::json("not_found", "the number has not opted out")),
            Missing::Store(e) => e.into(),
        }
    }
}

/// The failures of a list read with filters or a query: `list_users`,
/// `lookup_number`, `list_opt_outs`, `list_usage_logs`, `get_usage_summary`.
#[derive(ApiResponse)]
pub enum QueryFailed {
    /// A parameter cannot be parsed into its type, or the cursor is not one
    /// this server gave.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A value breaks a rule: an impossible number, an invalid e-mail, a
    /// limit outside 1–500, `until` before `since`.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `list_user_phones`.
#[derive(ApiResponse)]
pub enum PhoneListFailed {
    /// The id is not an integer, or the cursor is not one this server gave.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such user.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// `limit` is outside 1–500.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `create_user`.
#[derive(ApiResponse)]
pub enum CreateUserFailed {
    /// The body cannot be parsed: malformed JSON, a missing field, a value of
    /// the wrong type.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The number or e-mail address belongs to another user.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A value breaks a rule: an impossible number, an invalid e-mail, an
    /// empty name.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `update_user` and `add_user_phone`.
#[derive(ApiResponse)]
pub enum ChangeUserFailed {
    /// The id is not an integer, or the body cannot be parsed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such user.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The number or e-mail address belongs to another user.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A value breaks a rule: an impossible number, an invalid e-mail, a
    /// field both given a value and named in `clear`.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `update_phone`: its number does not change, so nothing
/// can collide.
#[derive(ApiResponse)]
pub enum UpdatePhoneFailed {
    /// The id is not an integer, or the body cannot be parsed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such number.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A field is both given a value and named in `clear`.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `list_configs`: it takes no parameters.
#[derive(ApiResponse)]
pub enum ListConfigsFailed {
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `get_config` and `delete_config`.
#[derive(ApiResponse)]
pub enum ConfigMissing {
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such setting.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `put_config`.
#[derive(ApiResponse)]
pub enum PutConfigFailed {
    /// The body cannot be parsed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such setting.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The value breaks the setting's rule, or the description is too long.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `send_user_message`.
#[derive(ApiResponse)]
pub enum SendMessageFailed {
    /// The id is not an integer, or the body cannot be parsed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such user.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The user is not active, has no number, or opted out.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The text is empty or longer than 1600 characters.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Sending is not configured, or the store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `start_phone_verification`: it takes no body.
#[derive(ApiResponse)]
pub enum StartVerificationFailed {
    /// The id is not an integer.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such number.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The number opted out.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Sending is not configured, or the store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// The failures of `confirm_phone_verification`.
#[derive(ApiResponse)]
pub enum ConfirmFailed {
    /// The id is not an integer, or the body cannot be parsed.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No or wrong admin token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such number.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The body is over its size limit (256 KiB).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The code is malformed, wrong, expired, or was never sent.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many wrong codes: start a new verification.
    #[oai(status = 429)]
    TooManyAttempts(Json<ErrorBody>),
    /// The store is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

store_fails_as_503!(
    OptOutMissing,
    UserMissing,
    PhoneMissing,
    QueryFailed,
    PhoneListFailed,
    CreateUserFailed,
    ChangeUserFailed,
    UpdatePhoneFailed,
    ListConfigsFailed,
    ConfigMissing,
    PutConfigFailed,
    SendMessageFailed,
    StartVerificationFailed,
    ConfirmFailed,
);
invalid_is_422!(
    OptOutMissing,
    QueryFailed,
    CreateUserFailed,
    ChangeUserFailed,
    UpdatePhoneFailed
);
page_error_is_400_or_422!(QueryFailed, PhoneListFailed);

impl From<Missing> for UserMissing {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => UserMissing::NotFound(not_found("user")),
            Missing::Store(e) => e.into(),
        }
    }
}

impl From<Missing> for PhoneMissing {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => PhoneMissing::NotFound(not_found("phone")),
            Missing::Store(e) => e.into(),
        }
    }
}

impl From<Missing> for PhoneListFailed {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => PhoneListFailed::NotFound(not_found("user")),
            Missing::Store(e) => e.into(),
        }
    }
}

impl From<CreateError> for CreateUserFailed {
    fn from(err: CreateError) -> Self {
        match err {
            CreateError::Taken(taken) => CreateUserFailed::Conflict(conflict(taken)),
            CreateError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateUserError> for ChangeUserFailed {
    fn from(err: UpdateUserError) -> Self {
        match err {
            UpdateUserError::Invalid(invalid) => invalid.into(),
            UpdateUserError::Change(e) => e.into(),
        }
    }
}

impl From<ChangeError> for ChangeUserFailed {
    fn from(err: ChangeError) -> Self {
        match err {
            ChangeError::NotFound => ChangeUserFailed::NotFound(not_found("user")),
            ChangeError::Taken(taken) => ChangeUserFailed::Conflict(conflict(taken)),
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<Missing> for UpdatePhoneFailed {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => UpdatePhoneFailed::NotFound(not_found("phone")),
            Missing::Store(e) => e.into(),
        }
    }
}

impl From<ReportError> for QueryFailed {
    fn from(err: ReportError) -> Self {
        match err {
            ReportError::Invalid(e) => e.into(),
            ReportError::Store(e) => e.into(),
        }
    }
}

impl From<Missing> for ConfigMissing {
    fn from(err: Missing) -> Self {
        match err {
            Missing::NotFound => ConfigMissing::NotFound(not_found("setting")),
            Missing::Store(e) => e.into(),
        }
    }
}

impl From<PutSettingError> for PutConfigFailed {
    fn from(err: PutSettingError) -> Self {
        match err {
            PutSettingError::UnknownKey => PutConfigFailed::NotFound(not_found("setting")),
            PutSettingError::Invalid(e) => PutConfigFailed::Unprocessable(unprocessable(&e)),
            PutSettingError::Store(e) => e.into(),
        }
    }
}

impl From<SendMessageError> for SendMessageFailed {
    fn from(err: SendMessageError) -> Self {
        match err {
            SendMessageError::NotConfigured(e) => SendMessageFailed::Unavailable(not_configured(e)),
            SendMessageError::Invalid(e) => SendMessageFailed::Unprocessable(unprocessable(&e)),
            SendMessageError::NotFound => SendMessageFailed::NotFound(not_found("user")),
            SendMessageError::Refused(why) => SendMessageFailed::Conflict(conflict(why)),
            SendMessageError::Store(e) => e.into(),
        }
    }
}

impl From<StartVerificationError> for StartVerificationFailed {
    fn from(err: StartVerificationError) -> Self {
        match err {
            StartVerificationError::NotConfigured(e) => StartVerificationFailed::Unavailable(not_configured(e)),
            StartVerificationError::NotFound => StartVerificationFailed::NotFound(not_found("phone")),
            StartVerificationError::Refused(why) => StartVerificationFailed::Conflict(conflict(why)),
            StartVerificationError::Store(e) => e.into(),
        }
    }
}

impl From<ConfirmError> for ConfirmFailed {
    fn from(err: ConfirmError) -> Self {
        match err {
            ConfirmError::Invalid(e) => ConfirmFailed::Unprocessable(unprocessable(&e)),
            ConfirmError::NotFound => ConfirmFailed::NotFound(not_found("phone")),
            ConfirmError::TooManyAttempts => {
                ConfirmFailed::TooManyAttempts(ErrorBody::json("too_many_requests", err.to_string()))
            }
            ConfirmError::Store(e) => e.into(),
        }
    }
}
