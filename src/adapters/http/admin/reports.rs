//! `/usage-logs` and `/usage/summary`: what the usage log holds.
//!
//! Over 300 lines: most of it is the report's DTOs, whose field docs are the
//! spec's (`OutcomeCounts` names all 13 outcomes); the two handlers are short.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::failures::QueryFailed;
use super::users::parse_number;
use super::{AdminAuth, page_parts, page_request};
use crate::adapters::http::ApiTags;
use crate::adapters::http::or_null::OrNull;
use crate::domain::admin::Admin;
use crate::domain::delivery::DeliveryStatus;
use crate::domain::phone::Region;
use crate::domain::report::{Direction, GroupBy, SummaryQuery, UsageFilter, UsageLogEntry, UsageStats};
use crate::domain::segments::Encoding;
use crate::domain::usage::Outcome;
use crate::domain::user::UserId;
use crate::ports::AdminStore;

/// Which way a message went: from a user to the service, or to a user.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum DirectionDto {
    Inbound,
    Outbound,
}

/// What became of a message. `processing`: being answered now;
/// `interrupted`: the process stopped before answering it; `proactive`
/// (outbound rows): sent by an administrator or an agent, not in reply;
/// `verified`: the message was the code that verified its number.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "snake_case")]
pub enum OutcomeDto {
    Duplicate,
    OptedOut,
    OptedIn,
    Help,
    RateLimited,
    UnknownUser,
    InactiveUser,
    Routed,
    AgentError,
    Processing,
    Interrupted,
    Proactive,
    Verified,
}

impl From<OutcomeDto> for Outcome {
    fn from(o: OutcomeDto) -> Self {
        match o {
            OutcomeDto::Duplicate => Outcome::Duplicate,
            OutcomeDto::OptedOut => Outcome::OptedOut,
            OutcomeDto::OptedIn => Outcome::OptedIn,
            OutcomeDto::Help => Outcome::Help,
            OutcomeDto::RateLimited => Outcome::RateLimited,
            OutcomeDto::UnknownUser => Outcome::UnknownUser,
            OutcomeDto::InactiveUser => Outcome::InactiveUser,
            OutcomeDto::Routed => Outcome::Routed,
            OutcomeDto::AgentError => Outcome::AgentError,
            OutcomeDto::Processing => Outcome::Processing,
            OutcomeDto::Interrupted => Outcome::Interrupted,
            OutcomeDto::Proactive => Outcome::Proactive,
            OutcomeDto::Verified => Outcome::Verified,
        }
    }
}

impl From<Outcome> for OutcomeDto {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Duplicate => OutcomeDto::Duplicate,
            Outcome::OptedOut => OutcomeDto::OptedOut,
            Outcome::OptedIn => OutcomeDto::OptedIn,
            Outcome::Help => OutcomeDto::Help,
            Outcome::RateLimited => OutcomeDto::RateLimited,
            Outcome::UnknownUser => OutcomeDto::UnknownUser,
            Outcome::InactiveUser => OutcomeDto::InactiveUser,
            Outcome::Routed => OutcomeDto::Routed,
            Outcome::AgentError => OutcomeDto::AgentError,
            Outcome::Processing => OutcomeDto::Processing,
            Outcome::Interrupted => OutcomeDto::Interrupted,
            Outcome::Proactive => OutcomeDto::Proactive,
            Outcome::Verified => OutcomeDto::Verified,
        }
    }
}

impl From<Direction> for DirectionDto {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Inbound => DirectionDto::Inbound,
            Direction::Outbound => DirectionDto::Outbound,
        }
    }
}

/// Twilio's status of an outbound message, from its status callbacks.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatusDto {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    Read,
}

