//! What the benchmark scripts under `bench/` need besides the server:
//!
//! - `agent`: a fast fake agent on loopback that answers every question;
//! - `seed`: users (and usage log rows) written straight into a database;
//! - `scale`: timings of the store's queries on a large database.
//!
//! Not part of the service; `bench/run` and `bench/scale` call it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use clap::{Parser, Subcommand};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Json;
use poem::{Route, Server, handler};
use rusqlite::params;
use sms_router::adapters::sqlite::SqliteStore;
use sms_router::domain::phone::{PhoneNumber, Region};
use sms_router::domain::report::{GroupBy, SummaryQuery, UsageFilter};
use sms_router::domain::user::UserId;
use sms_router::ports::{PageRequest, UsageReports, UserDirectory};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves `{"reply": "ok"}` to every POST; writes its port to PORT_FILE.
    Agent { port_file: PathBuf },
    /// Adds USERS users numbered from +12012000000 and LOGS usage log rows
    /// spread over the last year to the (migrated) database.
    Seed {
        db: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        users: u32,
        #[arg(long, default_value_t = 0)]
        logs: u32,
    },
    /// Times number lookups, summaries and pages of logs on DB.
    Scale {
        db: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        lookups: u32,
    },
}

/// The number of user `i`: `+1 201 2xx xxxx`, a possible US number.
fn number_of(i: u32) -> String {
    format!("+1201{}", 2_000_000 + i)
}

#[handler]
fn reply() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "reply": "ok" }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Agent { port_file } => {
            let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
            let address = acceptor.local_addr()[0]
                .as_socket_addr()
                .copied()
                .context("no TCP address")?;
            std::fs::write(&port_file, address.port().to_string())?;
            Server::new_with_acceptor(acceptor)
                .run(Route::new().at("/*", poem::post(reply)))
                .await?;
        }
        Command::Seed { db, users, logs } => seed(&db, users, logs)?,
        Command::Scale { db, lookups } => scale(db, lookups).await?,
    }
    Ok(())
}

/// A small fast generator, so that the data is the same every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        u32::try_from((self.0 >> 33) % u64::from(n)).unwrap_or(0)
    }
}

fn seed(db: &std::path::Path, users: u32, logs: u32) -> anyhow::Result<()> {
    // Opening migrates.
    drop(SqliteStore::open(db)?);
    let mut conn = rusqlite::Connection::open(db)?;
    conn.execute_batch("PRAGMA synchronous = OFF;")?;
    let started = Instant::now();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare("INSERT INTO users (full_name, phone_number, is_active) VALUES (?1, ?2, 1)")?;
        for i in 0..users {
            insert.execute(params![format!("User {i}"), number_of(i)])?;
        }
    }
    tx.commit()?;
    eprintln!("{users} users in {:.1?}", started.elapsed());

    let started = Instant::now();
    let mut random = Lcg(42);
    let now = Utc::now();
    let year = TimeDelta::days(365);
    let outcomes = [
        "routed",
        "routed",
        "routed",
        "routed",
        "routed",
        "routed",
        "routed",
        "unknown_user",
        "rate_limited",
        "agent_error",
    ];
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO sms_usage_logs
               (user_id, phone_number, direction, outcome, message_sid, message_length, segments,
                processing_time_ms, success, metadata, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        // Pairs of rows, in time order as a live service writes them: the
        // message in and its reply out.
        for n in 0..logs / 2 {
            let at = now - year + year * i32::try_from(n).unwrap_or(i32::MAX) / i32::try_from(logs / 2).unwrap_or(1);
            let at = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            let user = random.below(users.max(1));
            let outcome = outcomes[random.below(10) as usize];
            let user_id = (outcome != "unknown_user").then_some(i64::from(user) + 1);
            let success = outcome == "routed";
            let length = random.below(300) + 1;
            let segments = length.div_ceil(153);
            let ms = random.below(2_000) + 40;
            let metadata = r#"{"to":"+15005550006","num_media":0}"#;
            insert.execute(params![
                user_id,
                number_of(user),
                "inbound",
                outcome,
                format!("SM{n:032x}"),
                length,
                segments,
                ms,
                success,
                metadata,
                at
            ])?;
            insert.execute(params![
                user_id,
                number_of(user),
                "outbound",
                outcome,
                None::<String>,
                length,
                segments,
                None::<u32>,
                true,
                metadata,
                at
            ])?;
        }
    }
    tx.commit()?;
    eprintln!("{logs} log rows in {:.1?}", started.elapsed());
    conn.execute_batch("ANALYZE;")?;
    Ok(())
}

