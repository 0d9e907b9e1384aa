//! Unit tests of `events`: which statuses are told and how, and the sender
//! on the real store in memory with a scripted notifier.

use std::time::Duration;

use super::*;
use crate::domain::outbound::RetryPolicy;
use crate::domain::phone::Region;
use crate::domain::settings::SettingKey;
use crate::domain::user::{AgentEndpoint, AgentUrl, FullName, NewUser};
use crate::ports::{EventQueue, NotifyError, SettingsStore, UserRegistry};
use crate::testing::{ScriptedNotifier, TestStore, in_memory_store};

const ADA: &str = "+15550100001";

fn number(n: &str) -> PhoneNumber {
    PhoneNumber::parse(n, Region::default()).unwrap()
}

fn sid(s: &str) -> MessageSid {
    MessageSid::parse(s).unwrap()
}

fn report(status: DeliveryStatus, code: Option<i64>) -> DeliveryReport {
    DeliveryReport {
        sid: sid("SMreply1"),
        status,
        error_code: code,
        to: None,
    }
}

#[test]
fn only_final_statuses_are_told_and_21610_is_an_opt_out() {
    let kind = |status, code| {
        AgentEvent::of_delivery(&report(status, code), UserId(1), number(ADA), sid("SMin1")).map(|e| e.kind)
    };
    assert_eq!(kind(DeliveryStatus::Sent, None), None);
    assert_eq!(kind(DeliveryStatus::Queued, None), None);
    assert_eq!(kind(DeliveryStatus::Delivered, None), Some(EventKind::ReplyDelivered));
    assert_eq!(
        kind(DeliveryStatus::Undelivered, Some(30007)),
        Some(EventKind::ReplyUndelivered)
    );
    assert_eq!(kind(DeliveryStatus::Failed, Some(30008)), Some(EventKind::ReplyFailed));
    assert_eq!(
        kind(DeliveryStatus::Failed, Some(OPTED_OUT_CODE)),
        Some(EventKind::ReplyOptedOut)
    );
    let event = AgentEvent::of_delivery(
        &report(DeliveryStatus::Undelivered, Some(30007)),
        UserId(1),
        number(ADA),
        sid("SMin1"),
    )
    .unwrap();
    assert_eq!(event.key, "delivery:SMreply1:undelivered");
    assert_eq!(event.category().map(|c| c.0), Some("carrier_filtered"));
    assert_eq!(event.message_sid, Some(sid("SMin1")));
}

#[test]
fn every_kind_reads_back_by_its_name() {
    for kind in EventKind::ALL {
        assert_eq!(EventKind::parse(kind.name()), Some(kind));
    }
    assert_eq!(failure_category(99999).0, "unknown");
}

struct World {
    store: TestStore,
    _dir: tempfile::TempDir,
    notifier: ScriptedNotifier,
    sender: EventSender<TestStore, ScriptedNotifier>,
}

/// Retries with no pause: a retried event is due again at once.
const AT_ONCE: RetryPolicy = RetryPolicy {
    first_delay: Duration::ZERO,
    max_delay: Duration::ZERO,
    max_attempts: 3,
};

async fn world() -> World {
    let (store, dir) = in_memory_store();
    store.put(SettingKey::AgentEvents, "true", None).await.unwrap();
    let notifier = ScriptedNotifier::default();
    let sender = EventSender::new(store.clone(), notifier.clone(), AT_ONCE);
    World {
        store,
        _dir: dir,
        notifier,
        sender,
    }
}

async fn add_user(store: &TestStore, name: &str, phone: &str, agent: Option<&str>) -> UserId {
    store
        .create_user(NewUser {
            full_name: FullName::parse(name).unwrap(),
            email: None,
            phone_number: Some(number(phone)),
            is_active: true,
            agent: agent.map(|url| AgentEndpoint {
                url: AgentUrl::parse(url).unwrap(),
                token: None,
            }),
        })
        .await
        .unwrap()
        .id
}

