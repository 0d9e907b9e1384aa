//! The traits the domain needs from the outside world, in the domain's words.

pub mod agent;
pub mod agent_events;
pub mod clock;
pub mod delivery_log;
pub mod message_log;
pub mod messenger;
pub mod metrics;
pub mod opt_outs;
pub mod outbox;
pub mod page;
pub mod random;
pub mod rate_limiter;
pub mod readiness;
pub mod recent_replies;
pub mod reply_writer;
pub mod retention;
pub mod settings_store;
pub mod store_error;
pub mod usage_reports;
pub mod user_directory;
pub mod user_registry;
pub mod verifications;

pub use agent::{Agent, AgentError, AgentReply, AgentRequest};
pub use agent_events::{EventEnd, EventId, EventNotifier, EventQueue, NotifyError, QueuedEvent};
pub use clock::{Clock, Sleep};
pub use delivery_log::DeliveryLog;
pub use message_log::{Claim, ClaimId, Interrupted, KeptReply, MessageLog};
pub use messenger::{Messenger, SendError};
pub use metrics::Metrics;
pub use opt_outs::{OptOut, OptOutRegistry};
pub use outbox::{Backlog, Due, NewOutboxItem, Outbox, OutboxEntry, OutboxId, OutboxItem, OutboxStatus};
pub use page::{Page, PageRequest};
pub use random::Random;
pub use rate_limiter::RateLimiter;
pub use readiness::Readiness;
pub use recent_replies::{Flight, RecentReplies, Settled, Unfinished, Wait, Waited};
pub use reply_writer::ReplyWriter;
pub use retention::Retention;
pub use settings_store::{SettingsStore, StoredSetting};
pub use store_error::StoreError;
pub use usage_reports::UsageReports;
pub use user_directory::UserDirectory;
pub use user_registry::{ChangeError, CreateError, Missing, Taken, UserRegistry};
pub use verifications::{CodeAttempt, Verifications};

/// What the message path reads and writes: one store behind many ports. Its
/// late replies reach the outbox through `MessageLog::settle_deferred`.
pub trait RouterStore:
    MessageLog + UserDirectory + OptOutRegistry + SettingsStore + Verifications + EventQueue
{
}

impl<T> RouterStore for T where
    T: MessageLog + UserDirectory + OptOutRegistry + SettingsStore + Verifications + EventQueue
{
}

/// What administration reads and writes.
pub trait AdminStore:
    UserRegistry + UserDirectory + OptOutRegistry + SettingsStore + Verifications + Outbox + UsageReports
{
}

impl<T> AdminStore for T where
    T: UserRegistry + UserDirectory + OptOutRegistry + SettingsStore + Verifications + Outbox + UsageReports
{
}

/// Every port a store serves: what the composition root needs of one, be
/// it SQLite, a cache in front of it, or a test's fault injector.
pub trait Store: RouterStore + AdminStore + DeliveryLog + Readiness + Retention {}

impl<T> Store for T where T: RouterStore + AdminStore + DeliveryLog + Readiness + Retention {}