impl From<DeliveryStatus> for DeliveryStatusDto {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Accepted => DeliveryStatusDto::Accepted,
            DeliveryStatus::Scheduled => DeliveryStatusDto::Scheduled,
            DeliveryStatus::Queued => DeliveryStatusDto::Queued,
            DeliveryStatus::Sending => DeliveryStatusDto::Sending,
            DeliveryStatus::Sent => DeliveryStatusDto::Sent,
            DeliveryStatus::Delivered => DeliveryStatusDto::Delivered,
            DeliveryStatus::Undelivered => DeliveryStatusDto::Undelivered,
            DeliveryStatus::Failed => DeliveryStatusDto::Failed,
            DeliveryStatus::Canceled => DeliveryStatusDto::Canceled,
            DeliveryStatus::Read => DeliveryStatusDto::Read,
        }
    }
}

/// How a summary's groups are cut: by day (UTC) or by user.
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum GroupByDto {
    Day,
    User,
}

/// One row of the usage log: never the message text.
#[derive(Object)]
pub struct UsageLogDto {
    /// The row's id; a later row has a larger one.
    pub id: i64,
    /// Null for an unknown sender or a deleted user.
    #[oai(nullable)]
    pub user_id: Option<i64>,
    /// E.164, or the sender as given when it is not a number.
    #[oai(nullable)]
    pub phone_number: Option<String>,
    pub direction: DirectionDto,
    pub outcome: OutcomeDto,
    /// Twilio's id; null for a reply sent as TwiML.
    #[oai(nullable)]
    pub message_sid: Option<String>,
    /// In characters.
    pub message_length: i64,
    /// SMS segments the text takes (GSM-7 or UCS-2).
    pub segments: i64,
    /// Inbound rows: from the webhook's arrival to its answer; null while
    /// being answered and on outbound rows.
    #[oai(nullable)]
    pub processing_time_ms: Option<i64>,
    /// Whether the message was handled, or sent, as intended.
    pub success: bool,
    /// What went wrong, in the service's words (never message text); null
    /// when nothing did.
    #[oai(nullable)]
    pub error_message: Option<String>,
    /// `to`, `num_media`, `request_id`.
    #[oai(nullable)]
    pub metadata: Option<serde_json::Value>,
    /// When the row was written, RFC 3339 in UTC.
    pub created_at: String,
    /// Outbound rows: the delivery status from Twilio's callbacks.
    pub delivery_status: OrNull<DeliveryStatusDto>,
    /// Outbound rows: Twilio's error code.
    #[oai(nullable)]
    pub error_code: Option<i64>,
    /// How the text went on the air; null on rows written before it was
    /// logged.
    pub encoding: OrNull<EncodingDto>,
    /// When `ucs2`: the code point of the first character that forced it
    /// (the character itself is never logged).
    #[oai(nullable)]
    pub ucs2_code_point: Option<i64>,
    /// Inbound rows: of `processing_time_ms`, the router's own time.
    #[oai(nullable)]
    pub router_time_ms: Option<i64>,
    /// Inbound rows: of `processing_time_ms`, the time waiting for the
    /// agent; null when it was not asked.
    #[oai(nullable)]
    pub agent_time_ms: Option<i64>,
}

/// A text's encoding: GSM-7 (153 characters a segment when split) or UCS-2
/// (67).
#[derive(Enum, Clone, Copy)]
#[oai(rename_all = "lowercase")]
pub enum EncodingDto {
    Gsm7,
    Ucs2,
}

impl From<Encoding> for EncodingDto {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Gsm7 => EncodingDto::Gsm7,
            Encoding::Ucs2 => EncodingDto::Ucs2,
        }
    }
}

impl From<UsageLogEntry> for UsageLogDto {
    fn from(e: UsageLogEntry) -> Self {
        UsageLogDto {
            id: e.id,
            user_id: e.user_id,
            phone_number: e.phone_number,
            direction: e.direction.into(),
            outcome: e.outcome.into(),
            message_sid: e.message_sid,
            message_length: e.message_length,
            segments: e.segments,
            processing_time_ms: e.processing_time_ms,
            success: e.success,
            error_message: e.error_message,
            metadata: e.metadata.and_then(|m| serde_json::from_str(&m).ok()),
            created_at: e.created_at,
            delivery_status: OrNull(e.delivery_status.map(Into::into)),
            error_code: e.error_code,
            encoding: OrNull(e.encoding.map(Into::into)),
            ucs2_code_point: e.ucs2_code_point,
            router_time_ms: e.router_time_ms,
            agent_time_ms: e.agent_time_ms,
        }
    }
}

