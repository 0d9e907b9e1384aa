//! Each user's own agent: set with `user add --agent-url --agent-token`,
//! asked with its own token; one agent down slows no one else.

use crate::helpers::{Behaviour, FakeAgent, RunningServer, WEBHOOK_PATH, eventually, sms, sms_router};

const ADA: &str = "+12015550101";
const BOB: &str = "+12015550102";
const ADA_TOKEN: &str = "ada-agent-token-5f1c2b";
const ERROR_REPLY: &str = "Sorry, something went wrong. Please try again in a moment.";

#[tokio::test(flavor = "multi_thread")]
async fn each_user_reaches_their_own_agent_with_its_token_and_one_down_slows_no_one_else() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (service_agent, ada_agent) = (FakeAgent::start().await, FakeAgent::start().await);
    service_agent.replies("from the service's agent");
    ada_agent.replies("from Ada's own agent");
    let added = sms_router(&db)
        .args(["user", "add", "--phone", ADA, "--name", "Ada", "--agent-url"])
        .arg(&ada_agent.url)
        .args(["--agent-token", ADA_TOKEN])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let bob = sms_router(&db)
        .args(["user", "add", "--phone", BOB, "--name", "Bob"])
        .output()
        .unwrap();
    assert!(bob.status.success());
    let envs = [
        ("SMS_ROUTER_AGENT_URL", service_agent.url.as_str()),
        ("SMS_ROUTER_AGENT_TOKEN", "service-token"),
        ("SMS_ROUTER_AGENT_TIMEOUT_MS", "20000"),
        ("SMS_ROUTER_LOG_LEVEL", "debug"),
    ];
    let server = tokio::task::block_in_place(|| RunningServer::start(&db, &envs, &["serve", "--dev"]));
    let client = reqwest::Client::new();
    let send = |from: &'static str, text: &'static str| {
        let request = client.post(server.url(WEBHOOK_PATH)).form(&sms(from, text));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };

    let ada_answer = send(ADA, "hello").await;
    let bob_answer = send(BOB, "hello").await;

    assert!(ada_answer.contains("from Ada&apos;s own agent"), "{ada_answer}");
    assert!(bob_answer.contains("from the service"), "{bob_answer}");
    let asked_ada = ada_agent.received();
    let asked_service = service_agent.received();
    assert_eq!(
        (asked_ada.len(), asked_service.len()),
        (1, 1),
        "each agent only its own user's"
    );
    assert_eq!(asked_ada[0].0["phone_number"], ADA);
    assert_eq!(asked_ada[0].1.as_deref(), Some(format!("Bearer {ADA_TOKEN}").as_str()));
    assert_eq!(asked_service[0].0["phone_number"], BOB);
    assert_eq!(asked_service[0].1.as_deref(), Some("Bearer service-token"));

    // Ada's agent hangs: while it holds her question, Bob is answered by
    // his (not after it, as one queue for both would do).
    ada_agent.set(Behaviour::Held("at last".into()));
    let ada_waiting = tokio::spawn(send(ADA, "hello?"));
    eventually("Ada's agent to have her question", || ada_agent.calls() == 2).await;
    let bob_answer = send(BOB, "still there?").await;
    assert!(bob_answer.contains("from the service"), "{bob_answer}");
    assert!(!ada_waiting.is_finished(), "Ada was answered before Bob");
    ada_agent.release();
    assert!(ada_waiting.await.unwrap().contains("at last"));

    // Ada's agent fails: after five failures in a row its breaker opens,
    // and her next message does not reach it; Bob's still reach his.
    ada_agent.set(Behaviour::Status(503));
    for _ in 0..5 {
        let (ada, bob) = tokio::join!(send(ADA, "hello?"), send(BOB, "still there?"));
        assert!(ada.contains(ERROR_REPLY.split('.').next().unwrap()), "{ada}");
        assert!(bob.contains("from the service"), "{bob}");
    }
    let at_once = send(ADA, "anyone?").await;
    assert!(at_once.contains("Sorry"), "{at_once}");
    assert_eq!(
        ada_agent.calls(),
        7,
        "the message after the fifth failure did not reach Ada's agent"
    );

    let listed = sms_router(&db).args(["user", "list"]).output().unwrap();
    let logs = server.stop();
    assert!(!logs.contains(ADA_TOKEN), "the token is in no log line");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(ADA_TOKEN));
}

#[test]
fn an_agent_url_that_is_not_one_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = sms_router(&dir.path().join("t.db"))
        .args([
            "user",
            "add",
            "--phone",
            ADA,
            "--name",
            "Ada",
            "--agent-url",
            "ftp://agent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agent-url"));
}

#[tokio::test]
async fn the_admin_api_sets_a_users_agent_and_never_shows_its_token() {
    let app = crate::helpers::spawn_app().await;
    app.agent.replies("from the service's agent");
    let own = FakeAgent::start().await;
    own.replies("from Ada's own agent");
    let url_with_secret = format!("{}?key=query-secret", own.url);

    let (status, ada) = app
        .admin(
            "POST",
            "/users",
            Some(serde_json::json!({
                "full_name": "Ada", "phone_number": ADA,
                "agent_url": url_with_secret, "agent_token": ADA_TOKEN,
            })),
        )
        .await;
    let (_, fetched) = app.admin("GET", &format!("/users/{}", ada["id"]), None).await;
    let (_, listed) = app.admin("GET", "/users", None).await;
    let routed = app.send(ADA, "hello").await;
    let (no_url, refused) = app
        .admin(
            "POST",
            "/users",
            Some(serde_json::json!({ "full_name": "Bob", "agent_token": "lonely-token" })),
        )
        .await;

    assert_eq!(status, 201, "{ada}");
    for shown in [&ada, &fetched, &listed] {
        let text = shown.to_string();
        assert!(!text.contains(ADA_TOKEN) && !text.contains("query-secret"), "{text}");
    }
    assert_eq!(fetched["agent_url"], format!("{}", own.url));
    assert_eq!(fetched["has_agent_token"], true);
    assert_eq!(routed.messages(), ["from Ada's own agent"]);
    assert_eq!(
        own.received()[0].1.as_deref(),
        Some(format!("Bearer {ADA_TOKEN}").as_str())
    );
    assert_eq!(no_url, 422);
    assert!(refused["message"].as_str().unwrap().contains("agent_token"));

    let (_, cleared) = app
        .admin(
            "PATCH",
            &format!("/users/{}", ada["id"]),
            Some(serde_json::json!({ "clear": ["agent_url"] })),
        )
        .await;
    let back = app.send(ADA, "hello again").await;
    assert_eq!(
        (cleared["agent_url"].clone(), cleared["has_agent_token"].clone()),
        (serde_json::Value::Null, serde_json::json!(false))
    );
    assert_eq!(back.messages(), ["from the service's agent"]);
}
