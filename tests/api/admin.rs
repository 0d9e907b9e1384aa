//! The admin API through raw HTTP: every operation, its errors, and its
//! effect on routing.

use serde_json::{Value, json};

use crate::helpers::{TestApp, sid_of, sms, spawn_app, spawn_app_with};

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, user) = app.admin("POST", "/users", Some(body)).await;
    assert_eq!(status, 201, "{user}");
    user
}

#[tokio::test]
async fn every_admin_call_needs_the_token() {
    let app = spawn_app().await;
    for token in [None, Some("wrong-token-0123456789")] {
        let (status, body) = app.admin_as(token, "GET", "/users", None).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "unauthorized");
    }
    let unconfigured = spawn_app_with(&[("SMS_ROUTER_ADMIN_TOKEN", "")]).await;
    let (status, _) = unconfigured.admin("GET", "/users", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn users_are_created_read_updated_and_deleted() {
    let app = spawn_app().await;

    let user = create(
        &app,
        json!({"full_name": "Ada", "phone_number": "(201) 555-0123", "email": "ada@example.com"}),
    )
    .await;
    let id = user["id"].as_i64().unwrap();
    assert_eq!(user["phone_number"], "+12015550123");
    assert_eq!(user["is_active"], true);

    let (status, got) = app.admin("GET", &format!("/users/{id}"), None).await;
    assert_eq!((status, &got), (200, &user));

    let (status, patched) = app
        .admin(
            "PATCH",
            &format!("/users/{id}"),
            Some(json!({"email": null, "is_active": false})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (patched["email"].clone(), patched["is_active"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(patched["full_name"], "Ada", "a field left out is kept");

    let (status, listed) = app
        .admin("GET", "/users?is_active=false&phone_number=2015550123", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["next_cursor"], Value::Null);
    let (status, named) = app.admin("GET", "/users?name=aD", None).await;
    assert_eq!((status, named["items"][0]["id"].as_i64()), (200, Some(id)));
    let (status, nobody) = app.admin("GET", "/users?name=grace", None).await;
    assert_eq!((status, nobody["items"].as_array().map(Vec::len)), (200, Some(0)));
    let (status, refused) = app.admin("GET", "/users?name=%20", None).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("name"), "{refused}");

    let (status, _) = app.admin("DELETE", &format!("/users/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, body) = app.admin("GET", &format!("/users/{id}"), None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = app.admin("DELETE", &format!("/users/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn deleting_a_user_removes_its_numbers_and_keeps_its_log_rows_unowned() {
    let app = spawn_app().await;
    let user = create(&app, json!({"full_name": "Ada", "phone_number": "+12015550123"})).await;
    let id = user["id"].as_i64().unwrap();
    app.admin(
        "POST",
        &format!("/users/{id}/phones"),
        Some(json!({"phone_number": "+12015550177"})),
    )
    .await;
    let params = sms("+12015550123", "hi");
    app.post_sms(&params).await;

    app.admin("DELETE", &format!("/users/{id}"), None).await;

    let (_, extra) = app.admin("GET", "/lookup?phone_number=%2B12015550177", None).await;
    assert_eq!(
        (extra["reason"].as_str(), &extra["user"]),
        (Some("unknown_user"), &Value::Null)
    );
    let (status, _) = app
        .admin(
            "POST",
            "/users",
            Some(json!({"full_name": "Bob", "phone_number": "+12015550177"})),
        )
        .await;
    assert_eq!(status, 201, "the number is free again");
    let row = app.inbound_row(&sid_of(&params)).await;
    assert_eq!((row.user_id, row.outcome.as_str()), (None, "routed"));
}

#[tokio::test]
async fn bad_input_gets_400_or_422_naming_the_field() {
    let app = spawn_app().await;
    let raw = app
        .client
        .post(app.url("/sms-router/admin/users"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.json::<Value>().await.unwrap()["error"], "bad_request");

    for (body, status, field) in [
        // poem-openapi names the object, not the field, of a missing one.
        (json!({"phone_number": "+12015550123"}), 400, "CreateUserRequest"),
        (json!({"full_name": "A", "phone_number": "12"}), 422, "phone_number"),
        (json!({"full_name": "A", "email": "not-an-address"}), 422, "email"),
        (json!({"full_name": "  "}), 422, "full_name"),
    ] {
        let (got, error) = app.admin("POST", "/users", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(error["message"].as_str().unwrap().contains(field), "{error}");
    }
    for (query, status) in [
        ("limit=0", 422),
        ("limit=501", 422),
        ("limit=x", 400),
        ("after=garbage", 400),
        ("is_active=maybe", 400),
    ] {
        let (got, error) = app.admin("GET", &format!("/users?{query}"), None).await;
        assert_eq!(got, status, "{query}: {error}");
    }
    let (status, _) = app.admin("GET", "/users?limit=500", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_number_or_email_belongs_to_one_user() {
    let app = spawn_app().await;
    let ada = create(
        &app,
        json!({"full_name": "Ada", "phone_number": "+12015550123", "email": "ada@example.com"}),
    )
    .await;
    let bob = create(&app, json!({"full_name": "Bob"})).await;

    let (status, error) = app
        .admin(
            "POST",
            "/users",
            Some(json!({"full_name": "X", "phone_number": "201 555 0123"})),
        )
        .await;
    assert_eq!(status, 409);
    assert!(error["message"].as_str().unwrap().contains("+12015550123"), "{error}");
    let (status, _) = app
        .admin(
            "POST",
            "/users",
            Some(json!({"full_name": "X", "email": "ADA@example.com"})),
        )
        .await;
    assert_eq!(status, 409);
    // Taken as a primary by one user, the number cannot be another's mapping, and back.
    let (status, _) = app
        .admin(
            "POST",
            &format!("/users/{}/phones", bob["id"]),
            Some(json!({"phone_number": "+12015550123"})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = app
        .admin(
            "POST",
            &format!("/users/{}/phones", ada["id"]),
            Some(json!({"phone_number": "+12015550177"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .admin(
            "PATCH",
            &format!("/users/{}", bob["id"]),
            Some(json!({"phone_number": "+12015550177"})),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn two_concurrent_creations_of_one_number_give_one_user() {
    let app = spawn_app().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (client, url) = (app.client.clone(), app.url("/sms-router/admin/users"));
        tasks.spawn(async move {
            let body = json!({"full_name": format!("User {i}"), "phone_number": "+12015550123"});
            let response = client
                .post(url)
                .bearer_auth(crate::helpers::ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        });
    }
    let mut statuses = tasks.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn pages_while_rows_are_added_skip_and_repeat_nothing() {
    let app = spawn_app().await;
    for i in 0..25 {
        create(&app, json!({"full_name": format!("User {i}")})).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let query = after
            .as_ref()
            .map_or("/users?limit=7".to_owned(), |a| format!("/users?limit=7&after={a}"));
        let (status, page) = app.admin("GET", &query, None).await;
        assert_eq!(status, 200);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_i64().unwrap()),
        );
        create(&app, json!({"full_name": "Added between pages"})).await;
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted, seen, "a row was repeated");
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert!((1..=25).all(|id| seen.contains(&id)), "a row was skipped: {seen:?}");
}

#[tokio::test]
async fn extra_numbers_keep_one_primary() {
    let app = spawn_app().await;
    let user = create(&app, json!({"full_name": "Ada"})).await;
    let phones = format!("/users/{}/phones", user["id"]);

    let (_, first) = app
        .admin(
            "POST",
            &phones,
            Some(json!({"phone_number": "+12015550171", "is_primary": true})),
        )
        .await;
    let (status, second) = app
        .admin("POST", &phones, Some(json!({"phone_number": "+12015550172", "is_primary": true, "verification_method": "manual", "is_verified": true})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(second["verification_method"], "manual");
    let (_, list) = app.admin("GET", &phones, None).await;
    let primaries: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["is_primary"] == true)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["id"], second["id"]);

    let (status, patched) = app
        .admin(
            "PATCH",
            &format!("/phones/{}", first["id"]),
            Some(json!({"is_primary": true})),
        )
        .await;
    assert_eq!((status, patched["is_primary"].clone()), (200, json!(true)));
    let (_, list) = app.admin("GET", &phones, None).await;
    assert_eq!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["is_primary"] == true)
            .count(),
        1
    );

    let (status, _) = app
        .admin(
            "PATCH",
            &format!("/phones/{}", second["id"]),
            Some(json!({"verification_method": "fax"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.admin("DELETE", &format!("/phones/{}", second["id"]), None).await;
    assert_eq!(status, 204);
    let (status, _) = app.admin("DELETE", &format!("/phones/{}", second["id"]), None).await;
    assert_eq!(status, 404);
    let (status, _) = app.admin("GET", "/users/999/phones", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lookup_tells_where_a_number_routes_without_taking_a_token() {
    let app = spawn_app_with(&[("SMS_ROUTER_RATE_LIMIT_PER_MINUTE", "1")]).await;
    let ada = create(&app, json!({"full_name": "Ada", "phone_number": "+12015550123"})).await;
    app.admin(
        "POST",
        &format!("/users/{}/phones", ada["id"]),
        Some(json!({"phone_number": "+12015550177"})),
    )
    .await;
    create(
        &app,
        json!({"full_name": "Bob", "phone_number": "+12015550124", "is_active": false}),
    )
    .await;

    let lookup = |n: &'static str| {
        let app = &app;
        async move { app.admin("GET", &format!("/lookup?phone_number={n}"), None).await.1 }
    };
    let primary = lookup("+12015550123").await;
    assert_eq!(
        (primary["source"].as_str(), primary["reason"].as_str()),
        (Some("primary"), Some("routed"))
    );
    assert_eq!(primary["would_route"], true);
    assert_eq!(primary["user"]["id"], ada["id"]);
    // Looking up took no token: the one message a minute still routes.
    assert_eq!(app.send("+12015550123", "hi").await.messages(), ["hi from the agent"]);
    assert_eq!(lookup("+12015550123").await["reason"], "rate_limited");

    let mapping = lookup("2015550177").await;
    assert_eq!(
        (mapping["source"].as_str(), mapping["phone_number"].as_str()),
        (Some("mapping"), Some("+12015550177"))
    );
    assert_eq!(lookup("+12015550124").await["reason"], "inactive_user");
    let unknown = lookup("+12015550199").await;
    assert_eq!(
        (unknown["reason"].as_str(), &unknown["user"]),
        (Some("unknown_user"), &Value::Null)
    );
    assert_eq!(unknown["source"], Value::Null);
    app.send("+12015550177", "STOP").await;
    assert_eq!(lookup("+12015550177").await["reason"], "opted_out");

    let (status, _) = app.admin("GET", "/lookup?phone_number=123", None).await;
    assert_eq!(status, 422);
    let (status, _) = app.admin("GET", "/lookup", None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn settings_are_listed_validated_and_applied_to_the_next_message() {
    let app = spawn_app().await;

    let (status, list) = app.admin("GET", "/configs", None).await;
    assert_eq!(status, 200);
    let keys: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "help_reply",
            "unknown_user_reply",
            "inactive_user_reply",
            "error_reply",
            "max_reply_messages",
            "max_reply_segments",
            "smart_encoding",
            "agent_events",
            "require_verified_numbers",
            "usage_log_retention_days"
        ]
    );
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["is_default"] == true)
    );

    let (status, put) = app
        .admin(
            "PUT",
            "/configs/unknown_user_reply",
            Some(json!({"value": "Who is this?", "description": "friendlier"})),
        )
        .await;
    assert_eq!(
        (status, put["is_default"].clone(), put["value"].clone()),
        (200, json!(false), json!("Who is this?"))
    );
    assert_eq!(app.send("+12015550199", "hi").await.messages(), ["Who is this?"]);

    for (key, value, status) in [
        ("max_reply_messages", "0", 422),
        ("max_reply_messages", "ten", 422),
        ("help_reply", " ", 422),
        ("no_such_key", "x", 404),
    ] {
        let (got, error) = app
            .admin("PUT", &format!("/configs/{key}"), Some(json!({"value": value})))
            .await;
        assert_eq!(got, status, "{key}={value}: {error}");
    }
    let (status, _) = app
        .admin("PUT", "/configs/help_reply", Some(json!({"description": "no value"})))
        .await;
    assert_eq!(status, 400);

    let (status, _) = app.admin("DELETE", "/configs/unknown_user_reply", None).await;
    assert_eq!(status, 204);
    let (_, got) = app.admin("GET", "/configs/unknown_user_reply", None).await;
    assert_eq!(got["is_default"], true);
    assert_eq!(
        app.send("+12015550199", "hi").await.messages(),
        ["This number is not registered with this service."]
    );
    let (status, _) = app.admin("GET", "/configs/nope", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn opted_out_numbers_are_listed() {
    let app = spawn_app().await;
    app.send("+12015550123", "STOP").await;
    app.send("+12015550124", "quit").await;

    let (status, page) = app.admin("GET", "/opt-outs?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["phone_number"], "+12015550123");
    let (_, next) = app
        .admin(
            "GET",
            &format!("/opt-outs?limit=1&after={}", page["next_cursor"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(next["items"][0]["phone_number"], "+12015550124");
    assert_eq!(next["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_change_through_the_api_routes_the_very_next_message_accordingly() {
    let app = spawn_app().await;
    let ada = create(&app, json!({"full_name": "Ada", "phone_number": "+12015550123"})).await;
    let bob = create(&app, json!({"full_name": "Bob"})).await;
    assert_eq!(app.send("+12015550123", "one").await.messages(), ["hi from the agent"]);

    app.admin(
        "PATCH",
        &format!("/users/{}", ada["id"]),
        Some(json!({"is_active": false})),
    )
    .await;
    let params = sms("+12015550123", "two");
    app.post_sms(&params).await;
    assert_eq!(app.inbound_row(&sid_of(&params)).await.outcome, "inactive_user");

    // The number moves to Bob: Ada lets go of it, Bob takes it as an extra number.
    app.admin(
        "PATCH",
        &format!("/users/{}", ada["id"]),
        Some(json!({"phone_number": null, "is_active": true})),
    )
    .await;
    let (status, _) = app
        .admin(
            "POST",
            &format!("/users/{}/phones", bob["id"]),
            Some(json!({"phone_number": "+12015550123"})),
        )
        .await;
    assert_eq!(status, 201);
    app.send("+12015550123", "three").await;
    let (question, _) = app.agent.received().pop().unwrap();
    assert_eq!(question["user_id"], bob["id"]);
}

#[tokio::test]
async fn every_admin_operation_is_401_without_or_with_a_wrong_token() {
    let app = spawn_app().await;
    let operations = [
        ("POST", "/users"),
        ("GET", "/users"),
        ("GET", "/users/1"),
        ("PATCH", "/users/1"),
        ("DELETE", "/users/1"),
        ("GET", "/users/1/phones"),
        ("POST", "/users/1/phones"),
        ("PATCH", "/phones/1"),
        ("DELETE", "/phones/1"),
        ("GET", "/lookup?phone_number=%2B12015550123"),
        ("GET", "/opt-outs"),
        ("GET", "/configs"),
        ("GET", "/configs/help_reply"),
        ("PUT", "/configs/help_reply"),
        ("DELETE", "/configs/help_reply"),
        ("GET", "/usage-logs"),
        ("GET", "/usage/summary"),
    ];
    for (method, path) in operations {
        for token in [None, Some("not-the-admin-token-at-all")] {
            let (status, body) = app.admin_as(token, method, path, Some(json!({}))).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["error"], "unauthorized");
        }
    }
}

#[tokio::test]
async fn an_oversized_admin_body_is_413_not_read_to_the_end() {
    let app = spawn_app().await;
    let huge = json!({ "full_name": "x".repeat(300 * 1024) });

    let (status, body) = app.admin("POST", "/users", Some(huge)).await;

    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "payload_too_large");
    let (status, _) = app
        .admin(
            "PUT",
            "/configs/help_reply",
            Some(json!({ "value": "x".repeat(16_000) })),
        )
        .await;
    assert_eq!(status, 200, "the longest setting fits");
}