/// A page of usage-log rows.
#[derive(Object)]
pub struct UsageLogPage {
    /// The rows, newest first.
    pub items: Vec<UsageLogDto>,
    /// Pass as `after` for the next (older) page; null on the last.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Inbound rows by outcome: every outcome is listed, 0 when none had it.
#[derive(Object, Default)]
pub struct OutcomeCounts {
    /// A retry of a message already answered.
    pub duplicate: u64,
    /// STOP and its synonyms.
    pub opted_out: u64,
    /// START and its synonyms.
    pub opted_in: u64,
    /// HELP and its synonyms.
    pub help: u64,
    /// Over the sender's rate limit.
    pub rate_limited: u64,
    /// From a number no user has.
    pub unknown_user: u64,
    /// From a user who is not active.
    pub inactive_user: u64,
    /// Answered by the agent.
    pub routed: u64,
    /// The agent failed; the user got `error_reply`.
    pub agent_error: u64,
    /// Being answered now.
    pub processing: u64,
    /// The process stopped before answering it.
    pub interrupted: u64,
    /// Outbound only; 0 here.
    pub proactive: u64,
    /// The code that verified its number.
    pub verified: u64,
}

impl From<&BTreeMap<Outcome, u64>> for OutcomeCounts {
    fn from(counts: &BTreeMap<Outcome, u64>) -> Self {
        let mut all = OutcomeCounts::default();
        for (&outcome, &count) in counts {
            // Exhaustive: a new outcome does not compile until it is listed.
            let slot = match outcome {
                Outcome::Duplicate => &mut all.duplicate,
                Outcome::OptedOut => &mut all.opted_out,
                Outcome::OptedIn => &mut all.opted_in,
                Outcome::Help => &mut all.help,
                Outcome::RateLimited => &mut all.rate_limited,
                Outcome::UnknownUser => &mut all.unknown_user,
                Outcome::InactiveUser => &mut all.inactive_user,
                Outcome::Routed => &mut all.routed,
                Outcome::AgentError => &mut all.agent_error,
                Outcome::Processing => &mut all.processing,
                Outcome::Interrupted => &mut all.interrupted,
                Outcome::Proactive => &mut all.proactive,
                Outcome::Verified => &mut all.verified,
            };
            *slot = count;
        }
        all
    }
}

/// Counts over a set of rows; `by_outcome`, `success_rate` and the
/// percentiles (nearest rank) count inbound rows only.
#[derive(Object)]
pub struct UsageStatsDto {
    /// Inbound rows.
    pub inbound: u64,
    /// Outbound rows.
    pub outbound: u64,
    /// The number of inbound rows of each outcome.
    pub by_outcome: OutcomeCounts,
    /// Successful inbound rows over all inbound rows, 0–1; null without inbound rows.
    #[oai(nullable)]
    pub success_rate: Option<f64>,
    /// The median processing time of inbound rows, in milliseconds; null without any.
    #[oai(nullable)]
    pub processing_ms_p50: Option<i64>,
    /// The 95th percentile of the same; null without any.
    #[oai(nullable)]
    pub processing_ms_p95: Option<i64>,
    /// SMS segments received.
    pub segments_inbound: u64,
    /// SMS segments sent.
    pub segments_outbound: u64,
}

impl From<UsageStats> for UsageStatsDto {
    fn from(s: UsageStats) -> Self {
        UsageStatsDto {
            inbound: s.inbound,
            outbound: s.outbound,
            by_outcome: OutcomeCounts::from(&s.by_outcome),
            success_rate: s.success_rate,
            processing_ms_p50: s.processing_ms_p50,
            processing_ms_p95: s.processing_ms_p95,
            segments_inbound: s.segments_inbound,
            segments_outbound: s.segments_outbound,
        }
    }
}

/// The counts of one day or one user.
#[derive(Object)]
pub struct UsageGroupDto {
    /// The day (`YYYY-MM-DD`, UTC) or the user id (`none`: rows without a user).
    pub key: String,
    #[oai(flatten)]
    pub stats: UsageStatsDto,
}

/// Counts over the usage log.
#[derive(Object)]
pub struct UsageSummaryDto {
    /// The start of the period counted (inclusive), as asked; null for no start.
    #[oai(nullable)]
    pub since: Option<DateTime<Utc>>,
    /// Its end (exclusive), as asked; null for no end.
    #[oai(nullable)]
    pub until: Option<DateTime<Utc>>,
    /// Counts over every row of the period.
    pub totals: UsageStatsDto,
    /// Empty without `group_by`.
    pub groups: Vec<UsageGroupDto>,
}

#[derive(ApiResponse)]
pub enum UsageLogPageOk {
    /// A page of log rows, newest first.
    #[oai(status = 200)]
    Page(Json<UsageLogPage>),
}

#[derive(ApiResponse)]
pub enum UsageSummaryOk {
    /// The summary.
    #[oai(status = 200)]
    Summary(Json<UsageSummaryDto>),
}

pub struct UsageApi<AP>(PhantomData<fn() -> AP>);

impl<AP> Default for UsageApi<AP> {
    fn default() -> Self {
        UsageApi(PhantomData)
    }
}

#[OpenApi(prefix_path = "/sms-router/admin", tag = "ApiTags::Admin")]
impl<AP: AdminStore> UsageApi<AP> {
    /// List usage log rows, newest first
    #[oai(path = "/usage-logs", method = "get", operation_id = "list_usage_logs")]
    #[allow(clippy::too_many_arguments)]
    async fn list_usage_logs(
        &self,
        _auth: AdminAuth,
        user_id: Query<Option<i64>>,
        /// Any common format.
        phone_number: Query<Option<String>>,
        direction: Query<Option<DirectionDto>>,
        outcome: Query<Option<OutcomeDto>>,
        success: Query<Option<bool>>,
        /// Rows at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Rows before this time (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// 1 to 500, default 50.
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        after: Query<Option<String>>,
        admin: Data<&Admin<AP>>,
        region: Data<&Region>,
    ) -> Result<UsageLogPageOk, QueryFailed> {
        let page = page_request(limit.0, after.0.as_deref())?;
        let filter = UsageFilter {
            user_id: user_id.0.map(UserId),
            phone_number: phone_number
                .0
                .as_deref()
                .map(|n| parse_number("phone_number", n, **region))
                .transpose()?,
            direction: direction.0.map(|d| match d {
                DirectionDto::Inbound => Direction::Inbound,
                DirectionDto::Outbound => Direction::Outbound,
            }),
            outcome: outcome.0.map(Into::into),
            success: success.0,
            since: since.0,
            until: until.0,
        };
        let (items, next_cursor) = page_parts(admin.list_usage_logs(filter, page).await?, UsageLogDto::from);
        Ok(UsageLogPageOk::Page(Json(UsageLogPage { items, next_cursor })))
    }

    /// Summarize usage over a time range, optionally by day or by user
    #[oai(path = "/usage/summary", method = "get", operation_id = "get_usage_summary")]
    async fn get_usage_summary(
        &self,
        _auth: AdminAuth,
        /// Rows at or after this time (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Rows before this time (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        user_id: Query<Option<i64>>,
        group_by: Query<Option<GroupByDto>>,
        admin: Data<&Admin<AP>>,
    ) -> Result<UsageSummaryOk, QueryFailed> {
        let query = SummaryQuery {
            since: since.0,
            until: until.0,
            user_id: user_id.0.map(UserId),
            group_by: group_by.0.map(|g| match g {
                GroupByDto::Day => GroupBy::Day,
                GroupByDto::User => GroupBy::User,
            }),
        };
        let summary = admin.usage_summary(query).await?;
        Ok(UsageSummaryOk::Summary(Json(UsageSummaryDto {
            since: since.0,
            until: until.0,
            totals: summary.totals.into(),
            groups: summary
                .groups
                .into_iter()
                .map(|(key, stats)| UsageGroupDto {
                    key,
                    stats: stats.into(),
                })
                .collect(),
        })))
    }
}
