//! What Twilio reports of a message it sends: statuses only move forward.

use super::events::OPTED_OUT_CODE;
use super::message::MessageSid;
use super::phone::PhoneNumber;
use crate::ports::{DeliveryLog, OptOutRegistry, SettingsStore, StoreError};

/// Twilio's message statuses, in the order a message passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    Read,
}

impl DeliveryStatus {
    const ALL: [DeliveryStatus; 10] = [
        DeliveryStatus::Accepted,
        DeliveryStatus::Scheduled,
        DeliveryStatus::Queued,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Undelivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Canceled,
        DeliveryStatus::Read,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Accepted => "accepted",
            DeliveryStatus::Scheduled => "scheduled",
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Undelivered => "undelivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Canceled => "canceled",
            DeliveryStatus::Read => "read",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// How far along a message is: a later report of a lower rank is stale.
    fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Accepted | DeliveryStatus::Scheduled => 1,
            DeliveryStatus::Queued => 2,
            DeliveryStatus::Sending => 3,
            DeliveryStatus::Sent => 4,
            DeliveryStatus::Delivered
            | DeliveryStatus::Undelivered
            | DeliveryStatus::Failed
            | DeliveryStatus::Canceled => 5,
            DeliveryStatus::Read => 6,
        }
    }

    /// Whether this status moves a message on from `current`.
    pub fn advances(self, current: Option<DeliveryStatus>) -> bool {
        current.is_none_or(|c| self.rank() > c.rank())
    }
}

/// One status callback.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    pub sid: MessageSid,
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
    /// The recipient, when Twilio names it.
    pub to: Option<PhoneNumber>,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Applied,
    /// The message had already moved past this status.
    Stale,
    /// No message sent by us has this sid.
    UnknownMessage,
}

/// The status-callback use case.
#[derive(Clone)]
pub struct Deliveries<L, O> {
    pub log: L,
    pub opt_outs: O,
}

impl<L: DeliveryLog + SettingsStore, O: OptOutRegistry> Deliveries<L, O> {
    /// Records a status callback; a recipient Twilio found opted out is
    /// recorded as such. With `agent_events`, the final status of a reply
    /// an agent wrote is queued for it with the status, in one write.
    ///
    /// # Errors
    /// `StoreError` when the store cannot be written.
    pub async fn record(&self, report: &DeliveryReport) -> Result<Recorded, StoreError> {
        if report.error_code == Some(OPTED_OUT_CODE)
            && let Some(to) = &report.to
        {
            self.opt_outs.opt_out(to).await?;
        }
        let events = self.log.current().await?.agent_events;
        self.log.record_delivery(report, events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        use DeliveryStatus::*;
        assert!(Queued.advances(None));
        assert!(Delivered.advances(Some(Sent)));
        assert!(!Sent.advances(Some(Delivered)));
        assert!(!Delivered.advances(Some(Delivered)));
        assert!(!Failed.advances(Some(Undelivered)));
        assert!(Read.advances(Some(Delivered)));
        assert_eq!(DeliveryStatus::parse("DELIVERED"), Some(Delivered));
        assert_eq!(DeliveryStatus::parse("lost"), None);
    }
}
