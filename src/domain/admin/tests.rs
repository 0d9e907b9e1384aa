//! The administration use cases on the real store in memory, with a
//! clock moved by hand and a random source that draws one code.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::phone::Region;
use crate::domain::user::FullName;
use crate::ports::{OptOutRegistry, Outbox};
use crate::testing::{FixedRandom, ManualClock, TestStore, in_memory_store, limiter};

use super::*;

fn url(u: &str) -> Option<AgentUrl> {
    Some(AgentUrl::parse(u).unwrap())
}

fn token() -> Option<Option<AgentToken>> {
    Some(Some(AgentToken::parse("t0ken").unwrap()))
}

/// Before, after, the update's token, and what the update does to the
/// token: `Some(set)`, `None` for nothing, `Err` for a refusal.
type Case = (
    Option<AgentUrl>,
    Option<AgentUrl>,
    Option<Option<AgentToken>>,
    Result<Option<bool>, ()>,
);

/// A token goes with its server, and needs one.
#[test]
fn an_agent_token_follows_its_origin_and_needs_a_url() {
    let (a, a2, b) = (
        url("https://a.example/x"),
        url("https://a.example/y"),
        url("https://b.example/x"),
    );
    let cases: [Case; 7] = [
        (a.clone(), b.clone(), None, Ok(Some(false))),
        (a.clone(), a2.clone(), None, Ok(None)),
        (a.clone(), b.clone(), token(), Ok(Some(true))),
        (None, b.clone(), None, Ok(None)),
        (None, None, token(), Err(())),
        (a.clone(), a.clone(), Some(None), Ok(Some(false))),
        (a.clone(), None, None, Ok(None)),
    ];
    for (before, after, token, expected) in cases {
        let got = agent_token_after(before.as_ref(), after.as_ref(), token)
            .map(|t| t.map(|t| t.is_some()))
            .map_err(|_| ());
        assert_eq!(got, expected, "{before:?} -> {after:?}");
    }
}

const ADA: &str = "+15550100001";
const ADAS_OTHER: &str = "+15550100002";

struct World {
    admin: Admin<TestStore>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

fn world(outbound_enabled: bool) -> World {
    let (store, dir) = in_memory_store();
    let clock = ManualClock::new();
    let admin = Admin {
        store,
        limiter: limiter(),
        clock: Arc::new(clock.clone()),
        random: Arc::new(FixedRandom::code("123456")),
        outbound_enabled,
    };
    World {
        admin,
        clock,
        _dir: dir,
    }
}

fn phone(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text, Region::default()).unwrap()
}

impl World {
    async fn ada(&self) -> User {
        let user = NewUser {
            full_name: FullName::parse("Ada").unwrap(),
            email: None,
            phone_number: Some(phone(ADA)),
            is_active: true,
            agent: None,
        };
        self.admin.create_user(user).await.unwrap()
    }

    async fn extra_number(&self, user: &User, number: &str) -> Phone {
        let phone = NewPhone {
            phone_number: phone(number),
            is_primary: false,
            is_verified: false,
            verification_method: None,
        };
        self.admin.add_phone(user.id, phone).await.unwrap()
    }

    /// The bodies in the outbox, in order, taking them.
    async fn queued(&self) -> Vec<(PhoneNumber, String)> {
        let mut queued = Vec::new();
        while let Some(due) = self.admin.store.take_next().await.unwrap() {
            queued.push((due.item.to, due.item.body));
        }
        queued
    }
}

fn refusal_why(err: ConfirmError) -> String {
    match err {
        ConfirmError::Invalid(invalid) => {
            assert_eq!(invalid.field, "code");
            invalid.why
        }
        other => panic!("not a refused code: {other:?}"),
    }
}

#[tokio::test]
async fn a_texted_code_verifies_its_number_and_a_wrong_one_does_not() {
    let world = world(true);
    let ada = world.ada().await;
    let other = world.extra_number(&ada, ADAS_OTHER).await;

    world.admin.start_phone_verification(other.id).await.unwrap();

    assert_eq!(
        world.queued().await,
        [(
            phone(ADAS_OTHER),
            "Your verification code is 123456. It expires in 10 minutes.".to_owned()
        )]
    );
    let wrong = world
        .admin
        .confirm_phone_verification(other.id, "654321")
        .await
        .unwrap_err();
    assert_eq!(refusal_why(wrong), "is wrong");
    let verified = world
        .admin
        .confirm_phone_verification(other.id, "123456")
        .await
        .unwrap();
    assert!(verified.is_verified);
    let again = world
        .admin
        .confirm_phone_verification(other.id, "123456")
        .await
        .unwrap_err();
    assert_eq!(refusal_why(again), "has not been sent to this number, or was used");
}

