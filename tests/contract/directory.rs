//! Who owns a number, as the message path asks, and the version every
//! change bumps.

use sms_router::domain::settings::SettingKey;
use sms_router::domain::user::{NumberSource, PhonePatch, UserPatch};

use crate::{Store, add_phone, add_user, for_each_store, number};

async fn a_recipient_is_found_by_primary_or_extra_number(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    let extra = add_phone(&store, &ada, "+12015550102", false).await;

    let primary = store.recipient(&number("+12015550101")).await.unwrap().unwrap();
    let mapped = store.recipient(&number("+12015550102")).await.unwrap().unwrap();
    let nobody = store.recipient(&number("+12015550103")).await.unwrap();

    assert_eq!(
        (primary.user_id, primary.source, primary.verified),
        (ada.id, NumberSource::Primary, true)
    );
    assert_eq!(
        (mapped.user_id, mapped.source, mapped.verified),
        (ada.id, NumberSource::Mapping, false)
    );
    assert!(primary.is_active);
    assert!(nobody.is_none());

    store
        .update_phone(
            extra.id,
            PhonePatch {
                is_verified: Some(true),
                ..PhonePatch::default()
            },
        )
        .await
        .unwrap();
    store
        .update_user(
            ada.id,
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    let mapped = store.recipient(&number("+12015550102")).await.unwrap().unwrap();
    assert!(mapped.verified);
    assert!(!mapped.is_active);
}

async fn every_change_the_caches_hold_bumps_the_version(store: impl Store) {
    let mut last = store.version().await.unwrap();
    let mut bumped = |now: i64, what: &str| {
        assert!(now > last, "{what} did not bump the version");
        last = now;
    };

    let ada = add_user(&store, "Ada", "+12015550101").await;
    bumped(store.version().await.unwrap(), "a new user");
    let extra = add_phone(&store, &ada, "+12015550102", false).await;
    bumped(store.version().await.unwrap(), "a new number");
    store.delete_phone(extra.id).await.unwrap();
    bumped(store.version().await.unwrap(), "a deleted number");
    store.put(SettingKey::HelpReply, "help!", None).await.unwrap();
    bumped(store.version().await.unwrap(), "a setting");
    store.opt_out(&number("+12015550109")).await.unwrap();
    bumped(store.version().await.unwrap(), "an opt-out");
    store.opt_in(&number("+12015550109")).await.unwrap();
    bumped(store.version().await.unwrap(), "an opt-in");
    store.delete_user(ada.id).await.unwrap();
    bumped(store.version().await.unwrap(), "a deleted user");
}

for_each_store!(
    a_recipient_is_found_by_primary_or_extra_number,
    every_change_the_caches_hold_bumps_the_version,
);
