//! Usage reports: the log rows and their summary, in the domain's words.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::phone::PhoneNumber;
use super::usage::Outcome;
use super::user::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Which log rows to show; every set field must match. `since` is
/// inclusive, `until` exclusive.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub user_id: Option<UserId>,
    pub phone_number: Option<PhoneNumber>,
    pub direction: Option<Direction>,
    pub outcome: Option<Outcome>,
    pub success: Option<bool>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One row of the usage log.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageLogEntry {
    pub id: i64,
    pub user_id: Option<i64>,
    pub phone_number: Option<String>,
    pub direction: String,
    pub outcome: String,
    pub message_sid: Option<String>,
    pub message_length: i64,
    pub segments: i64,
    pub processing_time_ms: Option<i64>,
    pub success: bool,
    pub error_message: Option<String>,
    /// JSON text.
    pub metadata: Option<String>,
    pub created_at: String,
    pub delivery_status: Option<String>,
    pub error_code: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    User,
}

#[derive(Debug, Clone, Default)]
pub struct SummaryQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub user_id: Option<UserId>,
    pub group_by: Option<GroupBy>,
}

/// Counts over a set of rows. `by_outcome`, `success_rate` and the
/// percentiles (nearest rank) count inbound rows only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageStats {
    pub inbound: u64,
    pub outbound: u64,
    pub by_outcome: BTreeMap<String, u64>,
    /// A fraction 0–1; `None` without inbound rows.
    pub success_rate: Option<f64>,
    pub processing_ms_p50: Option<i64>,
    pub processing_ms_p95: Option<i64>,
    pub segments_inbound: u64,
    pub segments_outbound: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageSummary {
    pub totals: UsageStats,
    /// By day (`YYYY-MM-DD`, UTC) or by user id (`none` for unowned rows),
    /// in key order; empty without grouping.
    pub groups: Vec<(String, UsageStats)>,
}

/// The 1-based rank of the `percent` percentile among `count` sorted values
/// by the nearest-rank method: ⌈count × percent / 100⌉.
pub fn nearest_rank(count: u64, percent: u64) -> u64 {
    (count * percent).div_ceil(100).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_ranks() {
        assert_eq!(nearest_rank(1, 50), 1);
        assert_eq!(nearest_rank(1, 95), 1);
        assert_eq!(nearest_rank(10, 50), 5);
        assert_eq!(nearest_rank(10, 95), 10);
        assert_eq!(nearest_rank(20, 95), 19);
        assert_eq!(nearest_rank(3, 50), 2);
    }
}
