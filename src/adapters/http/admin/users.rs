//! `/sms-router/admin/users`: create, list, get, update, delete.
//!
//! Over 300 lines: most of it is the DTOs whose field docs are the spec's, and
//! the conversions of a patch's set, clear and leave-alone for every field.

use std::marker::PhantomData;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::failures::{ChangeUserFailed, CreateUserFailed, QueryFailed, UserMissing};
use super::{AdminAuth, DeletedOk, page_parts, page_request};
use crate::adapters::http::ApiTags;
use crate::adapters::http::text::{Text, field};
use crate::domain::admin::{Admin, Invalid};
use crate::domain::phone::{PhoneNumber, Region};
use crate::domain::user::{
    AgentEndpoint, AgentToken, AgentUrl, EmailAddress, FullName, NewUser, User, UserFilter, UserId, UserPatch,
};
use crate::ports::AdminStore;

/// A user of the service.
#[derive(Object)]
#[oai(example)]
pub struct UserDto {
    /// The user's id.
    pub id: i64,
    /// 1 to 200 characters.
    pub full_name: String,
    /// Unique among users; null when none is set.
    #[oai(nullable)]
    pub email: Option<String>,
    /// The primary number, in E.164; null when none is set.
    #[oai(nullable)]
    pub phone_number: Option<String>,
    /// Whether the user's messages reach their agent.
    pub is_active: bool,
    /// The user's own agent, without credentials or query; null: the
    /// service's agent (`SMS_ROUTER_AGENT_URL`).
    #[oai(nullable)]
    pub agent_url: Option<String>,
    /// Whether a token is set for the user's own agent (it is never shown).
    pub has_agent_token: bool,
    /// When the user was created, RFC 3339 in UTC.
    pub created_at: String,
    /// When the user last changed, RFC 3339 in UTC.
    pub updated_at: String,
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        UserDto {
            id: user.id.0,
            full_name: user.full_name,
            email: user.email,
            phone_number: user.phone_number.map(|n| n.to_string()),
            is_active: user.is_active,
            agent_url: user.agent_url.as_ref().map(AgentUrl::shown),
            has_agent_token: user.has_agent_token,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// A user to create.
#[derive(Object)]
#[oai(example)]
pub struct CreateUserRequest {
    /// 1 to 200 characters.
    pub full_name: Text<field::FullName>,
    /// Unique among users.
    #[oai(nullable)]
    pub email: Option<Text<field::Email>>,
    /// Any common format; stored in E.164. Unique across users' primary and
    /// extra numbers.
    #[oai(nullable)]
    pub phone_number: Option<Text<field::PhoneNumber>>,
    /// Default true.
    #[oai(nullable)]
    pub is_active: Option<bool>,
    /// The user's own agent (an http(s) URL); left out or null: the
    /// service's agent.
    #[oai(nullable)]
    pub agent_url: Option<Text<field::AgentUrl>>,
    /// The token sent to the user's own agent as `Authorization: Bearer`;
    /// write-only: never shown. Needs `agent_url`.
    #[oai(nullable, write_only)]
    pub agent_token: Option<Text<field::AgentToken>>,
}

/// A field of a user that `clear` empties.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub enum ClearableUserField {
    Email,
    PhoneNumber,
    /// The user's own agent, and its token: the service's agent answers.
    AgentUrl,
    AgentToken,
}

/// Fields left out stay as they are; `null`, an empty string, or naming the
/// field in `clear` empties `email` or `phone_number`.
#[derive(Object)]
#[oai(example)]
pub struct UpdateUserRequest {
    /// 1 to 200 characters.
    #[oai(nullable)]
    pub full_name: Option<Text<field::FullName>>,
    /// Unique among users; null or empty empties it.
    #[oai(nullable)]
    pub email: MaybeUndefined<Text<field::Email>>,
    /// Any common format; stored in E.164; null or empty empties it.
    #[oai(nullable)]
    pub phone_number: MaybeUndefined<Text<field::PhoneNumber>>,
    /// Whether the user's messages reach their agent.
    #[oai(nullable)]
    pub is_active: Option<bool>,
    /// The user's own agent (an http(s) URL); null or empty removes it and
    /// its token.
    #[oai(nullable)]
    pub agent_url: MaybeUndefined<Text<field::AgentUrl>>,
    /// The token sent to the user's own agent; write-only; null or empty
    /// removes it.
    #[oai(nullable, write_only)]
    pub agent_token: MaybeUndefined<Text<field::AgentToken>>,
    /// Fields to empty, for clients that cannot send `null`. A field both
    /// given a value and named here is 422.
    #[oai(default)]
    pub clear: Vec<ClearableUserField>,
}

/// A page of users.
#[derive(Object)]
pub struct UserPage {
    /// The users, by ascending id.
    pub items: Vec<UserDto>,
    /// Pass as `after` for the next page; null on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum UserFound {
    /// The user.
    #[oai(status = 200)]
    Found(Json<UserDto>),
}

#[derive(ApiResponse)]
pub enum UserCreated {
    /// The user, created.
    #[oai(status = 201)]
    Created(Json<UserDto>),
}

#[derive(ApiResponse)]
pub enum UserPageOk {
    /// A page of users by ascending id.
    #[oai(status = 200)]
    Page(Json<UserPage>),
}

pub(super) fn parse_number(field: &'static str, text: &str, region: Region) -> Result<PhoneNumber, Invalid> {
    PhoneNumber::parse(text, region).map_err(|e| Invalid::new(field, e))
}

fn parse_email(text: &str) -> Result<EmailAddress, Invalid> {
    EmailAddress::parse(text).map_err(|e| Invalid::new("email", e))
}

fn parse_name(text: &str) -> Result<FullName, Invalid> {
    FullName::parse(text).map_err(|e| Invalid::new("full_name", e))
}

pub struct UsersApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for UsersApi<AP> {
    fn default() -> Self {
        UsersApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> UsersApi<AP> {
    /// Create a user
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create_user(
        &self,
        _auth: AdminAuth,
        body: Json<CreateUserRequest>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<UserCreated, CreateUserFailed> {
        let user = NewUser {
            full_name: parse_name(&body.full_name)?,
            email: body.email.as_deref().map(parse_email).transpose()?,
            phone_number: body
                .phone_number
                .as_deref()
                .map(|n| parse_number("phone_number", n, **region))
                .transpose()?,
            is_active: body.is_active.unwrap_or(true),
            agent: match (&body.agent_url, &body.agent_token) {
                (Some(url), token) => Some(AgentEndpoint {
                    url: AgentUrl::parse(url).map_err(|e| Invalid::new("agent_url", e))?,
                    token: token
                        .as_deref()
                        .map(AgentToken::parse)
                        .transpose()
                        .map_err(|e| Invalid::new("agent_token", e))?,
                }),
                (None, Some(_)) => return Err(Invalid::new("agent_token", "needs an `agent_url`").into()),
                (None, None) => None,
            },
        };
        Ok(UserCreated::Created(Json(admin.create_user(user).await?.into())))
    }

    /// List users
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    #[allow(clippy::too_many_arguments)]
    async fn list_users(
        &self,
        _auth: AdminAuth,
        /// Users whose primary or extra number this is (any common format).
        phone_number: Query<Option<String>>,
        /// Users whose name holds this, A–Z in any case (1 to 200 characters).
        name: Query<Option<String>>,
        email: Query<Option<String>>,
        is_active: Query<Option<bool>>,
        /// 1 to 500, default 50.
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        after: Query<Option<String>>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<UserPageOk, QueryFailed> {
        let page = page_request(limit.0, after.0.as_deref())?;
        let filter = UserFilter {
            phone_number: phone_number
                .0
                .as_deref()
                .map(|n| parse_number("phone_number", n, **region))
                .transpose()?,
            name: name
                .0
                .as_deref()
                .map(|n| FullName::parse(n).map_err(|e| Invalid::new("name", e)))
                .transpose()?,
            email: email.0.as_deref().map(parse_email).transpose()?,
            is_active: is_active.0,
        };
        let (items, next_cursor) = page_parts(admin.list_users(filter, page).await?, UserDto::from);
        Ok(UserPageOk::Page(Json(UserPage { items, next_cursor })))
    }

    /// Get a user
    #[oai(path = "/users/:id", method = "get", operation_id = "get_user")]
    async fn get_user(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        admin: Data<&Admin<AP>>,
    ) -> Result<UserFound, UserMissing> {
        Ok(UserFound::Found(Json(admin.get_user(UserId(id.0)).await?.into())))
    }

    /// Update a user (partial)
    #[oai(path = "/users/:id", method = "patch", operation_id = "update_user")]
    async fn update_user(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        body: Json<UpdateUserRequest>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<UserFound, ChangeUserFailed> {
        let patch = UserPatch {
            full_name: body.full_name.as_deref().map(parse_name).transpose()?,
            email: cleared(&body.email, body.clear.contains(&ClearableUserField::Email), "email")?
                .map(|e| e.map(parse_email).transpose())
                .transpose()?,
            phone_number: cleared(
                &body.phone_number,
                body.clear.contains(&ClearableUserField::PhoneNumber),
                "phone_number",
            )?
            .map(|n| n.map(|n| parse_number("phone_number", n, **region)).transpose())
            .transpose()?,
            is_active: body.is_active,
            agent_url: cleared(
                &body.agent_url,
                body.clear.contains(&ClearableUserField::AgentUrl),
                "agent_url",
            )?
            .map(|u| {
                u.map(|u| AgentUrl::parse(u).map_err(|e| Invalid::new("agent_url", e)))
                    .transpose()
            })
            .transpose()?,
            agent_token: cleared(
                &body.agent_token,
                body.clear.contains(&ClearableUserField::AgentToken),
                "agent_token",
            )?
            .map(|t| {
                t.map(|t| AgentToken::parse(t).map_err(|e| Invalid::new("agent_token", e)))
                    .transpose()
            })
            .transpose()?,
        };
        // A token goes to the user's own agent: none without one.
        Ok(UserFound::Found(Json(
            admin.update_user(UserId(id.0), patch).await?.into(),
        )))
    }

    /// Delete a user and its extra numbers; its log rows stay, unowned
    #[oai(path = "/users/:id", method = "delete", operation_id = "delete_user")]
    async fn delete_user(
        &self,
        _auth: AdminAuth,
        id: Path<i64>,
        admin: Data<&Admin<AP>>,
    ) -> Result<DeletedOk, UserMissing> {
        admin.delete_user(UserId(id.0)).await?;
        Ok(DeletedOk::Deleted)
    }
}

/// Absent: `None`; `null` or empty: `Some(None)`; a value: `Some(Some(value))`.
/// Empty clears too because many generated clients cannot send `null`.
fn optional<F>(value: &MaybeUndefined<Text<F>>) -> Option<Option<&str>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) if v.trim().is_empty() => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// `optional`, with the field named in `clear` or not: naming it empties
/// it, unless it was given a value too.
fn cleared<'a, F>(
    value: &'a MaybeUndefined<Text<F>>,
    named: bool,
    field: &'static str,
) -> Result<Option<Option<&'a str>>, Invalid> {
    match (optional(value), named) {
        (Some(Some(_)), true) => Err(Invalid::new(field, "is both given a value and named in `clear`")),
        (_, true) => Ok(Some(None)),
        (patch, false) => Ok(patch),
    }
}

impl poem_openapi::types::Example for UpdateUserRequest {
    fn example() -> Self {
        UpdateUserRequest {
            full_name: None,
            email: MaybeUndefined::Undefined,
            phone_number: MaybeUndefined::Value("(201) 555-0142".into()),
            is_active: Some(true),
            agent_url: MaybeUndefined::Value("https://agents.example.com/ada".into()),
            agent_token: MaybeUndefined::Undefined,
            clear: vec![ClearableUserField::Email],
        }
    }
}

impl poem_openapi::types::Example for CreateUserRequest {
    fn example() -> Self {
        CreateUserRequest {
            full_name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            phone_number: Some("(201) 555-0123".into()),
            is_active: Some(true),
            agent_url: None,
            agent_token: None,
        }
    }
}

impl poem_openapi::types::Example for UserDto {
    fn example() -> Self {
        UserDto {
            id: 7,
            full_name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            phone_number: Some("+12015550123".into()),
            is_active: true,
            agent_url: Some("https://agents.example.com/ada".into()),
            has_agent_token: true,
            created_at: "2026-11-24T15:44:25.414Z".into(),
            updated_at: "2026-11-24T15:44:25.414Z".into(),
        }
    }
}
