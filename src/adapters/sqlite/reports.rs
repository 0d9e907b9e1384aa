//! Usage reports from SQLite: filtered rows by keyset, and summaries counted
//! in one pass over the matching rows.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::types::Value;

use super::{SqliteStore, by_number};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::report::{
    Direction, GroupBy, SummaryQuery, UsageFilter, UsageLogEntry, UsageStats, UsageSummary, UsageTally,
};
use crate::domain::segments::Encoding;
use crate::domain::usage::Outcome;
use crate::ports::{Page, PageRequest, StoreError, UsageReports};

/// The text form `created_at` is stored in, so that text order is time order.
pub(super) fn stamp(t: &DateTime<Utc>) -> String {
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

    /// Adds `other`'s conditions to these.
    fn and(&mut self, other: &Conditions) {
        self.sql.extend_from_slice(&other.sql);
        self.params.extend(other.params.iter().cloned());
    }

    fn clause(&self) -> String {
        if self.sql.is_empty() {
            "1".to_owned()
        } else {
            self.sql.join(" AND ")
        }
    }
}

/// The columns `entry_from_row` reads, after the row's id, of the log as `l`.
const LOG_COLUMNS_AFTER_ID: &str = "l.user_id, l.phone_number, l.direction, l.outcome, l.message_sid,
    l.message_length, l.segments, l.processing_time_ms, l.success, l.error_message, l.metadata, l.created_at,
    l.delivery_status, l.error_code, l.encoding, l.ucs2_code_point, l.router_time_ms, l.agent_time_ms";

fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UsageLogEntry> {
    Ok(UsageLogEntry {
        id: row.get(0)?,
        user_id: row.get(1)?,
        phone_number: row.get(2)?,
        direction: parsed(row, 3, Direction::parse)?,
        outcome: parsed(row, 4, Outcome::parse)?,
        message_sid: row.get(5)?,
        message_length: row.get(6)?,
        segments: row.get(7)?,
        processing_time_ms: row.get(8)?,
        success: row.get(9)?,
        error_message: row.get(10)?,
        metadata: row.get(11)?,
        created_at: row.get(12)?,
        delivery_status: row
            .get::<_, Option<String>>(13)?
            .map(|name| DeliveryStatus::parse(&name).ok_or_else(|| unknown_name(13, &name)))
            .transpose()?,
        error_code: row.get(14)?,
        encoding: row
            .get::<_, Option<String>>(15)?
            .map(|name| Encoding::parse(&name).ok_or_else(|| unknown_name(15, &name)))
            .transpose()?,
        ucs2_code_point: row.get(16)?,
        router_time_ms: row.get(17)?,
        agent_time_ms: row.get(18)?,
    })
}

/// A stored name the domain does not know: the row cannot be read.
fn unknown_name(index: usize, name: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("unknown name `{name}`").into(),
    )
}

/// Column `index`, a name, read by `parse`.
fn parsed<T>(row: &rusqlite::Row<'_>, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let name: String = row.get(index)?;
    parse(&name).ok_or_else(|| unknown_name(index, &name))
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Counts and percentiles of the rows matching `conditions`: the totals,
/// and by `group_key` (an SQL expression) when there is one. One pass over
/// the rows, counted as they stream: no sort, whatever the grouping.
fn stats(
    conn: &rusqlite::Connection,
    group_key: Option<&str>,
    conditions: &Conditions,
) -> rusqlite::Result<(UsageStats, BTreeMap<String, UsageStats>)> {
    let mut statement = conn.prepare(&format!(
        "SELECT direction, outcome, success, segments, processing_time_ms, {}
         FROM sms_usage_logs WHERE {}",
        group_key.unwrap_or("NULL"),
        conditions.clause()
    ))?;
    let mut totals = UsageTally::default();
    let mut groups: HashMap<String, UsageTally> = HashMap::new();
    let mut rows = statement.query(rusqlite::params_from_iter(conditions.params.iter()))?;
    while let Some(row) = rows.next()? {
        let direction = match row.get_ref(0)?.as_str()? {
            "inbound" => Direction::Inbound,
            _ => Direction::Outbound,
        };
        let outcome = row.get_ref(1)?.as_str()?;
        let outcome = Outcome::parse(outcome).ok_or_else(|| unknown_name(1, outcome))?;
        let (success, segments, ms): (bool, i64, Option<i64>) = (row.get(2)?, row.get(3)?, row.get(4)?);
        let segments = to_u64(segments);
        totals.add(direction, outcome, success, segments, ms);
        if group_key.is_some() {
            let key = row.get_ref(5)?.as_str()?;
            let group = match groups.get_mut(key) {
                Some(group) => group,
                None => groups.entry(key.to_owned()).or_default(),
            };
            group.add(direction, outcome, success, segments, ms);
        }
    }
    let groups = groups.into_iter().map(|(key, tally)| (key, tally.finish())).collect();
    Ok((totals.finish(), groups))
}

/// One page of the rows matching `filter`, newest first. Filtered by number,
/// the rows with an entry in `sms_usage_by_number` are walked by it, and the
/// rows past its `upto` (none yet) read from the log; the two are merged in
/// id order, so the page ends as soon as it is full either way.
pub(super) fn list(
    conn: &rusqlite::Connection,
    filter: &UsageFilter,
    page: PageRequest,
) -> rusqlite::Result<Vec<UsageLogEntry>> {
    let (sql, params) = list_query(filter, page);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(params.iter()), entry_from_row)?;
    rows.collect()
}

