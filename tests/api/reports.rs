//! Usage logs and the usage summary.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::spec::ok;
use crate::helpers::spec::types::{DirectionDto, OutcomeDto, UsageLogPage};
use crate::helpers::{Behaviour, TestApp, spawn_app};

const ADA: &str = "+12015550123";

fn ids(page: &UsageLogPage) -> Vec<i64> {
    page.items.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn usage_logs_are_listed_newest_first_and_filtered() {
    let app = spawn_app().await;
    let ada = app.add_user("Ada", ADA, true).await;
    app.send(ADA, "one").await;
    app.send("+12015550199", "who?").await;
    app.agent.set(Behaviour::Status(500));
    app.send(ADA, "two").await;

    let all = ok(app.api().list_usage_logs().send().await);
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 6, "three inbound rows, three replies");
    assert!(all_ids.windows(2).all(|w| w[0] > w[1]), "newest first: {all_ids:?}");
    let first = &all.items[all_ids.len() - 1];
    assert_eq!(
        (first.direction, first.outcome),
        (DirectionDto::Inbound, OutcomeDto::Routed)
    );
    assert_eq!(
        first.metadata.as_ref().and_then(|m| m.get("to")),
        Some(&json!("+15005550006"))
    );

    let api = app.api();
    let logs = || api.list_usage_logs();
    let count =
        async |filtered: crate::helpers::spec::builder::ListUsageLogs<'_>| ids(&ok(filtered.send().await)).len();
    assert_eq!(count(logs().direction(DirectionDto::Inbound)).await, 3);
    assert_eq!(count(logs().direction(DirectionDto::Outbound)).await, 3);
    assert_eq!(
        count(logs().outcome(OutcomeDto::Routed).direction(DirectionDto::Inbound)).await,
        1
    );
    assert_eq!(count(logs().outcome(OutcomeDto::UnknownUser)).await, 2);
    assert_eq!(count(logs().success(false)).await, 1);
    assert_eq!(count(logs().phone_number("(201) 555-0199")).await, 2);
    assert_eq!(count(logs().user_id(ada)).await, 4);
    let at = |time: &str| time.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let (then, later) = (at("2000-01-01T00:00:00Z"), at("2100-01-01T00:00:00Z"));
    assert_eq!(count(logs().since(then).until(later)).await, 6);
    assert_eq!(count(logs().until(then)).await, 0);

    // What a typed client cannot send.
    for (query, status) in [
        ("outcome=lost", 400),
        ("direction=sideways", 400),
        ("since=yesterday", 400),
        ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", 422),
        ("phone_number=12", 422),
        ("limit=0", 422),
    ] {
        let (got, body) = app.admin("GET", &format!("/usage-logs?{query}"), None).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn usage_log_pages_skip_and_repeat_nothing_while_messages_arrive() {
    let app = spawn_app().await;
    for i in 0..12 {
        app.send("+12015550199", &format!("message {i}")).await;
    }
    let everything = ok(app.api().list_usage_logs().limit(500).send().await);
    let before = ids(&everything);

    let api = app.api();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut page = api.list_usage_logs().limit(5);
        if let Some(cursor) = &after {
            page = page.after(cursor.as_str());
        }
        let page = ok(page.send().await);
        seen.extend(ids(&page));
        app.send("+12015550199", "arriving meanwhile").await;
        match page.next_cursor {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }

    assert_eq!(
        seen, before,
        "pages must hold exactly the rows there were, newest first"
    );
}

/// One row of the test's own making.
struct Row {
    user: Option<i64>,
    direction: &'static str,
    outcome: &'static str,
    success: bool,
    ms: Option<i64>,
    segments: i64,
    day: &'static str,
}

fn insert(app: &TestApp, rows: &[Row]) {
    let db = app.db();
    for (i, r) in rows.iter().enumerate() {
        db.execute(
            "INSERT INTO sms_usage_logs (user_id, phone_number, direction, outcome, message_sid, message_length,
                                         segments, processing_time_ms, success, created_at)
             VALUES (?1, '+12015550100', ?2, ?3, ?4, 10, ?5, ?6, ?7, ?8)",
            rusqlite::params![
                r.user,
                r.direction,
                r.outcome,
                (r.direction == "inbound").then(|| format!("SMtest{i}")),
                r.segments,
                r.ms,
                r.success,
                format!("{}T12:00:{:02}.000Z", r.day, i % 60),
            ],
        )
        .unwrap();
    }
}

/// Every outcome: `by_outcome` lists each, 0 when none had it.
const OUTCOMES: [&str; 13] = [
    "duplicate",
    "opted_out",
    "opted_in",
    "help",
    "rate_limited",
    "unknown_user",
    "inactive_user",
    "routed",
    "agent_error",
    "processing",
    "interrupted",
    "proactive",
    "verified",
];

/// The nearest-rank percentile, computed here apart from the server.
fn percentile(values: &[i64], p: f64) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank - 1])
}

