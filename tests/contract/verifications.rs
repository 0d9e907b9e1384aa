//! Verification codes: saved hashed, tried atomically.

use chrono::{Duration, Utc};
use sms_router::domain::user::VerificationMethod;
use sms_router::domain::verification::{PendingVerification, VerificationCode};
use sms_router::ports::CodeAttempt;

use crate::{Store, add_phone, add_user, for_each_store, number};

async fn pending_code(store: &impl Store) -> (sms_router::domain::user::PhoneId, VerificationCode) {
    let ada = add_user(store, "Ada", "+12015550101").await;
    let phone = add_phone(store, &ada, "+12015550102", false).await;
    let code = VerificationCode::from_number(123_456);
    let pending = PendingVerification {
        phone_id: phone.id,
        code_hash: code.hash_for(phone.id),
        expires_at: Utc::now() + Duration::minutes(10),
        attempts: 0,
    };
    store.save(&pending).await.unwrap();
    (phone.id, code)
}

async fn the_right_code_verifies_once(store: impl Store) {
    let (phone, code) = pending_code(&store).await;

    let found = store
        .pending_for_number(&number("+12015550102"))
        .await
        .unwrap()
        .unwrap();
    let first = store.try_code(phone, &code, Utc::now()).await.unwrap();
    let again = store.try_code(phone, &code, Utc::now()).await.unwrap();

    assert_eq!(found.phone_id, phone);
    assert_eq!(found.attempts, 0);
    let CodeAttempt::Verified(verified) = first else {
        panic!("{first:?}");
    };
    assert!(verified.is_verified);
    assert_eq!(verified.verification_method, Some(VerificationMethod::Sms));
    assert_eq!(again, CodeAttempt::NotPending);
    assert!(store.get_phone(phone).await.unwrap().is_verified);
}

async fn wrong_and_expired_codes(store: impl Store) {
    let (phone, code) = pending_code(&store).await;
    let wrong = VerificationCode::from_number(654_321);

    assert_eq!(
        store.try_code(phone, &wrong, Utc::now()).await.unwrap(),
        CodeAttempt::Wrong
    );
    let later = Utc::now() + Duration::minutes(11);
    assert_eq!(store.try_code(phone, &code, later).await.unwrap(), CodeAttempt::Expired);
    let found = store
        .pending_for_number(&number("+12015550102"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.attempts, 1);
}

async fn concurrent_wrong_codes_are_counted_one_by_one(store: impl Store) {
    let (phone, _) = pending_code(&store).await;
    let wrong = VerificationCode::from_number(654_321);

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (store, wrong) = (store.clone(), wrong.clone());
        tasks.push(tokio::spawn(async move {
            store.try_code(phone, &wrong, Utc::now()).await.unwrap()
        }));
    }
    let mut wrongs = 0;
    let mut too_many = 0;
    for task in tasks {
        match task.await.unwrap() {
            CodeAttempt::Wrong => wrongs += 1,
            CodeAttempt::TooManyAttempts => too_many += 1,
            other => panic!("{other:?}"),
        }
    }

    assert_eq!((wrongs, too_many), (5, 5));
}

for_each_store!(
    the_right_code_verifies_once,
    wrong_and_expired_codes,
    concurrent_wrong_codes_are_counted_one_by_one,
);