/// `list`'s statement and its parameters.
pub(super) fn list_query(filter: &UsageFilter, page: PageRequest) -> (String, Vec<Value>) {
    // Of the log's row (`l`); unqualified, as the number's entries (`b`)
    // have none of these columns.
    let mut row = Conditions::default();
    if let Some(user) = filter.user_id {
        row.add("user_id = ?", user.0);
    }
    if let Some(direction) = filter.direction {
        row.add("direction = ?", direction.name().to_owned());
    }
    if let Some(outcome) = filter.outcome {
        row.add("outcome = ?", outcome.name().to_owned());
    }
    if let Some(success) = filter.success {
        row.add("success = ?", i64::from(success));
    }
    row.time_range(filter.since.as_ref(), filter.until.as_ref());
    let (sql, mut params) = match &filter.phone_number {
        None => {
            let mut c = Conditions::default();
            if let Some(after) = page.after {
                c.add("l.id < ?", after);
            }
            c.and(&row);
            let sql = format!(
                "SELECT l.id, {LOG_COLUMNS_AFTER_ID} FROM sms_usage_logs l WHERE {} ORDER BY l.id DESC LIMIT ?",
                c.clause()
            );
            (sql, c.params)
        }
        Some(number) => {
            let mut indexed = Conditions::default();
            indexed.add("b.phone_number = ?", number.to_string());
            let mut recent = Conditions::default();
            recent.sql.push(by_number::NO_ENTRY_YET);
            recent.add("l.phone_number = ?", number.to_string());
            if let Some(after) = page.after {
                indexed.add("b.log_id < ?", after);
                recent.add("l.id < ?", after);
            }
            indexed.and(&row);
            recent.and(&row);
            let sql = format!(
                "SELECT b.log_id, {LOG_COLUMNS_AFTER_ID}
                 FROM sms_usage_by_number b JOIN sms_usage_logs l ON l.id = b.log_id WHERE {}
                 UNION ALL
                 SELECT l.id, {LOG_COLUMNS_AFTER_ID} FROM sms_usage_logs l WHERE {}
                 ORDER BY 1 DESC LIMIT ?",
                indexed.clause(),
                recent.clause()
            );
            indexed.params.extend(recent.params);
            (sql, indexed.params)
        }
    };
    params.push(Value::Integer(i64::from(page.limit) + 1));
    (sql, params)
}

impl UsageReports for SqliteStore {
    async fn list_usage_logs(&self, filter: UsageFilter, page: PageRequest) -> Result<Page<UsageLogEntry>, StoreError> {
        let rows = self.run(move |conn| Ok(list(conn, &filter, page)?)).await?;
        Ok(Page::from_rows(rows, page.limit, |e| e.id))
    }

    async fn summarize(&self, query: SummaryQuery) -> Result<UsageSummary, StoreError> {
        self.run(move |conn| {
            let mut c = Conditions::default();
            if let Some(user) = query.user_id {
                c.add("user_id = ?", user.0);
            }
            c.time_range(query.since.as_ref(), query.until.as_ref());
            let group_key = query.group_by.map(|g| match g {
                GroupBy::Day => "substr(created_at, 1, 10)",
                GroupBy::User => "coalesce(CAST(user_id AS TEXT), 'none')",
            });
            let (totals, groups) = stats(conn, group_key, &c)?;
            let groups = match query.group_by {
                None => Vec::new(),
                Some(GroupBy::Day) => groups.into_iter().collect(),
                Some(GroupBy::User) => {
                    let mut groups: Vec<_> = groups.into_iter().collect();
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
