//! One suite for every store: each port's behaviour, tested once and run
//! against SQLite (a file in a temp dir) and PostgreSQL (a fresh database
//! on a throwaway server; skipped, loudly, where PostgreSQL is missing).

#[path = "../common/postgres.rs"]
mod postgres_cluster;
#[allow(dead_code)]
#[path = "../common/wait.rs"]
mod wait;

mod directory;
mod events;
mod message_log;
mod migrations;
mod outbox;
mod rate_limits;
mod registry;
mod reports;
mod retention;
mod settings_and_opt_outs;
mod tls;
mod verifications;

use sms_router::adapters::postgres::PgStore;
use sms_router::adapters::sqlite::SqliteStore;
use sms_router::domain::phone::{PhoneNumber, Region};
use sms_router::domain::user::{EmailAddress, FullName, NewPhone, NewUser, Phone, User};
pub use sms_router::ports::Store;

/// A SQLite store on a fresh file; the dir lives as long as the store.
pub fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("contract.db")).unwrap();
    (store, dir)
}

/// A PostgreSQL store on a fresh database; `None` where PostgreSQL is
/// missing (outside CI).
pub async fn postgres() -> Option<PgStore> {
    let url = postgres_cluster::fresh_database().await?;
    Some(PgStore::connect(&url).await.unwrap())
}

/// Runs each named test, an `async fn(impl Store)`, once per store.
macro_rules! for_each_store {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let (store, _dir) = $crate::sqlite();
                    super::$test(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(store) = $crate::postgres().await {
                        super::$test(store).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use for_each_store;

pub fn number(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text, Region::default()).unwrap()
}

pub fn new_user(name: &str, phone: Option<&str>, email: Option<&str>) -> NewUser {
    NewUser {
        full_name: FullName::parse(name).unwrap(),
        email: email.map(|e| EmailAddress::parse(e).unwrap()),
        phone_number: phone.map(number),
        is_active: true,
        agent: None,
    }
}

pub async fn add_user(store: &impl Store, name: &str, phone: &str) -> User {
    store.create_user(new_user(name, Some(phone), None)).await.unwrap()
}

pub async fn add_phone(store: &impl Store, user: &User, phone: &str, primary: bool) -> Phone {
    store
        .add_phone(
            user.id,
            NewPhone {
                phone_number: number(phone),
                is_primary: primary,
                is_verified: false,
                verification_method: None,
            },
        )
        .await
        .unwrap()
}

async fn a_fresh_store_is_ready(store: impl Store) {
    store.check().await.unwrap();
    store.check().await.unwrap();
}

for_each_store!(a_fresh_store_is_ready);
