//! Usage reports from SQLite: filtered rows by keyset, and summaries whose
//! percentiles SQLite ranks with window functions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;

use super::SqliteStore;
use crate::domain::report::{GroupBy, SummaryQuery, UsageFilter, UsageLogEntry, UsageStats, UsageSummary};
use crate::ports::{Page, PageRequest, StoreError, UsageReports};

/// The text form `created_at` is stored in, so that text order is time order.
fn stamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A WHERE clause and its parameters, built from the set filters.
#[derive(Default)]
struct Conditions {
    sql: Vec<&'static str>,
    params: Vec<Value>,
}

impl Conditions {
    fn add(&mut self, sql: &'static str, value: impl Into<Value>) {
        self.sql.push(sql);
        self.params.push(value.into());
    }

    fn time_range(&mut self, since: Option<&DateTime<Utc>>, until: Option<&DateTime<Utc>>) {
        if let Some(since) = since {
            self.add("created_at >= ?", stamp(since));
        }
        if let Some(until) = until {
            self.add("created_at < ?", stamp(until));
        }
    }

    fn clause(&self) -> String {
        if self.sql.is_empty() {
            "1".to_owned()
        } else {
            self.sql.join(" AND ")
        }
    }
}

const LOG_COLUMNS: &str = "id, user_id, phone_number, direction, outcome, message_sid, message_length, segments,
    processing_time_ms, success, error_message, metadata, created_at, delivery_status, error_code";

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UsageLogEntry> {
    Ok(UsageLogEntry {
        id: row.get(0)?,
        user_id: row.get(1)?,
        phone_number: row.get(2)?,
        direction: row.get(3)?,
        outcome: row.get(4)?,
        message_sid: row.get(5)?,
        message_length: row.get(6)?,
        segments: row.get(7)?,
        processing_time_ms: row.get(8)?,
        success: row.get(9)?,
        error_message: row.get(10)?,
        metadata: row.get(11)?,
        created_at: row.get(12)?,
        delivery_status: row.get(13)?,
        error_code: row.get(14)?,
    })
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Counts and percentiles of the rows matching `conditions`, keyed by
/// `group_key` (an SQL expression; `''` for the totals).
fn stats(
    conn: &rusqlite::Connection,
    group_key: &str,
    conditions: &Conditions,
) -> rusqlite::Result<BTreeMap<String, UsageStats>> {
    let clause = conditions.clause();
    let params = rusqlite::params_from_iter(conditions.params.iter());
    let mut groups: BTreeMap<String, UsageStats> = BTreeMap::new();
    let mut successes: BTreeMap<String, u64> = BTreeMap::new();
    let mut counts = conn.prepare(&format!(
        "SELECT {group_key} AS k, direction, outcome, count(*), sum(success), sum(segments)
         FROM sms_usage_logs WHERE {clause} GROUP BY k, direction, outcome"
    ))?;
    let mut rows = counts.query(params)?;
    while let Some(row) = rows.next()? {
        let (key, direction, outcome): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let (count, success, segments) = (to_u64(row.get(3)?), to_u64(row.get(4)?), to_u64(row.get(5)?));
        let group = groups.entry(key.clone()).or_default();
        if direction == "inbound" {
            group.inbound += count;
            group.segments_inbound += segments;
            *group.by_outcome.entry(outcome).or_default() += count;
            *successes.entry(key).or_default() += success;
        } else {
            group.outbound += count;
            group.segments_outbound += segments;
        }
    }
    for (key, group) in &mut groups {
        if group.inbound > 0 {
            group.success_rate = Some(successes.get(key).copied().unwrap_or(0) as f64 / group.inbound as f64);
        }
    }
    // Nearest rank: the value at rank ⌈n × p / 100⌉ (see domain::report::nearest_rank).
    let mut ranked = conn.prepare(&format!(
        "SELECT k, ms, rn, n FROM (
             SELECT {group_key} AS k, processing_time_ms AS ms,
                    row_number() OVER (PARTITION BY {group_key} ORDER BY processing_time_ms) AS rn,
                    count(*) OVER (PARTITION BY {group_key}) AS n
             FROM sms_usage_logs
             WHERE {clause} AND direction = 'inbound' AND processing_time_ms IS NOT NULL)
         WHERE rn = max(1, (n * 50 + 99) / 100) OR rn = max(1, (n * 95 + 99) / 100)"
    ))?;
    let mut rows = ranked.query(rusqlite::params_from_iter(conditions.params.iter()))?;
    while let Some(row) = rows.next()? {
        let (key, ms, rank, n): (String, i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let group = groups.entry(key).or_default();
        if rank == (n * 50 + 99) / 100 {
            group.processing_ms_p50 = Some(ms);
        }
        if rank == (n * 95 + 99) / 100 {
            group.processing_ms_p95 = Some(ms);
        }
    }
    Ok(groups)
}

impl UsageReports for SqliteStore {
    async fn list_usage_logs(&self, filter: UsageFilter, page: PageRequest) -> Result<Page<UsageLogEntry>, StoreError> {
        let rows = self
            .run(move |conn| {
                let mut c = Conditions::default();
                if let Some(after) = page.after {
                    c.add("id < ?", after);
                }
                if let Some(user) = filter.user_id {
                    c.add("user_id = ?", user.0);
                }
                if let Some(number) = &filter.phone_number {
                    c.add("phone_number = ?", number.to_string());
                }
                if let Some(direction) = filter.direction {
                    c.add("direction = ?", direction.name().to_owned());
                }
                if let Some(outcome) = filter.outcome {
                    c.add("outcome = ?", outcome.name().to_owned());
                }
                if let Some(success) = filter.success {
                    c.add("success = ?", i64::from(success));
                }
                c.time_range(filter.since.as_ref(), filter.until.as_ref());
                c.params.push(Value::Integer(i64::from(page.limit) + 1));
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {LOG_COLUMNS} FROM sms_usage_logs WHERE {} ORDER BY id DESC LIMIT ?",
                    c.clause()
                ))?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(c.params.iter()), entry_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(Page::from_rows(rows, page.limit, |e| e.id))
    }

    async fn summarize(&self, query: SummaryQuery) -> Result<UsageSummary, StoreError> {
        self.run(move |conn| {
            let mut c = Conditions::default();
            if let Some(user) = query.user_id {
                c.add("user_id = ?", user.0);
            }
            c.time_range(query.since.as_ref(), query.until.as_ref());
            let totals = stats(conn, "''", &c)?.remove("").unwrap_or_default();
            let groups = match query.group_by {
                None => Vec::new(),
                Some(GroupBy::Day) => stats(conn, "substr(created_at, 1, 10)", &c)?.into_iter().collect(),
                Some(GroupBy::User) => {
                    let mut groups: Vec<_> = stats(conn, "coalesce(CAST(user_id AS TEXT), 'none')", &c)?
                        .into_iter()
                        .collect();
                    // By user id as a number; unowned rows last.
                    groups.sort_by_key(|(key, _)| key.parse::<i64>().unwrap_or(i64::MAX));
                    groups
                }
            };
            Ok(UsageSummary { totals, groups })
        })
        .await
    }
}
