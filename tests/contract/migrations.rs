//! PostgreSQL's migrations: once however many instances start together; a
//! database of a newer schema refused.

use sms_router::adapters::postgres::PgStore;

use crate::postgres_cluster::empty_database;

#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let Some(url) = empty_database().await else { return };

    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::connect(&url).await.map(|_| ()) })
        })
        .collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let versions: i64 = client
        .query_one("SELECT count(*) FROM sms_schema_version", &[])
        .await
        .unwrap()
        .get(0);
    let known = i64::try_from(sms_router::adapters::postgres::migrations::known()).unwrap();
    assert_eq!(versions, known, "each migration recorded once");
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused() {
    let Some(url) = empty_database().await else { return };
    PgStore::connect(&url).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .execute("INSERT INTO sms_schema_version (version) VALUES (99)", &[])
        .await
        .unwrap();

    let refused = PgStore::connect(&url).await.err().expect("a newer schema is refused");

    assert!(format!("{refused:#}").contains("newer sms-router"), "{refused:#}");
}
