//! An in-process cache of number → user (mini-moka) in front of any
//! `UserDirectory`. Changes made through it clear it at once; changes made by
//! another process are noticed by polling the directory's version.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use mini_moka::sync::Cache;

use crate::domain::phone::PhoneNumber;
use crate::domain::user::{
    NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, Recipient, User, UserFilter, UserId, UserPatch,
};
use crate::domain::verification::PendingVerification;
use crate::ports::{Metrics, Page, PageRequest, RegistryError, StoreError, UserDirectory, UserRegistry, Verifications};

/// How long "nobody owns this number" is believed.
const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// How often the directory's version is read, well inside the 2 seconds a
/// change by another process may take to show.
pub const VERSION_POLL: Duration = Duration::from_millis(250);
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
pub struct CachedDirectory<D, M> {
    inner: D,
    metrics: M,
    found: Cache<PhoneNumber, Recipient>,
    missing: Cache<PhoneNumber, ()>,
    seen_version: Arc<AtomicI64>,
    /// Bumped by every invalidation, so that a lookup that raced with one
    /// does not put what it read before it into the cache.
    generation: Arc<AtomicU64>,
}

impl<D: UserDirectory, M: Metrics> CachedDirectory<D, M> {
    pub fn new(inner: D, metrics: M, ttl: Duration) -> Self {
        CachedDirectory {
            inner,
            metrics,
            found: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            missing: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(NEGATIVE_TTL.min(ttl))
                .build(),
            seen_version: Arc::new(AtomicI64::new(i64::MIN)),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.found.invalidate_all();
        self.missing.invalidate_all();
    }

    /// Clears the cache when the directory changed since the last call.
    pub async fn sync_with_store(&self) -> Result<(), StoreError> {
        let version = self.inner.version().await?;
        if self.seen_version.swap(version, Ordering::AcqRel) != version {
            self.invalidate_all();
        }
        Ok(())
    }

    /// Polls the directory's version for as long as the runtime runs.
    pub fn spawn_version_poller(&self) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(VERSION_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = cache.sync_with_store().await {
                    tracing::warn!(error = %e, "cannot read the directory version");
                }
            }
        })
    }
}

impl<D: UserDirectory, M: Metrics> UserDirectory for CachedDirectory<D, M> {
    async fn recipient(&self, number: &PhoneNumber) -> Result<Option<Recipient>, StoreError> {
        if let Some(found) = self.found.get(number) {
            self.metrics.cache_lookup(true);
            return Ok(Some(found));
        }
        if self.missing.get(number).is_some() {
            self.metrics.cache_lookup(true);
            return Ok(None);
        }
        self.metrics.cache_lookup(false);
        let generation = self.generation.load(Ordering::Acquire);
        let found = self.inner.recipient(number).await?;
        if self.generation.load(Ordering::Acquire) != generation {
            return Ok(found);
        }
        match &found {
            Some(recipient) => self.found.insert(number.clone(), recipient.clone()),
            None => self.missing.insert(number.clone(), ()),
        }
        if self.generation.load(Ordering::Acquire) != generation {
            self.found.invalidate(number);
            self.missing.invalidate(number);
        }
        Ok(found)
    }

    async fn version(&self) -> Result<i64, StoreError> {
        self.inner.version().await
    }
}

/// Reads pass through; every write clears the cache before it answers.
impl<D: UserDirectory + UserRegistry, M: Metrics> UserRegistry for CachedDirectory<D, M> {
    async fn create_user(&self, user: NewUser) -> Result<User, RegistryError> {
        let created = self.inner.create_user(user).await;
        self.invalidate_all();
        created
    }

    async fn get_user(&self, id: UserId) -> Result<User, RegistryError> {
        self.inner.get_user(id).await
    }

    async fn list_users(&self, filter: UserFilter, page: PageRequest) -> Result<Page<User>, RegistryError> {
        self.inner.list_users(filter, page).await
    }

    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<User, RegistryError> {
        let updated = self.inner.update_user(id, patch).await;
        self.invalidate_all();
        updated
    }

    async fn delete_user(&self, id: UserId) -> Result<(), RegistryError> {
        let deleted = self.inner.delete_user(id).await;
        self.invalidate_all();
        deleted
    }

    async fn list_phones(&self, user: UserId, page: PageRequest) -> Result<Page<Phone>, RegistryError> {
        self.inner.list_phones(user, page).await
    }

    async fn add_phone(&self, user: UserId, phone: NewPhone) -> Result<Phone, RegistryError> {
        let added = self.inner.add_phone(user, phone).await;
        self.invalidate_all();
        added
    }

    async fn get_phone(&self, id: PhoneId) -> Result<Phone, RegistryError> {
        self.inner.get_phone(id).await
    }

    async fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> Result<Phone, RegistryError> {
        let updated = self.inner.update_phone(id, patch).await;
        self.invalidate_all();
        updated
    }

    async fn delete_phone(&self, id: PhoneId) -> Result<(), RegistryError> {
        let deleted = self.inner.delete_phone(id).await;
        self.invalidate_all();
        deleted
    }

    async fn owner_of(&self, number: &PhoneNumber) -> Result<Option<(User, NumberSource)>, RegistryError> {
        self.inner.owner_of(number).await
    }
}

/// Confirming a number can change where it routes (`require_verified_numbers`):
/// it clears the cache before it answers; the rest passes through.
impl<D: UserDirectory + Verifications, M: Metrics> Verifications for CachedDirectory<D, M> {
    async fn save(&self, pending: &PendingVerification) -> Result<(), StoreError> {
        self.inner.save(pending).await
    }

    async fn pending(&self, phone: PhoneId) -> Result<Option<PendingVerification>, StoreError> {
        self.inner.pending(phone).await
    }

    async fn pending_for_number(&self, number: &PhoneNumber) -> Result<Option<PendingVerification>, StoreError> {
        self.inner.pending_for_number(number).await
    }

    async fn count_attempt(&self, phone: PhoneId) -> Result<(), StoreError> {
        self.inner.count_attempt(phone).await
    }

    async fn confirm(&self, phone: PhoneId) -> Result<Option<Phone>, StoreError> {
        let confirmed = self.inner.confirm(phone).await;
        self.invalidate_all();
        confirmed
    }
}

#[cfg(test)]
mod tests {
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
        let cache = CachedDirectory::new(inner.clone(), PrometheusMetrics::default(), Duration::from_secs(60));
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
}
