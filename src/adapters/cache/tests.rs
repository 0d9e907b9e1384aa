//! Unit tests of `cache`.

use std::sync::atomic::AtomicUsize;

use super::*;
use crate::adapters::metrics::PrometheusMetrics;
use crate::domain::phone::Region;
use crate::domain::user::{NumberSource, UserId};

/// A directory that owns one number and counts how often it is asked.
#[derive(Clone, Default)]
struct CountingDirectory {
    asked: Arc<AtomicUsize>,
    version: Arc<AtomicI64>,
}

impl UserDirectory for CountingDirectory {
    async fn recipient(&self, number: &PhoneNumber) -> Result<Option<Recipient>, StoreError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok((number.as_ref() == "+12015550123").then_some(Recipient {
            user_id: UserId(1),
            is_active: true,
            source: NumberSource::Primary,
            verified: true,
            agent: None,
        }))
    }

    async fn version(&self) -> Result<i64, StoreError> {
        Ok(self.version.load(Ordering::SeqCst))
    }
}

fn number(text: &str) -> PhoneNumber {
    PhoneNumber::parse(text, Region::default()).unwrap()
}

#[tokio::test]
async fn hits_and_misses_are_served_from_memory_until_the_version_changes() {
    let inner = CountingDirectory::default();
    let cache = CachedStore::new(
        inner.clone(),
        Arc::new(PrometheusMetrics::default()),
        Duration::from_secs(60),
    );
    cache.sync_with_store().await.unwrap();

    for _ in 0..3 {
        assert!(cache.recipient(&number("+12015550123")).await.unwrap().is_some());
        assert!(cache.recipient(&number("+12015550199")).await.unwrap().is_none());
    }
    assert_eq!(inner.asked.load(Ordering::SeqCst), 2, "one miss per number, then hits");

    cache.sync_with_store().await.unwrap();
    cache.recipient(&number("+12015550123")).await.unwrap();
    assert_eq!(
        inner.asked.load(Ordering::SeqCst),
        2,
        "an unchanged version keeps the cache"
    );

    inner.version.fetch_add(1, Ordering::SeqCst);
    cache.sync_with_store().await.unwrap();
    cache.recipient(&number("+12015550123")).await.unwrap();
    assert_eq!(inner.asked.load(Ordering::SeqCst), 3, "a changed version clears it");
}
