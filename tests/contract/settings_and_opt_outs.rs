//! Stored settings and opted-out numbers.

use sms_router::domain::settings::SettingKey;
use sms_router::ports::PageRequest;

use crate::{Store, for_each_store, number};

async fn a_setting_is_stored_kept_and_restored(store: impl Store) {
    assert!(store.stored().await.unwrap().is_empty());

    let first = store
        .put(SettingKey::MaxReplyMessages, "3", Some("long answers"))
        .await
        .unwrap();
    let second = store.put(SettingKey::MaxReplyMessages, "2", None).await.unwrap();

    assert_eq!(first.value, "3");
    assert_eq!(second.value, "2");
    assert_eq!(
        second.description.as_deref(),
        Some("long answers"),
        "a description left out stays"
    );
    assert_eq!(store.current().await.unwrap().max_reply_messages, 2);
    assert!(store.delete(SettingKey::MaxReplyMessages).await.unwrap());
    assert!(!store.delete(SettingKey::MaxReplyMessages).await.unwrap());
    assert!(store.stored().await.unwrap().is_empty());
}

async fn opting_out_twice_is_one_opt_out_and_opting_in_ends_it(store: impl Store) {
    let ada = number("+12015550101");

    store.opt_out(&ada).await.unwrap();
    store.opt_out(&ada).await.unwrap();
    store.opt_out(&number("+12015550102")).await.unwrap();

    assert!(store.is_opted_out(&ada).await.unwrap());
    let all = store.list(PageRequest { after: None, limit: 50 }).await.unwrap();
    assert_eq!(
        all.items.iter().map(|o| o.phone_number.as_str()).collect::<Vec<_>>(),
        ["+12015550101", "+12015550102"]
    );
    assert!(all.items[0].opted_out_at.ends_with('Z'));
    store.opt_in(&ada).await.unwrap();
    store.opt_in(&ada).await.unwrap();
    assert!(!store.is_opted_out(&ada).await.unwrap());
}

async fn opt_outs_page_oldest_first(store: impl Store) {
    for i in 0..5 {
        store.opt_out(&number(&format!("+1201555030{i}"))).await.unwrap();
    }
    let first = store.list(PageRequest { after: None, limit: 2 }).await.unwrap();
    let second = store
        .list(PageRequest {
            after: first.next_after,
            limit: 10,
        })
        .await
        .unwrap();

    assert_eq!(first.items.len(), 2);
    assert_eq!(second.items.len(), 3);
    assert_eq!(second.next_after, None);
    assert_eq!(first.items[0].phone_number, "+12015550300");
    assert_eq!(second.items[2].phone_number, "+12015550304");
}

for_each_store!(
    a_setting_is_stored_kept_and_restored,
    opting_out_twice_is_one_opt_out_and_opting_in_ends_it,
    opt_outs_page_oldest_first,
);