fn opted_out(user: UserId, phone: &str, message: &str) -> AgentEvent {
    AgentEvent::of_opt_change(true, user, &number(phone), &sid(message))
}

#[tokio::test]
async fn an_event_is_queued_once_per_key_and_sent_once() {
    let w = world().await;
    let ada = add_user(&w.store, "Ada", ADA, None).await;

    w.store.queue_event(&opted_out(ada, ADA, "SM1")).await.unwrap();
    w.store.queue_event(&opted_out(ada, ADA, "SM1")).await.unwrap();
    while w.sender.send_next().await.unwrap() {}

    let told = w.notifier.told();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0, None, "the service's own agent");
    assert_eq!(told[0].1.event.kind, EventKind::NumberOptedOut);
    assert_eq!(told[0].1.event.key, "opt_out:SM1");
}

#[tokio::test]
async fn a_failed_send_is_tried_again_until_no_attempt_is_left() {
    let w = world().await;
    let ada = add_user(&w.store, "Ada", ADA, None).await;
    let down = || Err(NotifyError::Failed("down".into()));
    w.notifier.answers([down(), down(), down()]);
    w.store.queue_event(&opted_out(ada, ADA, "SM1")).await.unwrap();

    while w.sender.send_next().await.unwrap() {}

    let attempts: Vec<u32> = w.notifier.told().into_iter().map(|(_, q)| q.attempts).collect();
    assert_eq!(attempts, [1, 2, 3], "tried three times, then given up");
    assert!(w.store.take_event(EVENT_LEASE).await.unwrap().is_none());
}

#[tokio::test]
async fn an_agent_that_answers_404_is_not_asked_again() {
    let w = world().await;
    let ada = add_user(&w.store, "Ada", ADA, Some("https://ada.example/agent")).await;
    let bob = add_user(&w.store, "Bob", "+15550100009", None).await;
    w.notifier.answers([Err(NotifyError::NotWanted)]);
    for n in 1..=3 {
        w.store
            .queue_event(&opted_out(ada, ADA, &format!("SMa{n}")))
            .await
            .unwrap();
    }
    w.store
        .queue_event(&opted_out(bob, "+15550100009", "SMb1"))
        .await
        .unwrap();

    while w.sender.send_next().await.unwrap() {}

    let told: Vec<(bool, String)> = w
        .notifier
        .told()
        .into_iter()
        .map(|(agent, q)| (agent.is_some(), q.event.key))
        .collect();
    assert_eq!(
        told,
        [(true, "opt_out:SMa1".to_owned()), (false, "opt_out:SMb1".to_owned())],
        "Ada's agent asked once, Bob's (the service's) still"
    );
}

#[tokio::test]
async fn an_event_never_goes_to_another_users_agent_nor_when_turned_off() {
    let w = world().await;
    let ada = add_user(&w.store, "Ada", ADA, None).await;
    // The event names Ada, but the number is now Bob's.
    let bob = add_user(&w.store, "Bob", "+15550100009", None).await;
    w.store
        .queue_event(&opted_out(ada, "+15550100009", "SM1"))
        .await
        .unwrap();
    while w.sender.send_next().await.unwrap() {}
    w.store.put(SettingKey::AgentEvents, "false", None).await.unwrap();
    w.store
        .queue_event(&opted_out(bob, "+15550100009", "SM2"))
        .await
        .unwrap();
    while w.sender.send_next().await.unwrap() {}

    assert!(w.notifier.told().is_empty(), "{:?}", w.notifier.told());
}

#[tokio::test]
async fn an_inactive_users_agent_is_told_nothing() {
    use crate::domain::user::UserPatch;

    let w = world().await;
    let ada = add_user(&w.store, "Ada", ADA, None).await;
    w.store
        .update_user(
            ada,
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    w.store.queue_event(&opted_out(ada, ADA, "SM1")).await.unwrap();

    while w.sender.send_next().await.unwrap() {}

    assert!(w.notifier.told().is_empty());
}
