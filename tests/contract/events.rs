//! Events for the agents: queued once per key, taken under a lease, closed
//! once; a reply's final status queues its event with the status, once.

use std::time::Duration;

use sms_router::domain::delivery::{DeliveryReport, DeliveryStatus, Recorded};
use sms_router::domain::events::{AgentEvent, EventKind};
use sms_router::domain::message::MessageSid;
use sms_router::ports::{EventEnd, NewOutboxItem};

use crate::outbox::item;
use crate::{Store, add_user, for_each_store, number};

const LEASE: Duration = Duration::from_secs(60);

fn sid(s: &str) -> MessageSid {
    MessageSid::parse(s).unwrap()
}

async fn an_event_is_queued_once_taken_once_and_closed(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    let event = AgentEvent::of_opt_change(true, ada.id, &number("+12015550101"), &sid("SMstop"));

    store.queue_event(&event).await.unwrap();
    store.queue_event(&event).await.unwrap();
    let taken = store.take_event(LEASE).await.unwrap().expect("an event due");
    let leased = store.take_event(LEASE).await.unwrap();
    store
        .end_event(taken.id, EventEnd::RetryAfter(Duration::ZERO, "down".into()))
        .await
        .unwrap();
    let again = store.take_event(LEASE).await.unwrap().expect("due again");
    store.end_event(again.id, EventEnd::Delivered).await.unwrap();
    let after = store.take_event(LEASE).await.unwrap();

    assert_eq!(taken.event, event);
    assert_eq!(taken.attempts, 1);
    assert!(leased.is_none(), "one event, leased to its first taker");
    assert_eq!((again.id, again.attempts), (taken.id, 2));
    assert!(after.is_none(), "delivered: never taken again");
    assert!(taken.occurred_at.ends_with('Z'), "{}", taken.occurred_at);
}

/// Ada's late reply to `SMquestion`, sent as `SMreply`.
async fn late_reply_sent(store: &impl Store) -> sms_router::domain::user::User {
    let ada = add_user(store, "Ada", "+12015550101").await;
    store
        .enqueue(vec![NewOutboxItem {
            user_id: Some(ada.id),
            in_reply_to: Some(sid("SMquestion")),
            ..item("+12015550101", "the late reply")
        }])
        .await
        .unwrap();
    let due = store.take_next().await.unwrap().unwrap();
    store.mark_sent(&due.item, "SMreply").await.unwrap();
    ada
}

async fn a_replys_final_status_queues_its_event_once(store: impl Store) {
    let ada = late_reply_sent(&store).await;
    let report = |status, code| DeliveryReport {
        sid: sid("SMreply"),
        status,
        error_code: code,
        to: None,
    };

    let sent = store
        .record_delivery(&report(DeliveryStatus::Sent, None), true)
        .await
        .unwrap();
    let nothing_yet = store.take_event(LEASE).await.unwrap();
    let undelivered = store
        .record_delivery(&report(DeliveryStatus::Undelivered, Some(30007)), true)
        .await
        .unwrap();
    let again = store
        .record_delivery(&report(DeliveryStatus::Undelivered, Some(30007)), true)
        .await
        .unwrap();
    let event = store.take_event(LEASE).await.unwrap().expect("the undelivered event");
    store.end_event(event.id, EventEnd::Delivered).await.unwrap();
    let no_second = store.take_event(LEASE).await.unwrap();

    assert_eq!(
        (sent, undelivered, again),
        (Recorded::Applied, Recorded::Applied, Recorded::Stale)
    );
    assert!(nothing_yet.is_none(), "`sent` is on the way: no event");
    assert_eq!(event.event.kind, EventKind::ReplyUndelivered);
    assert_eq!(event.event.user_id, ada.id);
    assert_eq!(event.event.message_sid, Some(sid("SMquestion")));
    assert_eq!(event.event.reply_sid.as_deref(), Some("SMreply"));
    assert_eq!(
        (event.event.status, event.event.error_code),
        (Some("undelivered"), Some(30007))
    );
    assert!(no_second.is_none());
}

async fn without_events_a_status_queues_nothing(store: impl Store) {
    late_reply_sent(&store).await;

    let recorded = store
        .record_delivery(
            &DeliveryReport {
                sid: sid("SMreply"),
                status: DeliveryStatus::Delivered,
                error_code: None,
                to: None,
            },
            false,
        )
        .await
        .unwrap();

    assert_eq!(recorded, Recorded::Applied);
    assert!(store.take_event(LEASE).await.unwrap().is_none());
}

for_each_store!(
    an_event_is_queued_once_taken_once_and_closed,
    a_replys_final_status_queues_its_event_once,
    without_events_a_status_queues_nothing,
);
