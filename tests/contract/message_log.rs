//! The usage log as the record of which messages were seen: one claim per
//! message sid, settled once; and, on PostgreSQL, across instances.

use sms_router::domain::message::{MessageSid, RequestId, Sender};
use sms_router::domain::reply::{Reply, ReplyBudget};
use sms_router::domain::usage::{Answered, InboundClaim, InboundRecord, OutboundRecord, Outcome, TextShape};
use sms_router::ports::{Claim, ClaimId, KeptReply};

use crate::{Store, for_each_store, number};

pub fn claim_of(sid: &str) -> InboundClaim {
    InboundClaim {
        sid: MessageSid::parse(sid).unwrap(),
        from: Sender::Number(number("+12015550101")),
        shape: TextShape::of("hello"),
    }
}

pub fn record(outcome: Outcome) -> InboundRecord {
    InboundRecord {
        outcome,
        user_id: None,
        error: None,
        processing_ms: 12,
        router_ms: 5,
        agent_ms: Some(7),
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
        shape: TextShape::of("hi!"),
        media: 0,
    }
}

fn new_id(claim: Claim) -> ClaimId {
    match claim {
        Claim::New(id) => id,
        other => panic!("{other:?}"),
    }
}

/// A reply kept for retries until `until`.
fn kept(text: &str, until: chrono::DateTime<chrono::Utc>) -> KeptReply {
    KeptReply {
        reply: Reply::compose(text, ReplyBudget::messages(1)),
        until,
    }
}

fn in_ten_minutes() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::minutes(10)
}

async fn a_message_sid_is_claimed_once_and_a_retry_finds_its_answer(store: impl Store) {
    let first = store.claim(&claim_of("SM1")).await.unwrap();
    let id = new_id(first);
    let stands = store
        .settle(
            id,
            record(Outcome::Routed),
            vec![reply()],
            Some(kept("hi Ada", in_ten_minutes())),
        )
        .await
        .unwrap();
    let again = store.claim(&claim_of("SM1")).await.unwrap();

    assert!(stands);
    assert_eq!(
        again,
        Claim::Answered(Answered {
            outcome: Outcome::Routed,
            deferred: false,
            kept: Some(Reply::compose("hi Ada", ReplyBudget::messages(1))),
        })
    );
}

async fn a_reply_is_kept_only_until_its_time_and_then_erased(store: impl Store) {
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let id = new_id(store.claim(&claim_of("SMold")).await.unwrap());
    store
        .settle(id, record(Outcome::Routed), vec![reply()], Some(kept("old", past)))
        .await
        .unwrap();
    let id = new_id(store.claim(&claim_of("SMnew")).await.unwrap());
    store
        .settle(
            id,
            record(Outcome::Routed),
            vec![reply()],
            Some(kept("new", in_ten_minutes())),
        )
        .await
        .unwrap();

    let old = store.claim(&claim_of("SMold")).await.unwrap();
    let erased = store.forget_replies(chrono::Utc::now()).await.unwrap();
    let new = store.claim(&claim_of("SMnew")).await.unwrap();

    assert!(matches!(old, Claim::Answered(Answered { kept: None, .. })), "{old:?}");
    assert_eq!(erased, 1);
    assert!(
        matches!(new, Claim::Answered(Answered { kept: Some(_), .. })),
        "{new:?}"
    );
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

    let first = store
        .settle(id, record(Outcome::Routed), vec![reply()], None)
        .await
        .unwrap();
    let second = store
        .settle(id, record(Outcome::AgentError), vec![reply()], None)
        .await
        .unwrap();
    store.release(id).await.unwrap();

    assert!(first && second, "an answer recorded before stands");
    assert!(matches!(
        store.claim(&claim_of("SM4")).await.unwrap(),
        Claim::Answered(Answered {
            outcome: Outcome::Routed,
            ..
        })
    ));
}

/// A claim of this process that no delivery leads (the caller of `claim`
/// leads every delivery of its sid) was left by a delivery that failed:
/// taken over, its sender told once; the first delivery's answer, should it
/// come, no longer stands.
async fn a_claim_left_unled_is_taken_over_and_its_sender_told_once(store: impl Store) {
    let id = new_id(store.claim(&claim_of("SM5")).await.unwrap());

    let retry = store.claim(&claim_of("SM5")).await.unwrap();
    let told = store.tell_interrupted(id, vec![reply()]).await.unwrap();
    let told_again = store.tell_interrupted(id, vec![reply()]).await.unwrap();
    let late = store
        .settle(id, record(Outcome::Routed), vec![reply()], None)
        .await
        .unwrap();
    let later = store.claim(&claim_of("SM5")).await.unwrap();

    assert_eq!(retry, Claim::Interrupted(id));
    assert!(told && !told_again);
    assert!(!late, "a reply after the sender was told otherwise does not stand");
    assert_eq!(
        later,
        Claim::Answered(Answered {
            outcome: Outcome::Interrupted,
            deferred: false,
            kept: None,
        })
    );
}

