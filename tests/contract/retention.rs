//! The usage log's retention: rows before a moment deleted in batches, the
//! oldest first; a message still being answered never.

use chrono::{Duration, Utc};
use sms_router::domain::usage::Outcome;
use sms_router::ports::Claim;

use crate::message_log::{claim_of, record};
use crate::{Store, for_each_store};

async fn settled(store: &impl Store, count: usize) {
    for i in 0..count {
        let Claim::New(id) = store.claim(&claim_of(&format!("SMret{i}"))).await.unwrap() else {
            panic!("claimed before");
        };
        store
            .settle(id, record(Outcome::Routed), Vec::new(), None)
            .await
            .unwrap();
    }
}

async fn rows_before_the_cutoff_go_in_batches_and_later_ones_stay(store: impl Store) {
    settled(&store, 25).await;
    store.claim(&claim_of("SMstillprocessing")).await.unwrap();
    let past = Utc::now() - Duration::days(1);
    let future = Utc::now() + Duration::days(1);

    let none = store.purge_before(past, 10).await.unwrap();
    let counted = store.count_before(future).await.unwrap();
    let batches = [
        store.purge_before(future, 10).await.unwrap(),
        store.purge_before(future, 10).await.unwrap(),
        store.purge_before(future, 10).await.unwrap(),
        store.purge_before(future, 10).await.unwrap(),
    ];

    assert_eq!(none, 0);
    assert_eq!(counted, 26);
    assert_eq!(batches, [10, 10, 5, 0], "the claim being answered stays");
    assert_eq!(store.count_before(future).await.unwrap(), 1);
}

/// The agents' events closed before the cutoff go with the rows; one
/// still to be sent stays.
async fn closed_events_go_with_the_rows(store: impl Store) {
    use sms_router::domain::events::AgentEvent;
    use sms_router::ports::EventEnd;

    let ada = crate::add_user(&store, "Ada", "+12015550101").await;
    let event = |sid: &str| {
        let sid = sms_router::domain::message::MessageSid::parse(sid).unwrap();
        AgentEvent::of_opt_change(true, ada.id, &crate::number("+12015550101"), &sid)
    };
    let lease = std::time::Duration::from_secs(60);
    store.queue_event(&event("SMsent")).await.unwrap();
    let sent = store.take_event(lease).await.unwrap().unwrap();
    store.end_event(sent.id, EventEnd::Delivered).await.unwrap();
    store.queue_event(&event("SMpending")).await.unwrap();

    store.purge_before(Utc::now() + Duration::days(1), 10).await.unwrap();
    // Its key forgotten, the sent one can be queued again.
    store.queue_event(&event("SMsent")).await.unwrap();
    let mut left = Vec::new();
    while let Some(taken) = store.take_event(lease).await.unwrap() {
        left.push(taken.event.key);
    }

    left.sort();
    assert_eq!(left, ["opt_out:SMpending", "opt_out:SMsent"]);
}

/// The sids of the sender's rows, newest first.
async fn listed(store: &impl Store) -> Vec<String> {
    use sms_router::domain::report::UsageFilter;
    use sms_router::ports::PageRequest;

    let filter = UsageFilter {
        phone_number: Some(crate::number("+12015550101")),
        ..UsageFilter::default()
    };
    let page = store
        .list_usage_logs(filter, PageRequest { after: None, limit: 50 })
        .await
        .unwrap();
    page.items.iter().map(|e| e.message_sid.clone().unwrap()).collect()
}

/// Filtered by number, the log shows the rows left, and after it was
/// emptied, the rows written since (on SQLite they take the purged rows'
/// ids again).
async fn a_number_shows_what_is_left_and_what_came_after(store: impl Store) {
    settled(&store, 3).await;
    assert_eq!(listed(&store).await, ["SMret2", "SMret1", "SMret0"]);

    let future = Utc::now() + Duration::days(1);
    while store.purge_before(future, 2).await.unwrap() > 0 {}
    assert!(listed(&store).await.is_empty());
    for sid in ["SMafter0", "SMafter1"] {
        let Claim::New(id) = store.claim(&claim_of(sid)).await.unwrap() else {
            panic!("claimed before");
        };
        store
            .settle(id, record(Outcome::Routed), Vec::new(), None)
            .await
            .unwrap();
    }

    assert_eq!(listed(&store).await, ["SMafter1", "SMafter0"]);
}

for_each_store!(
    rows_before_the_cutoff_go_in_batches_and_later_ones_stay,
    a_number_shows_what_is_left_and_what_came_after,
    closed_events_go_with_the_rows,
);
