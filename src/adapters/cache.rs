//! The in-process cache (mini-moka) in front of the store, holding what the
//! message path reads: who owns a number, whether it opted out, and the
//! settings. A message from a cached number reads nothing from the store.
//! Changes made through the cache clear it at once; changes made by another
//! process are noticed by polling the store's version, which every change to
//! users, numbers, opt-outs and settings bumps.
//!
//! Over 300 lines: what is cached, when each entry is cleared (by this
//! process's writes at once, by another's through the version poll), and the
//! readiness probe's memo, kept together so that no write path forgets to
//! clear.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mini_moka::sync::Cache;

use crate::domain::phone::PhoneNumber;
use crate::domain::settings::{SettingKey, Settings};
use crate::domain::user::{
    NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, Recipient, User, UserFilter, UserId, UserPatch,
};
use crate::domain::verification::{PendingVerification, VerificationCode};
use crate::ports::{
    ChangeError, CodeAttempt, CreateError, Metrics, Missing, OptOut, OptOutRegistry, Page, PageRequest, Readiness,
    SettingsStore, StoreError, StoredSetting, UserDirectory, UserRegistry, Verifications,
};

/// How long "nobody owns this number" is believed.
const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// How often the directory's version is read, well inside the 2 seconds a
/// change by another process may take to show.
pub const VERSION_POLL: Duration = Duration::from_millis(250);
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
pub struct CachedStore<D> {
    inner: D,
    metrics: Arc<dyn Metrics>,
    found: Cache<PhoneNumber, Recipient>,
    missing: Cache<PhoneNumber, ()>,
    opted_out: Cache<PhoneNumber, bool>,
    settings: Arc<RwLock<Option<Settings>>>,
    seen_version: Arc<AtomicI64>,
    /// Bumped by every invalidation, so that a lookup that raced with one
    /// does not put what it read before it into the cache.
    generation: Arc<AtomicU64>,
    /// The last readiness probe.
    probe: Arc<tokio::sync::Mutex<Option<Probe>>>,
}

/// A readiness probe: when it ran, and what it found.
type Probe = (std::time::Instant, Result<(), String>);

/// How long a readiness probe's finding stands: however many ask, the
/// store is probed (written) at most once in this time.
const PROBE_STANDS: Duration = Duration::from_secs(1);

impl<D> CachedStore<D> {
    /// The hook of the ports the cache holds nothing of: the call as it is.
    async fn pass<T, E>(&self, _method: &'static str, call: impl Future<Output = Result<T, E>> + Send) -> Result<T, E> {
        call.await
    }
}

impl<D: UserDirectory> CachedStore<D> {
    pub fn new(inner: D, metrics: Arc<dyn Metrics>, ttl: Duration) -> Self {
        CachedStore {
            inner,
            metrics,
            found: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            missing: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(NEGATIVE_TTL.min(ttl))
                .build(),
            opted_out: Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build(),
            settings: Arc::new(RwLock::new(None)),
            seen_version: Arc::new(AtomicI64::new(i64::MIN)),
            generation: Arc::new(AtomicU64::new(0)),
            probe: Arc::default(),
        }
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.found.invalidate_all();
        self.missing.invalidate_all();
        self.opted_out.invalidate_all();
        self.forget_settings();
    }

    fn forget_settings(&self) {
        if let Ok(mut settings) = self.settings.write() {
            *settings = None;
        }
    }

