//! Users and numbers as administrators manage them: conflicts, partial
//! updates, the one primary extra number, paging and filters.

use sms_router::domain::user::{
    EmailAddress, FullName, NumberSource, PhonePatch, UserFilter, UserId, UserPatch, VerificationMethod,
};
use sms_router::ports::{ChangeError, CreateError, Missing, PageRequest, Taken};

use crate::{Store, add_phone, add_user, for_each_store, new_user, number};

const PAGE: PageRequest = PageRequest { after: None, limit: 50 };

async fn a_number_belongs_to_one_user_across_primary_and_extra_numbers(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    add_phone(&store, &ada, "+12015550102", false).await;

    let as_primary = store.create_user(new_user("Bob", Some("+12015550101"), None)).await;
    let extra_as_primary = store.create_user(new_user("Bob", Some("+12015550102"), None)).await;
    let bob = add_user(&store, "Bob", "+12015550103").await;
    let primary_as_extra = store
        .add_phone(
            bob.id,
            sms_router::domain::user::NewPhone {
                phone_number: number("+12015550101"),
                is_primary: false,
                is_verified: false,
                verification_method: None,
            },
        )
        .await;
    let moved_onto_extra = store
        .update_user(
            bob.id,
            UserPatch {
                phone_number: Some(Some(number("+12015550102"))),
                ..UserPatch::default()
            },
        )
        .await;

    let taken = |n: &str| Taken::Number(number(n));
    assert!(matches!(as_primary, Err(CreateError::Taken(t)) if t == taken("+12015550101")));
    assert!(matches!(extra_as_primary, Err(CreateError::Taken(t)) if t == taken("+12015550102")));
    assert!(matches!(primary_as_extra, Err(ChangeError::Taken(t)) if t == taken("+12015550101")));
    assert!(matches!(moved_onto_extra, Err(ChangeError::Taken(t)) if t == taken("+12015550102")));
    assert_eq!(
        store.get_user(bob.id).await.unwrap().phone_number,
        Some(number("+12015550103"))
    );
}

