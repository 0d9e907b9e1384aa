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

for_each_store!(
    rows_before_the_cutoff_go_in_batches_and_later_ones_stay,
    closed_events_go_with_the_rows,
);
