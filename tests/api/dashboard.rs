//! The usage dashboard in a real browser: Debian's chromium, headless at a
//! phone's size, driven through chromedriver's WebDriver API (plain HTTP).
//! Skipped, loudly, without them; a failure under CI.

use serde_json::{Value, json};

use crate::helpers::browser::Driver;
use crate::helpers::spec::ok;
use crate::helpers::spec::types::GroupByDto;
use crate::helpers::{ADMIN_TOKEN, Behaviour, TestApp, found, spawn_app_with};

/// A month of traffic: messages routed, refused, failed, opted out, over
/// several days and users.
async fn seeded() -> TestApp {
    let app = spawn_app_with(&[]).await;
    // A name that would run a script if it were put in the page as HTML.
    let users = [
        (
            "Ada <img src=x onerror=\"document.body.dataset.pwned=1\">",
            "+12015550101",
        ),
        ("Grace", "+12015550102"),
        ("Alan", "+12015550103"),
    ];
    for (name, number) in users {
        app.add_user(name, number, true).await;
    }
    app.agent.replies("noted");
    for (i, (_, number)) in users.iter().enumerate() {
        for _ in 0..(3 - i) * 2 {
            app.send(number, "hello").await;
        }
    }
    app.send("+12015550199", "who is this").await;
    app.send("+12015550103", "HELP").await;
    app.agent.set(Behaviour::Status(500));
    app.send("+12015550101", "this one fails").await;
    app.send("+12015550102", "STOP").await;
    // Earlier days: the same rows, moved back in time.
    app.db()
        .execute_batch(
            "INSERT INTO sms_usage_logs (user_id, phone_number, direction, outcome, message_sid, success,
                                         processing_time_ms, created_at)
             SELECT user_id, phone_number, direction, outcome, message_sid || '-' || d.n, success,
                    processing_time_ms * d.n, strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-' || d.n || ' days')
             FROM sms_usage_logs, (SELECT 2 AS n UNION SELECT 5 UNION SELECT 9 UNION SELECT 14) AS d",
        )
        .unwrap();
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_draws_its_charts_on_a_phone_and_its_numbers_match_the_api() {
    let Some(driver) = Driver::start().await else { return };
    let app = seeded().await;

    driver.go(&app.url("/sms-router/dashboard")).await;
    let token = driver.element("#token").await;
    driver
        .call(
            reqwest::Method::POST,
            &format!("/element/{token}/value"),
            json!({ "text": ADMIN_TOKEN }),
        )
        .await;
    let show = driver.element("#login button").await;
    driver
        .call(reqwest::Method::POST, &format!("/element/{show}/click"), json!({}))
        .await;
    let drawn = found("the dashboard to draw", async || {
        let drawn = driver
            .run("return document.body.dataset.drawn || document.getElementById('error').textContent")
            .await;
        // An error shown is final too: it is the failure's message.
        (drawn == "yes" || drawn.as_str().is_some_and(|t| !t.is_empty())).then_some(drawn)
    })
    .await;
    assert_eq!(drawn, "yes");

    let charts = driver
        .run(
            "return [...document.querySelectorAll('.chart')].map(c => { \
                const canvas = c.querySelector('canvas'); \
                return canvas ? [c.id, canvas.getBoundingClientRect().width, canvas.getBoundingClientRect().height] : [c.id, 0, 0]; })",
        )
        .await;
    let shown = driver
        .run(
            "return { inbound: document.getElementById('total-inbound').textContent, \
                      outbound: document.getElementById('total-outbound').textContent, \
                      optedOut: document.getElementById('opted-out').textContent, \
                      busiest: [...document.querySelectorAll('#busiest tbody tr')].map(r => [...r.cells].map(c => c.textContent)), \
                      failures: document.querySelectorAll('#failures tbody tr').length, \
                      token: location.href.includes('token'), \
                      pwned: document.body.dataset.pwned || null, \
                      images: document.querySelectorAll('#busiest img').length, \
                      width: document.documentElement.scrollWidth }",
        )
        .await;
    let png = driver.screenshot().await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(shots.join("dashboard.png"), &png).unwrap();
    driver
        .run("document.getElementById('chart-latency').scrollIntoView(); return null")
        .await;
    std::fs::write(shots.join("dashboard-latency.png"), driver.screenshot().await).unwrap();
    let wide = driver
        .run(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391) \
                .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
        )
        .await;

    for chart in charts.as_array().unwrap() {
        assert!(
            chart[1].as_f64().unwrap() > 100.0 && chart[2].as_f64().unwrap() > 100.0,
            "{charts}"
        );
    }
    assert_eq!(charts.as_array().unwrap().len(), 3);
    let since = (chrono::Utc::now() - chrono::Duration::days(29))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let api = app.api();
    let summary = ok(api
        .get_usage_summary()
        .group_by(GroupByDto::User)
        .since(since)
        .send()
        .await);
    assert_eq!(shown["inbound"], summary.totals.inbound.to_string());
    assert_eq!(shown["outbound"], summary.totals.outbound.to_string());
    assert_eq!(shown["optedOut"], "1");
    let mut groups = summary.groups.clone();
    groups.sort_by_key(|g| std::cmp::Reverse(g.inbound));
    let busiest = shown["busiest"].as_array().unwrap();
    assert_eq!(busiest.len(), groups.len());
    assert!(
        busiest[0][0].as_str().unwrap().starts_with("Ada <img src=x"),
        "shown as text: {busiest:?}"
    );
    assert_eq!(
        (shown["pwned"].clone(), shown["images"].clone()),
        (Value::Null, json!(0))
    );
    assert_eq!(busiest[0][1], groups[0].inbound.to_string());
    let failures = ok(api.list_usage_logs().success(false).limit(20).send().await);
    assert_eq!(shown["failures"], failures.items.len());
    assert_eq!(shown["token"], false, "the token is never in the URL");
    assert!(
        shown["width"].as_u64().unwrap() <= 390,
        "no sideways scrolling on a phone: {wide}"
    );
    assert!(png.starts_with(b"\x89PNG"), "a screenshot");
}
