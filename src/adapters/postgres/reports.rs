//! Usage reports from PostgreSQL: filtered rows by keyset, and summaries
//! counted in one pass over the matching rows, as they stream.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, failed, stamp};
use crate::domain::delivery::DeliveryStatus;
use crate::domain::report::{Direction, GroupBy, SummaryQuery, UsageFilter, UsageLogEntry, UsageSummary, UsageTally};
use crate::domain::segments::Encoding;
use crate::domain::usage::Outcome;
use crate::ports::{Page, PageRequest, StoreError, UsageReports};

type Param = Box<dyn ToSql + Sync + Send>;

/// A WHERE clause and its parameters, built from the set filters.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    params: Vec<Param>,
}

impl Conditions {
    /// Adds `column op $n` for the next parameter.
    fn add(&mut self, column_and_op: &str, value: Param) {
        self.params.push(value);
        self.sql.push(format!("{column_and_op} ${}", self.params.len()));
    }

    fn time_range(&mut self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) {
        if let Some(since) = since {
            self.add("created_at >=", Box::new(since));
        }
        if let Some(until) = until {
            self.add("created_at <", Box::new(until));
        }
    }

    fn clause(&self) -> String {
        if self.sql.is_empty() {
            "TRUE".to_owned()
        } else {
            self.sql.join(" AND ")
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

const LOG_COLUMNS: &str = "id, user_id, phone_number, direction, outcome, message_sid, message_length, segments,
    processing_time_ms, success, error_message, metadata, created_at, delivery_status, error_code,
    encoding, ucs2_code_point, router_time_ms, agent_time_ms";

fn unknown(name: &str) -> StoreError {
    StoreError::new(format!("a stored name is unknown to this sms-router: `{name}`"))
}

fn entry_from_row(row: &Row) -> Result<UsageLogEntry, StoreError> {
    let direction: &str = row.get(3);
    let outcome: &str = row.get(4);
    let delivery: Option<&str> = row.get(13);
    let encoding: Option<&str> = row.get(15);
    Ok(UsageLogEntry {
        id: row.get(0),
        user_id: row.get(1),
        phone_number: row.get(2),
        direction: Direction::parse(direction).ok_or_else(|| unknown(direction))?,
        outcome: Outcome::parse(outcome).ok_or_else(|| unknown(outcome))?,
        message_sid: row.get(5),
        message_length: i64::from(row.get::<_, i32>(6)),
        segments: i64::from(row.get::<_, i32>(7)),
        processing_time_ms: row.get(8),
        success: row.get(9),
        error_message: row.get(10),
        metadata: row.get(11),
        created_at: stamp(row.get::<_, DateTime<Utc>>(12)),
        delivery_status: delivery
            .map(|name| DeliveryStatus::parse(name).ok_or_else(|| unknown(name)))
            .transpose()?,
        error_code: row.get(14),
        encoding: encoding
            .map(|name| Encoding::parse(name).ok_or_else(|| unknown(name)))
            .transpose()?,
        ucs2_code_point: row.get::<_, Option<i32>>(16).map(i64::from),
        router_time_ms: row.get(17),
        agent_time_ms: row.get(18),
    })
}

impl UsageReports for PgStore {
    async fn list_usage_logs(&self, filter: UsageFilter, page: PageRequest) -> Result<Page<UsageLogEntry>, StoreError> {
        let mut c = Conditions::default();
        if let Some(after) = page.after {
            c.add("id <", Box::new(after));
        }
        if let Some(user) = filter.user_id {
            c.add("user_id =", Box::new(user.0));
        }
        if let Some(number) = &filter.phone_number {
            c.add("phone_number =", Box::new(number.as_ref().to_owned()));
        }
        if let Some(direction) = filter.direction {
            c.add("direction =", Box::new(direction.name()));
        }
        if let Some(outcome) = filter.outcome {
            c.add("outcome =", Box::new(outcome.name()));
        }
        if let Some(success) = filter.success {
            c.add("success =", Box::new(success));
        }
        c.time_range(filter.since, filter.until);
        let limit = i64::from(page.limit) + 1;
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM sms_usage_logs WHERE {} ORDER BY id DESC LIMIT {limit}",
            c.clause()
        );
        let client = self.client().await?;
        let rows = client
            .query(&sql, &c.params())
            .await
            .map_err(failed("failed to list the usage log"))?;
        let entries = rows.iter().map(entry_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(entries, page.limit, |e| e.id))
    }

    async fn summarize(&self, query: SummaryQuery) -> Result<UsageSummary, StoreError> {
        let mut c = Conditions::default();
        if let Some(user) = query.user_id {
            c.add("user_id =", Box::new(user.0));
        }
        c.time_range(query.since, query.until);
        let group_key = match query.group_by {
            None => "NULL::text",
            Some(GroupBy::Day) => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            Some(GroupBy::User) => "coalesce(user_id::text, 'none')",
        };
        let sql = format!(
            "SELECT direction, outcome, success, segments, processing_time_ms, {group_key}
             FROM sms_usage_logs WHERE {}",
            c.clause()
        );
        let client = self.client().await?;
        let rows = client
            .query_raw(&sql, c.params())
            .await
            .map_err(failed("failed to summarize the usage log"))?;
        futures_util::pin_mut!(rows);
        let mut totals = UsageTally::default();
        let mut groups: HashMap<String, UsageTally> = HashMap::new();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(failed("failed to summarize the usage log"))?
        {
            let direction = match row.get::<_, &str>(0) {
                "inbound" => Direction::Inbound,
                _ => Direction::Outbound,
            };
            let outcome: &str = row.get(1);
            let outcome = Outcome::parse(outcome).ok_or_else(|| unknown(outcome))?;
            let success: bool = row.get(2);
            let segments = u64::try_from(row.get::<_, i32>(3)).unwrap_or(0);
            let ms: Option<i64> = row.get(4);
            totals.add(direction, outcome, success, segments, ms);
            if let Some(key) = row.get::<_, Option<&str>>(5) {
                let group = match groups.get_mut(key) {
                    Some(group) => group,
                    None => groups.entry(key.to_owned()).or_default(),
                };
                group.add(direction, outcome, success, segments, ms);
            }
        }
        let mut groups: Vec<_> = groups.into_iter().map(|(key, tally)| (key, tally.finish())).collect();
        match query.group_by {
            None => groups.clear(),
            Some(GroupBy::Day) => groups.sort_by(|a, b| a.0.cmp(&b.0)),
            // By user id as a number; unowned rows last.
            Some(GroupBy::User) => groups.sort_by_key(|(key, _)| key.parse::<i64>().unwrap_or(i64::MAX)),
        }
        Ok(UsageSummary {
            totals: totals.finish(),
            groups,
        })
    }
}

impl crate::ports::Retention for PgStore {
    async fn count_before(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let count: i64 = client
            .query_one("SELECT count(*) FROM sms_usage_logs WHERE created_at < $1", &[&cutoff])
            .await
            .map_err(failed("failed to count old usage-log rows"))?
            .get(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn purge_before(&self, cutoff: DateTime<Utc>, batch: u32) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // The agents' events closed before the cutoff go with the rows.
        client
            .execute(
                "DELETE FROM sms_agent_events WHERE state <> 'pending' AND updated_at < $1",
                &[&cutoff],
            )
            .await
            .map_err(failed("failed to purge old events"))?;
        client
            .execute(
                "DELETE FROM sms_usage_logs WHERE id IN (
                     SELECT id FROM sms_usage_logs
                     WHERE created_at < $1 AND outcome <> 'processing'
                     ORDER BY created_at, id LIMIT $2)",
                &[&cutoff, &i64::from(batch)],
            )
            .await
            .map_err(failed("failed to purge old usage-log rows"))
    }

    async fn forget_replies(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sms_kept_replies WHERE kept_until < $1", &[&now])
            .await
            .map_err(failed("failed to erase kept replies"))
    }
}