/// The nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// Runs `work` `times` times; answers the median duration.
async fn median<F, Fut, T, E>(times: usize, mut work: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut took = Vec::with_capacity(times);
    for _ in 0..times {
        let started = Instant::now();
        work().await?;
        took.push(started.elapsed());
    }
    took.sort();
    Ok(percentile(&took, 50))
}

async fn scale(db: PathBuf, lookups: u32) -> anyhow::Result<()> {
    let store = SqliteStore::open(&db)?;
    let users: u32 = rusqlite::Connection::open(&db)?.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    let rows: i64 =
        rusqlite::Connection::open(&db)?.query_row("SELECT max(id) FROM sms_usage_logs", [], |r| r.get(0))?;
    println!("database: {users} users, {rows} usage log rows");

    // Uncached lookups: the store itself, not the cache in front of it; one
    // in ten numbers is nobody's.
    let mut random = Lcg(7);
    let mut took = Vec::with_capacity(lookups as usize);
    for _ in 0..lookups {
        let i = random.below(users + users / 9 + 1);
        let number = PhoneNumber::parse(&number_of(i), Region::default())?;
        let started = Instant::now();
        let found = store.recipient(&number).await?;
        took.push(started.elapsed());
        anyhow::ensure!(found.is_some() == (i < users), "lookup of user {i} is wrong");
    }
    took.sort();
    println!(
        "uncached lookup: p50 {:.3?}  p99 {:.3?}  ({lookups} lookups)",
        percentile(&took, 50),
        percentile(&took, 99)
    );

    let now = Utc::now();
    let day = SummaryQuery {
        since: Some(now - TimeDelta::days(2)),
        until: Some(now - TimeDelta::days(1)),
        ..SummaryQuery::default()
    };
    let took = median(5, || store.summarize(day.clone())).await?;
    println!("summary of one day: {took:.1?}");
    let took = median(3, || store.summarize(SummaryQuery::default())).await?;
    println!("summary of everything: {took:.1?}");
    let by_day = SummaryQuery {
        group_by: Some(GroupBy::Day),
        ..SummaryQuery::default()
    };
    let took = median(3, || store.summarize(by_day.clone())).await?;
    println!("summary of everything by day: {took:.1?}");

    let page = |after| PageRequest { after, limit: 50 };
    let first = median(20, || store.list_usage_logs(UsageFilter::default(), page(None))).await?;
    let deep = median(20, || {
        store.list_usage_logs(UsageFilter::default(), page(Some(rows / 50)))
    })
    .await?;
    println!(
        "page of 50 logs: first {first:.3?}  at row {} of {rows}: {deep:.3?}",
        rows - rows / 50
    );
    let user = UsageFilter {
        user_id: Some(UserId(1)),
        ..UsageFilter::default()
    };
    let first = median(20, || store.list_usage_logs(user.clone(), page(None))).await?;
    let deep = median(20, || store.list_usage_logs(user.clone(), page(Some(rows / 50)))).await?;
    println!("page of 50 logs of one user: first {first:.3?}  deep {deep:.3?}");
    let number = UsageFilter {
        phone_number: Some(PhoneNumber::from_stored(&number_of(0))?),
        ..UsageFilter::default()
    };
    let first = median(20, || store.list_usage_logs(number.clone(), page(None))).await?;
    let deep = median(20, || store.list_usage_logs(number.clone(), page(Some(rows / 50)))).await?;
    println!("page of 50 logs of one number: first {first:.3?}  deep {deep:.3?}");
    Ok(())
}