fn expected(rows: &[&Row]) -> Value {
    let inbound: Vec<_> = rows.iter().filter(|r| r.direction == "inbound").collect();
    let outbound: Vec<_> = rows.iter().filter(|r| r.direction == "outbound").collect();
    let mut by_outcome: BTreeMap<&str, usize> = OUTCOMES.iter().map(|o| (*o, 0)).collect();
    for r in &inbound {
        *by_outcome.entry(r.outcome).or_insert(0) += 1;
    }
    let ms: Vec<i64> = inbound.iter().filter_map(|r| r.ms).collect();
    let successes = inbound.iter().filter(|r| r.success).count();
    json!({
        "inbound": inbound.len(),
        "outbound": outbound.len(),
        "by_outcome": by_outcome,
        "success_rate": if inbound.is_empty() { Value::Null } else { json!(successes as f64 / inbound.len() as f64) },
        "processing_ms_p50": percentile(&ms, 50.0),
        "processing_ms_p95": percentile(&ms, 95.0),
        "segments_inbound": inbound.iter().map(|r| r.segments).sum::<i64>(),
        "segments_outbound": outbound.iter().map(|r| r.segments).sum::<i64>(),
    })
}

fn without_key(group: &Value) -> Value {
    let mut group = group.clone();
    group.as_object_mut().unwrap().remove("key");
    group
}

/// Equal, but for the last bit of `success_rate`: JSON floats do not
/// always parse back to the exact value printed.
fn assert_stats(actual: &Value, expected: &Value) {
    let rate = |v: &Value| v["success_rate"].as_f64();
    match (rate(actual), rate(expected)) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-12, "success_rate {a} != {e}"),
        (a, e) => assert_eq!(a, e),
    }
    let strip = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("success_rate");
        v
    };
    assert_eq!(strip(actual), strip(expected));
}

#[tokio::test]
async fn the_summary_matches_what_the_rows_say() {
    let app = spawn_app().await;
    let ada = app.add_user("Ada", "+12015550101", true).await;
    let bob = app.add_user("Bob", "+12015550102", true).await;
    let mut rows = Vec::new();
    for (i, ms) in [120, 80, 300, 45, 2000, 95, 60, 150, 75, 5000, 33, 410]
        .into_iter()
        .enumerate()
    {
        let user = [Some(ada), Some(bob), None][i % 3];
        let outcome = if user.is_none() {
            "unknown_user"
        } else if i == 4 {
            "agent_error"
        } else {
            "routed"
        };
        let day = if i < 7 { "2026-11-01" } else { "2026-11-02" };
        rows.push(Row {
            user,
            direction: "inbound",
            outcome,
            success: outcome != "agent_error",
            ms: Some(ms),
            segments: 1 + (i as i64 % 2),
            day,
        });
        rows.push(Row {
            user,
            direction: "outbound",
            outcome,
            success: true,
            ms: None,
            segments: 2,
            day,
        });
    }
    rows.push(Row {
        user: Some(ada),
        direction: "inbound",
        outcome: "help",
        success: true,
        ms: None,
        segments: 1,
        day: "2026-11-03",
    });
    insert(&app, &rows);

    let (status, summary) = app.admin("GET", "/usage/summary?group_by=day", None).await;
    assert_eq!(status, 200, "{summary}");
    assert_stats(&summary["totals"], &expected(&rows.iter().collect::<Vec<_>>()));
    let days: Vec<_> = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2026-11-01", "2026-11-02", "2026-11-03"]);
    for group in summary["groups"].as_array().unwrap() {
        let day = group["key"].as_str().unwrap();
        assert_stats(
            &without_key(group),
            &expected(&rows.iter().filter(|r| r.day == day).collect::<Vec<_>>()),
        );
    }

    let (_, by_user) = app.admin("GET", "/usage/summary?group_by=user", None).await;
    let keys: Vec<_> = by_user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [ada.to_string().as_str(), bob.to_string().as_str(), "none"]);
    for (group, user) in by_user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .zip([Some(ada), Some(bob), None])
    {
        assert_stats(
            &without_key(group),
            &expected(&rows.iter().filter(|r| r.user == user).collect::<Vec<_>>()),
        );
    }

    let (_, one_user_one_day) = app
        .admin(
            "GET",
            &format!("/usage/summary?user_id={ada}&since=2026-11-02T00:00:00Z&until=2026-11-03T00:00:00Z"),
            None,
        )
        .await;
    let since = chrono::DateTime::parse_from_rfc3339(one_user_one_day["since"].as_str().unwrap()).unwrap();
    assert_eq!(
        since,
        chrono::DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z").unwrap()
    );
    assert_eq!(one_user_one_day["groups"], json!([]));
    assert_stats(
        &one_user_one_day["totals"],
        &expected(
            &rows
                .iter()
                .filter(|r| r.user == Some(ada) && r.day == "2026-11-02")
                .collect::<Vec<_>>(),
        ),
    );

    let (_, empty) = app
        .admin("GET", "/usage/summary?until=2000-01-01T00:00:00Z", None)
        .await;
    assert_stats(&empty["totals"], &expected(&[]));
    let (status, _) = app.admin("GET", "/usage/summary?group_by=week", None).await;
    assert_eq!(status, 400);
}
