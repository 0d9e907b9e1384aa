//! Writers never fail each other: many administrators and messages at once
//! get no 5xx, and the rows agree afterwards.

use std::collections::HashSet;

use crate::helpers::spec::types::{AddPhoneRequest, CreateUserRequest, UpdatePhoneRequest, UpdateUserRequest};
use crate::helpers::*;

/// One client's work: a user, two numbers, changes to both, then deletes;
/// answers every status it saw.
async fn one_client(app: &TestApp, n: u32) -> Vec<(String, u16)> {
    let api = app.api();
    let mut seen = Vec::new();
    let mut note = |what: &str, status: u16| seen.push((format!("client {n}: {what}"), status));
    let user = CreateUserRequest::builder()
        .full_name(format!("User {n}"))
        .phone_number(Some(format!("+1201555{n:04}")));
    let created = api.create_user().body(user).send().await;
    note("create user", spec::status(&created));
    let Ok(user) = created else { return seen };
    let id = user.into_inner().id;
    let mut phones = Vec::new();
    for k in 0..2 {
        let phone = AddPhoneRequest::builder()
            .phone_number(format!("+1201556{n:02}{k:02}"))
            .is_primary(Some(true));
        let added = api.add_user_phone().id(id).body(phone).send().await;
        note("add phone", spec::status(&added));
        phones.extend(added.ok().map(|phone| phone.into_inner().id));
    }
    // Every client also tries to take one shared number: one wins, the
    // others get 409.
    let shared = AddPhoneRequest::builder().phone_number("+12015579999");
    let added = api.add_user_phone().id(id).body(shared).send().await;
    note("add the shared number", spec::status(&added));
    let rename = UpdateUserRequest {
        full_name: Some(format!("User {n} renamed")),
        is_active: Some(n.is_multiple_of(2)),
        ..Default::default()
    };
    note(
        "update user",
        spec::status(&api.update_user().id(id).body(rename).send().await),
    );
    for phone in &phones {
        let verified = UpdatePhoneRequest {
            is_primary: Some(true),
            is_verified: Some(true),
            ..Default::default()
        };
        let updated = api.update_phone().id(*phone).body(verified).send().await;
        note("update phone", spec::status(&updated));
    }
    let answer = app.send(&format!("+1201555{n:04}"), "hello").await;
    note("message", answer.status);
    if let Some(phone) = phones.first().filter(|_| n.is_multiple_of(3)) {
        note(
            "delete phone",
            spec::status(&api.delete_phone().id(*phone).send().await),
        );
    }
    if n.is_multiple_of(5) {
        note("delete user", spec::status(&api.delete_user().id(id).send().await));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_clients_writing_at_once_get_no_5xx_and_the_rows_agree() {
    let app = spawn_app_with(&[("SMS_ROUTER_AGENT_TIMEOUT_MS", "10000")]).await;
    let app = &app;

    let seen: Vec<(String, u16)> = futures_util::future::join_all((0..30).map(|n| one_client(app, n)))
        .await
        .into_iter()
        .flatten()
        .collect();

    let failed: Vec<_> = seen.iter().filter(|(_, status)| *status >= 500).collect();
    assert!(
        failed.is_empty(),
        "{} of {} answers were 5xx: {failed:?}",
        failed.len(),
        seen.len()
    );
    let shared: Vec<_> = seen
        .iter()
        .filter(|(what, _)| what.ends_with("add the shared number"))
        .map(|(_, status)| *status)
        .collect();
    // A winner deleted with its user frees the number for a later client.
    assert!(shared.contains(&201), "{shared:?}");
    assert!(shared.iter().all(|s| [201, 409].contains(s)), "{shared:?}");

    let db = app.db();
    let users: i64 = db.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(users, 30 - 6, "six users were deleted");
    let orphans: i64 = db
        .query_row(
            "SELECT count(*) FROM user_phone_mappings WHERE user_id NOT IN (SELECT id FROM users)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    let two_primaries: i64 = db
        .query_row(
            "SELECT count(*) FROM (SELECT user_id FROM user_phone_mappings WHERE is_primary
             GROUP BY user_id HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(two_primaries, 0, "a user has two primary extra numbers");
    let renamed: HashSet<String> = db
        .prepare("SELECT full_name FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(renamed.iter().all(|name| name.ends_with("renamed")), "{renamed:?}");
    let messages: i64 = db
        .query_row(
            "SELECT count(*) FROM sms_usage_logs WHERE direction = 'inbound' AND outcome IN ('routed', 'inactive_user')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(messages, 30);
}
