//! What the message path keeps in memory: a message from a cached number
//! reads nothing from the store, and changes still show.

use crate::helpers::{TestApp, spawn_app, until};

/// The `sms_router_store_reads_total` lines of `/metrics` for the reads a
/// message can make (the background version poll left out).
async fn message_path_reads(app: &TestApp) -> Vec<String> {
    app.get_text("/metrics")
        .await
        .lines()
        .filter(|l| l.starts_with("sms_router_store_reads_total") && !l.contains("directory_version"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_message_from_a_cached_number_reads_nothing_from_the_store() {
    let app = spawn_app().await;
    app.add_user("Ada", "+12015550100", true).await;
    // The first message from each number fills the cache.
    assert_eq!(app.send("+12015550100", "hi").await.messages(), ["hi from the agent"]);
    assert_eq!(app.send("+12015550199", "who?").await.status, 200);
    let before = message_path_reads(&app).await;
    assert!(
        before.iter().any(|l| l.contains(r#"query="recipient""#)),
        "the first message read the store: {before:?}"
    );

    for _ in 0..5 {
        assert_eq!(
            app.send("+12015550100", "again").await.messages(),
            ["hi from the agent"]
        );
        assert_eq!(app.send("+12015550199", "who?").await.status, 200);
    }

    assert_eq!(message_path_reads(&app).await, before);
    assert_eq!(app.agent.calls(), 6);
}

/// DESIGN promises 2 s: the poll runs every `VERSION_POLL`, well within it.
/// What a test can show on any machine is that the change shows without
/// waiting for the cache's lifetime (an hour here).
#[tokio::test]
async fn opt_outs_and_settings_changed_by_another_process_show_before_the_cache_expires() {
    assert!(sms_router::adapters::cache::VERSION_POLL <= std::time::Duration::from_millis(500));
    let app = spawn_app().await;
    app.add_user("Ada", "+12015550100", true).await;
    assert_eq!(app.send("+12015550100", "hi").await.messages(), ["hi from the agent"]);
    assert_eq!(app.send("+12015550199", "who?").await.status, 200);

    // Written as another process would: straight into the database.
    let db = app.db();
    db.execute(
        "INSERT INTO sms_router_configs (key, value) VALUES ('unknown_user_reply', 'Who is this?')",
        [],
    )
    .unwrap();
    db.execute("INSERT INTO sms_opt_outs (phone_number) VALUES ('+12015550100')", [])
        .unwrap();

    until("the changes to show", async || {
        let unknown = app.send("+12015550199", "who?").await;
        let ada = app.send("+12015550100", "hi").await;
        unknown.messages() == ["Who is this?"] && ada.messages().is_empty()
    })
    .await;
}
