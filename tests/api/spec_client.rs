//! A client generated from `openapi/openapi.json` by progenitor drives the
//! running server through every operation: the spec is usable, not only valid.

use crate::helpers::spec::{Client, status_of, types};
use crate::helpers::{self, ADMIN_TOKEN, AUTH_TOKEN, WEBHOOK_PATH, spawn_app, twilio_signature};
use types::{
    AddPhoneRequest, ClearablePhoneField, ClearableUserField, CreateUserRequest, GroupByDto, LookupReason,
    NumberSourceDto, OutcomeDto, PutConfigRequest, TwilioWebhookFields, UpdatePhoneRequest, UpdateUserRequest,
    VerificationMethodDto,
};

fn client_for(app: &helpers::TestApp, token: Option<&str>) -> Client {
    helpers::spec::client(&format!("http://{}", app.address), token)
}

#[tokio::test]
async fn a_generated_client_drives_every_operation() {
    let app = spawn_app().await;
    let admin = client_for(&app, Some(ADMIN_TOKEN));

    // Users.
    let ada = admin
        .create_user()
        .body(CreateUserRequest {
            full_name: "Ada".into(),
            email: Some("ada@example.com".into()),
            phone_number: Some("(201) 555-0123".into()),
            is_active: None,
            agent_url: None,
            agent_token: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ada.phone_number.as_deref(), Some("+12015550123"));
    assert!(ada.is_active);
    let bob = admin
        .create_user()
        .body(CreateUserRequest::builder().full_name("Bob"))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        admin.get_user().id(ada.id).send().await.unwrap().into_inner().full_name,
        "Ada"
    );
    let page = admin.list_users().limit(1).send().await.unwrap().into_inner();
    assert_eq!(page.items.len(), 1);
    let rest = admin
        .list_users()
        .after(page.next_cursor.unwrap())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.items[0].id, bob.id);
    let found = admin
        .list_users()
        .phone_number("201-555-0123")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.items.len(), 1);
    let updated = admin
        .update_user()
        .id(ada.id)
        .body(UpdateUserRequest {
            email: Some(String::new()),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.email, None, "an empty string clears");
    let taken = admin
        .create_user()
        .body(
            CreateUserRequest::builder()
                .full_name("X")
                .phone_number(Some("+12015550123".to_owned())),
        )
        .send()
        .await;
    assert_eq!(status_of(taken), 409);
    let impossible = admin
        .create_user()
        .body(
            CreateUserRequest::builder()
                .full_name("X")
                .phone_number(Some("12".to_owned())),
        )
        .send()
        .await;
    assert_eq!(status_of(impossible), 422);

    // Extra numbers.
    let phone = admin
        .add_user_phone()
        .id(bob.id)
        .body(AddPhoneRequest {
            phone_number: "+1 201 555 0177".into(),
            is_primary: Some(true),
            is_verified: None,
            verification_method: Some(VerificationMethodDto::Manual),
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(phone.is_primary);
    let phone = admin
        .update_phone()
        .id(phone.id)
        .body(UpdatePhoneRequest {
            is_verified: Some(true),
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(phone.is_verified);
    // A generated client that cannot send `null` clears a field by naming it.
    let phone = admin
        .update_phone()
        .id(phone.id)
        .body(UpdatePhoneRequest {
            clear: vec![ClearablePhoneField::VerificationMethod],
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(phone.verification_method, None, "cleared by naming it");
    let cleared = admin
        .update_user()
        .id(bob.id)
        .body(UpdateUserRequest {
            clear: vec![ClearableUserField::Email],
            ..Default::default()
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cleared.email, None);
    let both = admin
        .update_user()
        .id(bob.id)
        .body(UpdateUserRequest {
            email: Some("bob@example.com".into()),
            clear: vec![ClearableUserField::Email],
            ..Default::default()
        })
        .send()
        .await;
    assert_eq!(status_of(both), 422, "set and cleared at once");
    assert_eq!(
        admin
            .list_user_phones()
            .id(bob.id)
            .send()
            .await
            .unwrap()
            .into_inner()
            .items
            .len(),
        1
    );

    // Lookup.
    let lookup = admin
        .lookup_number()
        .phone_number("2015550177")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (lookup.reason, lookup.source),
        (LookupReason::Routed, Some(NumberSourceDto::Mapping))
    );
    assert_eq!(lookup.user.map(|u| u.id), Some(bob.id));

    // Settings.
    let configs = admin.list_configs().send().await.unwrap().into_inner();
    assert_eq!(configs.items.len(), 10);
    let put = admin
        .put_config()
        .key("max_reply_messages")
        .body(PutConfigRequest {
            value: "2".into(),
            description: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(!put.is_default);
    assert_eq!(
        admin
            .get_config()
            .key("max_reply_messages")
            .send()
            .await
            .unwrap()
            .into_inner()
            .value,
        "2"
    );
    let bad = admin
        .put_config()
        .key("max_reply_messages")
        .body(PutConfigRequest::builder().value("99"))
        .send()
        .await;
    assert_eq!(status_of(bad), 422);
    admin.delete_config().key("max_reply_messages").send().await.unwrap();

    // The webhook, signed as Twilio signs.
    let fields = TwilioWebhookFields {
        message_sid: helpers::new_sid(),
        from: "+12015550123".into(),
        to: Some("+15005550006".into()),
        body: Some("hello".into()),
        account_sid: None,
        num_media: Some("0".into()),
        num_segments: None,
        opt_out_type: None,
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&serde_urlencoded::to_string(&fields).unwrap()).unwrap();
    let signature = twilio_signature(AUTH_TOKEN, &format!("http://{}{WEBHOOK_PATH}", app.address), &pairs);
    let sid = fields.message_sid.clone();
    let twiml = admin
        .receive_sms()
        .x_twilio_signature(signature)
        .body(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(twiml.status(), 200);
    assert_eq!(app.inbound_row(&sid).await.outcome, "routed");
    assert_eq!(app.agent.calls(), 1);
    let unsigned = TwilioWebhookFields::builder()
        .message_sid(helpers::new_sid())
        .from("+12015550123");
    assert_eq!(status_of(admin.receive_sms().body(unsigned).send().await), 403);

    // Reports.
    let logs = admin
        .list_usage_logs()
        .outcome(OutcomeDto::Routed)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(logs.items.len(), 2, "the inbound row and its reply");
    let summary = admin
        .get_usage_summary()
        .group_by(GroupByDto::User)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.totals.inbound, summary.totals.outbound), (1, 1));
    assert_eq!(summary.groups.len(), 1);
    assert!(
        admin
            .list_opt_outs()
            .send()
            .await
            .unwrap()
            .into_inner()
            .items
            .is_empty()
    );
    let not_opted_out = admin.clear_opt_out().phone_number("+12015550999").send().await;
    assert_eq!(status_of(not_opted_out), 404);

    // Deletions.
    admin.delete_phone().id(phone.id).send().await.unwrap();
    admin.delete_user().id(bob.id).send().await.unwrap();
    assert_eq!(status_of(admin.get_user().id(bob.id).send().await), 404);

    // Ops.
    assert_eq!(admin.healthz().send().await.unwrap().status(), 200);
    assert_eq!(admin.readyz().send().await.unwrap().status(), 200);
    assert_eq!(admin.metrics().send().await.unwrap().status(), 200);

    // Without the token.
    let anonymous = client_for(&app, None);
    assert_eq!(status_of(anonymous.list_users().send().await), 401);
}
