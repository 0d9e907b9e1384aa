//! Usage reports: the log rows and their summary, in the domain's words.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::delivery::DeliveryStatus;
use super::phone::PhoneNumber;
use super::segments::Encoding;
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

    pub fn parse(name: &str) -> Option<Self> {
        [Direction::Inbound, Direction::Outbound]
            .into_iter()
            .find(|d| d.name() == name)
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
    pub direction: Direction,
    pub outcome: Outcome,
    pub message_sid: Option<String>,
    pub message_length: i64,
    pub segments: i64,
    pub processing_time_ms: Option<i64>,
    pub success: bool,
    pub error_message: Option<String>,
    /// JSON text.
    pub metadata: Option<String>,
    pub created_at: String,
    pub delivery_status: Option<DeliveryStatus>,
    pub error_code: Option<i64>,
    /// `None` on rows written before encodings were logged.
    pub encoding: Option<Encoding>,
    /// The code point of the first character that made the text UCS-2.
    pub ucs2_code_point: Option<i64>,
    /// Inbound rows: the router's own time, and the agent's.
    pub router_time_ms: Option<i64>,
    pub agent_time_ms: Option<i64>,
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
    /// Only the outcomes counted at least once.
    pub by_outcome: BTreeMap<Outcome, u64>,
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

/// Counts log rows one at a time into `UsageStats`.
#[derive(Debug, Default)]
pub struct UsageTally {
    stats: UsageStats,
    successes: u64,
    /// Processing times of inbound rows, for the percentiles.
    processing_ms: Vec<i64>,
}

impl UsageTally {
    /// Counts one row: its direction, outcome, success, segments and, for
    /// an inbound row, its processing time when known.
    pub fn add(
        &mut self,
        direction: Direction,
        outcome: Outcome,
        success: bool,
        segments: u64,
        processing_ms: Option<i64>,
    ) {
        match direction {
            Direction::Inbound => {
                self.stats.inbound += 1;
                self.stats.segments_inbound += segments;
                self.successes += u64::from(success);
                *self.stats.by_outcome.entry(outcome).or_insert(0) += 1;
                if let Some(ms) = processing_ms {
                    self.processing_ms.push(ms);
                }
            }
            Direction::Outbound => {
                self.stats.outbound += 1;
                self.stats.segments_outbound += segments;
            }
        }
    }

    pub fn finish(mut self) -> UsageStats {
        let stats = &mut self.stats;
        if stats.inbound > 0 {
            stats.success_rate = Some(self.successes as f64 / stats.inbound as f64);
        }
        stats.processing_ms_p50 = percentile(&mut self.processing_ms, 50);
        stats.processing_ms_p95 = percentile(&mut self.processing_ms, 95);
        self.stats
    }
}

/// The `percent` percentile of `values` by nearest rank (reorders them).
fn percentile(values: &mut [i64], percent: u64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let rank = usize::try_from(nearest_rank(values.len() as u64, percent)).ok()?;
    let (_, value, _) = values.select_nth_unstable(rank - 1);
    Some(*value)
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
    fn a_tally_counts_inbound_and_outbound_apart() {
        let mut tally = UsageTally::default();
        for (ms, outcome, success) in [
            (30, Outcome::Routed, true),
            (10, Outcome::Routed, true),
            (20, Outcome::AgentError, false),
        ] {
            tally.add(Direction::Inbound, outcome, success, 2, Some(ms));
        }
        tally.add(Direction::Inbound, Outcome::Duplicate, false, 1, None);
        tally.add(Direction::Outbound, Outcome::Routed, true, 3, None);

        let stats = tally.finish();
        assert_eq!((stats.inbound, stats.outbound), (4, 1));
        assert_eq!((stats.segments_inbound, stats.segments_outbound), (7, 3));
        assert_eq!(stats.by_outcome[&Outcome::Routed], 2);
        assert_eq!(stats.success_rate, Some(0.5));
        assert_eq!((stats.processing_ms_p50, stats.processing_ms_p95), (Some(20), Some(30)));
        assert_eq!(UsageTally::default().finish(), UsageStats::default());
    }

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
