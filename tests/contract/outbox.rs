//! The outbox: each message taken once, its result written once; and, on
//! PostgreSQL, an item held by an instance that died resolved by another.

use std::collections::HashSet;
use std::time::Duration;

use sms_router::domain::delivery::{DeliveryReport, DeliveryStatus, Recorded};
use sms_router::domain::message::MessageSid;
use sms_router::domain::report::{Direction, UsageFilter};
use sms_router::domain::usage::Outcome;
use sms_router::ports::{Backlog, NewOutboxItem, OutboxStatus, PageRequest};

use crate::{Store, for_each_store, number};

pub fn item(to: &str, body: &str) -> NewOutboxItem {
    NewOutboxItem {
        user_id: None,
        to: number(to),
        body: body.into(),
        media: Vec::new(),
        outcome: Outcome::Proactive,
        request_id: None,
        in_reply_to: None,
    }
}

const PAGE: PageRequest = PageRequest {
    after: None,
    limit: 100,
};

async fn outbound_rows(store: &impl Store) -> Vec<sms_router::domain::report::UsageLogEntry> {
    let filter = UsageFilter {
        direction: Some(Direction::Outbound),
        ..UsageFilter::default()
    };
    store.list_usage_logs(filter, PAGE).await.unwrap().items
}

async fn messages_are_taken_in_order_and_each_once(store: impl Store) {
    let queued = store
        .enqueue(vec![item("+12015550101", "one"), item("+12015550102", "two")])
        .await
        .unwrap();
    assert_eq!(queued.len(), 2);
    assert!(queued.iter().all(|e| e.status == OutboxStatus::Pending));

    let first = store.take_next().await.unwrap().unwrap();
    let second = store.take_next().await.unwrap().unwrap();
    let none = store.take_next().await.unwrap();

    assert_eq!(first.item.body, "one");
    assert_eq!(second.item.body, "two");
    assert!(none.is_none());
    assert!(!first.recipient_opted_out);
}

async fn a_result_is_written_once(store: impl Store) {
    store.enqueue(vec![item("+12015550101", "hello")]).await.unwrap();
    let due = store.take_next().await.unwrap().unwrap();

    store.mark_sent(&due.item, "SMsent1").await.unwrap();
    store.mark_sent(&due.item, "SMsent1").await.unwrap();
    store
        .give_up(&due.item, OutboxStatus::Failed, "too late", None)
        .await
        .unwrap();

    let rows = outbound_rows(&store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].message_sid.as_deref(), Some("SMsent1"));
    assert!(rows[0].success);
    assert_eq!(rows[0].message_length, 5);
}

async fn a_message_put_back_is_taken_again_when_due(store: impl Store) {
    store.enqueue(vec![item("+12015550101", "retry me")]).await.unwrap();
    let due = store.take_next().await.unwrap().unwrap();

    store
        .retry_later(&due.item, Duration::from_secs(3600), "busy")
        .await
        .unwrap();
    assert!(store.take_next().await.unwrap().is_none(), "not due for an hour");
    store.enqueue(vec![item("+12015550102", "now")]).await.unwrap();
    let other = store.take_next().await.unwrap().unwrap();
    assert_eq!(other.item.body, "now");

    store.enqueue(vec![item("+12015550103", "soon")]).await.unwrap();
    let soon = store.take_next().await.unwrap().unwrap();
    store.retry_later(&soon.item, Duration::ZERO, "busy").await.unwrap();
    let again = store.take_next().await.unwrap().unwrap();
    assert_eq!((again.item.body.as_str(), again.item.attempts), ("soon", 1));
}

async fn a_message_to_an_opted_out_number_says_so_when_taken(store: impl Store) {
    store.enqueue(vec![item("+12015550101", "hi")]).await.unwrap();
    store.opt_out(&number("+12015550101")).await.unwrap();

    let due = store.take_next().await.unwrap().unwrap();

    assert!(due.recipient_opted_out);
    store
        .give_up(&due.item, OutboxStatus::Failed, "opted out", Some(21610))
        .await
        .unwrap();
    let rows = outbound_rows(&store).await;
    assert_eq!(
        (rows.len(), rows[0].success, rows[0].error_code),
        (1, false, Some(21610))
    );
}

async fn files_and_the_request_queued_with_a_message_come_back_when_it_is_taken(store: impl Store) {
    let media = vec![
        sms_router::domain::message::MediaLink::parse("https://example.com/a.png").unwrap(),
        sms_router::domain::message::MediaLink::parse("https://example.com/b.png").unwrap(),
    ];
    let mut with_files = item("+12015550101", "");
    with_files.media = media.clone();
    with_files.request_id = Some(sms_router::domain::message::RequestId("req-1".into()));
    store
        .enqueue(vec![with_files, item("+12015550102", "none")])
        .await
        .unwrap();

    let first = store.take_next().await.unwrap().unwrap();
    let second = store.take_next().await.unwrap().unwrap();

    assert_eq!(first.item.media, media);
    assert!(second.item.media.is_empty());
    assert_eq!(first.item.request_id.map(|id| id.0).as_deref(), Some("req-1"));
    assert_eq!(second.item.request_id, None);
}

