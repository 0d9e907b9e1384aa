//! `/lookup` (where a number routes) and `/opt-outs`.

use std::marker::PhantomData;

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::failures::{OptOutMissing, QueryFailed};
use super::users::{UserDto, parse_number};
use super::{AdminAuth, page_parts, page_request};
use crate::adapters::http::ApiTags;
use crate::adapters::http::or_null::OrNull;
use crate::domain::admin::Admin;
use crate::domain::phone::Region;
use crate::domain::usage::Outcome;
use crate::domain::user::NumberSource;
use crate::ports::AdminStore;
use crate::ports::OptOut;

/// Where a number was found: a user's primary number or an extra one.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum NumberSourceDto {
    /// `users.phone_number`
    Primary,
    /// an extra number
    Mapping,
}

/// The outcome the next ordinary message from the number would get.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "snake_case")]
pub enum LookupReason {
    Routed,
    UnknownUser,
    InactiveUser,
    OptedOut,
    RateLimited,
}

/// What the next ordinary message from a number would meet.
#[derive(Object)]
pub struct LookupResult {
    /// The number in E.164.
    pub phone_number: String,
    /// The user who owns it; null when nobody does.
    pub user: OrNull<UserDto>,
    /// Where the number was found; null when nobody owns it.
    pub source: OrNull<NumberSourceDto>,
    /// Whether the next ordinary message would reach the user's agent.
    pub would_route: bool,
    pub reason: LookupReason,
}

/// A number that opted out: nothing is sent to it until it texts START.
#[derive(Object)]
pub struct OptOutDto {
    /// E.164.
    pub phone_number: String,
    /// When it opted out, RFC 3339 in UTC.
    pub opted_out_at: String,
}

/// A page of opted-out numbers.
#[derive(Object)]
pub struct OptOutPage {
    /// The numbers, oldest opt-out first.
    pub items: Vec<OptOutDto>,
    /// Pass as `after` for the next page; null on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum LookupOk {
    /// Where the number routes.
    #[oai(status = 200)]
    Found(Json<LookupResult>),
}

#[derive(ApiResponse)]
pub enum OptOutCleared {
    /// The opt-out is cleared: the number is served, and can be texted, again.
    #[oai(status = 204)]
    Cleared,
}

#[derive(ApiResponse)]
pub enum OptOutPageOk {
    /// The numbers opted out now, oldest first.
    #[oai(status = 200)]
    Page(Json<OptOutPage>),
}

pub struct LookupApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for LookupApi<AP> {
    fn default() -> Self {
        LookupApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> LookupApi<AP> {
    /// Where a number routes, and whether its next message would reach the agent
    ///
    /// Takes no rate-limit token.
    #[oai(path = "/lookup", method = "get", operation_id = "lookup_number")]
    async fn lookup_number(
        &self,
        _auth: AdminAuth,
        /// Any common format.
        phone_number: Query<String>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<LookupOk, QueryFailed> {
        let number = parse_number("phone_number", &phone_number, **region)?;
        let lookup = admin.lookup(number).await?;
        let would_route = lookup.would_route();
        let reason = match lookup.reason {
            Outcome::OptedOut => LookupReason::OptedOut,
            Outcome::RateLimited => LookupReason::RateLimited,
            Outcome::UnknownUser => LookupReason::UnknownUser,
            Outcome::InactiveUser => LookupReason::InactiveUser,
            _ => LookupReason::Routed,
        };
        let (user, source) = match lookup.owner {
            Some((user, source)) => (
                Some(UserDto::from(user)),
                Some(match source {
                    NumberSource::Primary => NumberSourceDto::Primary,
                    NumberSource::Mapping => NumberSourceDto::Mapping,
                }),
            ),
            None => (None, None),
        };
        Ok(LookupOk::Found(Json(LookupResult {
            phone_number: lookup.phone_number.to_string(),
            user: OrNull(user),
            source: OrNull(source),
            would_route,
            reason,
        })))
    }

    /// List the numbers opted out now
    #[oai(path = "/opt-outs", method = "get", operation_id = "list_opt_outs")]
    async fn list_opt_outs(
        &self,
        _auth: AdminAuth,
        /// 1 to 500, default 50.
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        after: Query<Option<String>>,
        admin: Data<&Admin<AP>>,
    ) -> Result<OptOutPageOk, QueryFailed> {
        let page = page_request(limit.0, after.0.as_deref())?;
        let to_dto = |o: OptOut| OptOutDto {
            phone_number: o.phone_number,
            opted_out_at: o.opted_out_at,
        };
        let (items, next_cursor) = page_parts(admin.list_opt_outs(page).await?, to_dto);
        Ok(OptOutPageOk::Page(Json(OptOutPage { items, next_cursor })))
    }

    /// Clear a number's opt-out, as its texting START would
    ///
    /// For an opt-out made by mistake, once the number's owner has said so:
    /// the number is served, and can be texted, again. Twilio keeps its own
    /// block on a number that texted STOP until it texts START.
    #[oai(path = "/opt-outs/:phone_number", method = "delete", operation_id = "clear_opt_out")]
    async fn clear_opt_out(
        &self,
        _auth: AdminAuth,
        /// The number, E.164 (`+` written `%2B`) or any common format.
        phone_number: Path<String>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<OptOutCleared, OptOutMissing> {
        let number = parse_number("phone_number", &phone_number, **region)?;
        admin.clear_opt_out(&number).await?;
        Ok(OptOutCleared::Cleared)
    }
}
