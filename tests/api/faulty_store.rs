//! A fault injector around the real SQLite store: each port method passes
//! through to it, unless a fault is armed for that method, which then fails
//! as a store that cannot be read or written would. The store under it
//! stays real: a failed write writes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sms_router::adapters::sqlite::SqliteStore;
use sms_router::domain::delivery::{DeliveryReport, Recorded};
use sms_router::domain::phone::PhoneNumber;
use sms_router::domain::report::{SummaryQuery, UsageFilter, UsageLogEntry, UsageSummary};
use sms_router::domain::settings::{SettingKey, Settings};
use sms_router::domain::usage::{InboundClaim, InboundRecord, OutboundRecord};
use sms_router::domain::user::{
    NewPhone, NewUser, NumberSource, Phone, PhoneId, PhonePatch, Recipient, User, UserFilter, UserId, UserPatch,
};
use sms_router::domain::verification::{PendingVerification, VerificationCode};
use sms_router::ports::*;

/// Which methods fail, and how many more times each; and how many times
/// each was called.
#[derive(Clone, Default)]
pub struct Faults(
    Arc<Mutex<HashMap<&'static str, Armed>>>,
    Arc<Mutex<HashMap<&'static str, u32>>>,
);

/// Calls to let through, then calls to fail.
#[derive(Clone, Copy, Default)]
struct Armed {
    pass: u32,
    fail: u32,
}

impl Faults {
    /// The next `times` calls of `method` fail.
    pub fn arm(&self, method: &'static str, times: u32) {
        self.arm_after(method, 0, times);
    }

    /// After `pass` more calls of `method` succeed, the next `times` fail.
    pub fn arm_after(&self, method: &'static str, pass: u32, times: u32) {
        self.0.lock().unwrap().insert(method, Armed { pass, fail: times });
    }

    /// Fails when a fault is armed for `method`, using it up.
    fn check(&self, method: &'static str) -> Result<(), StoreError> {
        *self.1.lock().unwrap().entry(method).or_default() += 1;
        let mut armed = self.0.lock().unwrap();
        match armed.get_mut(method) {
            Some(armed) if armed.pass > 0 => {
                armed.pass -= 1;
                Ok(())
            }
            Some(armed) if armed.fail > 0 => {
                armed.fail -= 1;
                Err(StoreError(anyhow::anyhow!("injected fault in {method}")))
            }
            _ => Ok(()),
        }
    }

    /// How many times `method` was called so far.
    pub fn calls(&self, method: &'static str) -> u32 {
        self.1.lock().unwrap().get(method).copied().unwrap_or_default()
    }

    /// Whether every armed fault was used.
    pub fn all_used(&self) -> bool {
        self.0.lock().unwrap().values().all(|armed| armed.fail == 0)
    }
}

#[derive(Clone)]
pub struct FaultyStore {
    pub inner: SqliteStore,
    pub faults: Faults,
}

impl MessageLog for FaultyStore {
    async fn claim(&self, claim: &InboundClaim) -> Result<Claim, StoreError> {
        self.faults.check("claim")?;
        self.inner.claim(claim).await
    }

    async fn release(&self, id: ClaimId) -> Result<(), StoreError> {
        self.faults.check("release")?;
        self.inner.release(id).await
    }

    async fn defer(&self, id: ClaimId) -> Result<(), StoreError> {
        self.faults.check("defer")?;
        self.inner.defer(id).await
    }

    async fn settle(&self, id: ClaimId, record: InboundRecord, replies: Vec<OutboundRecord>) -> Result<(), StoreError> {
        self.faults.check("settle")?;
        self.inner.settle(id, record, replies).await
    }

    async fn settle_deferred(
        &self,
        id: ClaimId,
        record: InboundRecord,
        replies: Vec<NewOutboxItem>,
    ) -> Result<(), StoreError> {
        self.faults.check("settle_deferred")?;
        self.inner.settle_deferred(id, record, replies).await
    }

    async fn tell_interrupted(&self, id: ClaimId, replies: Vec<OutboundRecord>) -> Result<bool, StoreError> {
        self.faults.check("tell_interrupted")?;
        self.inner.tell_interrupted(id, replies).await
    }

    async fn interrupt_unfinished(&self, notice: Vec<String>) -> Result<Interrupted, StoreError> {
        self.inner.interrupt_unfinished(notice).await
    }
}

impl UserDirectory for FaultyStore {
    async fn recipient(&self, number: &PhoneNumber) -> Result<Option<Recipient>, StoreError> {
        self.faults.check("recipient")?;
        self.inner.recipient(number).await
    }

    async fn version(&self) -> Result<i64, StoreError> {
        self.inner.version().await
    }
}

impl OptOutRegistry for FaultyStore {
    async fn is_opted_out(&self, number: &PhoneNumber) -> Result<bool, StoreError> {
        self.faults.check("is_opted_out")?;
        self.inner.is_opted_out(number).await
    }

    async fn opt_out(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.faults.check("opt_out")?;
        self.inner.opt_out(number).await
    }

    async fn opt_in(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        self.faults.check("opt_in")?;
        self.inner.opt_in(number).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<OptOut>, StoreError> {
        self.faults.check("admin")?;
        self.inner.list(page).await
    }
}

impl SettingsStore for FaultyStore {
    async fn current(&self) -> Result<Settings, StoreError> {
        self.faults.check("current")?;
        self.inner.current().await
    }