async fn concurrent_workers_take_each_message_once(store: impl Store) {
    let items = (0..30).map(|i| item("+12015550101", &format!("m{i}"))).collect();
    store.enqueue(items).await.unwrap();

    let workers: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut taken = Vec::new();
                while let Some(due) = store.take_next().await.unwrap() {
                    taken.push(due.item.body.clone());
                    store
                        .mark_sent(&due.item, &format!("SM{}", due.item.id.0))
                        .await
                        .unwrap();
                }
                taken
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }

    assert_eq!(all.len(), 30);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 30);
    assert_eq!(outbound_rows(&store).await.len(), 30);
}

async fn delivery_statuses_only_move_forward(store: impl Store) {
    store.enqueue(vec![item("+12015550101", "hi")]).await.unwrap();
    let due = store.take_next().await.unwrap().unwrap();
    store.mark_sent(&due.item, "SMdelivered").await.unwrap();
    let report = |status, code| DeliveryReport {
        sid: MessageSid::parse("SMdelivered").unwrap(),
        status,
        error_code: code,
        to: None,
    };

    let delivered = store
        .record_delivery(&report(DeliveryStatus::Delivered, None), true)
        .await
        .unwrap();
    let late = store
        .record_delivery(&report(DeliveryStatus::Sent, None), true)
        .await
        .unwrap();
    let unknown = store
        .record_delivery(
            &DeliveryReport {
                sid: MessageSid::parse("SMnobody").unwrap(),
                ..report(DeliveryStatus::Sent, None)
            },
            true,
        )
        .await
        .unwrap();

    assert_eq!(
        (delivered, late, unknown),
        (Recorded::Applied, Recorded::Stale, Recorded::UnknownMessage)
    );
    let rows = outbound_rows(&store).await;
    assert_eq!(rows[0].delivery_status, Some(DeliveryStatus::Delivered));
}

async fn the_backlog_counts_what_waits_and_knows_the_oldest_pending(store: impl Store) {
    assert_eq!(store.backlog().await.unwrap(), Backlog::default());
    store.enqueue(vec![item("+12015550101", "one")]).await.unwrap();
    store.enqueue(vec![item("+12015550102", "two")]).await.unwrap();

    let waiting = store.backlog().await.unwrap();
    store.take_next().await.unwrap().unwrap();
    let one_taken = store.backlog().await.unwrap();

    assert_eq!((waiting.pending, waiting.sending), (2, 0));
    let since = waiting.oldest_pending_since.expect("the oldest pending item's time");
    assert!((chrono::Utc::now() - since).num_seconds().abs() < 3600, "{since}");
    assert_eq!((one_taken.pending, one_taken.sending), (1, 1));
    assert!(one_taken.oldest_pending_since >= waiting.oldest_pending_since);
}

for_each_store!(
    the_backlog_counts_what_waits_and_knows_the_oldest_pending,
    messages_are_taken_in_order_and_each_once,
    a_result_is_written_once,
    a_message_put_back_is_taken_again_when_due,
    a_message_to_an_opted_out_number_says_so_when_taken,
    files_and_the_request_queued_with_a_message_come_back_when_it_is_taken,
    concurrent_workers_take_each_message_once,
    delivery_statuses_only_move_forward,
);

/// Several instances on one PostgreSQL database.
mod across_instances {
    use sms_router::adapters::postgres::PgStore;
    use sms_router::ports::{Outbox, UsageReports};

    use super::item;
    use crate::postgres_cluster::fresh_database;

    #[tokio::test]
    async fn an_item_held_by_a_dead_instance_is_resolved_unknown_by_another_and_a_live_ones_is_not() {
        let Some(url) = fresh_database().await else { return };
        let (dead, live, other) = (
            PgStore::connect(&url).await.unwrap(),
            PgStore::connect(&url).await.unwrap(),
            PgStore::connect(&url).await.unwrap(),
        );
        dead.enqueue(vec![item("+12015550101", "in flight")]).await.unwrap();
        let held_by_dead = dead.take_next().await.unwrap().unwrap();
        live.enqueue(vec![item("+12015550102", "in flight too")]).await.unwrap();
        let held_by_live = live.take_next().await.unwrap().unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .execute(
                "UPDATE sms_instances SET heartbeat_at = now() - interval '1 minute' WHERE id = $1",
                &[&dead.instance()],
            )
            .await
            .unwrap();

        let resolved = other.recover_interrupted().await.unwrap();

        assert_eq!(resolved, 1);
        // The dead instance's late answer changes nothing; the live one's counts.
        dead.mark_sent(&held_by_dead.item, "SMlate").await.unwrap();
        live.mark_sent(&held_by_live.item, "SMlive").await.unwrap();
        let rows = client
            .query("SELECT body, status FROM sms_outbox ORDER BY id", &[])
            .await
            .unwrap();
        let statuses: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
        assert_eq!(statuses, ["unknown", "sent"]);
        let logged = other
            .list_usage_logs(Default::default(), super::PAGE)
            .await
            .unwrap()
            .items;
        assert_eq!(logged.len(), 2, "one row each");
    }
}