#[tokio::test]
async fn a_code_expires_ten_minutes_after_it_was_sent() {
    let world = world(true);
    let ada = world.ada().await;
    let other = world.extra_number(&ada, ADAS_OTHER).await;
    world.admin.start_phone_verification(other.id).await.unwrap();

    world.clock.advance(Duration::from_secs(10 * 60 + 1));

    let late = world
        .admin
        .confirm_phone_verification(other.id, "123456")
        .await
        .unwrap_err();
    assert_eq!(refusal_why(late), "has expired: start a new verification");
}

#[tokio::test]
async fn nothing_is_queued_for_a_number_that_opted_out() {
    let world = world(true);
    let ada = world.ada().await;
    let other = world.extra_number(&ada, ADAS_OTHER).await;
    world.admin.store.opt_out(&phone(ADA)).await.unwrap();
    world.admin.store.opt_out(&phone(ADAS_OTHER)).await.unwrap();

    let message = world.admin.send_user_message(ada.id, "hello").await.unwrap_err();
    let code = world.admin.start_phone_verification(other.id).await.unwrap_err();

    assert!(matches!(message, SendMessageError::Refused(Refusal::OptedOut(n)) if n == phone(ADA)));
    assert!(matches!(code, StartVerificationError::Refused(Refusal::OptedOut(n)) if n == phone(ADAS_OTHER)));
    assert_eq!(world.queued().await, []);
}

#[tokio::test]
async fn a_message_to_a_user_is_queued_only_when_sending_is_configured() {
    let unset = world(false);
    let ada = unset.ada().await;
    assert!(matches!(
        unset.admin.send_user_message(ada.id, "hello").await,
        Err(SendMessageError::NotConfigured(NotConfigured))
    ));

    let set = world(true);
    let ada = set.ada().await;
    let empty = set.admin.send_user_message(ada.id, "  ").await.unwrap_err();
    assert!(matches!(
        empty,
        SendMessageError::Invalid(Invalid { field: "body", .. })
    ));
    set.admin.send_user_message(ada.id, "hello").await.unwrap();
    assert_eq!(set.queued().await, [(phone(ADA), "hello".to_owned())]);
}

#[tokio::test]
async fn a_setting_is_kept_only_when_it_keeps_its_rule() {
    let world = world(true);

    let unknown = world.admin.put_setting("no_such_setting", "1", None).await.unwrap_err();
    let broken = world
        .admin
        .put_setting("max_reply_messages", "eleven", None)
        .await
        .unwrap_err();
    let kept = world
        .admin
        .put_setting("max_reply_messages", "3", Some("room for more"))
        .await
        .unwrap();

    assert!(matches!(unknown, PutSettingError::UnknownKey));
    assert!(matches!(
        broken,
        PutSettingError::Invalid(Invalid { field: "value", .. })
    ));
    assert_eq!((kept.value.as_str(), kept.is_default), ("3", false));
    let restored = world.admin.delete_setting("max_reply_messages").await.unwrap();
    assert_eq!((restored.value.as_str(), restored.is_default), ("1", true));
}

#[tokio::test]
async fn a_lookup_tells_what_the_next_message_from_a_number_would_meet() {
    let world = world(true);
    let ada = world.ada().await;

    let owned = world.admin.lookup(phone(ADA)).await.unwrap();
    let stranger = world.admin.lookup(phone("+15550100999")).await.unwrap();
    world.admin.store.opt_out(&phone(ADA)).await.unwrap();
    let opted_out = world.admin.lookup(phone(ADA)).await.unwrap();

    assert!(owned.would_route());
    assert_eq!(owned.owner.map(|(user, _)| user.id), Some(ada.id));
    assert_eq!(stranger.reason, Outcome::UnknownUser);
    assert_eq!(opted_out.reason, Outcome::OptedOut);
}