    async fn stored(&self) -> Result<Vec<StoredSetting>, StoreError> {
        self.faults.check("admin")?;
        self.inner.stored().await
    }

    async fn put(&self, key: SettingKey, value: &str, description: Option<&str>) -> Result<StoredSetting, StoreError> {
        self.faults.check("admin")?;
        self.inner.put(key, value, description).await
    }

    async fn delete(&self, key: SettingKey) -> Result<bool, StoreError> {
        self.faults.check("admin")?;
        self.inner.delete(key).await
    }
}

impl Verifications for FaultyStore {
    async fn save(&self, pending: &PendingVerification) -> Result<(), StoreError> {
        self.faults.check("admin")?;
        self.inner.save(pending).await
    }

    async fn pending_for_number(&self, number: &PhoneNumber) -> Result<Option<PendingVerification>, StoreError> {
        self.faults.check("pending_for_number")?;
        self.inner.pending_for_number(number).await
    }

    async fn try_code(
        &self,
        phone: PhoneId,
        code: &VerificationCode,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<CodeAttempt, StoreError> {
        self.faults.check("try_code")?;
        self.inner.try_code(phone, code, now).await
    }
}

impl Outbox for FaultyStore {
    async fn enqueue(&self, items: Vec<NewOutboxItem>) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.enqueue(items).await
    }

    async fn take_next(&self) -> Result<Option<Due>, StoreError> {
        self.faults.check("take_next")?;
        self.inner.take_next().await
    }

    async fn mark_sent(&self, item: &OutboxItem, message_sid: &str) -> Result<(), StoreError> {
        self.faults.check("mark_sent")?;
        self.inner.mark_sent(item, message_sid).await
    }

    async fn retry_later(&self, item: &OutboxItem, delay: Duration, error: &str) -> Result<(), StoreError> {
        self.inner.retry_later(item, delay, error).await
    }

    async fn give_up(
        &self,
        item: &OutboxItem,
        status: OutboxStatus,
        error: &str,
        code: Option<i64>,
    ) -> Result<(), StoreError> {
        self.inner.give_up(item, status, error, code).await
    }

    async fn recover_interrupted(&self) -> Result<usize, StoreError> {
        self.inner.recover_interrupted().await
    }
}

// Administration's own reads and writes fail together, under the fault `admin`.
impl UserRegistry for FaultyStore {
    async fn create_user(&self, user: NewUser) -> Result<User, CreateError> {
        self.faults.check("admin")?;
        self.inner.create_user(user).await
    }

    async fn get_user(&self, id: UserId) -> Result<User, Missing> {
        self.faults.check("admin")?;
        self.inner.get_user(id).await
    }

    async fn list_users(&self, filter: UserFilter, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.faults.check("admin")?;
        self.inner.list_users(filter, page).await
    }

    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<User, ChangeError> {
        self.faults.check("admin")?;
        self.inner.update_user(id, patch).await
    }

    async fn delete_user(&self, id: UserId) -> Result<(), Missing> {
        self.faults.check("admin")?;
        self.inner.delete_user(id).await
    }

    async fn list_phones(&self, user: UserId, page: PageRequest) -> Result<Page<Phone>, Missing> {
        self.faults.check("admin")?;
        self.inner.list_phones(user, page).await
    }

    async fn add_phone(&self, user: UserId, phone: NewPhone) -> Result<Phone, ChangeError> {
        self.faults.check("admin")?;
        self.inner.add_phone(user, phone).await
    }

    async fn get_phone(&self, id: PhoneId) -> Result<Phone, Missing> {
        self.faults.check("admin")?;
        self.inner.get_phone(id).await
    }

    async fn update_phone(&self, id: PhoneId, patch: PhonePatch) -> Result<Phone, Missing> {
        self.faults.check("admin")?;
        self.inner.update_phone(id, patch).await
    }

    async fn delete_phone(&self, id: PhoneId) -> Result<(), Missing> {
        self.faults.check("admin")?;
        self.inner.delete_phone(id).await
    }

    async fn owner_of(&self, number: &PhoneNumber) -> Result<Option<(User, NumberSource)>, StoreError> {
        self.faults.check("admin")?;
        self.inner.owner_of(number).await
    }
}

impl UsageReports for FaultyStore {
    async fn list_usage_logs(&self, filter: UsageFilter, page: PageRequest) -> Result<Page<UsageLogEntry>, StoreError> {
        self.faults.check("admin")?;
        self.inner.list_usage_logs(filter, page).await
    }

    async fn summarize(&self, query: SummaryQuery) -> Result<UsageSummary, StoreError> {
        self.faults.check("admin")?;
        self.inner.summarize(query).await
    }
}

impl DeliveryLog for FaultyStore {
    async fn record_delivery(&self, report: &DeliveryReport) -> Result<Recorded, StoreError> {
        self.inner.record_delivery(report).await
    }
}

impl Readiness for FaultyStore {
    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }
}

impl Retention for FaultyStore {
    async fn count_before(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<u64, StoreError> {
        self.inner.count_before(cutoff).await
    }

    async fn purge_before(&self, cutoff: chrono::DateTime<chrono::Utc>, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_before(cutoff, batch).await
    }
}
