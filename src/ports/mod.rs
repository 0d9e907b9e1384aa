//! The traits the domain needs from the outside world, in the domain's words.

pub mod agent;
pub mod delivery_log;
pub mod message_log;
pub mod messenger;
pub mod metrics;
pub mod opt_outs;
pub mod outbox;
pub mod page;
pub mod rate_limiter;
pub mod readiness;
pub mod recent_replies;
pub mod reply_writer;
pub mod scheduler;
pub mod settings_store;
pub mod store_error;
pub mod usage_reports;
pub mod user_directory;
pub mod user_registry;

pub use agent::{Agent, AgentError, AgentRequest};
pub use delivery_log::DeliveryLog;
pub use message_log::{Claim, ClaimId, MessageLog};
pub use messenger::{Messenger, SendError};
pub use metrics::Metrics;
pub use opt_outs::{OptOut, OptOutRegistry};
pub use outbox::{NewOutboxItem, Outbox, OutboxEntry, OutboxId, OutboxItem, OutboxStatus};
pub use page::{Page, PageRequest};
pub use rate_limiter::RateLimiter;
pub use readiness::Readiness;
pub use recent_replies::{Flight, RecentReplies};
pub use reply_writer::ReplyWriter;
pub use scheduler::Scheduler;
pub use settings_store::{SettingsStore, StoredSetting};
pub use store_error::StoreError;
pub use usage_reports::UsageReports;
pub use user_directory::UserDirectory;
pub use user_registry::{RegistryError, UserRegistry};
