//! Health, readiness, the spec and its UI.

use crate::helpers::{TestApp, raise_open_file_limit, spawn_app, until};

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
}

/// A message that has waited in the outbox past SMS_ROUTER_OUTBOX_STALL_SECS
/// turns /readyz degraded (still 200: the service answers), and /metrics
/// shows what waits and for how long. (The outbox is read once a second at
/// most, whoever asks.)
#[tokio::test]
async fn a_stalled_outbox_turns_readyz_degraded_and_shows_in_the_metrics() {
    let app = crate::helpers::spawn_app_with(&[("SMS_ROUTER_OUTBOX_STALL_SECS", "60")]).await;
    let readyz = async || {
        let answer = app.client.get(app.url("/readyz")).send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    };
    let fresh = readyz().await;
    let calm = app.get_text("/metrics").await;

    // Queued ten minutes ago, as a stuck sender would leave it (no sender
    // runs here: the app has no Twilio settings).
    app.db()
        .execute(
            "INSERT INTO sms_outbox (to_number, body, outcome, created_at)
             VALUES ('+12015550123', 'waiting', 'proactive', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-600 seconds'))",
            [],
        )
        .unwrap();
    // A backlog read stands for a second: wait for a fresh one.
    let (status, said) = crate::helpers::found("readyz to read the outbox again", async || {
        let answer = readyz().await;
        answer.1.starts_with("degraded").then_some(answer)
    })
    .await;
    let stalled = app.get_text("/metrics").await;

    assert_eq!(fresh, (200, "ready".to_owned()));
    assert!(calm.contains("sms_router_outbox_items{status=\"pending\"} 0"), "{calm}");
    assert_eq!(status, 200);
    assert!(
        said.starts_with("degraded: the oldest message waiting to be sent has waited"),
        "{said}"
    );
    assert!(
        stalled.contains("sms_router_outbox_items{status=\"pending\"} 1"),
        "{stalled}"
    );
    let oldest: u64 = stalled
        .lines()
        .find_map(|line| line.strip_prefix("sms_router_outbox_oldest_pending_seconds "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no oldest pending gauge: {stalled}"));
    assert!(oldest >= 600, "{oldest}");
}

#[tokio::test]
async fn readyz_fails_when_the_store_cannot_be_written() {
    let app = spawn_app().await;
    // Another connection holding the write lock makes the store unwritable
    // for longer than readiness waits.
    let blocker = app.db();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["error"],
        "service_unavailable"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    // A probe's finding stands for a second; then the store is ready again.
    until("/readyz to answer 200 again", async || {
        app.client.get(app.url("/readyz")).send().await.unwrap().status() == 200
    })
    .await;
}

/// The probe row's count of writes.
fn probe_writes(app: &TestApp) -> i64 {
    app.db()
        .query_row("SELECT coalesce(max(probes), 0) FROM sms_store_probe", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_readyz_writes_a_few_probes_and_holds_up_no_webhook() {
    raise_open_file_limit();
    let app = spawn_app().await;
    app.add_user("Ada", "+12015550123", true).await;
    let before = probe_writes(&app);
    let started = std::time::Instant::now();

    let flood = futures_util::future::join_all((0..1000).map(|_| async {
        let client = reqwest::Client::new();
        client.get(app.url("/readyz")).send().await.map(|r| r.status().as_u16())
    }));
    let webhooks = async {
        for n in 0..20 {
            let answer = app.send("+12015550123", &format!("hello {n}")).await;
            assert_eq!(answer.messages(), ["hi from the agent"]);
        }
    };
    let (statuses, ()) = tokio::join!(flood, webhooks);

    let ready = statuses.iter().filter(|s| matches!(s, Ok(200))).count();
    assert_eq!(ready, 1000, "{:?}", statuses.iter().find(|s| !matches!(s, Ok(200))));
    // What would hold webhooks up is the store's write lock: the flood
    // takes it about once a second, not once a request.
    let writes = probe_writes(&app) - before;
    let seconds = started.elapsed().as_secs() as i64 + 1;
    assert!(writes <= seconds + 1, "{writes} probe writes in about {seconds} s");
}

/// Fails when the committed spec is stale; `UPDATE_OPENAPI=1` rewrites it.
#[test]
fn committed_spec_matches_the_code() {
    let generated = sms_router::startup::openapi_spec();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(SPEC_PATH, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(SPEC_PATH).unwrap_or_default();
    assert!(
        committed.trim_end() == generated,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json` and commit it"
    );
}

#[tokio::test]
async fn the_server_serves_the_committed_spec_and_its_ui() {
    let app = spawn_app().await;

    let served = app.get_text("/openapi.json").await;
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();

    let committed = std::fs::read_to_string(SPEC_PATH).unwrap();
    assert_eq!(served.trim_end(), committed.trim_end());
    assert_eq!(docs.status(), 200);
    let spec: serde_json::Value = serde_json::from_str(&served).unwrap();
    let receive = &spec["paths"]["/sms-router/webhook/sms"]["post"];
    assert_eq!(receive["operationId"], "receive_sms");
    assert_eq!(receive["tags"], serde_json::json!(["webhook"]));
    assert_eq!(spec["paths"]["/readyz"]["get"]["tags"], serde_json::json!(["ops"]));
    for status in ["200", "400", "403", "413", "415", "503"] {
        assert!(
            receive["responses"][status].is_object(),
            "status {status} is not in the spec"
        );
    }
    assert!(receive["responses"]["200"]["content"]["application/xml"].is_object());
}

#[tokio::test]
async fn metrics_count_outcomes_duplicates_cache_and_agent_time() {
    let app = spawn_app().await;
    app.add_user("Ada", "+12015550123", true).await;
    let params = crate::helpers::sms("+12015550123", "hi");
    app.post_sms(&params).await;
    app.post_sms(&params).await;
    app.send("+12015550123", "again").await;

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.unwrap();
    for line in [
        r#"sms_router_messages_total{outcome="routed"} 2"#,
        r#"sms_router_messages_total{outcome="duplicate"} 1"#,
        r#"sms_router_agent_duration_seconds_count{result="ok"} 2"#,
        // The start's look for interrupted messages, then two messages one
        // after the other: a claim and a settlement each, nothing to group
        // them with; 2 inbound rows, once each updated, 2 replies, and the
        // 2 replies kept for retries.
        "sms_router_log_batches_total 5",
        "sms_router_log_rows_total 8",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    // The duplicate looks nothing up. Whether the second lookup hits depends
    // on when the cache noticed the user being added, so only the sum is fixed.
    let counter = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    let misses = counter(r#"sms_router_cache_lookups_total{result="miss"}"#);
    let hits = counter(r#"sms_router_cache_lookups_total{result="hit"}"#);
    assert_eq!((hits + misses, misses >= 1), (2, true), "{text}");
}

/// What a client author reads: every schema and every property of the
/// committed spec says what it is, and every JSON request body has an
/// example.
#[test]
fn every_schema_and_property_is_described_and_every_json_body_has_an_example() {
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(SPEC_PATH).unwrap()).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let mut missing = Vec::new();
    for (name, schema) in schemas {
        if schema["description"].as_str().is_none_or(str::is_empty) {
            missing.push(name.clone());
        }
        for (property, value) in schema["properties"].as_object().into_iter().flatten() {
            // A bare reference is described by what it refers to: in
            // OpenAPI 3.0 a description beside `$ref` needs an `allOf`
            // wrapper, which openapi-python-client refuses for enums.
            let referred = value["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .and_then(|name| schemas[name]["description"].as_str());
            if value["description"].as_str().or(referred).is_none_or(str::is_empty) {
                missing.push(format!("{name}.{property}"));
            }
        }
    }
    assert!(missing.is_empty(), "undescribed: {missing:?}");

    let mut without_example = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let Some(media) = operation["requestBody"]["content"]["application/json"].as_object() else {
                continue;
            };
            let component = media["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .map(|name| &schemas[name]);
            if media.get("example").is_none() && component.is_none_or(|c| c.get("example").is_none()) {
                without_example.push(operation["operationId"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(
        without_example.is_empty(),
        "JSON bodies without an example: {without_example:?}"
    );
}