async fn a_freed_number_can_be_taken_again(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    let extra = add_phone(&store, &ada, "+12015550102", false).await;
    store
        .update_user(
            ada.id,
            UserPatch {
                phone_number: Some(None),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    store.delete_phone(extra.id).await.unwrap();

    add_user(&store, "Bob", "+12015550101").await;
    add_user(&store, "Cy", "+12015550102").await;
}

async fn e_mail_addresses_are_unique_whatever_their_case(store: impl Store) {
    store
        .create_user(new_user("Ada", None, Some("ada@example.com")))
        .await
        .unwrap();

    let again = store.create_user(new_user("Bob", None, Some("ADA@example.com"))).await;

    let expected = Taken::Email(EmailAddress::parse("ADA@example.com").unwrap());
    assert!(matches!(again, Err(CreateError::Taken(t)) if t == expected));
    let found = store
        .list_users(
            UserFilter {
                email: Some(EmailAddress::parse("Ada@Example.com").unwrap()),
                ..UserFilter::default()
            },
            PAGE,
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
}

async fn a_partial_update_changes_only_what_it_names(store: impl Store) {
    let ada = store
        .create_user(new_user("Ada", Some("+12015550101"), Some("ada@example.com")))
        .await
        .unwrap();

    let renamed = store
        .update_user(
            ada.id,
            UserPatch {
                full_name: Some(FullName::parse("Ada King").unwrap()),
                email: Some(None),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();

    assert_eq!(renamed.full_name, "Ada King");
    assert_eq!(renamed.email, None);
    assert_eq!(renamed.phone_number, Some(number("+12015550101")));
    assert!(renamed.is_active);
    assert_eq!(renamed.created_at, ada.created_at);
    assert!(renamed.updated_at >= ada.updated_at);
}

async fn what_is_not_there_is_not_found(store: impl Store) {
    let nobody = UserId(999_999);

    assert!(matches!(store.get_user(nobody).await, Err(Missing::NotFound)));
    assert!(matches!(store.delete_user(nobody).await, Err(Missing::NotFound)));
    assert!(matches!(store.list_phones(nobody, PAGE).await, Err(Missing::NotFound)));
    assert!(matches!(
        store.update_user(nobody, UserPatch::default()).await,
        Err(ChangeError::NotFound)
    ));
    let phone = sms_router::domain::user::PhoneId(999_999);
    assert!(matches!(store.get_phone(phone).await, Err(Missing::NotFound)));
    assert!(matches!(store.delete_phone(phone).await, Err(Missing::NotFound)));
    assert!(matches!(
        store.update_phone(phone, PhonePatch::default()).await,
        Err(Missing::NotFound)
    ));
}

async fn one_primary_extra_number_per_user(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    let first = add_phone(&store, &ada, "+12015550102", true).await;
    let second = add_phone(&store, &ada, "+12015550103", true).await;

    assert!(!store.get_phone(first.id).await.unwrap().is_primary);
    assert!(second.is_primary);

    let first = store
        .update_phone(
            first.id,
            PhonePatch {
                is_primary: Some(true),
                verification_method: Some(Some(VerificationMethod::Manual)),
                ..PhonePatch::default()
            },
        )
        .await
        .unwrap();
    assert!(first.is_primary);
    assert_eq!(first.verification_method, Some(VerificationMethod::Manual));
    assert!(!store.get_phone(second.id).await.unwrap().is_primary);

    let cleared = store
        .update_phone(
            first.id,
            PhonePatch {
                verification_method: Some(None),
                ..PhonePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.verification_method, None);
    assert!(cleared.is_primary, "a field not named stays");
}

async fn deleting_a_user_deletes_its_extra_numbers(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    let extra = add_phone(&store, &ada, "+12015550102", false).await;

    store.delete_user(ada.id).await.unwrap();

    assert!(matches!(store.get_phone(extra.id).await, Err(Missing::NotFound)));
    assert_eq!(store.owner_of(&number("+12015550102")).await.unwrap(), None);
}

async fn pages_follow_one_another_by_id(store: impl Store) {
    for i in 0..7 {
        add_user(&store, &format!("User {i}"), &format!("+1201555020{i}")).await;
    }
    let mut seen = Vec::new();
    let mut page = PageRequest { after: None, limit: 3 };
    loop {
        let found = store.list_users(UserFilter::default(), page).await.unwrap();
        seen.extend(found.items.iter().map(|u| u.id.0));
        match found.next_after {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 7);
}

async fn users_are_found_by_either_of_their_numbers(store: impl Store) {
    let ada = add_user(&store, "Ada", "+12015550101").await;
    add_phone(&store, &ada, "+12015550102", false).await;
    add_user(&store, "Bob", "+12015550103").await;

    for n in ["+12015550101", "+12015550102"] {
        let filter = UserFilter {
            phone_number: Some(number(n)),
            ..UserFilter::default()
        };
        let found = store.list_users(filter, PAGE).await.unwrap();
        assert_eq!(
            found.items.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ada.id],
            "{n}"
        );
    }
    let (owner, source) = store.owner_of(&number("+12015550102")).await.unwrap().unwrap();
    assert_eq!((owner.id, source), (ada.id, NumberSource::Mapping));
    let (owner, source) = store.owner_of(&number("+12015550101")).await.unwrap().unwrap();
    assert_eq!((owner.id, source), (ada.id, NumberSource::Primary));
}

async fn concurrent_claims_of_one_number_leave_one_owner(store: impl Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                store
                    .create_user(new_user(&format!("U{i}"), Some("+12015550199"), None))
                    .await
                    .is_ok()
            } else {
                let user = store.create_user(new_user(&format!("U{i}"), None, None)).await.unwrap();
                store
                    .add_phone(
                        user.id,
                        sms_router::domain::user::NewPhone {
                            phone_number: number("+12015550199"),
                            is_primary: false,
                            is_verified: false,
                            verification_method: None,
                        },
                    )
                    .await
                    .is_ok()
            }
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
}

async fn users_are_found_by_a_part_of_their_name_in_any_case(store: impl Store) {
    let ada = add_user(&store, "Ada Lovelace", "+12015550101").await;
    let grace = add_user(&store, "Grace Hopper", "+12015550102").await;
    add_user(&store, "Bob", "+12015550103").await;

    let named = async |part: &str| {
        let filter = UserFilter {
            name: Some(FullName::parse(part).unwrap()),
            ..UserFilter::default()
        };
        let found = store.list_users(filter, PAGE).await.unwrap();
        found.items.iter().map(|u| u.id).collect::<Vec<_>>()
    };
    assert_eq!(named("love").await, [ada.id]);
    assert_eq!(named("HOPPER").await, [grace.id]);
    assert_eq!(named("a").await, [ada.id, grace.id]);
    assert_eq!(named("%").await, []);
    assert_eq!(named("zed").await, []);
}

for_each_store!(
    users_are_found_by_a_part_of_their_name_in_any_case,
    a_number_belongs_to_one_user_across_primary_and_extra_numbers,
    a_freed_number_can_be_taken_again,
    e_mail_addresses_are_unique_whatever_their_case,
    a_partial_update_changes_only_what_it_names,
    what_is_not_there_is_not_found,
    one_primary_extra_number_per_user,
    deleting_a_user_deletes_its_extra_numbers,
    pages_follow_one_another_by_id,
    users_are_found_by_either_of_their_numbers,
    concurrent_claims_of_one_number_leave_one_owner,
);
