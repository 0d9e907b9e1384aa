//! Every store port's methods, written once, for decorators that pass each
//! call on to the store they wrap through one hook: a deadline, a fault
//! injector. A decorator names its type, the field that holds the store it
//! wraps, and its hook, a method
//! `async fn hook<T, E: From<StoreError>>(&self, method: &'static str, call: impl Future<Output = Result<T, E>> + Send) -> Result<T, E>`;
//! `forward_store_ports!` then implements every store port for it.

/// Implements every store port (or, with `only [Port, …]`, those named)
/// for `$ty` (generic over `S`, the store it wraps in its field `$inner`),
/// each method passing its call to `self.$hook(name, call)`.
#[macro_export]
macro_rules! forward_store_ports {
    ($ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!($ty, $inner, $hook, only [
            UserDirectory, UserRegistry, OptOutRegistry, SettingsStore, Verifications, MessageLog, Outbox, UsageReports, DeliveryLog, Readiness, Retention,
            EventQueue
        ]);
    };
    ($ty:ty, $inner:ident, $hook:ident, only [$($port:ident),* $(,)?]) => {
        $( $crate::forward_store_ports!(@port $port, $ty, $inner, $hook); )*
    };
    (@port UserDirectory, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, UserDirectory {
            recipient(number: &$crate::domain::phone::PhoneNumber) -> Option<$crate::domain::user::Recipient>, $crate::ports::StoreError;
            version() -> i64, $crate::ports::StoreError;
        });
    };
    (@port UserRegistry, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, UserRegistry {
            create_user(user: $crate::domain::user::NewUser) -> $crate::domain::user::User, $crate::ports::CreateError;
            get_user(id: $crate::domain::user::UserId) -> $crate::domain::user::User, $crate::ports::Missing;
            list_users(filter: $crate::domain::user::UserFilter, page: $crate::ports::PageRequest)
                -> $crate::ports::Page<$crate::domain::user::User>, $crate::ports::StoreError;
            update_user(id: $crate::domain::user::UserId, patch: $crate::domain::user::UserPatch)
                -> $crate::domain::user::User, $crate::ports::ChangeError;
            delete_user(id: $crate::domain::user::UserId) -> (), $crate::ports::Missing;
            list_phones(user: $crate::domain::user::UserId, page: $crate::ports::PageRequest)
                -> $crate::ports::Page<$crate::domain::user::Phone>, $crate::ports::Missing;
            add_phone(user: $crate::domain::user::UserId, phone: $crate::domain::user::NewPhone)
                -> $crate::domain::user::Phone, $crate::ports::ChangeError;
            get_phone(id: $crate::domain::user::PhoneId) -> $crate::domain::user::Phone, $crate::ports::Missing;
            update_phone(id: $crate::domain::user::PhoneId, patch: $crate::domain::user::PhonePatch)
                -> $crate::domain::user::Phone, $crate::ports::Missing;
            delete_phone(id: $crate::domain::user::PhoneId) -> (), $crate::ports::Missing;
            owner_of(number: &$crate::domain::phone::PhoneNumber)
                -> Option<($crate::domain::user::User, $crate::domain::user::NumberSource)>, $crate::ports::StoreError;
        });
    };
    (@port OptOutRegistry, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, OptOutRegistry {
            is_opted_out(number: &$crate::domain::phone::PhoneNumber) -> bool, $crate::ports::StoreError;
            opt_out(number: &$crate::domain::phone::PhoneNumber) -> (), $crate::ports::StoreError;
            opt_in(number: &$crate::domain::phone::PhoneNumber) -> (), $crate::ports::StoreError;
            list(page: $crate::ports::PageRequest) -> $crate::ports::Page<$crate::ports::OptOut>, $crate::ports::StoreError;
        });
    };
    (@port SettingsStore, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, SettingsStore {
            current() -> $crate::domain::settings::Settings, $crate::ports::StoreError;
            stored() -> Vec<$crate::ports::StoredSetting>, $crate::ports::StoreError;
            put(key: $crate::domain::settings::SettingKey, value: &str, description: Option<&str>)
                -> $crate::ports::StoredSetting, $crate::ports::StoreError;
            delete(key: $crate::domain::settings::SettingKey) -> bool, $crate::ports::StoreError;
        });
    };
    (@port Verifications, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, Verifications {
            save(pending: &$crate::domain::verification::PendingVerification) -> (), $crate::ports::StoreError;
            pending_for_number(number: &$crate::domain::phone::PhoneNumber)
                -> Option<$crate::domain::verification::PendingVerification>, $crate::ports::StoreError;
            try_code(
                phone: $crate::domain::user::PhoneId,
                code: &$crate::domain::verification::VerificationCode,
                now: chrono::DateTime<chrono::Utc>
            ) -> $crate::ports::CodeAttempt, $crate::ports::StoreError;
        });
    };
    (@port MessageLog, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, MessageLog {
            claim(claim: &$crate::domain::usage::InboundClaim) -> $crate::ports::Claim, $crate::ports::StoreError;
            release(id: $crate::ports::ClaimId) -> (), $crate::ports::StoreError;
            defer(id: $crate::ports::ClaimId) -> (), $crate::ports::StoreError;
            settle(
                id: $crate::ports::ClaimId,
                record: $crate::domain::usage::InboundRecord,
                replies: Vec<$crate::domain::usage::OutboundRecord>,
                kept: Option<$crate::ports::KeptReply>
            ) -> bool, $crate::ports::StoreError;
            settle_deferred(
                id: $crate::ports::ClaimId,
                record: $crate::domain::usage::InboundRecord,
                replies: Vec<$crate::ports::NewOutboxItem>
            ) -> (), $crate::ports::StoreError;
            tell_interrupted(id: $crate::ports::ClaimId, replies: Vec<$crate::domain::usage::OutboundRecord>)
                -> bool, $crate::ports::StoreError;
            interrupt_unfinished(notice: Vec<String>) -> $crate::ports::Interrupted, $crate::ports::StoreError;
        });
    };
    (@port Outbox, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, Outbox {
            enqueue(items: Vec<$crate::ports::NewOutboxItem>) -> Vec<$crate::ports::OutboxEntry>, $crate::ports::StoreError;
            take_next() -> Option<$crate::ports::Due>, $crate::ports::StoreError;
            mark_sent(item: &$crate::ports::OutboxItem, message_sid: &str) -> (), $crate::ports::StoreError;
            retry_later(item: &$crate::ports::OutboxItem, delay: std::time::Duration, error: &str) -> (), $crate::ports::StoreError;
            give_up(item: &$crate::ports::OutboxItem, status: $crate::ports::OutboxStatus, error: &str, code: Option<i64>)
                -> (), $crate::ports::StoreError;
            recover_interrupted() -> usize, $crate::ports::StoreError;
            backlog() -> $crate::ports::Backlog, $crate::ports::StoreError;
        });
    };
    (@port UsageReports, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, UsageReports {
            list_usage_logs(filter: $crate::domain::report::UsageFilter, page: $crate::ports::PageRequest)
                -> $crate::ports::Page<$crate::domain::report::UsageLogEntry>, $crate::ports::StoreError;
            summarize(query: $crate::domain::report::SummaryQuery) -> $crate::domain::report::UsageSummary, $crate::ports::StoreError;
        });
    };
    (@port DeliveryLog, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, DeliveryLog {
            record_delivery(report: &$crate::domain::delivery::DeliveryReport, events: bool)
                -> $crate::domain::delivery::Recorded, $crate::ports::StoreError;
        });
    };
    (@port EventQueue, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, EventQueue {
            queue_event(event: &$crate::domain::events::AgentEvent) -> (), $crate::ports::StoreError;
            take_event(lease: std::time::Duration) -> Option<$crate::ports::QueuedEvent>, $crate::ports::StoreError;
            end_event(id: $crate::ports::EventId, end: $crate::ports::EventEnd) -> (), $crate::ports::StoreError;
        });
    };
    (@port Readiness, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, Readiness {
            check() -> (), $crate::ports::StoreError;
        });
    };
    (@port Retention, $ty:ty, $inner:ident, $hook:ident) => {
        $crate::forward_store_ports!(@impl $ty, $inner, $hook, Retention {
            count_before(cutoff: chrono::DateTime<chrono::Utc>) -> u64, $crate::ports::StoreError;
            purge_before(cutoff: chrono::DateTime<chrono::Utc>, batch: u32) -> u64, $crate::ports::StoreError;
            forget_replies(now: chrono::DateTime<chrono::Utc>) -> u64, $crate::ports::StoreError;
        });
    };
    (@impl $ty:ty, $inner:ident, $hook:ident, $port:ident {
        $( $name:ident ( $( $arg:ident : $arg_ty:ty ),* ) -> $ok:ty, $err:ty; )*
    }) => {
        impl<S: $crate::ports::Store> $crate::ports::$port for $ty {
            $(
                async fn $name(&self $(, $arg: $arg_ty)*) -> Result<$ok, $err> {
                    self.$hook(stringify!($name), self.$inner.$name($($arg),*)).await
                }
            )*
        }
    };
}
