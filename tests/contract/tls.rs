//! PostgreSQL over TLS: a server certificate is verified, against the
//! public authorities and those of `SMS_ROUTER_DATABASE_CA_FILE`.

use sms_router::adapters::postgres::PgStore;
use sms_router::ports::Readiness;

use crate::postgres_cluster::{cluster, fresh_database};

#[tokio::test]
async fn with_sslmode_require_the_server_is_trusted_only_through_its_authority() {
    let Some(plain) = fresh_database().await else { return };
    let name = plain.rsplit('/').next().unwrap().split('?').next().unwrap();
    let (url, ca) = cluster()
        .and_then(|c| c.tls_url(name))
        .expect("the test server speaks TLS (openssl is needed to make its certificate)");

    let trusted = PgStore::connect_trusting(&url, Some(&ca)).await.unwrap();
    let untrusted = PgStore::connect(&url)
        .await
        .err()
        .expect("an unknown authority is refused");

    trusted.check().await.unwrap();
    let (client, connection) = tokio_postgres::connect(&plain, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let encrypted: i64 = client
        .query_one("SELECT count(*) FROM pg_stat_ssl WHERE ssl", &[])
        .await
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "the store's connections use TLS");
    assert!(format!("{untrusted:#}").contains("certificate"), "{untrusted:#}");
}
