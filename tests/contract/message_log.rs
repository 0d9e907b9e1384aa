//! The usage log as the record of which messages were seen: one claim per
//! message sid, settled once; and, on PostgreSQL, across instances.

use sms_router::domain::message::{MessageSid, RequestId, Sender};
use sms_router::domain::usage::{InboundClaim, InboundRecord, OutboundRecord, Outcome, TextShape};
use sms_router::ports::{Claim, ClaimId};

use crate::{Store, for_each_store, number};

pub fn claim_of(sid: &str) -> InboundClaim {
    InboundClaim {
        sid: MessageSid::parse(sid).unwrap(),
        from: Sender::Number(number("+12015550101")),
        shape: TextShape { length: 5, segments: 1 },
    }
}

pub fn record(outcome: Outcome) -> InboundRecord {
    InboundRecord {
        outcome,
        user_id: None,
        error: None,
        processing_ms: 12,
        to: Some("+15005550006".into()),
        num_media: 0,
        request_id: RequestId("req-1".into()),
        deferred: false,
    }
}

pub fn reply() -> OutboundRecord {
    OutboundRecord {
        user_id: None,
        to: Sender::Number(number("+12015550101")),
        shape: TextShape { length: 3, segments: 1 },
        media: 0,
    }
}

fn new_id(claim: Claim) -> ClaimId {
    match claim {
        Claim::New(id) => id,
        other => panic!("{other:?}"),
    }
}

async fn a_message_sid_is_claimed_once(store: impl Store) {
    let first = store.claim(&claim_of("SM1")).await.unwrap();
    let again = store.claim(&claim_of("SM1")).await.unwrap();

    new_id(first);
    assert_eq!(again, Claim::Seen);
}

async fn concurrent_claims_of_one_sid_give_one_new(store: impl Store) {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim(&claim_of("SM2")).await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        new += usize::from(matches!(task.await.unwrap(), Claim::New(_)));
    }
    assert_eq!(new, 1);
}

async fn a_released_claim_is_new_again(store: impl Store) {
    let id = new_id(store.claim(&claim_of("SM3")).await.unwrap());

    store.release(id).await.unwrap();

    new_id(store.claim(&claim_of("SM3")).await.unwrap());
}

async fn a_settled_message_is_not_released_nor_settled_again(store: impl Store) {
    let id = new_id(store.claim(&claim_of("SM4")).await.unwrap());

    store.settle(id, record(Outcome::Routed), vec![reply()]).await.unwrap();
    store
        .settle(id, record(Outcome::AgentError), vec![reply()])
        .await
        .unwrap();
    store.release(id).await.unwrap();

    assert_eq!(store.claim(&claim_of("SM4")).await.unwrap(), Claim::Seen);
}

async fn many_writes_at_once_are_each_answered(store: impl Store) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = new_id(store.claim(&claim_of(&format!("SMmany{i}"))).await.unwrap());
                store.settle(id, record(Outcome::Routed), vec![reply()]).await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

for_each_store!(
    a_message_sid_is_claimed_once,
    concurrent_claims_of_one_sid_give_one_new,
    a_released_claim_is_new_again,
    a_settled_message_is_not_released_nor_settled_again,
    many_writes_at_once_are_each_answered,
);

/// Several instances on one PostgreSQL database.
mod across_instances {
    use sms_router::adapters::postgres::PgStore;
    use sms_router::ports::{Claim, MessageLog};

    use super::{claim_of, new_id};
    use crate::postgres_cluster::fresh_database;

    #[tokio::test]
    async fn the_sender_of_a_deferred_reply_left_by_a_dead_instance_is_told_once() {
        let Some(url) = fresh_database().await else { return };
        let dead = PgStore::connect(&url).await.unwrap();
        let other = PgStore::connect(&url).await.unwrap();
        let id = new_id(dead.claim(&claim_of("SMdeferred")).await.unwrap());
        dead.defer(id).await.unwrap();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .execute(
                "UPDATE sms_instances SET heartbeat_at = now() - interval '1 minute' WHERE id = $1",
                &[&dead.instance()],
            )
            .await
            .unwrap();

        let first = other.interrupt_unfinished(vec!["Sorry.".into()]).await.unwrap();
        let again = other.interrupt_unfinished(vec!["Sorry.".into()]).await.unwrap();

        assert_eq!((first.messages, first.told), (1, 1));
        assert_eq!((again.messages, again.told), (0, 0));
        let queued: Vec<String> = client
            .query("SELECT body FROM sms_outbox", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(queued, ["Sorry."]);
        // Twilio's retry reaching another instance is a plain duplicate now:
        // its sender was told through the outbox.
        assert_eq!(other.claim(&claim_of("SMdeferred")).await.unwrap(), Claim::Seen);
    }

    #[tokio::test]
    async fn three_instances_claim_a_sid_once() {
        let Some(url) = fresh_database().await else { return };
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(PgStore::connect(&url).await.unwrap());
        }
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = instances[i % 3].clone();
                tokio::spawn(async move { store.claim(&claim_of("SMshared")).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for task in tasks {
            new += usize::from(matches!(task.await.unwrap(), Claim::New(_)));
        }
        assert_eq!(new, 1);
    }

    #[tokio::test]
    async fn a_live_instances_claims_are_left_alone_and_a_dead_ones_are_interrupted() {
        let Some(url) = fresh_database().await else { return };
        let live = PgStore::connect(&url).await.unwrap();
        let dead = PgStore::connect(&url).await.unwrap();
        let starting = PgStore::connect(&url).await.unwrap();
        new_id(live.claim(&claim_of("SMlive")).await.unwrap());
        new_id(dead.claim(&claim_of("SMdead")).await.unwrap());
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .execute(
                "UPDATE sms_instances SET heartbeat_at = now() - interval '1 minute' WHERE id = $1",
                &[&dead.instance()],
            )
            .await
            .unwrap();
        live.heartbeat().await.unwrap();

        let found = starting.interrupt_unfinished(Vec::new()).await.unwrap();

        assert_eq!(found.messages, 1);
        assert!(matches!(live.claim(&claim_of("SMlive")).await.unwrap(), Claim::Seen));
        assert!(matches!(
            starting.claim(&claim_of("SMdead")).await.unwrap(),
            Claim::Interrupted(_)
        ));
    }
}