    /// Runs a write through the cache: whatever its result, what the cache
    /// held, and any read in flight that began before it, is forgotten.
    async fn writing<T>(&self, write: impl Future<Output = T>, forget: impl Fn(&Self)) -> T {
        let result = write.await;
        self.generation.fetch_add(1, Ordering::AcqRel);
        forget(self);
        result
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

impl<D: UserDirectory> UserDirectory for CachedStore<D> {
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
impl<D: UserDirectory + UserRegistry> UserRegistry for CachedStore<D> {
    async fn create_user(&self, user: NewUser) -> Result<User, CreateError> {
        let created = self.inner.create_user(user).await;
        self.invalidate_all();
        created
    }

    async fn get_user(&self, id: UserId) -> Result<User, Missing> {
        self.inner.get_user(id).await
    }

    async fn list_users(&self, filter: UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.inner.list_users(filter, page).await
    }

    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<User, ChangeError> {
        let updated = self.inner.update_user(id, patch).await;
        self.invalidate_all();
        updated
    }

    async fn delete_user(&self, id: UserId) -> Result<(), Missing> {
        let deleted = self.inner.delete_user(id).await;
        self.invalidate_all();
        deleted
    }

    async fn list_phones(&self, user: UserId, page: PageRequest) -> Result<Page<Phone>, Missing> {
        self.inner.list_phones(user, page).await
    }

    async fn add_phone(&self, user: UserId, phone: NewPhone) -> Result<Phone, ChangeError> {
        let added = self.inner.add_phone(user, phone).await;
        self.invalidate_all();
        added
    }

    async fn get_phone(&self, id: PhoneId) -> Result<Phone, Missing> {
        self.inner.get_phone(id).await
    }

    async fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> Result<Phone, Missing> {
        let updated = self.inner.update_phone(id, patch).await;
        self.invalidate_all();
        updated
    }

    async fn delete_phone(&self, id: PhoneId) -> Result<(), Missing> {
        let deleted = self.inner.delete_phone(id).await;
        self.invalidate_all();
        deleted
    }

    async fn owner_of(&self, number: &PhoneNumber) -> Result<Option<(User, NumberSource)>, StoreError> {
        self.inner.owner_of(number).await
    }
}

/// Confirming a number can change where it routes (`require_verified_numbers`):
/// it clears the cache before it answers; the rest passes through.
impl<D: UserDirectory + Verifications> Verifications for CachedStore<D> {
    async fn save(&self, pending: &PendingVerification) -> Result<(), StoreError> {
        self.inner.save(pending).await
    }

    async fn pending_for_number(&self, number: &PhoneNumber) -> Result<Option<PendingVerification>, StoreError> {
        self.inner.pending_for_number(number).await
    }

    async fn try_code(
        &self,
        phone: PhoneId,
        code: &VerificationCode,
        now: DateTime<Utc>,
    ) -> Result<CodeAttempt, StoreError> {
        let attempt = self.inner.try_code(phone, code, now).await;
        // A verified number may route differently; a failed answer may
        // hide a committed verification.
        if matches!(attempt, Ok(CodeAttempt::Verified(_)) | Err(_)) {
            self.invalidate_all();
        }
        attempt
    }
}

/// Whether a number opted out, kept per number.
impl<D: UserDirectory + OptOutRegistry> OptOutRegistry for CachedStore<D> {
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        if let Some(opted_out) = self.opted_out.get(number) {
            return Ok(opted_out);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let opted_out = self.inner.is_opted_out(number).await?;
        if self.generation.load(Ordering::Acquire) == generation {
            self.opted_out.insert(number.clone(), opted_out);
            if self.generation.load(Ordering::Acquire) != generation {
                self.opted_out.invalidate(number);
            }
        }
        Ok(opted_out)
    }

    async fn opt_out(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.writing(self.inner.opt_out(number), |c| c.opted_out.invalidate(number))
            .await
    }

    async fn opt_in(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.writing(self.inner.opt_in(number), |c| c.opted_out.invalidate(number))
            .await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<OptOut>, StoreError> {
        self.inner.list(page).await
    }
}

/// The settings, read once and kept until they change.
impl<D: UserDirectory + SettingsStore> SettingsStore for CachedStore<D> {
    async fn current(&self) -> Result<Settings, StoreError> {
        if let Ok(cached) = self.settings.read()
            && let Some(settings) = cached.as_ref()
        {
            return Ok(settings.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let settings = self.inner.current().await?;
        if let Ok(mut cached) = self.settings.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            *cached = Some(settings.clone());
        }
        Ok(settings)
    }

    async fn stored(&self) -> Result<Vec<StoredSetting>, StoreError> {
        self.inner.stored().await
    }

    async fn put(&self, key: SettingKey, value: &str, description: Option<&str>) -> Result<StoredSetting, StoreError> {
        self.writing(self.inner.put(key, value, description), Self::forget_settings)
            .await
    }

    async fn delete(&self, key: SettingKey) -> Result<bool, StoreError> {
        self.writing(self.inner.delete(key), Self::forget_settings).await
    }
}

// What the cache holds nothing of passes through.
crate::forward_store_ports!(CachedStore<S>, inner, pass, only [MessageLog, Outbox, UsageReports, DeliveryLog, EventQueue]);

/// Concurrent callers wait for one probe and share its finding, which
/// stands for `PROBE_STANDS`: a flood of `/readyz` writes a few rows.
impl<D: UserDirectory + Readiness> Readiness for CachedStore<D> {
    async fn check(&self) -> Result<(), StoreError> {
        let mut last = self.probe.lock().await;
        let found = match last.as_ref() {
            Some((at, found)) if at.elapsed() < PROBE_STANDS => found.clone(),
            _ => {
                let found = self.inner.check().await.map_err(|e| format!("{e:#}"));
                *last = Some((std::time::Instant::now(), found.clone()));
                found
            }
        };
        found.map_err(StoreError::new)
    }
}

crate::forward_store_ports!(CachedStore<S>, inner, pass, only[Retention]);

#[cfg(test)]
mod tests;