/// Interrupted but not yet told, the first delivery's answer may still be
/// recorded: it stands, and the sender gets it.
async fn an_answer_for_a_claim_taken_over_but_untold_stands(store: impl Store) {
    let id = new_id(store.claim(&claim_of("SM6")).await.unwrap());
    assert_eq!(store.claim(&claim_of("SM6")).await.unwrap(), Claim::Interrupted(id));

    let stands = store
        .settle(id, record(Outcome::Routed), vec![reply()], None)
        .await
        .unwrap();
    let told = store.tell_interrupted(id, vec![reply()]).await.unwrap();

    assert!(stands);
    assert!(!told, "answered already");
}

async fn a_deferred_message_is_answered_empty_again(store: impl Store) {
    let id = new_id(store.claim(&claim_of("SM7")).await.unwrap());
    store.defer(id).await.unwrap();

    let retry = store.claim(&claim_of("SM7")).await.unwrap();

    assert!(
        matches!(retry, Claim::Answered(Answered { deferred: true, .. })),
        "{retry:?}"
    );
}

async fn many_writes_at_once_are_each_answered(store: impl Store) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = new_id(store.claim(&claim_of(&format!("SMmany{i}"))).await.unwrap());
                store
                    .settle(id, record(Outcome::Routed), vec![reply()], None)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

for_each_store!(
    a_message_sid_is_claimed_once_and_a_retry_finds_its_answer,
    a_reply_is_kept_only_until_its_time_and_then_erased,
    concurrent_claims_of_one_sid_give_one_new,
    a_released_claim_is_new_again,
    a_settled_message_is_not_released_nor_settled_again,
    a_claim_left_unled_is_taken_over_and_its_sender_told_once,
    an_answer_for_a_claim_taken_over_but_untold_stands,
    a_deferred_message_is_answered_empty_again,
    many_writes_at_once_are_each_answered,
);

/// Several instances on one PostgreSQL database.
mod across_instances {
    use sms_router::adapters::postgres::PgStore;
    use sms_router::domain::usage::Answered;
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
        // Twilio's retry reaching another instance is answered empty: its
        // sender was told through the outbox.
        assert!(matches!(
            other.claim(&claim_of("SMdeferred")).await.unwrap(),
            Claim::Answered(Answered { deferred: true, .. })
        ));
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
        assert_eq!(starting.claim(&claim_of("SMlive")).await.unwrap(), Claim::Open);
        assert!(matches!(
            starting.claim(&claim_of("SMdead")).await.unwrap(),
            Claim::Interrupted(_)
        ));
    }
}

/// An instance's death, and its claims, across instances.
mod deaths {
    use sms_router::adapters::postgres::PgStore;
    use sms_router::ports::{Claim, MessageLog};

    use super::{claim_of, new_id};
    use crate::postgres_cluster::fresh_database;

    /// Known at once when its life line goes, not after its lease: the
    /// retry reaching another instance takes the claim over.
    #[tokio::test]
    async fn a_claim_of_an_instance_that_died_is_taken_over_by_the_next_claim_at_once() {
        let Some(url) = fresh_database().await else { return };
        let doomed = PgStore::connect(&url).await.unwrap();
        let other = PgStore::connect(&url).await.unwrap();
        let id = new_id(doomed.claim(&claim_of("SMdoomed")).await.unwrap());
        assert_eq!(other.claim(&claim_of("SMdoomed")).await.unwrap(), Claim::Open);

        doomed.close();
        // The database frees the lock as soon as it sees the socket close.
        let retry = crate::wait::found("the claim to be taken over", async || {
            let claim = other.claim(&claim_of("SMdoomed")).await.unwrap();
            (claim != Claim::Open).then_some(claim)
        })
        .await;

        assert_eq!(retry, Claim::Interrupted(id));
    }

    /// An instance starting after its predecessor died (a restart) takes
    /// over what it left before it serves, without waiting for the lease.
    #[tokio::test]
    async fn a_new_instance_takes_over_what_a_dead_one_left() {
        let Some(url) = fresh_database().await else { return };
        let doomed = PgStore::connect(&url).await.unwrap();
        new_id(doomed.claim(&claim_of("SMleft")).await.unwrap());
        doomed.close();

        let restarted = PgStore::connect(&url).await.unwrap();
        let found = crate::wait::found("the dead instance's claim to be taken over", async || {
            let found = restarted.interrupt_unfinished(Vec::new()).await.unwrap();
            (found.messages > 0).then_some(found)
        })
        .await;

        assert_eq!(found.messages, 1);
        assert!(matches!(
            restarted.claim(&claim_of("SMleft")).await.unwrap(),
            Claim::Interrupted(_)
        ));
    }
}
